#include "api/openai_api.h"

#include <random>

#include "api/answer_writers.h"
#include "llmux/json.h"

namespace llmux::host {
namespace {

struct OpenAIDialect {
  using Meta = openai::ResponseMeta;
  using StreamRenderer = openai::ChunkRenderer;
  static std::string whole(const ChatResponse& response, const Meta& meta) {
    return openai::render_chat_completion(response, meta);
  }
  static std::string error(const Error& error) { return openai::render_error(error); }
};

}  // namespace

std::unique_ptr<AnswerWriter> make_openai_writer(AnswerContext context, openai::ResponseMeta meta, bool stream,
                                                 bool include_usage) {
  if (stream) {
    return std::make_unique<StreamAnswerWriter<OpenAIDialect>>(std::move(context),
                                                               openai::ChunkRenderer(std::move(meta), include_usage));
  }
  return std::make_unique<WholeAnswerWriter<OpenAIDialect>>(std::move(context), std::move(meta));
}

std::string openai_error_response(const Error& error, bool close_connection) {
  return make_response(error.status, "application/json", openai::render_error(error), {}, close_connection);
}

std::string openai_model_list(const std::vector<ServedModel>& models, std::int64_t created) {
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
