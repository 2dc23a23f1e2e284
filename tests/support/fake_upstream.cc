#include "support/fake_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace llmux::test {

struct FakeExchange::Context {
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  FakeHandler handler;
  std::vector<FakeRequest> requests;
  std::vector<FakeConnection> connections;
  std::vector<int> open_fds;  // live connection sockets, shut down at stop
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  int stop_fd = -1;  // eventfd: readable once stopping
};

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

bool has_header(const FakeHeaders& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
}

const char* reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Overloaded";
  }
  return "Status";
}

// Reads a connection's requests (blocking, but woken by the stop eventfd).
class RequestReader {
 public:
  RequestReader(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd) {}

  enum class Result { Ok, Closed, Stopped, Malformed };

  // Reads the next request head and body. `continue_hook` is called when the
  // client sent "Expect: 100-continue" (to send the interim response).
  Result read(FakeRequest& request, const std::function<void()>& continue_hook) {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > (1u << 20)) return Result::Malformed;
      if (auto r = fill(); r != Result::Ok) return r;
    }
    std::string_view head(buffer_.data(), end);
    auto line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    auto sp1 = line.find(' ');
    auto sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) return Result::Malformed;
    request.method = std::string(line.substr(0, sp1));
    request.path = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto next = head.find("\r\n", pos);
      if (next == std::string_view::npos) next = head.size();
      std::string_view header = head.substr(pos, next - pos);
      auto colon = header.find(':');
      if (colon != std::string_view::npos) {
        request.headers.emplace_back(std::string(trim(header.substr(0, colon))),
                                     std::string(trim(header.substr(colon + 1))));
      }
      pos = next + 2;
    }
    buffer_.erase(0, end + 4);
    if (iequals(request.header("expect"), "100-continue")) continue_hook();

    if (request.header("transfer-encoding").find("chunked") != std::string::npos) {
      for (;;) {
        std::string size_line;
        if (auto r = read_line(size_line); r != Result::Ok) return r;
        std::size_t size = std::strtoul(size_line.c_str(), nullptr, 16);
        if (size == 0) {
          std::string trailer;
          do {
            if (auto r = read_line(trailer); r != Result::Ok) return r;
          } while (!trailer.empty());
          break;
        }
        if (auto r = need(size + 2); r != Result::Ok) return r;
        request.body.append(buffer_, 0, size);
        buffer_.erase(0, size + 2);
      }
    } else if (auto length = request.header("content-length"); !length.empty()) {
      std::size_t size = std::strtoull(length.c_str(), nullptr, 10);
      if (auto r = need(size); r != Result::Ok) return r;
      request.body.assign(buffer_, 0, size);
      buffer_.erase(0, size);
    }
    return Result::Ok;
  }

 private:
  Result read_line(std::string& line) {
    std::size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      if (auto r = fill(); r != Result::Ok) return r;
    }
    line.assign(buffer_, 0, end);
    buffer_.erase(0, end + 2);
    return Result::Ok;
  }

  Result need(std::size_t size) {
    while (buffer_.size() < size) {
      if (auto r = fill(); r != Result::Ok) return r;
    }
    return Result::Ok;
  }

  Result fill() {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    for (;;) {
      int n = ::poll(fds, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || (fds[1].revents & POLLIN)) return Result::Stopped;
      break;
    }
    char data[64 * 1024];
    ssize_t got;
    do {
      got = ::recv(fd_, data, sizeof data, 0);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) return Result::Closed;
    buffer_.append(data, static_cast<std::size_t>(got));
    return Result::Ok;
  }

  int fd_;
  int stop_fd_;
  std::string buffer_;
};

}  // namespace

// ---- FakeRequest -----------------------------------------------------------

std::string FakeRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return {};
}

bool FakeRequest::has_header(std::string_view name) const { return llmux::test::has_header(headers, name); }

// ---- FakeExchange ----------------------------------------------------------

FakeExchange::FakeExchange(Context& context, std::size_t connection, int fd)
    : context_(context), connection_(connection), fd_(fd) {}

bool FakeExchange::usable() const { return !closed_ && !client_closed_ && !context_.stopping; }

void FakeExchange::note_client_closed() {
  client_closed_ = true;
  std::lock_guard lock(context_.mutex);
  auto& connection = context_.connections[connection_];
  if (!connection.client_closed_at && !connection.server_closed) {
    connection.client_closed_at = FakeClock::now();
    context_.changed.notify_all();
  }
}

bool FakeExchange::write_all(std::string_view bytes) {
  if (!usable()) return false;
  sent_any_ = true;
  while (!bytes.empty()) {
    ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) {
      if (!context_.stopping) note_client_closed();
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

std::string FakeExchange::head(int status, const FakeHeaders& headers, std::string_view framing) const {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += framing;
  out += "\r\n";
  return out;
}

bool FakeExchange::send_raw(std::string_view bytes) {
  complete_ = false;  // unknown framing: the connection closes after the handler
  return write_all(bytes);
}

bool FakeExchange::respond(int status, const FakeHeaders& headers, std::string_view body) {
  std::string framing;
  if (!has_header(headers, "content-length") && !has_header(headers, "transfer-encoding")) {
    framing = "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  std::string out = head(status, headers, framing);
  out += body;
  if (!write_all(out)) return false;
  complete_ = true;
  return true;
}

bool FakeExchange::begin_chunked(int status, const FakeHeaders& headers) {
  complete_ = false;
  chunked_ = true;
  return write_all(head(status, headers, "Transfer-Encoding: chunked\r\n"));
}

bool FakeExchange::chunk(std::string_view data) {
  if (!chunked_) return write_all(data);
  if (data.empty()) return usable();
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out = size;
  out += data;
  out += "\r\n";
  return write_all(out);
}

bool FakeExchange::end_chunked() {
  if (!write_all("0\r\n\r\n")) return false;
  chunked_ = false;
  complete_ = true;
  return true;
}

bool FakeExchange::begin_stream(int status, const FakeHeaders& headers) {
  complete_ = false;
  chunked_ = false;
  keep_alive_ = false;
  return write_all(head(status, headers, "Connection: close\r\n"));
}

bool FakeExchange::watch(std::chrono::milliseconds duration, bool until_close) {
  auto deadline = FakeClock::now() + duration;
  for (;;) {
    if (context_.stopping || closed_) return false;
    if (client_closed_) return until_close;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - FakeClock::now());
    if (left.count() <= 0) return !until_close;
    // POLLRDHUP only: bytes the client might send do not end the wait.
    pollfd fds[2] = {{fd_, POLLRDHUP, 0}, {context_.stop_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(left.count()) + 1);
    if (n < 0 && errno != EINTR) return false;
    if (n > 0 && (fds[1].revents & POLLIN)) return false;
    if (n > 0 && (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR))) note_client_closed();
  }
}

bool FakeExchange::sleep(std::chrono::milliseconds duration) { return watch(duration, false); }

bool FakeExchange::stall_until_client_closes(std::chrono::milliseconds timeout) {
  sent_any_ = true;  // a stall is an answer of sorts; the connection closes after it
  complete_ = false;
  return watch(timeout, true);
}

void FakeExchange::close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard lock(context_.mutex);
    context_.connections[connection_].server_closed = !context_.connections[connection_].client_closed_at;
  }
  ::shutdown(fd_, SHUT_RDWR);
}

// ---- FakeUpstream ----------------------------------------------------------

FakeUpstream::FakeUpstream() : context_(std::make_shared<FakeExchange::Context>()) {
  context_->stop_fd = ::eventfd(0, EFD_CLOEXEC);
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (context_->stop_fd < 0 || listen_fd_ < 0) throw std::runtime_error("FakeUpstream: socket failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 512) != 0) {
    throw std::runtime_error(std::string("FakeUpstream: bind/listen failed: ") + std::strerror(errno));
  }
  socklen_t length = sizeof address;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeUpstream::FakeUpstream(FakeHandler handler) : FakeUpstream() { set_handler(std::move(handler)); }

FakeUpstream::~FakeUpstream() {
  context_->stopping = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(context_->stop_fd, &one, sizeof one);
  {
    std::lock_guard lock(context_->mutex);
    for (int fd : context_->open_fds) ::shutdown(fd, SHUT_RDWR);
  }
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  // The acceptor is gone: nobody adds threads any more.
  for (auto& thread : context_->threads) {
    if (thread.joinable()) thread.join();
  }
  ::close(context_->stop_fd);
}

void FakeUpstream::set_handler(FakeHandler handler) {
  std::lock_guard lock(context_->mutex);
  context_->handler = std::move(handler);
}

std::string FakeUpstream::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

std::vector<FakeRequest> FakeUpstream::requests() const {
  std::lock_guard lock(context_->mutex);
  return context_->requests;
}

std::vector<FakeRequest> FakeUpstream::requests_to(std::string_view path) const {
  std::vector<FakeRequest> out;
  for (auto& r : requests()) {
    if (r.path == path) out.push_back(std::move(r));
  }
  return out;
}

std::size_t FakeUpstream::request_count() const {
  std::lock_guard lock(context_->mutex);
  return context_->requests.size();
}

std::size_t FakeUpstream::connection_count() const {
  std::lock_guard lock(context_->mutex);
  return context_->connections.size();
}

std::vector<FakeConnection> FakeUpstream::connections() const {
  std::lock_guard lock(context_->mutex);
  return context_->connections;
}

bool FakeUpstream::wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(context_->mutex);
  return context_->changed.wait_for(lock, timeout, [&] { return context_->requests.size() >= count; });
}

std::optional<FakeClock::time_point> FakeUpstream::wait_for_client_close(std::size_t index,
                                                                          std::chrono::milliseconds timeout) const {
  std::unique_lock lock(context_->mutex);
  context_->changed.wait_for(lock, timeout, [&] {
    return index < context_->connections.size() && context_->connections[index].client_closed_at;
  });
  if (index >= context_->connections.size()) return std::nullopt;
  return context_->connections[index].client_closed_at;
}

void FakeUpstream::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {context_->stop_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN) || context_->stopping) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(context_->mutex);
    std::size_t index = context_->connections.size();
    context_->connections.push_back({FakeClock::now(), 0, std::nullopt, false});
    context_->open_fds.push_back(fd);
    context_->threads.emplace_back([this, index, fd] { serve(index, fd); });
    context_->changed.notify_all();
  }
}

void FakeUpstream::serve(std::size_t index, int fd) {
  auto& context = *context_;
  RequestReader reader(fd, context.stop_fd);
  for (;;) {
    FakeRequest request;
    request.connection = index;
    FakeExchange exchange(context, index, fd);
    auto result = reader.read(request, [&] { exchange.write_all("HTTP/1.1 100 Continue\r\n\r\n"); });
    if (result == RequestReader::Result::Closed) exchange.note_client_closed();
    if (result != RequestReader::Result::Ok) break;
    request.received_at = FakeClock::now();
    FakeHandler handler;
    {
      std::lock_guard lock(context.mutex);
      context.requests.push_back(request);
      ++context.connections[index].requests;
      handler = context.handler;
      context.changed.notify_all();
    }
    exchange.sent_any_ = false;
    if (!handler) {
      exchange.respond(500, {{"Content-Type", "text/plain"}}, "no handler");
    } else {
      try {
        handler(request, exchange);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "FakeUpstream: handler threw: %s\n", e.what());
        exchange.complete_ = false;
      }
    }
    bool keep = exchange.complete_ && exchange.keep_alive_ && exchange.usable() &&
                !iequals(request.header("connection"), "close");
    if (!keep) {
      exchange.close();
      break;
    }
  }
  {
    std::lock_guard lock(context.mutex);
    context.open_fds.erase(std::remove(context.open_fds.begin(), context.open_fds.end(), fd), context.open_fds.end());
    if (!context.connections[index].client_closed_at) context.connections[index].server_closed = true;
  }
  ::close(fd);
}

// ---- wire helpers ----------------------------------------------------------

std::string sse_event(std::string_view data) {
  std::string out = "data: ";
  out += data;
  out += "\n\n";
  return out;
}

std::string openai_sse(const std::vector<std::string>& json_chunks, bool done) {
  std::string out;
  for (const auto& chunk : json_chunks) out += sse_event(chunk);
  if (done) out += sse_event("[DONE]");
  return out;
}

namespace {
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}
}  // namespace

std::string openai_text_chunk(std::string_view content, std::string_view model) {
  return R"({"id":"chatcmpl-test","object":"chat.completion.chunk","created":0,"model":)" + json_string(model) +
         R"(,"choices":[{"index":0,"delta":{"content":)" + json_string(content) + R"(},"finish_reason":null}]})";
}

}  // namespace llmux::test
