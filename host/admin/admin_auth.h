// Who may use the panel and the admin API (docs/admin-api.md, "Access"):
// the admin key as a Bearer token, or a session made by logging in with it
// (cookie + CSRF token); without an admin key, only on a loopback listener.
//
// One per Gateway: sessions survive config reloads (a reload that changes the
// admin key ends them all: they were opened with the old key).
// Thread-safe; times come from the SDK Clock so tests drive expiry.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "llmux/event.h"
#include "llmux/host_services.h"

namespace llmux::host {

class InboundRequest;

struct AdminSession {
  std::string cookie;      // the cookie's value: "<id>.<secret>"
  std::string csrf_token;
  std::chrono::system_clock::time_point expires_at;
};

// The verdict on one admin request.
struct AdminAccess {
  enum class Via { None, Bearer, Session, Open };
  Via via = Via::None;
  std::optional<AdminSession> session;  // Via::Session, or Via::Open with a session cookie
  std::optional<Error> error;           // set when refused
  bool allowed() const { return !error.has_value(); }
};
const char* to_string(AdminAccess::Via via) noexcept;

struct AdminAuthSettings {
  std::string admin_key;  // empty: open on loopback, refused elsewhere
  std::chrono::seconds session_ttl{std::chrono::hours(12)};
};

class AdminAuth {
 public:
  static constexpr int kMaxFailedLogins = 10;  // per address per minute, then 429
  static constexpr std::size_t kMaxSessions = 1024;
  static constexpr std::size_t kMaxTrackedAddresses = 4096;  // failed logins remembered per address

  explicit AdminAuth(const Clock* clock = nullptr);  // null: the system clocks

  // The current config's settings; a changed admin key ends every session.
  void configure(AdminAuthSettings settings);
  // Whether the main listener is on loopback (main.cc; the --listen override included).
  void set_loopback_listener(bool loopback);

  // Authenticates `request` (Bearer key, session cookie, or open mode).
  // `mutation`: POST/PUT/DELETE: the CSRF token (or the Bearer key) is
  // required, and a cross-site request is refused, before anything else.
  AdminAccess check(const InboundRequest& request, bool mutation) const;

  // POST /login: the key → a new session; a wrong key counts against `address`.
  // Errors: 401 wrong key, 429 (retry_after set) too many failures.
  std::optional<Error> login(std::string_view presented_key, const std::string& address, AdminSession& session);
  // Open mode: a session without a key (GET /session when no admin_key is set).
  AdminSession open_session();
  void logout(std::string_view cookie);

  // The Set-Cookie header lines for a session (or its removal), "\r\n" ended.
  std::string set_cookie_header(const AdminSession* session, bool secure) const;

 private:
  std::optional<AdminSession> find_session(std::string_view cookie) const;
  // Failed logins and wrong Bearer keys, per address, over the last minute.
  std::optional<Error> limited_locked(const std::string& address) const;  // 429 when over the limit
  void record_failure_locked(const std::string& address) const;
  AdminSession make_session_locked();
  std::chrono::system_clock::time_point wall_now() const;
  std::chrono::steady_clock::time_point now() const;

  const Clock* clock_;
  mutable std::mutex mutex_;
  AdminAuthSettings settings_;
  bool loopback_listener_ = true;
  struct Stored {
    std::string secret;
    std::string csrf_token;
    std::chrono::system_clock::time_point expires_at;
  };
  mutable std::map<std::string, Stored> sessions_;  // by session id (the secret is compared in constant time)
  mutable std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> failures_;  // by address
};

// Constant-time equality: the time depends on the lengths only.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;
// A cross-site request: the browser says so (Sec-Fetch-Site), or its Origin
// is not this server (the Host it asked for).
bool is_cross_site(const InboundRequest& request);
// True for 127.0.0.0/8, ::1, "localhost" and the empty host (tests).
bool is_loopback_host(std::string_view host) noexcept;

}  // namespace llmux::host
