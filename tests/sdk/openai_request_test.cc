// OpenAI codec: parse_chat_request and render_chat_request.
#include <gtest/gtest.h>

#include "llmux/codec/openai.h"
#include "sdk/codec_test_util.h"

namespace llmux {
namespace {

using testing::expect_request_eq;

ChatRequest parse_ok(std::string_view body) {
  ChatRequest r;
  const auto err = openai::parse_chat_request(body, r);
  EXPECT_FALSE(err.has_value()) << (err ? err->message : "");
  return r;
}

Error parse_fail(std::string_view body) {
  ChatRequest r;
  const auto err = openai::parse_chat_request(body, r);
  EXPECT_TRUE(err.has_value()) << "parsed: " << body;
  if (!err) return {};
  EXPECT_EQ(err->status, 400);
  EXPECT_EQ(err->type, "invalid_request_error");
  return *err;
}

constexpr std::string_view kFullRequest = R"({
  "model": "gpt-4o",
  "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "developer", "content": [{"type": "text", "text": "Rule 1"}]},
    {"role": "user", "name": "ann", "content": [
      {"type": "text", "text": "What is "},
      {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
      {"type": "text", "text": "this?"}]},
    {"role": "assistant", "content": null, "reasoning_content": "look it up",
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "lookup", "arguments": "{\"q\":\"a\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "a picture of a cat"},
    {"role": "user", "content": "Thanks\n\u00e9"}
  ],
  "tools": [{"type": "function", "function": {"name": "lookup", "description": "Search",
             "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}, "strict": true}},
            {"type": "function", "function": {"name": "noop"}}],
  "tool_choice": {"type": "function", "function": {"name": "lookup"}},
  "parallel_tool_calls": false,
  "temperature": 0.7,
  "top_p": 1,
  "frequency_penalty": -0.5,
  "presence_penalty": 0.25,
  "max_completion_tokens": 256,
  "seed": -3,
  "stop": "END",
  "stream": true,
  "stream_options": {"include_usage": true},
  "user": "u-123",
  "response_format": { "type": "json_object" },
  "logit_bias": {"50256": -100},
  "n": 1
})";

TEST(OpenAIRequestTest, ParsesEveryModeledField) {
  const ChatRequest r = parse_ok(kFullRequest);
  EXPECT_EQ(r.model, "gpt-4o");
  EXPECT_EQ(r.source_api, Api::OpenAIChat);
  EXPECT_EQ(r.original_body, nullptr);
  ASSERT_EQ(r.messages.size(), 6u);

  const Message& sys = r.messages[0];
  EXPECT_EQ(sys.role, Role::System);
  EXPECT_TRUE(sys.content_was_string);
  ASSERT_EQ(sys.content.size(), 1u);
  EXPECT_EQ(sys.content[0].text, "Be brief.");

  EXPECT_EQ(r.messages[1].role, Role::Developer);
  EXPECT_FALSE(r.messages[1].content_was_string);
  EXPECT_EQ(r.messages[1].text(), "Rule 1");

  const Message& user = r.messages[2];
  EXPECT_EQ(user.role, Role::User);
  EXPECT_EQ(user.name, "ann");
  ASSERT_EQ(user.content.size(), 3u);
  EXPECT_EQ(user.content[1].kind, ContentPart::Kind::Image);
  EXPECT_EQ(user.content[1].image_url, "https://example.com/a.png");
  EXPECT_EQ(user.content[1].detail, "high");
  EXPECT_EQ(user.text(), "What is this?");

  const Message& asst = r.messages[3];
  EXPECT_EQ(asst.role, Role::Assistant);
  EXPECT_TRUE(asst.content_was_null);
  EXPECT_TRUE(asst.content.empty());
  EXPECT_EQ(asst.reasoning, "look it up");
  ASSERT_EQ(asst.tool_calls.size(), 1u);
  EXPECT_EQ(asst.tool_calls[0].id, "call_1");
  EXPECT_EQ(asst.tool_calls[0].name, "lookup");
  EXPECT_EQ(asst.tool_calls[0].arguments, "{\"q\":\"a\"}");

  EXPECT_EQ(r.messages[4].role, Role::Tool);
  EXPECT_EQ(r.messages[4].tool_call_id, "call_1");
  EXPECT_EQ(r.last_user_text(), "Thanks\n\xC3\xA9");
  EXPECT_TRUE(r.has_tool_result());

  ASSERT_EQ(r.tools.size(), 2u);
  EXPECT_EQ(r.tools[0].name, "lookup");
  EXPECT_EQ(r.tools[0].description, "Search");
  EXPECT_EQ(r.tools[0].parameters_json, R"({"type":"object","properties":{"q":{"type":"string"}}})");
  EXPECT_EQ(r.tools[0].strict, true);
  EXPECT_EQ(r.tools[1].parameters_json, "{}");
  EXPECT_FALSE(r.tools[1].strict.has_value());

  EXPECT_EQ(r.tool_choice.mode, ToolChoice::Mode::Function);
  EXPECT_EQ(r.tool_choice.function_name, "lookup");
  EXPECT_EQ(r.parallel_tool_calls, false);
  EXPECT_EQ(r.sampling.temperature, 0.7);
  EXPECT_EQ(r.sampling.top_p, 1.0);
  EXPECT_EQ(r.sampling.frequency_penalty, -0.5);
  EXPECT_EQ(r.sampling.presence_penalty, 0.25);
  EXPECT_EQ(r.sampling.max_tokens, 256);
  EXPECT_EQ(r.sampling.seed, -3);
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"END"});
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);

  EXPECT_EQ(r.response_format, "{\"type\":\"json_object\"}");
  EXPECT_FALSE(r.reasoning.has_value());

  const std::vector<std::pair<std::string, std::string>> extra = {
      {"user", "\"u-123\""},
      {"logit_bias", "{\"50256\":-100}"},
      {"n", "1"},
  };
  EXPECT_EQ(r.extra, extra);
}

TEST(OpenAIRequestTest, RendersGoldenRequest) {
  const ChatRequest r = parse_ok(kFullRequest);
  EXPECT_EQ(openai::render_chat_request(r),
            R"({"model":"gpt-4o","messages":[)"
            R"({"role":"system","content":"Be brief."},)"
            R"({"role":"developer","content":[{"type":"text","text":"Rule 1"}]},)"
            R"({"role":"user","content":[{"type":"text","text":"What is "},)"
            R"({"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"high"}},)"
            R"({"type":"text","text":"this?"}],"name":"ann"},)"
            R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",)"
            R"("function":{"name":"lookup","arguments":"{\"q\":\"a\"}"}}],"reasoning_content":"look it up"},)"
            R"({"role":"tool","content":"a picture of a cat","tool_call_id":"call_1"},)"
            "{\"role\":\"user\",\"content\":\"Thanks\\n\xC3\xA9\"}],"
            R"("tools":[{"type":"function","function":{"name":"lookup","description":"Search",)"
            R"("parameters":{"type":"object","properties":{"q":{"type":"string"}}},"strict":true}},)"
            R"({"type":"function","function":{"name":"noop","parameters":{}}}],)"
            R"("tool_choice":{"type":"function","function":{"name":"lookup"}},"parallel_tool_calls":false,)"
            R"("temperature":0.7,"top_p":1,"frequency_penalty":-0.5,"presence_penalty":0.25,)"
            R"("max_tokens":256,"seed":-3,"stop":["END"],"response_format":{"type":"json_object"},)"
            R"("stream":true,"stream_options":{"include_usage":true},)"
            R"("user":"u-123","logit_bias":{"50256":-100},"n":1})");
}

TEST(OpenAIRequestTest, RoundTripIsStable) {
  const ChatRequest first = parse_ok(kFullRequest);
  const std::string rendered = openai::render_chat_request(first);
  const ChatRequest second = parse_ok(rendered);
  expect_request_eq(first, second);
  EXPECT_EQ(openai::render_chat_request(second), rendered);
}

TEST(OpenAIRequestTest, MinimalRequestAndStreamOptions) {
  ChatRequest r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true})");
  EXPECT_TRUE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_EQ(r.tool_choice.mode, ToolChoice::Mode::Unset);
  EXPECT_EQ(openai::render_chat_request(r),
            R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true})");
  openai::RenderOptions force;
  force.force_usage = true;
  EXPECT_EQ(openai::render_chat_request(r, force),
            R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,)"
            R"("stream_options":{"include_usage":true}})");
  r.stream = false;  // no stream_options without stream
  EXPECT_EQ(openai::render_chat_request(r, force), R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
}

TEST(OpenAIRequestTest, NullOptionalFieldsAreAbsent) {
  const ChatRequest r = parse_ok(
      R"({"model":"m","messages":[{"role":"user","content":"hi","name":null}],"temperature":null,)"
      R"("tools":null,"tool_choice":null,"stop":null,"stream":null,"stream_options":null,"metadata":null})");
  EXPECT_FALSE(r.sampling.temperature.has_value());
  EXPECT_TRUE(r.sampling.stop.empty());
  EXPECT_FALSE(r.stream);
  ASSERT_EQ(r.extra.size(), 1u);
  EXPECT_EQ(r.extra[0].first, "metadata");
  EXPECT_EQ(r.extra[0].second, "null");
}

TEST(OpenAIRequestTest, MaxTokensAliasesAndStopArray) {
  ChatRequest r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":""}],"max_tokens":10,"stop":["a","b"]})");
  EXPECT_EQ(r.sampling.max_tokens, 10);
  EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(r.messages[0].content.size(), 1u);  // "" is one empty text part
  EXPECT_EQ(r.messages[0].content[0].text, "");
  r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":5,"max_tokens":10})");
  EXPECT_EQ(r.sampling.max_tokens, 5);  // max_completion_tokens wins
  r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":100.0})");
  EXPECT_EQ(r.sampling.max_tokens, 100);
}

TEST(OpenAIRequestTest, ToolChoiceStrings) {
  for (const auto& [text, mode] : {std::pair{"auto", ToolChoice::Mode::Auto}, std::pair{"none", ToolChoice::Mode::None},
                                   std::pair{"required", ToolChoice::Mode::Required}}) {
    const ChatRequest r = parse_ok(std::string(R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":")") +
                                   text + "\"}");
    EXPECT_EQ(r.tool_choice.mode, mode);
    EXPECT_NE(openai::render_chat_request(r).find(std::string("\"tool_choice\":\"") + text + "\""), std::string::npos);
  }
}

TEST(OpenAIRequestTest, KeepsHostOriginalBody) {
  ChatRequest r;
  r.original_body = std::make_shared<const std::string>("body");
  ASSERT_FALSE(openai::parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"x"}]})", r));
  ASSERT_NE(r.original_body, nullptr);
  EXPECT_EQ(*r.original_body, "body");
}

TEST(OpenAIRequestErrorTest, MalformedJsonGivesLineAndColumn) {
  const Error e = parse_fail("{\n  \"model\": \"x\",\n  \"messages\": [}\n");
  EXPECT_EQ(e.message, "Invalid JSON in request body at line 3, column 16: Invalid value.");
  EXPECT_EQ(e.param, "");
  const Error trailing = parse_fail(R"({"model":"x","messages":[]} x)");
  EXPECT_EQ(trailing.message,
            "Invalid JSON in request body at line 1, column 29: The document root must not be followed by other values.");
  const Error empty = parse_fail("");
  EXPECT_EQ(empty.message, "Invalid JSON in request body at line 1, column 1: The document is empty.");
}

TEST(OpenAIRequestErrorTest, InvalidUtf8IsRejected) {
  const Error e = parse_fail("{\"model\":\"m\xFF\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
  EXPECT_EQ(e.message, "Invalid JSON in request body at line 1, column 12: Invalid encoding in string.");
}

TEST(OpenAIRequestErrorTest, TooDeepIsRejected) {
  std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}],"metadata":)";
  body += std::string(200, '[') + std::string(200, ']') + "}";
  const Error e = parse_fail(body);
  EXPECT_EQ(e.message, "Invalid JSON in request body nesting deeper than 128 levels");
}

TEST(OpenAIRequestErrorTest, BodyMustBeAnObject) {
  EXPECT_EQ(parse_fail("[1]").message, "Invalid request body: expected a JSON object, got an array.");
}

TEST(OpenAIRequestErrorTest, MissingAndMistypedTopLevelFields) {
  Error e = parse_fail(R"({"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(e.message, "Missing required parameter: 'model'.");
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.code, "missing_required_parameter");

  e = parse_fail(R"({"model":"m"})");
  EXPECT_EQ(e.param, "messages");

  e = parse_fail(R"({"model":"m","messages":{"role":"user"}})");
  EXPECT_EQ(e.message, "Invalid type for 'messages': expected an array, got an object.");
  EXPECT_EQ(e.param, "messages");
  EXPECT_EQ(e.code, "invalid_type");

  e = parse_fail(R"({"model":"m","messages":[]})");
  EXPECT_EQ(e.param, "messages");
  EXPECT_EQ(e.code, "empty_array");

  e = parse_fail(R"({"model":"","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(e.param, "model");

  e = parse_fail(R"({"model":7,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(e.message, "Invalid type for 'model': expected a string, got a number.");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"0.5"})");
  EXPECT_EQ(e.message, "Invalid type for 'temperature': expected a number, got a string.");
  EXPECT_EQ(e.param, "temperature");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5})");
  EXPECT_EQ(e.message, "Invalid type for 'max_tokens': expected an integer, got a number.");
  EXPECT_EQ(e.param, "max_tokens");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a",1]})");
  EXPECT_EQ(e.param, "stop[1]");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})");
  EXPECT_EQ(e.param, "stream");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":1}})");
  EXPECT_EQ(e.param, "stream_options.include_usage");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"always"})");
  EXPECT_EQ(e.message, "Invalid value for 'tool_choice': \"always\" is not one of 'auto', 'none', 'required'.");
  EXPECT_EQ(e.param, "tool_choice");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"description":"d"}}]})");
  EXPECT_EQ(e.param, "tools[0].function.name");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":"{}"}}]})");
  EXPECT_EQ(e.param, "tools[0].function.parameters");
}

TEST(OpenAIRequestErrorTest, MessageErrorsNameTheField) {
  Error e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"function","content":"x"}]})");
  EXPECT_EQ(e.message,
            "Invalid value for 'messages[1].role': \"function\" is not one of 'system', 'developer', 'user', "
            "'assistant', 'tool'.");
  EXPECT_EQ(e.param, "messages[1].role");

  e = parse_fail(R"({"model":"m","messages":[{"content":"x"}]})");
  EXPECT_EQ(e.param, "messages[0].role");

  e = parse_fail(R"({"model":"m","messages":["hi"]})");
  EXPECT_EQ(e.param, "messages[0]");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"audio"}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[1].type");
  EXPECT_EQ(e.message,
            "Invalid value for 'messages[0].content[1].type': \"audio\" is not a supported content part type "
            "(supported: 'text', 'image_url').");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[0].text");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[0].image_url.url");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":42}]})");
  EXPECT_EQ(e.message, "Invalid type for 'messages[0].content': expected a string or an array of content parts, got a number.");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":null}]})");
  EXPECT_EQ(e.param, "messages[0].content");

  e = parse_fail(R"({"model":"m","messages":[{"role":"assistant","content":null}]})");
  EXPECT_EQ(e.param, "messages[0].content");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user"}]})");
  EXPECT_EQ(e.message, "Missing required parameter: 'messages[0].content'.");

  e = parse_fail(R"({"model":"m","messages":[{"role":"tool","content":"42"}]})");
  EXPECT_EQ(e.param, "messages[0].tool_call_id");

  e = parse_fail(R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f"}}]}]})");
  EXPECT_EQ(e.param, "messages[0].tool_calls[0].function.arguments");

  e = parse_fail(R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","function":{"name":"f","arguments":""}}]}]})");
  EXPECT_EQ(e.param, "messages[0].tool_calls[0].type");

  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x","tool_calls":[]}]})");
  EXPECT_EQ(e.param, "messages[0].tool_calls");
}

TEST(OpenAIRequestTest, AssistantWithoutContentButToolCalls) {
  const ChatRequest r = parse_ok(
      R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a":1}}}]}]})");
  const Message& m = r.messages[0];
  EXPECT_TRUE(m.content_was_null);
  EXPECT_EQ(m.tool_calls[0].arguments, "{\"a\":1}");
  EXPECT_EQ(openai::render_chat_request(r),
            R"({"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function",)"
            R"("function":{"name":"f","arguments":"{\"a\":1}"}}]}]})");
}

TEST(OpenAIRequestTest, RendersProgrammaticRequests) {
  ChatRequest r;
  r.model = "m";
  Message sys;
  sys.role = Role::System;
  sys.content = {ContentPart::make_text("a"), ContentPart::make_text("b")};  // several parts: an array
  Message asst;
  asst.role = Role::Assistant;
  asst.tool_calls = {{"c1", "f", "{}"}};  // no content, not flagged null: still null
  Message empty;                           // no parts at all: ""
  r.messages = {sys, asst, empty};
  r.sampling.temperature = 1e-7;
  r.extra = {{"model", "\"ignored\""}, {"user", "\"u\""}};
  EXPECT_EQ(openai::render_chat_request(r),
            R"({"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},)"
            R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
            R"({"role":"user","content":""}],"temperature":1e-07,"user":"u"})");
}

TEST(OpenAIRequestTest, ReasoningEffortAndResponseFormatAreModeled) {
  ChatRequest r = parse_ok(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high",)"
      R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"},"strict":true}}})");
  ASSERT_TRUE(r.reasoning.has_value());
  EXPECT_EQ(r.reasoning->effort, "high");
  EXPECT_EQ(r.response_format, R"({"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"},"strict":true}})");
  EXPECT_TRUE(r.extra.empty());
  EXPECT_EQ(openai::render_chat_request(r),
            R"({"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high",)"
            R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"},"strict":true}}})");

  // The default (plain text) is no response_format; null is absent.
  r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"text"},)"
               R"("reasoning_effort":null})");
  EXPECT_TRUE(r.response_format.empty());
  EXPECT_FALSE(r.reasoning.has_value());
  EXPECT_EQ(openai::render_chat_request(r), R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");

  // A route step's parameter (in extra) wins over the parsed value.
  r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"low"})");
  r.extra.emplace_back("reasoning_effort", "\"high\"");
  EXPECT_EQ(openai::render_chat_request(r),
            R"({"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high"})");

  EXPECT_EQ(parse_fail(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":1})").param,
            "reasoning_effort");
  EXPECT_EQ(parse_fail(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":"json"})").param,
            "response_format");
}

}  // namespace
}  // namespace llmux

namespace llmux {
namespace {

TEST(OpenAIRequestTest, RepeatedMembersReplaceEarlierOnes) {
  ChatRequest r;
  ASSERT_FALSE(openai::parse_chat_request(
      R"({"model":"a","messages":[{"role":"user","content":"1"}],"stop":["x"],"user":"u1",)"
      R"("model":"b","messages":[{"role":"user","content":"2"}],"stop":"y","user":"u2"})",
      r));
  EXPECT_EQ(r.model, "b");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].text(), "2");
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"y"});
  ASSERT_EQ(r.extra.size(), 1u);
  EXPECT_EQ(r.extra[0].second, "\"u2\"");
}

}  // namespace
}  // namespace llmux
