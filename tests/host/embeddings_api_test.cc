// POST /v1/embeddings over real loopback sockets: OpenAI's list shape (float
// and base64 answers decode to the same vectors), every input shape, errors in
// OpenAI's shape with their param, chains (a provider that does not serve
// embeddings is skipped; a failing one falls back), a route to chat-only
// providers (400 unsupported_operation), and usage in the request's metrics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "llmux/codec/embeddings.h"
#include "llmux/json.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

const char* kConfig = R"(
providers:
  mock:
    plugin: mock
  dead:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      fail_status: 503
      fail_message: dead provider
  chatonly:
    plugin: fixture
routes:
  "text-embedding-*":
    chain: [mock]
    models: [text-embedding-3-small, text-embedding-3-large]
  skip-chat-only: [chatonly, mock]
  dead-then-mock: [dead, mock]
  only-chat: [chatonly]
  renamed:
    - provider: mock
      model: text-embedding-3-large
aliases:
  ada: text-embedding-3-small
)";

std::string quoted(const std::string& text) {
  std::string out;
  json::append_quoted(out, text);
  return out;
}

class EmbeddingsApi : public ::testing::Test {
 protected:
  EmbeddingsApi() : gw_(kConfig, host::ServerOptions{}, plugins_.path()) {}

  HttpResponse post(const std::string& body) { return client_.post(gw_.url("/v1/embeddings"), body); }
  HttpResponse embed(const std::string& model, const std::string& input_json, const std::string& more = {}) {
    return post(R"({"model":)" + quoted(model) + R"(,"input":)" + input_json + more + "}");
  }

  // The vectors of a 200 answer, checking the list's shape on the way.
  static std::vector<std::vector<float>> vectors(const HttpResponse& r, const std::string& model) {
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    auto doc = parse(r.body);
    std::vector<std::vector<float>> out;
    if (!doc.IsObject()) return out;
    EXPECT_STREQ(doc["object"].GetString(), "list");
    EXPECT_EQ(std::string(doc["model"].GetString()), model);
    EXPECT_TRUE(doc["usage"].IsObject());
    EXPECT_GT(doc["usage"]["prompt_tokens"].GetInt(), 0);
    EXPECT_EQ(doc["usage"]["total_tokens"].GetInt(), doc["usage"]["prompt_tokens"].GetInt());
    const auto& data = doc["data"];
    for (rapidjson::SizeType i = 0; i < data.Size(); ++i) {
      const auto& item = data[i];
      EXPECT_STREQ(item["object"].GetString(), "embedding");
      EXPECT_EQ(item["index"].GetInt(), static_cast<int>(i));
      std::vector<float> v;
      if (item["embedding"].IsString()) {
        auto decoded = embeddings::decode_base64(item["embedding"].GetString());
        EXPECT_TRUE(decoded) << item["embedding"].GetString();
        if (decoded) v = std::move(*decoded);
      } else {
        for (const auto& x : item["embedding"].GetArray()) v.push_back(static_cast<float>(x.GetDouble()));
      }
      out.push_back(std::move(v));
    }
    return out;
  }

  // A 4xx/5xx in OpenAI's error shape; returns its `error` object's fields.
  struct ErrorSeen {
    long status = 0;
    std::string message, type, param, code;
  };
  static ErrorSeen error_of(const HttpResponse& r) {
    ErrorSeen seen;
    seen.status = r.status;
    auto doc = parse(r.body);
    if (!doc.IsObject() || !doc.HasMember("error")) {
      ADD_FAILURE() << "not an OpenAI error: " << r.body;
      return seen;
    }
    const auto& e = doc["error"];
    auto text = [&](const char* name) {
      return e.HasMember(name) && e[name].IsString() ? std::string(e[name].GetString()) : std::string();
    };
    seen.message = text("message");
    seen.type = text("type");
    seen.param = text("param");
    seen.code = text("code");
    return seen;
  }

  PluginDir plugins_{plugin_dir() / "llmux-mock.so", fixture_plugin_dir() / "llmux-fixture.so"};
  TestGateway gw_;
  HttpClient client_;
};

TEST_F(EmbeddingsApi, FloatAndBase64AnswersDecodeToTheSameVectors) {
  auto as_float = embed("text-embedding-3-small", R"("The food was delicious and the waiter...")");
  auto as_base64 = embed("text-embedding-3-small", R"("The food was delicious and the waiter...")",
                         R"(,"encoding_format":"base64")");
  EXPECT_EQ(as_float.header("x-llmux-provider"), "mock");
  EXPECT_THAT(as_base64.body, HasSubstr(R"("embedding":")"));
  auto f = vectors(as_float, "text-embedding-3-small");
  auto b = vectors(as_base64, "text-embedding-3-small");
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(f[0].size(), 1536u);  // the mock's size for this model
  EXPECT_EQ(f[0], b[0]);
  double norm = 0;
  for (float x : f[0]) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  // Exactly OpenAI's member order.
  EXPECT_EQ(as_float.body.rfind(R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[)", 0), 0u)
      << as_float.body;
}

TEST_F(EmbeddingsApi, ListInputGivesOneVectorPerTextInOrder) {
  auto r = embed("text-embedding-3-small", R"(["alpha beta", "gamma", "alpha beta"])", R"(,"dimensions":64)");
  auto v = vectors(r, "text-embedding-3-small");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].size(), 64u);
  EXPECT_EQ(v[0], v[2]);
  EXPECT_NE(v[0], v[1]);
  // The same text alone gets the same vector.
  auto alone = vectors(embed("text-embedding-3-small", R"("gamma")", R"(,"dimensions":64)"), "text-embedding-3-small");
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_EQ(alone[0], v[1]);
}

TEST_F(EmbeddingsApi, TokenArraysAreEmbeddedToo) {
  auto many = vectors(embed("text-embedding-3-small", "[[9906, 1917], [9906, 1917], [40]]", R"(,"dimensions":32)"),
                      "text-embedding-3-small");
  ASSERT_EQ(many.size(), 3u);
  EXPECT_EQ(many[0], many[1]);
  EXPECT_NE(many[0], many[2]);
  auto one = vectors(embed("text-embedding-3-small", "[9906, 1917]", R"(,"dimensions":32)"), "text-embedding-3-small");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], many[0]);
}

TEST_F(EmbeddingsApi, TheClientsModelNameIsReportedWhateverTheUpstreamIsCalled) {
  auto renamed = vectors(embed("renamed", R"("x")"), "renamed");
  ASSERT_EQ(renamed.size(), 1u);
  EXPECT_EQ(renamed[0].size(), 3072u);  // the mock saw text-embedding-3-large
  auto aliased = vectors(embed("ada", R"("x")"), "ada");
  ASSERT_EQ(aliased.size(), 1u);
  EXPECT_EQ(aliased[0].size(), 1536u);
}

TEST_F(EmbeddingsApi, BadInputIsA400WithItsParam) {
  std::string too_many = "[";
  for (int i = 0; i < 2049; ++i) too_many += i ? ",\"t\"" : "\"t\"";
  too_many += "]";
  struct Case {
    std::string body;
    std::string param;
    std::string code;
  };
  const std::vector<Case> cases = {
      {R"({"model":"text-embedding-3-small","input":""})", "input", "empty_string"},
      {R"({"model":"text-embedding-3-small","input":[]})", "input", "empty_array"},
      {R"({"model":"text-embedding-3-small","input":["ok",""]})", "input[1]", "empty_string"},
      {R"({"model":"text-embedding-3-small","input":{"text":"x"}})", "input", "invalid_type"},
      {R"({"model":"text-embedding-3-small","input":["ok",7]})", "input[1]", "invalid_type"},
      {R"({"model":"text-embedding-3-small","input":)" + too_many + "}", "input", "array_above_max_length"},
      {R"({"model":"text-embedding-3-small"})", "input", "missing_required_parameter"},
      {R"({"input":"x"})", "model", "missing_required_parameter"},
      {R"({"model":"text-embedding-3-small","input":"x","encoding_format":"hex"})", "encoding_format", "invalid_value"},
      {R"({"model":"text-embedding-3-small","input":"x","dimensions":-3})", "dimensions", "integer_below_min_value"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body.substr(0, 100));
    auto e = error_of(post(c.body));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.code, c.code);
    EXPECT_FALSE(e.message.empty());
  }
  auto broken = error_of(post("{\"model\":"));
  EXPECT_EQ(broken.status, 400);
  EXPECT_THAT(broken.message, HasSubstr("Invalid JSON"));
  auto unknown = error_of(embed("no-such-model", R"("x")"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.code, "model_not_found");
  // The mock's own limit comes back as the provider's 400.
  auto too_wide = error_of(embed("text-embedding-3-small", R"("x")", R"(,"dimensions":100000)"));
  EXPECT_EQ(too_wide.status, 400);
  EXPECT_EQ(too_wide.param, "dimensions");
}

TEST_F(EmbeddingsApi, WithoutV1PrefixAndOnlyPost) {
  auto r = client_.post(gw_.url("/embeddings"), R"({"model":"text-embedding-3-small","input":"x"})");
  EXPECT_EQ(r.status, 200) << r.body;
  auto get = client_.get(gw_.url("/v1/embeddings"));
  EXPECT_EQ(get.status, 405);
}

TEST_F(EmbeddingsApi, ChainSkipsAProviderThatDoesNotServeEmbeddings) {
  auto r = embed("skip-chat-only", R"(["one","two"])");
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  EXPECT_EQ(vectors(r, "skip-chat-only").size(), 2u);
  // A chat on the same route still goes to the first provider.
  auto chat = client_.post(gw_.url("/v1/chat/completions"), chat_body("skip-chat-only", "hi"));
  EXPECT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(chat.header("x-llmux-provider"), "chatonly");
}

TEST_F(EmbeddingsApi, AFailingProviderFallsBackToTheNext) {
  auto r = embed("dead-then-mock", R"("x")");
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  EXPECT_EQ(vectors(r, "dead-then-mock").size(), 1u);
}

TEST_F(EmbeddingsApi, ARouteToChatOnlyProvidersIsA400UnsupportedOperation) {
  auto e = error_of(embed("only-chat", R"("x")"));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, "unsupported_operation");
  EXPECT_EQ(e.param, "model");
  EXPECT_THAT(e.message, HasSubstr("'chatonly'"));
  EXPECT_THAT(e.message, HasSubstr("embeddings"));
}

// ---------------------------------------------------------------- usage

double series(const std::string& exposition, const std::string& name_and_labels) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name_and_labels + " ", 0) == 0) return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return -1;
}

TEST_F(EmbeddingsApi, UsageIsRecordedInTheRequestsMetrics) {
  // "abcdefgh" is 2 tokens by the mock's estimate, "ijkl" 1: 3 in all.
  auto r = embed("text-embedding-3-small", R"(["abcdefgh","ijkl"])");
  auto doc = parse(r.body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(doc["usage"]["prompt_tokens"].GetInt(), 3);
  const std::string requests =
      R"(llmux_requests_total{api="openai.embeddings",provider="mock",route="text-embedding-*",status="200"})";
  const std::string tokens = R"(llmux_tokens_total{direction="input",model="text-embedding-3-small",provider="mock"})";
  // A request ends on the thread that wrote its last byte, possibly just
  // after the client read it: poll the figure (bounded: 5 s).
  std::string metrics;
  for (int i = 0; i < 1000; ++i) {
    metrics = client_.get(gw_.url("/metrics")).body;
    if (series(metrics, requests) == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(series(metrics, requests), 1) << metrics;
  EXPECT_EQ(series(metrics, tokens), 3) << metrics;
}

}  // namespace
}  // namespace llmux::test
