// The claude plugin driven in process through the plugin ABI with a recording
// host (FakeHost: requests are answered by the test, state in a
// MemoryStateStore): options and credential sources, the requests it sends
// (headers, pass-through bytes), the token pool (rotation, refresh before
// expiry and on 401, one refresh for concurrent calls, cooldowns, disabling,
// the state's origin rule), count_tokens and the credentials report, and the
// commit rule (another credential only while the host has not committed).
#include <stdlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "claude_config.h"
#include "claude_provider.h"
#include "llmux/codec/anthropic.h"
#include "llmux/json.h"
#include "sha256.h"
#include "providers/claude_stream_util.h"
#include "sse_cutter.h"
#include "support/fake_anthropic.h"
#include "support/json_doc.h"
#include "support/plugin_harness.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

Plugin& claude_plugin() { return loaded_plugin("llmux-claude.so"); }

constexpr const char* kKeyA = "sk-ant-api03-unit-alpha-000000000A";
constexpr const char* kKeyB = "sk-ant-api03-unit-bravo-000000000B";
constexpr const char* kKeyC = "sk-ant-api03-unit-charlie-0000000C";
constexpr const char* kAccess = "sk-ant-oat01-unit-access-00000001";
constexpr const char* kRefresh = "sk-ant-ort01-unit-refresh-0000001";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string three_keys(const std::string& extra = "") {
  return std::string("credentials:\n") + "  - {label: a, api_key: " + kKeyA + "}\n" +
         "  - {label: b, api_key: " + kKeyB + "}\n" + "  - {label: c, api_key: " + kKeyC + "}\n" + extra;
}

std::string oauth(std::int64_t expires_at_ms, const std::string& extra = "",
                  const std::string& token_url = "http://127.0.0.1:9/v1/oauth/token") {
  return std::string("credentials:\n") + "  - label: max\n    access_token: " + kAccess +
         "\n    refresh_token: " + kRefresh + "\n    expires_at: " + std::to_string(expires_at_ms) +
         "\ntoken_url: " + token_url + "\n" + extra;
}

ChatRequest openai_request(bool stream = false) { return request_for(chat_body("claude-test", "hello", stream)); }

ChatRequest anthropic_request(const std::string& body, const std::string& model,
                              std::vector<std::pair<std::string, std::string>> headers = {}) {
  ChatRequest r;
  r.client_headers = std::move(headers);
  r.original_body = std::make_shared<const std::string>(body);
  auto error = anthropic::parse_messages_request(body, r);
  EXPECT_FALSE(error) << (error ? error->message : "");
  r.model = model;
  return r;
}

void answer(const Started& s, int status, const HttpHeaders& headers, const std::string& body) {
  s.handler->on_response(status, headers);
  if (!body.empty()) s.handler->on_body(body);
  s.handler->on_complete(HttpOutcome{});
}

void answer_json(const Started& s, const std::string& body, int status = 200, HttpHeaders headers = {}) {
  headers.emplace_back("content-type", "application/json");
  answer(s, status, headers, body);
}

std::string token_grant(const std::string& access, const std::string& refresh, int expires_in = 3600) {
  return R"({"token_type":"Bearer","access_token":")" + access + R"(","expires_in":)" + std::to_string(expires_in) +
         R"(,"refresh_token":")" + refresh + R"("})";
}

std::vector<Event::Kind> kinds(const std::vector<Event>& events) {
  std::vector<Event::Kind> out;
  for (const auto& e : events) out.push_back(e.kind);
  return out;
}

std::vector<Started> started(FakeHost& host) {
  std::lock_guard lock(host.mu);
  return host.started;
}

// The request started last (without copying them all).
Started last_started(FakeHost& host) {
  std::lock_guard lock(host.mu);
  return host.started.back();
}

// The report entry of `label`, as JSON text.
std::string report_of(Provider& provider, const std::string& label) {
  auto doc = parse(provider.credentials_report());
  for (const auto& entry : doc.GetArray()) {
    if (std::string(entry["label"].GetString()) == label) return json::to_string(entry);
  }
  return "<none>";
}

std::string state_of(Provider& provider, const std::string& label) {
  auto doc = parse(provider.credentials_report());
  for (const auto& entry : doc.GetArray()) {
    if (std::string(entry["label"].GetString()) == label) return entry["state"].GetString();
  }
  return "<none>";
}

// ---------------------------------------------------------------------------
// Internals

TEST(ClaudeInternals, Sha256KnownVectors) {
  EXPECT_EQ(claude::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(claude::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(claude::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(ClaudeInternals, ExpiryFormats) {
  EXPECT_EQ(claude::parse_expiry("1748000000"), 1748000000000);
  EXPECT_EQ(claude::parse_expiry("1748000000123"), 1748000000123);
  EXPECT_EQ(claude::parse_expiry("2025-06-01T12:00:00Z"), 1748779200000);
  EXPECT_EQ(claude::parse_expiry("2025-06-01T12:00:00.5Z"), 1748779200500);
  EXPECT_FALSE(claude::parse_expiry("tomorrow"));
  EXPECT_FALSE(claude::parse_expiry("2025-06-01T12:00:00+02:00"));
}

TEST(ClaudeInternals, CountTokensBodyDropsWhatOnlyCreationTakes) {
  std::string body = claude::count_tokens_body(
      R"({"model":"a","max_tokens":100,"stream":true,"temperature":0.5,"metadata":{"user_id":"u"},)"
      R"("system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}],)"
      R"("thinking":{"type":"enabled","budget_tokens":1024}})",
      "claude-up");
  EXPECT_THAT(body, Not(HasSubstr("max_tokens")));
  EXPECT_THAT(body, Not(HasSubstr("stream")));
  EXPECT_THAT(body, Not(HasSubstr("temperature")));
  EXPECT_THAT(body, Not(HasSubstr("metadata")));
  EXPECT_THAT(body, HasSubstr(R"("model":"claude-up")"));
  EXPECT_THAT(body, HasSubstr(R"("cache_control":{"type":"ephemeral"})"));
  EXPECT_THAT(body, HasSubstr(R"("thinking":{"type":"enabled","budget_tokens":1024})"));
}

// Where events end, read from the whole text at once: an empty line ends one
// (\r\n is one line end).
std::vector<std::size_t> event_ends_of(std::string_view text) {
  std::vector<std::size_t> ends;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '\n' && text[i] != '\r') {
      ++i;
      continue;
    }
    std::size_t next = i + 1;
    if (text[i] == '\r' && next < text.size() && text[next] == '\n') ++next;
    if (i == line_start) ends.push_back(next);
    line_start = next;
    i = next;
  }
  return ends;
}

TEST(ClaudeInternals, SseEventCutterFindsEveryEventEndInAnySplit) {
  // Every text over {a, \n, \r} up to 9 bytes, then a byte that settles a
  // trailing \r, fed in two reads at every split.
  const char alphabet[] = {'a', '\n', '\r'};
  std::size_t checked = 0;
  for (std::size_t length = 0; length <= 9; ++length) {
    std::size_t combinations = 1;
    for (std::size_t i = 0; i < length; ++i) combinations *= 3;
    for (std::size_t n = 0; n < combinations; ++n) {
      std::string text;
      for (std::size_t i = 0, rest = n; i < length; ++i, rest /= 3) text.push_back(alphabet[rest % 3]);
      text.push_back('a');
      const std::vector<std::size_t> expected = event_ends_of(text);
      for (std::size_t split = 0; split <= text.size(); ++split) {
        claude::SseEventCutter cutter;
        std::vector<std::size_t> found;
        std::size_t base = 0;
        for (const std::string_view read : {std::string_view(text).substr(0, split), std::string_view(text).substr(split)}) {
          cutter.feed(read, [&](std::size_t end) {
            found.push_back(base + end);
            return true;
          });
          base += read.size();
        }
        ASSERT_EQ(found, expected) << ::testing::PrintToString(text) << " split at " << split;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 200'000u);
}

TEST(ClaudeInternals, SseEventCutterCompletionEndsTheUnfinishedEvent) {
  for (const std::string unfinished : {"data: {}", "data: {}\n", "data: {}\r", "data: {}\r\n", "data: {}\n\r",
                                       ": comment", "event: ping\r\ndata: {}\r\n"}) {
    claude::SseEventCutter cutter;
    std::vector<std::size_t> ends;
    cutter.feed(unfinished, [&](std::size_t end) {
      ends.push_back(end);
      return true;
    });
    ASSERT_TRUE(ends.empty()) << ::testing::PrintToString(unfinished);
    const std::string completion(cutter.completion());
    cutter.feed(completion, [&](std::size_t end) {
      ends.push_back(end);
      return true;
    });
    if (cutter.ended_by_last_cr()) ends.push_back(completion.size());
    EXPECT_EQ(ends, std::vector<std::size_t>{completion.size()}) << ::testing::PrintToString(unfinished);
    EXPECT_EQ(event_ends_of(unfinished + completion + "a").size(), 1u) << ::testing::PrintToString(unfinished);
  }
}

// ---------------------------------------------------------------------------
// Options and credential sources

TEST(ClaudeConfig, NameVersionAndDefaults) {
  EXPECT_EQ(claude_plugin().name(), "claude");
  EXPECT_EQ(claude_plugin().version(), "1.0.0");
  FakeHost host;
  auto provider = create(claude_plugin(), std::string("credentials: [{label: a, api_key: ") + kKeyA + "}]", host);
  EXPECT_TRUE(started(host).empty()) << "nothing is fetched at creation";
  auto call = std::make_shared<FakeCall>(openai_request());
  provider->chat(call);
  auto s = started(host);
  ASSERT_EQ(s.size(), 1u);
  const HttpRequest& r = s[0].request;
  EXPECT_EQ(r.url, "https://api.anthropic.com/v1/messages");
  EXPECT_EQ(header(r, "x-api-key"), kKeyA);
  EXPECT_EQ(header(r, "authorization"), "<absent>");
  EXPECT_EQ(header(r, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(header(r, "anthropic-beta"), "<absent>");
  EXPECT_EQ(header(r, "content-type"), "application/json");
  EXPECT_EQ(header(r, "accept"), "application/json");
  EXPECT_EQ(r.timeouts.connect, 10s);
  EXPECT_EQ(r.timeouts.first_byte, 60s);
  EXPECT_EQ(r.timeouts.idle, 120s);
  EXPECT_EQ(r.timeouts.total, 0ms);
  EXPECT_THAT(r.body, HasSubstr(R"("model":"claude-test")"));
  EXPECT_THAT(r.body, HasSubstr(R"("max_tokens":)"));
  EXPECT_TRUE(call->has_cancel_hook());

  answer_json(s[0], FakeAnthropic::message_json("Hello!"));
  EXPECT_THAT(kinds(call->events), ElementsAre(Event::Kind::Role, Event::Kind::TextDelta, Event::Kind::Usage,
                                                Event::Kind::Finish));
  EXPECT_EQ(call->events[1].text, "Hello!");
}

TEST(ClaudeConfig, OptionsReachTheRequest) {
  FakeHost host;
  auto provider = create(claude_plugin(),
                         std::string("credentials: [{label: a, api_key: ") + kKeyA +
                             "}]\nbase_url: http://10.0.0.1:8000/anthropic/\nanthropic_version: 2024-01-01\n"
                             "betas: [context-1m-2025-08-07]\nheaders: {X-Team: ops}\nconnect_timeout: 2s\n"
                             "first_byte_timeout: 3s\nidle_timeout: 4s\ntotal_timeout: 1m\nproxy: http://p:3128\n"
                             "verify_tls: false\nca_path: /ca.pem\nmodels: [claude-sonnet-4-5, claude-haiku-4-5]\n",
                         host);
  provider->chat(std::make_shared<FakeCall>(openai_request(true)));
  auto s = started(host);
  const HttpRequest& r = s.at(0).request;
  EXPECT_EQ(r.url, "http://10.0.0.1:8000/anthropic/v1/messages");
  EXPECT_EQ(header(r, "anthropic-version"), "2024-01-01");
  EXPECT_EQ(header(r, "anthropic-beta"), "context-1m-2025-08-07");
  EXPECT_EQ(header(r, "x-team"), "ops");
  EXPECT_EQ(header(r, "accept"), "text/event-stream");
  EXPECT_EQ(r.timeouts.connect, 2s);
  EXPECT_EQ(r.timeouts.first_byte, 3s);
  EXPECT_EQ(r.timeouts.idle, 4s);
  EXPECT_EQ(r.timeouts.total, 60s);
  EXPECT_EQ(r.proxy, "http://p:3128");
  EXPECT_FALSE(r.verify_tls);
  EXPECT_EQ(r.ca_path, "/ca.pem");
  auto models = provider->models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].id, "claude-sonnet-4-5");
}

TEST(ClaudeConfig, WrongValuesAreConfigErrors) {
  std::string key = std::string("credentials: [{label: a, api_key: ") + kKeyA + "}]\n";
  EXPECT_THAT(config_error(claude_plugin(), key + "tiemout: 3s"), HasSubstr("unknown key 'tiemout'"));
  EXPECT_THAT(config_error(claude_plugin(), key + "selection: random"), HasSubstr("round_robin or least_recently_used"));
  EXPECT_THAT(config_error(claude_plugin(), key + "base_url: ftp://x"), HasSubstr("http:// or https://"));
  EXPECT_THAT(config_error(claude_plugin(), key + "headers: {x-api-key: k}"), HasSubstr("set by llmux"));
  EXPECT_THAT(config_error(claude_plugin(), "credentials: [{label: a, api_key: k, access_token: t}]"),
              HasSubstr("not both"));
  EXPECT_THAT(config_error(claude_plugin(), "credentials: [{label: a}]"), HasSubstr("needs api_key"));
  EXPECT_THAT(config_error(claude_plugin(), "credentials: [{label: a, api_key: k1}, {label: a, api_key: k2}]"),
              HasSubstr("used twice"));
  EXPECT_THAT(config_error(claude_plugin(), "credentials: [{label: a, api_key: k, colour: red}]"),
              HasSubstr("unknown key 'colour'"));
  EXPECT_THAT(config_error(claude_plugin(), "credentials: [{label: a, access_token: t, expires_at: soon}]"),
              HasSubstr("ISO-8601"));
}

TEST(ClaudeConfig, MissingCredentialsAreNotConfigured) {
  ::unsetenv("LLMUX_TEST_CLAUDE_UNSET");
  EXPECT_THAT(not_configured(claude_plugin(), ""), HasSubstr("no credentials"));
  EXPECT_THAT(not_configured(claude_plugin(), "credentials: [{label: a, api_key: \"${LLMUX_TEST_CLAUDE_UNSET}\"}]"),
              HasSubstr("LLMUX_TEST_CLAUDE_UNSET"));
  EXPECT_THAT(not_configured(claude_plugin(), "credentials_env: LLMUX_TEST_CLAUDE_UNSET"),
              HasSubstr("LLMUX_TEST_CLAUDE_UNSET is not set"));
  EXPECT_THAT(not_configured(claude_plugin(), "credentials_file: /nonexistent/creds.json"),
              HasSubstr("cannot read /nonexistent/creds.json"));

  // One unset entry among others is skipped (and said so), not fatal.
  FakeHost host;
  auto provider = create(claude_plugin(),
                         std::string("credentials:\n  - {label: gone, api_key: \"${LLMUX_TEST_CLAUDE_UNSET}\"}\n"
                                     "  - {label: b, api_key: ") + kKeyB + "}\n",
                         host);
  EXPECT_THAT(host.log_text(), HasSubstr("credential 'gone' skipped"));
  EXPECT_THAT(provider->credentials_report(), Not(HasSubstr("gone")));
}

TEST(ClaudeConfig, CredentialsFromAnEnvironmentVariableAndAFile) {
  ::setenv("LLMUX_TEST_CLAUDE_CREDS",
           (std::string(R"([{"label":"env-key","api_key":")") + kKeyB + R"("},)" +
            R"({"label":"env-oauth","access_token":"sk-ant-oat01-env-0000000000","refresh_token":"sk-ant-ort01-env-00000000","expires_at":"2099-01-01T00:00:00Z"}])")
               .c_str(),
           1);
  TempDir dir;
  dir.write("claude-code.json",
            R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-file-000000000","refreshToken":"sk-ant-ort01-file-0000000",)"
            R"("expiresAt":4070908800000,"scopes":["user:inference"],"subscriptionType":"max"}})");
  FakeHost host;
  auto provider = create(claude_plugin(),
                         "credentials_env: LLMUX_TEST_CLAUDE_CREDS\ncredentials_file: " +
                             (dir.path() / "claude-code.json").string(),
                         host);
  ::unsetenv("LLMUX_TEST_CLAUDE_CREDS");
  auto doc = parse(provider->credentials_report());
  ASSERT_EQ(doc.Size(), 3u);
  EXPECT_STREQ(doc[0]["label"].GetString(), "env-key");
  EXPECT_STREQ(doc[0]["kind"].GetString(), "api_key");
  EXPECT_STREQ(doc[1]["label"].GetString(), "env-oauth");
  EXPECT_STREQ(doc[1]["kind"].GetString(), "oauth");
  EXPECT_STREQ(doc[1]["expires_at"].GetString(), "2099-01-01T00:00:00Z");
  EXPECT_STREQ(doc[2]["label"].GetString(), "claude-code");
  EXPECT_STREQ(doc[2]["expires_at"].GetString(), "2099-01-01T00:00:00Z");

  EXPECT_THAT(config_error(claude_plugin(), "credentials_file: " + dir.write("bad.json", "[{]").string()),
              HasSubstr("invalid JSON at line 1"));
}

// ---------------------------------------------------------------------------
// Pass-through

const std::string kClientBody =
    R"({"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,)"
    R"("system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],)"
    R"("messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}}]}],)"
    R"("metadata":{"user_id":"user_abc"},"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},)"
    R"("some_future_field":{"nested":[1,2.50,"x"]}})";

TEST(ClaudePassThrough, ForwardsTheBodyWithOnlyTheModelRenamedAndTheClientBetas) {
  FakeHost host;
  auto provider = create(claude_plugin(), oauth(now_ms() + 3'600'000, "betas: [fine-grained-tool-streaming-2025-05-14]"),
                         host);
  auto call = std::make_shared<FakeCall>(
      anthropic_request(kClientBody, "claude-upstream",
                        {{"anthropic-beta", "interleaved-thinking-2025-05-14, oauth-2025-04-20"},
                         {"anthropic-version", "2023-06-01"}}));
  provider->chat(call);
  auto s = started(host);
  ASSERT_EQ(s.size(), 1u);
  const HttpRequest& r = s[0].request;
  EXPECT_EQ(r.body, anthropic::replace_model(kClientBody, "claude-upstream"));
  std::string expected = kClientBody;
  expected.replace(expected.find("claude-sonnet-4-5"), std::string("claude-sonnet-4-5").size(), "claude-upstream");
  EXPECT_EQ(r.body, expected) << "every other byte is the client's";
  EXPECT_EQ(header(r, "authorization"), std::string("Bearer ") + kAccess);
  EXPECT_EQ(header(r, "anthropic-beta"),
            "fine-grained-tool-streaming-2025-05-14,interleaved-thinking-2025-05-14,oauth-2025-04-20");
  EXPECT_EQ(header(r, "accept"), "text/event-stream");

  // The answer: raw bytes as they come, the first event held until whole.
  const std::string wire = FakeAnthropic::text_stream({"Hel", "lo"});
  s[0].handler->on_response(200, {{"content-type", "text/event-stream; charset=utf-8"}});
  s[0].handler->on_body(wire.substr(0, 20));
  EXPECT_TRUE(call->events.empty()) << "the first event is not whole yet";
  std::size_t second = wire.find("event: content_block_delta");
  s[0].handler->on_body(wire.substr(20, second - 20));
  ASSERT_EQ(call->events.size(), 1u);
  EXPECT_EQ(call->events[0].kind, Event::Kind::Raw);
  s[0].handler->on_body(wire.substr(second));
  s[0].handler->on_complete({});
  std::string raw;
  for (const auto& e : call->events) {
    if (e.kind == Event::Kind::Raw) raw += e.text;
  }
  EXPECT_EQ(raw, wire);
  ASSERT_GE(call->events.size(), 3u);
  EXPECT_EQ(call->events[call->events.size() - 2].kind, Event::Kind::Usage);
  EXPECT_EQ(call->events[call->events.size() - 2].usage.input_tokens, 12);
  EXPECT_EQ(call->events[call->events.size() - 2].usage.output_tokens, 6);
  EXPECT_EQ(call->events.back().kind, Event::Kind::Finish);
  EXPECT_EQ(call->events.back().finish, FinishReason::Stop);
}

TEST(ClaudePassThrough, NonStreamedAnswerIsOneRawBody) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  std::string body = R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})";
  auto call = std::make_shared<FakeCall>(anthropic_request(body, "m"));
  provider->chat(call);
  std::string answer_body = FakeAnthropic::message_json("Hi there");
  answer_json(started(host).at(0), answer_body);
  ASSERT_THAT(kinds(call->events), ElementsAre(Event::Kind::Raw, Event::Kind::Usage, Event::Kind::Finish));
  EXPECT_EQ(call->events[0].text, answer_body);
}

TEST(ClaudePassThrough, AnOverloadedFirstEventMovesToTheNextCredential) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  auto call = std::make_shared<FakeCall>(anthropic_request(kClientBody, "m"));
  provider->chat(call);
  auto s = started(host);
  ASSERT_EQ(s.size(), 1u);
  s[0].handler->on_response(200, {{"content-type", "text/event-stream"}});
  EXPECT_FALSE(s[0].handler->on_body(
      "event: error\ndata: " + FakeAnthropic::error_json("overloaded_error", "Overloaded") + "\n\n"));
  s[0].handler->on_complete(HttpOutcome{HttpFailure::Cancelled, "stopped"});
  EXPECT_TRUE(call->events.empty());
  s = started(host);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(header(s[1].request, "x-api-key"), kKeyB);
  EXPECT_EQ(state_of(*provider, "a"), "cooldown");
}

TEST(ClaudePassThrough, RawEventsHoldWholeSseEventsWhereverTheReadsSplit) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  for (const std::string eol : {"\n", "\r\n", "\r"}) {
    // A comment before message_start and one between events: both are events too.
    std::vector<std::string> events = sse_events(": hello\n\n" + FakeAnthropic::text_stream({"Bon", "jour", " à", " tous"}), eol);
    events.insert(events.begin() + 4, ": keep-alive" + eol + eol);
    const std::string wire = joined(events);
    const std::vector<std::size_t> event_ends = ends_of(events);
    auto run = [&](const std::vector<std::string_view>& reads, const std::string& context) {
      auto call = std::make_shared<FakeCall>(anthropic_request(kClientBody, "m"));
      provider->chat(call);
      const Started s = last_started(host);
      s.handler->on_response(200, {{"content-type", "text/event-stream; charset=utf-8"}});
      for (const std::string_view read : reads) {
        if (!read.empty()) {
          ASSERT_TRUE(s.handler->on_body(read)) << context;
        }
      }
      s.handler->on_complete({});
      expect_whole_raw_events(call->events, wire, event_ends, context);
      ASSERT_GE(call->events.size(), 3u) << context;
      EXPECT_EQ(call->events[call->events.size() - 2].kind, Event::Kind::Usage) << context;
      EXPECT_EQ(call->events.back().kind, Event::Kind::Finish) << context;
    };
    const std::string_view all = wire;
    for (std::size_t split = 0; split <= wire.size(); ++split) {
      run({all.substr(0, split), all.substr(split)}, "split at " + std::to_string(split) + ", eol " +
                                                          ::testing::PrintToString(eol));
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < wire.size(); ++i) bytes.push_back(all.substr(i, 1));
    run(bytes, "byte by byte, eol " + ::testing::PrintToString(eol));
  }
}

TEST(ClaudePassThrough, ALastEventWithoutItsEmptyLineIsCompletedNotCut) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  const std::string wire = FakeAnthropic::text_stream({"Hi"});
  for (const std::size_t missing : {1, 2}) {  // the empty line, or the last line end as well
    const std::string sent = wire.substr(0, wire.size() - missing);
    auto call = std::make_shared<FakeCall>(anthropic_request(kClientBody, "m"));
    provider->chat(call);
    answer(started(host).back(), 200, {{"content-type", "text/event-stream"}}, sent);
    std::string raw;
    for (const auto& e : call->events) {
      if (e.kind == Event::Kind::Raw) raw += e.text;
    }
    EXPECT_EQ(raw, wire) << "the client gets message_stop as a whole event";
    EXPECT_EQ(call->events.back().kind, Event::Kind::Finish);
  }
}

TEST(ClaudePassThrough, UsageWithCacheTokensComesBeforeTheTerminalEvent) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  std::string stream = FakeAnthropic::text_stream({"Hi"});
  const std::string start_usage = R"("usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,)";
  ASSERT_NE(stream.find(start_usage), std::string::npos);
  stream.replace(stream.find(start_usage), start_usage.size(),
                 R"("usage":{"input_tokens":5,"cache_creation_input_tokens":20,"cache_read_input_tokens":100,"output_tokens":1,)");
  const std::string delta_usage = R"("usage":{"output_tokens":6})";
  ASSERT_NE(stream.find(delta_usage), std::string::npos);
  stream.replace(stream.find(delta_usage), delta_usage.size(),
                 R"("usage":{"input_tokens":5,"cache_creation_input_tokens":20,"cache_read_input_tokens":100,"output_tokens":30})");
  std::string body = FakeAnthropic::message_json("Hi");
  const std::string body_usage = R"("usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":6,)";
  ASSERT_NE(body.find(body_usage), std::string::npos);
  body.replace(body.find(body_usage), body_usage.size(),
               R"("usage":{"input_tokens":5,"cache_creation_input_tokens":20,"cache_read_input_tokens":100,"output_tokens":30,)");

  auto expect_usage = [](const std::vector<Event>& events, Event::Kind terminal) {
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events.back().kind, terminal);
    const Event& usage = events[events.size() - 2];
    ASSERT_EQ(usage.kind, Event::Kind::Usage);
    EXPECT_EQ(usage.usage.input_tokens, 125) << "canonical input tokens include the cached ones";
    EXPECT_EQ(usage.usage.cache_read_tokens, 100);
    EXPECT_EQ(usage.usage.cache_creation_tokens, 20);
    EXPECT_EQ(usage.usage.output_tokens, 30);
  };
  auto streamed = std::make_shared<FakeCall>(anthropic_request(kClientBody, "m"));
  provider->chat(streamed);
  answer(started(host).back(), 200, {{"content-type", "text/event-stream"}}, stream);
  expect_usage(streamed->events, Event::Kind::Finish);

  auto whole = std::make_shared<FakeCall>(
      anthropic_request(R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})", "m"));
  provider->chat(whole);
  answer_json(started(host).back(), body);
  ASSERT_THAT(kinds(whole->events), ElementsAre(Event::Kind::Raw, Event::Kind::Usage, Event::Kind::Finish));
  expect_usage(whole->events, Event::Kind::Finish);

  // Cut after the usage came: the usage read so far, then the error.
  auto cut = std::make_shared<FakeCall>(anthropic_request(kClientBody, "m"));
  provider->chat(cut);
  const Started s = started(host).back();
  s.handler->on_response(200, {{"content-type", "text/event-stream"}});
  ASSERT_TRUE(s.handler->on_body(stream.substr(0, stream.find("event: message_stop"))));
  s.handler->on_complete(HttpOutcome{HttpFailure::Cut, "connection reset"});
  expect_usage(cut->events, Event::Kind::Error);
  EXPECT_EQ(cut->events.back().error.status, 502);
}

// ---------------------------------------------------------------------------
// Defect "claude pass-through forwards upstream garbage unchecked": an answer
// that was not Anthropic's (an HTML error page, cut JSON, a stream that did
// not open with message_start, an event whose data was not JSON) reached the
// client as it was.

TEST(ClaudePassThroughForwardsUpstreamGarbageUnchecked, AWholeBodyThatIsNotAMessageIsAFailedAttempt) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  const std::string request = R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})";
  const std::string message = FakeAnthropic::message_json("Hi there");
  for (const std::string& body : {std::string("<html><body>502 Bad Gateway</body></html>"),
                                 message.substr(0, message.size() / 2), std::string("[]"),
                                 std::string(R"({"type":"completion","completion":"hi"})"), std::string()}) {
    auto call = std::make_shared<FakeCall>(anthropic_request(request, "m"));
    provider->chat(call);
    const std::size_t before = started(host).size();
    answer_json(started(host).back(), body);
    ASSERT_THAT(kinds(call->events), ElementsAre(Event::Kind::Error)) << body;
    EXPECT_EQ(call->events[0].error.status, 502) << body;
    EXPECT_THAT(call->events[0].error.message, HasSubstr("not an Anthropic message")) << body;
    EXPECT_EQ(started(host).size(), before) << "not the credential's fault: no other credential is tried";
  }
  // An error object in a 200 is the error it says (an overload rests the credential and the next one serves).
  auto call = std::make_shared<FakeCall>(anthropic_request(request, "m"));
  provider->chat(call);
  answer_json(started(host).back(), FakeAnthropic::error_json("overloaded_error", "Overloaded"));
  ASSERT_TRUE(call->events.empty());
  answer_json(started(host).back(), message);
  ASSERT_THAT(kinds(call->events), ElementsAre(Event::Kind::Raw, Event::Kind::Usage, Event::Kind::Finish));
  EXPECT_EQ(call->events[0].text, message);
}

TEST(ClaudePassThroughForwardsUpstreamGarbageUnchecked, AStreamThatDoesNotOpenWithAValidMessageStartIsAFailedAttempt) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  const std::string valid = FakeAnthropic::text_stream({"Hi"});
  const std::string after_start = valid.substr(valid.find("event: content_block_start"));
  for (const std::string& wire : {
           std::string("<html><body>502 Bad Gateway</body></html>"),
           std::string("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\n\n") + after_start,
           std::string("event: message_start\ndata: {\"type\":\"message_start\",\"message\":\"x\"}\n\n") + after_start,
           after_start,
           std::string("data: ") + valid.substr(valid.find('{'), valid.find('\n', valid.find('{')) - valid.find('{')) +
               "\n\n" + after_start,
           std::string(": only a comment\n\n"),
           std::string(),
       }) {
    auto call = std::make_shared<FakeCall>(anthropic_request(kClientBody, "m"));
    provider->chat(call);
    const Started s = started(host).back();
    s.handler->on_response(200, {{"content-type", "text/event-stream"}});
    const bool read_on = wire.empty() || s.handler->on_body(wire);
    s.handler->on_complete(read_on ? HttpOutcome{} : HttpOutcome{HttpFailure::Cancelled, "stopped by the handler"});
    ASSERT_THAT(kinds(call->events), ElementsAre(Event::Kind::Error)) << wire;
    EXPECT_EQ(call->events[0].error.status, 502) << wire;
    EXPECT_THAT(call->events[0].error.message, HasSubstr("not an Anthropic message stream")) << wire;
  }
}

TEST(ClaudePassThroughForwardsUpstreamGarbageUnchecked, AnEventThatIsNotJsonAfterTheFirstEndsTheAnswerWithAnError) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  const std::string valid = FakeAnthropic::text_stream({"Bon", "jour"});
  const std::size_t cut = valid.find("event: content_block_delta", valid.find("event: content_block_delta") + 1);
  const std::string before = valid.substr(0, cut);
  const std::string wire = before + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"te\n\n" +
                           valid.substr(cut);
  for (std::size_t split = 0; split <= wire.size(); split += 7) {
    auto call = std::make_shared<FakeCall>(anthropic_request(kClientBody, "m"));
    provider->chat(call);
    const Started s = started(host).back();
    s.handler->on_response(200, {{"content-type", "text/event-stream"}});
    bool more = split == 0 || s.handler->on_body(std::string_view(wire).substr(0, split));
    if (more) more = s.handler->on_body(std::string_view(wire).substr(split));
    EXPECT_FALSE(more) << "the transfer stops at the bad event (split " << split << ")";
    s.handler->on_complete(HttpOutcome{HttpFailure::Cancelled, "stopped by the handler"});
    std::string raw;
    for (const auto& e : call->events) {
      if (e.kind == Event::Kind::Raw) raw += e.text;
    }
    EXPECT_EQ(raw, before) << "the events before the bad one, nothing after (split " << split << ")";
    ASSERT_GE(call->events.size(), 3u);
    EXPECT_EQ(call->events[call->events.size() - 2].kind, Event::Kind::Usage);
    EXPECT_EQ(call->events[call->events.size() - 2].usage.input_tokens, 12);
    ASSERT_EQ(call->events.back().kind, Event::Kind::Error);
    EXPECT_EQ(call->events.back().error.status, 502);
    EXPECT_THAT(call->events.back().error.message, HasSubstr("not valid JSON"));
  }
  EXPECT_EQ(started(host).size(), (wire.size() / 7) + 1) << "no credential is tried twice";
}

TEST(ClaudePassThrough, AnUpstreamErrorEventMidStreamIsForwardedAndEndsTheCall) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  const std::string valid = FakeAnthropic::text_stream({"Bon", "jour"});
  const std::string before = valid.substr(0, valid.find("event: content_block_stop"));
  const std::string error = "event: error\ndata: " + FakeAnthropic::error_json("overloaded_error", "Overloaded") + "\n\n";
  auto call = std::make_shared<FakeCall>(anthropic_request(kClientBody, "m"));
  provider->chat(call);
  const Started s = started(host).back();
  s.handler->on_response(200, {{"content-type", "text/event-stream"}});
  EXPECT_FALSE(s.handler->on_body(before + error + "event: ping\ndata: {\"type\":\"ping\"}\n\n"));
  s.handler->on_complete(HttpOutcome{HttpFailure::Cancelled, "stopped by the handler"});
  ASSERT_THAT(kinds(call->events), ElementsAre(Event::Kind::Raw, Event::Kind::Usage, Event::Kind::Error));
  EXPECT_EQ(call->events[0].text, before + error);
  EXPECT_EQ(call->events[2].error.status, 529);
  EXPECT_EQ(call->events[2].error.message, "Overloaded");
}

// ---------------------------------------------------------------------------
// The commit rule: the host's to say (ChatCall::committed()); the plugin asks
// it to choose between another credential and an in-band end.

const std::string kOverloadedEvent =
    "event: error\ndata: " + FakeAnthropic::error_json("overloaded_error", "Overloaded") + "\n\n";

TEST(ClaudeCommitRule, AnErrorAfterTheRoleTriesTheNextCredentialOnlyWhileTheHostHasNotCommitted) {
  const std::string valid = FakeAnthropic::text_stream({"Bon", "jour"});
  const std::string opening = valid.substr(0, valid.find("event: content_block_start"));
  for (const bool committed : {false, true}) {
    FakeHost host;
    auto provider = create(claude_plugin(), three_keys(), host);
    auto call = std::make_shared<FakeCall>(openai_request(true));
    provider->chat(call);
    const Started s = started(host).at(0);
    s.handler->on_response(200, {{"content-type", "text/event-stream"}});
    EXPECT_TRUE(s.handler->on_body(opening));
    EXPECT_TRUE(call->events.empty()) << "the Role waits for content";
    call->force_committed(committed);  // what the host says, whatever the plugin emitted
    EXPECT_FALSE(s.handler->on_body(kOverloadedEvent));
    s.handler->on_complete(HttpOutcome{HttpFailure::Cancelled, "stopped by the handler"});
    if (!committed) {
      EXPECT_TRUE(call->events.empty()) << "refused: the call is as it was";
      ASSERT_EQ(started(host).size(), 2u) << "the next credential answers";
      EXPECT_EQ(header(started(host)[1].request, "x-api-key"), kKeyB);
      EXPECT_EQ(state_of(*provider, "a"), "cooldown");
    } else {
      ASSERT_THAT(kinds(call->events), ElementsAre(Event::Kind::Error));
      EXPECT_EQ(call->events[0].error.status, 529);
      EXPECT_EQ(started(host).size(), 1u) << "committed: no other credential can replace the answer";
    }
  }
}

TEST(ClaudeCommitRule, AStreamCommitsWithItsFirstContentAWholeAnswerWithItsEnd) {
  const std::string valid = FakeAnthropic::text_stream({"Bon", "jour"});
  const std::string both_deltas = valid.substr(0, valid.find("event: content_block_stop"));
  for (const bool stream : {true, false}) {
    FakeHost host;
    auto provider = create(claude_plugin(), three_keys(), host);
    auto call = std::make_shared<FakeCall>(openai_request(stream));
    provider->chat(call);
    const Started s = started(host).at(0);
    s.handler->on_response(200, {{"content-type", "text/event-stream"}});
    EXPECT_TRUE(s.handler->on_body(both_deltas));
    EXPECT_EQ(call->committed(), stream) << "the FakeCall plays the host's writer";
    EXPECT_FALSE(s.handler->on_body(kOverloadedEvent));
    s.handler->on_complete(HttpOutcome{HttpFailure::Cancelled, "stopped by the handler"});
    if (stream) {
      ASSERT_THAT(kinds(call->events), ElementsAre(Event::Kind::Role, Event::Kind::TextDelta, Event::Kind::TextDelta,
                                                   Event::Kind::Error));
      EXPECT_EQ(call->events.back().error.status, 529);
      EXPECT_EQ(started(host).size(), 1u);
      continue;
    }
    // A whole answer held its events: the next credential answers the call from the start.
    EXPECT_TRUE(call->events.empty());
    ASSERT_EQ(started(host).size(), 2u);
    answer(started(host)[1], 200, {{"content-type", "text/event-stream"}}, valid);
    ASSERT_THAT(kinds(call->events), ElementsAre(Event::Kind::Role, Event::Kind::TextDelta, Event::Kind::TextDelta,
                                                 Event::Kind::Usage, Event::Kind::Finish));
    EXPECT_EQ(call->events[1].text + call->events[2].text, "Bonjour");
  }
}

// ---------------------------------------------------------------------------
// Trace context

TEST(ClaudeTraceContext, TraceparentGoesOnEveryUpstreamRequest) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys("headers: {traceparent: configured-value, X-Team: ml}\n"), host);
  const std::string trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  ChatRequest passthrough = anthropic_request(kClientBody, "m");
  passthrough.traceparent = trace;
  ChatRequest openai = openai_request(true);
  openai.traceparent = trace;
  provider->chat(std::make_shared<FakeCall>(passthrough));
  provider->chat(std::make_shared<FakeCall>(openai));
  provider->count_tokens(passthrough, [](std::int64_t, std::optional<Error>) {});
  ChatRequest untraced = openai_request();
  provider->chat(std::make_shared<FakeCall>(untraced));
  auto s = started(host);
  ASSERT_EQ(s.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(header(s[i].request, "traceparent"), trace) << s[i].request.url;
    EXPECT_EQ(header(s[i].request, "x-team"), "ml");
    std::size_t copies = 0;
    for (const auto& h : s[i].request.headers) copies += h.first == "traceparent" || h.first == "Traceparent";
    EXPECT_EQ(copies, 1u) << "the call's trace context replaces the configured one";
  }
  EXPECT_EQ(s[2].request.url, "https://api.anthropic.com/v1/messages/count_tokens");
  EXPECT_EQ(header(s[3].request, "traceparent"), "configured-value") << "no trace context: the configured header";
}

// ---------------------------------------------------------------------------
// Selection

TEST(ClaudePool, RoundRobinOverThreeKeys) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  for (int i = 0; i < 6; ++i) provider->chat(std::make_shared<FakeCall>(openai_request()));
  auto s = started(host);
  ASSERT_EQ(s.size(), 6u);
  std::vector<std::string> used;
  for (const auto& x : s) used.push_back(header(x.request, "x-api-key"));
  EXPECT_THAT(used, ElementsAre(kKeyA, kKeyB, kKeyC, kKeyA, kKeyB, kKeyC));
}

TEST(ClaudePool, LeastRecentlyUsedPrefersTheLongestIdle) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys("selection: least_recently_used\n"), host);
  for (int i = 0; i < 3; ++i) provider->chat(std::make_shared<FakeCall>(openai_request()));
  // b rests; the retry takes the longest idle of the others (a), then c, a, never b.
  auto s = started(host);
  answer_json(s[1], FakeAnthropic::error_json("rate_limit_error", "slow down"), 429, {{"retry-after", "30"}});
  s = started(host);
  ASSERT_EQ(s.size(), 4u) << "the 429 moved the request on";
  EXPECT_EQ(header(s[3].request, "x-api-key"), kKeyA);
  provider->chat(std::make_shared<FakeCall>(openai_request()));
  provider->chat(std::make_shared<FakeCall>(openai_request()));
  s = started(host);
  EXPECT_EQ(header(s[4].request, "x-api-key"), kKeyC);
  EXPECT_EQ(header(s[5].request, "x-api-key"), kKeyA);
}

TEST(ClaudePool, CooldownOn429HonoursRetryAfter) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  auto call = std::make_shared<FakeCall>(openai_request());
  provider->chat(call);
  answer_json(started(host)[0], FakeAnthropic::error_json("rate_limit_error", "Number of requests exceeded"), 429,
              {{"retry-after", "120"}});
  auto s = started(host);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(header(s[1].request, "x-api-key"), kKeyB);
  auto entry = parse(report_of(*provider, "a"));
  EXPECT_STREQ(entry["state"].GetString(), "cooldown");
  auto until = claude::parse_expiry(entry["cooldown_until"].GetString());
  ASSERT_TRUE(until);
  EXPECT_NEAR(static_cast<double>(*until - now_ms()), 120'000.0, 3'000.0);
  EXPECT_THAT(entry["last_error"].GetString(), HasSubstr("429"));
  answer_json(s[1], FakeAnthropic::message_json("ok"));
  EXPECT_EQ(call->events.back().kind, Event::Kind::Finish);
  // The rest of the rotation skips a.
  for (int i = 0; i < 3; ++i) provider->chat(std::make_shared<FakeCall>(openai_request()));
  s = started(host);
  for (std::size_t i = 2; i < s.size(); ++i) EXPECT_NE(header(s[i].request, "x-api-key"), kKeyA);
}

TEST(ClaudePool, NoUsableCredentialIsUnavailable) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  auto call = std::make_shared<FakeCall>(openai_request());
  provider->chat(call);
  for (int i = 0; i < 3; ++i) {
    auto s = started(host);
    ASSERT_EQ(s.size(), static_cast<std::size_t>(i + 1));
    answer_json(s[i], FakeAnthropic::error_json("overloaded_error", "Overloaded"), 529);
  }
  EXPECT_EQ(started(host).size(), 3u) << "each credential once";
  ASSERT_EQ(call->events.size(), 1u);
  const Error& error = call->events[0].error;
  EXPECT_EQ(error.status, 503);
  EXPECT_EQ(error.code, "no_usable_credential");
  EXPECT_THAT(error.message, HasSubstr("Overloaded"));
  EXPECT_THAT(error.message, HasSubstr("'b' cooling down"));

  // The next request finds nobody at all.
  auto next = std::make_shared<FakeCall>(openai_request());
  provider->chat(next);
  EXPECT_EQ(started(host).size(), 3u);
  ASSERT_EQ(next->events.size(), 1u);
  EXPECT_EQ(next->events[0].error.status, 503);
}

TEST(ClaudePool, OtherErrorsDoNotRotate) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  auto call = std::make_shared<FakeCall>(openai_request());
  provider->chat(call);
  answer_json(started(host)[0], FakeAnthropic::error_json("invalid_request_error", "messages: field required"), 400);
  EXPECT_EQ(started(host).size(), 1u);
  ASSERT_EQ(call->events.size(), 1u);
  EXPECT_EQ(call->events[0].error.status, 400);
  EXPECT_EQ(call->events[0].error.message, "messages: field required");
}

TEST(ClaudePool, ARevokedApiKeyIsDisabledAndTheNextServes) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  auto call = std::make_shared<FakeCall>(openai_request());
  provider->chat(call);
  answer_json(started(host)[0], FakeAnthropic::error_json("authentication_error", "invalid x-api-key"), 401);
  auto s = started(host);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(header(s[1].request, "x-api-key"), kKeyB);
  EXPECT_EQ(state_of(*provider, "a"), "disabled");
  EXPECT_THAT(host.log_text(), HasSubstr("credential 'a' disabled"));
}

// ---------------------------------------------------------------------------
// OAuth refresh

TEST(ClaudeOAuth, RefreshesBeforeExpiryOnceForConcurrentCalls) {
  FakeHost host;
  auto provider = create(claude_plugin(), oauth(now_ms() + 60'000), host);  // inside the 5 min skew
  std::vector<std::shared_ptr<FakeCall>> calls;
  for (int i = 0; i < 3; ++i) {
    calls.push_back(std::make_shared<FakeCall>(openai_request()));
    provider->chat(calls.back());
  }
  auto s = started(host);
  ASSERT_EQ(s.size(), 1u) << "one refresh, the other calls wait for it";
  EXPECT_EQ(s[0].request.url, "http://127.0.0.1:9/v1/oauth/token");
  auto grant = parse(s[0].request.body);
  EXPECT_STREQ(grant["grant_type"].GetString(), "refresh_token");
  EXPECT_STREQ(grant["refresh_token"].GetString(), kRefresh);
  EXPECT_STREQ(grant["client_id"].GetString(), "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
  EXPECT_EQ(state_of(*provider, "max"), "refreshing");

  answer_json(s[0], token_grant("sk-ant-oat01-new-access-000002", "sk-ant-ort01-new-refresh-00002"));
  s = started(host);
  ASSERT_EQ(s.size(), 4u);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(header(s[i].request, "authorization"), "Bearer sk-ant-oat01-new-access-000002");
    EXPECT_EQ(header(s[i].request, "anthropic-beta"), "oauth-2025-04-20");
  }
  // The rotated refresh token is durable before it is used.
  std::string stored = host.state_store.values.at("credential-max");
  EXPECT_THAT(stored, HasSubstr("sk-ant-ort01-new-refresh-00002"));
  EXPECT_THAT(stored, Not(HasSubstr(kRefresh)));
  auto entry = parse(report_of(*provider, "max"));
  EXPECT_STREQ(entry["state"].GetString(), "active");
  EXPECT_EQ(entry["refreshes"].GetInt(), 1);
}

TEST(ClaudeOAuth, A401RefreshesOnceAndRetries) {
  FakeHost host;
  auto provider = create(claude_plugin(), oauth(now_ms() + 3'600'000), host);
  auto call = std::make_shared<FakeCall>(openai_request());
  provider->chat(call);
  answer_json(started(host)[0], FakeAnthropic::error_json("authentication_error", "OAuth token has expired."), 401);
  auto s = started(host);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].request.url, "http://127.0.0.1:9/v1/oauth/token");
  answer_json(s[1], token_grant("sk-ant-oat01-after-401-0000003", "sk-ant-ort01-after-401-000003"));
  s = started(host);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(header(s[2].request, "authorization"), "Bearer sk-ant-oat01-after-401-0000003");
  answer_json(s[2], FakeAnthropic::message_json("fine"));
  EXPECT_EQ(call->events.back().kind, Event::Kind::Finish);
  EXPECT_EQ(state_of(*provider, "max"), "active");
}

TEST(ClaudeOAuth, A401ThatSurvivesTheRefreshDisables) {
  FakeHost host;
  auto provider = create(claude_plugin(), oauth(now_ms() + 3'600'000), host);
  auto call = std::make_shared<FakeCall>(openai_request());
  provider->chat(call);
  answer_json(started(host)[0], FakeAnthropic::error_json("authentication_error", "Invalid bearer token"), 401);
  answer_json(started(host)[1], token_grant("sk-ant-oat01-still-bad-000004", "sk-ant-ort01-still-bad-00004"));
  answer_json(started(host)[2], FakeAnthropic::error_json("permission_error", "account suspended"), 403);
  EXPECT_EQ(started(host).size(), 3u) << "one refresh per request";
  ASSERT_EQ(call->events.size(), 1u);
  EXPECT_EQ(call->events[0].error.status, 503);
  EXPECT_EQ(state_of(*provider, "max"), "disabled");
  EXPECT_THAT(report_of(*provider, "max"), HasSubstr("account suspended"));
}

TEST(ClaudeOAuth, RejectedRefreshTokenDisablesPassingFailureRests) {
  FakeHost host;
  auto provider = create(
      claude_plugin(),
      std::string("credentials:\n") + "  - {label: dead, access_token: sk-ant-oat01-dead-000000000, refresh_token: " +
          "sk-ant-ort01-dead-00000000, expires_at: " + std::to_string(now_ms() - 1000) + "}\n" +
          "  - {label: flaky, access_token: sk-ant-oat01-flaky-00000000, refresh_token: " +
          "sk-ant-ort01-flaky-0000000, expires_at: " + std::to_string(now_ms() - 1000) + "}\n" +
          "  - {label: key, api_key: " + kKeyA + "}\ntoken_url: http://127.0.0.1:9/token\n",
      host);
  auto call = std::make_shared<FakeCall>(openai_request());
  provider->chat(call);
  auto s = started(host);
  ASSERT_EQ(s.size(), 1u);
  answer_json(s[0], R"({"error":"invalid_grant","error_description":"Refresh token not found or invalid"})", 400);
  s = started(host);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_THAT(s[1].request.body, HasSubstr("sk-ant-ort01-flaky-0000000"));
  answer_json(s[1], R"({"error":"server_error"})", 503);
  s = started(host);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(header(s[2].request, "x-api-key"), kKeyA);
  answer_json(s[2], FakeAnthropic::message_json("served by the key"));
  EXPECT_EQ(call->events.back().kind, Event::Kind::Finish);
  EXPECT_EQ(state_of(*provider, "dead"), "disabled");
  EXPECT_EQ(state_of(*provider, "flaky"), "cooldown");
  EXPECT_THAT(report_of(*provider, "flaky"), HasSubstr("refresh failed: token endpoint answered HTTP 503"));
  EXPECT_THAT(report_of(*provider, "dead"), HasSubstr("invalid_grant"));
}

TEST(ClaudeOAuth, StateWinsWhileTheConfiguredTokenIsUnchanged) {
  const std::string origin = claude::sha256_hex(kRefresh).substr(0, 16);
  FakeHost host;
  host.state_store.values["credential-max"] =
      R"({"v":1,"origin":")" + origin + R"(","generation":3,"access_token":"sk-ant-oat01-stored-0000005",)"
      R"("refresh_token":"sk-ant-ort01-stored-000005","expires_at":)" + std::to_string(now_ms() + 3'600'000) +
      R"(,"cooldown_until":0,"disabled":false,"requests":7,"failures":1,"refreshes":3})";
  auto provider = create(claude_plugin(), oauth(now_ms() - 1000), host);
  provider->chat(std::make_shared<FakeCall>(openai_request()));
  auto s = started(host);
  ASSERT_EQ(s.size(), 1u) << "the stored token is fresh: no refresh";
  EXPECT_EQ(header(s[0].request, "authorization"), "Bearer sk-ant-oat01-stored-0000005");
  auto entry = parse(report_of(*provider, "max"));
  EXPECT_EQ(entry["requests"].GetInt(), 8);
  EXPECT_EQ(entry["refreshes"].GetInt(), 3);
}

TEST(ClaudeOAuth, AnEditedConfigTokenWinsOverTheState) {
  FakeHost host;
  host.state_store.values["credential-max"] =
      R"({"v":1,"origin":"0123456789abcdef","generation":3,"access_token":"sk-ant-oat01-old-login-0006",)"
      R"("refresh_token":"sk-ant-ort01-old-login-006","expires_at":)" + std::to_string(now_ms() + 3'600'000) +
      R"(,"cooldown_until":0,"disabled":true,"disabled_reason":"refresh rejected","requests":7})";
  auto provider = create(claude_plugin(), oauth(now_ms() + 3'600'000), host);
  EXPECT_THAT(host.log_text(), HasSubstr("configured secret changed"));
  EXPECT_EQ(state_of(*provider, "max"), "active");
  provider->chat(std::make_shared<FakeCall>(openai_request()));
  EXPECT_EQ(header(started(host).at(0).request, "authorization"), std::string("Bearer ") + kAccess);
  std::string stored = host.state_store.values.at("credential-max");
  EXPECT_THAT(stored, HasSubstr(claude::sha256_hex(kRefresh).substr(0, 16)));
  EXPECT_THAT(stored, Not(HasSubstr("old-login")));
}

TEST(ClaudeOAuth, ReportShowsNoSecret) {
  FakeHost host;
  auto provider = create(claude_plugin(),
                         oauth(now_ms() + 3'600'000, std::string("") ) , host);
  provider->chat(std::make_shared<FakeCall>(openai_request()));
  answer_json(started(host)[0],
              FakeAnthropic::error_json("authentication_error", std::string("bad token ") + kAccess), 401);
  answer_json(started(host)[1], token_grant("sk-ant-oat01-rotated-0000007", "sk-ant-ort01-rotated-000007"));
  std::string report = provider->credentials_report();
  for (const char* secret : {kAccess, kRefresh, "sk-ant-oat01-rotated-0000007", "sk-ant-ort01-rotated-000007"}) {
    EXPECT_THAT(report, Not(HasSubstr(secret)));
    EXPECT_THAT(host.log_text(), Not(HasSubstr(secret)));
  }
  auto entry = parse(report_of(*provider, "max"));
  EXPECT_THAT(entry["fingerprint"].GetString(), HasSubstr("sha256:"));
  EXPECT_EQ(std::string(entry["fingerprint"].GetString()).size(), 15u);
}

TEST(ClaudePool, ARestingPoolSaysWhenToRetry) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  auto call = std::make_shared<FakeCall>(openai_request());
  provider->chat(call);
  answer_json(started(host)[0], FakeAnthropic::error_json("rate_limit_error", "slow down"), 429, {{"retry-after", "30"}});
  answer_json(started(host)[1], FakeAnthropic::error_json("authentication_error", "invalid x-api-key"), 401);
  answer_json(started(host)[2], FakeAnthropic::error_json("rate_limit_error", "slow down"), 429,
              {{"retry-after-ms", "9500"}, {"retry-after", "10"}});
  ASSERT_THAT(kinds(call->events), ElementsAre(Event::Kind::Error));
  const Error& error = call->events[0].error;
  EXPECT_EQ(error.status, 503);
  EXPECT_EQ(error.code, "no_usable_credential");
  ASSERT_TRUE(error.retry_after) << "the soonest rest's end (retry-after-ms wins over retry-after)";
  EXPECT_LE(error.retry_after->count(), 9500);
  EXPECT_GT(error.retry_after->count(), 8500);

  // A pool with a credential disabled and none resting has no time to offer.
  FakeHost other_host;
  auto other = create(claude_plugin(), "credentials:\n  - {label: a, api_key: " + std::string(kKeyA) + "}\n", other_host);
  auto refused = std::make_shared<FakeCall>(openai_request());
  other->chat(refused);
  answer_json(started(other_host)[0], FakeAnthropic::error_json("authentication_error", "invalid x-api-key"), 401);
  ASSERT_THAT(kinds(refused->events), ElementsAre(Event::Kind::Error));
  EXPECT_EQ(refused->events[0].error.status, 503);
  EXPECT_FALSE(refused->events[0].error.retry_after);
}

// ---------------------------------------------------------------------------
// count_tokens

TEST(ClaudeCountTokens, PostsTheCountBodyAndReadsInputTokens) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  std::optional<std::int64_t> count;
  std::optional<Error> failure;
  ChatRequest request = anthropic_request(kClientBody, "claude-upstream", {{"anthropic-beta", "token-counting-x"}});
  ASSERT_TRUE(provider->count_tokens(request, [&](std::int64_t n, std::optional<Error> e) {
    count = n;
    failure = std::move(e);
  }));
  auto s = started(host);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].request.url, "https://api.anthropic.com/v1/messages/count_tokens");
  EXPECT_EQ(header(s[0].request, "anthropic-beta"), "token-counting-x");
  EXPECT_THAT(s[0].request.body, Not(HasSubstr("max_tokens")));
  EXPECT_THAT(s[0].request.body, Not(HasSubstr("\"stream\"")));
  EXPECT_THAT(s[0].request.body, HasSubstr(R"("model":"claude-upstream")"));
  EXPECT_THAT(s[0].request.body, HasSubstr("some_future_field"));
  answer_json(s[0], FakeAnthropic::error_json("rate_limit_error", "slow"), 429, {{"retry-after", "5"}});
  s = started(host);
  ASSERT_EQ(s.size(), 2u) << "a rate-limited credential hands over";
  answer_json(s[1], R"({"input_tokens":2095})");
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 2095);
  EXPECT_FALSE(failure);

  // OpenAI in: the rendered request, counted too.
  count.reset();
  provider->count_tokens(openai_request(), [&](std::int64_t n, std::optional<Error>) { count = n; });
  s = started(host);
  EXPECT_THAT(s.back().request.body, HasSubstr(R"("messages":[{"role":"user")"));
  EXPECT_THAT(s.back().request.body, Not(HasSubstr("max_tokens")));
  answer_json(s.back(), R"({"input_tokens":9})");
  EXPECT_EQ(count, 9);
}

// ---------------------------------------------------------------------------
// Lifetime

TEST(ClaudeLifetime, ACallOutlivesItsProvider) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  auto call = std::make_shared<FakeCall>(openai_request(true));
  provider->chat(call);
  auto s = started(host);
  provider.reset();
  answer(s[0], 200, {{"content-type", "text/event-stream"}}, FakeAnthropic::text_stream({"a", "b"}));
  ASSERT_FALSE(call->events.empty());
  EXPECT_EQ(call->events.back().kind, Event::Kind::Finish);
}

TEST(ClaudeLifetime, CancelStopsTheTransfer) {
  FakeHost host;
  auto provider = create(claude_plugin(), three_keys(), host);
  auto call = std::make_shared<FakeCall>(openai_request(true));
  provider->chat(call);
  call->cancel();
  EXPECT_EQ(started(host)[0].transfer->cancels, 1);
}

}  // namespace
}  // namespace llmux::test
