#include "server/client_channel.h"

#include <pistache/peer.h>
#include <pistache/stream.h>

#include <cstdio>

namespace llmux::host {

bool PeerChannel::write(std::string bytes) {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  auto peer = peer_.lock();
  if (!peer) {
    closed_ = true;
    return false;
  }
  std::size_t size = bytes.size();
  peer->send(Pistache::RawBuffer(std::move(bytes), size));
  return true;
}

bool PeerChannel::closed() const {
  std::lock_guard lock(mutex_);
  return closed_ || peer_.expired();
}

void PeerChannel::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
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
