// Anthropic codec: parse_messages_request, render_messages_request,
// replace_model and estimate_input_tokens.
#include <gtest/gtest.h>

#include "llmux/codec/anthropic.h"
#include "llmux/codec/openai.h"
#include "sdk/codec_test_util.h"

namespace llmux {
namespace {

using testing::expect_request_eq;

ChatRequest parse_ok(std::string_view body) {
  ChatRequest r;
  const auto err = anthropic::parse_messages_request(body, r);
  EXPECT_FALSE(err.has_value()) << (err ? err->message + " @ " + err->param : "");
  return r;
}

Error parse_fail(std::string_view body) {
  ChatRequest r;
  const auto err = anthropic::parse_messages_request(body, r);
  EXPECT_TRUE(err.has_value()) << "parsed: " << body;
  if (!err) return {};
  EXPECT_EQ(err->status, 400);
  EXPECT_EQ(err->type, "invalid_request_error");
  return *err;
}

// The shape Claude Code really sends (clients.md): system blocks with
// cache_control, a role:"system" entry inside messages, thinking adaptive,
// context_management, output_config, metadata, a server tool among the tools.
constexpr std::string_view kClaudeCodeRequest = R"({
  "model": "claude-sonnet-4-5-20250929",
  "max_tokens": 32000,
  "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
             {"type": "text", "text": "Be careful."}],
  "messages": [
    {"role": "system", "content": "Extra context"},
    {"role": "user", "content": [{"type": "text", "text": "Create hello.txt", "cache_control": {"type": "ephemeral"}}]},
    {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "I should write", "signature": "sig1"},
      {"type": "redacted_thinking", "data": "opaque"},
      {"type": "text", "text": "Writing."},
      {"type": "tool_use", "id": "toolu_1", "name": "Write", "input": {"file_path": "hello.txt", "content": "hi"}}]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}, {"type": "text", "text": "done"}]},
      {"type": "text", "text": "Now stop."}]}
  ],
  "tools": [{"name": "Write", "description": "Write a file",
             "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
             "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
  "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
  "metadata": {"user_id": "user_abc"},
  "thinking": {"type": "adaptive"},
  "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
  "output_config": {"effort": "high"},
  "temperature": 1,
  "stream": true
})";

Message text_message(Role role, std::string text, bool was_string = true) {
  Message m;
  m.role = role;
  m.content_was_string = was_string;
  m.content.push_back(ContentPart::make_text(std::move(text)));
  return m;
}

TEST(AnthropicRequestTest, ParsesClaudeCodeRequestShape) {
  const ChatRequest r = parse_ok(kClaudeCodeRequest);
  ChatRequest want;
  want.model = "claude-sonnet-4-5-20250929";
  want.source_api = Api::Anthropic;
  want.messages.push_back(text_message(Role::System, "You are Claude Code."));
  want.messages.push_back(text_message(Role::System, "Be careful."));
  want.messages.push_back(text_message(Role::System, "Extra context"));
  want.messages.push_back(text_message(Role::User, "Create hello.txt", false));
  Message assistant = text_message(Role::Assistant, "Writing.", false);
  assistant.tool_calls.push_back({"toolu_1", "Write", R"({"file_path":"hello.txt","content":"hi"})"});
  want.messages.push_back(assistant);
  Message tool = text_message(Role::Tool, "ok\ndone");
  tool.tool_call_id = "toolu_1";
  want.messages.push_back(tool);
  want.messages.push_back(text_message(Role::User, "Now stop.", false));
  want.tools.push_back({"Write", "Write a file",
                        R"({"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]})",
                        std::nullopt});
  want.tool_choice.mode = ToolChoice::Mode::Auto;
  want.parallel_tool_calls = false;
  want.sampling.temperature = 1;
  want.sampling.max_tokens = 32000;
  want.stream = true;
  want.extra = {{"metadata", R"({"user_id":"user_abc"})"},
                {"thinking", R"({"type":"adaptive"})"},
                {"context_management", R"({"edits":[{"type":"clear_thinking_20251015","keep":"all"}]})"},
                {"output_config", R"({"effort":"high"})"}};
  expect_request_eq(r, want);

  ASSERT_EQ(r.messages.size(), 7u);
  const Message& a = r.messages[4];
  ASSERT_EQ(a.thinking.size(), 2u);
  EXPECT_EQ(a.thinking[0].text, "I should write");
  EXPECT_EQ(a.thinking[0].signature, "sig1");
  EXPECT_FALSE(a.thinking[0].redacted());
  EXPECT_EQ(a.thinking[1].redacted_data, "opaque");
  EXPECT_TRUE(a.reasoning.empty());  // thinking stays in its blocks
  EXPECT_FALSE(r.messages[5].tool_error);
}

TEST(AnthropicRequestTest, KeepsHostSetBodyAndHeaders) {
  ChatRequest r;
  r.original_body = std::make_shared<const std::string>("{...}");
  r.client_headers = {{"anthropic-beta", "x"}};
  ASSERT_FALSE(anthropic::parse_messages_request(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", r));
  ASSERT_NE(r.original_body, nullptr);
  EXPECT_EQ(*r.original_body, "{...}");
  EXPECT_EQ(r.client_header("anthropic-beta"), "x");
  EXPECT_EQ(r.source_api, Api::Anthropic);
  EXPECT_FALSE(r.sampling.max_tokens.has_value());  // count_tokens bodies have none
}

TEST(AnthropicRequestTest, ToolResultsComeFirstThenTheTurnsText) {
  const ChatRequest r = parse_ok(R"({"model":"m","messages":[
    {"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}},
                                   {"type":"tool_use","id":"b","name":"g","input":{"x":[1,2]}}]},
    {"role":"user","content":[
      {"type":"text","text":"before"},
      {"type":"tool_result","tool_use_id":"a","content":"A"},
      {"type":"image","source":{"type":"url","url":"https://x/i.png"}},
      {"type":"tool_result","tool_use_id":"b","is_error":true,
       "content":[{"type":"text","text":"bad"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"QQ=="}}]},
      {"type":"tool_result","tool_use_id":"c"}]}]})");
  ASSERT_EQ(r.messages.size(), 5u);
  const Message& assistant = r.messages[0];
  EXPECT_TRUE(assistant.content.empty());
  EXPECT_TRUE(assistant.content_was_null);
  ASSERT_EQ(assistant.tool_calls.size(), 2u);
  EXPECT_EQ(assistant.tool_calls[0].arguments, "{}");
  EXPECT_EQ(assistant.tool_calls[1].arguments, R"({"x":[1,2]})");

  EXPECT_EQ(r.messages[1].role, Role::Tool);
  EXPECT_EQ(r.messages[1].tool_call_id, "a");
  EXPECT_EQ(r.messages[1].text(), "A");
  EXPECT_TRUE(r.messages[1].content_was_string);
  EXPECT_FALSE(r.messages[1].tool_error);

  const Message& b = r.messages[2];
  EXPECT_EQ(b.tool_call_id, "b");
  EXPECT_TRUE(b.tool_error);
  EXPECT_FALSE(b.content_was_string);
  ASSERT_EQ(b.content.size(), 2u);
  EXPECT_EQ(b.content[0].text, "bad");
  EXPECT_EQ(b.content[1].kind, ContentPart::Kind::Image);
  EXPECT_EQ(b.content[1].image_url, "data:image/png;base64,QQ==");

  EXPECT_EQ(r.messages[3].tool_call_id, "c");
  EXPECT_TRUE(r.messages[3].content.empty());

  const Message& user = r.messages[4];
  EXPECT_EQ(user.role, Role::User);
  ASSERT_EQ(user.content.size(), 2u);
  EXPECT_EQ(user.content[0].text, "before");
  EXPECT_EQ(user.content[1].image_url, "https://x/i.png");
}

TEST(AnthropicRequestTest, OnlyToolResultsMakeNoEmptyUserMessage) {
  const ChatRequest r = parse_ok(R"({"model":"m","messages":[
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"A"}]}]})");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, Role::Tool);
}

TEST(AnthropicRequestTest, ToolChoiceModes) {
  const auto choice = [](std::string_view tc) {
    return parse_ok(std::string(R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":)") +
                    std::string(tc) + "}");
  };
  EXPECT_EQ(choice(R"({"type":"auto"})").tool_choice.mode, ToolChoice::Mode::Auto);
  EXPECT_FALSE(choice(R"({"type":"auto"})").parallel_tool_calls.has_value());
  EXPECT_EQ(choice(R"({"type":"any"})").tool_choice.mode, ToolChoice::Mode::Required);
  EXPECT_EQ(choice(R"({"type":"none"})").tool_choice.mode, ToolChoice::Mode::None);
  const ChatRequest tool = choice(R"({"type":"tool","name":"f","disable_parallel_tool_use":false})");
  EXPECT_EQ(tool.tool_choice.mode, ToolChoice::Mode::Function);
  EXPECT_EQ(tool.tool_choice.function_name, "f");
  EXPECT_EQ(tool.parallel_tool_calls, std::optional<bool>(true));
}

TEST(AnthropicRequestTest, SamplingAndUnknownBlocks) {
  const ChatRequest r = parse_ok(R"({"model":"m","max_tokens":100.0,"top_k":5,"top_p":0.5,
    "stop_sequences":["\n\nHuman:","END"],"stream":false,"service_tier":"auto","metadata":{"a":1},"metadata":{"b":2},
    "messages":[{"role":"user","content":[{"type":"search_result","source":"s","title":"t","content":[]},
                                          {"type":"text","text":"q"}]},
                {"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}},
                                               {"type":"text","text":"a"}]}]})");
  EXPECT_EQ(r.sampling.max_tokens, 100);
  EXPECT_EQ(r.sampling.top_k, 5);
  EXPECT_EQ(r.sampling.top_p, 0.5);
  EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"\n\nHuman:", "END"}));
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.extra, (std::vector<std::pair<std::string, std::string>>{{"service_tier", "\"auto\""},
                                                                       {"metadata", R"({"b":2})"}}));
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].text(), "q");
  EXPECT_EQ(r.messages[1].text(), "a");
  EXPECT_TRUE(r.messages[1].tool_calls.empty());
}

TEST(AnthropicRequestTest, DocumentsKeepTheirMediaType) {
  const ChatRequest r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":[
    {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}},
    {"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain doc"}}]}]})");
  ASSERT_EQ(r.messages[0].content.size(), 2u);
  EXPECT_EQ(r.messages[0].content[0].image_url, "data:application/pdf;base64,JVBE");
  EXPECT_EQ(r.messages[0].content[1].text, "plain doc");
  EXPECT_EQ(anthropic::render_messages_request(r),
            R"({"model":"m","max_tokens":8192,"messages":[{"role":"user","content":[)"
            R"({"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}},)"
            R"({"type":"text","text":"plain doc"}]}]})");
}

TEST(AnthropicRequestTest, ErrorsNameTheField) {
  Error e = parse_fail("{\"model\":\"m\",\n \"messages\": [}");
  EXPECT_EQ(e.message.rfind("Invalid JSON in request body at line 2, column 15: ", 0), 0u) << e.message;
  e = parse_fail("[]");
  EXPECT_EQ(e.message, "Invalid request body: expected a JSON object, got an array.");
  EXPECT_EQ(parse_fail(R"({"messages":[{"role":"user","content":"x"}]})").param, "model");
  EXPECT_EQ(parse_fail(R"({"model":"m"})").param, "messages");
  EXPECT_EQ(parse_fail(R"({"model":"m","messages":[]})").code, "empty_array");
  e = parse_fail(R"({"model":"m","messages":[{"role":"bot","content":"x"}]})");
  EXPECT_EQ(e.param, "messages[0].role");
  EXPECT_EQ(e.message, "Invalid value for 'messages[0].role': \"bot\" is not one of 'user', 'assistant', 'system'.");
  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":7}]})");
  EXPECT_EQ(e.param, "messages[0].content");
  EXPECT_EQ(e.message,
            "Invalid type for 'messages[0].content': expected a string or an array of content blocks, got a number.");
  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},
    {"type":"tool_result","content":"x"}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[1].tool_use_id");
  EXPECT_EQ(e.code, "missing_required_parameter");
  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[0].type");
  EXPECT_EQ(e.message, "Invalid value for 'messages[0].content[0].type': \"tool_use\" blocks are only allowed in assistant messages.");
  e = parse_fail(R"({"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":"{}"}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[0].input");
  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":[{"text":"a"}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[0].type");
  e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[0].source.type");
  EXPECT_EQ(parse_fail(R"({"model":"m","system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]})").param,
            "system[0].type");
  EXPECT_EQ(parse_fail(R"({"model":"m","tools":[{"name":"f"}],"messages":[{"role":"user","content":"x"}]})").param,
            "tools[0].input_schema");
  EXPECT_EQ(parse_fail(R"({"model":"m","tool_choice":{"type":"required"},"messages":[{"role":"user","content":"x"}]})").param,
            "tool_choice.type");
  EXPECT_EQ(parse_fail(R"({"model":"m","stop_sequences":"END","messages":[{"role":"user","content":"x"}]})").param,
            "stop_sequences");
  EXPECT_EQ(parse_fail(R"({"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"x"}]})").param,
            "max_tokens");
  EXPECT_EQ(parse_fail("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}").message.rfind(
                "Invalid JSON in request body", 0),
            0u);
}

// ---------------------------------------------------------------- rendering

// An OpenAI client's request, rendered for an Anthropic upstream.
TEST(AnthropicRequestTest, RendersOpenAIRequestGolden) {
  ChatRequest r;
  ASSERT_FALSE(openai::parse_chat_request(R"({"model":"claude-sonnet-4-5","messages":[
    {"role":"system","content":"Be brief."},
    {"role":"user","content":[{"type":"text","text":"What is "},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
      {"type":"image_url","image_url":{"url":"https://example.com/a.jpg","detail":"low"}},
      {"type":"text","text":"this?"}]},
    {"role":"assistant","content":null,"reasoning_content":"think",
     "tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"a\"}"}},
                   {"id":"call_2","type":"function","function":{"name":"noop","arguments":""}}]},
    {"role":"tool","tool_call_id":"call_1","content":"a cat"},
    {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"done"}]},
    {"role":"user","content":"Thanks"},
    {"role":"assistant","content":"You're welcome."},
    {"role":"user","name":"ann","content":"Bye"}],
    "tools":[{"type":"function","function":{"name":"lookup","description":"Search",
               "parameters":{"type":"object","properties":{"q":{"type":"string"}}}}},
             {"type":"function","function":{"name":"noop"}}],
    "tool_choice":"required","parallel_tool_calls":false,"temperature":1.5,"top_p":0.9,"max_tokens":100,
    "frequency_penalty":0.5,"seed":3,"stop":["END"," "],"stream":true,"stream_options":{"include_usage":true},
    "user":"u1","response_format":{"type":"text"}})",
                                            r));
  EXPECT_EQ(anthropic::render_messages_request(r),
            R"({"model":"claude-sonnet-4-5","max_tokens":100,"system":"Be brief.","messages":[)"
            R"({"role":"user","content":[{"type":"text","text":"What is "},)"
            R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},)"
            R"({"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}},)"
            R"({"type":"text","text":"this?"}]},)"
            R"({"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"lookup","input":{"q":"a"}},)"
            R"({"type":"tool_use","id":"call_2","name":"noop","input":{}}]},)"
            R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"a cat"},)"
            R"({"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"done"}]}]},)"
            R"({"role":"user","content":"Thanks"},)"
            R"({"role":"assistant","content":"You're welcome."},)"
            R"({"role":"user","content":"Bye"}],)"
            R"("tools":[{"name":"lookup","description":"Search","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}},)"
            R"({"name":"noop","input_schema":{"type":"object","properties":{}}}],)"
            R"("tool_choice":{"type":"any","disable_parallel_tool_use":true},)"
            R"("temperature":1,"top_p":0.9,"stop_sequences":["END"],"stream":true})");
}

TEST(AnthropicRequestTest, RendersClaudeCodeRequestGolden) {
  const ChatRequest r = parse_ok(kClaudeCodeRequest);
  EXPECT_EQ(anthropic::render_messages_request(r),
            R"({"model":"claude-sonnet-4-5-20250929","max_tokens":32000,"system":[)"
            R"({"type":"text","text":"You are Claude Code."},{"type":"text","text":"Be careful."},)"
            R"({"type":"text","text":"Extra context"}],"messages":[)"
            R"({"role":"user","content":[{"type":"text","text":"Create hello.txt"}]},)"
            R"({"role":"assistant","content":[{"type":"thinking","thinking":"I should write","signature":"sig1"},)"
            R"({"type":"redacted_thinking","data":"opaque"},{"type":"text","text":"Writing."},)"
            R"({"type":"tool_use","id":"toolu_1","name":"Write","input":{"file_path":"hello.txt","content":"hi"}}]},)"
            R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok\ndone"}]},)"
            R"({"role":"user","content":[{"type":"text","text":"Now stop."}]}],)"
            R"("tools":[{"name":"Write","description":"Write a file","input_schema":)"
            R"({"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}}],)"
            R"("tool_choice":{"type":"auto","disable_parallel_tool_use":true},"temperature":1,"stream":true,)"
            R"("metadata":{"user_id":"user_abc"},"thinking":{"type":"adaptive"},)"
            R"("context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},)"
            R"("output_config":{"effort":"high"}})");
}

TEST(AnthropicRequestTest, ThinkingSignaturesAreNotReplayedToAnotherFamilysRequest) {
  ChatRequest r = parse_ok(kClaudeCodeRequest);
  r.source_api = Api::OpenAIChat;  // as if it had arrived from an OpenAI client
  const std::string body = anthropic::render_messages_request(r);
  EXPECT_EQ(body.find("thinking"), std::string::npos) << body;
  EXPECT_EQ(body.find("sig1"), std::string::npos);
  EXPECT_EQ(body.find("metadata"), std::string::npos);  // extras of another API are not forwarded
  EXPECT_NE(body.find(R"({"role":"assistant","content":[{"type":"text","text":"Writing."},{"type":"tool_use")"),
            std::string::npos);
}

TEST(AnthropicRequestTest, RoundTripThroughRender) {
  constexpr std::string_view kBody =
      R"({"model":"m","max_tokens":5,"system":"sys","messages":[{"role":"user","content":"hi"},)"
      R"({"role":"assistant","content":[{"type":"text","text":"t"},{"type":"tool_use","id":"x","name":"f","input":{"a":[1,{"b":null}]}}]},)"
      R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"r","is_error":true}]}],)"
      R"("tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},)"
      R"("temperature":0.5,"top_p":0.25,"top_k":3,"stop_sequences":["S"],"stream":true,"metadata":{"user_id":"u"}})";
  const ChatRequest first = parse_ok(kBody);
  const std::string rendered = anthropic::render_messages_request(first);
  EXPECT_EQ(rendered, kBody);
  expect_request_eq(parse_ok(rendered), first);
}

TEST(AnthropicRequestTest, RenderDefaultsAndEdgeCases) {
  ChatRequest r;
  r.model = "m";
  r.messages.push_back(text_message(Role::Developer, "dev", false));
  r.messages.push_back(text_message(Role::User, "u"));
  r.tools.push_back({"f", "", "", std::nullopt});
  r.parallel_tool_calls = false;
  r.sampling.temperature = -1;
  r.sampling.stop = {"", " \n"};
  r.extra = {{"user", "\"u1\""}};
  anthropic::RequestRenderOptions options;
  options.default_max_tokens = 1024;
  EXPECT_EQ(anthropic::render_messages_request(r, options),
            R"({"model":"m","max_tokens":1024,"system":[{"type":"text","text":"dev"}],)"
            R"("messages":[{"role":"user","content":"u"}],)"
            R"("tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],)"
            R"("tool_choice":{"type":"auto","disable_parallel_tool_use":true},"temperature":0})");
}

TEST(AnthropicRequestTest, InvalidToolArgumentsInHistoryBecomeObjects) {
  ChatRequest r;
  r.model = "m";
  Message a;
  a.role = Role::Assistant;
  a.content_was_null = true;
  a.tool_calls = {{"1", "f", "not json"}, {"2", "g", R"({"path":"a.txt","content":"hel)"}, {"3", "h", "[1]"}};
  r.messages.push_back(a);
  EXPECT_EQ(anthropic::render_messages_request(r),
            R"({"model":"m","max_tokens":8192,"messages":[{"role":"assistant","content":[)"
            R"({"type":"tool_use","id":"1","name":"f","input":{}},)"
            R"({"type":"tool_use","id":"2","name":"g","input":{"path":"a.txt","content":"hel"}},)"
            R"({"type":"tool_use","id":"3","name":"h","input":{}}]}]})");
}

// ---------------------------------------------------------------- replace_model

TEST(AnthropicReplaceModelTest, RewritesOnlyTheTopLevelModel) {
  EXPECT_EQ(anthropic::replace_model(R"({ "model" : "a",  "messages":[{"model":"x"}], "z": {"model":1} })", "b\"c"),
            R"({ "model" : "b\"c",  "messages":[{"model":"x"}], "z": {"model":1} })");
  EXPECT_EQ(anthropic::replace_model(R"({"messages":[],"model":null,"s":"}\"model\":"})", "n"),
            R"({"messages":[],"model":"n","s":"}\"model\":"})");
  EXPECT_EQ(anthropic::replace_model(R"({"mod\u0065l":"a","model":"b"})", "n"), R"({"mod\u0065l":"n","model":"n"})");
  EXPECT_EQ(anthropic::replace_model(R"({"model":{"deep":[1,"]"]},"x":-1.5e3})", "n"), R"({"model":"n","x":-1.5e3})");
}

TEST(AnthropicReplaceModelTest, InsertsWhenMissingAndLeavesGarbageAlone) {
  EXPECT_EQ(anthropic::replace_model(R"( {"messages":[]})", "n"), R"( {"model":"n","messages":[]})");
  EXPECT_EQ(anthropic::replace_model("{ }", "n"), R"({"model":"n" })");
  EXPECT_EQ(anthropic::replace_model("[1]", "n"), "[1]");
  EXPECT_EQ(anthropic::replace_model(R"({"model":"a",)", "n"), R"({"model":"a",)");
  EXPECT_EQ(anthropic::replace_model(R"({"model" "a"})", "n"), R"({"model" "a"})");
  EXPECT_EQ(anthropic::replace_model("", "n"), "");
}

// ---------------------------------------------------------------- count_tokens estimate

TEST(AnthropicEstimateTest, DocumentedHeuristic) {
  ChatRequest empty;
  EXPECT_EQ(anthropic::estimate_input_tokens(empty), 1);
  // 4 + ceil(40 / 4) for a 40-character message.
  ChatRequest r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"0123456789012345678901234567890123456789"}]})");
  EXPECT_EQ(anthropic::estimate_input_tokens(r), 14);
  // Code points, not bytes: 8 x "é" (16 bytes) is 2 tokens.
  r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"éééééééé"}]})");
  EXPECT_EQ(anthropic::estimate_input_tokens(r), 6);
  // System, tools (+350), an image (+1600).
  r = parse_ok(R"({"model":"m","system":"abcd","tools":[{"name":"f","description":"d","input_schema":{}}],
    "messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]})");
  // chars: "abcd" 4 + "f" 1 + "d" 1 + "{}" 2 = 8 -> 2; fixed: 4 + 4 + 1600 + 350.
  EXPECT_EQ(anthropic::estimate_input_tokens(r), 2 + 8 + 1600 + 350);
}

}  // namespace
}  // namespace llmux
