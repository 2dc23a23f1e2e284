// The front door over real loopback sockets: the inbound-API registry (paths
// with and without /v1, methods, keys), x-request-id on every answer
// (including errors raised before routing), request ids from the client's
// x-request-id or traceparent, the model list with declared route models, and
// Retry-After on error answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "api/inbound_api.h"
#include "llmux/json.h"
#include "observability/request_context.h"
#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

const char* kConfig = R"(
client_keys: [{key: k-client-0001, label: alice}, k-client-0002]
admin_key: k-admin-0001
max_body: 4KiB
providers:
  mock:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
routes:
  mock: [mock]
  "gpt-*":
    chain: [mock]
    models: [gpt-4o, gpt-4.1]
  "claude-*": [mock]
)";

const std::string kBearer = "Authorization: Bearer k-client-0001";

bool is_generated_id(const std::string& id) { return std::regex_match(id, std::regex("[0-9a-f]{32}")); }

class FakeRequest final : public host::InboundRequest {
 public:
  explicit FakeRequest(std::string path) : path_(std::move(path)) {}
  std::string_view method() const override { return "GET"; }
  std::string_view path() const override { return path_; }
  std::optional<std::string> header(std::string_view) const override { return std::nullopt; }
  std::string& body() override { return body_; }

 private:
  std::string path_;
  std::string body_;
};

TEST(ApiRegistry, FindsEveryPathWithAndWithoutTheV1Prefix) {
  const host::ApiRegistry& registry = host::default_registry();
  ASSERT_NE(registry.find("/v1/chat/completions"), nullptr);
  EXPECT_EQ(registry.find("/chat/completions"), registry.find("/v1/chat/completions"));
  EXPECT_EQ(registry.find("/messages"), registry.find("/v1/messages"));
  EXPECT_EQ(registry.find("/messages/count_tokens"), registry.find("/v1/messages/count_tokens"));
  EXPECT_EQ(registry.find("/models"), registry.find("/v1/models"));
  EXPECT_EQ(registry.find("/v1/messages")->name(), "anthropic.messages");
  EXPECT_EQ(registry.find("/v1/v1/messages"), nullptr);
  EXPECT_EQ(registry.find("/v1/nope"), nullptr);
  EXPECT_EQ(registry.find("/metrics")->name(), "metrics");
  // Names are the `api` label: unique and short.
  std::set<std::string_view> names;
  for (const auto& api : registry.apis()) EXPECT_TRUE(names.insert(api->name()).second) << api->name();
}

TEST(ApiRegistry, UnknownPathsAnswerInTheDialectTheClientSpeaks) {
  EXPECT_EQ(host::dialect_for_unknown(FakeRequest("/v1/messages/batches")).api(), Api::Anthropic);
  EXPECT_EQ(host::dialect_for_unknown(FakeRequest("/v1/embeddingz")).api(), Api::OpenAIChat);
}

TEST(FrontDoor, MessagesWithoutV1PrefixWorksLikeV1) {
  TestGateway gw(kConfig);
  HttpClient client;
  RequestOptions options;
  options.headers = {"x-api-key: k-client-0001", "anthropic-version: 2023-06-01", "content-type: application/json"};
  auto r = client.post(gw.url("/messages"),
                       R"({"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]})",
                       options);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("type":"message")"));
  auto c = client.post(gw.url("/chat/completions"), chat_body("gpt-4o", "hi"), with_header(kBearer));
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_THAT(c.body, HasSubstr("chat.completion"));
}

// Regression (issue: x-request-id missing on early errors): every answer
// carries it, including 400/401/404/405/413 raised before routing.
TEST(FrontDoor, RequestIdOnEveryAnswerIncludingEarlyErrors) {
  TestGateway gw(kConfig);
  HttpClient client;
  struct Case {
    std::string method, path, body;
    std::vector<std::string> headers;
    long status;
  };
  const std::string big(8000, 'x');
  std::vector<Case> cases = {
      {"GET", "/healthz", "", {}, 200},
      {"GET", "/nope", "", {}, 404},
      {"POST", "/v1/chat/completions", chat_body("gpt-4o", "hi"), {}, 401},
      {"POST", "/v1/chat/completions", chat_body("gpt-4o", "hi"), {"Authorization: Bearer wrong-key-123"}, 401},
      {"POST", "/v1/chat/completions", "{not json", {kBearer}, 400},
      {"POST", "/v1/chat/completions", chat_body("unknown-model", "hi"), {kBearer}, 404},
      {"GET", "/v1/chat/completions", "", {kBearer}, 405},
      {"POST", "/v1/chat/completions", chat_body("gpt-4o", big), {kBearer}, 413},
      {"POST", "/v1/messages", "{}", {"x-api-key: k-client-0001", "anthropic-version: 2023-06-01"}, 400},
      {"GET", "/status", "", {kBearer}, 401},
      {"POST", "/v1/chat/completions", chat_body("gpt-4o", "hi"), {kBearer}, 200},
  };
  for (const Case& c : cases) {
    RequestOptions options;
    options.headers = c.headers;
    auto r = client.request(c.method, gw.url(c.path), c.body, options);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << ": " << r.body;
    EXPECT_TRUE(is_generated_id(r.header("x-request-id"))) << c.method << " " << c.path << " -> '"
                                                           << r.header("x-request-id") << "'";
  }
}

TEST(FrontDoor, ClientRequestIdIsKeptAndTraceparentGivesTheId) {
  TestGateway gw(kConfig);
  HttpClient client;
  RequestOptions options;
  options.headers = {kBearer, "x-request-id: my-req-42"};
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"), options);
  EXPECT_EQ(r.header("x-request-id"), "my-req-42");
  // An error answer keeps it too.
  options.headers = {"x-request-id: my-req-43"};
  r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"), options);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("x-request-id"), "my-req-43");
  // A traceparent without x-request-id: the trace id becomes the request id.
  options.headers = {kBearer, "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
  r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"), options);
  EXPECT_EQ(r.header("x-request-id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  // A request id with control characters or too long is replaced.
  options.headers = {kBearer, "x-request-id: " + std::string(200, 'a')};
  r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"), options);
  EXPECT_TRUE(is_generated_id(r.header("x-request-id")));
}

TEST(RequestIds, TraceparentValidationAndMaking) {
  using namespace host::request_id;
  EXPECT_TRUE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_FALSE(valid_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("garbage"));
  std::string made = make_traceparent("4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(valid_traceparent(made)) << made;
  EXPECT_EQ(made.substr(3, 32), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(valid_traceparent(make_traceparent("my-req-42")));
  EXPECT_EQ(choose(std::nullopt, std::nullopt).size(), 32u);
  EXPECT_NE(choose(std::nullopt, std::nullopt), choose(std::nullopt, std::nullopt));
  EXPECT_EQ(choose(std::string_view("x\ty"), std::nullopt).size(), 32u);
}

TEST(FrontDoor, ModelListShowsDeclaredModelsOfWildcardRoutes) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.get(gw.url("/v1/models"), with_header(kBearer));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("id":"gpt-4o")"));
  EXPECT_THAT(r.body, HasSubstr(R"("id":"gpt-4.1")"));
  EXPECT_THAT(r.body, HasSubstr(R"("id":"mock")"));
  RequestOptions anthropic;
  anthropic.headers = {"x-api-key: k-client-0001", "anthropic-version: 2023-06-01"};
  r = client.get(gw.url("/v1/models"), anthropic);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"({"type":"model","id":"gpt-4o","display_name":"gpt-4o","created_at":")"));
  EXPECT_THAT(r.body, HasSubstr(R"("has_more":false)"));
}

std::string shipped_config() {
  std::ifstream in(std::filesystem::path(LLMUX_SOURCE_DIR) / "providers.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // TestGateway sets listen and plugins_dir itself.
  return std::regex_replace(text, std::regex("(^|\n)(listen|plugins_dir):[^\n]*"), "$1");
}

// Regression (issue: wildcard routes listed nothing concrete, so the openai
// SDK's models.list() on the shipped config did not show gpt-4o).
TEST(FrontDoor, ShippedConfigListsTodaysCommonModelNames) {
  TestGateway gw(shipped_config());
  HttpClient client;
  auto r = client.get(gw.url("/v1/models"));
  ASSERT_EQ(r.status, 200) << r.body;
  for (const char* name : {"gpt-4o", "gpt-4.1", "o3", "o4-mini", "claude-sonnet-4-5", "claude-opus-4-1",
                           "claude-haiku-4-5", "llama3.1", "qwen2.5-coder"}) {
    EXPECT_THAT(r.body, HasSubstr(std::string(R"("id":")") + name + "\"")) << name;
  }
}

TEST(FrontDoor, HeadProbesGetAHeadOnly) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.request("HEAD", gw.url("/"), "", {});
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(is_generated_id(r.header("x-request-id")));
  r = client.request("HEAD", gw.url("/nope"), "", {});
  EXPECT_EQ(r.status, 404);
  // The connection is still good for the next request.
  r = client.get(gw.url("/healthz"));
  EXPECT_EQ(r.status, 200);
}

TEST(FrontDoor, AdminEndpointsTakeTheAdminKeyOnly) {
  TestGateway gw(kConfig);
  HttpClient client;
  EXPECT_EQ(client.get(gw.url("/status"), with_header(kBearer)).status, 401);
  EXPECT_EQ(client.get(gw.url("/metrics"), with_header(kBearer)).status, 401);
  EXPECT_EQ(client.get(gw.url("/metrics")).status, 401);
  auto r = client.get(gw.url("/metrics"), with_header("Authorization: Bearer k-admin-0001"));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.header("content-type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_EQ(client.get(gw.url("/status"), with_header("x-api-key: k-admin-0001")).status, 200);
}

}  // namespace
}  // namespace llmux::test
