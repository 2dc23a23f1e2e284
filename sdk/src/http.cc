#include "llmux/http.h"

#include <strings.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <utility>

namespace llmux {

std::optional<std::string_view> find_header(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && strncasecmp(key.data(), name.data(), name.size()) == 0) return value;
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> parse_retry_after(const HttpHeaders& headers) {
  auto number = [](std::string_view text) -> std::optional<double> {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    if (text.empty()) return std::nullopt;
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
    return value;
  };
  if (auto ms = find_header(headers, "retry-after-ms")) {
    if (auto value = number(*ms)) return std::chrono::milliseconds(static_cast<std::int64_t>(*value));
  }
  auto after = find_header(headers, "retry-after");
  if (!after) return std::nullopt;
  if (auto seconds = number(*after)) return std::chrono::milliseconds(static_cast<std::int64_t>(*seconds * 1000));
  // An HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT".
  std::string date(*after);
  std::tm tm{};
  if (!strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return std::nullopt;
  std::time_t when = timegm(&tm);
  std::time_t now = std::time(nullptr);
  return std::chrono::milliseconds(when > now ? (when - now) * 1000 : 0);
}

const char* to_string(HttpFailure failure) noexcept {
  switch (failure) {
    case HttpFailure::None: return "ok";
    case HttpFailure::ConnectRefused: return "connection refused";
    case HttpFailure::Connect: return "connect failed";
    case HttpFailure::FirstByteTimeout: return "first-byte timeout";
    case HttpFailure::IdleTimeout: return "idle timeout";
    case HttpFailure::TotalTimeout: return "total timeout";
    case HttpFailure::Cut: return "connection cut";
    case HttpFailure::Cancelled: return "cancelled";
    case HttpFailure::Other: return "transfer failed";
  }
  return "?";
}

std::string CollectedResponse::problem() const {
  if (too_large) return "answer larger than " + std::to_string(max_body) + " bytes";
  if (!outcome.ok()) {
    return outcome.message.empty() ? std::string(to_string(outcome.failure)) : outcome.message;
  }
  if (status < 200 || status > 299) {
    std::string text = "HTTP " + std::to_string(status);
    if (!body.empty()) text += ": " + body.substr(0, 200);
    return text;
  }
  return {};
}

namespace {

class ResponseCollector final : public HttpHandler {
 public:
  ResponseCollector(std::size_t max_body, std::function<void(CollectedResponse&&)> done)
      : max_body_(max_body), done_(std::move(done)) {
    response_.max_body = max_body;
  }

  void on_response(int status, const HttpHeaders& headers) override {
    response_.status = status;
    response_.headers = headers;
  }
  bool on_body(std::string_view bytes) override {
    if (response_.body.size() + bytes.size() > max_body_) {
      response_.too_large = true;
      return false;
    }
    response_.body.append(bytes);
    return true;
  }
  void on_complete(const HttpOutcome& outcome) override {
    response_.outcome = outcome;
    if (done_) std::exchange(done_, nullptr)(std::move(response_));
  }

 private:
  std::size_t max_body_;
  std::function<void(CollectedResponse&&)> done_;
  CollectedResponse response_;
};

}  // namespace

std::shared_ptr<HttpHandler> collect_response(std::size_t max_body,
                                              std::function<void(CollectedResponse&&)> done) {
  return std::make_shared<ResponseCollector>(max_body, std::move(done));
}

}  // namespace llmux
