#include "api/openai_api.h"

#include <chrono>
#include <random>

#include "api/answer_writers.h"
#include "llmux/codec/openai.h"
#include "llmux/json.h"

namespace llmux::host {
namespace {

struct OpenAIRenderers {
  static constexpr Api kApi = Api::OpenAIChat;
  using Meta = openai::ResponseMeta;
  using StreamRenderer = openai::ChunkRenderer;
  static std::string whole(const ChatResponse& response, const Meta& meta) {
    return openai::render_chat_completion(response, meta);
  }
  static std::string error(const Error& error) { return openai::render_error(error); }
};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class OpenAIDialect final : public Dialect {
 public:
  Api api() const override { return Api::OpenAIChat; }

  std::string error_body(const Error& error) const override { return openai::render_error(error); }

  std::string model_list(const std::vector<ServedModel>& models, std::int64_t created) const override {
    std::string out = R"({"object":"list","data":[)";
    bool first = true;
    for (const auto& model : models) {
      if (!first) out.push_back(',');
      first = false;
      out.append(R"({"id":)");
      json::append_quoted(out, model.id);
      out.append(R"(,"object":"model","created":)").append(std::to_string(created)).append(R"(,"owned_by":)");
      json::append_quoted(out, model.owned_by);
      out.push_back('}');
    }
    out.append("]}");
    return out;
  }

  std::unique_ptr<AnswerWriter> make_writer(AnswerContext context, const ChatRequest& request) const override {
    openai::ResponseMeta meta{new_completion_id(), request.model, unix_now()};
    if (request.stream) {
      std::string model = meta.model;
      return std::make_unique<StreamAnswerWriter<OpenAIRenderers>>(
          std::move(context), openai::ChunkRenderer(std::move(meta), request.include_usage), std::move(model));
    }
    return std::make_unique<WholeAnswerWriter<OpenAIRenderers>>(std::move(context), std::move(meta));
  }
};

}  // namespace

const Dialect& openai_dialect() {
  static const OpenAIDialect dialect;
  return dialect;
}

std::string new_completion_id() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "chatcmpl-";
  std::uint64_t bits = rng();
  for (int i = 0; i < 24; ++i) {
    if (i % 10 == 0) bits = rng();
    id.push_back(kAlphabet[bits % 62]);
    bits /= 62;
  }
  return id;
}

}  // namespace llmux::host
