// Legacy completions (/v1/completions) through the openai and g4f plugins,
// against a fake upstream that speaks OpenAI's text_completion wire format
// byte for byte: native pass-through to {base_url}/completions (the client's
// body with the model renamed and streamed usage asked for; the upstream's
// frames relayed as they are, the usage chunk kept only when the client asked,
// usage reported to the host), the re-rendered native path (passthrough:
// false), the chat form (`completions: chat`, g4f's default), and a live
// llmux in front (the client's model put back into the relayed bytes).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http/http_engine.h"
#include "llmux/codec/completions.h"
#include "llmux/json.h"
#include "passthrough.h"
#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/openai_wire.h"
#include "support/openai_loopback.h"
#include "support/plugin_harness.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace passthrough = openai_compat::passthrough;

constexpr const char* kKey = "sk-completions-key-000000000042";

// ---------------------------------------------------------------------------
// What api.openai.com sends for /v1/completions (gpt-3.5-turbo-instruct),
// member order and all.

const std::string kModelUp = "gpt-3.5-turbo-instruct:20230824-v2";

std::string text_chunk(const std::string& text, const std::string& finish = "null") {
  std::string quoted;
  json::append_quoted(quoted, text);
  return R"(data: {"id":"cmpl-BQmvZc1FNOfwHrkxEVvSNnJWTS1Mx","object":"text_completion","created":1745838577,)"
         R"("choices":[{"text":)" + quoted + R"(,"index":0,"logprobs":null,"finish_reason":)" + finish +
         R"(}],"model":")" + kModelUp + R"(","usage":null})" + "\n\n";
}

const std::string kTextUsageChunk =
    R"(data: {"id":"cmpl-BQmvZc1FNOfwHrkxEVvSNnJWTS1Mx","object":"text_completion","created":1745838577,)"
    R"("model":")" + kModelUp + R"(","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4,)"
    R"("total_tokens":16}})" "\n\n";

std::vector<std::string> fim_stream() {
  return {text_chunk("return"), text_chunk(" a"), text_chunk(" + b"), text_chunk("", "\"stop\""), kTextUsageChunk,
          "data: [DONE]\n\n"};
}

const std::string kWholeJson =
    R"({"id":"cmpl-BQmw3rD4sKcLq9QfYb4Ht5V0JkG2e","object":"text_completion","created":1745838607,)"
    R"("model":")" + kModelUp + R"(","choices":[{"text":"return a + b","index":0,"logprobs":null,)"
    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}})";

std::string joined(const std::vector<std::string>& pieces) {
  std::string all;
  for (const auto& piece : pieces) all += piece;
  return all;
}

const std::string kFimBody =
    R"j({"model":"gpt-test","prompt":"def add(a, b):\n    ","suffix":"\n\nprint(add(1, 2))","max_tokens":32,)j"
    R"("temperature":0,"echo":false,"logprobs":null})";

std::string streamed(const std::string& body, const std::string& members = R"(,"stream":true)") {
  return body.substr(0, body.size() - 1) + members + "}";
}

// A completion request as the host hands it to a provider (original body kept).
ChatRequest completion_request(const std::string& body) {
  ChatRequest request;
  auto error = completions::parse_request(body, request);
  EXPECT_FALSE(error) << (error ? error->message : "");
  request.original_body = std::make_shared<const std::string>(body);
  return request;
}

// The openai plugin's (or `plugin`'s) provider on `upstream` (support/openai_loopback.h).
struct OnLoopback : Loopback {
  OnLoopback(const FakeUpstream& upstream, const std::string& options = "", Plugin& plugin = openai_plugin())
      : Loopback(upstream, kKey, "[gpt-test]", options, plugin) {}
};

std::string raw_bytes(const FakeCall& call) {
  std::string out;
  for (const auto& e : call.events) {
    if (e.kind == Event::Kind::Raw) out += e.text;
  }
  return out;
}

std::string text_of(const FakeCall& call) {
  std::string out;
  for (const auto& e : call.events) {
    if (e.kind == Event::Kind::TextDelta) out += e.text;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Native pass-through

TEST(OpenAICompletionsNative, StreamIsTheUpstreamsFramesWithUsageReportedNotShown) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, fim_stream()); });
  OnLoopback up(upstream);
  auto call = up.call(completion_request(streamed(kFimBody)));
  std::string expected = joined(fim_stream());
  expected.erase(expected.find(kTextUsageChunk), kTextUsageChunk.size());  // the client did not ask for it
  EXPECT_EQ(raw_bytes(*call), expected);
  using K = Event::Kind;
  ASSERT_GE(call->events.size(), 3u);
  EXPECT_EQ(call->events.back().kind, K::Finish);
  const Event& usage = call->events[call->events.size() - 2];
  ASSERT_EQ(usage.kind, K::Usage);
  EXPECT_EQ(usage.usage.input_tokens, 12);
  EXPECT_EQ(usage.usage.output_tokens, 4);

  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/v1/completions");
  EXPECT_EQ(requests[0].header("authorization"), std::string("Bearer ") + kKey);
  // The client's body, byte for byte, plus what llmux needs: usage.
  EXPECT_EQ(requests[0].body, streamed(kFimBody, R"(,"stream":true,"stream_options":{"include_usage":true})"));
}

TEST(OpenAICompletionsNative, UsageChunkStaysWhenTheClientAskedForIt) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, fim_stream()); });
  OnLoopback up(upstream);
  auto call = up.call(completion_request(streamed(kFimBody, R"(,"stream":true,"stream_options":{"include_usage":true})")));
  EXPECT_EQ(raw_bytes(*call), joined(fim_stream()));
  EXPECT_EQ(call->events[call->events.size() - 2].kind, Event::Kind::Usage);
}

TEST(OpenAICompletionsNative, WholeAnswerIsForwardedAsItIsWithItsUsage) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kWholeJson); });
  OnLoopback up(upstream);
  ChatRequest request = completion_request(kFimBody);
  request.model = "gpt-3.5-turbo-instruct";  // a route step renamed it
  auto call = up.call(std::move(request));
  using K = Event::Kind;
  ASSERT_EQ(kinds(call->events), (std::vector<K>{K::Raw, K::Usage, K::Finish}));
  EXPECT_EQ(call->events[0].text, kWholeJson);
  EXPECT_EQ(call->events[1].usage.output_tokens, 4);
  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  std::string expected = kFimBody;
  expected.replace(expected.find("gpt-test"), 8, "gpt-3.5-turbo-instruct");
  EXPECT_EQ(requests[0].body, expected);
}

TEST(OpenAICompletionsNative, UpstreamErrorsKeepTheirWords) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange,
              R"({"error":{"message":"This model's maximum context length is 4097 tokens.","type":"invalid_request_error",)"
              R"("param":"prompt","code":null}})",
              400);
  });
  OnLoopback up(upstream);
  auto call = up.call(completion_request(kFimBody));
  ASSERT_EQ(kinds(call->events), std::vector<Event::Kind>{Event::Kind::Error});
  EXPECT_EQ(call->events[0].error.status, 400);
  EXPECT_EQ(call->events[0].error.param, "prompt");
  EXPECT_THAT(call->events[0].error.message, HasSubstr("maximum context length"));
}

TEST(OpenAICompletionsNative, UpstreamBodyRenamesTheModelAndAsksForUsage) {
  ChatRequest request = completion_request(streamed(R"({"model" : "alias", "prompt" : ["x"], "n": 1})",
                                                    R"(, "stream" : true, "stream_options" : {"include_usage": false})"));
  request.model = "real";
  auto body = passthrough::upstream_body(request, "");
  ASSERT_TRUE(body);
  EXPECT_EQ(*body, R"({"model" : "real", "prompt" : ["x"], "n": 1, "stream" : true, )"
                   R"("stream_options" : {"include_usage": true}})");
  // A chat body is not a completion's, nor the other way round.
  ChatRequest chat_form = request;
  chat_form.source_api = Api::OpenAIChat;
  EXPECT_FALSE(passthrough::upstream_body(chat_form, ""));
  // Step params (added to `extra` after parsing) need rendering.
  ChatRequest with_params = request;
  with_params.extra.emplace_back("best_of", "2");
  EXPECT_FALSE(passthrough::upstream_body(with_params, ""));
}

// ---------------------------------------------------------------------------
// Native, re-rendered

TEST(OpenAICompletionsNative, WithoutPassThroughTheRequestIsRenderedAndTheChunksParsed) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_stream(exchange, {text_chunk("return"), text_chunk(" a + b"), text_chunk("", "\"length\""), kTextUsageChunk,
                           "data: [DONE]\n\n"});
  });
  OnLoopback up(upstream, "passthrough: false\n");
  auto call = up.call(completion_request(streamed(kFimBody)));
  EXPECT_EQ(text_of(*call), "return a + b");
  using K = Event::Kind;
  EXPECT_EQ(kinds(call->events), (std::vector<K>{K::Role, K::TextDelta, K::TextDelta, K::Usage, K::Finish}));
  EXPECT_EQ(call->events.back().finish, FinishReason::Length);
  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/v1/completions");
  EXPECT_EQ(requests[0].body,
            R"j({"model":"gpt-test","prompt":"def add(a, b):\n    ","suffix":"\n\nprint(add(1, 2))","max_tokens":32,)j"
            R"("temperature":0,"stream":true,"stream_options":{"include_usage":true},"echo":false,"logprobs":null})");
}

TEST(OpenAICompletionsNative, WithoutPassThroughAWholeAnswerIsParsed) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kWholeJson); });
  OnLoopback up(upstream, "passthrough: false\n");
  auto call = up.call(completion_request(kFimBody));
  EXPECT_EQ(text_of(*call), "return a + b");
  EXPECT_EQ(call->events.back().kind, Event::Kind::Finish);
}

// ---------------------------------------------------------------------------
// The chat form

TEST(OpenAICompletionsChat, CompletionsChatSendsTheChatFormToChatCompletions) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
  OnLoopback up(upstream, "completions: chat\n");
  auto call = up.call(completion_request(streamed(kFimBody)));
  EXPECT_EQ(text_of(*call), "Hello world");  // parsed, for the host to render as text_completion
  EXPECT_TRUE(raw_bytes(*call).empty());
  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/v1/chat/completions");
  rapidjson::Document sent;
  sent.Parse(requests[0].body.c_str());
  ASSERT_TRUE(sent.IsObject()) << requests[0].body;
  ASSERT_TRUE(sent["messages"].IsArray());
  EXPECT_EQ(sent["messages"].Size(), 2u);
  EXPECT_THAT(std::string(sent["messages"][1]["content"].GetString()), HasSubstr("<suffix>\n\nprint(add(1, 2))</suffix>"));
  EXPECT_FALSE(sent.HasMember("prompt"));
  EXPECT_FALSE(sent.HasMember("echo"));
  EXPECT_FALSE(sent.HasMember("logprobs"));
}

TEST(OpenAICompletionsChat, G4fSendsTheChatFormByDefault) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  OnLoopback up(upstream, "", g4f_plugin());
  auto call = up.call(completion_request(kFimBody));
  EXPECT_EQ(text_of(*call), "Hello world");
  ASSERT_EQ(upstream.requests().size(), 1u);
  EXPECT_EQ(upstream.requests()[0].path, "/v1/chat/completions");
  OnLoopback native(upstream, "completions: native\n", g4f_plugin());
  native.call(completion_request(kFimBody));
  ASSERT_EQ(upstream.requests().size(), 2u);
  EXPECT_EQ(upstream.requests()[1].path, "/v1/completions");
}

TEST(OpenAICompletionsConfig, OnlyNativeOrChat) {
  EXPECT_THAT(config_error(openai_plugin(), std::string("api_key: ") + kKey + "\ncompletions: fim\n"),
              HasSubstr("must be 'native' or 'chat'"));
  EXPECT_EQ(config_error(openai_plugin(), std::string("api_key: ") + kKey + "\ncompletions: chat\n"), "no error");
}

// ---------------------------------------------------------------------------
// Through a live llmux: what the client reads

std::string gateway_config(const FakeUpstream& upstream) {
  return R"(
providers:
  openai:
    plugin: openai
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      api_key: )" + std::string(kKey) + R"(
      models: [gpt-3.5-turbo-instruct]
      base_url: )" + upstream.url("/v1") + R"(
routes:
  gpt-3.5-turbo-instruct: [openai]
)";
}

TEST(OpenAICompletionsGateway, TheClientReadsTheUpstreamsStreamWithItsOwnModelName) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, fim_stream()); });
  TestGateway gw(gateway_config(upstream));
  HttpClient client;
  std::string body = streamed(kFimBody, R"(,"stream":true,"stream_options":{"include_usage":true})");
  body.replace(body.find("gpt-test"), 8, "gpt-3.5-turbo-instruct");
  auto r = client.post(gw.url("/v1/completions"), body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "openai");
  std::string expected = joined(fim_stream());
  for (auto at = expected.find(kModelUp); at != std::string::npos; at = expected.find(kModelUp, at)) {
    expected.replace(at, kModelUp.size(), "gpt-3.5-turbo-instruct");
  }
  EXPECT_EQ(r.body, expected);
  ASSERT_EQ(upstream.requests().size(), 1u);
  EXPECT_EQ(upstream.requests()[0].path, "/v1/completions");
}

}  // namespace
}  // namespace llmux::test
