// The openai plugin's embeddings against a FakeUpstream that answers like
// api.openai.com (pretty-printed JSON, float or base64 vectors), over real
// loopback sockets: in process through the plugin ABI (what it sends, what it
// emits: the upstream's body as one Raw event + Usage + Finish on
// pass-through, Embedding events when rendered), its errors (status,
// Retry-After, the 401 key cooldown: the chat path's, reused), which
// providers serve embeddings, and through a live llmux (the client's model
// name restored, fallback to the mock).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http/http_engine.h"
#include "llmux/codec/embeddings.h"
#include "llmux/codec/raw_answer.h"
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
using namespace std::chrono_literals;

constexpr const char* kKey = "sk-loopback-key-000000000077";
constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// What api.openai.com answers to POST /v1/embeddings (vectors shortened),
// byte for byte in layout: pretty-printed, two-space indents.
const std::string kFloatAnswer = R"({
  "object": "list",
  "data": [
    {
      "object": "embedding",
      "index": 0,
      "embedding": [
        -0.006929283495992422,
        -0.005336422007530928,
        0.00047350498218138143
      ]
    },
    {
      "object": "embedding",
      "index": 1,
      "embedding": [
        0.02157367765903473,
        -0.0012540829088538885,
        -0.014562347158789635
      ]
    }
  ],
  "model": "text-embedding-3-small",
  "usage": {
    "prompt_tokens": 8,
    "total_tokens": 8
  }
}
)";

// 0.5f, -0.25f as base64 of little-endian float32.
const std::string kBase64Answer = R"({
  "object": "list",
  "data": [
    {
      "object": "embedding",
      "index": 0,
      "embedding": "AAAAPwAAgL4="
    }
  ],
  "model": "text-embedding-3-small",
  "usage": {
    "prompt_tokens": 2,
    "total_tokens": 2
  }
}
)";

// The ChatRequest the host hands a provider for a /v1/embeddings body.
ChatRequest embeddings_request(const std::string& body) {
  ChatRequest request;
  request.original_body = std::make_shared<const std::string>(body);
  if (auto error = embeddings::parse_request(body, request)) ADD_FAILURE() << error->message;
  return request;
}

std::vector<FakeRequest> embedding_requests(const FakeUpstream& upstream) {
  return upstream.requests_to("/v1/embeddings");
}

// The openai plugin's (or `plugin`'s) provider on `upstream` (support/openai_loopback.h).
struct OnLoopback : Loopback {
  OnLoopback(const FakeUpstream& upstream, const std::string& options = "", Plugin& plugin = openai_plugin())
      : Loopback(upstream, kKey, "[m]", options, plugin) {}
};

const char* const kClientBody =
    "{\n  \"model\": \"my-embedder\",\n  \"input\": [\"first text\", \"second\"],\n"
    "  \"encoding_format\": \"float\",\n  \"user\": \"user-1234\",\n  \"x_vendor\": {\"keep\": true}\n}";

// ---------------------------------------------------------------------------
// Pass-through

TEST(OpenAIEmbeddings, PassThroughSendsTheClientsBodyRenamedAndRelaysTheAnswer) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kFloatAnswer); });
  OnLoopback up(upstream);
  ChatRequest request = embeddings_request(kClientBody);
  request.model = "text-embedding-3-small";  // the route's name for it upstream
  request.traceparent = kTraceparent;
  auto call = up.call(std::move(request));

  using K = Event::Kind;
  ASSERT_EQ(kinds(call->events), (std::vector<K>{K::Raw, K::Usage, K::Finish}));
  EXPECT_EQ(call->events[0].text, kFloatAnswer) << "the upstream's bytes, untouched";
  EXPECT_EQ(call->events[1].usage.input_tokens, 8);

  auto requests = embedding_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  const FakeRequest& sent = requests[0];
  EXPECT_EQ(sent.method, "POST");
  std::string expected = kClientBody;
  expected.replace(expected.find("my-embedder"), 11, "text-embedding-3-small");
  EXPECT_EQ(sent.body, expected) << "only the model changes";
  EXPECT_EQ(sent.header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(sent.header("content-type"), "application/json");
  EXPECT_EQ(sent.header("accept"), "application/json");
  EXPECT_EQ(sent.header("traceparent"), kTraceparent);

  // What the host then makes of the Raw body for the client.
  std::string restored;
  restore_model(Api::OpenAIEmbeddings, call->events[0].text, "my-embedder", restored);
  EXPECT_THAT(restored, HasSubstr(R"("model": "my-embedder",)"));
  EXPECT_THAT(restored, Not(HasSubstr("text-embedding-3-small")));
}

TEST(OpenAIEmbeddings, WithoutTheClientsBodyTheRequestIsRenderedAndTheAnswerParsed) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    send_json(exchange, request.body.find("base64") != std::string::npos ? kBase64Answer : kFloatAnswer);
  });
  for (const char* options : {"passthrough: false", ""}) {
    SCOPED_TRACE(options);
    OnLoopback up(upstream, options);
    ChatRequest request = embeddings_request(kClientBody);
    if (std::string(options).empty()) request.original_body.reset();  // e.g. a route step's parameters applied
    auto call = up.call(std::move(request));
    using K = Event::Kind;
    ASSERT_EQ(kinds(call->events), (std::vector<K>{K::Embedding, K::Embedding, K::Usage, K::Finish}));
    EXPECT_EQ(call->events[0].index, 0);
    EXPECT_EQ(call->events[0].embedding, (std::vector<float>{-0.006929283495992422f, -0.005336422007530928f,
                                                             0.00047350498218138143f}));
    EXPECT_EQ(call->events[1].index, 1);
    EXPECT_EQ(call->events[2].usage.input_tokens, 8);
    auto requests = embedding_requests(upstream);
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests.back().body,
              R"({"model":"my-embedder","input":["first text","second"],"user":"user-1234","x_vendor":{"keep":true}})");
  }
  // base64 asked of the upstream, decoded back to floats.
  OnLoopback up(upstream, "passthrough: false");
  auto call = up.call(embeddings_request(R"({"model":"m","input":"x","encoding_format":"base64"})"));
  ASSERT_GE(call->events.size(), 1u);
  EXPECT_EQ(call->events[0].embedding, (std::vector<float>{0.5f, -0.25f}));
  EXPECT_THAT(embedding_requests(upstream).back().body, HasSubstr(R"("encoding_format":"base64")"));
  // A vector short is a broken answer, not a short list for the client.
  auto short_one = up.call(embeddings_request(R"({"model":"m","input":["x","y"],"encoding_format":"base64"})"));
  ASSERT_EQ(kinds(short_one->events), std::vector<Event::Kind>{Event::Kind::Error});
  EXPECT_EQ(short_one->events[0].error.status, 502);
  EXPECT_THAT(short_one->events[0].error.message, HasSubstr("the upstream sent 1 embeddings for 2 inputs"));
}

// ---------------------------------------------------------------------------
// Errors: the chat path's handling, reused

TEST(OpenAIEmbeddings, UpstreamErrorsKeepStatusWordsAndRetryAfter) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.body.find("limited") != std::string::npos) {
      send_json(exchange, R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})",
                429, {{"Retry-After", "20"}});
    } else if (request.body.find("too long") != std::string::npos) {
      send_json(exchange,
                R"({"error":{"message":"This model's maximum context length is 8192 tokens, however you requested 9000 tokens","type":"invalid_request_error","param":null,"code":null}})",
                400);
    } else if (request.body.find("garbage") != std::string::npos) {
      send_json(exchange, R"({"object":"list","model":"m"})");
    } else {
      send_json(exchange, kFloatAnswer.substr(0, 40));
    }
  });
  OnLoopback up(upstream);
  auto limited = up.call(embeddings_request(R"({"model":"m","input":"limited"})"));
  ASSERT_EQ(kinds(limited->events), std::vector<Event::Kind>{Event::Kind::Error});
  EXPECT_EQ(limited->events[0].error.status, 429);
  EXPECT_EQ(limited->events[0].error.retry_after, std::chrono::milliseconds(20s));
  EXPECT_EQ(limited->events[0].error.message, "Rate limit reached");

  auto too_long = up.call(embeddings_request(R"({"model":"m","input":"too long"})"));
  EXPECT_EQ(too_long->events.back().error.status, 400);
  EXPECT_THAT(too_long->events.back().error.message, HasSubstr("maximum context length"));

  auto garbage = up.call(embeddings_request(R"({"model":"m","input":"garbage"})"));
  ASSERT_EQ(kinds(garbage->events), std::vector<Event::Kind>{Event::Kind::Error}) << "nothing before the error";
  EXPECT_EQ(garbage->events[0].error.status, 502);
  EXPECT_THAT(garbage->events[0].error.message, HasSubstr("openai provider 'up': the upstream's answer is not an embeddings list"));

  auto cut = up.call(embeddings_request(R"({"model":"m","input":"cut"})"));
  EXPECT_EQ(cut->events.back().error.status, 502);
  EXPECT_THAT(cut->events.back().error.message, HasSubstr("not valid JSON"));
}

TEST(OpenAIEmbeddings, A401SetsTheKeyAsideLikeForChat) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}})",
              401);
  });
  OnLoopback up(upstream, "unauthorized_cooldown: 90s");
  auto first = up.call(embeddings_request(R"({"model":"m","input":"x"})"));
  EXPECT_EQ(first->events.back().error.status, 401);
  EXPECT_EQ(up.provider->condition().state, ProviderCondition::State::Unauthorized);
  auto waiting = up.call(embeddings_request(R"({"model":"m","input":"x"})"));
  EXPECT_EQ(waiting->events.back().error.code, "no_usable_key");
  EXPECT_EQ(embedding_requests(upstream).size(), 1u);
}

// ---------------------------------------------------------------------------
// Which providers serve embeddings

TEST(OpenAIEmbeddings, ServesEmbeddingsUnlessConfiguredOff) {
  FakeUpstream upstream;
  EXPECT_TRUE(OnLoopback(upstream).provider->serves(Operation::Embedding));
  EXPECT_TRUE(OnLoopback(upstream).provider->serves(Operation::Chat));
  EXPECT_FALSE(OnLoopback(upstream, "embeddings: false").provider->serves(Operation::Embedding));
  EXPECT_TRUE(OnLoopback(upstream, "embeddings: false").provider->serves(Operation::Chat));
  EXPECT_FALSE(OnLoopback(upstream, "", g4f_plugin()).provider->serves(Operation::Embedding));
  EXPECT_TRUE(OnLoopback(upstream, "embeddings: true", g4f_plugin()).provider->serves(Operation::Embedding));
  EXPECT_THAT(config_error(openai_plugin(), std::string("api_key: ") + kKey + "\nembeddings: maybe"),
              HasSubstr("embeddings"));
}

TEST(OpenAIEmbeddings, G4fAddsItsProviderMember) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kFloatAnswer); });
  OnLoopback up(upstream, "embeddings: true\nprovider: SomeEmbedder", g4f_plugin());
  up.call(embeddings_request(R"({"model":"m","input":["a","b"]})"));
  auto requests = embedding_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, R"({"model":"m","input":["a","b"],"provider":"SomeEmbedder"})");
}

// ---------------------------------------------------------------------------
// Through a live llmux

std::string gateway_config(const std::string& base_url) {
  return R"(
providers:
  upstream:
    plugin: openai
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      base_url: )" + base_url + R"(
      api_key: )" + kKey + R"(
      models: [text-embedding-3-small]
  mock:
    plugin: mock
routes:
  my-embedder:
    - provider: upstream
      model: text-embedding-3-small
    - mock
)";
}

TEST(OpenAIEmbeddingsThroughLlmux, TheClientGetsTheUpstreamsBodyWithItsOwnModelName) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kBase64Answer); });
  TestGateway gw(gateway_config(upstream.url("/v1")));
  HttpClient client;
  const std::string body = R"({"model":"my-embedder","input":"hello","encoding_format":"base64"})";
  auto r = client.post(gw.url("/v1/embeddings"), body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "upstream");
  std::string expected = kBase64Answer;
  expected.replace(expected.find("\"text-embedding-3-small\""), 24, "\"my-embedder\"");
  EXPECT_EQ(r.body, expected);
  auto requests = embedding_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, R"({"model":"text-embedding-3-small","input":"hello","encoding_format":"base64"})");
}

TEST(OpenAIEmbeddingsThroughLlmux, AnUpstreamOutageFallsBackToTheMock) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, R"({"error":{"message":"The server is overloaded","type":"server_error"}})", 503);
  });
  TestGateway gw(gateway_config(upstream.url("/v1")));
  HttpClient client;
  auto r = client.post(gw.url("/v1/embeddings"), R"({"model":"my-embedder","input":["a","b"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  EXPECT_THAT(r.body, HasSubstr(R"("model":"my-embedder")"));
  EXPECT_THAT(r.body, HasSubstr(R"("index":1)"));
  EXPECT_EQ(embedding_requests(upstream).size(), 1u);
}

TEST(OpenAIEmbeddingsThroughLlmux, AClientErrorOfTheUpstreamIsTheClientsAnswer) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange,
              R"({"error":{"message":"'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.","type":"invalid_request_error","param":null,"code":null}})",
              400);
  });
  TestGateway gw(gateway_config(upstream.url("/v1")));
  HttpClient client;
  auto r = client.post(gw.url("/v1/embeddings"), R"({"model":"my-embedder","input":"x"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("message":"'$.input' is invalid.)"));
  EXPECT_THAT(r.body, HasSubstr(R"("type":"invalid_request_error")"));
}

}  // namespace
}  // namespace llmux::test
