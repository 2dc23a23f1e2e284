// POST /v1/embeddings: the OpenAI Embeddings API. Parsed by the SDK's
// embeddings codec, routed by model like a chat (route_chat / start_chat: the
// same chains, fallback, retries and cooldowns; a provider that does not
// serve embeddings is skipped), answered whole in OpenAI's list shape.
#include "api/embeddings_api.h"

#include "api/answer_writers.h"
#include "api/chat_flow.h"
#include "api/openai_api.h"
#include "api/registrations.h"
#include "llmux/codec/embeddings.h"

namespace llmux::host {
namespace {

struct EmbeddingsRenderers {
  static constexpr Api kApi = Api::OpenAIEmbeddings;
  struct Meta {
    std::string model;  // the client's name for it
    bool base64 = false;
  };
  static std::string whole(const ChatResponse& response, const Meta& meta) {
    return embeddings::render_response(response, {meta.model}, meta.base64);
  }
  static std::string error(const Error& error) { return embeddings::render_error(error); }
};

class EmbeddingsDialect final : public Dialect {
 public:
  Api api() const override { return Api::OpenAIEmbeddings; }
  std::string error_body(const Error& error) const override { return embeddings::render_error(error); }
  std::string model_list(const std::vector<ServedModel>& models, std::int64_t created) const override {
    return openai_dialect().model_list(models, created);
  }
  // Embeddings have no stream: always one whole answer.
  std::unique_ptr<AnswerWriter> make_writer(AnswerContext context, const ChatRequest& request) const override {
    EmbeddingsRenderers::Meta meta{request.model, request.embedding && request.embedding->base64};
    return std::make_unique<WholeAnswerWriter<EmbeddingsRenderers>>(std::move(context), std::move(meta));
  }
};

class EmbeddingsApi final : public InboundApi {
 public:
  std::string_view name() const override { return "openai.embeddings"; }
  std::vector<std::string> paths() const override { return {"/v1/embeddings"}; }
  std::string_view method() const override { return "POST"; }
  const Dialect& dialect(const InboundRequest&) const override { return embeddings_dialect(); }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    auto routed = route_chat(call, &embeddings::parse_request);
    if (!routed) return nullptr;
    return start_chat(call, std::move(*routed));
  }
};

}  // namespace

const Dialect& embeddings_dialect() {
  static const EmbeddingsDialect dialect;
  return dialect;
}

std::unique_ptr<InboundApi> make_embeddings_api() { return std::make_unique<EmbeddingsApi>(); }

}  // namespace llmux::host
