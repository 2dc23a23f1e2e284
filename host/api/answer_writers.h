// The two AnswerWriters every inbound API needs, written once over a dialect:
// a whole answer (collect the events, respond once) and a stream (SSE in a
// chunked body). A dialect names its renderers:
//
//   struct Dialect {
//     static constexpr Api kApi = ...;  // the wire format (restore_model on Raw)
//     using Meta = ...;                 // what the answer says about itself (has `model`)
//     using StreamRenderer = ...;       // render(const Event&, std::string& out)
//     static std::string whole(const ChatResponse&, const Meta&);
//     static std::string error(const Error&);
//   };
//
// Commit rule (both): nothing reaches the client before the first event that
// carries content (or the end), so a provider that fails before it can still be
// replaced by the next one in the chain.
//
// Both record into the request context: the status and time of the head, the
// first content event (streams), usage, and the bytes written. Pass-through
// (Raw) answers get the client's model name back here (restore_model), the
// one place where the answer side of the model rename happens.
#pragma once

#include <string>
#include <utility>

#include "api/dialect.h"
#include "gateway/answer_writer.h"
#include "llmux/codec/raw_answer.h"
#include "llmux/response.h"

namespace llmux::host {

namespace writer_detail {

// Raw bytes name the upstream's model: give them the client's.
template <class Dialect>
Event with_client_model(const Event& event, const std::string& client_model) {
  Event renamed;
  renamed.kind = Event::Kind::Raw;
  renamed.text.reserve(event.text.size() + client_model.size());
  restore_model(Dialect::kApi, event.text, client_model, renamed.text);
  return renamed;
}

inline std::string whole_headers(const std::string& provider, const RequestContext& request, const Error* error) {
  std::string headers = answer_headers(provider, request.id);
  if (error != nullptr) headers.append(error_headers(*error));
  return headers;
}

}  // namespace writer_detail

template <class Dialect>
class WholeAnswerWriter final : public AnswerWriter {
 public:
  WholeAnswerWriter(AnswerContext context, typename Dialect::Meta meta)
      : context_(std::move(context)), meta_(std::move(meta)) {}

  void begin_attempt(const std::string& provider) override { provider_ = provider; }

  void on_event(const Event& event) override {
    if (event.kind == Event::Kind::Raw) {
      collector_.add(writer_detail::with_client_model<Dialect>(event, meta_.model));
    } else {
      collector_.add(event);
    }
    if (event.kind == Event::Kind::Usage) context_.request->note_usage(event.usage);
    if (!event.terminal()) return;
    finished_ = true;
    if (event.kind == Event::Kind::Error) {
      send_error(event.error);
      return;
    }
    committed_ = true;
    context_.request->note_committed(200, false);
    out_ = make_response(200, "application/json", Dialect::whole(collector_.response(), meta_),
                         writer_detail::whole_headers(provider_, *context_.request, nullptr),
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
    if (out_.empty()) return;
    context_.request->note_written(out_.size());
    context_.channel->write(std::move(out_));
    out_ = std::string();
  }

 private:
  void send_error(const Error& error) {
    committed_ = true;
    context_.request->note_committed(error.status, false);
    out_ = make_response(error.status, "application/json", Dialect::error(error),
                         writer_detail::whole_headers(provider_, *context_.request, &error),
                         context_.close_connection);
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
  StreamAnswerWriter(AnswerContext context, Renderer renderer, std::string client_model)
      : context_(std::move(context)), fresh_(renderer), renderer_(std::move(renderer)),
        client_model_(std::move(client_model)) {}

  void begin_attempt(const std::string& provider) override { provider_ = provider; }

  void on_event(const Event& event) override {
    if (event.kind == Event::Kind::Raw) {
      renderer_.render(writer_detail::with_client_model<Dialect>(event, client_model_), pending_);
    } else {
      renderer_.render(event, pending_);
    }
    if (event.kind == Event::Kind::Usage) context_.request->note_usage(event.usage);
    if (event.terminal()) finished_ = true;
    if (!committed_ && event.kind == Event::Kind::Role) return;  // hold until content
    if (pending_.empty() && !finished_) return;
    if (!committed_) {
      committed_ = true;
      context_.request->note_committed(200, true);
      append_response_head(out_, {200, "text/event-stream", true, 0, context_.close_connection,
                                  answer_headers(provider_, context_.request->id)});
    }
    if (!pending_.empty() && event.content()) context_.request->note_first_token();
    append_chunk(out_, pending_);
    pending_.clear();
    if (finished_) out_.append(kLastChunk);
  }

  void flush() override {
    if (out_.empty()) return;
    context_.request->note_written(out_.size());
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
    context_.request->note_committed(error.status, false);
    out_ = make_response(error.status, "application/json", Dialect::error(error),
                         writer_detail::whole_headers(provider_, *context_.request, &error),
                         context_.close_connection);
  }

  bool finished() const override { return finished_; }

 private:
  AnswerContext context_;
  const Renderer fresh_;
  Renderer renderer_;
  const std::string client_model_;
  std::string provider_;
  std::string pending_;  // bytes of events held back until the answer commits
  std::string out_;      // framed bytes waiting for flush()
  bool committed_ = false;
  bool finished_ = false;
};

}  // namespace llmux::host
