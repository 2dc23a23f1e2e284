// The two AnswerWriters every inbound API needs, written once over a dialect:
// a whole answer (collect the events, respond once) and a stream (SSE in a
// chunked body). A dialect names its renderers:
//
//   struct Dialect {
//     using Meta = ...;                 // what the answer says about itself
//     using StreamRenderer = ...;       // render(const Event&, std::string& out)
//     static std::string whole(const ChatResponse&, const Meta&);
//     static std::string error(const Error&);
//   };
//
// Commit rule (both): nothing reaches the client before the first event that
// carries content (or the end), so a provider that fails before it can still be
// replaced by the next one in the chain.
#pragma once

#include <string>
#include <utility>

#include "api/openai_api.h"
#include "gateway/answer_writer.h"
#include "llmux/response.h"

namespace llmux::host {

template <class Dialect>
class WholeAnswerWriter final : public AnswerWriter {
 public:
  WholeAnswerWriter(AnswerContext context, typename Dialect::Meta meta)
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
    out_ = make_response(200, "application/json", Dialect::whole(collector_.response(), meta_),
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
    out_ = make_response(error.status, "application/json", Dialect::error(error),
                         answer_headers(provider_, context_.request_id), context_.close_connection);
  }

  AnswerContext context_;
  typename Dialect::Meta meta_;
  std::string provider_;
  ResponseCollector collector_;
  std::string out_;
  bool committed_ = false;
  bool finished_ = false;
};

template <class Dialect>
class StreamAnswerWriter final : public AnswerWriter {
 public:
  using Renderer = typename Dialect::StreamRenderer;

  // `renderer` is the fresh renderer of this answer; a copy is kept to start
  // over when an attempt is discarded.
  StreamAnswerWriter(AnswerContext context, Renderer renderer)
      : context_(std::move(context)), fresh_(renderer), renderer_(std::move(renderer)) {}

  void begin_attempt(const std::string& provider) override { provider_ = provider; }

  void on_event(const Event& event) override {
    renderer_.render(event, pending_);
    if (event.terminal()) finished_ = true;
    if (!committed_ && event.kind == Event::Kind::Role) return;  // hold until content
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
    // A stream flushes many times: the buffer keeps its capacity, the channel copies.
    context_.channel->write_copy(out_);
    out_.clear();
  }

  bool committed() const override { return committed_; }

  void discard() override {
    pending_.clear();
    renderer_ = fresh_;
  }

  void fail(const Error& error) override {
    finished_ = true;
    if (committed_) {  // the status is out: end the stream in-band
      on_event(Event::failed(error));
      return;
    }
    committed_ = true;
    out_ = make_response(error.status, "application/json", Dialect::error(error),
                         answer_headers(provider_, context_.request_id), context_.close_connection);
  }

  bool finished() const override { return finished_; }

 private:
  AnswerContext context_;
  const Renderer fresh_;
  Renderer renderer_;
  std::string provider_;
  std::string pending_;  // bytes of events held back until the answer commits
  std::string out_;      // framed bytes waiting for flush()
  bool committed_ = false;
  bool finished_ = false;
};

}  // namespace llmux::host
