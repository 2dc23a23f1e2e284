// The claude plugin through a live llmux (TestGateway, and a child llmux for
// kill -9) in front of a fake Anthropic API and OAuth token endpoint
// (support/fake_anthropic.h), all over real loopback sockets: rotation,
// refresh before expiry and on 401, a failing token endpoint, cooldown on 429,
// a revoked token, restarts keeping refreshed tokens, one refresh for
// concurrent requests, pass-through bytes, OpenAI in with tools and streaming.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "llmux/codec/anthropic.h"
#include "llmux/codec/raw_answer.h"
#include "llmux/json.h"
#include "llmux/sse.h"
#include "support/fake_anthropic.h"
#include "support/held_writes.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kKeys[] = {"sk-ant-api03-live-alpha-00000000A", "sk-ant-api03-live-bravo-00000000B",
                                 "sk-ant-api03-live-charlie-000000C"};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A claude provider `claude` (no host retries or cooldown: each client request
// is what the pool makes of it) routed for claude-*, with the given
// credentials (YAML list items, two-space indented under `credentials:`).
std::string config(const FakeAnthropic& fake, const std::string& credentials, const std::string& extra = "",
                   const std::string& state_dir = "") {
  std::string out;
  if (!state_dir.empty()) out += "state_dir: " + state_dir + "\n";
  out += "providers:\n  claude:\n    plugin: claude\n    retry: {attempts: 0}\n    cooldown: {after_failures: 0}\n"
         "    options:\n      base_url: " + fake.base_url() + "\n      token_url: " + fake.token_url() +
         "\n      credentials:\n";
  std::size_t start = 0;
  while (start < credentials.size()) {
    std::size_t end = credentials.find('\n', start);
    if (end == std::string::npos) end = credentials.size();
    if (end > start) out += "        " + credentials.substr(start, end - start) + "\n";
    start = end + 1;
  }
  start = 0;
  while (start < extra.size()) {
    std::size_t end = extra.find('\n', start);
    if (end == std::string::npos) end = extra.size();
    if (end > start) out += "      " + extra.substr(start, end - start) + "\n";
    start = end + 1;
  }
  out += "routes:\n  \"claude-*\": [claude]\n";
  return out;
}

std::string three_keys(FakeAnthropic& fake) {
  std::string out;
  const char* labels[] = {"a", "b", "c"};
  for (int i = 0; i < 3; ++i) {
    fake.allow(kKeys[i]);
    out += std::string("- {label: ") + labels[i] + ", api_key: " + kKeys[i] + "}\n";
  }
  return out;
}

std::string oauth_entry(const std::string& label, const std::string& access, const std::string& refresh,
                        std::int64_t expires_at) {
  return "- {label: " + label + ", access_token: " + access + ", refresh_token: " + refresh +
         ", expires_at: " + std::to_string(expires_at) + "}\n";
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text.substr(0, 500);
  return doc;
}

std::vector<std::string> credentials_used(const FakeAnthropic& fake) {
  std::vector<std::string> out;
  for (const auto& r : fake.messages()) out.push_back(FakeAnthropic::credential_of(r));
  return out;
}

// The /api/tokens entry of `label` (the first provider's).
rapidjson::Document token_entry(TestGateway& gateway, const std::string& label) {
  HttpClient client;
  auto response = client.get(gateway.url("/api/tokens"));
  EXPECT_EQ(response.status, 200) << response.body;
  auto doc = parse(response.body);
  rapidjson::Document out;
  if (!doc.IsObject() || !doc.HasMember("providers")) return out;
  for (const auto& provider : doc["providers"].GetArray()) {
    for (const auto& token : provider["tokens"].GetArray()) {
      if (label == token["label"].GetString()) out.CopyFrom(token, out.GetAllocator());
    }
  }
  return out;
}

std::string messages_body(bool stream, const std::string& model = "claude-sonnet-4-5") {
  return R"({"model":")" + model + R"(","max_tokens":64,)" + (stream ? R"("stream":true,)" : "") +
         R"("messages":[{"role":"user","content":"hello"}]})";
}

// ---------------------------------------------------------------------------
// OpenAI in

TEST(ClaudeGateway, OpenAIClientGetsAClaudeAnswer) {
  FakeAnthropic fake;
  TestGateway gateway(config(fake, three_keys(fake)));
  HttpClient client;
  auto response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-sonnet-4-5", "hello"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("x-llmux-provider"), "claude");
  auto doc = parse(response.body);
  EXPECT_STREQ(doc["choices"][0]["message"]["content"].GetString(), "Hello!");
  EXPECT_STREQ(doc["choices"][0]["finish_reason"].GetString(), "stop");
  ASSERT_EQ(fake.messages().size(), 1u);
  auto sent = parse(fake.messages()[0].body);
  EXPECT_STREQ(sent["model"].GetString(), "claude-sonnet-4-5");
  EXPECT_TRUE(sent.HasMember("max_tokens"));
  EXPECT_EQ(fake.messages()[0].header("anthropic-version"), "2023-06-01");
}

TEST(ClaudeGateway, OpenAIClientStreamsToolCalls) {
  FakeAnthropic fake;
  fake.set_tool_call("get_weather", R"({"city":"Paris","unit":"celsius"})");
  TestGateway gateway(config(fake, three_keys(fake)));
  HttpClient client;
  std::string tools =
      R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Weather",)"
      R"("parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}])";
  auto response = client.post(gateway.url("/v1/chat/completions"),
                              chat_body("claude-sonnet-4-5", "weather in Paris?", true, tools));
  ASSERT_EQ(response.status, 200) << response.body;
  auto chunks = sse_data(response.body);
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.back(), "[DONE]");
  std::string arguments, name, finish;
  for (const auto& chunk : chunks) {
    if (chunk == "[DONE]") continue;
    auto doc = parse(chunk);
    if (!doc.HasMember("choices") || doc["choices"].Empty()) continue;
    const auto& choice = doc["choices"][0];
    if (choice.HasMember("finish_reason") && choice["finish_reason"].IsString()) finish = choice["finish_reason"].GetString();
    const auto& delta = choice["delta"];
    if (!delta.HasMember("tool_calls")) continue;
    for (const auto& call : delta["tool_calls"].GetArray()) {
      if (call["function"].HasMember("name")) name = call["function"]["name"].GetString();
      if (call["function"].HasMember("arguments")) arguments += call["function"]["arguments"].GetString();
    }
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(arguments, R"({"city":"Paris","unit":"celsius"})");
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(sse_content(response.body), "Let me check.");
  auto sent = parse(fake.messages().at(0).body);
  ASSERT_TRUE(sent.HasMember("tools"));
  EXPECT_STREQ(sent["tools"][0]["name"].GetString(), "get_weather");
  EXPECT_TRUE(sent["tools"][0].HasMember("input_schema"));
  EXPECT_TRUE(sent["stream"].GetBool());
}

// ---------------------------------------------------------------------------
// Anthropic in: pass-through

TEST(ClaudeGateway, PassThroughKeepsEveryByteButTheModel) {
  FakeAnthropic fake;
  std::string upstream_body;
  const std::string client_body =
      R"({"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,)"
      R"("system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}}],)"
      R"("messages":[{"role":"user","content":[{"type":"text","text":"hi \u00e9","cache_control":{"type":"ephemeral","ttl":"1h"}}]},)"
      R"({"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"EqQBCkYIBxgCKkD"},{"type":"text","text":"yes"}]},)"
      R"({"role":"user","content":"go on"}],)"
      R"("thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"user_1"},)"
      R"("context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},"x_unknown":[1, 2.50, {"deep":null}]})";
  const std::string upstream_answer = FakeAnthropic::text_stream({"Bon", "jour"}, "claude-sonnet-4-5-20250929");
  fake.set_hook([&](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream; charset=utf-8"}});
    std::size_t cut = upstream_answer.find("event: content_block_delta");
    exchange.chunk(upstream_answer.substr(0, cut));
    exchange.chunk(upstream_answer.substr(cut));
    exchange.end_chunked();
    return true;
  });
  TestGateway gateway(config(fake, three_keys(fake)) +
                      "aliases:\n  claude-sonnet-4-5: claude-upstream-name\n");
  HttpClient client;
  RequestOptions options;
  options.headers = {"anthropic-version: 2023-06-01", "anthropic-beta: interleaved-thinking-2025-05-14",
                     "x-api-key: client-key", "Content-Type: application/json"};
  auto response = client.post(gateway.url("/v1/messages"), client_body, options);
  ASSERT_EQ(response.status, 200) << response.body;
  // The answer comes back untouched but for the model, which is the one the client asked for.
  std::string answer = upstream_answer;
  const std::string upstream_model = "\"model\":\"claude-sonnet-4-5-20250929\"";
  ASSERT_NE(answer.find(upstream_model), std::string::npos);
  answer.replace(answer.find(upstream_model), upstream_model.size(), "\"model\":\"claude-sonnet-4-5\"");
  EXPECT_EQ(response.body, answer);
  auto all = fake.messages();
  ASSERT_EQ(all.size(), 1u);
  const FakeRequest& sent = all[0];
  std::string expected = client_body;
  expected.replace(expected.find("claude-sonnet-4-5"), 17, "claude-upstream-name");
  EXPECT_EQ(sent.body, expected);
  EXPECT_EQ(sent.header("anthropic-beta"), "interleaved-thinking-2025-05-14");
  EXPECT_EQ(sent.header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(sent.header("x-api-key"), kKeys[0]) << "the pool's key, never the client's";
}

// ---------------------------------------------------------------------------
// Defect "claude pass-through forwards upstream garbage unchecked": an answer
// that was not Anthropic's reached the client as it was. Now, before anything
// went out it is a failed attempt (the route's next step, the mock, answers);
// after, a bad event ends the stream with a well-formed `error` event.

std::string with_mock_fallback(std::string yaml) {
  yaml.replace(yaml.find("\"claude-*\": [claude]"), 20, "\"claude-*\": [claude, mock]");
  yaml.replace(yaml.find("routes:"), 7, "  mock: {plugin: mock}\nroutes:");
  return yaml;
}

RequestOptions anthropic_client() {
  RequestOptions options;
  options.headers = {"anthropic-version: 2023-06-01", "x-api-key: client-key", "Content-Type: application/json"};
  return options;
}

struct SseEvent {
  std::string name;
  std::string data;
};

std::vector<SseEvent> sse_events_of(const std::string& body) {
  std::vector<SseEvent> out;
  sse::Reader reader;
  reader.feed(body, [&](const sse::Message& m) { out.push_back({m.event, m.data}); });
  return out;
}

// An Anthropic stream as a client checks it: message_start first, message_stop
// last, every data a JSON object of the event's type; returns its events.
std::vector<SseEvent> expect_anthropic_stream(const std::string& body) {
  std::vector<SseEvent> events = sse_events_of(body);
  EXPECT_FALSE(events.empty()) << body;
  if (events.empty()) return events;
  EXPECT_EQ(events.front().name, "message_start") << body;
  EXPECT_EQ(events.back().name, "message_stop") << body;
  for (const auto& e : events) {
    auto doc = parse(e.data);
    EXPECT_TRUE(doc.IsObject() && doc.HasMember("type") && e.name == doc["type"].GetString()) << e.data;
  }
  return events;
}

TEST(ClaudePassThroughForwardsUpstreamGarbageUnchecked, ThroughLlmuxAWholeAnswerThatIsNotAMessageFallsBack) {
  const std::string message = FakeAnthropic::message_json("Hi there");
  for (const std::string& garbage : {std::string("<html><body><h1>502 Bad Gateway</h1></body></html>"),
                                     message.substr(0, message.size() - 20)}) {
    FakeAnthropic fake;
    fake.set_hook([&](const FakeRequest&, FakeExchange& exchange) {
      exchange.respond(200, {{"Content-Type", "application/json"}}, garbage);
      return true;
    });
    TestGateway gateway(with_mock_fallback(config(fake, three_keys(fake))));
    HttpClient client;
    auto response = client.post(gateway.url("/v1/messages"), messages_body(false), anthropic_client());
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.header("x-llmux-provider"), "mock") << "the next step answered";
    EXPECT_THAT(response.body, Not(HasSubstr("502 Bad Gateway")));
    auto doc = parse(response.body);
    EXPECT_STREQ(doc["type"].GetString(), "message");
    EXPECT_THAT(doc["content"][0]["text"].GetString(), HasSubstr("Mock answer"));
    EXPECT_EQ(fake.messages().size(), 1u) << "no other credential is tried for a bad answer";
  }
}

TEST(ClaudePassThroughForwardsUpstreamGarbageUnchecked, ThroughLlmuxAStreamThatDoesNotOpenWithMessageStartFallsBack) {
  const std::string valid = FakeAnthropic::text_stream({"Bon", "jour"});
  const std::string after_start = valid.substr(valid.find("event: content_block_start"));
  for (const std::string& garbage : {
           std::string("<html><body><h1>502 Bad Gateway</h1></body></html>\n"),
           "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_\n\n" + after_start,
           after_start,
       }) {
    FakeAnthropic fake;
    fake.set_hook([&](const FakeRequest&, FakeExchange& exchange) {
      exchange.begin_chunked(200, {{"Content-Type", "text/event-stream; charset=utf-8"}});
      exchange.chunk(garbage);
      exchange.end_chunked();
      return true;
    });
    TestGateway gateway(with_mock_fallback(config(fake, three_keys(fake))));
    HttpClient client;
    auto response = client.post(gateway.url("/v1/messages"), messages_body(true), anthropic_client());
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.header("x-llmux-provider"), "mock") << "the next step answered";
    EXPECT_THAT(response.body, Not(HasSubstr("Bad Gateway")));
    EXPECT_THAT(response.body, Not(HasSubstr("Bon")));
    const auto events = expect_anthropic_stream(response.body);
    ASSERT_GE(events.size(), 2u);

    // The mock knows the prompt's count before its first delta: message_start
    // carries the final figure, not the host's estimate.
    ChatRequest request;
    ASSERT_FALSE(anthropic::parse_messages_request(messages_body(true), request));
    const std::int64_t estimate = anthropic::estimate_input_tokens(request);
    auto start = parse(events.front().data);
    auto end = parse(events[events.size() - 2].data);
    ASSERT_EQ(events[events.size() - 2].name, "message_delta");
    const std::int64_t opening = start["message"]["usage"]["input_tokens"].GetInt64();
    EXPECT_EQ(opening, end["usage"]["input_tokens"].GetInt64());
    EXPECT_NE(opening, estimate) << "the estimate differs from the mock's count, so the test can tell them apart";
    EXPECT_EQ(fake.messages().size(), 1u);
  }
}

TEST(ClaudePassThroughForwardsUpstreamGarbageUnchecked, ThroughLlmuxAnEventThatIsNotJsonEndsTheStreamWithAnErrorEvent) {
  const std::string valid = FakeAnthropic::text_stream({"Bon", "jour"}, "claude-sonnet-4-5");
  const std::size_t second_delta = valid.find("event: content_block_delta", valid.find("event: content_block_delta") + 1);
  const std::string before = valid.substr(0, second_delta);
  FakeAnthropic fake;
  fake.set_hook([&](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream; charset=utf-8"}});
    exchange.chunk(before);
    exchange.chunk("event: content_block_delta\ndata: <html>oops</html>\n\n");
    exchange.chunk(valid.substr(second_delta));
    exchange.end_chunked();
    return true;
  });
  TestGateway gateway(with_mock_fallback(config(fake, three_keys(fake))));
  HttpClient client;
  auto response = client.post(gateway.url("/v1/messages"), messages_body(true), anthropic_client());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("x-llmux-provider"), "claude") << "committed: no fallback after the first byte";
  std::string expected_start;
  restore_model(Api::Anthropic, before, "claude-sonnet-4-5", expected_start);
  ASSERT_EQ(response.body.substr(0, expected_start.size()), expected_start) << response.body;
  EXPECT_THAT(response.body, Not(HasSubstr("oops")));
  EXPECT_THAT(response.body, Not(HasSubstr("jour"))) << "nothing after the bad event";
  const auto rest = sse_events_of(response.body.substr(expected_start.size()));
  ASSERT_EQ(rest.size(), 1u) << response.body;
  EXPECT_EQ(rest[0].name, "error");
  auto error = parse(rest[0].data);
  EXPECT_STREQ(error["type"].GetString(), "error");
  EXPECT_STREQ(error["error"]["type"].GetString(), "api_error");
  EXPECT_THAT(error["error"]["message"].GetString(), HasSubstr("not valid JSON"));
}

TEST(ClaudeGateway, CountTokensIsExactFromTheUpstream) {
  FakeAnthropic fake;
  TestGateway gateway(config(fake, three_keys(fake)));
  HttpClient client;
  RequestOptions options;
  options.headers = {"anthropic-version: 2023-06-01", "Content-Type: application/json"};
  std::string body = messages_body(false);
  auto response = client.post(gateway.url("/v1/messages/count_tokens"), body, options);
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(fake.count_requests().size(), 1u);
  const std::string sent = fake.count_requests()[0].body;
  EXPECT_THAT(sent, Not(HasSubstr("max_tokens")));
  auto doc = parse(response.body);
  EXPECT_EQ(doc["input_tokens"].GetInt64(), static_cast<std::int64_t>(sent.size() / 4));
}

// ---------------------------------------------------------------------------
// The pool

TEST(ClaudeGateway, RotatesOverThreeTokens) {
  FakeAnthropic fake;
  TestGateway gateway(config(fake, three_keys(fake)));
  HttpClient client;
  for (int i = 0; i < 6; ++i) {
    auto response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
    ASSERT_EQ(response.status, 200) << response.body;
  }
  EXPECT_THAT(credentials_used(fake),
              ::testing::ElementsAre(kKeys[0], kKeys[1], kKeys[2], kKeys[0], kKeys[1], kKeys[2]));
  auto entry = token_entry(gateway, "b");
  ASSERT_TRUE(entry.IsObject());
  EXPECT_EQ(entry["requests"].GetInt(), 2);
  EXPECT_STREQ(entry["state"].GetString(), "active");
}

TEST(ClaudeGateway, RefreshesBeforeExpiryAndOn401) {
  FakeAnthropic fake;
  fake.add_refresh_token("rt-first-000000000001");
  fake.allow("at-first-000000000001");
  TestGateway gateway(config(fake, oauth_entry("max", "at-first-000000000001", "rt-first-000000000001",
                                               now_ms() + 60'000)));  // inside the 5 min skew
  HttpClient client;
  auto response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(fake.grants(), 1u) << "refreshed before use";
  auto used = credentials_used(fake);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_NE(used[0], "at-first-000000000001");
  EXPECT_EQ(fake.messages()[0].header("anthropic-beta"), "oauth-2025-04-20");
  auto grant = parse(fake.token_requests().at(0).body);
  EXPECT_STREQ(grant["refresh_token"].GetString(), "rt-first-000000000001");

  // The access token is revoked upstream: a 401, one refresh, the retry.
  fake.revoke(used[0]);
  response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(fake.grants(), 2u);
  auto second = parse(fake.token_requests().at(1).body);
  EXPECT_STRNE(second["refresh_token"].GetString(), "rt-first-000000000001") << "the rotated refresh token";
  used = credentials_used(fake);
  ASSERT_EQ(used.size(), 3u);
  EXPECT_EQ(used[1], used[0]);
  EXPECT_NE(used[2], used[0]);
  auto entry = token_entry(gateway, "max");
  EXPECT_STREQ(entry["state"].GetString(), "active");
  EXPECT_EQ(entry["refreshes"].GetInt(), 2);
  HttpClient plain;
  std::string tokens = plain.get(gateway.url("/api/tokens")).body;
  EXPECT_THAT(tokens, Not(HasSubstr("rt-first")));
  EXPECT_THAT(tokens, Not(HasSubstr(used[2])));
}

TEST(ClaudeGateway, ARefreshEndpointFailingForOneTokenLeavesTheOthers) {
  FakeAnthropic fake;
  fake.add_refresh_token("rt-good-0000000000001");
  fake.add_refresh_token("rt-flaky-000000000001");
  fake.fail_refresh("rt-flaky-000000000001", 500);
  TestGateway gateway(config(fake, oauth_entry("flaky", "at-flaky-expired-0001", "rt-flaky-000000000001", now_ms() - 1000) +
                                       oauth_entry("good", "at-good-expired-00001", "rt-good-0000000000001", now_ms() - 1000)));
  HttpClient client;
  for (int i = 0; i < 4; ++i) {
    auto response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
    ASSERT_EQ(response.status, 200) << response.body;
  }
  EXPECT_EQ(fake.grants(), 1u) << "the good token refreshed once";
  std::size_t flaky_attempts = 0;
  for (const auto& r : fake.token_requests()) flaky_attempts += r.body.find("rt-flaky") != std::string::npos;
  EXPECT_EQ(flaky_attempts, 1u) << "a failed refresh is not retried at once";
  auto entry = token_entry(gateway, "flaky");
  EXPECT_STREQ(entry["state"].GetString(), "cooldown");
  EXPECT_THAT(entry["last_error"].GetString(), HasSubstr("HTTP 500"));
}

TEST(ClaudeGateway, CooldownOn429HonoursRetryAfter) {
  FakeAnthropic fake;
  std::string creds = three_keys(fake);
  fake.rate_limit(kKeys[0], 1, 1);
  TestGateway gateway(config(fake, creds));
  HttpClient client;
  auto response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(credentials_used(fake), ::testing::ElementsAre(kKeys[0], kKeys[1]));
  auto entry = token_entry(gateway, "a");
  EXPECT_STREQ(entry["state"].GetString(), "cooldown");
  EXPECT_TRUE(entry["cooldown_until"].IsString());
  for (int i = 0; i < 3; ++i) client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
  auto used = credentials_used(fake);
  for (std::size_t i = 2; i < used.size(); ++i) EXPECT_NE(used[i], kKeys[0]);
  std::this_thread::sleep_for(1200ms);
  std::size_t before = used.size();
  for (int i = 0; i < 3; ++i) client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
  used = credentials_used(fake);
  EXPECT_NE(std::find(used.begin() + static_cast<long>(before), used.end(), kKeys[0]), used.end())
      << "back after its retry-after";
  EXPECT_STREQ(token_entry(gateway, "a")["state"].GetString(), "active");
}

TEST(ClaudeGateway, APermanentlyRevokedTokenIsDisabled) {
  FakeAnthropic fake;
  std::string creds = three_keys(fake);
  fake.add_refresh_token("rt-revoked-0000000001");
  fake.revoke_refresh_token("rt-revoked-0000000001");
  creds = oauth_entry("revoked", "at-revoked-00000000001", "rt-revoked-0000000001", now_ms() + 3'600'000) + creds;
  TestGateway gateway(config(fake, creds));
  HttpClient client;
  for (int i = 0; i < 5; ++i) {
    auto response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
    ASSERT_EQ(response.status, 200) << response.body;
  }
  auto used = credentials_used(fake);
  EXPECT_EQ(std::count(used.begin(), used.end(), "at-revoked-00000000001"), 1) << "tried once, never again";
  EXPECT_EQ(fake.token_requests().size(), 1u);
  auto entry = token_entry(gateway, "revoked");
  EXPECT_STREQ(entry["state"].GetString(), "disabled");
  EXPECT_THAT(entry["last_error"].GetString(), HasSubstr("invalid_grant"));
}

TEST(ClaudeGateway, NoUsableTokenFallsBackToTheNextProvider) {
  FakeAnthropic fake;
  fake.rate_limit(kKeys[0], 5, 60);
  fake.allow(kKeys[0]);
  std::string yaml = config(fake, std::string("- {label: only, api_key: ") + kKeys[0] + "}\n");
  yaml.replace(yaml.find("\"claude-*\": [claude]"), 20, "\"claude-*\": [claude, mock]");
  yaml.replace(yaml.find("routes:"), 7, "  mock: {plugin: mock}\nroutes:");
  TestGateway gateway(yaml);
  HttpClient client;
  auto response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("x-llmux-provider"), "mock");
  response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
  EXPECT_EQ(response.header("x-llmux-provider"), "mock");
  EXPECT_EQ(fake.messages().size(), 1u) << "the resting key is not asked again";
}

TEST(ClaudeGateway, ConcurrentRequestsDuringARefreshRefreshOnce) {
  FakeAnthropic fake;
  fake.add_refresh_token("rt-busy-0000000000001");
  fake.set_refresh_delay(400ms);
  TestGateway gateway(config(fake, oauth_entry("busy", "at-busy-expired-00001", "rt-busy-0000000000001", now_ms() - 1000)));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      HttpClient client;
      auto response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
      if (response.status == 200) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(fake.token_requests().size(), 1u);
  EXPECT_EQ(fake.grants(), 1u);
  auto used = credentials_used(fake);
  ASSERT_EQ(used.size(), 6u);
  for (const auto& u : used) EXPECT_EQ(u, used[0]);
}

// ---------------------------------------------------------------------------
// Restarts

TEST(ClaudeGateway, RestartKeepsRefreshedTokens) {
  FakeAnthropic fake;
  fake.add_refresh_token("rt-restart-0000000001");
  TempDir state;
  const std::string creds = oauth_entry("max", "at-restart-expired-01", "rt-restart-0000000001", now_ms() - 1000);
  std::string issued;
  {
    TestGateway gateway(config(fake, creds, "", state.path().string()));
    HttpClient client;
    ASSERT_EQ(client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi")).status, 200);
    ASSERT_EQ(fake.grants(), 1u);
    issued = credentials_used(fake).at(0);
  }
  // The original refresh token is spent: only the stored successor works.
  {
    TestGateway gateway(config(fake, creds, "", state.path().string()));
    HttpClient client;
    ASSERT_EQ(client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi")).status, 200);
    EXPECT_EQ(fake.grants(), 1u) << "the stored access token is still valid";
    EXPECT_EQ(credentials_used(fake).at(1), issued);
    fake.revoke(issued);
    ASSERT_EQ(client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi")).status, 200);
    EXPECT_EQ(fake.grants(), 2u) << "refreshed with the stored, rotated refresh token";
    EXPECT_STREQ(token_entry(gateway, "max")["state"].GetString(), "active");
  }
  // The state file is private.
  for (const auto& entry : std::filesystem::directory_iterator(state.path())) {
    if (entry.path().extension() != ".state") continue;
    auto perms = std::filesystem::status(entry.path()).permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none);
  }
}

TEST(ClaudeGateway, KillNineKeepsRefreshedTokens) {
  FakeAnthropic fake;
  fake.add_refresh_token("rt-kill-0000000000001");
  TempDir dir;
  PluginDir plugins({plugin_dir() / "llmux-claude.so"});
  const std::string creds = oauth_entry("max", "at-kill-expired-00001", "rt-kill-0000000000001", now_ms() - 1000);
  auto config_path = dir.write("providers.yaml", "plugins_dir: " + plugins.path().string() + "\n" +
                                                     config(fake, creds, "", (dir.path() / "state").string()));
  auto start = [&](std::uint16_t& port) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      port = free_port();
      ProcessOptions options;
      options.args = {"--config", config_path.string(), "--listen", "127.0.0.1:" + std::to_string(port)};
      for (const char* name : {"LLMUX_CONFIG", "ANTHROPIC_API_KEY"}) options.env[name] = std::nullopt;
      auto process = std::make_unique<Process>(LLMUX_BINARY, std::move(options));
      if (process->wait_for_stderr("listening on http://127.0.0.1:" + std::to_string(port), 15s)) return process;
    }
    return std::unique_ptr<Process>();
  };
  std::uint16_t port = 0;
  auto first = start(port);
  ASSERT_TRUE(first);
  HttpClient client;
  auto url = [&] { return "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions"; };
  ASSERT_EQ(client.post(url(), chat_body("claude-x", "hi")).status, 200) << first->err();
  ASSERT_EQ(fake.grants(), 1u);
  const std::string issued = credentials_used(fake).at(0);
  first->signal(SIGKILL);
  ASSERT_TRUE(first->wait(5s));

  auto second = start(port);
  ASSERT_TRUE(second);
  HttpClient again;
  ASSERT_EQ(again.post(url(), chat_body("claude-x", "hi")).status, 200) << second->err();
  EXPECT_EQ(fake.grants(), 1u);
  EXPECT_EQ(credentials_used(fake).at(1), issued);
  fake.revoke(issued);
  ASSERT_EQ(again.post(url(), chat_body("claude-x", "hi")).status, 200) << second->err();
  EXPECT_EQ(fake.grants(), 2u) << "the rotated refresh token survived kill -9";
  EXPECT_THAT(second->err(), Not(HasSubstr("rt-kill")));
  EXPECT_THAT(second->err(), Not(HasSubstr("sk-ant-o")));
}


// ---------------------------------------------------------------------------
// Nothing waits for the disk on a thread that serves requests (issue 14)

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Waits (bounded) until `file` holds `needle`.
bool file_comes_to_hold(const std::filesystem::path& file, const std::string& needle) {
  for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
    if (read_text(file).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

host::ServerOptions one_io_thread() {
  host::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  return options;
}

// Regression: a 429's cooldown was written and fsynced on the thread that
// delivers HTTP answers (an I/O thread once each loop runs its own
// transfers), so a slow disk held every request behind it. The write now
// goes to the state store's thread: with it held on its way to disk, the
// request that met the 429 and the next one are answered.
TEST(ClaudeGateway, ACooldownWriteHeldOnItsWayToDiskHoldsNoRequest) {
  FakeAnthropic fake;
  const std::string creds = three_keys(fake);
  fake.rate_limit(kKeys[0], 1, 30);
  TempDir state;
  HeldWrites held("credential-a");
  TestGateway gateway(config(fake, creds, "", state.path().string()), one_io_thread());
  HttpClient client;
  auto response = client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi"));
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_TRUE(held.wait_held()) << "the cooldown is written";
  EXPECT_TRUE(held.holding()) << "answered before the write was released";
  EXPECT_EQ(client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi")).status, 200);
  EXPECT_EQ(client.post(gateway.url("/v1/messages"), messages_body(false)).status, 200);
  EXPECT_TRUE(held.holding());
  held.release();
  // Durable once released: the record holds the cooldown.
  const auto file = state.path() / "claude--credential-a.state";
  EXPECT_TRUE(file_comes_to_hold(file, "\"cooldown_until\":")) << read_text(file);
  EXPECT_THAT(read_text(file), Not(HasSubstr("\"cooldown_until\":0")));
}

// The other side of handing the write over: the requests that waited for a
// refresh go on only once its rotated refresh token is on disk (kill -9 right
// after the answer keeps it: KillNineKeepsRefreshedTokens).
TEST(ClaudeGateway, ARefreshedTokenIsUsedOnlyOnceItIsDurable) {
  FakeAnthropic fake;
  fake.add_refresh_token("rt-durable-0000000001");
  TempDir state;
  TestGateway gateway(config(fake, oauth_entry("max", "at-durable-expired-01", "rt-durable-0000000001", now_ms() - 1000),
                             "", state.path().string()),
                      one_io_thread());
  HeldWrites held("credential-max");
  HttpClient client;
  auto answer = std::async(std::launch::async, [&] {
    return client.post(gateway.url("/v1/chat/completions"), chat_body("claude-x", "hi")).status;
  });
  ASSERT_TRUE(held.wait_held()) << "the refreshed tokens are written";
  EXPECT_EQ(fake.grants(), 1u);
  EXPECT_TRUE(fake.messages().empty()) << "no request with the new access token before it is durable";
  // Meanwhile the I/O thread serves others.
  HttpClient other;
  EXPECT_EQ(other.get(gateway.url("/v1/models")).status, 200);
  EXPECT_EQ(answer.wait_for(0ms), std::future_status::timeout);
  held.release();
  ASSERT_EQ(answer.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(answer.get(), 200);
  EXPECT_THAT(read_text(state.path() / "claude--credential-max.state"),
              HasSubstr(fake.current_refresh("rt-durable-0000000001")));
}

}  // namespace
}  // namespace llmux::test
