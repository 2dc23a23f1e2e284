// A fake api.anthropic.com with its OAuth token endpoint, on one FakeUpstream
// (loopback, real sockets), speaking the real wire format: Messages JSON and
// SSE with `event:` lines, error bodies {"type":"error","error":{...}},
// 401/429/529 with retry-after, /v1/messages/count_tokens, and the
// refresh_token grant at /v1/oauth/token ({"grant_type":"refresh_token",
// "refresh_token","client_id"} -> {"access_token","refresh_token","expires_in",...}).
//
//   FakeAnthropic fake;
//   fake.allow("sk-ant-api03-...");                 // a valid API key
//   fake.add_refresh_token("rt-a");                 // refreshable: issues at-1/rt-1, ...
//   fake.rate_limit("sk-...", 1, 2);                // the next request with it: 429, retry-after: 2
//   ... point a claude provider at fake.base_url() and fake.token_url() ...
//   fake.messages_with("at-1")                      // requests that used a token
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "support/fake_upstream.h"

namespace llmux::test {

class FakeAnthropic {
 public:
  FakeAnthropic();

  std::string base_url() const { return upstream_.url(); }
  std::string token_url() const { return upstream_.url("/v1/oauth/token"); }
  FakeUpstream& upstream() { return upstream_; }

  // ---- credentials the API accepts
  void allow(const std::string& token);   // an API key or an access token
  void revoke(const std::string& token);  // 401 from now on
  // A refresh token the token endpoint honours once (rotating: each grant
  // spends it and issues a new one, like Anthropic's).
  void add_refresh_token(const std::string& refresh_token);
  void revoke_refresh_token(const std::string& refresh_token);  // invalid_grant from now on
  // The token endpoint answers this refresh token with HTTP `status` (500: a
  // passing failure) `times` times (-1: always).
  void fail_refresh(const std::string& refresh_token, int status, int times = -1);
  // Token grants: seconds until expiry, a delay before answering, no rotation.
  void set_expires_in(std::int64_t seconds) { expires_in_ = seconds; }
  void set_refresh_delay(std::chrono::milliseconds delay) { refresh_delay_ = delay; }
  void set_rotate(bool rotate) { rotate_ = rotate; }

  // ---- scripted refusals for requests made with `token`
  void rate_limit(const std::string& token, int times, int retry_after_seconds);
  void overload(const std::string& token, int times);

  // ---- answers: text (default "Hello!"), or a tool call; or a custom hook
  // that returns true when it answered.
  void set_text(std::string text) { std::lock_guard l(mu_); text_ = std::move(text); }
  void set_tool_call(std::string name, std::string input_json);
  using Hook = std::function<bool(const FakeRequest&, FakeExchange&)>;
  void set_hook(Hook hook) { std::lock_guard l(mu_); hook_ = std::move(hook); }

  // ---- what happened
  std::vector<FakeRequest> messages() const;          // POST /v1/messages
  std::vector<FakeRequest> token_requests() const;    // POST /v1/oauth/token
  std::vector<FakeRequest> count_requests() const;    // POST /v1/messages/count_tokens
  // The credential a request carried: the x-api-key, or the Bearer token.
  static std::string credential_of(const FakeRequest& request);
  std::size_t grants() const { return grants_.load(); }  // successful refreshes
  // The newest access / refresh tokens issued for a chain that started at `refresh_token`.
  std::string current_refresh(const std::string& first_refresh_token) const;

  // Wire pieces, exactly as the API sends them.
  static std::string message_json(const std::string& text, const std::string& model = "claude-test-4");
  static std::string text_stream(const std::vector<std::string>& pieces, const std::string& model = "claude-test-4");
  static std::string tool_stream(const std::string& name, const std::vector<std::string>& input_pieces,
                                 const std::string& model = "claude-test-4");
  static std::string error_json(const std::string& type, const std::string& message);

 private:
  void handle(const FakeRequest& request, FakeExchange& exchange);
  void handle_token(const FakeRequest& request, FakeExchange& exchange);

  FakeUpstream upstream_;
  mutable std::mutex mu_;
  std::set<std::string> valid_;
  std::map<std::string, std::string> refresh_chain_;  // live refresh token -> the chain's first token
  std::map<std::string, std::string> chain_head_;     // first token -> current live refresh token
  std::set<std::string> revoked_refresh_;
  std::map<std::string, std::pair<int, int>> refresh_failures_;  // token -> (status, times left)
  std::map<std::string, std::pair<int, int>> rate_limits_;       // token -> (times, retry-after)
  std::map<std::string, int> overloads_;
  std::int64_t expires_in_ = 3600;
  std::chrono::milliseconds refresh_delay_{0};
  bool rotate_ = true;
  int issued_ = 0;
  std::atomic<std::size_t> grants_{0};
  std::string text_ = "Hello!";
  std::string tool_name_, tool_input_;
  Hook hook_;
};

}  // namespace llmux::test
