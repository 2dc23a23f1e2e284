// POST /v1/completions: the OpenAI legacy Completions API (text completion and
// fill-in-the-middle, as editors' autocomplete sends it). The codec states
// each request as a chat too, so every chat provider answers it; a provider
// with a native completion endpoint (openai, ollama) reads the prompt and
// suffix instead. Answers are text_completion objects or chunks.
#include "api/completions_api.h"

#include <chrono>

#include "api/answer_writers.h"
#include "api/chat_flow.h"
#include "api/openai_api.h"
#include "api/registrations.h"
#include "llmux/codec/completions.h"
#include "llmux/codec/openai.h"

namespace llmux::host {
namespace {

struct CompletionsRenderers {
  static constexpr Api kApi = Api::OpenAICompletions;
  using Meta = completions::ResponseMeta;
  using StreamRenderer = completions::ChunkRenderer;
  static std::string whole(const ChatResponse& response, const Meta& meta) {
    return completions::render_completion(response, meta);
  }
  static std::string error(const Error& error) { return openai::render_error(error); }
};

// "cmpl-" + the random part of a chat completion id.
std::string new_text_completion_id() {
  constexpr std::string_view kChatPrefix = "chatcmpl-";
  return "cmpl-" + new_completion_id().substr(kChatPrefix.size());
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class CompletionsDialect final : public Dialect {
 public:
  Api api() const override { return Api::OpenAICompletions; }
  std::string error_body(const Error& error) const override { return openai::render_error(error); }
  std::string model_list(const std::vector<ServedModel>& models, std::int64_t created) const override {
    return openai_dialect().model_list(models, created);
  }
  std::unique_ptr<AnswerWriter> make_writer(AnswerContext context, const ChatRequest& request) const override {
    completions::ResponseMeta meta{new_text_completion_id(), request.model, unix_now()};
    if (request.stream) {
      std::string model = meta.model;
      return std::make_unique<StreamAnswerWriter<CompletionsRenderers>>(
          std::move(context), completions::ChunkRenderer(std::move(meta), request.include_usage), std::move(model));
    }
    return std::make_unique<WholeAnswerWriter<CompletionsRenderers>>(std::move(context), std::move(meta));
  }
};

class CompletionsApi final : public InboundApi {
 public:
  std::string_view name() const override { return "openai.completions"; }
  std::vector<std::string> paths() const override { return {"/v1/completions"}; }
  std::string_view method() const override { return "POST"; }
  Access access() const override { return Access::Client; }
  const Dialect& dialect(const InboundRequest&) const override { return completions_dialect(); }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    auto routed = route_chat(call, &completions::parse_request);
    if (!routed) return nullptr;
    return start_chat(call, std::move(*routed));
  }
};

}  // namespace

const Dialect& completions_dialect() {
  static const CompletionsDialect dialect;
  return dialect;
}

std::unique_ptr<InboundApi> make_completions_api() { return std::make_unique<CompletionsApi>(); }

}  // namespace llmux::host
