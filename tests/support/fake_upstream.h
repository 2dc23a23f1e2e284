// A scriptable HTTP/1.1 upstream for tests, on a free loopback port.
//
// Each accepted connection gets its own thread with a blocking socket; several
// requests may follow one another on a connection (keep-alive; request bodies
// with Content-Length or chunked). For every request the server calls the
// current handler on that connection's thread, and the handler writes the
// response through a FakeExchange, as exactly as the test needs:
//
//   FakeUpstream upstream;
//   upstream.set_handler([](const FakeRequest& request, FakeExchange& exchange) {
//     if (request.path != "/v1/chat/completions") {
//       exchange.respond(404);
//       return;
//     }
//     exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
//     exchange.chunk(openai_sse({R"({"choices":[{"delta":{"content":"Hi"}}]})"}, false));
//     exchange.sleep(std::chrono::milliseconds(100));   // the client sees "Hi" before the rest
//     exchange.chunk("data: [DONE]\n\n");
//     exchange.end_chunked();
//   });
//   ... point the code under test at upstream.url("/v1") ...
//   EXPECT_EQ(upstream.requests().at(0).header("authorization"), "Bearer sk-test");
//
// After the handler returns, the connection stays open for the next request if
// the response was complete and keep-alive (respond(), or end_chunked()); it is
// closed when the handler sent nothing, left a response unfinished (a cut),
// used begin_stream(), called close(), or the request said Connection: close.
//
// The server records every request, the number of accepted connections, and
// for each connection when the client closed it (seen through EOF or a reset
// while reading, sleeping, stalling or writing), so a test can assert that a
// cancelled client really hung up. Sends and sleeps return false once the
// client has gone or the server is stopping; a streaming handler loop written
// as `while (exchange.chunk(...) && exchange.sleep(...))` ends by itself.
//
// Without a handler every request gets `500 no handler`. The destructor stops
// everything: it wakes sleeping handlers, shuts every socket down and joins
// the threads (handlers should not block on anything but the exchange).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace llmux::test {

using FakeHeaders = std::vector<std::pair<std::string, std::string>>;
using FakeClock = std::chrono::steady_clock;

struct FakeRequest {
  std::string method;
  std::string path;  // as on the request line, query included
  FakeHeaders headers;  // in order, as received (names as the client spelled them)
  std::string body;  // de-chunked when the request was chunked
  std::size_t connection = 0;  // index into FakeUpstream::connections()
  FakeClock::time_point received_at;  // when the whole request had been read

  // Case-insensitive lookup; empty when absent (use has_header to tell apart).
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

struct FakeConnection {
  FakeClock::time_point accepted_at;
  std::size_t requests = 0;
  // When the server noticed that the client closed (FIN or reset); nullopt
  // while open or when the server closed first.
  std::optional<FakeClock::time_point> client_closed_at;
  bool server_closed = false;  // the server ended it (close(), begin_stream, cut, stop)
};

// The response side of one request, handed to the handler. All writes go
// straight to the socket (blocking; a client that does not read blocks the
// handler through TCP flow control). Every call returns false (and does
// nothing) once the client has gone, the connection was closed or the server
// is stopping.
class FakeExchange {
 public:
  // Exact bytes on the wire, nothing added.
  bool send_raw(std::string_view bytes);

  // A complete response with Content-Length (not added when `headers` already
  // has Content-Length or Transfer-Encoding: to script a lying length, pass
  // your own and close() after the short body).
  bool respond(int status, const FakeHeaders& headers = {}, std::string_view body = {});

  // Transfer-Encoding: chunked: the head, then one chunk per chunk() call,
  // then the terminating chunk. close() before end_chunked() is a cut.
  bool begin_chunked(int status, const FakeHeaders& headers = {});
  // After begin_chunked: one chunk (empty data sends nothing). After
  // begin_stream: the bytes as they are.
  bool chunk(std::string_view data);
  bool end_chunked();

  // A close-delimited body (no length, no chunking, "Connection: close"): the
  // response ends when the connection does, at close() or when the handler returns.
  bool begin_stream(int status, const FakeHeaders& headers = {});

  // Waits, watching the connection: returns false early when the client
  // closes or the server stops, true after the full time.
  bool sleep(std::chrono::milliseconds duration);

  // Closes the connection now (mid-response is fine: that is a cut).
  void close();

  // Sends nothing and waits until the client closes the connection (true,
  // with the time recorded in the connection) or `timeout` passes (false).
  bool stall_until_client_closes(std::chrono::milliseconds timeout);

  // The client closed the connection (as far as the server has seen).
  bool client_closed() const { return client_closed_; }
  std::size_t connection() const { return connection_; }

 private:
  friend class FakeUpstream;
  struct Context;
  FakeExchange(Context& context, std::size_t connection, int fd);
  bool usable() const;
  bool write_all(std::string_view bytes);
  void note_client_closed();
  bool watch(std::chrono::milliseconds duration, bool until_close);
  std::string head(int status, const FakeHeaders& headers, std::string_view framing) const;

  Context& context_;
  std::size_t connection_;
  int fd_;
  bool sent_any_ = false;
  bool complete_ = false;  // a whole keep-alive response went out
  bool keep_alive_ = true;  // false: close after the handler
  bool chunked_ = false;
  bool closed_ = false;
  bool client_closed_ = false;
};

using FakeHandler = std::function<void(const FakeRequest&, FakeExchange&)>;

class FakeUpstream {
 public:
  FakeUpstream();  // listening on 127.0.0.1, a free port
  explicit FakeUpstream(FakeHandler handler);
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  // Replaces the handler for requests that arrive from now on.
  void set_handler(FakeHandler handler);

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port>" + path.
  std::string url(std::string_view path = "") const;

  // Copies of what was recorded so far.
  std::vector<FakeRequest> requests() const;
  // Those of them to `path`, in order.
  std::vector<FakeRequest> requests_to(std::string_view path) const;
  std::size_t request_count() const;
  std::size_t connection_count() const;
  std::vector<FakeConnection> connections() const;

  // Waits until at least `count` requests have been read in full.
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;
  // Waits until the client closed connection `index` (see FakeConnection);
  // returns the time it was noticed, nullopt on timeout.
  std::optional<FakeClock::time_point> wait_for_client_close(std::size_t index,
                                                              std::chrono::milliseconds timeout) const;

 private:
  friend class FakeExchange;
  void accept_loop();
  void serve(std::size_t index, int fd);

  std::shared_ptr<FakeExchange::Context> context_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread acceptor_;
};

// OpenAI-style SSE bytes: "data: <json>\n\n" per chunk, then "data: [DONE]\n\n"
// when `done`.
std::string openai_sse(const std::vector<std::string>& json_chunks, bool done = true);
// One SSE event carrying `data` (a single line): "data: <data>\n\n".
std::string sse_event(std::string_view data);
// A chat.completion.chunk JSON with one delta of assistant text (content is
// JSON-escaped), for quick streams: openai_sse({openai_text_chunk("Hel"), openai_text_chunk("lo")}).
std::string openai_text_chunk(std::string_view content, std::string_view model = "gpt-test");

}  // namespace llmux::test
