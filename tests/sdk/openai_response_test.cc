// OpenAI codec: answers in both directions (chat.completion, chunk streams,
// errors) and the round trips through them.
#include <gtest/gtest.h>

#include "llmux/codec/openai.h"
#include "llmux/sse.h"
#include "sdk/codec_test_util.h"

namespace llmux {
namespace {

using testing::collect;
using testing::expect_response_eq;

openai::ResponseMeta meta() { return {"chatcmpl-1", "gpt-4o", 1700000000}; }

std::string render_stream(const std::vector<Event>& events, bool include_usage) {
  openai::ChunkRenderer renderer(meta(), include_usage);
  std::string out;
  for (const Event& e : events) renderer.render(e, out);
  EXPECT_TRUE(renderer.done());
  return out;
}

Usage usage(std::int64_t in, std::int64_t out) {
  Usage u;
  u.input_tokens = in;
  u.output_tokens = out;
  return u;
}

// The chunk prefix and the tail of a chunk without finish_reason, spelled out.
#define PFX "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\""
#define OPEN PFX ",\"choices\":[{\"index\":0,\"delta\":"
#define CLOSE ",\"logprobs\":null,\"finish_reason\":null}]}\n\n"

TEST(ChunkRendererTest, TextStreamGolden) {
  const std::vector<Event> events = {Event::role(), Event::text_delta("Hel"), Event::text_delta(""),
                                     Event::text_delta("lo \"w\"\n"), Event::usage_report(usage(3, 2)),
                                     Event::finished(FinishReason::Stop)};
  EXPECT_EQ(render_stream(events, false),
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
            "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},"
            "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\\"w\\\"\\n\"},"
            "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},"
            "\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
            "data: [DONE]\n\n");
}

TEST(ChunkRendererTest, TextStreamWithUsageGolden) {
  Usage u = usage(3, 2);
  u.cache_read_tokens = 1;
  const std::vector<Event> events = {Event::role(), Event::reasoning_delta("hmm"), Event::text_delta("Hi"),
                                     Event::usage_report(u), Event::finished(FinishReason::Length)};
  EXPECT_EQ(render_stream(events, true),
            OPEN "{\"role\":\"assistant\",\"content\":\"\"}" CLOSE
            OPEN "{\"reasoning_content\":\"hmm\"}" CLOSE
            OPEN "{\"content\":\"Hi\"}" CLOSE
            OPEN "{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n"
            PFX ",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5,"
            "\"prompt_tokens_details\":{\"cached_tokens\":1}}}\n\n"
            "data: [DONE]\n\n");
}

TEST(ChunkRendererTest, IncludeUsageWithoutUsageReportsZeros) {
  EXPECT_EQ(render_stream({Event::text_delta("x"), Event::finished(FinishReason::Stop)}, true),
            OPEN "{\"role\":\"assistant\",\"content\":\"\"}" CLOSE
            OPEN "{\"content\":\"x\"}" CLOSE
            OPEN "{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
            PFX ",\"choices\":[],\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}}\n\n"
            "data: [DONE]\n\n");
}

TEST(ChunkRendererTest, ToolCallStreamGolden) {
  Usage u = usage(10, 20);
  u.reasoning_tokens = 5;
  const std::vector<Event> events = {
      Event::role(),
      Event::tool_call_delta(0, "call_a", "get_weather", ""),
      Event::tool_call_delta(0, "", "", "{\"city\":"),
      Event::tool_call_delta(0, "", "", "\"Paris\"}"),
      Event::tool_call_delta(1, "call_b", "get_time", "{}"),
      Event::tool_call_delta(1, "", "", ""),  // nothing to say: no chunk
      Event::usage_report(u),
      Event::finished(FinishReason::ToolCalls),
  };
  EXPECT_EQ(render_stream(events, true),
            OPEN "{\"role\":\"assistant\",\"content\":\"\"}" CLOSE
            OPEN "{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\","
                 "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}" CLOSE
            OPEN "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}" CLOSE
            OPEN "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}" CLOSE
            OPEN "{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\","
                 "\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}" CLOSE
            OPEN "{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n"
            PFX ",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20,\"total_tokens\":30,"
            "\"completion_tokens_details\":{\"reasoning_tokens\":5}}}\n\n"
            "data: [DONE]\n\n");
}

TEST(ChunkRendererTest, ErrorMidStreamGolden) {
  openai::ChunkRenderer renderer(meta(), true);
  std::string out;
  renderer.render(Event::role(), out);
  renderer.render(Event::text_delta("partial"), out);
  EXPECT_FALSE(renderer.done());
  Error e = Error::upstream(429, "Rate \"limit\"");
  e.code = "rate_limit_exceeded";
  renderer.render(Event::failed(e), out);
  EXPECT_TRUE(renderer.done());
  renderer.render(Event::text_delta("late"), out);
  renderer.render(Event::finished(FinishReason::Stop), out);
  EXPECT_EQ(out,
            OPEN "{\"role\":\"assistant\",\"content\":\"\"}" CLOSE
            OPEN "{\"content\":\"partial\"}" CLOSE
            "data: {\"error\":{\"message\":\"Rate \\\"limit\\\"\",\"type\":\"rate_limit_error\",\"param\":null,"
            "\"code\":\"rate_limit_exceeded\"}}\n\n"
            "data: [DONE]\n\n");
}

TEST(ChunkRendererTest, ErrorFirstHasNoRoleChunk) {
  EXPECT_EQ(render_stream({Event::failed(Error::unavailable("no provider"))}, false),
            "data: {\"error\":{\"message\":\"no provider\",\"type\":\"server_error\",\"param\":null,"
            "\"code\":\"service_unavailable\"}}\n\ndata: [DONE]\n\n");
}

TEST(ChunkRendererTest, FinishTwiceGivesOneFinishChunk) {
  openai::ChunkRenderer renderer(meta(), false);
  std::string out;
  renderer.render(Event::finished(FinishReason::ContentFilter), out);
  const std::string first = out;
  renderer.render(Event::finished(FinishReason::Stop), out);
  renderer.render(Event::usage_report(usage(1, 1)), out);
  EXPECT_EQ(out, first);
  EXPECT_EQ(out, OPEN "{\"role\":\"assistant\",\"content\":\"\"}" CLOSE
                 OPEN "{},\"logprobs\":null,\"finish_reason\":\"content_filter\"}]}\n\n"
                 "data: [DONE]\n\n");
}

TEST(ChunkRendererTest, RoleIsSentOnceAndLazily) {
  openai::ChunkRenderer renderer(meta(), false);
  std::string out;
  renderer.render(Event::usage_report(usage(1, 1)), out);
  renderer.render(Event::text_delta(""), out);
  EXPECT_EQ(out, "");
  renderer.render(Event::tool_call_delta(0, "c", "f", "{}"), out);
  renderer.render(Event::role(), out);
  EXPECT_EQ(out, OPEN "{\"role\":\"assistant\",\"content\":\"\"}" CLOSE
                 OPEN "{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"type\":\"function\","
                      "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}" CLOSE);
}

TEST(ChunkRendererTest, EscapesMeta) {
  openai::ChunkRenderer renderer({"id\"1", "m\\x", 5}, false);
  std::string out;
  renderer.render(Event::role(), out);
  EXPECT_EQ(out, "data: {\"id\":\"id\\\"1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\\\\x\","
                 "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}" CLOSE);
}

TEST(ChatCompletionTest, TextGolden) {
  ChatResponse r;
  r.text = "Hello!";
  Usage u = usage(9, 12);
  u.cache_read_tokens = 0;
  u.reasoning_tokens = 4;
  r.usage = u;
  r.finish = FinishReason::Stop;
  EXPECT_EQ(openai::render_chat_completion(r, meta()),
            R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o",)"
            R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"logprobs":null,)"
            R"("finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,)"
            R"("prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":4}}})");
}

TEST(ChatCompletionTest, ToolCallsGolden) {
  ChatResponse r;
  r.reasoning = "need weather";
  r.tool_calls = {{"call_a", "get_weather", "{\"city\":\"Paris\"}"}, {"call_b", "get_time", "{}"}};
  r.finish = FinishReason::ToolCalls;
  EXPECT_EQ(openai::render_chat_completion(r, meta()),
            R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o",)"
            R"("choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"need weather",)"
            R"("tool_calls":[{"id":"call_a","type":"function","function":{"name":"get_weather",)"
            R"("arguments":"{\"city\":\"Paris\"}"}},{"id":"call_b","type":"function","function":{"name":"get_time",)"
            R"("arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],)"
            R"("usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}})");
}

TEST(ChatCompletionTest, EmptyAnswerHasEmptyStringAndStop) {
  EXPECT_EQ(openai::render_chat_completion(ChatResponse{}, meta()),
            R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o",)"
            R"("choices":[{"index":0,"message":{"role":"assistant","content":""},"logprobs":null,)"
            R"("finish_reason":"stop"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}})");
}

TEST(RenderErrorTest, Golden) {
  EXPECT_EQ(openai::render_error(Error::invalid_request("Bad 'x'\n", "messages[0].role", "invalid_value")),
            R"({"error":{"message":"Bad 'x'\n","type":"invalid_request_error","param":"messages[0].role",)"
            R"("code":"invalid_value"}})");
  EXPECT_EQ(openai::render_error(Error::upstream(500, "oops")),
            R"({"error":{"message":"oops","type":"server_error","param":null,"code":null}})");
}

TEST(ParseChatCompletionTest, ParsesAnUpstreamAnswer) {
  const std::string body = R"({
    "id": "chatcmpl-abc", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024",
    "system_fingerprint": "fp_1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sure.", "refusal": null,
      "reasoning_content": "think",
      "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                     {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
      "logprobs": null, "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
              "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 7}}})";
  std::vector<Event> events;
  ASSERT_FALSE(openai::parse_chat_completion(body, events).has_value());
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0].kind, Event::Kind::Role);
  EXPECT_EQ(events[1].kind, Event::Kind::ReasoningDelta);
  EXPECT_EQ(events[1].text, "think");
  EXPECT_EQ(events[2].kind, Event::Kind::TextDelta);
  EXPECT_EQ(events[2].text, "Sure.");
  EXPECT_EQ(events[3].kind, Event::Kind::ToolCallDelta);
  EXPECT_EQ(events[3].index, 0);
  EXPECT_EQ(events[3].id, "call_1");
  EXPECT_EQ(events[3].name, "f");
  EXPECT_EQ(events[3].text, "{\"a\":1}");
  EXPECT_EQ(events[4].index, 1);
  EXPECT_EQ(events[4].id, "call_2");
  EXPECT_EQ(events[5].kind, Event::Kind::Usage);
  EXPECT_EQ(events[5].usage.input_tokens, 19);
  EXPECT_EQ(events[5].usage.output_tokens, 10);
  EXPECT_EQ(events[5].usage.cache_read_tokens, 3);
  EXPECT_EQ(events[5].usage.reasoning_tokens, 7);
  EXPECT_EQ(events[6].kind, Event::Kind::Finish);
  EXPECT_EQ(events[6].finish, FinishReason::ToolCalls);
}

TEST(ParseChatCompletionTest, ReasoningAliasAndMissingUsage) {
  std::vector<Event> events;
  ASSERT_FALSE(openai::parse_chat_completion(
      R"({"choices":[{"message":{"content":"x","reasoning":"r"},"finish_reason":"length"}]})", events));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].kind, Event::Kind::ReasoningDelta);
  EXPECT_EQ(events[1].text, "r");
  EXPECT_EQ(events[3].finish, FinishReason::Length);
}

TEST(ParseChatCompletionTest, Errors) {
  std::vector<Event> events;
  auto err = openai::parse_chat_completion(
      R"({"error":{"message":"model overloaded","type":"server_error","code":"overloaded"}})", events);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->message, "model overloaded");
  EXPECT_EQ(err->type, "server_error");
  EXPECT_EQ(err->code, "overloaded");
  EXPECT_EQ(err->status, 502);

  err = openai::parse_chat_completion("<html>", events);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->status, 502);
  EXPECT_EQ(err->message, "upstream sent invalid JSON at line 1, column 1: Invalid value.");

  err = openai::parse_chat_completion(R"({"choices":[]})", events);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->message, "upstream sent a chat.completion without choices");
  EXPECT_TRUE(events.empty());
}

struct Parsed {
  std::vector<Event> events;
  std::optional<Error> error;
};

Parsed parse_stream(std::string_view wire) {
  Parsed p;
  openai::ChunkParser parser;
  sse::Reader reader;
  const auto emit = [&](Event e) { p.events.push_back(std::move(e)); };
  reader.feed(wire, [&](const sse::Message& m) {
    if (p.error) return;
    p.error = parser.feed(m.data, emit);
  });
  if (!p.error) p.error = parser.finish(emit);
  return p;
}

TEST(ChunkParserTest, ParsesAnOpenAIStream) {
  const std::string wire =
      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":"
      "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"finish_reason\":null}],\"usage\":null}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
      "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11}}\n\n"
      "data: [DONE]\n\n";
  openai::ChunkParser parser;
  sse::Reader reader;
  std::vector<Event> events;
  const auto emit = [&](Event e) { events.push_back(std::move(e)); };
  reader.feed(wire, [&](const sse::Message& m) { ASSERT_FALSE(parser.feed(m.data, emit).has_value()); });
  EXPECT_TRUE(parser.saw_done());
  EXPECT_FALSE(parser.finish(emit).has_value());  // already emitted at [DONE]
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0].kind, Event::Kind::Role);
  EXPECT_EQ(events[1].kind, Event::Kind::ReasoningDelta);
  EXPECT_EQ(events[1].text, "hm");
  EXPECT_EQ(events[2].kind, Event::Kind::TextDelta);
  EXPECT_EQ(events[2].text, "Hi");
  EXPECT_EQ(events[3].kind, Event::Kind::ToolCallDelta);
  EXPECT_EQ(events[3].id, "call_1");
  EXPECT_EQ(events[3].name, "f");
  EXPECT_EQ(events[3].text, "");
  EXPECT_EQ(events[4].kind, Event::Kind::ToolCallDelta);
  EXPECT_EQ(events[4].id, "");
  EXPECT_EQ(events[4].text, "{}");
  EXPECT_EQ(events[5].kind, Event::Kind::Usage);  // before the held Finish
  EXPECT_EQ(events[5].usage.input_tokens, 5);
  EXPECT_EQ(events[5].usage.output_tokens, 6);
  EXPECT_EQ(events[6].kind, Event::Kind::Finish);
  EXPECT_EQ(events[6].finish, FinishReason::ToolCalls);
}

TEST(ChunkParserTest, HeldFinishIsEmittedByFinishWithoutDone) {
  openai::ChunkParser parser;
  std::vector<Event> events;
  const auto emit = [&](Event e) { events.push_back(std::move(e)); };
  ASSERT_FALSE(parser.feed(R"({"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]})", emit));
  ASSERT_EQ(events.size(), 2u);  // Role, TextDelta: finish held
  EXPECT_FALSE(parser.saw_done());
  ASSERT_FALSE(parser.finish(emit));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].kind, Event::Kind::Finish);
  EXPECT_EQ(events[2].finish, FinishReason::Stop);
  ASSERT_FALSE(parser.finish(emit));  // once only
  EXPECT_EQ(events.size(), 3u);
}

TEST(ChunkParserTest, Errors) {
  openai::ChunkParser parser;
  const auto ignore = [](Event) {};
  auto err = parser.feed("{not json", ignore);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->status, 502);
  EXPECT_EQ(err->type, "server_error");
  EXPECT_EQ(err->message, "upstream sent invalid JSON in stream: at line 1, column 2: Missing a name for object member.");

  err = parser.feed(R"({"error":{"message":"overloaded","type":"overloaded_error","code":"x"}})", ignore);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->message, "overloaded");
  EXPECT_EQ(err->type, "overloaded_error");
  EXPECT_EQ(err->code, "x");

  err = parser.feed(R"({"error":{"message":"slow","code":429}})", ignore);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->status, 429);
  EXPECT_EQ(err->type, "rate_limit_error");

  openai::ChunkParser cut;
  ASSERT_FALSE(cut.feed(R"({"choices":[{"index":0,"delta":{"content":"x"}}]})", ignore));
  ASSERT_FALSE(cut.feed("", ignore));  // keep-alive payloads are ignored
  err = cut.finish(ignore);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->status, 502);
  EXPECT_EQ(err->message, "upstream stream ended before finish_reason");
}

TEST(ParseErrorResponseTest, KeepsOpenAIErrorObjects) {
  const Error e = openai::parse_error_response(
      400, R"({"error":{"message":"Invalid 'messages'","type":"invalid_request_error","param":"messages","code":"empty_array"}})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.message, "Invalid 'messages'");
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, "messages");
  EXPECT_EQ(e.code, "empty_array");

  const Error typeless = openai::parse_error_response(429, R"({"error":{"message":"Too many"}})");
  EXPECT_EQ(typeless.status, 429);
  EXPECT_EQ(typeless.type, "rate_limit_error");
  EXPECT_EQ(typeless.message, "Too many");
  EXPECT_EQ(typeless.code, "");

  const Error numeric = openai::parse_error_response(503, R"({"error":{"message":"m","code":500}})");
  EXPECT_EQ(numeric.status, 503);
  EXPECT_EQ(numeric.code, "500");

  const Error str = openai::parse_error_response(401, R"({"error":"bad key"})");
  EXPECT_EQ(str.message, "bad key");
  EXPECT_EQ(str.type, "authentication_error");
}

TEST(ParseErrorResponseTest, OtherBodiesGiveStatusAndExcerpt) {
  Error e = openai::parse_error_response(502, "  <html>Bad Gateway</html>\n");
  EXPECT_EQ(e.status, 502);
  EXPECT_EQ(e.type, "server_error");
  EXPECT_EQ(e.message, "upstream returned HTTP 502: <html>Bad Gateway</html>");
  e = openai::parse_error_response(404, "");
  EXPECT_EQ(e.message, "upstream returned HTTP 404");
  EXPECT_EQ(e.type, "not_found_error");
  e = openai::parse_error_response(500, std::string(199, 'a') + "\xC3\xA9" + std::string(50, 'b'));
  EXPECT_EQ(e.message, "upstream returned HTTP 500: " + std::string(199, 'a') + "...");  // UTF-8 kept whole
  e = openai::parse_error_response(400, R"({"detail":"nope"})");
  EXPECT_EQ(e.message, R"(upstream returned HTTP 400: {"detail":"nope"})");
}

ChatResponse sample_response() {
  ChatResponse r;
  r.text = "The weather in \"Paris\":\n\xE2\x98\x80";
  r.reasoning = "Let me check.";
  r.tool_calls = {{"call_a", "get_weather", "{\"city\":\"Paris\"}"}, {"call_b", "get_time", "{}"}};
  Usage u = usage(100, 50);
  u.cache_read_tokens = 20;
  u.reasoning_tokens = 10;
  r.usage = u;
  r.finish = FinishReason::ToolCalls;
  return r;
}

TEST(RoundTripTest, ChatCompletion) {
  const ChatResponse original = sample_response();
  std::vector<Event> events;
  ASSERT_FALSE(openai::parse_chat_completion(openai::render_chat_completion(original, meta()), events));
  expect_response_eq(collect(events), original);
}

std::vector<Event> fragmented_events() {
  Usage u = usage(7, 9);
  u.cache_read_tokens = 2;
  return {
      Event::role(),
      Event::reasoning_delta("Think"),
      Event::reasoning_delta("ing\n"),
      Event::text_delta("Hello, "),
      Event::text_delta("w\xC3\xB6rld \"quoted\" \\ \x01"),
      Event::tool_call_delta(0, "call_a", "get_weather", ""),
      Event::tool_call_delta(0, "", "", "{\"city\""),
      Event::tool_call_delta(1, "call_b", "get_time", "{\"tz\":"),
      Event::tool_call_delta(0, "", "", ":\"Paris\"}"),
      Event::tool_call_delta(1, "", "", "\"UTC\"}"),
      Event::usage_report(u),
      Event::finished(FinishReason::ToolCalls),
  };
}

TEST(RoundTripTest, ChunkStreamWithUsage) {
  const std::vector<Event> events = fragmented_events();
  const std::string wire = render_stream(events, true);
  const Parsed parsed = parse_stream(wire);
  ASSERT_FALSE(parsed.error.has_value()) << parsed.error->message;
  expect_response_eq(collect(parsed.events), collect(events));
  // The parser's events also keep the contract order: Role first, Usage, then Finish last.
  ASSERT_GE(parsed.events.size(), 3u);
  EXPECT_EQ(parsed.events.front().kind, Event::Kind::Role);
  EXPECT_EQ(parsed.events[parsed.events.size() - 2].kind, Event::Kind::Usage);
  EXPECT_EQ(parsed.events.back().kind, Event::Kind::Finish);
}

TEST(RoundTripTest, ChunkStreamByteByByte) {
  const std::vector<Event> events = fragmented_events();
  const std::string wire = render_stream(events, true);
  openai::ChunkParser parser;
  sse::Reader reader;
  ResponseCollector collector;
  const auto emit = [&](Event e) { collector.add(e); };
  for (char c : wire) {
    reader.feed(std::string_view(&c, 1), [&](const sse::Message& m) { ASSERT_FALSE(parser.feed(m.data, emit)); });
  }
  EXPECT_TRUE(parser.saw_done());
  ASSERT_FALSE(parser.finish(emit));
  expect_response_eq(collector.response(), collect(events));
}

TEST(RoundTripTest, ChunkStreamWithoutUsage) {
  const std::vector<Event> events = {Event::role(), Event::text_delta("a"), Event::text_delta("b"),
                                     Event::finished(FinishReason::Length)};
  const Parsed parsed = parse_stream(render_stream(events, false));
  ASSERT_FALSE(parsed.error.has_value());
  expect_response_eq(collect(parsed.events), collect(events));
}

TEST(RoundTripTest, ChunkStreamError) {
  Error e = Error::upstream(500, "upstream exploded");
  e.code = "boom";
  const std::vector<Event> events = {Event::role(), Event::text_delta("par"), Event::failed(e)};
  const Parsed parsed = parse_stream(render_stream(events, false));
  ASSERT_TRUE(parsed.error.has_value());
  EXPECT_EQ(parsed.error->message, "upstream exploded");
  EXPECT_EQ(parsed.error->type, "server_error");
  EXPECT_EQ(parsed.error->code, "boom");
  ResponseCollector c;
  for (const Event& ev : parsed.events) c.add(ev);
  c.add(Event::failed(*parsed.error));
  EXPECT_EQ(c.response().text, "par");
  ASSERT_TRUE(c.response().error.has_value());
}

TEST(OpenAIParseUsage, ReadsAUsageObjectLikeTheCompletionParser) {
  auto usage = openai::parse_usage(
      R"({"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4},)"
      R"("completion_tokens_details":{"reasoning_tokens":1}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->input_tokens, 9);
  EXPECT_EQ(usage->output_tokens, 2);
  EXPECT_EQ(usage->cache_read_tokens, 4);
  EXPECT_EQ(usage->reasoning_tokens, 1);
  EXPECT_FALSE(openai::parse_usage("null"));
  EXPECT_FALSE(openai::parse_usage(R"({"prompt_tokens":)"));
}

}  // namespace
}  // namespace llmux
