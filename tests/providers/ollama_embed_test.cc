// The ollama plugin's embeddings through a live llmux: /v1/embeddings in,
// Ollama's native POST /api/embed against a fake upstream that answers like
// Ollama 0.6+, OpenAI's list out (float or base64), errors and fallback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "llmux/codec/embeddings.h"
#include "llmux/json.h"
#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

const FakeHeaders kJson = {{"Content-Type", "application/json; charset=utf-8"}};

// What Ollama answers to POST /api/embed (two inputs, short vectors).
const std::string kEmbedAnswer =
    R"({"model":"nomic-embed-text","embeddings":[[0.010071029,-0.0017594862,0.05007221],)"
    R"([-0.04692972,0.054916814,0.008599704]],"total_duration":14143917,"load_duration":1019500,)"
    R"("prompt_eval_count":8})";

class OllamaEmbed : public ::testing::Test {
 protected:
  OllamaEmbed() {
    upstream_.set_handler([this](const FakeRequest& request, FakeExchange& exchange) {
      if (request.path == "/api/tags") {
        exchange.respond(200, kJson, R"({"models":[]})");
        return;
      }
      FakeHandler embed;
      {
        std::lock_guard lock(mutex_);
        embed = embed_;
      }
      if (request.path != "/api/embed" || !embed) {
        exchange.respond(404, {{"Content-Type", "text/plain"}}, "404 page not found");
        return;
      }
      embed(request, exchange);
    });
    start();
  }

  void start(const std::string& extra_options = {}) {
    gw_ = std::make_unique<TestGateway>(R"(
providers:
  ollama:
    plugin: ollama
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      base_url: )" + upstream_.url() + R"(
      models_ttl: 0s
)" + extra_options + R"(
  mock:
    plugin: mock
routes:
  "nomic-*": [ollama]
  "mxbai-*": [ollama, mock]
)");
  }

  void on_embed(FakeHandler handler) {
    std::lock_guard lock(mutex_);
    embed_ = std::move(handler);
  }
  void answer(int status, std::string body) {
    on_embed([status, body](const FakeRequest&, FakeExchange& exchange) { exchange.respond(status, kJson, body); });
  }

  std::vector<FakeRequest> embed_requests() const {
    return upstream_.requests_to("/api/embed");
  }

  HttpResponse post(const std::string& body, const RequestOptions& options = {}) {
    return client_.post(gw_->url("/v1/embeddings"), body, options);
  }

  std::mutex mutex_;
  FakeHandler embed_;
  FakeUpstream upstream_;
  std::unique_ptr<TestGateway> gw_;
  HttpClient client_;
};

std::vector<float> floats(const rapidjson::Value& array) {
  std::vector<float> out;
  for (const auto& x : array.GetArray()) out.push_back(static_cast<float>(x.GetDouble()));
  return out;
}

TEST_F(OllamaEmbed, TextsGoToApiEmbedAndComeBackInOpenAIsShape) {
  answer(200, kEmbedAnswer);
  auto r = post(R"({"model":"nomic-embed-text","input":["why is the sky blue?","why is the grass green?"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "ollama");
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["object"].GetString(), "list");
  EXPECT_STREQ(doc["model"].GetString(), "nomic-embed-text");
  ASSERT_EQ(doc["data"].Size(), 2u);
  EXPECT_EQ(doc["data"][1]["index"].GetInt(), 1);
  EXPECT_EQ(floats(doc["data"][0]["embedding"]), (std::vector<float>{0.010071029f, -0.0017594862f, 0.05007221f}));
  EXPECT_EQ(floats(doc["data"][1]["embedding"]), (std::vector<float>{-0.04692972f, 0.054916814f, 0.008599704f}));
  EXPECT_EQ(doc["usage"]["prompt_tokens"].GetInt(), 8);
  EXPECT_EQ(doc["usage"]["total_tokens"].GetInt(), 8);

  auto requests = embed_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_THAT(requests[0].header("content-type"), HasSubstr("application/json"));
  EXPECT_EQ(requests[0].body,
            R"({"model":"nomic-embed-text","input":["why is the sky blue?","why is the grass green?"],"truncate":true})");

  // The OpenAI SDKs' default: base64, the same vectors.
  auto b = post(R"({"model":"nomic-embed-text","input":["a","b"],"encoding_format":"base64"})");
  ASSERT_EQ(b.status, 200) << b.body;
  auto based = parse(b.body);
  auto decoded = embeddings::decode_base64(based["data"][1]["embedding"].GetString());
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, floats(doc["data"][1]["embedding"]));
}

TEST_F(OllamaEmbed, DimensionsConfiguredOptionsKeepAliveAndTraceparentAreSent) {
  start(R"(      keep_alive: 5m
      options:
        num_ctx: 2048
)");
  on_embed([](const FakeRequest&, FakeExchange& exchange) {
    exchange.respond(200, kJson, R"({"model":"nomic-embed-text","embeddings":[[0.6,0.8]],"prompt_eval_count":3})");
  });
  RequestOptions traced;
  traced.headers = {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
  auto r = post(R"({"model":"nomic-embed-text","input":"one text","dimensions":2})", traced);
  ASSERT_EQ(r.status, 200) << r.body;
  auto requests = embed_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body,
            R"({"model":"nomic-embed-text","input":["one text"],"truncate":true,"dimensions":2,)"
            R"("options":{"num_ctx":2048},"keep_alive":"5m"})");
  EXPECT_EQ(requests[0].header("traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

TEST_F(OllamaEmbed, TokenIdsAreA400BeforeAnyRequest) {
  answer(200, kEmbedAnswer);
  auto r = post(R"({"model":"nomic-embed-text","input":[[1,2,3]]})");
  EXPECT_EQ(r.status, 400) << r.body;
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["error"]["param"].GetString(), "input");
  EXPECT_THAT(std::string(doc["error"]["message"].GetString()), HasSubstr("texts only"));
  EXPECT_TRUE(embed_requests().empty());
}

TEST_F(OllamaEmbed, OllamasErrorsKeepTheirStatusAndWords) {
  answer(404, R"({"error":"model \"nomic-embed-text\" not found, try pulling it first"})");
  auto r = post(R"({"model":"nomic-embed-text","input":"x"})");
  EXPECT_EQ(r.status, 404) << r.body;
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["error"]["message"].GetString(), "ollama: model \"nomic-embed-text\" not found, try pulling it first");
  EXPECT_STREQ(doc["error"]["code"].GetString(), "model_not_found");

  answer(400, R"({"error":"\"llama3.2\" does not support embeddings"})");
  auto unsupported = post(R"({"model":"nomic-embed-text","input":"x"})");
  EXPECT_EQ(unsupported.status, 400) << unsupported.body;
  EXPECT_THAT(unsupported.body, HasSubstr("does not support embeddings"));
}

TEST_F(OllamaEmbed, ABrokenAnswerFallsBackToTheNextProvider) {
  for (const std::string& body :
       {std::string(R"({"model":"x","embeddings":[[0.1]],"prompt_eval_count":1})"),  // one vector for two inputs
        std::string(R"({"model":"x","embeddings":[[0.1],["a"]]})"), kEmbedAnswer.substr(0, 30)}) {
    SCOPED_TRACE(body);
    answer(200, body);
    auto r = post(R"({"model":"mxbai-embed-large","input":["a","b"]})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-llmux-provider"), "mock");
    auto doc = parse(r.body);
    ASSERT_EQ(doc["data"].Size(), 2u);
    EXPECT_EQ(doc["data"][0]["embedding"].Size(), 1024u);  // the mock's size for mxbai-embed-large
  }
  // Without a next provider the client sees the 502.
  answer(200, R"({"model":"x","embeddings":[[0.1]]})");
  auto r = post(R"({"model":"nomic-embed-text","input":["a","b"]})");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_THAT(r.body, HasSubstr("ollama sent 1 embeddings for 2 inputs"));
}

}  // namespace
}  // namespace llmux::test
