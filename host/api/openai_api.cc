#include "api/openai_api.h"

#include <random>

#include "llmux/json.h"

namespace llmux::host {
namespace {

std::string provider_headers(const std::string& provider, const std::string& request_id) {
  std::string out;
  out.reserve(64 + provider.size() + request_id.size());
  if (!provider.empty()) out.append("x-llmux-provider: ").append(provider).append("\r\n");
  out.append("x-request-id: ").append(request_id).append("\r\n");
  return out;
}

// Non-streamed: gather the events, answer once with a chat.completion.
class JsonWriter final : public AnswerWriter {
 public:
  JsonWriter(AnswerContext context, openai::ResponseMeta meta)
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
    std::string body = openai::render_chat_completion(collector_.response(), meta_);
    committed_ = true;
    out_ = make_response(200, "application/json", body, provider_headers(provider_, context_.request_id),
                         context_.close_connection);
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
    out_ = make_response(error.status, "application/json", openai::render_error(error),
                         provider_headers(provider_, context_.request_id), context_.close_connection);
  }

  AnswerContext context_;
  openai::ResponseMeta meta_;
  std::string provider_;
  ResponseCollector collector_;
  std::string out_;
  bool committed_ = false;
  bool finished_ = false;
};

// Streamed: chat.completion.chunk SSE in a chunked body. The head is written
// with the first event that carries content, so a provider that fails right
// after its role event can still be replaced by the next one.
class SseWriter final : public AnswerWriter {
 public:
  SseWriter(AnswerContext context, openai::ResponseMeta meta, bool include_usage)
      : context_(std::move(context)), meta_(std::move(meta)), include_usage_(include_usage),
        renderer_(meta_, include_usage_) {}

  void begin_attempt(const std::string& provider) override { provider_ = provider; }

  void on_event(const Event& event) override {
    renderer_.render(event, pending_);
    if (event.terminal()) finished_ = true;
    if (!committed_ && event.kind == Event::Kind::Role) return;  // hold until content
    if (pending_.empty() && !finished_) return;
    if (!committed_) {
      committed_ = true;
      std::string headers = provider_headers(provider_, context_.request_id);
      append_response_head(out_, {200, "text/event-stream", true, 0, context_.close_connection, headers});
    }
    append_chunk(out_, pending_);
    pending_.clear();
    if (finished_) out_.append(kLastChunk);
  }

  void flush() override {
    if (out_.empty()) return;
    // A stream flushes many times: the buffer keeps its capacity, the channel copies.
    context_.channel->write_copy(out_);
    out_.clear();
  }

  bool committed() const override { return committed_; }

  void discard() override {
    pending_.clear();
    renderer_ = openai::ChunkRenderer(meta_, include_usage_);
  }

  void fail(const Error& error) override {
    finished_ = true;
    if (committed_) {  // cannot change the status any more: end the stream in-band
      on_event(Event::failed(error));
      return;
    }
    committed_ = true;
    out_ = make_response(error.status, "application/json", openai::render_error(error),
                         provider_headers(provider_, context_.request_id), context_.close_connection);
  }

  bool finished() const override { return finished_; }

 private:
  AnswerContext context_;
  openai::ResponseMeta meta_;
  bool include_usage_;
  openai::ChunkRenderer renderer_;
  std::string provider_;
  std::string pending_;  // SSE bytes of events held back until the answer commits
  std::string out_;      // framed bytes waiting for flush()
  bool committed_ = false;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<AnswerWriter> make_openai_writer(AnswerContext context, openai::ResponseMeta meta, bool stream,
                                                 bool include_usage) {
  if (stream) return std::make_unique<SseWriter>(std::move(context), std::move(meta), include_usage);
  return std::make_unique<JsonWriter>(std::move(context), std::move(meta));
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
