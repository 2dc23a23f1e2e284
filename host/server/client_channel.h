// The client's side of one HTTP exchange: raw response bytes written to the
// connection's socket from any thread.
//
// llmux writes responses itself instead of going through Pistache's write
// queue: Pistache's ResponseStream is not safe off its event loop, and its
// queue is keyed by fd number, so bytes queued just before a client left could
// reach the next connection that reuses the number. Here every send happens
// under the channel's lock after checking that the descriptor still is the
// same socket (its inode), and a disconnect closes the channel under that lock
// before Pistache closes the socket. What the kernel does not take at once
// waits in the channel and is sent by the SocketWriter thread when the socket
// becomes writable; pending_bytes() is the backpressure signal.
//
// Inside a RoundScope (services/round_scope.h: the HTTP engine opens one per
// poll round) writes are only appended, and the channel sends once when the
// round ends: an upstream burst of SSE events costs one send(), not one each.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "services/round_scope.h"

namespace llmux::host {

class IoLoop;

class ClientChannel {
 public:
  virtual ~ClientChannel() = default;
  // Sends (or queues) bytes for the client; false once the channel is closed.
  virtual bool write(std::string bytes) = 0;
  // The same for bytes the caller keeps (its buffer keeps its capacity).
  virtual bool write_copy(std::string_view bytes) { return write(std::string(bytes)); }
  virtual bool closed() const = 0;
  // Bytes accepted by write() that the client has not taken yet.
  virtual std::size_t pending_bytes() const = 0;
  // Runs `fn` once when nothing is pending any more or the channel closes
  // (immediately, on the calling thread, if that is already so).
  virtual void on_drained(std::function<void()> fn) = 0;
};

// Above this many unsent bytes a client counts as reading slowly (backpressure).
inline constexpr std::size_t kClientBacklogBytes = 256u << 10;

class SocketChannel final : public ClientChannel,
                            public Deferred,
                            public std::enable_shared_from_this<SocketChannel> {
 public:
  // `fd` must be an open socket; its identity is recorded now, and so is the
  // event loop of the calling thread (the connection's own).
  explicit SocketChannel(int fd);
  ~SocketChannel() override;

  bool write(std::string bytes) override;
  bool write_copy(std::string_view bytes) override;
  bool closed() const override;
  void close();  // on the event loop when the client disconnects, before the fd is closed
  // Ends the connection once everything written so far is sent: shuts the
  // socket down both ways, so the client reads the answer, then EOF, and
  // nothing more it sends is read. Pistache's next read sees EOF and closes
  // the fd (closing stays Pistache's). Later writes fail.
  void end_after_sent();
  std::size_t pending_bytes() const override;
  void on_drained(std::function<void()> fn) override;

  // SocketWriter: the socket became writable.
  void on_writable();
  // RoundScope: the round ended; send what it gathered.
  void run_deferred() override;

 private:
  bool same_socket() const;  // the fd still refers to the socket we were given
  template <typename Bytes>
  bool write_any(Bytes&& bytes);
  template <typename Bytes>
  bool write_locked(Bytes&& bytes);
  bool send_now_locked();    // sends pending bytes, watches for EPOLLOUT if some remain
  bool send_pending();       // sends what it can; false on a fatal socket error
  void close_locked();
  void end_locked();         // end_after_sent() once nothing is pending; the fd is ours
  std::vector<std::function<void()>> take_drain_waiters_locked();

  mutable std::mutex mutex_;
  const int fd_;
  const IoLoop* const owner_;  // the connection's loop (nullptr: none known)
  dev_t device_ = 0;
  ino_t inode_ = 0;
  bool closed_ = false;
  bool watched_ = false;  // registered with the SocketWriter for EPOLLOUT
  bool deferred_ = false; // registered with this thread's RoundScope
  bool end_after_sent_ = false;
  std::string pending_;
  std::size_t pending_offset_ = 0;
  std::vector<std::function<void()>> drain_waiters_;
};

struct ResponseHead {
  int status = 200;
  std::string_view content_type = "application/json";
  bool chunked = false;          // true: Transfer-Encoding: chunked (streams)
  std::size_t content_length = 0;  // when not chunked
  bool close_connection = false;
  std::string_view extra_headers;  // preformatted "Name: value\r\n" lines
};

// Appends the status line and headers (ending with the blank line).
void append_response_head(std::string& out, const ResponseHead& head);
// A whole non-chunked response.
std::string make_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers = {}, bool close_connection = false);
// Appends one chunk of a chunked body (nothing for empty data: that would end it).
void append_chunk(std::string& out, std::string_view data);
// The last chunk of a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

const char* reason_phrase(int status);

}  // namespace llmux::host
