// The openai and g4f plugins through a live llmux (TestGateway) in front of a
// scripted upstream (FakeUpstream): what the client sees (status, error shape,
// x-llmux-provider, a stream well-formed to [DONE]) and what the upstream got
// (path, Authorization, stream_options, pass-through members, renamed model).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "llmux/codec/raw_answer.h"
#include "llmux/json.h"
#include "services/log.h"
#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/openai_wire.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kKey = "sk-live-test-key-0000000001";
constexpr const char* kKeyOne = "sk-live-first-key-00000000K1";
constexpr const char* kKeyTwo = "sk-live-second-key-0000000K2";

// ---------------------------------------------------------------------------
// Config

// One provider entry under `providers:`. No host retries or cooldown, so each
// client request is exactly one upstream request.
std::string provider_entry(const std::string& name, const std::string& plugin, const std::string& base_url,
                           const std::string& options) {
  return "  " + name + ":\n    plugin: " + plugin +
         "\n    retry: {attempts: 0}\n    cooldown: {after_failures: 0}\n    options:\n      base_url: " + base_url +
         "\n" + indent(options, 6);
}

std::string openai_entry(const std::string& name, const std::string& base_url, const std::string& extra = "",
                         const std::string& keys = std::string("api_key: ") + kKey) {
  return provider_entry(name, "openai", base_url, keys + "\nmodels: [gpt-test]\n" + extra);
}

std::string config(const std::string& providers, const std::string& routes) {
  return "providers:\n" + providers + "routes:\n" + indent(routes, 2);
}

// The usual: one openai provider `up` on the fake upstream, routes gpt-test and renamed.
std::string single(const FakeUpstream& upstream, const std::string& extra = "") {
  return config(openai_entry("up", upstream.url("/v1"), extra),
                "gpt-test: [up]\nrenamed:\n  - provider: up\n    model: upstream-model\n");
}

// ---------------------------------------------------------------------------
// Helpers

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text.substr(0, 500);
  return doc;
}

std::vector<FakeRequest> chat_requests(const FakeUpstream& upstream) {
  std::vector<FakeRequest> out;
  for (auto& r : upstream.requests()) {
    if (r.path.find("/chat/completions") != std::string::npos) out.push_back(std::move(r));
  }
  return out;
}

std::string error_message(const HttpResponse& response) {
  auto doc = parse(response.body);
  if (!doc.IsObject() || !doc.HasMember("error") || !doc["error"].IsObject() || !doc["error"].HasMember("message")) {
    ADD_FAILURE() << "not an error object: " << response.body;
    return {};
  }
  return doc["error"]["message"].GetString();
}

// Checks the framing of a streamed answer: every data line is JSON but the
// last, which is [DONE]; returns the payloads.
std::vector<std::string> well_formed_stream(const HttpResponse& response) {
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(response.header("content-type"), HasSubstr("text/event-stream"));
  auto data = sse_data(response.body);
  EXPECT_FALSE(data.empty());
  if (data.empty()) return data;
  EXPECT_EQ(data.back(), "[DONE]") << response.body;
  for (std::size_t i = 0; i + 1 < data.size(); ++i) {
    rapidjson::Document doc;
    doc.Parse(data[i].c_str(), data[i].size());
    EXPECT_FALSE(doc.HasParseError()) << data[i];
  }
  return data;
}

bool has_error_event(const std::vector<std::string>& data) {
  for (const auto& d : data) {
    if (d.rfind("{\"error\"", 0) == 0) return true;
  }
  return false;
}

std::vector<std::string> finish_reasons(const std::vector<std::string>& data) {
  std::vector<std::string> out;
  for (const auto& d : data) {
    if (d == "[DONE]") continue;
    rapidjson::Document doc;
    doc.Parse(d.c_str(), d.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("choices") || !doc["choices"].IsArray()) continue;
    for (const auto& c : doc["choices"].GetArray()) {
      if (c.HasMember("finish_reason") && c["finish_reason"].IsString()) out.push_back(c["finish_reason"].GetString());
    }
  }
  return out;
}

// A loopback port where nothing listens.
std::uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Captures the process log for the test's duration.
class LogCapture {
 public:
  LogCapture() {
    host::Log::set_capture([this](LogLevel, std::string_view line) {
      std::lock_guard lock(mu_);
      text_.append(line).push_back('\n');
    });
  }
  ~LogCapture() { host::Log::set_capture(nullptr); }
  std::string text() const {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

// ---------------------------------------------------------------------------
// Answers

TEST(OpenAIGateway, JsonAnswerAndWhatTheUpstreamGot) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(
      gw.url("/v1/chat/completions"),
      chat_body("gpt-test", "hello", false,
                R"("user":"u-42","metadata":{"trace":"t-1"},"logit_bias":{"50256":-100},"temperature":0.5)"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("x-llmux-provider"), "up");
  auto doc = parse(response.body);
  EXPECT_STREQ(doc["object"].GetString(), "chat.completion");
  EXPECT_STREQ(doc["choices"][0]["message"]["content"].GetString(), "Hello world");
  EXPECT_STREQ(doc["choices"][0]["finish_reason"].GetString(), "stop");
  EXPECT_EQ(doc["usage"]["prompt_tokens"].GetInt(), 9);
  EXPECT_EQ(doc["usage"]["completion_tokens"].GetInt(), 2);

  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  const FakeRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/v1/chat/completions");
  EXPECT_EQ(r.header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_THAT(r.header("content-type"), HasSubstr("application/json"));
  EXPECT_EQ(r.header("accept"), "application/json");
  auto body = parse(r.body);
  EXPECT_STREQ(body["model"].GetString(), "gpt-test");
  EXPECT_FALSE(body.HasMember("stream") && body["stream"].IsTrue());
  EXPECT_FALSE(body.HasMember("stream_options"));
  EXPECT_DOUBLE_EQ(body["temperature"].GetDouble(), 0.5);
  // Unknown members pass through untouched.
  EXPECT_THAT(r.body, HasSubstr(R"("user":"u-42")"));
  EXPECT_THAT(r.body, HasSubstr(R"("metadata":{"trace":"t-1"})"));
  EXPECT_THAT(r.body, HasSubstr(R"("logit_bias":{"50256":-100})"));
}

TEST(OpenAIGateway, RouteStepRenamesTheModel) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("renamed", "hello"));
  ASSERT_EQ(response.status, 200) << response.body;
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_STREQ(parse(requests[0].body)["model"].GetString(), "upstream-model");
}

class OpenAIStreamUsage : public ::testing::TestWithParam<bool> {};

// The re-rendered path (passthrough off): parsed, rendered again, usage always
// asked upstream and shown only when the client asked.
TEST_P(OpenAIStreamUsage, SseAnswerRelayedWithUsageOnlyWhenAsked) {
  const bool include_usage = GetParam();
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
  TestGateway gw(single(upstream, "passthrough: false"));
  HttpClient client;
  auto response = client.post(
      gw.url("/v1/chat/completions"),
      chat_body("gpt-test", "hello", true,
                std::string(R"("stream_options":{"include_usage":)") + (include_usage ? "true" : "false") +
                    R"(},"seed":7,"x_custom":[1,2])"));
  auto data = well_formed_stream(response);
  EXPECT_EQ(response.header("x-llmux-provider"), "up");
  EXPECT_EQ(sse_content(response.body), "Hello world");
  EXPECT_FALSE(has_error_event(data)) << response.body;
  EXPECT_THAT(finish_reasons(data), ElementsAre("stop"));
  ASSERT_GE(data.size(), 3u);
  EXPECT_THAT(data.front(), HasSubstr(R"("role":"assistant")"));
  bool usage_seen = false;
  for (const auto& d : data) {
    if (d == "[DONE]") continue;
    auto doc = parse(d);
    if (doc.HasMember("usage") && doc["usage"].IsObject()) {
      usage_seen = true;
      EXPECT_EQ(doc["usage"]["prompt_tokens"].GetInt(), 9);
      EXPECT_EQ(doc["usage"]["completion_tokens"].GetInt(), 2);
      EXPECT_EQ(doc["usage"]["total_tokens"].GetInt(), 11);
      EXPECT_TRUE(doc["choices"].IsArray() && doc["choices"].Empty());
    }
  }
  EXPECT_EQ(usage_seen, include_usage) << response.body;

  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("accept"), "text/event-stream");
  auto body = parse(requests[0].body);
  EXPECT_TRUE(body["stream"].IsTrue());
  ASSERT_TRUE(body.HasMember("stream_options")) << requests[0].body;
  EXPECT_TRUE(body["stream_options"]["include_usage"].IsTrue()) << "usage is always asked upstream";
  EXPECT_EQ(body["seed"].GetInt(), 7);
  EXPECT_THAT(requests[0].body, HasSubstr(R"("x_custom":[1,2])"));
}

INSTANTIATE_TEST_SUITE_P(OpenAIClient, OpenAIStreamUsage, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Asked" : "NotAsked"; });

// Two tool calls, their arguments in fragments.
std::vector<std::string> tool_stream() {
  return {
      kRoleChunk,
      stream_chunk(R"({"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a1","type":"function",)"
                   R"("function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null})"),
      stream_chunk(R"({"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},)"
                   R"("logprobs":null,"finish_reason":null})"),
      stream_chunk(R"({"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Paris\"}"}}]},)"
                   R"("logprobs":null,"finish_reason":null})"),
      stream_chunk(R"({"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b2","type":"function",)"
                   R"("function":{"name":"get_time","arguments":""}}]},"logprobs":null,"finish_reason":null})"),
      stream_chunk(R"({"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"tz\":"}}]},)"
                   R"("logprobs":null,"finish_reason":null})"),
      stream_chunk(R"({"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"CET\"}"}}]},)"
                   R"("logprobs":null,"finish_reason":null})"),
      finish_chunk("tool_calls"),
      kUsageChunk,
      "data: [DONE]\n\n",
  };
}

const char* kToolsMember =
    R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},)"
    R"({"type":"function","function":{"name":"get_time","parameters":{"type":"object"}}}],"tool_choice":"auto")";

TEST(OpenAIGateway, ToolCallStreamReachesTheClient) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, tool_stream()); });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "weather?", true, kToolsMember));
  auto data = well_formed_stream(response);
  struct Call {
    std::string id, name, arguments;
  };
  std::map<int, Call> calls;
  for (const auto& d : data) {
    if (d == "[DONE]") continue;
    auto doc = parse(d);
    if (!doc.HasMember("choices") || doc["choices"].Empty()) continue;
    const auto& delta = doc["choices"][0]["delta"];
    if (!delta.IsObject() || !delta.HasMember("tool_calls")) continue;
    for (const auto& tc : delta["tool_calls"].GetArray()) {
      Call& call = calls[tc["index"].GetInt()];
      if (tc.HasMember("id")) call.id += tc["id"].GetString();
      if (tc.HasMember("function")) {
        const auto& fn = tc["function"];
        if (fn.HasMember("name")) call.name += fn["name"].GetString();
        if (fn.HasMember("arguments")) call.arguments += fn["arguments"].GetString();
      }
    }
  }
  ASSERT_EQ(calls.size(), 2u) << response.body;
  EXPECT_EQ(calls[0].id, "call_a1");
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(calls[0].arguments, R"({"city": "Paris"})");
  EXPECT_EQ(calls[1].id, "call_b2");
  EXPECT_EQ(calls[1].name, "get_time");
  EXPECT_EQ(calls[1].arguments, R"({"tz":"CET"})");
  EXPECT_THAT(finish_reasons(data), ElementsAre("tool_calls"));
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(parse(requests[0].body)["tools"].Size(), 2u);
}

TEST(OpenAIGateway, NonStreamClientGetsAnUpstreamStreamWhole) {
  // Some servers stream whatever was asked: the answer is collected.
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, tool_stream()); });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "weather?", false, kToolsMember));
  ASSERT_EQ(response.status, 200) << response.body;
  auto doc = parse(response.body);
  const auto& calls = doc["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.Size(), 2u) << response.body;
  EXPECT_STREQ(calls[0]["function"]["arguments"].GetString(), R"({"city": "Paris"})");
  EXPECT_STREQ(calls[1]["function"]["name"].GetString(), "get_time");
  EXPECT_STREQ(doc["choices"][0]["finish_reason"].GetString(), "tool_calls");
}

TEST(OpenAIGateway, StreamRequestAnsweredWithJsonIsStreamedToTheClient) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
  auto data = well_formed_stream(response);
  EXPECT_EQ(sse_content(response.body), "Hello world");
  EXPECT_THAT(finish_reasons(data), ElementsAre("stop"));
}

TEST(OpenAIGateway, TenMegabyteJsonAnswerArrivesIntact) {
  std::string content;
  content.reserve(10u << 20);
  for (std::size_t i = 0; content.size() < (10u << 20); ++i) content += "line " + std::to_string(i) + " \xC3\xA9t\xC3\xA9\n";
  std::string quoted;
  json::append_quoted(quoted, content);
  std::string body = R"({"id":"chatcmpl-big","object":"chat.completion","created":1,"model":"gpt-test",)"
                     R"("choices":[{"index":0,"message":{"role":"assistant","content":)" +
                     quoted + R"(},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":2}})";
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, body); });
  TestGateway gw(single(upstream));
  HttpClient client;
  RequestOptions options;
  options.timeout = 30s;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "big"), options);
  ASSERT_EQ(response.status, 200) << response.body.substr(0, 300);
  auto doc = parse(response.body);
  const auto& got = doc["choices"][0]["message"]["content"];
  ASSERT_TRUE(got.IsString());
  EXPECT_EQ(got.GetStringLength(), content.size());
  EXPECT_TRUE(std::string(got.GetString(), got.GetStringLength()) == content);
  EXPECT_STREQ(doc["choices"][0]["finish_reason"].GetString(), "length");
}

// ---------------------------------------------------------------------------
// Upstream errors

TEST(OpenAIGateway, UnauthorizedKeyIsSetAsideAndNeverShown) {
  LogCapture log;
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.header("authorization") == std::string("Bearer ") + kKeyOne) {
      // Echoes the key, as some servers do.
      send_json(exchange,
                std::string(R"({"error":{"message":"Incorrect API key provided: )") + kKeyOne +
                    R"(. You can find your API key at https://platform.openai.com/account/api-keys.",)"
                    R"("type":"invalid_request_error","param":null,"code":"invalid_api_key"}})",
                401);
      return;
    }
    send_json(exchange, kCompletionJson);
  });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1"), "",
                                     std::string("api_keys:\n  - ") + kKeyOne + "\n  - " + kKeyTwo),
                        "gpt-test: [up]\n"));
  HttpClient client;
  auto first = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "one"));
  EXPECT_EQ(first.status, 401) << first.body;
  EXPECT_THAT(error_message(first), HasSubstr("Incorrect API key provided"));
  auto doc = parse(first.body);
  EXPECT_STREQ(doc["error"]["code"].GetString(), "invalid_api_key");
  auto second = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "two"));
  auto third = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "three"));
  EXPECT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(third.status, 200) << third.body;

  std::vector<std::string> auth;
  for (const auto& r : chat_requests(upstream)) auth.push_back(r.header("authorization"));
  EXPECT_THAT(auth, ElementsAre(std::string("Bearer ") + kKeyOne, std::string("Bearer ") + kKeyTwo,
                                std::string("Bearer ") + kKeyTwo));

  for (const auto* key : {kKeyOne, kKeyTwo}) {
    for (const auto* response : {&first, &second, &third}) {
      EXPECT_THAT(response->body, Not(HasSubstr(key)));
      for (const auto& [name, value] : response->headers) EXPECT_THAT(value, Not(HasSubstr(key)));
    }
    EXPECT_THAT(log.text(), Not(HasSubstr(key)));
  }
  EXPECT_THAT(log.text(), HasSubstr("key #1 (\xE2\x80\xA6" "00K1) rejected with 401; set aside"));
}

TEST(OpenAIGateway, NoUsableKeyLeftFailsWithoutAskingTheUpstream) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, R"({"error":{"message":"Invalid token","type":"invalid_request_error","code":"invalid_api_key"}})",
              401);
  });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1")) + "  mock:\n    plugin: mock\n",
                        "gpt-test: [up]\nchained: [up, mock]\n"));
  HttpClient client;
  auto first = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "one"));
  EXPECT_EQ(first.status, 401) << first.body;
  EXPECT_THAT(error_message(first), HasSubstr("Invalid token"));
  auto second = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "two"));
  EXPECT_EQ(second.status, 503) << second.body;
  EXPECT_THAT(error_message(second), HasSubstr("all 1 key(s) got HTTP 401; next probe in 60 s"));
  // The host skips a provider that reports itself unauthorized (ProviderCondition).
  EXPECT_STREQ(parse(second.body)["error"]["code"].GetString(), "provider_unauthorized");
  EXPECT_EQ(chat_requests(upstream).size(), 1u);
  // A chain moves on to the next provider.
  auto chained = client.post(gw.url("/v1/chat/completions"), chat_body("chained", "three"));
  EXPECT_EQ(chained.status, 200) << chained.body;
  EXPECT_EQ(chained.header("x-llmux-provider"), "mock");
}

TEST(OpenAIGateway, RateLimitWithRetryAfterKeepsStatusAndMessage) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange,
              R"({"error":{"message":"Rate limit reached for gpt-test in organization org-x on requests per min (RPM): Limit 3, Used 3.","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
              429, {{"Retry-After", "20"}, {"x-ratelimit-remaining-requests", "0"}});
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello"));
  EXPECT_EQ(response.status, 429) << response.body;
  EXPECT_THAT(error_message(response), HasSubstr("Rate limit reached for gpt-test"));
  EXPECT_STREQ(parse(response.body)["error"]["code"].GetString(), "rate_limit_exceeded");
}

TEST(OpenAIGateway, ServerErrorsReachTheClient) {
  for (int status : {500, 503}) {
    SCOPED_TRACE(status);
    FakeUpstream upstream([status](const FakeRequest&, FakeExchange& exchange) {
      if (status == 500) {
        send_json(exchange,
                  R"({"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}})",
                  500);
      } else {
        exchange.respond(503, {{"Content-Type", "text/plain"}}, "upstream connect error or disconnect/reset before headers");
      }
    });
    TestGateway gw(single(upstream));
    HttpClient client;
    auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello"));
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_THAT(error_message(response), HasSubstr(status == 500 ? "The server had an error" : "disconnect/reset"));
    auto streamed = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
    EXPECT_EQ(streamed.status, status) << "nothing was committed: a plain error answer";
  }
}

TEST(OpenAIGateway, InvalidJsonMidStreamEndsWithAnErrorThenDone) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(kRoleChunk + content_chunk("Hel"));
    exchange.sleep(50ms);
    exchange.chunk("data: {\"id\":\"chatcmpl-x\",\"choices\":[{\"delta\":{\"content\":\"lo\"}\n\n");
    exchange.sleep(2s);  // keeps the connection; llmux should not wait for it
    exchange.end_chunked();
  });
  TestGateway gw(single(upstream, "passthrough: false"));  // pass-through does not validate frames
  HttpClient client;
  auto started = std::chrono::steady_clock::now();
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
  auto data = well_formed_stream(response);
  EXPECT_EQ(sse_content(response.body), "Hel");
  ASSERT_GE(data.size(), 2u);
  EXPECT_THAT(data[data.size() - 2], HasSubstr("invalid JSON")) << response.body;
  EXPECT_TRUE(finish_reasons(data).empty());
}

// ---------------------------------------------------------------------------
// Pass-through (OpenAI in, OpenAI upstream): the client's body goes up with only
// the model renamed (and usage asked for on a stream); the answer comes back
// byte for byte, checked, without the usage chunk nobody asked for.
//
// The model name: the plugin forwards the upstream's bytes as they are and
// the host puts the client's name back (llmux::restore_model). The checks
// below compare answers after restore_model on both sides, so they hold
// whether or not the host has renamed already (HOST: until the host calls
// restore_model on Raw answers the client sees the upstream's name; the
// plugin-level tests in openai_passthrough_test.cc pin the raw bytes).

std::string with_model(std::string text, const std::string& from, const std::string& to) {
  std::string needle = "\"model\":\"" + from + "\"";
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at)) {
    text.replace(at, needle.size(), "\"model\":\"" + to + "\"");
  }
  return text;
}

// `bytes` (an answer) with the model named `model`, as restore_model makes it.
std::string named(const std::string& bytes, const std::string& model) {
  std::string out;
  restore_model(Api::OpenAIChat, bytes, model, out);
  return out;
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string all;
  for (const auto& piece : pieces) all += piece;
  return all;
}

TEST(OpenAIPassThrough, JsonBodyAndAnswerPassUntouchedButTheModel) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  TestGateway gw(single(upstream));
  HttpClient client;
  // Spacing, member order and unknown members as a Python client writes them.
  const std::string sent =
      R"({"model": "renamed", "messages": [{"role": "user", "content": "hello"}], "temperature": 0.5, )"
      R"("user": "u-42", "metadata": {"trace": "t-1"}, "logit_bias": {"50256": -100}})";
  auto response = client.post(gw.url("/v1/chat/completions"), sent);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(named(response.body, "renamed"), with_model(kCompletionJson, "gpt-test-2024-08-06", "renamed"))
      << "the upstream's answer, with the name the client asked for";
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  std::string expected = sent;
  expected.replace(expected.find("\"renamed\""), 9, "\"upstream-model\"");
  EXPECT_EQ(requests[0].body, expected);
}

TEST(OpenAIPassThrough, StreamFramesPassUntouchedButTheUsageChunkNobodyAskedFor) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
  TestGateway gw(single(upstream));
  HttpClient client;
  const std::string sent = chat_body("gpt-test", "hello", true);
  auto response = client.post(gw.url("/v1/chat/completions"), sent);
  auto data = well_formed_stream(response);
  EXPECT_EQ(sse_content(response.body), "Hello world");
  EXPECT_THAT(finish_reasons(data), ElementsAre("stop"));
  std::string without_usage = joined(hello_stream());
  without_usage.erase(without_usage.find(kUsageChunk), kUsageChunk.size());
  EXPECT_EQ(named(response.body, "gpt-test"), with_model(without_usage, "gpt-test-2024-08-06", "gpt-test"));
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  std::string asked = sent;
  asked.insert(asked.rfind('}'), R"(,"stream_options":{"include_usage":true})");
  EXPECT_EQ(requests[0].body, asked) << "the client's own body, asking for usage";
  EXPECT_EQ(requests[0].header("accept"), "text/event-stream");
}

TEST(OpenAIPassThrough, UsageChunkAndStreamOptionsKeptWhenTheClientAsked) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
  TestGateway gw(single(upstream));
  HttpClient client;
  const std::string sent =
      chat_body("gpt-test", "hello", true, R"("stream_options": {"include_usage": true, "x_stats": 1})");
  auto response = client.post(gw.url("/v1/chat/completions"), sent);
  well_formed_stream(response);
  EXPECT_EQ(named(response.body, "gpt-test"), with_model(joined(hello_stream()), "gpt-test-2024-08-06", "gpt-test"));
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, sent) << "already asked: the body goes up as the client wrote it";
}

TEST(OpenAIPassThrough, EventsSplitAnywhereArriveWhole) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    std::string all = joined(hello_stream());
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    for (std::size_t at = 0; at < all.size(); at += 7) {
      exchange.chunk(all.substr(at, 7));
      if (at % 140 == 0) exchange.sleep(2ms);
    }
    exchange.end_chunked();
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
  auto data = well_formed_stream(response);
  EXPECT_EQ(sse_content(response.body), "Hello world");
  EXPECT_THAT(finish_reasons(data), ElementsAre("stop"));
  EXPECT_THAT(response.body, Not(HasSubstr("\"usage\":{"))) << "the usage chunk is taken out whatever the split";
}

TEST(OpenAIPassThrough, CrlfFramingAndCommentsPassThrough) {
  auto crlf = [](const std::string& event) { return event.substr(0, event.size() - 2) + "\r\n\r\n"; };
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
    std::string all = ": keep-alive\r\n\r\n";
    for (const auto& piece : hello_stream()) all += crlf(piece);
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(all.substr(0, all.size() / 2));
    exchange.chunk(all.substr(all.size() / 2));
    exchange.end_chunked();
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
  ASSERT_EQ(response.status, 200);
  std::string expected = ": keep-alive\r\n\r\n";
  for (const auto& piece : hello_stream()) {
    if (piece != kUsageChunk) expected += crlf(piece);
  }
  EXPECT_EQ(named(response.body, "gpt-test"), with_model(expected, "gpt-test-2024-08-06", "gpt-test"));
}

// Defect: pass-through forwarded upstream garbage unchecked (a broken body
// with status 200, garbage data: frames).

TEST(OpenAIPassThrough, InvalidJsonBodyFromUpstreamFallsBack) {
  const std::string cut = std::string(kCompletionJson).substr(0, 120);
  const std::string no_choices = R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-test","choices":[]})";
  for (const std::string& broken : {cut, no_choices, std::string("<html>502 Bad Gateway</html>")}) {
    SCOPED_TRACE(broken);
    FakeUpstream bad([&](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, broken); });
    FakeUpstream good([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
    TestGateway gw(config(openai_entry("bad", bad.url("/v1")) + openai_entry("good", good.url("/v1")),
                          "gpt-test: [bad, good]\nalone: [bad]\n"));
    HttpClient client;
    auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello"));
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.header("x-llmux-provider"), "good");
    EXPECT_EQ(named(response.body, "gpt-test"), with_model(kCompletionJson, "gpt-test-2024-08-06", "gpt-test"));

    auto alone = client.post(gw.url("/v1/chat/completions"), chat_body("alone", "hello"));
    EXPECT_EQ(alone.status, 502) << alone.body;
    EXPECT_THAT(error_message(alone), HasSubstr("openai provider 'bad': the upstream's answer is not"));
    EXPECT_THAT(alone.body, Not(HasSubstr(broken)));
  }
}

TEST(OpenAIPassThrough, GarbageFirstStreamFrameFallsBack) {
  for (const std::string& garbage : {std::string("data: <html>oops</html>\n\n"),
                                     std::string("data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":\n\n"),
                                     std::string("data: [1,2]\n\n")}) {
    SCOPED_TRACE(garbage);
    FakeUpstream bad([&](const FakeRequest&, FakeExchange& exchange) {
      send_stream(exchange, {": hello\n\n", garbage, content_chunk("never"), "data: [DONE]\n\n"});
    });
    FakeUpstream good([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
    TestGateway gw(config(openai_entry("bad", bad.url("/v1")) + openai_entry("good", good.url("/v1")),
                          "gpt-test: [bad, good]\n"));
    HttpClient client;
    auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
    auto data = well_formed_stream(response);
    EXPECT_EQ(response.header("x-llmux-provider"), "good");
    EXPECT_EQ(sse_content(response.body), "Hello world");
    EXPECT_THAT(response.body, Not(HasSubstr(": hello"))) << "nothing of the failed attempt reaches the client";
  }
}

TEST(OpenAIPassThrough, GarbageFrameMidStreamIsNotForwardedAndEndsTheStream) {
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(kRoleChunk + content_chunk("Hel"));
    exchange.chunk("data: {\"id\":\"x\",\"choices\":[{\"delta\":\n\n");
    exchange.chunk(content_chunk("lo"));
    exchange.stall_until_client_closes(10s);  // llmux stops reading at the garbage and hangs up
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
  auto data = well_formed_stream(response);  // every frame JSON, [DONE] last
  EXPECT_EQ(sse_content(response.body), "Hel");
  EXPECT_THAT(response.body, Not(HasSubstr("{\"delta\":\n")));
  ASSERT_GE(data.size(), 2u);
  EXPECT_THAT(data[data.size() - 2], HasSubstr("openai provider 'up': upstream sent a stream frame that is not valid JSON"));
  int errors = 0;
  for (const auto& d : data) errors += d.rfind("{\"error\"", 0) == 0;
  EXPECT_EQ(errors, 1) << response.body;
  EXPECT_TRUE(upstream.wait_for_client_close(0, 5s)) << "llmux kept reading the upstream after the garbage";
}

// Defect: after an upstream error mid-stream the pass-through sent two
// terminal error events (the upstream's frame forwarded, then llmux's own for
// the missing [DONE]).
TEST(OpenAIPassThrough, UpstreamErrorMidStreamGivesExactlyOneErrorThenDone) {
  const std::string error_frame =
      "data: {\"error\":{\"message\":\"The model is overloaded\",\"type\":\"server_error\",\"param\":null,"
      "\"code\":\"overloaded\"}}\n\n";
  for (bool upstream_sends_done : {false, true}) {
    SCOPED_TRACE(upstream_sends_done);
    FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
      std::vector<std::string> pieces = {kRoleChunk, content_chunk("Hel"), error_frame};
      if (upstream_sends_done) pieces.push_back("data: [DONE]\n\n");
      send_stream(exchange, pieces);
    });
    TestGateway gw(single(upstream));
    HttpClient client;
    auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
    auto data = well_formed_stream(response);
    EXPECT_EQ(sse_content(response.body), "Hel");
    int errors = 0, dones = 0;
    for (const auto& d : data) {
      errors += d.rfind("{\"error\"", 0) == 0;
      dones += d == "[DONE]";
    }
    EXPECT_EQ(errors, 1) << response.body;
    EXPECT_EQ(dones, 1) << response.body;
    ASSERT_GE(data.size(), 2u);
    auto error = parse(data[data.size() - 2]);
    ASSERT_TRUE(error.HasMember("error")) << response.body;
    EXPECT_STREQ(error["error"]["message"].GetString(), "The model is overloaded");
    EXPECT_STREQ(error["error"]["code"].GetString(), "overloaded");
  }
}

TEST(OpenAIPassThrough, ErrorAsTheFirstEventStillFallsBack) {
  FakeUpstream failing([](const FakeRequest&, FakeExchange& exchange) {
    send_stream(exchange, {"data: {\"error\":{\"message\":\"overloaded, try later\",\"type\":\"server_error\"}}\n\n"});
  });
  FakeUpstream good([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
  TestGateway gw(config(openai_entry("bad", failing.url("/v1")) + openai_entry("good", good.url("/v1")),
                        "gpt-test: [bad, good]\n"));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
  auto data = well_formed_stream(response);
  EXPECT_EQ(response.header("x-llmux-provider"), "good");
  EXPECT_EQ(sse_content(response.body), "Hello world");
  EXPECT_THAT(response.body, Not(HasSubstr("overloaded")));
}

TEST(OpenAIPassThrough, StepParametersAndNonOpenAIBodiesAreRendered) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1")),
                        "gpt-test:\n  - provider: up\n    params: {user: from-route}\n"));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"),
                              R"({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_EQ(response.status, 200) << response.body;
  auto doc = parse(response.body);
  EXPECT_STREQ(doc["model"].GetString(), "gpt-test");
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0].body, HasSubstr(R"("user":"from-route")")) << "rendered with the route's member";
}

TEST(OpenAIGateway, CutMidStreamIsAnErrorNotASilentFinish) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(kRoleChunk + content_chunk("Hello"));
    exchange.sleep(50ms);
    exchange.close();
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
  auto data = well_formed_stream(response);
  EXPECT_EQ(sse_content(response.body), "Hello");
  EXPECT_TRUE(has_error_event(data)) << response.body;
  EXPECT_TRUE(finish_reasons(data).empty()) << response.body;
}

TEST(OpenAIGateway, CleanCloseWithoutFinishIsAnErrorToo) {
  // A complete HTTP response whose stream never finished (no finish_reason, no [DONE]).
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_stream(exchange, {kRoleChunk, content_chunk("Hello")});
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
  auto data = well_formed_stream(response);
  EXPECT_TRUE(has_error_event(data)) << response.body;
  EXPECT_TRUE(finish_reasons(data).empty()) << response.body;
}

TEST(OpenAIGateway, StallBeyondIdleTimeoutIsAnError) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(kRoleChunk + content_chunk("Hello"));
    exchange.sleep(5s);
    exchange.close();
  });
  TestGateway gw(single(upstream, "idle_timeout: 300ms"));
  HttpClient client;
  auto started = std::chrono::steady_clock::now();
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true));
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 3s);
  auto data = well_formed_stream(response);
  EXPECT_EQ(sse_content(response.body), "Hello");
  ASSERT_TRUE(has_error_event(data)) << response.body;
  EXPECT_THAT(response.body, HasSubstr("idle timeout"));
}

TEST(OpenAIGateway, SlowFirstByteIsA504) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    if (!exchange.sleep(3s)) return;
    send_json(exchange, kCompletionJson);
  });
  TestGateway gw(single(upstream, "first_byte_timeout: 300ms"));
  HttpClient client;
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream);
    auto started = std::chrono::steady_clock::now();
    auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", stream));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
    EXPECT_EQ(response.status, 504) << response.body;
    EXPECT_THAT(error_message(response), HasSubstr("first-byte timeout"));
  }
}

TEST(OpenAIGateway, ConnectionRefusedFailsFastAndFallsBack) {
  std::string dead = "http://127.0.0.1:" + std::to_string(unused_port()) + "/v1";
  TestGateway gw(config(openai_entry("dead", dead) + "  mock:\n    plugin: mock\n    options:\n      reply: from mock\n",
                        "gpt-test: [dead]\nchained: [dead, mock]\n"));
  HttpClient client;
  auto started = std::chrono::steady_clock::now();
  auto alone = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(alone.status, 502) << alone.body;
  EXPECT_THAT(error_message(alone), HasSubstr("openai provider 'dead'"));
  EXPECT_STREQ(parse(alone.body)["error"]["code"].GetString(), "upstream_unreachable");

  for (bool stream : {false, true}) {
    auto chained = client.post(gw.url("/v1/chat/completions"), chat_body("chained", "hello", stream));
    EXPECT_EQ(chained.status, 200) << chained.body;
    EXPECT_EQ(chained.header("x-llmux-provider"), "mock");
    if (stream) {
      well_formed_stream(chained);
      EXPECT_EQ(sse_content(chained.body), "from mock");
    } else {
      EXPECT_STREQ(parse(chained.body)["choices"][0]["message"]["content"].GetString(), "from mock");
    }
  }
}

// ---------------------------------------------------------------------------
// Client side

TEST(OpenAIGateway, ClientDisconnectClosesTheUpstreamConnection) {
  std::atomic<bool> streaming{false};
  FakeUpstream upstream([&](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path.find("/chat/completions") == std::string::npos) {
      exchange.respond(404);
      return;
    }
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(kRoleChunk);
    streaming = true;
    for (int i = 0; i < 400; ++i) {
      if (!exchange.chunk(content_chunk("tick " + std::to_string(i) + " ")) || !exchange.sleep(25ms)) return;
    }
    exchange.chunk(finish_chunk("stop") + "data: [DONE]\n\n");
    exchange.end_chunked();
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  RequestOptions options;
  std::chrono::steady_clock::time_point left;
  options.on_data = [&](const std::string& piece) {
    if (piece.find("tick 3 ") == std::string::npos) return true;
    left = std::chrono::steady_clock::now();
    return false;  // hang up mid-answer
  };
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true), options);
  EXPECT_TRUE(streaming);
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  auto closed = upstream.wait_for_client_close(requests[0].connection, 1s);
  ASSERT_TRUE(closed) << "the upstream connection stayed open after the client left";
  EXPECT_LT(*closed - left, 1s);
}

TEST(OpenAIGateway, SlowClientPausesTheUpstream) {
  // The upstream streams as fast as it can; the client stops reading. With
  // backpressure llmux stops reading the upstream too, so the upstream's
  // writes block (TCP flow control) instead of llmux buffering the stream.
  constexpr std::size_t kTotal = 1u << 30;  // far more than any buffer on the way
  const std::string event = content_chunk(std::string(64 * 1024, 'x'));
  std::atomic<std::size_t> sent{0};
  FakeUpstream upstream([&](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path.find("/chat/completions") == std::string::npos) {
      exchange.respond(404);
      return;
    }
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(kRoleChunk);
    while (sent < kTotal && exchange.chunk(event)) sent += event.size();
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  RequestOptions options;
  options.timeout = 20s;
  std::size_t at_stall = 0, after_stall = 0;
  options.on_data = [&](const std::string&) {
    std::this_thread::sleep_for(1500ms);  // the client reads nothing meanwhile
    at_stall = sent;
    std::this_thread::sleep_for(1000ms);
    after_stall = sent;
    return false;
  };
  client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hello", true), options);
  EXPECT_GT(at_stall, 0u);
  EXPECT_LT(after_stall, kTotal);
  EXPECT_LE(after_stall - at_stall, 4 * event.size()) << "the upstream kept sending while the client read nothing ("
                                                      << at_stall << " -> " << after_stall << " bytes)";
}

// ---------------------------------------------------------------------------
// g4f

TEST(G4fGateway, NoAuthorizationAndTheProviderMember) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
  TestGateway gw(config(provider_entry("free", "g4f", upstream.url("/v1"), "provider: Copilot\nmodels: [gpt-4o]\n"),
                        "gpt-4o: [free]\n"));
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hello", true));
  well_formed_stream(response);
  EXPECT_EQ(response.header("x-llmux-provider"), "free");
  EXPECT_EQ(sse_content(response.body), "Hello world");
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_FALSE(requests[0].has_header("authorization"));
  auto body = parse(requests[0].body);
  EXPECT_STREQ(body["provider"].GetString(), "Copilot");
  EXPECT_STREQ(body["model"].GetString(), "gpt-4o");

  // The client's own `provider` member wins.
  response = client.post(gw.url("/v1/chat/completions"),
                         chat_body("gpt-4o", "hello", false, R"("provider":"PollinationsAI")"));
  EXPECT_EQ(response.status, 200) << response.body;
  requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[1].body, HasSubstr(R"("provider":"PollinationsAI")"));
  EXPECT_THAT(requests[1].body, Not(HasSubstr("Copilot")));
}

// ---------------------------------------------------------------------------
// Models

TEST(OpenAIGateway, ModelListIncludesUpstreamModelsThatARouteMatches) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.method == "GET" && request.path == "/v1/models") {
      send_json(exchange,
                R"({"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},)"
                R"({"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},)"
                R"({"id":"dall-e-3","object":"model","created":1698785189,"owned_by":"system"}]})");
      return;
    }
    send_json(exchange, kCompletionJson);
  });
  TestGateway gw(config(provider_entry("up", "openai", upstream.url("/v1"), std::string("api_key: ") + kKey),
                        "\"gpt-*\": [up]\n"));
  HttpClient client;
  std::string ids;
  for (auto deadline = std::chrono::steady_clock::now() + 3s; std::chrono::steady_clock::now() < deadline;) {
    auto response = client.get(gw.url("/v1/models"));
    ASSERT_EQ(response.status, 200) << response.body;
    ids.clear();
    auto doc = parse(response.body);
    for (const auto& m : doc["data"].GetArray()) ids += std::string(m["id"].GetString()) + " ";
    if (ids.find("gpt-4o-mini") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_THAT(ids, HasSubstr("gpt-4o "));
  EXPECT_THAT(ids, HasSubstr("gpt-4o-mini "));
  EXPECT_THAT(ids, Not(HasSubstr("dall-e-3"))) << "no route matches it";
  bool authorized = false;
  for (const auto& r : upstream.requests()) {
    if (r.path == "/v1/models") authorized = r.header("authorization") == std::string("Bearer ") + kKey;
  }
  EXPECT_TRUE(authorized);
}

}  // namespace
}  // namespace llmux::test
