// Responses codec: requests in (parse_request, read_head, replace_input),
// answers out (render_response, output_items, StreamRenderer), upstream
// answers read back (parse_usage, completed_response), and the round trips
// through the chat model (freeform calls, tool arguments, Anthropic thinking).
#include <gtest/gtest.h>

#include <memory>

#include "llmux/codec/anthropic.h"
#include "llmux/codec/openai.h"
#include "llmux/codec/responses.h"
#include "llmux/json.h"
#include "llmux/sse.h"
#include "sdk/codec_test_util.h"

namespace llmux {
namespace {

using Doc = std::shared_ptr<rapidjson::Document>;

ChatRequest parse_ok(std::string_view body) {
  ChatRequest r;
  const auto err = responses::parse_request(body, r);
  EXPECT_FALSE(err.has_value()) << (err ? err->message + " (" + err->param + ")" : "");
  return r;
}

Error parse_fail(std::string_view body) {
  ChatRequest r;
  const auto err = responses::parse_request(body, r);
  EXPECT_TRUE(err.has_value()) << "parsed: " << body;
  if (!err) return {};
  EXPECT_EQ(err->status, 400);
  EXPECT_EQ(err->type, "invalid_request_error");
  return *err;
}

Doc parse_json(std::string_view text) {
  auto doc = std::make_shared<rapidjson::Document>();
  doc->Parse(text.data(), text.size());
  EXPECT_FALSE(doc->HasParseError()) << text;
  return doc;
}

std::string str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

responses::ResponseMeta meta_for(std::string body, bool include_encrypted = false) {
  responses::ResponseMeta meta;
  meta.id = "resp_abc123";
  meta.model = "gpt-test";
  meta.created_at = 1700000000;
  meta.request_body = std::move(body);
  meta.include_encrypted_reasoning = include_encrypted;
  return meta;
}

// One SSE event of a rendered stream.
struct Frame {
  std::string event;
  Doc data;
};

// Splits a stream into its events and checks the framing every event must
// have: `type` equal to the event name, sequence numbers 0, 1, 2, ...
std::vector<Frame> frames_of(std::string_view stream, std::int64_t first_sequence = 0) {
  std::vector<Frame> frames;
  sse::Reader reader;
  reader.feed(stream, [&](const sse::Message& m) { frames.push_back({m.event, parse_json(m.data)}); });
  EXPECT_FALSE(reader.mid_event());
  std::int64_t expected = first_sequence;
  for (const Frame& f : frames) {
    const rapidjson::Document& d = *f.data;
    EXPECT_TRUE(d.IsObject());
    if (!d.IsObject()) continue;
    EXPECT_EQ(str(d["type"]), f.event);
    EXPECT_EQ(d["sequence_number"].GetInt64(), expected++) << f.event;
    EXPECT_FALSE(d.HasMember("error")) << f.event;  // a failure is response.error, never a top-level error
  }
  return frames;
}

std::vector<std::string> types_of(const std::vector<Frame>& frames) {
  std::vector<std::string> out;
  for (const Frame& f : frames) out.push_back(f.event);
  return out;
}

std::string render_stream(responses::StreamRenderer& renderer, const std::vector<Event>& events) {
  std::string out;
  for (const Event& e : events) renderer.render(e, out);
  return out;
}

Usage usage_of(std::int64_t in, std::int64_t out) {
  Usage u;
  u.input_tokens = in;
  u.output_tokens = out;
  return u;
}

// ---------------------------------------------------------------- requests

TEST(ResponsesRequestTest, StringInputAndInstructions) {
  const ChatRequest r = parse_ok(R"({"model":"gpt-x","instructions":"Be brief.","input":"Hi there"})");
  EXPECT_EQ(r.model, "gpt-x");
  EXPECT_EQ(r.source_api, Api::OpenAIResponses);
  EXPECT_TRUE(r.include_usage);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, Role::System);
  EXPECT_EQ(r.messages[0].text(), "Be brief.");
  EXPECT_TRUE(r.messages[0].content_was_string);
  EXPECT_EQ(r.messages[1].role, Role::User);
  EXPECT_EQ(r.messages[1].text(), "Hi there");
  EXPECT_TRUE(r.messages[1].content_was_string);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(ResponsesRequestTest, EveryInputItemType) {
  const ChatRequest r = parse_ok(R"({"model":"m","input":[
    {"type":"message","role":"system","content":"sys"},
    {"type":"message","role":"developer","content":[{"type":"input_text","text":"dev"}]},
    {"role":"user","content":[{"type":"input_text","text":"Look: "},
                               {"type":"input_image","image_url":"https://example.com/a.png","detail":"high"},
                               {"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]},
    {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"t"}],"encrypted_content":"gAAAAB-other"},
    {"type":"message","id":"msg_1","status":"completed","role":"assistant",
     "content":[{"type":"output_text","text":"Let me check.","annotations":[]}]},
    {"type":"function_call","id":"fc_1","status":"completed","call_id":"call_1","name":"lookup","arguments":"{\"q\": \"a\"}"},
    {"type":"function_call","call_id":"call_2","name":"close_agent","namespace":"multi_agent_v1","arguments":"{}"},
    {"type":"custom_tool_call","id":"ctc_1","status":"completed","call_id":"call_3","name":"apply_patch","input":"*** Begin Patch\n"},
    {"type":"function_call_output","id":"fco_1","call_id":"call_1","output":"found"},
    {"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"closed"},
                                                              {"type":"input_image","image_url":"https://example.com/b.png"}]},
    {"type":"custom_tool_call_output","id":"ctco_1","call_id":"call_3","output":"Success."},
    {"type":"item_reference","id":"msg_0"},
    {"role":"assistant","content":"Done."}
  ]})");
  ASSERT_EQ(r.messages.size(), 8u);
  EXPECT_EQ(r.messages[0].role, Role::System);
  EXPECT_EQ(r.messages[0].text(), "sys");
  EXPECT_EQ(r.messages[1].role, Role::Developer);
  EXPECT_FALSE(r.messages[1].content_was_string);
  EXPECT_EQ(r.messages[1].text(), "dev");

  const Message& user = r.messages[2];
  EXPECT_EQ(user.role, Role::User);
  ASSERT_EQ(user.content.size(), 3u);
  EXPECT_EQ(user.content[0].text, "Look: ");
  EXPECT_EQ(user.content[1].kind, ContentPart::Kind::Image);
  EXPECT_EQ(user.content[1].image_url, "https://example.com/a.png");
  EXPECT_EQ(user.content[1].detail, "high");
  EXPECT_EQ(user.content[2].image_url, "data:image/png;base64,iVBORw0KGgo=");

  // The turn's text and its calls make one assistant message; another
  // model's reasoning is skipped.
  const Message& assistant = r.messages[3];
  EXPECT_EQ(assistant.role, Role::Assistant);
  EXPECT_EQ(assistant.text(), "Let me check.");
  EXPECT_TRUE(assistant.thinking.empty());
  ASSERT_EQ(assistant.tool_calls.size(), 3u);
  EXPECT_EQ(assistant.tool_calls[0].id, "call_1");
  EXPECT_EQ(assistant.tool_calls[0].name, "lookup");
  EXPECT_EQ(assistant.tool_calls[0].arguments, "{\"q\": \"a\"}");
  EXPECT_EQ(assistant.tool_calls[1].name, responses::namespace_tool_name("multi_agent_v1", "close_agent"));
  EXPECT_EQ(assistant.tool_calls[2].name, "apply_patch");
  EXPECT_EQ(assistant.tool_calls[2].arguments, R"({"input":"*** Begin Patch\n"})");

  EXPECT_EQ(r.messages[4].role, Role::Tool);
  EXPECT_EQ(r.messages[4].tool_call_id, "call_1");
  EXPECT_EQ(r.messages[4].text(), "found");
  EXPECT_TRUE(r.messages[4].content_was_string);
  EXPECT_EQ(r.messages[5].tool_call_id, "call_2");
  ASSERT_EQ(r.messages[5].content.size(), 2u);
  EXPECT_FALSE(r.messages[5].content_was_string);
  EXPECT_EQ(r.messages[5].content[1].kind, ContentPart::Kind::Image);
  EXPECT_EQ(r.messages[6].tool_call_id, "call_3");
  EXPECT_EQ(r.messages[6].text(), "Success.");
  EXPECT_EQ(r.messages[7].role, Role::Assistant);
  EXPECT_EQ(r.messages[7].text(), "Done.");
  EXPECT_TRUE(r.messages[7].content_was_string);

  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("item_reference"), std::string::npos);
}

TEST(ResponsesRequestTest, EmptyAssistantTextMakesNoMessage) {
  const ChatRequest r = parse_ok(R"({"model":"m","input":[
    {"role":"user","content":"go"},
    {"type":"message","role":"assistant","content":[{"type":"output_text","text":""}]},
    {"type":"function_call","call_id":"c1","name":"f","arguments":""},
    {"type":"function_call_output","call_id":"c1","output":""},
    {"type":"message","role":"assistant","content":""},
    {"role":"user","content":[]}
  ]})");
  ASSERT_EQ(r.messages.size(), 3u);
  const Message& calls = r.messages[1];
  EXPECT_EQ(calls.role, Role::Assistant);
  EXPECT_TRUE(calls.content.empty());
  EXPECT_TRUE(calls.content_was_null);
  ASSERT_EQ(calls.tool_calls.size(), 1u);
  EXPECT_EQ(calls.tool_calls[0].arguments, "");
  EXPECT_EQ(r.messages[2].role, Role::Tool);  // a tool result is kept even when empty
  ASSERT_EQ(r.messages[2].content.size(), 1u);
  EXPECT_EQ(r.messages[2].text(), "");
  EXPECT_EQ(openai::render_chat_request(r),
            R"({"model":"m","messages":[{"role":"user","content":"go"},)"
            R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":""}}]},)"
            R"({"role":"tool","content":"","tool_call_id":"c1"}]})");
}

TEST(ResponsesRequestTest, ToolKinds) {
  const ChatRequest r = parse_ok(R"({"model":"m","input":"x","tools":[
    {"type":"function","name":"exec_command","description":"Run","strict":false,
     "parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}},
    {"type":"custom","name":"apply_patch","description":"Edit files.",
     "format":{"type":"grammar","syntax":"lark","definition":"start: \"*** Begin Patch\""}},
    {"type":"custom","name":"note"},
    {"type":"namespace","name":"multi_agent_v1","description":"Agents","tools":[
      {"type":"function","name":"close_agent","parameters":{"type":"object"}},
      {"type":"custom","name":"exec"}]},
    {"type":"web_search","external_web_access":true},
    {"type":"function","name":"noop","parameters":null}
  ],"tool_choice":{"type":"custom","name":"apply_patch"},"parallel_tool_calls":true})");
  ASSERT_EQ(r.tools.size(), 6u);
  EXPECT_EQ(r.tools[0].name, "exec_command");
  EXPECT_EQ(r.tools[0].description, "Run");
  EXPECT_EQ(r.tools[0].strict, false);
  EXPECT_EQ(r.tools[0].parameters_json,
            R"({"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]})");
  EXPECT_FALSE(r.tools[0].freeform);

  const std::string freeform = R"({"type":"object","properties":{"input":{"type":"string"}},"required":["input"]})";
  EXPECT_EQ(r.tools[1].name, "apply_patch");
  EXPECT_TRUE(r.tools[1].freeform);
  EXPECT_EQ(r.tools[1].parameters_json, freeform);
  EXPECT_EQ(r.tools[1].description.rfind("Edit files.", 0), 0u);
  EXPECT_NE(r.tools[1].description.find("lark grammar"), std::string::npos);  // the model learns the syntax
  EXPECT_NE(r.tools[1].description.find("*** Begin Patch"), std::string::npos);
  EXPECT_EQ(r.tools[2].description, "");
  EXPECT_TRUE(r.tools[2].freeform);

  EXPECT_EQ(r.tools[3].name, "multi_agent_v1__close_agent");
  EXPECT_EQ(r.tools[3].parameters_json, R"({"type":"object"})");
  EXPECT_EQ(r.tools[4].name, "multi_agent_v1__exec");
  EXPECT_TRUE(r.tools[4].freeform);
  EXPECT_EQ(r.tools[5].name, "noop");
  EXPECT_EQ(r.tools[5].parameters_json, "{}");

  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("web_search"), std::string::npos);
  EXPECT_EQ(r.tool_choice.mode, ToolChoice::Mode::Function);
  EXPECT_EQ(r.tool_choice.function_name, "apply_patch");
  EXPECT_EQ(r.parallel_tool_calls, true);
}

TEST(ResponsesRequestTest, ToolChoiceForms) {
  const auto choice = [](std::string_view value) {
    return parse_ok(std::string(R"({"model":"m","input":"x","tool_choice":)") + std::string(value) + "}").tool_choice;
  };
  EXPECT_EQ(choice("\"auto\"").mode, ToolChoice::Mode::Auto);
  EXPECT_EQ(choice("\"none\"").mode, ToolChoice::Mode::None);
  EXPECT_EQ(choice("\"required\"").mode, ToolChoice::Mode::Required);
  EXPECT_EQ(choice("null").mode, ToolChoice::Mode::Unset);
  const ToolChoice fn = choice(R"({"type":"function","name":"lookup"})");
  EXPECT_EQ(fn.mode, ToolChoice::Mode::Function);
  EXPECT_EQ(fn.function_name, "lookup");
  EXPECT_EQ(choice(R"({"type":"function","name":"close_agent","namespace":"ns"})").function_name, "ns__close_agent");
  EXPECT_EQ(choice(R"({"type":"web_search_preview"})").mode, ToolChoice::Mode::Auto);
}

TEST(ResponsesRequestTest, OptionsAndExtra) {
  const ChatRequest r = parse_ok(R"({"model":"m","input":"x","max_output_tokens":256,"temperature":0.5,
    "top_p":0.9,"stream":true,"reasoning":{"effort":"high","summary":"detailed"},
    "text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object","properties":{}},"strict":true},
            "verbosity":"low"},
    "store":false,"previous_response_id":"resp_1","include":["reasoning.encrypted_content"],
    "metadata":{"k":"v"},"truncation":"auto","prompt_cache_key":"abc","client_metadata":{"a":"b"}})");
  EXPECT_EQ(r.sampling.max_tokens, 256);
  EXPECT_EQ(r.sampling.temperature, 0.5);
  EXPECT_EQ(r.sampling.top_p, 0.9);
  EXPECT_TRUE(r.stream);
  ASSERT_TRUE(r.reasoning.has_value());
  EXPECT_EQ(r.reasoning->effort, "high");
  EXPECT_EQ(r.reasoning->summary, "detailed");
  EXPECT_EQ(r.response_format,
            R"({"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object","properties":{}},"strict":true}})");
  const std::vector<std::pair<std::string, std::string>> extra = {
      {"store", "false"},
      {"previous_response_id", "\"resp_1\""},
      {"include", "[\"reasoning.encrypted_content\"]"},
      {"metadata", "{\"k\":\"v\"}"},
      {"truncation", "\"auto\""},
      {"prompt_cache_key", "\"abc\""},
      {"client_metadata", "{\"a\":\"b\"}"},
  };
  EXPECT_EQ(r.extra, extra);

  EXPECT_EQ(parse_ok(R"({"model":"m","input":"x","text":{"format":{"type":"json_object"}}})").response_format,
            R"({"type":"json_object"})");
  EXPECT_EQ(parse_ok(R"({"model":"m","input":"x","text":{"format":{"type":"text"}}})").response_format, "");
  const ChatRequest summary_only = parse_ok(R"({"model":"m","input":"x","reasoning":{"summary":"auto"}})");
  ASSERT_TRUE(summary_only.reasoning.has_value());
  EXPECT_EQ(summary_only.reasoning->effort, "");
  EXPECT_EQ(summary_only.reasoning->summary, "auto");
}

TEST(ResponsesRequestTest, KeepsHostSetFields) {
  ChatRequest r;
  r.original_body = std::make_shared<const std::string>("{}");
  r.client_headers = {{"x", "y"}};
  ASSERT_FALSE(responses::parse_request(R"({"model":"m","input":"x"})", r));
  ASSERT_NE(r.original_body, nullptr);
  EXPECT_EQ(*r.original_body, "{}");
  EXPECT_EQ(r.client_header("x"), "y");
}

// The shape Codex CLI sends (captured): the system prompt as a developer item,
// items with ids, Codex's own members, built-in and namespace tools.
constexpr std::string_view kCodexBody = R"({
 "model": "gpt-5.5", "stream": true,
 "input": [
  {"type":"message","id":"msg_e3076f22","role":"developer","content":[{"type":"input_text","text":"You are a coding agent."}]},
  {"type":"message","id":"msg_01a2","role":"developer","content":[{"type":"input_text","text":"<skills>"},{"type":"input_text","text":"<permissions>"}]},
  {"type":"message","id":"msg_01a3","role":"user","content":[{"type":"input_text","text":"<environment_context>"}]},
  {"type":"message","id":"msg_01a4","role":"user","content":[{"type":"input_text","text":"create hello.txt"}]},
  {"type":"function_call","status":"completed","id":"fc_14c8","name":"exec_command",
   "arguments":"{\"cmd\": \"printf 'hello\\\\n' > hello.txt\"}","call_id":"call_abd1"},
  {"type":"function_call_output","id":"fco_01a2","call_id":"call_abd1","output":"Process exited with code 0\n"},
  {"type":"custom_tool_call","id":"ctc_9","status":"completed","call_id":"call_p","name":"apply_patch",
   "input":"*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"},
  {"type":"custom_tool_call_output","id":"ctco_9","call_id":"call_p","output":"Success. Updated the following files:\nA hello.txt\n"}
 ],
 "tools": [
  {"type":"function","name":"exec_command","description":"Runs a command.","strict":false,
   "parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"],"additionalProperties":false}},
  {"type":"custom","name":"apply_patch","description":"Edit files. This is a FREEFORM tool.",
   "format":{"type":"grammar","syntax":"lark","definition":"start: begin_patch hunk+ end_patch"}},
  {"type":"namespace","name":"multi_agent_v1","description":"Sub-agents.","tools":[
   {"type":"function","name":"close_agent","strict":false,"parameters":{"type":"object","properties":{"target":{"type":"string"}}}}]},
  {"type":"tool_search","execution":"client","description":"Search tools","parameters":{"type":"object"}},
  {"type":"web_search","external_web_access":true}
 ],
 "tool_choice": "auto", "parallel_tool_calls": true, "reasoning": {"effort":"medium","summary":"auto"},
 "store": false, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "01a23bfd",
 "text": {"verbosity":"low"}, "client_metadata": {"session_id":"01a23bfd"}
})";

TEST(ResponsesRequestTest, CodexBody) {
  const ChatRequest r = parse_ok(kCodexBody);
  ASSERT_EQ(r.messages.size(), 8u);
  EXPECT_EQ(r.messages[0].role, Role::Developer);
  EXPECT_EQ(r.messages[0].text(), "You are a coding agent.");
  EXPECT_EQ(r.messages[1].content.size(), 2u);
  EXPECT_EQ(r.messages[3].text(), "create hello.txt");
  EXPECT_EQ(r.messages[4].role, Role::Assistant);
  ASSERT_EQ(r.messages[4].tool_calls.size(), 1u);
  EXPECT_EQ(r.messages[4].tool_calls[0].arguments, "{\"cmd\": \"printf 'hello\\\\n' > hello.txt\"}");
  EXPECT_EQ(r.messages[5].role, Role::Tool);
  EXPECT_EQ(r.messages[6].tool_calls[0].arguments,
            R"({"input":"*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"})");
  EXPECT_EQ(r.messages[7].tool_call_id, "call_p");

  ASSERT_EQ(r.tools.size(), 3u);
  EXPECT_EQ(r.tools[0].name, "exec_command");
  EXPECT_TRUE(r.tools[1].freeform);
  EXPECT_EQ(r.tools[2].name, "multi_agent_v1__close_agent");
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_NE(r.warnings[0].find("tool_search"), std::string::npos);
  EXPECT_NE(r.warnings[1].find("web_search"), std::string::npos);
  EXPECT_EQ(r.tool_choice.mode, ToolChoice::Mode::Auto);
  ASSERT_TRUE(r.reasoning.has_value());
  EXPECT_EQ(r.reasoning->effort, "medium");
  EXPECT_TRUE(r.response_format.empty());

  // Rendered for a chat upstream: Codex's own members stay behind, the
  // shared prompt_cache_key goes along.
  const std::string chat = openai::render_chat_request(r);
  const Doc rendered = parse_json(chat);
  for (const char* member : {"include", "store", "client_metadata", "text", "reasoning", "input"}) {
    EXPECT_FALSE(rendered->HasMember(member)) << member << " in " << chat;
  }
  EXPECT_EQ(chat.find("web_search"), std::string::npos);
  EXPECT_EQ(chat.find("tool_search"), std::string::npos);
  EXPECT_NE(chat.find(R"("reasoning_effort":"medium")"), std::string::npos);
  EXPECT_NE(chat.find(R"("prompt_cache_key":"01a23bfd")"), std::string::npos);
  EXPECT_NE(chat.find(R"("role":"developer")"), std::string::npos);
}

TEST(ResponsesRequestTest, ErrorsNameTheParam) {
  const auto param = [](std::string_view body) { return parse_fail(body).param; };
  EXPECT_EQ(param(R"({"input":"x"})"), "model");
  EXPECT_EQ(param(R"({"model":"m"})"), "input");
  EXPECT_EQ(param(R"({"model":1,"input":"x"})"), "model");
  EXPECT_EQ(param(R"({"model":"m","input":5})"), "input");
  EXPECT_EQ(param(R"({"model":"m","input":[1]})"), "input[0]");
  EXPECT_EQ(param(R"({"model":"m","input":[{"content":"x"}]})"), "input[0].type");
  EXPECT_EQ(param(R"({"model":"m","input":[{"type":"message","content":"x"}]})"), "input[0].role");
  EXPECT_EQ(param(R"({"model":"m","input":[{"role":"tool","content":"x"}]})"), "input[0].role");
  EXPECT_EQ(param(R"({"model":"m","input":[{"role":"user"}]})"), "input[0].content");
  EXPECT_EQ(param(R"({"model":"m","input":[{"role":"user","content":7}]})"), "input[0].content");
  EXPECT_EQ(param(R"({"model":"m","input":[{"role":"user","content":[{"type":"input_audio"}]}]})"),
            "input[0].content[0].type");
  EXPECT_EQ(param(R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]})"),
            "input[0].content[0].file_id");
  EXPECT_EQ(param(R"({"model":"m","input":[{"role":"user","content":"a"},
                     {"type":"function_call","name":"f","arguments":"{}"}]})"),
            "input[1].call_id");
  EXPECT_EQ(param(R"({"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":3}]})"),
            "input[0].arguments");
  EXPECT_EQ(param(R"({"model":"m","input":[{"type":"function_call_output","call_id":"c"}]})"), "input[0].output");
  EXPECT_EQ(param(R"({"model":"m","input":[{"type":"custom_tool_call","call_id":"c","name":"f"}]})"),
            "input[0].input");
  EXPECT_EQ(param(R"({"model":"m","input":"x","instructions":5})"), "instructions");
  EXPECT_EQ(param(R"({"model":"m","input":"x","tools":{}})"), "tools");
  EXPECT_EQ(param(R"({"model":"m","input":"x","tools":[{"name":"f"}]})"), "tools[0].type");
  EXPECT_EQ(param(R"({"model":"m","input":"x","tools":[{"type":"function"}]})"), "tools[0].name");
  EXPECT_EQ(param(R"({"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":"x"}]})"),
            "tools[0].parameters");
  EXPECT_EQ(param(R"({"model":"m","input":"x","tools":[{"type":"namespace","name":"n","tools":[{"type":"function"}]}]})"),
            "tools[0].tools[0].name");
  EXPECT_EQ(param(R"({"model":"m","input":"x","tool_choice":"any"})"), "tool_choice");
  EXPECT_EQ(param(R"({"model":"m","input":"x","tool_choice":{"type":"function"}})"), "tool_choice.name");
  EXPECT_EQ(param(R"({"model":"m","input":"x","max_output_tokens":1.5})"), "max_output_tokens");
  EXPECT_EQ(param(R"({"model":"m","input":"x","temperature":"hot"})"), "temperature");
  EXPECT_EQ(param(R"({"model":"m","input":"x","reasoning":"high"})"), "reasoning");
  EXPECT_EQ(param(R"({"model":"m","input":"x","reasoning":{"effort":1}})"), "reasoning.effort");
  EXPECT_EQ(param(R"({"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"a"}}})"),
            "text.format.schema");
  EXPECT_EQ(param(R"({"model":"m","input":"x","text":{"format":{"type":"yaml"}}})"), "text.format.type");
  EXPECT_EQ(param(R"({"model":"m","input":"x","store":"no"})"), "store");
  EXPECT_EQ(param(R"({"model":"m","input":"x","include":[1]})"), "include[0]");
  EXPECT_EQ(param(R"({"model":"m","input":"x","stream":1})"), "stream");

  const Error syntax = parse_fail("{\"model\":\"m\",\n\"input\" \"x\"}");
  EXPECT_NE(syntax.message.find("line 2"), std::string::npos) << syntax.message;
  const Error typed = parse_fail(R"({"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":3}]})");
  EXPECT_EQ(typed.message, "Invalid type for 'input[0].arguments': expected a string, got a number.");
  EXPECT_EQ(typed.code, "invalid_type");
  EXPECT_FALSE(parse_fail("[1]").message.empty());
}

TEST(ResponsesRequestTest, NamespaceToolName) {
  EXPECT_EQ(responses::namespace_tool_name("multi_agent_v1", "close_agent"), "multi_agent_v1__close_agent");
}

// The chat codec renders a Responses request: tools (freeform and namespaced
// ones as plain functions), calls, results, images, structured output, effort.
TEST(ResponsesRequestTest, ChatCodecRendersResponsesRequest) {
  const ChatRequest r = parse_ok(R"({"model":"gpt-x","instructions":"Be brief.","input":[
    {"role":"user","content":[{"type":"input_text","text":"What is "},
                              {"type":"input_image","image_url":"https://example.com/a.png","detail":"low"}]},
    {"type":"function_call","call_id":"call_1","name":"lookup","arguments":"{\"q\":\"a\"}"},
    {"type":"custom_tool_call","call_id":"call_2","name":"apply_patch","input":"P"},
    {"type":"function_call_output","call_id":"call_1","output":"a cat"},
    {"type":"custom_tool_call_output","call_id":"call_2","output":"ok"}],
    "tools":[{"type":"function","name":"lookup","parameters":{"type":"object"},"strict":true},
             {"type":"custom","name":"apply_patch"},
             {"type":"namespace","name":"ns","tools":[{"type":"function","name":"f"}]}],
    "tool_choice":"required","parallel_tool_calls":false,"max_output_tokens":100,"temperature":0.2,
    "reasoning":{"effort":"low"},"text":{"format":{"type":"json_object"}},"stream":true,"store":true})");
  EXPECT_EQ(openai::render_chat_request(r),
            R"({"model":"gpt-x","messages":[{"role":"system","content":"Be brief."},)"
            R"({"role":"user","content":[{"type":"text","text":"What is "},)"
            R"({"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"low"}}]},)"
            R"({"role":"assistant","content":null,"tool_calls":[)"
            R"({"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"a\"}"}},)"
            R"({"id":"call_2","type":"function","function":{"name":"apply_patch","arguments":"{\"input\":\"P\"}"}}]},)"
            R"({"role":"tool","content":"a cat","tool_call_id":"call_1"},)"
            R"({"role":"tool","content":"ok","tool_call_id":"call_2"}],)"
            R"("tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"},"strict":true}},)"
            R"({"type":"function","function":{"name":"apply_patch","parameters":)"
            R"({"type":"object","properties":{"input":{"type":"string"}},"required":["input"]}}},)"
            R"({"type":"function","function":{"name":"ns__f","parameters":{}}}],)"
            R"("tool_choice":"required","parallel_tool_calls":false,"temperature":0.2,"max_tokens":100,)"
            R"("reasoning_effort":"low","response_format":{"type":"json_object"},)"
            R"("stream":true,"stream_options":{"include_usage":true}})");
}

// ---------------------------------------------------------------- read_head / replace_input

TEST(ResponsesHeadTest, ReadsHead) {
  responses::RequestHead head;
  ASSERT_FALSE(responses::read_head(
      R"({"model":"gpt-x","stream":true,"store":false,"previous_response_id":"resp_9","input":"hi \"you\""})", head));
  EXPECT_EQ(head.model, "gpt-x");
  EXPECT_TRUE(head.stream);
  EXPECT_FALSE(head.store);
  EXPECT_EQ(head.previous_response_id, "resp_9");
  EXPECT_EQ(head.input_json, R"([{"type":"message","role":"user","content":"hi \"you\""}])");

  ASSERT_FALSE(responses::read_head(R"({"model":"m\u0030","input":[{"role":"user","content":"x"}]})", head));
  EXPECT_EQ(head.model, "m0");
  EXPECT_FALSE(head.stream);
  EXPECT_TRUE(head.store);  // OpenAI's default
  EXPECT_EQ(head.previous_response_id, "");
  EXPECT_EQ(head.input_json, R"([{"role":"user","content":"x"}])");

  ASSERT_FALSE(responses::read_head(R"({"model":"m","previous_response_id":"resp_1"})", head));
  EXPECT_EQ(head.input_json, "[]");
}

TEST(ResponsesHeadTest, HeadErrors) {
  responses::RequestHead head;
  const auto error = [&](std::string_view body) {
    std::optional<Error> e = responses::read_head(body, head);
    EXPECT_TRUE(e.has_value()) << body;
    if (e) {
      EXPECT_EQ(e->status, 400);
    }
    return e.value_or(Error{});
  };
  EXPECT_EQ(error(R"({"model":1,"input":"x"})").param, "model");
  EXPECT_EQ(error(R"({"model":"m","input":3})").param, "input");
  EXPECT_EQ(error(R"({"model":"m","stream":"yes"})").param, "stream");
  EXPECT_EQ(error(R"({"model":"m","store":1})").param, "store");
  EXPECT_EQ(error(R"({"model":"m","previous_response_id":5})").param, "previous_response_id");
  EXPECT_EQ(error(R"({"input":"x"})").param, "model");
  EXPECT_NE(error("[1,2]").message.find("JSON object"), std::string::npos);
  EXPECT_NE(error("{\"model\":").message.find("line 1"), std::string::npos);
}

TEST(ResponsesHeadTest, ReplaceInput) {
  EXPECT_EQ(responses::replace_input(
                R"({"model":"m", "previous_response_id":"resp_1", "input":"new", "store":true})",
                R"([{"role":"user","content":"old"},{"role":"user","content":"new"}])"),
            R"({"model":"m","input":[{"role":"user","content":"old"},{"role":"user","content":"new"}],"store":true})");
  EXPECT_EQ(responses::replace_input(R"({"model":"m","previous_response_id":"r"})", "[]"),
            R"({"model":"m","input":[]})");
  // The result parses like any self-contained request.
  const ChatRequest r = parse_ok(responses::replace_input(
      R"({"model":"m","input":[{"role":"user","content":"b"}],"previous_response_id":"r"})",
      R"([{"role":"user","content":"a"},{"role":"assistant","content":"x"},{"role":"user","content":"b"}])"));
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].text(), "a");
  for (const auto& [key, value] : r.extra) EXPECT_NE(key, "previous_response_id");
}

// ---------------------------------------------------------------- whole answers

constexpr std::string_view kEchoBody =
    R"({"model":"gpt-test","instructions":"Be brief.","input":"hi","temperature":0.5,
        "tools":[{"type":"function","name":"lookup","parameters":{"type":"object"}},
                 {"type":"custom","name":"apply_patch"},
                 {"type":"namespace","name":"multi_agent_v1","tools":[{"type":"function","name":"close_agent"}]}],
        "tool_choice":"auto","metadata":{"k":"v"},"store":false})";

TEST(ResponsesRenderTest, TextAnswer) {
  const ChatRequest request = parse_ok(kEchoBody);
  ChatResponse response;
  response.text = "Hello \"world\"";
  Usage u = usage_of(10, 5);
  u.cache_read_tokens = 4;
  u.reasoning_tokens = 2;
  response.usage = u;
  response.finish = FinishReason::Stop;
  responses::ResponseMeta meta = meta_for(std::string(kEchoBody));
  meta.previous_response_id = "resp_prev";
  const Doc doc = parse_json(responses::render_response(response, meta, request));
  const rapidjson::Document& d = *doc;
  EXPECT_EQ(str(d["id"]), "resp_abc123");
  EXPECT_EQ(str(d["object"]), "response");
  EXPECT_EQ(d["created_at"].GetInt64(), 1700000000);
  EXPECT_EQ(str(d["status"]), "completed");
  EXPECT_TRUE(d["error"].IsNull());
  EXPECT_TRUE(d["incomplete_details"].IsNull());
  EXPECT_EQ(str(d["instructions"]), "Be brief.");
  EXPECT_EQ(str(d["model"]), "gpt-test");
  EXPECT_EQ(str(d["previous_response_id"]), "resp_prev");
  EXPECT_EQ(d["temperature"].GetDouble(), 0.5);
  EXPECT_EQ(d["top_p"].GetDouble(), 1.0);
  EXPECT_FALSE(d["store"].GetBool());
  EXPECT_TRUE(d["parallel_tool_calls"].GetBool());
  EXPECT_EQ(str(d["tool_choice"]), "auto");
  EXPECT_EQ(d["tools"].Size(), 3u);
  EXPECT_EQ(str(d["text"]["format"]["type"]), "text");
  EXPECT_EQ(str(d["metadata"]["k"]), "v");
  ASSERT_EQ(d["output"].Size(), 1u);
  const rapidjson::Value& message = d["output"][0];
  EXPECT_EQ(str(message["type"]), "message");
  EXPECT_EQ(str(message["id"]).rfind("msg_", 0), 0u);
  EXPECT_EQ(str(message["status"]), "completed");
  EXPECT_EQ(str(message["role"]), "assistant");
  ASSERT_EQ(message["content"].Size(), 1u);
  EXPECT_EQ(str(message["content"][0]["type"]), "output_text");
  EXPECT_EQ(str(message["content"][0]["text"]), "Hello \"world\"");
  EXPECT_EQ(message["content"][0]["annotations"].Size(), 0u);
  const rapidjson::Value& usage = d["usage"];
  EXPECT_EQ(usage["input_tokens"].GetInt(), 10);
  EXPECT_EQ(usage["input_tokens_details"]["cached_tokens"].GetInt(), 4);
  EXPECT_EQ(usage["output_tokens"].GetInt(), 5);
  EXPECT_EQ(usage["output_tokens_details"]["reasoning_tokens"].GetInt(), 2);
  EXPECT_EQ(usage["total_tokens"].GetInt(), 15);
}

TEST(ResponsesRenderTest, CallsReasoningAndOrder) {
  const ChatRequest request = parse_ok(kEchoBody);
  ChatResponse response;
  response.text = "Calling.";
  response.reasoning = "think";
  response.reasoning_signature = "SIG";
  response.tool_calls = {{"call_1", "lookup", "{\"q\": 1}"},
                         {"call_2", "apply_patch", R"({"input":"*** Begin Patch\n\"x\"\n"})"},
                         {"call_3", "multi_agent_v1__close_agent", "{}"}};
  response.finish = FinishReason::ToolCalls;

  const Doc plain = parse_json(responses::render_response(response, meta_for(std::string(kEchoBody)), request));
  const rapidjson::Value& output = (*plain)["output"];
  ASSERT_EQ(output.Size(), 5u);
  EXPECT_EQ(str(output[0]["type"]), "reasoning");
  EXPECT_EQ(str(output[0]["id"]).rfind("rs_", 0), 0u);
  EXPECT_EQ(str(output[0]["summary"][0]["type"]), "summary_text");
  EXPECT_EQ(str(output[0]["summary"][0]["text"]), "think");
  EXPECT_FALSE(output[0].HasMember("encrypted_content"));  // not asked for
  EXPECT_EQ(str(output[1]["type"]), "message");
  EXPECT_EQ(str(output[2]["type"]), "function_call");
  EXPECT_EQ(str(output[2]["id"]).rfind("fc_", 0), 0u);
  EXPECT_EQ(str(output[2]["call_id"]), "call_1");
  EXPECT_EQ(str(output[2]["name"]), "lookup");
  EXPECT_EQ(str(output[2]["arguments"]), "{\"q\": 1}");
  EXPECT_EQ(str(output[2]["status"]), "completed");
  EXPECT_FALSE(output[2].HasMember("namespace"));
  EXPECT_EQ(str(output[3]["type"]), "custom_tool_call");
  EXPECT_EQ(str(output[3]["id"]).rfind("ctc_", 0), 0u);
  EXPECT_EQ(str(output[3]["name"]), "apply_patch");
  EXPECT_EQ(str(output[3]["input"]), "*** Begin Patch\n\"x\"\n");
  EXPECT_EQ(str(output[4]["type"]), "function_call");
  EXPECT_EQ(str(output[4]["name"]), "close_agent");
  EXPECT_EQ(str(output[4]["namespace"]), "multi_agent_v1");
  EXPECT_EQ(str((*plain)["status"]), "completed");

  const Doc encrypted = parse_json(responses::render_response(response, meta_for(std::string(kEchoBody), true), request));
  EXPECT_EQ(str((*encrypted)["output"][0]["encrypted_content"]).rfind("llmux.1:", 0), 0u);
  // What the host stores always carries it.
  const Doc stored = parse_json(responses::output_items(response, meta_for(std::string(kEchoBody)), request));
  ASSERT_TRUE(stored->IsArray());
  ASSERT_EQ(stored->Size(), 5u);
  EXPECT_EQ(str((*stored)[0]["encrypted_content"]).rfind("llmux.1:", 0), 0u);
}

TEST(ResponsesRenderTest, LengthErrorAndRaw) {
  const ChatRequest request = parse_ok(kEchoBody);
  ChatResponse cut;
  cut.text = "Once upon";
  cut.finish = FinishReason::Length;
  const Doc incomplete = parse_json(responses::render_response(cut, meta_for(std::string(kEchoBody)), request));
  EXPECT_EQ(str((*incomplete)["status"]), "incomplete");
  EXPECT_EQ(str((*incomplete)["incomplete_details"]["reason"]), "max_output_tokens");
  EXPECT_EQ((*incomplete)["output"].Size(), 1u);

  ChatResponse failed;
  failed.error = Error::make(429, "rate_limit_error", "slow down", "rate_limit_exceeded");
  const Doc error = parse_json(responses::render_response(failed, meta_for(std::string(kEchoBody)), request));
  EXPECT_EQ(str((*error)["status"]), "failed");
  EXPECT_EQ(str((*error)["error"]["code"]), "rate_limit_exceeded");
  EXPECT_EQ(str((*error)["error"]["message"]), "slow down");
  EXPECT_EQ((*error)["output"].Size(), 0u);
  EXPECT_EQ(responses::output_items(failed, meta_for({}), request), "[]");

  ChatResponse raw;
  raw.raw = R"({"id":"resp_up","object":"response","output":[ {"type":"message"} ]})";
  EXPECT_EQ(responses::render_response(raw, meta_for({}), request), raw.raw);
  EXPECT_EQ(responses::output_items(raw, meta_for({}), request), R"([{"type":"message"}])");

  // Without a request body or id: defaults, and an id is made.
  ChatRequest bare = parse_ok(R"({"model":"m","input":"x"})");
  responses::ResponseMeta meta;
  meta.model = "m";
  const Doc defaults = parse_json(responses::render_response(cut, meta, bare));
  const std::string id = str((*defaults)["id"]);
  EXPECT_EQ(id.rfind("resp_", 0), 0u);
  EXPECT_GE(id.size(), 29u);
  EXPECT_TRUE((*defaults)["instructions"].IsNull());
  EXPECT_EQ((*defaults)["tools"].Size(), 0u);
  EXPECT_EQ(str((*defaults)["tool_choice"]), "auto");
  EXPECT_TRUE((*defaults)["metadata"].IsObject());
}

TEST(ResponsesRenderTest, RenderError) {
  const Doc d = parse_json(responses::render_error(Error::invalid_request("bad", "input[0]", "invalid_type")));
  EXPECT_EQ(str((*d)["error"]["message"]), "bad");
  EXPECT_EQ(str((*d)["error"]["type"]), "invalid_request_error");
  EXPECT_EQ(str((*d)["error"]["param"]), "input[0]");
  EXPECT_EQ(str((*d)["error"]["code"]), "invalid_type");
}

// ---------------------------------------------------------------- streams

TEST(ResponsesStreamTest, TextEventOrder) {
  const ChatRequest request = parse_ok(kEchoBody);
  responses::StreamRenderer renderer(meta_for(std::string(kEchoBody)), request);
  std::string out;
  renderer.render(Event::role(), out);
  EXPECT_EQ(out, "");  // nothing until content
  renderer.render(Event::usage_report(usage_of(7, 3)), out);
  EXPECT_EQ(out, "");
  for (const Event& e : {Event::text_delta("Hel"), Event::text_delta(""), Event::text_delta("lo"),
                         Event::finished(FinishReason::Stop)}) {
    renderer.render(e, out);
  }
  EXPECT_TRUE(renderer.done());
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
  EXPECT_EQ(out.rfind("event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,", 0), 0u);
  const std::vector<Frame> frames = frames_of(out);
  EXPECT_EQ(types_of(frames), (std::vector<std::string>{
                                  "response.created", "response.in_progress", "response.output_item.added",
                                  "response.content_part.added", "response.output_text.delta",
                                  "response.output_text.delta", "response.output_text.done",
                                  "response.content_part.done", "response.output_item.done", "response.completed"}));
  const rapidjson::Value& created = (*frames[0].data)["response"];
  EXPECT_EQ(str(created["status"]), "in_progress");
  EXPECT_EQ(created["output"].Size(), 0u);
  EXPECT_EQ(str(created["id"]), "resp_abc123");
  EXPECT_EQ(str((*frames[1].data)["response"]["status"]), "in_progress");

  const rapidjson::Document& added = *frames[2].data;
  EXPECT_EQ(added["output_index"].GetInt(), 0);
  EXPECT_EQ(str(added["item"]["type"]), "message");
  EXPECT_EQ(str(added["item"]["status"]), "in_progress");
  const std::string item_id = str(added["item"]["id"]);
  const rapidjson::Document& part = *frames[3].data;
  EXPECT_EQ(str(part["item_id"]), item_id);
  EXPECT_EQ(part["content_index"].GetInt(), 0);
  EXPECT_EQ(str(part["part"]["type"]), "output_text");
  const rapidjson::Document& delta = *frames[4].data;
  EXPECT_EQ(str(delta["item_id"]), item_id);
  EXPECT_EQ(delta["output_index"].GetInt(), 0);
  EXPECT_EQ(delta["content_index"].GetInt(), 0);
  EXPECT_EQ(str(delta["delta"]), "Hel");
  EXPECT_TRUE(delta["logprobs"].IsArray());
  EXPECT_EQ(str((*frames[6].data)["text"]), "Hello");
  EXPECT_EQ(str((*frames[7].data)["part"]["text"]), "Hello");
  EXPECT_EQ(str((*frames[8].data)["item"]["status"]), "completed");
  EXPECT_EQ(str((*frames[8].data)["item"]["content"][0]["text"]), "Hello");

  const rapidjson::Value& completed = (*frames[9].data)["response"];
  EXPECT_EQ(str(completed["status"]), "completed");
  EXPECT_EQ(completed["output"].Size(), 1u);
  EXPECT_EQ(completed["usage"]["input_tokens"].GetInt(), 7);
  EXPECT_EQ(completed["usage"]["total_tokens"].GetInt(), 10);

  EXPECT_EQ(renderer.response_id(), "resp_abc123");
  const Doc stored = parse_json(renderer.output_json());
  ASSERT_EQ(stored->Size(), 1u);
  EXPECT_EQ(str((*stored)[0]["content"][0]["text"]), "Hello");

  // After the terminal event nothing more is written.
  std::string after;
  renderer.render(Event::text_delta("late"), after);
  renderer.render(Event::finished(FinishReason::Stop), after);
  EXPECT_EQ(after, "");
}

TEST(ResponsesStreamTest, FunctionCallFragments) {
  const ChatRequest request = parse_ok(kEchoBody);
  responses::StreamRenderer renderer(meta_for(std::string(kEchoBody)), request);
  const std::string out = render_stream(
      renderer, {Event::role(), Event::text_delta("Let me look."), Event::tool_call_delta(0, "call_1", "lookup", ""),
                 Event::tool_call_delta(0, "", "", "{\"q\": "), Event::tool_call_delta(0, "", "", "\"a b\"}"),
                 Event::tool_call_delta(1, "call_2", "multi_agent_v1__close_agent", "{\"target\":\"x\"}"),
                 Event::usage_report(usage_of(1, 2)), Event::finished(FinishReason::ToolCalls)});
  const std::vector<Frame> frames = frames_of(out);
  EXPECT_EQ(types_of(frames),
            (std::vector<std::string>{
                "response.created", "response.in_progress", "response.output_item.added",
                "response.content_part.added", "response.output_text.delta", "response.output_text.done",
                "response.content_part.done", "response.output_item.done",
                "response.output_item.added", "response.function_call_arguments.delta",
                "response.function_call_arguments.delta", "response.function_call_arguments.done",
                "response.output_item.done",
                "response.output_item.added", "response.function_call_arguments.delta",
                "response.function_call_arguments.done", "response.output_item.done", "response.completed"}));
  const rapidjson::Document& added = *frames[8].data;
  EXPECT_EQ(added["output_index"].GetInt(), 1);
  EXPECT_EQ(str(added["item"]["type"]), "function_call");
  EXPECT_EQ(str(added["item"]["status"]), "in_progress");
  EXPECT_EQ(str(added["item"]["call_id"]), "call_1");
  EXPECT_EQ(str(added["item"]["name"]), "lookup");
  EXPECT_EQ(str(added["item"]["arguments"]), "");
  const std::string item_id = str(added["item"]["id"]);
  EXPECT_EQ(item_id.rfind("fc_", 0), 0u);
  EXPECT_EQ(str((*frames[9].data)["item_id"]), item_id);
  EXPECT_EQ((*frames[9].data)["output_index"].GetInt(), 1);
  EXPECT_EQ(str((*frames[9].data)["delta"]), "{\"q\": ");
  EXPECT_EQ(str((*frames[11].data)["arguments"]), "{\"q\": \"a b\"}");
  EXPECT_EQ(str((*frames[11].data)["name"]), "lookup");
  EXPECT_EQ(str((*frames[12].data)["item"]["arguments"]), "{\"q\": \"a b\"}");
  EXPECT_EQ(str((*frames[12].data)["item"]["status"]), "completed");

  const rapidjson::Value& namespaced = (*frames[16].data)["item"];
  EXPECT_EQ(str(namespaced["name"]), "close_agent");
  EXPECT_EQ(str(namespaced["namespace"]), "multi_agent_v1");
  EXPECT_EQ(str(namespaced["arguments"]), "{\"target\":\"x\"}");

  const rapidjson::Value& output = (*frames.back().data)["response"]["output"];
  ASSERT_EQ(output.Size(), 3u);
  EXPECT_EQ(str(output[1]["arguments"]), "{\"q\": \"a b\"}");
  EXPECT_EQ(str(output[2]["namespace"]), "multi_agent_v1");
}

TEST(ResponsesStreamTest, CustomToolCallIsUnwrapped) {
  const ChatRequest request = parse_ok(kEchoBody);
  responses::StreamRenderer renderer(meta_for(std::string(kEchoBody)), request);
  const std::string out =
      render_stream(renderer, {Event::tool_call_delta(0, "call_p", "apply_patch", "{\"inp"),
                               Event::tool_call_delta(0, "", "", "ut\":\"*** Begin Patch\\n+\\\"hi\\\"\\n"),
                               Event::tool_call_delta(0, "", "", "*** End Patch\"}"),
                               Event::finished(FinishReason::ToolCalls)});
  const std::vector<Frame> frames = frames_of(out);
  EXPECT_EQ(types_of(frames),
            (std::vector<std::string>{"response.created", "response.in_progress", "response.output_item.added",
                                      "response.custom_tool_call_input.delta", "response.custom_tool_call_input.done",
                                      "response.output_item.done", "response.completed"}));
  const std::string input = "*** Begin Patch\n+\"hi\"\n*** End Patch";
  EXPECT_EQ(str((*frames[2].data)["item"]["type"]), "custom_tool_call");
  EXPECT_EQ(str((*frames[2].data)["item"]["id"]).rfind("ctc_", 0), 0u);
  EXPECT_EQ(str((*frames[3].data)["delta"]), input);
  EXPECT_EQ(str((*frames[4].data)["input"]), input);
  const rapidjson::Value& item = (*frames[5].data)["item"];
  EXPECT_EQ(str(item["input"]), input);
  EXPECT_EQ(str(item["call_id"]), "call_p");
  EXPECT_EQ(str(item["name"]), "apply_patch");
  EXPECT_FALSE(item.HasMember("arguments"));
}

TEST(ResponsesStreamTest, ReasoningThenText) {
  const ChatRequest request = parse_ok(kEchoBody);
  responses::StreamRenderer renderer(meta_for(std::string(kEchoBody), true), request);
  const std::string out = render_stream(
      renderer, {Event::reasoning_delta("Think"), Event::reasoning_delta("ing."), Event::reasoning_signature("SIG"),
                 Event::redacted_reasoning("OPAQUE"), Event::text_delta("Answer"), Event::finished(FinishReason::Stop)});
  const std::vector<Frame> frames = frames_of(out);
  EXPECT_EQ(types_of(frames),
            (std::vector<std::string>{
                "response.created", "response.in_progress", "response.output_item.added",
                "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done", "response.output_item.done",
                "response.output_item.added", "response.output_item.done",
                "response.output_item.added", "response.content_part.added", "response.output_text.delta",
                "response.output_text.done", "response.content_part.done", "response.output_item.done",
                "response.completed"}));
  EXPECT_EQ(str((*frames[2].data)["item"]["type"]), "reasoning");
  EXPECT_EQ((*frames[3].data)["summary_index"].GetInt(), 0);
  EXPECT_EQ(str((*frames[3].data)["part"]["type"]), "summary_text");
  EXPECT_EQ(str((*frames[4].data)["delta"]), "Think");
  EXPECT_EQ(str((*frames[6].data)["text"]), "Thinking.");
  EXPECT_EQ(str((*frames[7].data)["part"]["text"]), "Thinking.");
  const rapidjson::Value& reasoning = (*frames[8].data)["item"];
  EXPECT_EQ(str(reasoning["summary"][0]["text"]), "Thinking.");
  EXPECT_EQ(str(reasoning["encrypted_content"]).rfind("llmux.1:", 0), 0u);
  const rapidjson::Value& redacted = (*frames[10].data)["item"];
  EXPECT_EQ(redacted["summary"].Size(), 0u);
  EXPECT_EQ(str(redacted["encrypted_content"]).rfind("llmux.1:", 0), 0u);
  EXPECT_EQ((*frames[11].data)["output_index"].GetInt(), 2);
  EXPECT_EQ((*frames.back().data)["response"]["output"].Size(), 3u);
}

TEST(ResponsesStreamTest, LengthIsIncomplete) {
  const ChatRequest request = parse_ok(kEchoBody);
  responses::StreamRenderer renderer(meta_for(std::string(kEchoBody)), request);
  const std::vector<Frame> frames =
      frames_of(render_stream(renderer, {Event::text_delta("Once"), Event::finished(FinishReason::Length)}));
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().event, "response.incomplete");
  EXPECT_EQ(str((*frames.back().data)["response"]["status"]), "incomplete");
  EXPECT_EQ(str((*frames.back().data)["response"]["incomplete_details"]["reason"]), "max_output_tokens");
  EXPECT_EQ(frames[frames.size() - 2].event, "response.output_item.done");
  EXPECT_TRUE(renderer.done());
  EXPECT_FALSE(renderer.output_json().empty());
}

TEST(ResponsesStreamTest, ErrorMidStreamFails) {
  const ChatRequest request = parse_ok(kEchoBody);
  responses::StreamRenderer renderer(meta_for(std::string(kEchoBody)), request);
  const std::string out =
      render_stream(renderer, {Event::text_delta("Partial"),
                               Event::failed(Error::make(502, "server_error", "upstream cut", "upstream_error"))});
  const std::vector<Frame> frames = frames_of(out);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().event, "response.failed");
  const rapidjson::Value& response = (*frames.back().data)["response"];
  EXPECT_EQ(str(response["status"]), "failed");
  EXPECT_EQ(str(response["error"]["code"]), "upstream_error");
  EXPECT_EQ(str(response["error"]["message"]), "upstream cut");
  // The cut message stays, "incomplete", with the text the client already has.
  ASSERT_EQ(response["output"].Size(), 1u);
  EXPECT_EQ(str(response["output"][0]["status"]), "incomplete");
  EXPECT_EQ(str(response["output"][0]["content"][0]["text"]), "Partial");
  EXPECT_TRUE(renderer.done());
  EXPECT_EQ(renderer.output_json(), "");

  // An error before any content still makes a whole stream.
  responses::StreamRenderer early(meta_for({}), request);
  EXPECT_EQ(types_of(frames_of(render_stream(early, {Event::failed(Error::unavailable("none"))}))),
            (std::vector<std::string>{"response.created", "response.in_progress", "response.failed"}));
}

TEST(ResponsesStreamTest, CopiesAreIndependent) {
  const ChatRequest request = parse_ok(kEchoBody);
  const responses::StreamRenderer fresh(meta_for(std::string(kEchoBody)), request);
  responses::StreamRenderer first = fresh;
  const std::string discarded = render_stream(first, {Event::text_delta("discarded attempt")});
  EXPECT_FALSE(discarded.empty());
  responses::StreamRenderer second = fresh;  // starts over: sequence 0 again
  const std::string kept = render_stream(second, {Event::text_delta("kept"), Event::finished(FinishReason::Stop)});
  EXPECT_EQ(kept.find("discarded"), std::string::npos);
  frames_of(kept);
  EXPECT_TRUE(second.done());
  EXPECT_FALSE(first.done());
  EXPECT_FALSE(fresh.done());

  // A copy made mid-stream carries on on its own.
  responses::StreamRenderer branch = first;
  std::string a, b;
  first.render(Event::finished(FinishReason::Stop), a);
  branch.render(Event::text_delta(" more"), b);
  EXPECT_TRUE(first.done());
  EXPECT_FALSE(branch.done());
  EXPECT_EQ(frames_of(discarded + a).back().event, "response.completed");
  branch = fresh;
  EXPECT_FALSE(branch.done());
}

// Native pass-through: the upstream's frames go out as they are; the renderer
// notes the id and output of its terminal event.
constexpr std::string_view kRawStream =
    "event: response.created\n"
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_up\",\"status\":\"in_progress\",\"output\":[]}}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,"
    "\"content_index\":0,\"delta\":\"Hi\"}\n\n";
constexpr std::string_view kRawCompleted =
    "event: response.completed\n"
    "data: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_up\",\"status\":"
    "\"completed\",\"output\":[ {\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]} ],"
    "\"usage\":{\"input_tokens\":3,\"output_tokens\":1,\"total_tokens\":4}}}\n\n";

TEST(ResponsesStreamTest, RawPassThrough) {
  const ChatRequest request = parse_ok(kEchoBody);
  responses::StreamRenderer renderer(meta_for(std::string(kEchoBody)), request);
  std::string out;
  renderer.render(Event::raw(std::string(kRawStream)), out);
  renderer.render(Event::raw(std::string(kRawCompleted)), out);
  renderer.render(Event::usage_report(usage_of(3, 1)), out);
  renderer.render(Event::finished(FinishReason::Stop), out);
  EXPECT_EQ(out, std::string(kRawStream) + std::string(kRawCompleted));
  EXPECT_TRUE(renderer.done());
  EXPECT_EQ(renderer.response_id(), "resp_up");
  EXPECT_EQ(renderer.output_json(), R"([{"type":"message","content":[{"type":"output_text","text":"Hi"}]}])");
}

TEST(ResponsesStreamTest, ErrorAfterRawAppendsFailed) {
  const ChatRequest request = parse_ok(kEchoBody);
  responses::StreamRenderer renderer(meta_for(std::string(kEchoBody)), request);
  std::string out;
  renderer.render(Event::raw(std::string(kRawStream)), out);
  renderer.render(Event::failed(Error::upstream(502, "cut")), out);
  ASSERT_EQ(out.rfind(kRawStream, 0), 0u);
  const std::vector<Frame> frames = frames_of(out);  // 0, 1, then the failure as 2
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[2].event, "response.failed");
  EXPECT_EQ(str((*frames[2].data)["response"]["status"]), "failed");
  EXPECT_EQ(str((*frames[2].data)["response"]["id"]), "resp_up");
  EXPECT_EQ(str((*frames[2].data)["response"]["error"]["message"]), "cut");
  EXPECT_TRUE(renderer.done());
  EXPECT_EQ(renderer.output_json(), "");

  // Frames without readable numbers: a failure numbered after anything real.
  responses::StreamRenderer unnumbered(meta_for({}), request);
  std::string cut;
  unnumbered.render(Event::raw("event: x\ndata: {\"type\":\"x\"}\n\n"), cut);
  unnumbered.render(Event::failed(Error::upstream(502, "cut")), cut);
  EXPECT_NE(cut.find("\"sequence_number\":1099511627776"), std::string::npos) << cut;

  // After the upstream's own terminal event, an error adds nothing.
  responses::StreamRenderer finished(meta_for({}), request);
  std::string whole;
  finished.render(Event::raw(std::string(kRawStream) + std::string(kRawCompleted)), whole);
  const std::size_t size = whole.size();
  finished.render(Event::failed(Error::upstream(502, "late")), whole);
  EXPECT_EQ(whole.size(), size);
  EXPECT_EQ(finished.response_id(), "resp_up");
}

// ---------------------------------------------------------------- upstream answers

TEST(ResponsesUpstreamTest, ParseUsage) {
  const std::optional<Usage> u = responses::parse_usage(
      R"({"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":5,)"
      R"("output_tokens_details":{"reasoning_tokens":2},"total_tokens":15})");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->input_tokens, 10);
  EXPECT_EQ(u->output_tokens, 5);
  EXPECT_EQ(u->cache_read_tokens, 4);
  EXPECT_EQ(u->reasoning_tokens, 2);
  EXPECT_FALSE(responses::parse_usage("null").has_value());
  EXPECT_FALSE(responses::parse_usage("{\"prompt\":1}").has_value());
  EXPECT_FALSE(responses::parse_usage("[").has_value());
}

TEST(ResponsesUpstreamTest, CompletedResponse) {
  const std::optional<responses::CompletedResponse> c = responses::completed_response(
      R"({"type":"response.completed","sequence_number":9,"response":{"id":"resp_x","output":[ {"type":"message"} ],)"
      R"("usage":{"input_tokens":1,"output_tokens":2}}})");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->id, "resp_x");
  EXPECT_EQ(c->output_json, R"([{"type":"message"}])");
  ASSERT_TRUE(c->usage.has_value());
  EXPECT_EQ(c->usage->output_tokens, 2);
  EXPECT_TRUE(responses::completed_response(R"({"type":"response.incomplete","response":{"id":"r","output":[]}})"));
  EXPECT_TRUE(responses::completed_response(R"({"type":"response.failed","response":{"id":"r"}})"));
  EXPECT_FALSE(responses::completed_response(R"({"type":"response.created","response":{"id":"r"}})"));
  EXPECT_FALSE(responses::completed_response("not json"));
}

// ---------------------------------------------------------------- round trips

TEST(ResponsesRoundTripTest, FreeformCallComesBackIdentical) {
  const std::string patch = "*** Begin Patch\n*** Update File: a.c\n@@\n-\tprintf(\"x\\n\");\n+\tputs(\"\\u00e9\");\n*** End Patch\n";
  std::string item = R"({"type":"custom_tool_call","call_id":"call_p","name":"apply_patch","input":)";
  json::append_quoted(item, patch);
  item += "}";
  const std::string body = R"({"model":"m","tools":[{"type":"custom","name":"apply_patch"}],"input":[)" + item +
                           R"(,{"type":"custom_tool_call_output","call_id":"call_p","output":"ok"}]})";
  const ChatRequest request = parse_ok(body);
  ASSERT_EQ(request.messages.size(), 2u);
  ASSERT_EQ(request.messages[0].tool_calls.size(), 1u);
  const ToolCall& call = request.messages[0].tool_calls[0];

  // The provider calls it again with the same arguments, in fragments.
  responses::StreamRenderer renderer(meta_for(body), request);
  std::vector<Event> events;
  for (std::size_t at = 0; at < call.arguments.size(); at += 7) {
    events.push_back(Event::tool_call_delta(0, at == 0 ? "call_q" : "", at == 0 ? call.name : "",
                                            call.arguments.substr(at, 7)));
  }
  events.push_back(Event::finished(FinishReason::ToolCalls));
  const std::vector<Frame> frames = frames_of(render_stream(renderer, events));
  const rapidjson::Value& done = (*frames[frames.size() - 2].data)["item"];
  EXPECT_EQ(str(done["type"]), "custom_tool_call");
  EXPECT_EQ(str(done["input"]), patch);
  const Doc stored = parse_json(renderer.output_json());
  EXPECT_EQ(str((*stored)[0]["input"]), patch);

  ChatResponse whole;
  whole.tool_calls = {{"call_q", call.name, call.arguments}};
  whole.finish = FinishReason::ToolCalls;
  const Doc rendered = parse_json(responses::render_response(whole, meta_for(body), request));
  EXPECT_EQ(str((*rendered)["output"][0]["input"]), patch);
}

TEST(ResponsesRoundTripTest, ToolArgumentsArePreserved) {
  const std::string arguments = "{ \"cmd\" : \"ls -la\",\n  \"n\": 1.50, \"u\": \"\\u00e9\" }";
  std::string item = R"({"type":"function_call","call_id":"c1","name":"exec","arguments":)";
  json::append_quoted(item, arguments);
  item += "}";
  const std::string body = R"({"model":"m","tools":[{"type":"function","name":"exec"}],"input":[)" + item + "]}";
  const ChatRequest request = parse_ok(body);
  ASSERT_EQ(request.messages.size(), 1u);
  EXPECT_EQ(request.messages[0].tool_calls[0].arguments, arguments);
  std::string quoted;
  json::append_quoted(quoted, arguments);
  EXPECT_NE(openai::render_chat_request(request).find(quoted), std::string::npos);

  responses::StreamRenderer renderer(meta_for(body), request);
  const std::vector<Frame> frames = frames_of(render_stream(
      renderer, {Event::tool_call_delta(0, "c2", "exec", arguments.substr(0, 10)),
                 Event::tool_call_delta(0, "", "", arguments.substr(10)), Event::finished(FinishReason::ToolCalls)}));
  EXPECT_EQ(str((*frames[frames.size() - 2].data)["item"]["arguments"]), arguments);
  const Doc stored = parse_json(renderer.output_json());
  EXPECT_EQ(str((*stored)[0]["arguments"]), arguments);

  // A call without arguments is `{}` to the client.
  responses::StreamRenderer empty(meta_for(body), request);
  const std::vector<Frame> no_args = frames_of(
      render_stream(empty, {Event::tool_call_delta(0, "c3", "exec", ""), Event::finished(FinishReason::ToolCalls)}));
  EXPECT_EQ(str((*no_args[no_args.size() - 2].data)["item"]["arguments"]), "{}");
}

TEST(ResponsesRoundTripTest, AnthropicThinkingComesBack) {
  const std::string body = R"({"model":"claude","input":"Why?","include":["reasoning.encrypted_content"]})";
  const ChatRequest first = parse_ok(body);
  responses::StreamRenderer renderer(meta_for(body, true), first);
  render_stream(renderer, {Event::reasoning_delta("Because \"x\"."), Event::reasoning_signature("SIG=="),
                           Event::redacted_reasoning("REDACTED"), Event::text_delta("Answer."),
                           Event::tool_call_delta(0, "toolu_1", "lookup", "{}"),
                           Event::finished(FinishReason::ToolCalls)});
  ASSERT_TRUE(renderer.done());
  const std::string output = renderer.output_json();

  // The next turn sends the output back (plus the tool result), then asks on.
  const std::string body2 = std::string(R"({"model":"claude","input":[{"role":"user","content":"Why?"},)") +
                            output.substr(1, output.size() - 2) +
                            R"(,{"type":"function_call_output","call_id":"toolu_1","output":"r"},)"
                            R"({"type":"reasoning","summary":[],"encrypted_content":"gAAAA-foreign"},)"
                            R"({"role":"user","content":"And?"}]})";
  const ChatRequest second = parse_ok(body2);
  ASSERT_EQ(second.messages.size(), 4u);
  const Message& assistant = second.messages[1];
  EXPECT_EQ(assistant.role, Role::Assistant);
  EXPECT_EQ(assistant.text(), "Answer.");
  ASSERT_EQ(assistant.tool_calls.size(), 1u);
  ASSERT_EQ(assistant.thinking.size(), 2u);
  EXPECT_EQ(assistant.thinking[0].text, "Because \"x\".");
  EXPECT_EQ(assistant.thinking[0].signature, "SIG==");
  EXPECT_EQ(assistant.thinking[1].redacted_data, "REDACTED");
  EXPECT_TRUE(second.messages[3].thinking.empty());  // foreign reasoning is skipped

  const std::string anthropic = anthropic::render_messages_request(second);
  EXPECT_NE(anthropic.find(R"({"type":"thinking","thinking":"Because \"x\".","signature":"SIG=="})"),
            std::string::npos)
      << anthropic;
  EXPECT_NE(anthropic.find(R"({"type":"redacted_thinking","data":"REDACTED"})"), std::string::npos);
  EXPECT_EQ(openai::render_chat_request(second).find("SIG"), std::string::npos);  // never to another family
}

}  // namespace
}  // namespace llmux

namespace llmux::responses {
namespace {

// Regression (review): out-of-range sampling values were accepted with 200.
TEST(ResponsesRequestTest, SamplingOutsideOpenAIsRangesIsA400NamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"model":"m","input":"hi","temperature":3})", "temperature"},
      {R"({"model":"m","input":"hi","temperature":-0.5})", "temperature"},
      {R"({"model":"m","input":"hi","top_p":1.5})", "top_p"},
      {R"({"model":"m","input":"hi","max_output_tokens":0})", "max_output_tokens"},
  };
  for (const auto& [body, field] : cases) {
    ChatRequest r;
    auto error = parse_request(body, r);
    ASSERT_TRUE(error.has_value()) << body;
    EXPECT_EQ(error->status, 400);
    EXPECT_EQ(error->param, field);
    EXPECT_EQ(error->code, "invalid_value");
  }
  ChatRequest ok;
  EXPECT_FALSE(parse_request(R"({"model":"m","input":"hi","temperature":2,"top_p":0,"max_output_tokens":16})", ok));
}

}  // namespace
}  // namespace llmux::responses
