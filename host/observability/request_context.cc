#include "observability/request_context.h"

#include <random>

namespace llmux::host {

const char* to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::Ok: return "ok";
    case Outcome::ClientAbort: return "client_abort";
    case Outcome::UpstreamError: return "upstream_error";
    case Outcome::Timeout: return "timeout";
    case Outcome::Rejected: return "rejected";
  }
  return "ok";
}

RequestContext::RequestContext(std::shared_ptr<RequestObserver> observer)
    : started(Clock::now()), wall_started(std::chrono::system_clock::now()), observer_(std::move(observer)) {}

RequestContext::~RequestContext() { finish(Outcome::ClientAbort); }

void RequestContext::finish(Outcome outcome) {
  if (finished_.exchange(true, std::memory_order_acq_rel)) return;
  outcome_ = outcome;
  duration_ = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  if (observer_) observer_->request_finished(*this);
}

std::vector<std::pair<std::string, std::string>> RequestContext::fallbacks() const {
  std::vector<std::pair<std::string, std::string>> out;
  const AttemptRecord* failed = nullptr;  // the last attempt that failed and was not retried
  for (const AttemptRecord& attempt : attempts) {
    if (attempt.outcome == "skipped") continue;
    if (failed != nullptr && failed->provider != attempt.provider) out.emplace_back(failed->provider, attempt.provider);
    failed = attempt.outcome == "error" ? &attempt : nullptr;
  }
  return out;
}

namespace request_id {
namespace {

bool is_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view text) { return text.find_first_not_of('0') == std::string_view::npos; }

std::string random_hex(std::size_t digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  out.reserve(digits);
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    if (i % 16 == 0) bits = rng();
    out.push_back(kHex[bits & 15]);
    bits >>= 4;
  }
  return out;
}

}  // namespace

bool valid_traceparent(std::string_view t) {
  // version "-" trace-id "-" parent-id "-" flags
  if (t.size() != 55 || t[2] != '-' || t[35] != '-' || t[52] != '-') return false;
  std::string_view version = t.substr(0, 2), trace = t.substr(3, 32), parent = t.substr(36, 16),
                   flags = t.substr(53, 2);
  return version == "00" && is_hex(trace) && is_hex(parent) && is_hex(flags) && !all_zero(trace) && !all_zero(parent);
}

std::string choose(std::optional<std::string_view> client_id, std::optional<std::string_view> traceparent) {
  if (client_id && !client_id->empty() && client_id->size() <= 128) {
    bool sane = true;
    for (char c : *client_id) sane = sane && c > 0x20 && c < 0x7f;
    if (sane) return std::string(*client_id);
  }
  if (traceparent && valid_traceparent(*traceparent)) return std::string(traceparent->substr(3, 32));
  return random_hex(32);
}

std::string make_traceparent(std::string_view id) {
  std::string trace = id.size() == 32 && is_hex(id) && !all_zero(id) ? std::string(id) : random_hex(32);
  std::string span = random_hex(16);
  if (all_zero(span)) span[15] = '1';
  return "00-" + trace + "-" + span + "-01";
}

}  // namespace request_id
}  // namespace llmux::host
