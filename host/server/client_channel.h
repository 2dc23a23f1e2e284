// The client's side of one HTTP exchange: raw response bytes handed to the
// connection from any thread.
//
// Pistache's ResponseStream is not safe off its event loop (its flush drains a
// single-consumer queue); Tcp::Peer::send only queues and wakes the loop, so
// every response byte goes through it, framed here. A disconnect closes the
// channel (under its lock) before Pistache closes the socket, so no write can
// reach a reused file descriptor afterwards.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace Pistache::Tcp {
class Peer;
}

namespace llmux::host {

class ClientChannel {
 public:
  virtual ~ClientChannel() = default;
  // Queues bytes for the client; false once the channel is closed.
  virtual bool write(std::string bytes) = 0;
  virtual bool closed() const = 0;
};

class PeerChannel final : public ClientChannel {
 public:
  explicit PeerChannel(std::weak_ptr<Pistache::Tcp::Peer> peer) : peer_(std::move(peer)) {}
  bool write(std::string bytes) override;
  bool closed() const override;
  void close();  // called on the event loop when the client disconnects

 private:
  mutable std::mutex mutex_;
  std::weak_ptr<Pistache::Tcp::Peer> peer_;
  bool closed_ = false;
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
