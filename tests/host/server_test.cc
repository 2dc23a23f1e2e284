// The HTTP front over real loopback sockets: endpoints, wire format, errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "llmux/json.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const char* kConfig = R"(
providers:
  mock:
    plugin: mock
routes:
  mock: [mock]
  "gpt-*": [mock]
aliases:
  gpt-4: gpt-4o
)";

TEST(Server, HealthzAnswersOk) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.get(gw.url("/healthz"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok"})");
}

TEST(Server, ModelsListsRoutedNamesInOpenAIShape) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.get(gw.url("/v1/models"));
  ASSERT_EQ(r.status, 200);
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["object"].GetString(), "list");
  std::vector<std::string> ids;
  for (const auto& m : doc["data"].GetArray()) {
    EXPECT_STREQ(m["object"].GetString(), "model");
    EXPECT_TRUE(m["created"].IsInt64());
    ids.push_back(m["id"].GetString());
  }
  EXPECT_THAT(ids, ::testing::UnorderedElementsAre("mock", "gpt-4"));
}

TEST(Server, NonStreamAnswerIsAChatCompletion) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4", "ping"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  auto doc = parse(r.body);
  EXPECT_THAT(doc["id"].GetString(), StartsWith("chatcmpl-"));
  EXPECT_STREQ(doc["object"].GetString(), "chat.completion");
  EXPECT_STREQ(doc["model"].GetString(), "gpt-4");
  const auto& choice = doc["choices"][0];
  EXPECT_STREQ(choice["message"]["role"].GetString(), "assistant");
  EXPECT_THAT(choice["message"]["content"].GetString(), HasSubstr("ping"));
  EXPECT_STREQ(choice["finish_reason"].GetString(), "stop");
  EXPECT_GT(doc["usage"]["total_tokens"].GetInt(), 0);
}

TEST(Server, StreamIsWellFormedSseEndingWithDone) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"),
                       chat_body("mock", "stream me", true, R"("stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  // Every event is exactly "data: <json>\n\n".
  EXPECT_EQ(r.body.substr(r.body.size() - 14), "data: [DONE]\n\n");
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  int finish_count = 0;
  std::string text;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto doc = parse(events[i]);
    EXPECT_STREQ(doc["object"].GetString(), "chat.completion.chunk");
    if (i == 0) {
      EXPECT_STREQ(doc["choices"][0]["delta"]["role"].GetString(), "assistant");
    }
    if (doc["choices"].Empty()) {
      EXPECT_EQ(i, events.size() - 2) << "usage chunk must be last";
      EXPECT_GT(doc["usage"]["total_tokens"].GetInt(), 0);
      continue;
    }
    const auto& choice = doc["choices"][0];
    if (choice["finish_reason"].IsString()) ++finish_count;
    if (choice["delta"].HasMember("content")) text += choice["delta"]["content"].GetString();
  }
  EXPECT_EQ(finish_count, 1);
  // The same text as the non-streamed answer.
  auto whole = client.post(gw.url("/v1/chat/completions"), chat_body("mock", "stream me"));
  EXPECT_EQ(text, parse(whole.body)["choices"][0]["message"]["content"].GetString());
}

TEST(Server, StreamWithoutIncludeUsageHasNoUsageChunk) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("mock", "x", true));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("\"usage\""), std::string::npos);
}

TEST(Server, MalformedJsonIs400WithPosition) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), "{\"model\":\"mock\",\n \"messages\": [}");
  EXPECT_EQ(r.status, 400);
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["error"]["type"].GetString(), "invalid_request_error");
  EXPECT_THAT(doc["error"]["message"].GetString(), HasSubstr("line 2"));
  EXPECT_TRUE(doc["error"].HasMember("param"));
  EXPECT_TRUE(doc["error"].HasMember("code"));
}

TEST(Server, MissingFieldIs400NamingIt) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), R"({"model":"mock"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("messages"));
  auto typed = client.post(gw.url("/v1/chat/completions"),
                           R"({"model":"mock","messages":[{"role":"user","content":"x"}],"temperature":"hot"})");
  EXPECT_EQ(typed.status, 400);
  EXPECT_STREQ(parse(typed.body)["error"]["param"].GetString(), "temperature");
}

TEST(Server, UnknownModelIs404ListingServedModels) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("llama3", "x"));
  EXPECT_EQ(r.status, 404);
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["error"]["code"].GetString(), "model_not_found");
  EXPECT_THAT(doc["error"]["message"].GetString(), HasSubstr("llama3"));
  EXPECT_THAT(doc["error"]["message"].GetString(), HasSubstr("gpt-4, mock"));
}

TEST(Server, BodyOverTheLimitIs413) {
  TestGateway gw(std::string("max_body: 4KiB\n") + kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("mock", std::string(8000, 'a')));
  EXPECT_EQ(r.status, 413);
  EXPECT_STREQ(parse(r.body)["error"]["type"].GetString(), "invalid_request_error");
  auto fine = client.post(gw.url("/v1/chat/completions"), chat_body("mock", std::string(3000, 'a')));
  EXPECT_EQ(fine.status, 200);
}

TEST(Server, AgentSizedBodiesAreAccepted) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("mock", std::string(2 << 20, 'b')));
  EXPECT_EQ(r.status, 200);
}

TEST(Server, ClientKeysAcceptBearerAndXApiKeyAndRejectOthers) {
  TestGateway gw(std::string("client_keys: [\"sk-test-123456\", \"sk-other-654321\"]\n") + kConfig);
  HttpClient client;
  auto body = chat_body("mock", "x");
  auto none = client.post(gw.url("/v1/chat/completions"), body);
  EXPECT_EQ(none.status, 401);
  EXPECT_STREQ(parse(none.body)["error"]["code"].GetString(), "invalid_api_key");
  auto wrong = client.post(gw.url("/v1/chat/completions"), body, with_header("Authorization: Bearer sk-test-123457"));
  EXPECT_EQ(wrong.status, 401);
  auto prefix = client.post(gw.url("/v1/chat/completions"), body, with_header("Authorization: Bearer sk-test-12345"));
  EXPECT_EQ(prefix.status, 401);
  auto bearer = client.post(gw.url("/v1/chat/completions"), body, with_header("Authorization: Bearer sk-test-123456"));
  EXPECT_EQ(bearer.status, 200);
  auto x_api_key = client.post(gw.url("/v1/chat/completions"), body, with_header("x-api-key: sk-other-654321"));
  EXPECT_EQ(x_api_key.status, 200);
  EXPECT_EQ(client.get(gw.url("/v1/models")).status, 401);
  EXPECT_EQ(client.get(gw.url("/healthz")).status, 200);  // health needs no key
}

TEST(Server, KeepAliveReusesTheConnection) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto first = client.post(gw.url("/v1/chat/completions"), chat_body("mock", "one"));
  auto second = client.post(gw.url("/v1/chat/completions"), chat_body("mock", "two", true));
  auto third = client.post(gw.url("/v1/chat/completions"), chat_body("mock", "three"));
  EXPECT_EQ(first.connects, 1);
  EXPECT_EQ(second.connects, 0);
  EXPECT_EQ(third.connects, 0);
  EXPECT_EQ(third.status, 200);
  EXPECT_THAT(third.body, HasSubstr("three"));
}

TEST(Server, UnknownPathAndWrongMethodAnswerInOpenAIShape) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/nothing"), "{}");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(parse(r.body)["error"].IsObject());
  auto m = client.get(gw.url("/v1/chat/completions"));
  EXPECT_EQ(m.status, 405);
  EXPECT_TRUE(parse(m.body)["error"].IsObject());
}

TEST(Server, HeadAnswersWithoutABodyAndKeepsTheConnectionUsable) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto head = client.request("HEAD", gw.url("/"), {}, {});
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  auto next = client.post(gw.url("/v1/chat/completions"), chat_body("mock", "after head"));
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.connects, 0);
  EXPECT_THAT(next.body, HasSubstr("after head"));
}

TEST(Server, LongAnswerIsNotCutByRequestTimeouts) {
  // Pistache's header/body timeouts would write a 408 into a long answer; the
  // handler switches the connection to the keep-alive rule once the request is
  // read. Shrink the request timeout to 1 s and stream for ~2.5 s.
  host::ServerOptions options;
  options.request_timeout = std::chrono::milliseconds(1000);
  TestGateway gw(R"(
providers:
  slow:
    plugin: mock
    options:
      chunk_size: 4
      chunk_delay: 250ms
routes:
  slow: [slow]
)",
                 options);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("slow", "0123456789"), with_timeout(std::chrono::seconds(20)));
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body.find("408"), std::string::npos);
  EXPECT_THAT(r.body, HasSubstr("0123456789"));
  auto after = client.post(gw.url("/v1/chat/completions"), chat_body("slow", "x", true), with_timeout(std::chrono::seconds(20)));
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body.substr(after.body.size() - 14), "data: [DONE]\n\n");
}

}  // namespace
}  // namespace llmux::test
