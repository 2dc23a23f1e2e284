#include "server/client_channel.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <type_traits>
#include <utility>

#include "server/io_loop.h"
#include "server/socket_writer.h"

namespace llmux::host {

SocketChannel::SocketChannel(int fd) : fd_(fd), owner_(IoLoop::current()) {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    closed_ = true;
    return;
  }
  device_ = st.st_dev;
  inode_ = st.st_ino;
  // A send here must never block a provider's thread: every send() passes
  // MSG_DONTWAIT, so the socket's own O_NONBLOCK flag does not matter (and
  // costs no fcntl per request).
}

SocketChannel::~SocketChannel() = default;

bool SocketChannel::same_socket() const {
  // On the loop that owns the connection its descriptor cannot have been
  // closed behind our back: Pistache closes it on that thread, and only after
  // onDisconnection has closed this channel. (Saves an fstat per send.)
  if (owner_ != nullptr && IoLoop::current() == owner_) return true;
  struct stat st {};
  return ::fstat(fd_, &st) == 0 && st.st_ino == inode_ && st.st_dev == device_;
}

bool SocketChannel::write(std::string bytes) { return write_any(std::move(bytes)); }

bool SocketChannel::write_copy(std::string_view bytes) { return write_any(bytes); }

template <typename Bytes>
bool SocketChannel::write_any(Bytes&& bytes) {
  std::vector<std::function<void()>> waiters;
  bool ok;
  {
    std::lock_guard lock(mutex_);
    ok = write_locked(std::forward<Bytes>(bytes));
    if (closed_) waiters = take_drain_waiters_locked();
  }
  for (auto& fn : waiters) fn();
  return ok;
}

template <typename Bytes>
bool SocketChannel::write_locked(Bytes&& bytes) {
  if (closed_) return false;
  if (bytes.empty()) return true;
  if (pending_offset_ >= pending_.size()) {
    pending_offset_ = 0;
    if constexpr (std::is_same_v<std::decay_t<Bytes>, std::string>) {
      if (pending_.capacity() < bytes.size()) {
        pending_ = std::move(bytes);  // take the caller's buffer rather than grow ours
      } else {
        pending_.assign(bytes);
      }
    } else {
      pending_.assign(bytes.data(), bytes.size());
    }
  } else {
    // Earlier bytes still wait (for the round's end or for EPOLLOUT): keep the order.
    pending_.append(bytes.data(), bytes.size());
  }
  if (watched_) return true;  // the SocketWriter sends it when the socket takes more
  if (RoundScope::active()) {
    // Gathered until the round ends: one send for the whole burst.
    if (!deferred_) {
      deferred_ = true;
      RoundScope::defer(shared_from_this());
    }
    return true;
  }
  return send_now_locked();
}

bool SocketChannel::send_now_locked() {
  if (!same_socket()) {  // closed (or even reused) behind our back: never write
    close_locked();
    return false;
  }
  if (!send_pending()) {
    close_locked();
    return false;
  }
  if (pending_offset_ < pending_.size() && !watched_) {
    watched_ = SocketWriter::instance().watch(fd_, shared_from_this());
    if (!watched_) {
      close_locked();
      return false;
    }
  }
  return true;
}

void SocketChannel::run_deferred() {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mutex_);
    deferred_ = false;
    if (closed_) return;
    if (!watched_ && pending_offset_ < pending_.size()) send_now_locked();
    if (closed_ || pending_offset_ >= pending_.size()) waiters = take_drain_waiters_locked();
  }
  for (auto& fn : waiters) fn();  // outside the lock: they may write again
}

bool SocketChannel::send_pending() {
  while (pending_offset_ < pending_.size()) {
    ssize_t n = ::send(fd_, pending_.data() + pending_offset_, pending_.size() - pending_offset_,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      pending_offset_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;  // EPIPE, ECONNRESET, ...: the client is gone
  }
  pending_.clear();  // keeps the capacity for the next answer piece
  pending_offset_ = 0;
  if (end_after_sent_) end_locked();
  return true;
}

void SocketChannel::end_after_sent() {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    end_after_sent_ = true;
    // Bytes still queued (for EPOLLOUT or the round's end): send_pending() ends after them.
    if (pending_offset_ < pending_.size() || deferred_) return;
    if (same_socket()) {
      end_locked();
    } else {
      close_locked();  // never touch a descriptor that now belongs to another connection
    }
    waiters = take_drain_waiters_locked();
  }
  for (auto& fn : waiters) fn();
}

void SocketChannel::end_locked() {
  int unread = 0;
  if (::ioctl(fd_, FIONREAD, &unread) == 0 && unread > 0) {
    // The client is still sending. Linger 0 makes Pistache's close a reset, so
    // its sends fail at once; an orderly close could leave it blocked behind
    // a zero window until FIN-WAIT-2 times out (about a minute).
    linger abort{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  }
  ::shutdown(fd_, SHUT_RDWR);
  close_locked();
}

void SocketChannel::on_writable() {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    if (!same_socket() || !send_pending()) {
      close_locked();
    } else if (pending_offset_ >= pending_.size() && watched_) {
      watched_ = false;
      SocketWriter::instance().unwatch(fd_);
    }
    if (closed_ || pending_offset_ >= pending_.size()) waiters = take_drain_waiters_locked();
  }
  for (auto& fn : waiters) fn();  // outside the lock: they may write again
}

void SocketChannel::on_drained(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    if (!closed_ && pending_offset_ < pending_.size()) {
      drain_waiters_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

std::vector<std::function<void()>> SocketChannel::take_drain_waiters_locked() {
  std::vector<std::function<void()>> out;
  out.swap(drain_waiters_);
  return out;
}

bool SocketChannel::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

void SocketChannel::close() {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mutex_);
    close_locked();
    waiters = take_drain_waiters_locked();
  }
  for (auto& fn : waiters) fn();
}

void SocketChannel::close_locked() {
  closed_ = true;
  std::string().swap(pending_);
  pending_offset_ = 0;
  if (watched_) {
    watched_ = false;
    SocketWriter::instance().unwatch(fd_);
  }
}

std::size_t SocketChannel::pending_bytes() const {
  std::lock_guard lock(mutex_);
  return pending_.size() - pending_offset_;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Overloaded";
    default: return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

void append_response_head(std::string& out, const ResponseHead& head) {
  char line[64];
  int n = std::snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", head.status, reason_phrase(head.status));
  out.append(line, static_cast<std::size_t>(n));
  out.append("Content-Type: ").append(head.content_type).append("\r\n");
  if (head.chunked) {
    out.append("Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
  } else {
    n = std::snprintf(line, sizeof line, "Content-Length: %zu\r\n", head.content_length);
    out.append(line, static_cast<std::size_t>(n));
  }
  out.append(head.close_connection ? "Connection: close\r\n" : "Connection: keep-alive\r\n");
  out.append(head.extra_headers);
  out.append("\r\n");
}

std::string make_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers, bool close_connection) {
  std::string out;
  out.reserve(160 + extra_headers.size() + body.size());
  append_response_head(out, {status, content_type, false, body.size(), close_connection, extra_headers});
  out.append(body);
  return out;
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char size[24];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out.append(size, static_cast<std::size_t>(n));
  out.append(data);
  out.append("\r\n");
}

}  // namespace llmux::host
