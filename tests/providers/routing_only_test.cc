// Routing-only parsing (issue 14): OpenAI chat in, an openai provider first in
// the chain, through a live llmux (TestGateway) in front of a FakeUpstream.
// The host reads only what routing needs (model, stream,
// stream_options.include_usage) and forwards the client's body; the codec's
// full parse runs only when a step needs the request itself (a provider of
// another family, a step with `params`), and a body that was never JSON still
// gets the codec's own 400 before anything goes upstream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "llmux/json.h"
#include "support/fake_anthropic.h"
#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/openai_wire.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

constexpr const char* kKey = "sk-routing-only-key-00000001";

std::string openai_entry(const std::string& name, const std::string& base_url, const std::string& extra = "") {
  return "  " + name + ":\n    plugin: openai\n    retry: {attempts: 0}\n    cooldown: {after_failures: 0}\n" +
         "    options:\n      base_url: " + base_url + "\n      api_key: " + kKey + "\n      models: [gpt-test]\n" +
         indent(extra, 6);
}

constexpr const char* kMock = "  mock:\n    plugin: mock\n    options:\n      reply: from mock\n";

std::string config(const std::string& providers, const std::string& routes) {
  return "providers:\n" + providers + "routes:\n" + indent(routes, 2);
}

std::vector<FakeRequest> chat_requests(const FakeUpstream& upstream) {
  std::vector<FakeRequest> out;
  for (auto& r : upstream.requests()) {
    if (r.path.find("/chat/completions") != std::string::npos) out.push_back(std::move(r));
  }
  return out;
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text.substr(0, 500);
  return doc;
}

std::string error_message(const HttpResponse& response) {
  auto doc = parse(response.body);
  if (!doc.IsObject() || !doc.HasMember("error") || !doc["error"].IsObject()) {
    ADD_FAILURE() << "not an error object: " << response.body;
    return {};
  }
  return doc["error"]["message"].GetString();
}

// A body the codec refuses (it models no "function" role, which OpenAI still
// accepts) but an OpenAI upstream takes: proof of whether llmux parsed it.
const std::string kLegacyFunctionRole =
    R"({"model":"gpt-test","messages":[{"role":"user","content":"weather?"},)"
    R"({"role":"function","name":"get_weather","content":"sunny"}]})";

TEST(RoutingOnly, PassThroughBodyArrivesByteForByteButTheModel) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1")),
                        "renamed:\n  - provider: up\n    model: upstream-model\n"));
  // Odd spacing, member order, an escape in a value, a member llmux does not
  // model and a repeated one: all the client's, all kept.
  const std::string body =
      "{ \"messages\" : [ {\"role\":\"user\", \"content\":\"caf\\u00e9 \xE2\x98\x95\"} ],\n"
      "  \"temperature\": 0.50, \"model\" :\t\"renamed\", \"temperature\": 0.25,\n"
      "  \"x_vendor\": {\"deep\": [1, 2, {\"k\": null}]} }";
  HttpClient client;
  auto response = client.post(gw.url("/v1/chat/completions"), body);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("x-llmux-provider"), "up");
  EXPECT_STREQ(parse(response.body)["model"].GetString(), "renamed");  // the client's name comes back
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  std::string expected = body;
  expected.replace(expected.find("\"renamed\""), 9, "\"upstream-model\"");
  EXPECT_EQ(requests[0].body, expected);
}

TEST(RoutingOnly, StreamedPassThroughAsksForUsageAndHonoursTheClientsChoice) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1")), "gpt-test: [up]\n"));
  HttpClient client;
  auto without = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-test", "hi", true));
  ASSERT_EQ(without.status, 200) << without.body;
  EXPECT_EQ(without.body.find("\"usage\":{"), std::string::npos) << without.body;  // the usage-only chunk
  auto with = client.post(gw.url("/v1/chat/completions"),
                          chat_body("gpt-test", "hi", true, R"("stream_options":{"include_usage":true})"));
  ASSERT_EQ(with.status, 200) << with.body;
  EXPECT_THAT(with.body, HasSubstr("\"usage\":{"));
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& request : requests) EXPECT_THAT(request.body, HasSubstr(R"("include_usage":true)"));
}

// The regression test for the skipped parse: a body the codec refuses reaches
// the openai upstream untouched, while the same body routed to the mock (or to
// an openai provider with passthrough off) is refused by llmux as before.
TEST(RoutingOnly, FullParseIsSkippedOnPassThroughOnly) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1")) +
                            openai_entry("rendering", upstream.url("/v1"), "passthrough: false\n") + kMock,
                        "gpt-test: [up]\nmocked: [mock]\nrendered: [rendering]\n"
                        "stepped:\n  - provider: up\n    params: {user: from-route}\n"));
  HttpClient client;
  auto passed = client.post(gw.url("/v1/chat/completions"), kLegacyFunctionRole);
  EXPECT_EQ(passed.status, 200) << passed.body;
  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, kLegacyFunctionRole);

  auto with_body_for = [&](const std::string& model) {
    std::string body = kLegacyFunctionRole;
    body.replace(body.find("gpt-test"), 8, model);
    return body;
  };
  for (const char* model : {"mocked", "rendered", "stepped"}) {
    auto refused = client.post(gw.url("/v1/chat/completions"), with_body_for(model));
    EXPECT_EQ(refused.status, 400) << model << ": " << refused.body;
    EXPECT_THAT(error_message(refused), HasSubstr("messages[1].role")) << model;
  }
  EXPECT_EQ(chat_requests(upstream).size(), 1u);  // nothing more went up
}

TEST(RoutingOnly, MalformedBodiesStillGetTheCodecsOwn400) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1")), "gpt-test: [up]\n"));
  struct Case {
    std::string body;
    std::string message;  // a part of the codec's message
  };
  const std::vector<Case> cases = {
      {"{\"model\":\"gpt-test\",\n \"messages\": [}", "Invalid JSON in request body at line 2"},
      {R"([{"model":"gpt-test"}])", "expected a JSON object, got an array"},
      {R"({"model":"gpt-test"})", "Missing required parameter: 'messages'"},
      {R"({"messages":[{"role":"user","content":"x"}]})", "Missing required parameter: 'model'"},
      {R"({"model":"","messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":7,"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"gpt-test","stream":"yes","messages":[{"role":"user","content":"x"}]})", "stream"},
      {R"({"model":"gpt-test","stream_options":[],"messages":[{"role":"user","content":"x"}]})", "stream_options"},
      {R"({"model":"gpt-test","stream_options":{"include_usage":1},"messages":[]})", "include_usage"},
      {"{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]}", "Invalid encoding"},
      {"{\"model\":\"gpt-test\",\"messages\":[]} trailing", "The document root must not be followed by other values"},
  };
  HttpClient client;
  for (const Case& c : cases) {
    auto response = client.post(gw.url("/v1/chat/completions"), c.body);
    EXPECT_EQ(response.status, 400) << c.body << " -> " << response.body;
    EXPECT_STREQ(parse(response.body)["error"]["type"].GetString(), "invalid_request_error") << c.body;
    EXPECT_THAT(error_message(response), HasSubstr(c.message)) << c.body;
  }
  EXPECT_EQ(chat_requests(upstream).size(), 0u);
}

TEST(RoutingOnly, UnknownModelIsStill404AndABrokenBodyStill400First) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1")), "gpt-test: [up]\n"));
  HttpClient client;
  auto unknown = client.post(gw.url("/v1/chat/completions"), chat_body("no-such-model", "x"));
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  std::string broken = kLegacyFunctionRole;
  broken.replace(broken.find("gpt-test"), 8, "no-such-model");
  auto refused = client.post(gw.url("/v1/chat/completions"), broken);
  EXPECT_EQ(refused.status, 400) << refused.body;  // as before: the codec speaks before routing does
}

// A fallback from the pass-through provider to one of another family: the
// request is parsed then, and the mock answers it.
TEST(RoutingOnly, FallbackToAnotherFamilyParsesTheRequestThen) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, R"({"error":{"message":"overloaded","type":"server_error"}})", 503);
  });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1")) + kMock, "chained: [up, mock]\n"));
  HttpClient client;
  for (bool stream : {false, true}) {
    auto response = client.post(gw.url("/v1/chat/completions"), chat_body("chained", "hello", stream));
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.header("x-llmux-provider"), "mock");
    if (stream) {
      EXPECT_EQ(sse_content(response.body), "from mock");
    } else {
      EXPECT_STREQ(parse(response.body)["choices"][0]["message"]["content"].GetString(), "from mock");
    }
  }
  EXPECT_EQ(chat_requests(upstream).size(), 2u);
}

// ---------------------------------------------------------------------------
// Anthropic in, the claude plugin first in the chain

constexpr const char* kAnthropicKey = "sk-ant-api03-routing-only-00000A";

std::string claude_config(const FakeAnthropic& fake) {
  return std::string("providers:\n  claude:\n    plugin: claude\n    retry: {attempts: 0}\n") +
         "    cooldown: {after_failures: 0}\n    options:\n      base_url: " + fake.base_url() +
         "\n      token_url: " + fake.token_url() + "\n      credentials:\n        - {label: a, api_key: " +
         kAnthropicKey + "}\n" + kMock + "routes:\n  claude-test: [claude]\n  claude-chained: [claude, mock]\n";
}

RequestOptions anthropic_client() {
  RequestOptions options;
  options.headers = {"anthropic-version: 2023-06-01", "x-api-key: client-key", "Content-Type: application/json"};
  return options;
}

// The codec refuses a `top_k` that is no integer; the fake upstream takes
// anything, so whether it got the body says whether llmux parsed it.
std::string anthropic_body_codec_refuses(const std::string& model) {
  return R"({"model":")" + model + R"(","max_tokens":64,"top_k":"many",)" +
         R"("messages":[{"role":"user","content":"hello"}]})";
}

TEST(RoutingOnlyAnthropic, ClaudePassThroughSkipsTheParseAndCountTokensStillParses) {
  FakeAnthropic fake;
  fake.allow(kAnthropicKey);
  TestGateway gw(claude_config(fake));
  HttpClient client;
  const std::string body = anthropic_body_codec_refuses("claude-test");
  auto passed = client.post(gw.url("/v1/messages"), body, anthropic_client());
  ASSERT_EQ(passed.status, 200) << passed.body;
  EXPECT_EQ(passed.header("x-llmux-provider"), "claude");
  ASSERT_EQ(fake.messages().size(), 1u);
  EXPECT_EQ(fake.messages()[0].body, body);  // byte for byte (the model keeps its name here)
  // count_tokens reads the messages: parsed as before, so refused.
  auto counted = client.post(gw.url("/v1/messages/count_tokens"), body, anthropic_client());
  EXPECT_EQ(counted.status, 400) << counted.body;
  EXPECT_THAT(counted.body, HasSubstr("top_k"));
  // A body that is no JSON is refused in Anthropic's shape before anything goes up.
  auto broken = client.post(gw.url("/v1/messages"), R"({"model":"claude-test","messages":[)", anthropic_client());
  EXPECT_EQ(broken.status, 400) << broken.body;
  EXPECT_STREQ(parse(broken.body)["type"].GetString(), "error");
  EXPECT_THAT(broken.body, HasSubstr("Invalid JSON in request body"));
  EXPECT_EQ(fake.messages().size(), 1u);
}

TEST(RoutingOnlyAnthropic, FallbackFromClaudeToTheMockParsesThen) {
  FakeAnthropic fake;
  fake.allow(kAnthropicKey);
  fake.overload(kAnthropicKey, 100);
  TestGateway gw(claude_config(fake));
  HttpClient client;
  const std::string fine = R"({"model":"claude-chained","max_tokens":64,"messages":[{"role":"user","content":"hi"}]})";
  auto answered = client.post(gw.url("/v1/messages"), fine, anthropic_client());
  ASSERT_EQ(answered.status, 200) << answered.body;
  EXPECT_EQ(answered.header("x-llmux-provider"), "mock");
  auto doc = parse(answered.body);
  EXPECT_STREQ(doc["type"].GetString(), "message");
  EXPECT_STREQ(doc["content"][0]["text"].GetString(), "from mock");
  EXPECT_GE(doc["usage"]["input_tokens"].GetInt(), 1);
  // The body the codec refuses: found on fallback, answered with its 400.
  auto refused = client.post(gw.url("/v1/messages"), anthropic_body_codec_refuses("claude-chained"), anthropic_client());
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_STREQ(parse(refused.body)["error"]["type"].GetString(), "invalid_request_error");
  EXPECT_THAT(refused.body, HasSubstr("top_k"));
  // The overloaded key rests in the pool: the second time claude fails without
  // asking upstream, and the chain moves on (and parses) all the same.
  EXPECT_EQ(fake.messages().size(), 1u);
}

// The parse error found only on fallback ends the request with the codec's
// 400 in the client's shape (whole or streamed), not a crash or a hang.
TEST(RoutingOnly, ParseErrorFoundOnFallbackIsThe400) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, R"({"error":{"message":"overloaded","type":"server_error"}})", 503);
  });
  TestGateway gw(config(openai_entry("up", upstream.url("/v1")) + kMock, "chained: [up, mock]\n"));
  HttpClient client;
  for (bool stream : {false, true}) {
    std::string body = kLegacyFunctionRole;
    body.replace(body.find("gpt-test"), 8, "chained");
    if (stream) body.insert(1, "\"stream\":true,");
    auto response = client.post(gw.url("/v1/chat/completions"), body);
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_STREQ(parse(response.body)["error"]["type"].GetString(), "invalid_request_error");
    EXPECT_THAT(error_message(response), HasSubstr("messages[1].role"));
  }
  EXPECT_EQ(chat_requests(upstream).size(), 2u);  // the openai step was tried each time
  // The gateway still serves.
  auto fine = client.post(gw.url("/v1/chat/completions"), chat_body("chained", "hello"));
  EXPECT_EQ(fine.status, 200) << fine.body;
}

}  // namespace
}  // namespace llmux::test
