#include "api/anthropic_api.h"

#include <ctime>

#include "api/answer_writers.h"
#include "llmux/json.h"

namespace llmux::host {
namespace {

struct AnthropicDialect {
  using Meta = anthropic::MessageMeta;
  using StreamRenderer = anthropic::StreamRenderer;
  static std::string whole(const ChatResponse& response, const Meta& meta) {
    return anthropic::render_message(response, meta);
  }
  static std::string error(const Error& error) { return anthropic::render_error(error); }
};

}  // namespace

std::unique_ptr<AnswerWriter> make_anthropic_writer(AnswerContext context, anthropic::MessageMeta meta, bool stream) {
  if (stream) {
    return std::make_unique<StreamAnswerWriter<AnthropicDialect>>(std::move(context),
                                                                  anthropic::StreamRenderer(std::move(meta)));
  }
  return std::make_unique<WholeAnswerWriter<AnthropicDialect>>(std::move(context), std::move(meta));
}

std::string anthropic_error_response(const Error& error, bool close_connection) {
  return make_response(error.status, "application/json", anthropic::render_error(error), {}, close_connection);
}

std::string anthropic_model_list(const std::vector<ServedModel>& models, std::int64_t created) {
  // RFC 3339, as Anthropic writes created_at.
  char created_at[32];
  std::time_t seconds = static_cast<std::time_t>(created);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::strftime(created_at, sizeof created_at, "%Y-%m-%dT%H:%M:%SZ", &utc);
  // https://docs.anthropic.com/en/api/models-list: one page with everything.
  std::string out = R"({"data":[)";
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (i) out.push_back(',');
    out.append(R"({"type":"model","id":)");
    json::append_quoted(out, models[i].id);
    out.append(R"(,"display_name":)");
    json::append_quoted(out, models[i].id);
    out.append(R"(,"created_at":")").append(created_at).append("\"}");
  }
  out.append(R"(],"has_more":false,"first_id":)");
  if (models.empty()) {
    out.append("null");
  } else {
    json::append_quoted(out, models.front().id);
  }
  out.append(R"(,"last_id":)");
  if (models.empty()) {
    out.append("null");
  } else {
    json::append_quoted(out, models.back().id);
  }
  out.push_back('}');
  return out;
}

std::string new_message_id() {
  std::string id = new_completion_id();  // "chatcmpl-" + 24 random characters
  id.replace(0, 9, "msg_");
  return id;
}

}  // namespace llmux::host
