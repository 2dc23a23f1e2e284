#include "admin/admin_auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/random.h>

#include <cerrno>
#include <system_error>

#include <algorithm>
#include <cctype>

#include "api/inbound_api.h"

namespace llmux::host {
namespace {

constexpr std::string_view kCookieName = "llmux_session";

// Hex of `bytes` random bytes from the kernel's CSPRNG.
std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  std::size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(raw.data() + got, bytes - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "getrandom");  // no session without entropy
    }
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> bearer(const InboundRequest& request) {
  if (auto auth = request.header("Authorization")) {
    std::string_view v = *auth;
    if (v.size() > 7 && strncasecmp(v.data(), "Bearer ", 7) == 0) return std::string(v.substr(7));
  }
  return std::nullopt;
}

// The value of cookie `name` in a Cookie header ("a=1; b=2").
std::optional<std::string> cookie_value(const InboundRequest& request, std::string_view name) {
  auto header = request.header("Cookie");
  if (!header) return std::nullopt;
  std::string_view rest = *header;
  while (!rest.empty()) {
    auto end = rest.find(';');
    std::string_view pair = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return std::string(pair.substr(eq + 1));
  }
  return std::nullopt;
}

// "host[:port]" without the port ("[::1]:8080" -> "::1").
std::string_view host_of(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
  }
  auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

}  // namespace

bool is_cross_site(const InboundRequest& request) {
  if (auto site = request.header("Sec-Fetch-Site")) {
    if (strcasecmp(site->c_str(), "cross-site") == 0) return true;
  }
  auto origin = request.header("Origin");
  if (!origin) return false;
  auto host = request.header("Host");
  if (!host) return true;
  std::string_view o = *origin;
  auto scheme_end = o.find("://");
  if (scheme_end == std::string_view::npos) return true;  // "null" and other opaque origins
  return strcasecmp(std::string(o.substr(scheme_end + 3)).c_str(), host->c_str()) != 0;
}

namespace {

Error auth_required(std::string message) {
  return Error::make(401, "invalid_request_error", std::move(message), "admin_auth_required");
}

Error forbidden(std::string message, std::string code) {
  return Error::make(403, "invalid_request_error", std::move(message), std::move(code));
}

}  // namespace

const char* to_string(AdminAccess::Via via) noexcept {
  switch (via) {
    case AdminAccess::Via::Bearer: return "bearer";
    case AdminAccess::Via::Session: return "session";
    case AdminAccess::Via::Open: return "open";
    case AdminAccess::Via::None: break;
  }
  return "none";
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

bool is_loopback_host(std::string_view host) noexcept {
  if (host.empty() || host == "localhost") return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.size() > INET6_ADDRSTRLEN) return false;
  // Addresses, parsed: a name such as "127.evil.example" is not one.
  char text[INET6_ADDRSTRLEN + 1] = {};
  host.copy(text, host.size());
  in_addr v4{};
  if (inet_pton(AF_INET, text, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, text, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

AdminAuth::AdminAuth(const Clock* clock) : clock_(clock) {}

std::chrono::system_clock::time_point AdminAuth::wall_now() const {
  return clock_ ? clock_->wall_now() : std::chrono::system_clock::now();
}

std::chrono::steady_clock::time_point AdminAuth::now() const {
  return clock_ ? clock_->now() : std::chrono::steady_clock::now();
}

void AdminAuth::configure(AdminAuthSettings settings) {
  std::lock_guard lock(mutex_);
  if (!constant_time_equal(settings.admin_key, settings_.admin_key)) sessions_.clear();
  settings_ = std::move(settings);
}

void AdminAuth::set_loopback_listener(bool loopback) {
  std::lock_guard lock(mutex_);
  loopback_listener_ = loopback;
}

std::optional<AdminSession> AdminAuth::find_session(std::string_view cookie) const {
  auto dot = cookie.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(std::string(cookie.substr(0, dot)));
  if (it == sessions_.end()) return std::nullopt;
  if (!constant_time_equal(cookie.substr(dot + 1), it->second.secret)) return std::nullopt;
  if (wall_now() >= it->second.expires_at) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return AdminSession{std::string(cookie), it->second.csrf_token, it->second.expires_at};
}

AdminAccess AdminAuth::check(const InboundRequest& request, bool mutation) const {
  AdminAccess access;
  std::unique_lock lock(mutex_);
  const AdminAuthSettings settings = settings_;
  const bool loopback = loopback_listener_;
  lock.unlock();
  const bool open = settings.admin_key.empty();
  if (open && !loopback) {
    access.error = forbidden(
        "The admin API is off: llmux listens beyond loopback and no admin_key is set in providers.yaml.",
        "admin_disabled");
    return access;
  }
  if (open) {
    // DNS rebinding: a page on another site resolving its name to 127.0.0.1
    // would otherwise read an open admin API.
    auto host = request.header("Host");
    if (host && !is_loopback_host(host_of(*host))) {
      access.error = forbidden("Without an admin_key the admin API answers loopback host names only.",
                               "admin_disabled");
      return access;
    }
  }
  if (auto key = bearer(request); key && !open) {
    // The Bearer key is guessed against the login's limit: a limited address
    // gets 429 whatever it sends (else a 200 among the 429s would tell).
    const std::string address = request.peer_address();
    std::lock_guard failures_lock(mutex_);
    if (auto limited = limited_locked(address)) {
      access.error = std::move(limited);
      return access;
    }
    if (constant_time_equal(*key, settings.admin_key)) {
      access.via = AdminAccess::Via::Bearer;
      return access;  // no ambient credential: nothing to forge across sites
    }
    record_failure_locked(address);
    access.error = auth_required("Incorrect admin key.");
    return access;
  }
  if (auto cookie = cookie_value(request, kCookieName)) access.session = find_session(*cookie);
  if (access.session) {
    access.via = AdminAccess::Via::Session;
  } else if (open) {
    access.via = AdminAccess::Via::Open;
  } else {
    access.error = auth_required("Log in with the admin key, or send it as 'Authorization: Bearer <admin_key>'.");
    return access;
  }
  if (mutation) {
    if (is_cross_site(request)) {
      access.error = forbidden("Cross-site requests to the admin API are refused.", "csrf_token_invalid");
      return access;
    }
    auto token = request.header("X-CSRF-Token");
    if (!access.session || !token || !constant_time_equal(*token, access.session->csrf_token)) {
      access.error = forbidden("Missing or wrong X-CSRF-Token (GET /admin/api/v1/session gives the session's).",
                               "csrf_token_invalid");
    }
  }
  return access;
}

AdminSession AdminAuth::make_session_locked() {
  const auto now = wall_now();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = now >= it->second.expires_at ? sessions_.erase(it) : std::next(it);
  }
  if (sessions_.size() >= kMaxSessions) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.expires_at < b.second.expires_at;
    });
    sessions_.erase(oldest);
  }
  std::string id = random_hex(12);
  Stored stored{random_hex(24), random_hex(24), now + settings_.session_ttl};
  AdminSession session{id + "." + stored.secret, stored.csrf_token, stored.expires_at};
  sessions_.emplace(std::move(id), std::move(stored));
  return session;
}

std::optional<Error> AdminAuth::limited_locked(const std::string& address) const {
  auto it = failures_.find(address);
  if (it == failures_.end()) return std::nullopt;
  const auto now = this->now();
  auto& failures = it->second;
  while (!failures.empty() && now - failures.front() >= std::chrono::minutes(1)) failures.pop_front();
  if (failures.size() < static_cast<std::size_t>(kMaxFailedLogins)) return std::nullopt;
  Error error = Error::make(429, "rate_limit_error", "Too many failed logins from this address; wait a minute.",
                            "too_many_login_attempts");
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(failures.front() + std::chrono::minutes(1) - now);
  error.retry_after = std::max(wait, std::chrono::milliseconds(1000));
  return error;
}

void AdminAuth::record_failure_locked(const std::string& address) const {
  const auto now = this->now();
  if (failures_.size() >= kMaxTrackedAddresses && !failures_.contains(address)) {
    // Bounded: forget addresses whose failures are all older than the window,
    // else the one that failed longest ago.
    for (auto it = failures_.begin(); it != failures_.end();) {
      it = it->second.empty() || now - it->second.back() >= std::chrono::minutes(1) ? failures_.erase(it)
                                                                                   : std::next(it);
    }
    if (failures_.size() >= kMaxTrackedAddresses) {
      failures_.erase(std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
        return a.second.back() < b.second.back();
      }));
    }
  }
  auto& failures = failures_[address];
  failures.push_back(now);
  if (failures.size() > static_cast<std::size_t>(kMaxFailedLogins)) failures.pop_front();
}

std::optional<Error> AdminAuth::login(std::string_view presented_key, const std::string& address,
                                      AdminSession& session) {
  std::lock_guard lock(mutex_);
  if (auto limited = limited_locked(address)) return limited;
  if (settings_.admin_key.empty() || !constant_time_equal(presented_key, settings_.admin_key)) {
    record_failure_locked(address);
    return settings_.admin_key.empty()
               ? forbidden("No admin_key is set: the admin API is open on loopback, no login needed.",
                           "admin_disabled")
               : auth_required("Incorrect admin key.");
  }
  session = make_session_locked();
  return std::nullopt;
}

AdminSession AdminAuth::open_session() {
  std::lock_guard lock(mutex_);
  return make_session_locked();
}

void AdminAuth::logout(std::string_view cookie) {
  auto dot = cookie.find('.');
  if (dot == std::string_view::npos) return;
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(std::string(cookie.substr(0, dot)));
  if (it != sessions_.end() && constant_time_equal(cookie.substr(dot + 1), it->second.secret)) sessions_.erase(it);
}

std::string AdminAuth::set_cookie_header(const AdminSession* session, bool secure) const {
  std::string header = "Set-Cookie: ";
  header.append(kCookieName).append("=");
  if (session) {
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(session->expires_at - wall_now());
    header.append(session->cookie).append("; Max-Age=").append(std::to_string(std::max<long long>(0, ttl.count())));
  } else {
    header.append("; Max-Age=0");
  }
  header.append("; Path=/; HttpOnly; SameSite=Strict");
  if (secure) header.append("; Secure");
  return header + "\r\n";
}

}  // namespace llmux::host
