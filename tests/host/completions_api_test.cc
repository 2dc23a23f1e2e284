// POST /v1/completions (legacy text completion, fill-in-the-middle) over real
// loopback sockets: whole and streamed text_completion answers from the mock,
// errors in OpenAI's shape (before and during a stream), usage in the request
// context, and a completion reaching an openai provider both ways: natively
// (its /completions, the suffix passed on) and as a chat (`completions: chat`,
// its /chat/completions, the answer rendered back as a text_completion).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "llmux/json.h"
#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const char* kConfig = R"(
providers:
  mock:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options: {chunk_size: 4}
routes:
  mock: [mock]
  "code-*": [mock]
)";

std::string str(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : json::to_string(v);
}

std::string completion_body(const std::string& model, const std::string& prompt, const std::string& suffix = {},
                            bool stream = false, const std::string& extra = {}) {
  std::string body = R"({"model":)";
  json::append_quoted(body, model);
  body += R"(,"prompt":)";
  json::append_quoted(body, prompt);
  if (!suffix.empty()) {
    body += R"(,"suffix":)";
    json::append_quoted(body, suffix);
  }
  if (stream) body += R"(,"stream":true)";
  body += extra + "}";
  return body;
}

const std::string kPrompt = "def add(a, b):\n    ";
const std::string kSuffix = "\n\nprint(add(1, 2))\n";

// A streamed text_completion answer, checked for its shape as it is read.
struct Stream {
  std::string text;
  std::vector<std::string> finish_reasons;  // of the chunks with a non-null finish_reason
  std::size_t text_chunks = 0;
  const rapidjson::Value* usage = nullptr;
  const rapidjson::Value* error = nullptr;
  bool done = false;
  std::vector<rapidjson::Document> chunks;
};

Stream read_stream(const std::string& body, const std::string& model) {
  Stream s;
  auto data = sse_data(body);
  EXPECT_FALSE(data.empty()) << body;
  if (!data.empty() && data.back() == "[DONE]") {
    s.done = true;
    data.pop_back();
  }
  for (const auto& d : data) s.chunks.push_back(parse(d));
  for (std::size_t i = 0; i < s.chunks.size(); ++i) {
    const auto& c = s.chunks[i];
    EXPECT_TRUE(c.IsObject()) << data[i];
    if (!c.IsObject()) continue;
    if (c.HasMember("error")) {
      s.error = &c["error"];
      continue;
    }
    EXPECT_EQ(str(c["object"]), "text_completion") << data[i];
    EXPECT_THAT(str(c["id"]), StartsWith("cmpl-"));
    EXPECT_EQ(str(c["model"]), model);
    EXPECT_TRUE(c["created"].IsInt64());
    const auto& choices = c["choices"];
    if (choices.Empty()) {
      EXPECT_TRUE(c.HasMember("usage")) << data[i];
      EXPECT_EQ(s.usage, nullptr) << "one usage chunk";
      s.usage = &c["usage"];
      continue;
    }
    EXPECT_EQ(s.usage, nullptr) << "the usage chunk comes after every choice";
    EXPECT_EQ(choices.Size(), 1u);
    const auto& choice = choices[0];
    EXPECT_EQ(choice["index"].GetInt(), 0);
    EXPECT_TRUE(choice["logprobs"].IsNull());
    EXPECT_TRUE(choice["text"].IsString());
    s.text += str(choice["text"]);
    if (!choice["finish_reason"].IsNull()) {
      s.finish_reasons.push_back(str(choice["finish_reason"]));
    } else {
      EXPECT_TRUE(s.finish_reasons.empty()) << "text after the finish";
      ++s.text_chunks;
    }
  }
  return s;
}

// ---------------------------------------------------------------------------
// Through the mock

TEST(CompletionsApi, WholeAnswerIsATextCompletion) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/completions"), completion_body("mock", kPrompt, kSuffix));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.header("content-type"), HasSubstr("application/json"));
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  EXPECT_FALSE(r.header("x-request-id").empty());
  auto doc = parse(r.body);
  EXPECT_THAT(str(doc["id"]), StartsWith("cmpl-"));
  EXPECT_EQ(str(doc["object"]), "text_completion");
  EXPECT_TRUE(doc["created"].IsInt64());
  EXPECT_EQ(str(doc["model"]), "mock");
  ASSERT_EQ(doc["choices"].Size(), 1u);
  const auto& choice = doc["choices"][0];
  EXPECT_EQ(str(choice["text"]), "return a + b");  // the mock read the prompt, not the chat form
  EXPECT_EQ(choice["index"].GetInt(), 0);
  EXPECT_TRUE(choice["logprobs"].IsNull());
  EXPECT_EQ(str(choice["finish_reason"]), "stop");
  const auto& usage = doc["usage"];
  EXPECT_GT(usage["prompt_tokens"].GetInt(), 0);
  EXPECT_EQ(usage["completion_tokens"].GetInt(), 3);
  EXPECT_EQ(usage["total_tokens"].GetInt(), usage["prompt_tokens"].GetInt() + 3);
}

TEST(CompletionsApi, StreamedAnswerIsTextCompletionChunksThenDone) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto whole = client.post(gw.url("/v1/completions"), completion_body("code-model", kPrompt, kSuffix));
  ASSERT_EQ(whole.status, 200) << whole.body;
  auto r = client.post(gw.url("/v1/completions"), completion_body("code-model", kPrompt, kSuffix, true));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.header("content-type"), HasSubstr("text/event-stream"));
  Stream s = read_stream(r.body, "code-model");
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.error, nullptr);
  EXPECT_EQ(s.text, str(parse(whole.body)["choices"][0]["text"]));  // the same answer, streamed
  EXPECT_GE(s.text_chunks, 3u) << "chunk_size 4: several deltas";
  EXPECT_EQ(s.finish_reasons, std::vector<std::string>{"stop"});
  EXPECT_EQ(s.usage, nullptr) << "usage only when asked";
  EXPECT_THAT(r.body, HasSubstr("\n\ndata: [DONE]\n\n"));
  EXPECT_THAT(r.body, Not(HasSubstr("chat.completion")));
}

TEST(CompletionsApi, IncludeUsageAddsAUsageChunkBeforeDone) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/completions"),
                       completion_body("mock", "Once upon a time", {}, true,
                                       R"(,"max_tokens":3,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200) << r.body;
  Stream s = read_stream(r.body, "mock");
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.finish_reasons, std::vector<std::string>{"length"});  // cut at max_tokens
  EXPECT_EQ(s.text.size(), 12u);
  ASSERT_NE(s.usage, nullptr) << r.body;
  EXPECT_EQ((*s.usage)["completion_tokens"].GetInt(), 3);
  EXPECT_EQ((*s.usage)["total_tokens"].GetInt(),
            (*s.usage)["prompt_tokens"].GetInt() + (*s.usage)["completion_tokens"].GetInt());
  EXPECT_TRUE(s.chunks.back()["choices"].Empty()) << "the usage chunk is the last before [DONE]";
}

TEST(CompletionsApi, AnsweredWithoutTheV1PrefixToo) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/completions"), R"({"model":"mock","prompt":["x = call("],"suffix":")\n"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(parse(r.body)["choices"][0]["text"]), "value");  // a list of one prompt is fine
}

TEST(CompletionsApi, RequestErrorsAreOpenAIErrors) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto several = client.post(gw.url("/v1/completions"), R"({"model":"mock","prompt":["a","b"]})");
  EXPECT_EQ(several.status, 400);
  auto doc = parse(several.body);
  ASSERT_TRUE(doc.HasMember("error")) << several.body;
  EXPECT_EQ(str(doc["error"]["type"]), "invalid_request_error");
  EXPECT_EQ(str(doc["error"]["param"]), "prompt");
  EXPECT_THAT(str(doc["error"]["message"]), HasSubstr("one request per prompt"));
  EXPECT_TRUE(doc["error"].HasMember("code"));

  auto tokens = client.post(gw.url("/v1/completions"), R"({"model":"mock","prompt":[1,2,3]})");
  EXPECT_EQ(tokens.status, 400);
  EXPECT_EQ(str(parse(tokens.body)["error"]["param"]), "prompt");

  auto missing = client.post(gw.url("/v1/completions"), R"({"model":"mock"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(str(parse(missing.body)["error"]["code"]), "missing_required_parameter");

  auto broken = client.post(gw.url("/v1/completions"), "{broken");
  EXPECT_EQ(broken.status, 400);
  EXPECT_TRUE(parse(broken.body).HasMember("error"));

  auto unknown = client.post(gw.url("/v1/completions"), completion_body("nope", "x"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(str(parse(unknown.body)["error"]["code"]), "model_not_found");

  auto get = client.get(gw.url("/v1/completions"));
  EXPECT_EQ(get.status, 405);
}

TEST(CompletionsApi, ProviderFailureBeforeAndDuringTheStream) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto failed = client.post(gw.url("/v1/completions"), completion_body("mock", "x [[mock:fail=503]]"));
  EXPECT_EQ(failed.status, 503);
  auto doc = parse(failed.body);
  ASSERT_TRUE(doc.HasMember("error")) << failed.body;
  EXPECT_THAT(str(doc["error"]["message"]), HasSubstr("injected failure"));

  auto cut = client.post(gw.url("/v1/completions"), completion_body("mock", "Once upon a time [[mock:cut=2]]", {}, true));
  ASSERT_EQ(cut.status, 200) << cut.body;
  Stream s = read_stream(cut.body, "mock");
  EXPECT_EQ(s.text_chunks, 2u);
  ASSERT_NE(s.error, nullptr) << cut.body;
  EXPECT_THAT(str((*s.error)["message"]), HasSubstr("cut"));
  EXPECT_TRUE(s.done) << "the framing stays valid";
  EXPECT_TRUE(s.finish_reasons.empty());
}

double series(const std::string& exposition, const std::string& name_and_labels) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name_and_labels + " ", 0) == 0) return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return -1;
}

TEST(CompletionsApi, UsageAndTheApiLabelReachTheMetrics) {
  TestGateway gw(kConfig);
  HttpClient client;
  ASSERT_EQ(client.post(gw.url("/v1/completions"), completion_body("mock", kPrompt, kSuffix, true)).status, 200);
  const std::string requests = R"(llmux_requests_total{api="openai.completions",provider="mock",route="mock",status="200"})";
  std::string m;
  for (int i = 0; i < 1000; ++i) {  // the request ends just after its last byte: bounded poll, 5 s
    m = client.get(gw.url("/metrics")).body;
    if (series(m, requests) == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(series(m, requests), 1) << m;
  EXPECT_EQ(series(m, R"(llmux_tokens_total{direction="output",model="mock",provider="mock"})"), 3) << m;
  EXPECT_GT(series(m, R"(llmux_tokens_total{direction="input",model="mock",provider="mock"})"), 0) << m;
}

// ---------------------------------------------------------------------------
// Through the openai plugin: natively, or as a chat

std::string openai_config(const FakeUpstream& upstream, const std::string& completions_option) {
  return R"(
providers:
  up:
    plugin: openai
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      api_key: sk-completions-test-0001
      models: [gpt-3.5-turbo-instruct]
      base_url: )" + upstream.url("/v1") + "\n" + completions_option + R"(
routes:
  gpt-3.5-turbo-instruct: [{provider: up, model: upstream-instruct}]
)";
}

TEST(CompletionsApi, NativeUpstreamGetsThePromptAndSuffix) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path != "/v1/completions") {
      exchange.respond(404, {}, "wrong path");
      return;
    }
    exchange.respond(200, {{"Content-Type", "application/json"}},
                     R"({"id":"cmpl-up1","object":"text_completion","created":1741569952,"model":"upstream-instruct",)"
                     R"("choices":[{"text":"return a + b","index":0,"logprobs":null,"finish_reason":"stop"}],)"
                     R"("usage":{"prompt_tokens":11,"completion_tokens":4,"total_tokens":15}})");
  });
  TestGateway gw(openai_config(upstream, ""));
  HttpClient client;
  auto r = client.post(gw.url("/v1/completions"),
                       completion_body("gpt-3.5-turbo-instruct", kPrompt, kSuffix, false, R"(,"echo":false,"n":1)"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = parse(r.body);
  EXPECT_EQ(str(doc["model"]), "gpt-3.5-turbo-instruct");  // the client's name back
  EXPECT_EQ(str(doc["id"]), "cmpl-up1");                  // otherwise the upstream's own answer
  EXPECT_EQ(str(doc["choices"][0]["text"]), "return a + b");
  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  auto sent = parse(requests[0].body);
  EXPECT_EQ(str(sent["model"]), "upstream-instruct");
  EXPECT_EQ(str(sent["prompt"]), kPrompt);
  EXPECT_EQ(str(sent["suffix"]), kSuffix);  // the suffix reaches the provider
  EXPECT_FALSE(sent["echo"].GetBool());
  EXPECT_FALSE(sent.HasMember("messages"));
}

TEST(CompletionsApi, ChatOnlyUpstreamAnswersTheChatForm) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path != "/v1/chat/completions") {
      exchange.respond(404, {}, "no completions here");
      return;
    }
    rapidjson::Document body;
    body.Parse(request.body.c_str());
    const bool stream = body.HasMember("stream") && body["stream"].GetBool();
    if (!stream) {
      exchange.respond(200, {{"Content-Type", "application/json"}},
                       R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"upstream-instruct",)"
                       R"("choices":[{"index":0,"message":{"role":"assistant","content":"return a + b"},)"
                       R"("logprobs":null,"finish_reason":"stop"}],)"
                       R"("usage":{"prompt_tokens":40,"completion_tokens":4,"total_tokens":44}})");
      return;
    }
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    const std::string head = R"(data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"upstream-instruct","choices":[)";
    exchange.chunk(head + R"({"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})" + "\n\n");
    exchange.chunk(head + R"({"index":0,"delta":{"content":"return "},"finish_reason":null}]})" + "\n\n");
    exchange.chunk(head + R"({"index":0,"delta":{"content":"a + b"},"finish_reason":null}]})" + "\n\n");
    exchange.chunk(head + R"({"index":0,"delta":{},"finish_reason":"stop"}]})" + "\n\n");
    exchange.chunk(R"(data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"upstream-instruct","choices":[],)"
                   R"("usage":{"prompt_tokens":40,"completion_tokens":4,"total_tokens":44}})" "\n\n");
    exchange.chunk("data: [DONE]\n\n");
    exchange.end_chunked();
  });
  TestGateway gw(openai_config(upstream, "      completions: chat"));
  HttpClient client;

  auto whole = client.post(gw.url("/v1/completions"),
                           completion_body("gpt-3.5-turbo-instruct", kPrompt, kSuffix, false, R"(,"echo":true,"logprobs":2)"));
  ASSERT_EQ(whole.status, 200) << whole.body;
  auto doc = parse(whole.body);
  EXPECT_EQ(str(doc["object"]), "text_completion");
  EXPECT_THAT(str(doc["id"]), StartsWith("cmpl-"));
  EXPECT_EQ(str(doc["model"]), "gpt-3.5-turbo-instruct");
  EXPECT_EQ(str(doc["choices"][0]["text"]), "return a + b");
  EXPECT_EQ(str(doc["choices"][0]["finish_reason"]), "stop");
  EXPECT_EQ(doc["usage"]["prompt_tokens"].GetInt(), 40);

  auto streamed = client.post(gw.url("/v1/completions"),
                              completion_body("gpt-3.5-turbo-instruct", kPrompt, kSuffix, true,
                                              R"(,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  Stream s = read_stream(streamed.body, "gpt-3.5-turbo-instruct");
  EXPECT_EQ(s.text, "return a + b");
  EXPECT_EQ(s.finish_reasons, std::vector<std::string>{"stop"});
  ASSERT_NE(s.usage, nullptr);
  EXPECT_EQ((*s.usage)["completion_tokens"].GetInt(), 4);
  EXPECT_TRUE(s.done);

  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& request : requests) {
    EXPECT_EQ(request.path, "/v1/chat/completions");
    auto sent = parse(request.body);
    EXPECT_EQ(str(sent["model"]), "upstream-instruct");
    ASSERT_TRUE(sent["messages"].IsArray());
    ASSERT_EQ(sent["messages"].Size(), 2u);
    EXPECT_EQ(str(sent["messages"][0]["role"]), "system");
    EXPECT_EQ(str(sent["messages"][1]["role"]), "user");
    const std::string user = str(sent["messages"][1]["content"]);
    EXPECT_THAT(user, HasSubstr("<prefix>" + kPrompt + "</prefix>"));
    EXPECT_THAT(user, HasSubstr("<suffix>" + kSuffix + "</suffix>"));
    EXPECT_EQ(sent["max_tokens"].GetInt(), 16);
    for (const char* gone : {"prompt", "suffix", "echo", "logprobs"}) EXPECT_FALSE(sent.HasMember(gone)) << gone;
  }
}

}  // namespace
}  // namespace llmux::test
