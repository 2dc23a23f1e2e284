// The claude pool managed by an operator (Provider::manage_credentials, the
// admin API's pool page): add, disable, enable, refresh now, remove. The
// plugin runs through the ABI with the host's HTTP engine against
// FakeAnthropic (real loopback sockets) and the host's FileStateStore in a
// temporary folder, so "restart" is a new provider instance on the same
// folder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "claude_config.h"
#include "llmux/json.h"
#include "services/state_store.h"
#include "token_pool.h"
#include "support/fake_anthropic.h"
#include "support/plugin_harness.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kConfigKey = "sk-ant-api03-admin-config-00000000A";
constexpr const char* kOtherConfigKey = "sk-ant-api03-admin-config-00000000B";
constexpr const char* kAddedKey = "sk-ant-api03-admin-added-000000000C";
constexpr const char* kAddedAccess = "sk-ant-oat01-admin-expired-0000001";
constexpr const char* kAddedRefresh = "sk-ant-ort01-admin-refresh-0000001";

Plugin& claude_plugin() { return loaded_plugin("llmux-claude.so"); }

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Real HTTP (LiveHost's engine) and the host's file state store in `dir`.
class PoolHost final : public HostServices {
 public:
  explicit PoolHost(const std::filesystem::path& dir) : files_(dir), state_(files_.for_provider("claude")) {}
  Logger& logger() override { return live.logger(); }
  Clock& clock() override { return live.clock(); }
  Timers& timers() override { return live.timers(); }
  llmux::HttpClient& http() override { return live.http(); }
  StateStore& state() override { return *state_; }

  LiveHost live;

 private:
  host::FileStateStore files_;
  std::unique_ptr<StateStore> state_;
};

std::string options(const FakeAnthropic& fake, const std::string& credentials) {
  return "base_url: " + fake.base_url() + "\ntoken_url: " + fake.token_url() + "\ncredentials:\n" + credentials;
}

std::string one_config_key(FakeAnthropic& fake) {
  fake.allow(kConfigKey);
  return std::string("  - {label: cfg, api_key: ") + kConfigKey + "}\n";
}

struct Outcome {
  std::optional<Error> error;
  std::string entry;
};

// Runs an action and waits for its answer (it may come from the HTTP thread).
Outcome act(Provider& provider, CredentialAction::Kind kind, const std::string& label,
            const std::string& secret_json = "") {
  CredentialAction action;
  action.kind = kind;
  action.label = label;
  action.secret_json = secret_json;
  std::mutex mu;
  std::condition_variable answered;
  std::optional<Outcome> outcome;
  int calls = 0;
  const bool handled = provider.manage_credentials(action, [&](std::optional<Error> error, std::string entry) {
    std::lock_guard lock(mu);
    ++calls;
    outcome = Outcome{std::move(error), std::move(entry)};
    answered.notify_all();
  });
  EXPECT_TRUE(handled) << "the claude provider manages its pool";
  std::unique_lock lock(mu);
  EXPECT_TRUE(answered.wait_for(lock, 10s, [&] { return outcome.has_value(); })) << "no answer";
  EXPECT_LE(calls, 1);
  return outcome.value_or(Outcome{Error::upstream(599, "no answer"), {}});
}

Outcome add(Provider& provider, const std::string& label, const std::string& secret_json) {
  return act(provider, CredentialAction::Kind::Add, label, secret_json);
}

rapidjson::Document json_of(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

// The report entry of `label`, or a null document.
rapidjson::Document entry_of(Provider& provider, const std::string& label) {
  auto report = json_of(provider.credentials_report());
  rapidjson::Document out;
  for (const auto& entry : report.GetArray()) {
    if (label == entry["label"].GetString()) out.CopyFrom(entry, out.GetAllocator());
  }
  return out;
}

// One OpenAI-in request through the provider; the credential it reached the upstream with.
std::string request_credential(Provider& provider, FakeAnthropic& fake) {
  const std::size_t before = fake.messages().size();
  auto call = std::make_shared<LiveCall>(request_for(chat_body("claude-x", "hi")));
  provider.chat(call);
  EXPECT_TRUE(call->wait_for_terminal(10s));
  auto events = call->events();
  EXPECT_FALSE(events.empty());
  if (events.empty()) return "<no answer>";
  EXPECT_EQ(events.back().kind, Event::Kind::Finish) << events.back().error.message;
  auto sent = fake.messages();
  if (sent.size() <= before) return "<not sent>";
  return FakeAnthropic::credential_of(sent.back());
}

std::string api_key_secret(const std::string& key) { return R"({"api_key":")" + key + R"("})"; }

std::string oauth_secret(const std::string& access, const std::string& refresh, std::int64_t expires_at_ms) {
  return R"({"access_token":")" + access + R"(","refresh_token":")" + refresh + R"(","expires_at":)" +
         std::to_string(expires_at_ms) + "}";
}

// ---------------------------------------------------------------------------
// Add

TEST(ClaudePoolAdmin, AnAddedApiKeyServesTheNextRequests) {
  FakeAnthropic fake;
  fake.allow(kAddedKey);
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);

  Outcome added = add(*provider, "extra", api_key_secret(kAddedKey));
  ASSERT_FALSE(added.error) << added.error->message;
  auto entry = json_of(added.entry);
  EXPECT_STREQ(entry["label"].GetString(), "extra");
  EXPECT_STREQ(entry["kind"].GetString(), "api_key");
  EXPECT_STREQ(entry["state"].GetString(), "active");
  EXPECT_STREQ(entry["source"].GetString(), "admin");
  EXPECT_THAT(entry["fingerprint"].GetString(), HasSubstr("sha256:"));
  EXPECT_TRUE(entry["last_refresh"].IsNull());
  EXPECT_THAT(added.entry, Not(HasSubstr(kAddedKey)));

  std::vector<std::string> used;
  for (int i = 0; i < 4; ++i) used.push_back(request_credential(*provider, fake));
  EXPECT_EQ(std::count(used.begin(), used.end(), kAddedKey), 2) << "round robin over both";
  // The pool counts an answer when its transfer completes, which may come just
  // after the client got the answer's last event: wait for it (bounded).
  auto after = entry_of(*provider, "extra");
  for (int i = 0; i < 1000 && after.IsObject() &&
                  (after["tokens"].GetInt() < 2 * (12 + 6) || after["requests"].GetInt() < 2);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    after = entry_of(*provider, "extra");
  }
  ASSERT_TRUE(after.IsObject());
  EXPECT_EQ(after["requests"].GetInt(), 2);
  EXPECT_EQ(after["tokens"].GetInt(), 2 * (12 + 6)) << "input + output of FakeAnthropic's answers";
  EXPECT_THAT(provider->credentials_report(), Not(HasSubstr(kAddedKey)));
  provider.reset();
}

// Regression: a ticket is sized when its request starts; a credential added
// while the request is in flight is untried for it (no out-of-range read).
TEST(ClaudePoolAdmin, ACredentialAddedDuringARequestServesItsRetry) {
  FakeAnthropic fake;
  fake.allow(kAddedKey);
  std::atomic<bool> arrived{false}, release{false};
  fake.set_hook([&](const FakeRequest& request, FakeExchange& exchange) {
    if (FakeAnthropic::credential_of(request) != kConfigKey) return false;
    arrived = true;
    while (!release && exchange.sleep(2ms)) {
    }
    exchange.respond(429, {{"Content-Type", "application/json"}, {"retry-after", "60"}},
                     FakeAnthropic::error_json("rate_limit_error", "slow down"));
    return true;
  });
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);
  auto call = std::make_shared<LiveCall>(request_for(chat_body("claude-x", "hi")));
  provider->chat(call);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!arrived && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(arrived);

  ASSERT_FALSE(add(*provider, "late", api_key_secret(kAddedKey)).error);
  release = true;
  ASSERT_TRUE(call->wait_for_terminal(10s));
  EXPECT_EQ(call->events().back().kind, Event::Kind::Finish) << call->events().back().error.message;
  auto sent = fake.messages();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(FakeAnthropic::credential_of(sent[1]), kAddedKey);
  provider.reset();
}

TEST(ClaudePoolAdmin, ATicketTakesAnIndexBeyondItsSizeAsUntried) {
  claude::Ticket ticket;
  ticket.tried.assign(2, false);
  ticket.mark_tried(1);
  EXPECT_TRUE(ticket.has_tried(1));
  EXPECT_FALSE(ticket.has_tried(2));
  EXPECT_FALSE(ticket.has_tried(1000));
  ticket.mark_tried(4);
  EXPECT_TRUE(ticket.has_tried(4));
  EXPECT_FALSE(ticket.has_tried(3));
  EXPECT_EQ(ticket.tried.size(), 5u);
}

TEST(ClaudePoolAdmin, AnAddedOAuthPairWithAnExpiredTokenIsRefreshedOnDemand) {
  FakeAnthropic fake;
  fake.add_refresh_token(kAddedRefresh);
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);

  Outcome added = add(*provider, "max", oauth_secret(kAddedAccess, kAddedRefresh, now_ms() - 60'000));
  ASSERT_FALSE(added.error) << added.error->message;
  auto entry = json_of(added.entry);
  EXPECT_STREQ(entry["kind"].GetString(), "oauth");
  EXPECT_EQ(entry["refreshes"].GetInt(), 0);
  EXPECT_THAT(added.entry, Not(HasSubstr(kAddedAccess)));
  EXPECT_THAT(added.entry, Not(HasSubstr(kAddedRefresh)));
  EXPECT_EQ(fake.token_requests().size(), 0u) << "adding does not refresh";

  Outcome refreshed = act(*provider, CredentialAction::Kind::Refresh, "max");
  ASSERT_FALSE(refreshed.error) << refreshed.error->message;
  ASSERT_EQ(fake.token_requests().size(), 1u);
  EXPECT_THAT(fake.token_requests()[0].body, HasSubstr(kAddedRefresh));
  EXPECT_EQ(fake.grants(), 1u);
  entry = json_of(refreshed.entry);
  EXPECT_EQ(entry["refreshes"].GetInt(), 1);
  EXPECT_STREQ(entry["state"].GetString(), "active");
  ASSERT_TRUE(entry["expires_at"].IsString());
  auto expiry = claude::parse_expiry(entry["expires_at"].GetString());
  ASSERT_TRUE(expiry);
  EXPECT_GT(*expiry, now_ms() + 3000'000) << "the token endpoint's expires_in (3600 s)";
  ASSERT_TRUE(entry["last_refresh"].IsString());
  EXPECT_THAT(refreshed.entry, Not(HasSubstr("sk-ant-o")));

  // The new access token serves (the config key is disabled to force it).
  ASSERT_FALSE(act(*provider, CredentialAction::Kind::Disable, "cfg").error);
  const std::string used = request_credential(*provider, fake);
  EXPECT_NE(used, kAddedAccess);
  EXPECT_EQ(fake.grants(), 1u) << "no second refresh";
  provider.reset();
}

TEST(ClaudePoolAdmin, ClaudeCodesCredentialsFileIsAcceptedAndGetsAGeneratedLabel) {
  FakeAnthropic fake;
  fake.add_refresh_token(kAddedRefresh);
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);
  const std::string file = std::string(R"({"claudeAiOauth":{"accessToken":")") + kAddedAccess +
                           R"(","refreshToken":")" + kAddedRefresh + R"(","expiresAt":)" +
                           std::to_string(now_ms() + 7'200'000) +
                           R"(,"scopes":["user:inference"],"subscriptionType":"max"}})";
  Outcome first = add(*provider, "", file);
  ASSERT_FALSE(first.error) << first.error->message;
  auto entry = json_of(first.entry);
  const std::string label = entry["label"].GetString();
  EXPECT_FALSE(label.empty());
  EXPECT_STREQ(entry["kind"].GetString(), "oauth");
  EXPECT_TRUE(entry["refreshable"].GetBool());
  Outcome second = add(*provider, "", api_key_secret(kAddedKey));
  ASSERT_FALSE(second.error) << second.error->message;
  EXPECT_STRNE(json_of(second.entry)["label"].GetString(), label.c_str()) << "generated labels are unique";
  provider.reset();
}

TEST(ClaudePoolAdmin, ADuplicateLabelOrSecretIsAConflict) {
  FakeAnthropic fake;
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);
  Outcome clash = add(*provider, "cfg", api_key_secret(kAddedKey));
  ASSERT_TRUE(clash.error);
  EXPECT_EQ(clash.error->status, 409);
  EXPECT_THAT(clash.error->message, HasSubstr("cfg"));

  ASSERT_FALSE(add(*provider, "extra", api_key_secret(kAddedKey)).error);
  clash = add(*provider, "extra", api_key_secret(kOtherConfigKey));
  ASSERT_TRUE(clash.error);
  EXPECT_EQ(clash.error->status, 409);
  clash = add(*provider, "again", api_key_secret(kAddedKey));
  ASSERT_TRUE(clash.error) << "the same secret twice";
  EXPECT_EQ(clash.error->status, 409);
  EXPECT_THAT(clash.error->message, Not(HasSubstr(kAddedKey)));
  EXPECT_EQ(json_of(provider->credentials_report()).Size(), 2u);
  provider.reset();
}

TEST(ClaudePoolAdmin, ABadSecretIs400AndTheMessageNeverHoldsTheSecret) {
  FakeAnthropic fake;
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);
  const std::string secret = "sk-ant-api03-do-not-echo-me-0000001";
  for (const std::string& bad : {
           R"({"api_key":")" + secret + R"(")",                                     // cut JSON
           R"({"apikey":")" + secret + R"("})",                                     // wrong member
           R"({"api_key":")" + secret + R"(","access_token":")" + secret + R"("})",  // both kinds
           R"({"access_token":")" + secret + R"(","expires_at":"soon"})",           // bad expiry
           R"({"api_key":")" + secret + R"( x"})",                                  // not one word
           R"(")" + secret + R"(")",                                                // not an object
           std::string(),
       }) {
    Outcome outcome = add(*provider, "bad", bad);
    ASSERT_TRUE(outcome.error) << bad;
    EXPECT_EQ(outcome.error->status, 400) << bad;
    EXPECT_THAT(outcome.error->message, HasSubstr("invalid credential")) << bad;
    EXPECT_THAT(outcome.error->message, Not(HasSubstr("do-not-echo"))) << outcome.error->message;
  }
  Outcome label = add(*provider, "a/b", api_key_secret(secret));
  ASSERT_TRUE(label.error);
  EXPECT_EQ(label.error->status, 400);
  EXPECT_EQ(json_of(provider->credentials_report()).Size(), 1u) << "nothing was added";
  provider.reset();
}

// ---------------------------------------------------------------------------
// Disable, enable, refresh

TEST(ClaudePoolAdmin, ADisabledCredentialIsSkippedUntilEnabledAndStaysDisabledAcrossARestart) {
  FakeAnthropic fake;
  fake.allow(kOtherConfigKey);
  const std::string creds = one_config_key(fake) + "  - {label: other, api_key: " + kOtherConfigKey + "}\n";
  TempDir state;
  {
    PoolHost host(state.path());
    auto provider = create(claude_plugin(), options(fake, creds), host);
    Outcome disabled = act(*provider, CredentialAction::Kind::Disable, "cfg");
    ASSERT_FALSE(disabled.error) << disabled.error->message;
    auto entry = json_of(disabled.entry);
    EXPECT_STREQ(entry["state"].GetString(), "disabled");
    EXPECT_STREQ(entry["disabled_reason"].GetString(), "disabled by operator");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(request_credential(*provider, fake), kOtherConfigKey);
    provider.reset();
  }
  {
    PoolHost host(state.path());
    auto provider = create(claude_plugin(), options(fake, creds), host);
    EXPECT_STREQ(entry_of(*provider, "cfg")["state"].GetString(), "disabled") << "persisted";
    EXPECT_EQ(request_credential(*provider, fake), kOtherConfigKey);

    Outcome enabled = act(*provider, CredentialAction::Kind::Enable, "cfg");
    ASSERT_FALSE(enabled.error) << enabled.error->message;
    auto entry = json_of(enabled.entry);
    EXPECT_STREQ(entry["state"].GetString(), "active");
    EXPECT_FALSE(entry.HasMember("disabled_reason"));
    std::vector<std::string> used;
    for (int i = 0; i < 2; ++i) used.push_back(request_credential(*provider, fake));
    EXPECT_THAT(used, ::testing::Contains(kConfigKey)) << "used again";
    provider.reset();
  }
}

TEST(ClaudePoolAdmin, EnableClearsACooldown) {
  FakeAnthropic fake;
  fake.allow(kOtherConfigKey);
  fake.rate_limit(kConfigKey, 1, 600);
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(
      claude_plugin(), options(fake, one_config_key(fake) + "  - {label: other, api_key: " + kOtherConfigKey + "}\n"),
      host);
  EXPECT_EQ(request_credential(*provider, fake), kOtherConfigKey) << "cfg got a 429";
  EXPECT_STREQ(entry_of(*provider, "cfg")["state"].GetString(), "cooldown");
  Outcome enabled = act(*provider, CredentialAction::Kind::Enable, "cfg");
  ASSERT_FALSE(enabled.error);
  auto entry = json_of(enabled.entry);
  EXPECT_STREQ(entry["state"].GetString(), "active");
  EXPECT_TRUE(entry["cooldown_until"].IsNull());
  EXPECT_TRUE(entry["last_error"].IsNull());
  provider.reset();
}

TEST(ClaudePoolAdmin, ARefusedRefreshIs502WithAScrubbedReasonAndAnApiKeyHasNothingToRefresh) {
  FakeAnthropic fake;
  fake.add_refresh_token(kAddedRefresh);
  fake.fail_refresh(kAddedRefresh, 500);
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);
  ASSERT_FALSE(add(*provider, "max", oauth_secret(kAddedAccess, kAddedRefresh, now_ms() + 3'600'000)).error);

  Outcome refused = act(*provider, CredentialAction::Kind::Refresh, "max");
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->status, 502);
  EXPECT_THAT(refused.error->message, HasSubstr("HTTP 500"));
  EXPECT_THAT(refused.error->message, Not(HasSubstr(kAddedRefresh)));
  EXPECT_EQ(fake.token_requests().size(), 1u);

  Outcome api_key = act(*provider, CredentialAction::Kind::Refresh, "cfg");
  ASSERT_TRUE(api_key.error);
  EXPECT_EQ(api_key.error->status, 409);
  EXPECT_THAT(api_key.error->message, HasSubstr("nothing to refresh"));
  provider.reset();
}

TEST(ClaudePoolAdmin, OperatorRefreshesJoinOneAnotherAndSpendTheRefreshTokenOnce) {
  FakeAnthropic fake;
  fake.add_refresh_token(kAddedRefresh);
  fake.set_refresh_delay(1s);
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);
  ASSERT_FALSE(add(*provider, "max", oauth_secret(kAddedAccess, kAddedRefresh, now_ms() - 1000)).error);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      if (!act(*provider, CredentialAction::Kind::Refresh, "max").error) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 3);
  EXPECT_EQ(fake.token_requests().size(), 1u) << "one refresh in flight, joined";
  EXPECT_EQ(entry_of(*provider, "max")["refreshes"].GetInt(), 1);
  provider.reset();
}

TEST(ClaudePoolAdmin, UnknownLabelsAre404) {
  FakeAnthropic fake;
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);
  for (auto kind : {CredentialAction::Kind::Disable, CredentialAction::Kind::Enable, CredentialAction::Kind::Refresh,
                    CredentialAction::Kind::Remove}) {
    Outcome outcome = act(*provider, kind, "nobody");
    ASSERT_TRUE(outcome.error);
    EXPECT_EQ(outcome.error->status, 404);
  }
  provider.reset();
}

// ---------------------------------------------------------------------------
// Remove, restarts

TEST(ClaudePoolAdmin, ARemovedCredentialIsGoneAndNotLoadedAgain) {
  FakeAnthropic fake;
  fake.allow(kAddedKey);
  TempDir state;
  const std::string creds = one_config_key(fake);
  {
    PoolHost host(state.path());
    auto provider = create(claude_plugin(), options(fake, creds), host);
    ASSERT_FALSE(add(*provider, "extra", api_key_secret(kAddedKey)).error);
    Outcome removed = act(*provider, CredentialAction::Kind::Remove, "extra");
    ASSERT_FALSE(removed.error) << removed.error->message;
    EXPECT_EQ(removed.entry, "{}");
    EXPECT_TRUE(entry_of(*provider, "extra").IsNull());
    for (int i = 0; i < 3; ++i) EXPECT_EQ(request_credential(*provider, fake), kConfigKey);
    EXPECT_EQ(act(*provider, CredentialAction::Kind::Remove, "extra").error->status, 404);
    provider.reset();
  }
  {
    PoolHost host(state.path());
    auto provider = create(claude_plugin(), options(fake, creds), host);
    EXPECT_TRUE(entry_of(*provider, "extra").IsNull()) << "a restart does not bring it back";
    EXPECT_EQ(json_of(provider->credentials_report()).Size(), 1u);
    // The label is free again, and the new credential starts over.
    Outcome again = add(*provider, "extra", api_key_secret(kAddedKey));
    ASSERT_FALSE(again.error) << again.error->message;
    EXPECT_EQ(json_of(again.entry)["requests"].GetInt(), 0);
    provider.reset();
  }
}

TEST(ClaudePoolAdmin, ACredentialFromTheConfigCannotBeRemoved) {
  FakeAnthropic fake;
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);
  Outcome refused = act(*provider, CredentialAction::Kind::Remove, "cfg");
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->status, 409);
  EXPECT_THAT(refused.error->message, HasSubstr("defined in the config"));
  EXPECT_THAT(refused.error->message, HasSubstr("disable it or edit providers.yaml"));
  EXPECT_STREQ(entry_of(*provider, "cfg")["state"].GetString(), "active");
  EXPECT_EQ(request_credential(*provider, fake), kConfigKey);
  provider.reset();
}

TEST(ClaudePoolAdmin, ARestartLoadsTheAddedCredentialsWithTheirRefreshedTokens) {
  FakeAnthropic fake;
  fake.allow(kAddedKey);
  fake.add_refresh_token(kAddedRefresh);
  TempDir state;
  const std::string creds = one_config_key(fake);
  {
    PoolHost host(state.path());
    auto provider = create(claude_plugin(), options(fake, creds), host);
    ASSERT_FALSE(add(*provider, "key", api_key_secret(kAddedKey)).error);
    ASSERT_FALSE(add(*provider, "max", oauth_secret(kAddedAccess, kAddedRefresh, now_ms() - 1000)).error);
    ASSERT_FALSE(act(*provider, CredentialAction::Kind::Refresh, "max").error);
    ASSERT_EQ(fake.grants(), 1u);
    provider.reset();
  }
  // The refresh token the operator gave is spent: only the stored successor works.
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, creds), host);
  auto report = json_of(provider->credentials_report());
  ASSERT_EQ(report.Size(), 3u);
  for (const char* label : {"key", "max"}) {
    auto entry = entry_of(*provider, label);
    ASSERT_TRUE(entry.IsObject()) << label;
    EXPECT_STREQ(entry["source"].GetString(), "admin");
  }
  EXPECT_EQ(entry_of(*provider, "max")["refreshes"].GetInt(), 1);
  EXPECT_STREQ(entry_of(*provider, "cfg")["source"].GetString(), "providers.yaml");

  ASSERT_FALSE(act(*provider, CredentialAction::Kind::Disable, "cfg").error);
  ASSERT_FALSE(act(*provider, CredentialAction::Kind::Disable, "key").error);
  const std::string used = request_credential(*provider, fake);
  EXPECT_NE(used, kAddedAccess);
  EXPECT_EQ(fake.grants(), 1u) << "the stored access token serves";
  fake.revoke(used);
  EXPECT_NE(request_credential(*provider, fake), used);
  EXPECT_EQ(fake.grants(), 2u) << "refreshed with the stored, rotated refresh token";

  ASSERT_FALSE(act(*provider, CredentialAction::Kind::Enable, "key").error);
  ASSERT_FALSE(act(*provider, CredentialAction::Kind::Disable, "max").error);
  EXPECT_EQ(request_credential(*provider, fake), kAddedKey);
  // The state folder holds the secrets; the report never does.
  const std::string text = provider->credentials_report();
  for (const char* secret : {kAddedKey, kAddedAccess, kAddedRefresh}) EXPECT_THAT(text, Not(HasSubstr(secret)));
  EXPECT_THAT(text, Not(HasSubstr(used)));
  provider.reset();
}

TEST(ClaudePoolAdmin, ActionsRunConcurrentlyWithRequests) {
  FakeAnthropic fake;
  TempDir state;
  PoolHost host(state.path());
  auto provider = create(claude_plugin(), options(fake, one_config_key(fake)), host);
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, served{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&] {
      while (!stop) {
        auto call = std::make_shared<LiveCall>(request_for(chat_body("claude-x", "hi")));
        provider->chat(call);
        if (!call->wait_for_terminal(10s) || call->events().back().kind != Event::Kind::Finish) {
          ++failed;
        } else {
          ++served;
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    const std::string key = "sk-ant-api03-admin-churn-" + std::to_string(1000000000 + i);
    fake.allow(key);
    const std::string label = "churn-" + std::to_string(i);
    ASSERT_FALSE(add(*provider, label, api_key_secret(key)).error);
    if (i % 2 == 0) {
      ASSERT_FALSE(act(*provider, CredentialAction::Kind::Disable, label).error);
    }
    if (i % 3 == 0) {
      ASSERT_FALSE(act(*provider, CredentialAction::Kind::Remove, label).error);
    }
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(served.load(), 0);
  EXPECT_EQ(json_of(provider->credentials_report()).Size(), 1u + 20u - 7u);
  provider.reset();
}

}  // namespace
}  // namespace llmux::test
