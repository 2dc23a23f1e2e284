#include "api/anthropic_api.h"

#include <ctime>

#include "api/answer_writers.h"
#include "api/openai_api.h"
#include "llmux/codec/anthropic.h"
#include "llmux/json.h"

namespace llmux::host {
namespace {

struct AnthropicRenderers {
  static constexpr Api kApi = Api::Anthropic;
  using Meta = anthropic::MessageMeta;
  using StreamRenderer = anthropic::StreamRenderer;
  static std::string whole(const ChatResponse& response, const Meta& meta) {
    return anthropic::render_message(response, meta);
  }
  static std::string error(const Error& error) { return anthropic::render_error(error); }
};

class AnthropicDialect final : public Dialect {
 public:
  Api api() const override { return Api::Anthropic; }

  // The door's errors are written in OpenAI's vocabulary (a 401 or 404 is an
  // invalid_request_error there); Anthropic names them by status.
  std::string error_body(const Error& error) const override {
    if (error.type != "invalid_request_error" || error.status == 400 || error.status == 413 || error.status == 422) {
      return anthropic::render_error(error);
    }
    Error by_status = error;
    by_status.type = error.status == 431 ? "request_too_large" : "";  // headers too large: no own type there
    return anthropic::render_error(by_status);
  }

  // https://docs.anthropic.com/en/api/models-list: one page with everything.
  std::string model_list(const std::vector<ServedModel>& models, std::int64_t created) const override {
    // RFC 3339, as Anthropic writes created_at.
    char created_at[32];
    std::time_t seconds = static_cast<std::time_t>(created);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    std::strftime(created_at, sizeof created_at, "%Y-%m-%dT%H:%M:%SZ", &utc);
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

  std::unique_ptr<AnswerWriter> make_writer(AnswerContext context, const ChatRequest& request) const override {
    anthropic::MessageMeta meta{new_message_id(), request.model, anthropic::estimate_input_tokens(request)};
    if (request.stream) {
      std::string model = meta.model;
      return std::make_unique<StreamAnswerWriter<AnthropicRenderers>>(
          std::move(context), anthropic::StreamRenderer(std::move(meta)), std::move(model));
    }
    return std::make_unique<WholeAnswerWriter<AnthropicRenderers>>(std::move(context), std::move(meta));
  }
};

}  // namespace

const Dialect& anthropic_dialect() {
  static const AnthropicDialect dialect;
  return dialect;
}

std::string new_message_id() {
  std::string id = new_completion_id();  // "chatcmpl-" + 24 random characters
  id.replace(0, 9, "msg_");
  return id;
}

}  // namespace llmux::host
