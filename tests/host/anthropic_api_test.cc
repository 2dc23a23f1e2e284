// The Anthropic Messages API front over real loopback sockets: /v1/messages
// (stream and not), count_tokens, errors in Anthropic's shape, /api/tokens,
// and the model list for Anthropic clients.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "llmux/json.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

const char* kConfig = R"(
client_keys: [k-client]
admin_key: k-admin
providers:
  mock:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
routes:
  "claude-*": [mock]
)";

const char* kVersion = "anthropic-version: 2023-06-01";

RequestOptions anthropic_headers(const std::string& key_header = "x-api-key: k-client") {
  RequestOptions options;
  options.headers = {kVersion, key_header, "content-type: application/json"};
  return options;
}

std::string messages_body(const std::string& model, const std::string& text, bool stream,
                          const std::string& extra = {}) {
  std::string body = R"({"model":")" + model + R"(","max_tokens":256,"messages":[{"role":"user","content":)";
  json::append_quoted(body, text);
  body += "}]";
  if (stream) body += R"(,"stream":true)";
  body += extra + "}";
  return body;
}

struct SseFrame {
  std::string event;
  std::string data;
};

// Splits an Anthropic SSE body into frames; every frame must have an event
// line and a data line, in that order.
std::vector<SseFrame> frames_of(const std::string& body) {
  std::vector<SseFrame> frames;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated frame at " << pos << " in " << body;
    if (end == std::string::npos) break;
    std::string frame = body.substr(pos, end - pos);
    pos = end + 2;
    std::size_t newline = frame.find('\n');
    EXPECT_NE(newline, std::string::npos) << frame;
    if (newline == std::string::npos) continue;
    std::string first = frame.substr(0, newline), second = frame.substr(newline + 1);
    EXPECT_EQ(first.rfind("event: ", 0), 0u) << frame;
    EXPECT_EQ(second.rfind("data: ", 0), 0u) << frame;
    frames.push_back({first.substr(7), second.substr(6)});
  }
  return frames;
}

TEST(AnthropicApi, NonStreamAnswerIsAMessage) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/messages?beta=true"), messages_body("claude-sonnet-4-5", "ping", false),
                       anthropic_headers());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.header("content-type"), HasSubstr("application/json"));
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["type"].GetString(), "message");
  EXPECT_STREQ(doc["role"].GetString(), "assistant");
  EXPECT_EQ(std::string(doc["id"].GetString()).rfind("msg_", 0), 0u);
  EXPECT_EQ(r.header("x-request-id").size(), 32u);  // the request id, not the message id
  EXPECT_STREQ(doc["model"].GetString(), "claude-sonnet-4-5");
  ASSERT_EQ(doc["content"].Size(), 1u);
  EXPECT_STREQ(doc["content"][0]["type"].GetString(), "text");
  EXPECT_STREQ(doc["content"][0]["text"].GetString(), "Mock answer to: ping");
  EXPECT_STREQ(doc["stop_reason"].GetString(), "end_turn");
  EXPECT_TRUE(doc["stop_sequence"].IsNull());
  EXPECT_GT(doc["usage"]["input_tokens"].GetInt64(), 0);
  EXPECT_GT(doc["usage"]["output_tokens"].GetInt64(), 0);
}

TEST(AnthropicApi, StreamIsWellFormedMessagesSse) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/messages"),
                       messages_body("claude-haiku-4-5-20251001", "tell me about llmux streams please", true),
                       anthropic_headers());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.header("content-type"), HasSubstr("text/event-stream"));
  auto frames = frames_of(r.body);
  ASSERT_GE(frames.size(), 6u) << r.body;
  std::vector<std::string> events;
  std::string text;
  for (const auto& frame : frames) {
    auto data = parse(frame.data);
    EXPECT_EQ(frame.event, data["type"].GetString()) << "event line and data type differ";
    events.push_back(frame.event);
    if (frame.event == "content_block_delta") {
      EXPECT_STREQ(data["delta"]["type"].GetString(), "text_delta");
      EXPECT_FALSE(std::string(data["delta"]["text"].GetString()).empty()) << "empty delta";
      text += data["delta"]["text"].GetString();
    }
    if (frame.event == "message_start") {
      EXPECT_GT(data["message"]["usage"]["input_tokens"].GetInt64(), 0) << "message_start usage is all zeros";
    }
    if (frame.event == "message_delta") {
      EXPECT_STREQ(data["delta"]["stop_reason"].GetString(), "end_turn");
    }
  }
  EXPECT_EQ(events.front(), "message_start");
  EXPECT_EQ(std::count(events.begin(), events.end(), "message_start"), 1);
  EXPECT_EQ(events.back(), "message_stop");
  EXPECT_EQ(events[events.size() - 2], "message_delta");
  EXPECT_EQ(text, "Mock answer to: tell me about llmux streams please");
}

TEST(AnthropicApi, ToolUseStreamsAsInputJsonDeltasThatJoinIntoTheInput) {
  TestGateway gw(kConfig);
  HttpClient client;
  std::string tools =
      R"(,"tools":[{"name":"Write","description":"Write a file","input_schema":{"type":"object",)"
      R"("properties":{"file_path":{"type":"string"},"content":{"type":"string"}},"required":["file_path","content"]}}])";
  auto r = client.post(gw.url("/v1/messages"),
                       messages_body("claude-sonnet-4-5", "create hello.txt with the text hello", true, tools),
                       anthropic_headers());
  ASSERT_EQ(r.status, 200) << r.body;
  std::string input, name;
  bool stopped = false;
  for (const auto& frame : frames_of(r.body)) {
    auto data = parse(frame.data);
    if (frame.event == "content_block_start" && std::string(data["content_block"]["type"].GetString()) == "tool_use") {
      name = data["content_block"]["name"].GetString();
    }
    if (frame.event == "content_block_delta") {
      ASSERT_STREQ(data["delta"]["type"].GetString(), "input_json_delta");
      input += data["delta"]["partial_json"].GetString();
    }
    if (frame.event == "message_delta") stopped = std::string(data["delta"]["stop_reason"].GetString()) == "tool_use";
  }
  EXPECT_EQ(name, "Write");
  EXPECT_TRUE(stopped);
  auto args = parse(input);
  EXPECT_STREQ(args["file_path"].GetString(), "hello.txt");
  EXPECT_STREQ(args["content"].GetString(), "hello");
}

TEST(AnthropicApi, ErrorsUseTheAnthropicShapeAndStatus) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto check = [](const HttpResponse& r, long status, const char* type) {
    EXPECT_EQ(r.status, status) << r.body;
    auto doc = parse(r.body);
    ASSERT_TRUE(doc.IsObject()) << r.body;
    EXPECT_STREQ(doc["type"].GetString(), "error") << r.body;
    EXPECT_STREQ(doc["error"]["type"].GetString(), type) << r.body;
    EXPECT_FALSE(std::string(doc["error"]["message"].GetString()).empty());
  };
  check(client.post(gw.url("/v1/messages"), R"({"model":"claude-x",)", anthropic_headers()), 400,
        "invalid_request_error");
  check(client.post(gw.url("/v1/messages"), R"({"model":"claude-x","max_tokens":5,"messages":"no"})",
                    anthropic_headers()),
        400, "invalid_request_error");
  check(client.post(gw.url("/v1/messages"), messages_body("gpt-nothing", "x", false), anthropic_headers()), 404,
        "not_found_error");
  check(client.post(gw.url("/v1/messages"), messages_body("claude-x", "x", false), anthropic_headers("x-api-key: nope")),
        401, "authentication_error");
  check(client.post(gw.url("/v1/messages"), messages_body("claude-x", "x", false), anthropic_headers("x-other: 1")),
        401, "authentication_error");
  check(client.get(gw.url("/v1/messages"), anthropic_headers()), 405, "invalid_request_error");
  check(client.post(gw.url("/v1/messages/nope"), "{}", anthropic_headers()), 404, "not_found_error");
  check(client.post(gw.url("/v1/messages"), messages_body("claude-x", "[[mock:fail=529]] x", false),
                    anthropic_headers()),
        529, "overloaded_error");
  check(client.post(gw.url("/v1/messages"), messages_body("claude-x", "[[mock:fail=429]] x", true),
                    anthropic_headers()),
        429, "rate_limit_error");
}

TEST(AnthropicApi, BearerAuthIsAcceptedToo) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/messages"), messages_body("claude-x", "hi", false),
                       anthropic_headers("Authorization: Bearer k-client"));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST(AnthropicApi, BodyOverTheLimitIs413RequestTooLarge) {
  TestGateway gw(std::string(kConfig) + "max_body: 1KiB\n");
  HttpClient client;
  auto r = client.post(gw.url("/v1/messages"), messages_body("claude-x", std::string(2000, 'a'), false),
                       anthropic_headers());
  EXPECT_EQ(r.status, 413);
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["error"]["type"].GetString(), "request_too_large");
}

TEST(AnthropicApi, ACutStreamEndsWithAnErrorEventAfterCommit) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/messages"),
                       messages_body("claude-x", "[[mock:cut=2]] tell me a long story about gateways", true),
                       anthropic_headers());
  ASSERT_EQ(r.status, 200) << r.body;
  auto frames = frames_of(r.body);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.front().event, "message_start");
  EXPECT_EQ(frames.back().event, "error") << r.body;
  auto doc = parse(frames.back().data);
  EXPECT_STREQ(doc["type"].GetString(), "error");
  EXPECT_TRUE(doc["error"]["type"].IsString());
}

TEST(AnthropicApi, CountTokensEstimatesWhenTheProviderCannotCount) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto small = client.post(gw.url("/v1/messages/count_tokens"),
                           R"({"model":"claude-x","messages":[{"role":"user","content":"hi"}]})", anthropic_headers());
  ASSERT_EQ(small.status, 200) << small.body;
  EXPECT_EQ(small.header("x-llmux-token-count"), "estimate");
  auto big = client.post(gw.url("/v1/messages/count_tokens"),
                         R"({"model":"claude-x","system":")" + std::string(4000, 'w') +
                             R"(","messages":[{"role":"user","content":"hi"}]})",
                         anthropic_headers());
  ASSERT_EQ(big.status, 200) << big.body;
  auto small_count = parse(small.body)["input_tokens"].GetInt64();
  auto big_count = parse(big.body)["input_tokens"].GetInt64();
  EXPECT_GT(small_count, 0);
  EXPECT_GT(big_count, small_count + 500) << "a 4000-character system prompt must count";
}

TEST(AnthropicApi, ModelListTakesTheAnthropicShapeForAnthropicClients) {
  TestGateway gw(std::string(kConfig) + "aliases:\n  claude-3-opus: claude-opus-4\n");
  HttpClient client;
  auto r = client.get(gw.url("/v1/models"), anthropic_headers());
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = parse(r.body);
  ASSERT_TRUE(doc["data"].IsArray());
  ASSERT_GE(doc["data"].Size(), 1u);
  EXPECT_STREQ(doc["data"][0]["type"].GetString(), "model");
  EXPECT_TRUE(doc["data"][0]["created_at"].IsString());
  EXPECT_FALSE(doc["has_more"].GetBool());
  EXPECT_STREQ(doc["first_id"].GetString(), doc["data"][0]["id"].GetString());
  // Without anthropic-version, the OpenAI shape.
  RequestOptions openai;
  openai.headers = {"Authorization: Bearer k-client"};
  auto o = client.get(gw.url("/v1/models"), openai);
  EXPECT_STREQ(parse(o.body)["object"].GetString(), "list");
}

TEST(AnthropicApi, TokensEndpointNeedsTheAdminKeyAndListsNothingWithoutAPool) {
  TestGateway gw(kConfig);
  HttpClient client;
  EXPECT_EQ(client.get(gw.url("/api/tokens"), with_header("x-api-key: k-client")).status, 401);
  EXPECT_EQ(client.get(gw.url("/api/tokens")).status, 401);
  auto r = client.get(gw.url("/api/tokens"), with_header("Authorization: Bearer k-admin"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"providers":[]})");
  EXPECT_EQ(client.post(gw.url("/api/tokens"), "{}", with_header("x-api-key: k-admin")).status, 405);
}

TEST(AnthropicApi, ClaudeCodeShapedRequestIsAccepted) {
  // What Claude Code really sends: system blocks with cache_control, a
  // role:"system" entry inside messages, thinking, context_management,
  // output_config, metadata, tools, and a large body.
  TestGateway gw(kConfig);
  HttpClient client;
  std::string big_tool_description(60000, 'd');
  std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,)"
                     R"("system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],)"
                     R"("messages":[{"role":"system","content":"policy"},{"role":"user","content":[{"type":"text",)"
                     R"("text":"say hi","cache_control":{"type":"ephemeral"}}]}],)"
                     R"("tools":[{"name":"Bash","description":")" + big_tool_description +
                     R"(","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}],)"
                     R"("metadata":{"user_id":"u"},"thinking":{"type":"adaptive"},)"
                     R"("context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},)"
                     R"("output_config":{"effort":"high"}})";
  RequestOptions options = anthropic_headers();
  options.headers.push_back("anthropic-beta: claude-code-20250219,interleaved-thinking-2025-05-14");
  options.headers.push_back("x-app: cli");
  auto r = client.post(gw.url("/v1/messages?beta=true"), body, options);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
  auto frames = frames_of(r.body);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().event, "message_stop");
}

}  // namespace
}  // namespace llmux::test
