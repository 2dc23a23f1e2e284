#include "api/anthropic_api.h"

#include <ctime>

#include "llmux/json.h"

namespace llmux::host {
namespace {

// Non-streamed: gather the events, answer once with a `message`.
class MessageWriter final : public AnswerWriter {
 public:
  MessageWriter(AnswerContext context, anthropic::MessageMeta meta)
      : context_(std::move(context)), meta_(std::move(meta)) {}

  void begin_attempt(const std::string& provider) override { provider_ = provider; }

  void on_event(const Event& event) override {
    collector_.add(event);
    if (!event.terminal()) return;
    finished_ = true;
    if (event.kind == Event::Kind::Error) {
      send_error(event.error);
      return;
    }
    committed_ = true;
    out_ = make_response(200, "application/json", anthropic::render_message(collector_.response(), meta_),
                         answer_headers(provider_, context_.request_id), context_.close_connection);
  }

  bool committed() const override { return committed_; }
  void discard() override { collector_ = ResponseCollector{}; }
  void fail(const Error& error) override {
    finished_ = true;
    send_error(error);
  }
  bool finished() const override { return finished_; }
  void flush() override {
    if (!out_.empty()) context_.channel->write(std::move(out_));
    out_ = std::string();
  }

 private:
  void send_error(const Error& error) {
    committed_ = true;
    out_ = make_response(error.status, "application/json", anthropic::render_error(error),
                         answer_headers(provider_, context_.request_id), context_.close_connection);
  }

  AnswerContext context_;
  anthropic::MessageMeta meta_;
  std::string provider_;
  ResponseCollector collector_;
  std::string out_;
  bool committed_ = false;
  bool finished_ = false;
};

// Streamed: Messages SSE in a chunked body. As for OpenAI, the head (and
// message_start) go out with the first content event, so a provider that
// fails before any content can still be replaced by the next one.
class MessageStreamWriter final : public AnswerWriter {
 public:
  MessageStreamWriter(AnswerContext context, anthropic::MessageMeta meta)
      : context_(std::move(context)), meta_(std::move(meta)), renderer_(meta_) {}

  void begin_attempt(const std::string& provider) override { provider_ = provider; }

  void on_event(const Event& event) override {
    if (!committed_ && (event.kind == Event::Kind::Role || event.kind == Event::Kind::Usage)) {
      // Hold until content; a Usage seen now still reaches message_start.
      renderer_.render(event, pending_);
      return;
    }
    renderer_.render(event, pending_);
    if (event.terminal()) finished_ = true;
    if (pending_.empty() && !finished_) return;
    if (!committed_) {
      committed_ = true;
      append_response_head(out_, {200, "text/event-stream", true, 0, context_.close_connection,
                                  answer_headers(provider_, context_.request_id)});
    }
    append_chunk(out_, pending_);
    pending_.clear();
    if (finished_) out_.append(kLastChunk);
  }

  void flush() override {
    if (out_.empty()) return;
    context_.channel->write_copy(out_);
    out_.clear();
  }

  bool committed() const override { return committed_; }

  void discard() override {
    pending_.clear();
    renderer_ = anthropic::StreamRenderer(meta_);
  }

  void fail(const Error& error) override {
    finished_ = true;
    if (committed_) {  // the status is out: end the stream with an `error` event
      on_event(Event::failed(error));
      return;
    }
    committed_ = true;
    out_ = make_response(error.status, "application/json", anthropic::render_error(error),
                         answer_headers(provider_, context_.request_id), context_.close_connection);
  }

  bool finished() const override { return finished_; }

 private:
  AnswerContext context_;
  anthropic::MessageMeta meta_;
  anthropic::StreamRenderer renderer_;
  std::string provider_;
  std::string pending_;
  std::string out_;
  bool committed_ = false;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<AnswerWriter> make_anthropic_writer(AnswerContext context, anthropic::MessageMeta meta, bool stream) {
  if (stream) return std::make_unique<MessageStreamWriter>(std::move(context), std::move(meta));
  return std::make_unique<MessageWriter>(std::move(context), std::move(meta));
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
