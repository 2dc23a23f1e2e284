// A small blocking HTTP client for tests (libcurl over real loopback sockets).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace llmux::test {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;  // curl error text, empty on success
  long connects = 0;  // new connections this request opened (0 = reused keep-alive)
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct RequestOptions {
  std::vector<std::string> headers;  // "Name: value"
  std::chrono::milliseconds timeout{10000};
  // Called with each received body piece; return false to abort the transfer
  // (the client disconnects mid-answer).
  std::function<bool(const std::string& piece)> on_data;
};

inline RequestOptions with_header(std::string header) {
  RequestOptions options;
  options.headers.push_back(std::move(header));
  return options;
}

inline RequestOptions with_timeout(std::chrono::milliseconds timeout) {
  RequestOptions options;
  options.timeout = timeout;
  return options;
}

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse get(const std::string& url, const RequestOptions& options = {});
  HttpResponse post(const std::string& url, const std::string& body, const RequestOptions& options = {});
  HttpResponse request(const std::string& method, const std::string& url, const std::string& body,
                       const RequestOptions& options);

 private:
  void* curl_;  // one handle: keeps its connection alive between requests
};

// Splits an SSE body into the payloads of its "data:" lines.
std::vector<std::string> sse_data(const std::string& body);
// The assistant text of a chat.completion.chunk stream (delta contents joined).
std::string sse_content(const std::string& body);

}  // namespace llmux::test
