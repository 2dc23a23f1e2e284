// One regression test per OpenAI⇄Anthropic conversion bug that users of other
// gateways report (shared notes, field.md), named after it. Most drive a real
// OpenAI chunk stream through openai::ChunkParser into the Anthropic
// StreamRenderer, the path of an Anthropic client served by an OpenAI upstream,
// and check the result with the stream checker (anthropic_test_util.h).
#include <gtest/gtest.h>

#include "llmux/codec/anthropic.h"
#include "llmux/codec/openai.h"
#include "sdk/anthropic_test_util.h"
#include "sdk/codec_test_util.h"

namespace llmux {
namespace {

using testing::check_stream;
using testing::parse_anthropic;
using testing::render_anthropic;

// OpenAI upstream chunk payloads -> events -> Anthropic SSE.
std::string from_openai_chunks(const std::vector<std::string>& chunks, std::int64_t estimate = 42) {
  openai::ChunkParser parser;
  std::vector<Event> events;
  const auto emit = [&](Event e) { events.push_back(std::move(e)); };
  for (const std::string& c : chunks) {
    const auto err = parser.feed(c, emit);
    EXPECT_FALSE(err) << (err ? err->message : "");
  }
  EXPECT_FALSE(parser.finish(emit));
  return render_anthropic(events, estimate);
}

std::string chunk(const std::string& delta, const std::string& finish = "null") {
  return R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt","choices":[{"index":0,"delta":)" +
         delta + R"(,"finish_reason":)" + finish + "}]}";
}
std::string tool_chunk(int index, const std::string& id, const std::string& name, const std::string& args) {
  std::string call = R"({"index":)" + std::to_string(index);
  if (!id.empty()) call += R"(,"id":")" + id + R"(","type":"function")";
  call += R"(,"function":{)";
  if (!name.empty()) call += R"("name":")" + name + R"(",)";
  std::string quoted;
  json::append_quoted(quoted, args);
  call += R"("arguments":)" + quoted + "}}";
  return chunk(R"({"tool_calls":[)" + call + "]}");
}
const std::string kUsageChunk =
    R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt","choices":[],)"
    R"("usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100}}})";

// "Content block not found": a delta or stop for a block that was never
// started or already stopped. Blocks here switch kinds many times, tool calls
// interleave, and a late fragment arrives for a closed call.
TEST(AnthropicFieldRegressionTest, ContentBlockNotFound) {
  const std::string sse = render_anthropic({
      Event::role(),
      Event::reasoning_delta("a"),
      Event::text_delta("b"),
      Event::reasoning_delta("c"),
      Event::tool_call_delta(0, "t0", "f", "{\"x\":"),
      Event::tool_call_delta(1, "t1", "g", "{"),
      Event::tool_call_delta(0, "", "", "1}"),  // late: call 0's block is closed
      Event::tool_call_delta(1, "", "", "}"),
      Event::text_delta("d"),
      Event::finished(FinishReason::ToolCalls),
  });
  const testing::StreamShape shape = check_stream(sse);
  EXPECT_EQ(shape.block_types, (std::vector<std::string>{"thinking", "text", "thinking", "tool_use", "tool_use", "text"}));
  EXPECT_EQ(shape.block_text[3], "{\"x\":null}");  // completed when its block closed
  EXPECT_EQ(shape.block_text[4], "{}");
}

// message_start with usage all zeros breaks Claude Code and the Vercel AI SDK.
TEST(AnthropicFieldRegressionTest, MessageStartUsageNeverAllZeros) {
  for (const std::int64_t estimate : {0, 1, 777}) {
    SCOPED_TRACE(estimate);
    const testing::StreamShape shape =
        check_stream(from_openai_chunks({chunk(R"({"role":"assistant","content":""})"), chunk(R"({"content":"hi"})"),
                                         chunk("{}", "\"stop\""), kUsageChunk},
                                        estimate));
    const auto& u = shape.message_start["message"]["usage"];
    EXPECT_EQ(u["input_tokens"].GetInt64(), std::max<std::int64_t>(1, estimate));
    EXPECT_EQ(u["output_tokens"].GetInt64(), 1);
    // The real counts arrive in message_delta (Anthropic's input excludes the cached 100).
    EXPECT_EQ(shape.final_usage["input_tokens"].GetInt64(), 20);
    EXPECT_EQ(shape.final_usage["cache_read_input_tokens"].GetInt64(), 100);
    EXPECT_EQ(shape.final_usage["output_tokens"].GetInt64(), 30);
  }
  // Usage known before the first content: message_start carries the real count.
  Usage u;
  u.input_tokens = 9;
  const testing::StreamShape shape = check_stream(render_anthropic(
      {Event::role(), Event::usage_report(u), Event::text_delta("x"), Event::finished(FinishReason::Stop)}, 0));
  EXPECT_EQ(shape.message_start["message"]["usage"]["input_tokens"].GetInt64(), 9);
}

// Empty input_json_delta (and other empty deltas) upset strict parsers.
TEST(AnthropicFieldRegressionTest, NoEmptyInputJsonDelta) {
  const std::string sse = from_openai_chunks({
      chunk(R"({"role":"assistant","content":null})"),
      tool_chunk(0, "call_1", "write", ""),
      tool_chunk(0, "", "", ""),
      tool_chunk(0, "", "", "{\"a\":1}"),
      chunk(R"({"content":""})"),
      chunk(R"({"reasoning_content":""})"),
      chunk("{}", "\"tool_calls\""),
  });
  check_stream(sse);  // fails on any empty delta
  EXPECT_EQ(sse.find("\"partial_json\":\"\""), std::string::npos) << sse;
  EXPECT_EQ(sse.find("\"text\":\"\"}}"), std::string::npos) << sse;
}

// Tool input arriving as {} although the upstream sent arguments: they must
// all reach the client as input_json_delta, whatever the fragmenting.
TEST(AnthropicFieldRegressionTest, ToolInputNeverArrivesAsEmptyObject) {
  const std::string args = R"({"filePath":"hello.txt","content":"Hello \"world\"\n"})";
  // All at once with the id and name (some upstreams), or in small pieces (OpenAI).
  std::vector<std::string> pieces = {chunk(R"({"role":"assistant"})"), tool_chunk(0, "call_1", "write", args),
                                     chunk("{}", "\"tool_calls\"")};
  testing::StreamShape shape = check_stream(from_openai_chunks(pieces));
  ASSERT_EQ(shape.block_text.size(), 1u);
  EXPECT_EQ(shape.block_text[0], args);
  EXPECT_EQ(shape.stop_reason, "tool_use");

  pieces = {chunk(R"({"role":"assistant"})"), tool_chunk(0, "call_1", "write", "")};
  for (std::size_t i = 0; i < args.size(); i += 3) pieces.push_back(tool_chunk(0, "", "", args.substr(i, 3)));
  pieces.push_back(chunk("{}", "\"tool_calls\""));
  shape = check_stream(from_openai_chunks(pieces));
  ASSERT_EQ(shape.block_text.size(), 1u);
  EXPECT_EQ(shape.block_text[0], args);

  // And parsed back (Anthropic upstream -> OpenAI client), the arguments are whole too.
  ResponseCollector c;
  for (const Event& e : parse_anthropic(from_openai_chunks(pieces))) c.add(e);
  ASSERT_EQ(c.response().tool_calls.size(), 1u);
  EXPECT_EQ(c.response().tool_calls[0].arguments, args);
  EXPECT_EQ(c.response().tool_calls[0].id, "call_1");
}

// Several tool calls sharing one index (or one block).
TEST(AnthropicFieldRegressionTest, SeveralToolCallsKeepDistinctIndexes) {
  const testing::StreamShape shape = check_stream(from_openai_chunks({
      chunk(R"({"role":"assistant"})"),
      tool_chunk(0, "call_a", "read", "{\"p\":"),
      tool_chunk(0, "", "", "\"a\"}"),
      tool_chunk(1, "call_b", "read", "{\"p\":\"b\"}"),
      tool_chunk(2, "call_c", "list", ""),
      chunk("{}", "\"tool_calls\""),
  }));
  EXPECT_EQ(shape.block_types, (std::vector<std::string>{"tool_use", "tool_use", "tool_use"}));
  EXPECT_EQ(shape.block_ids, (std::vector<std::string>{"call_a", "call_b", "call_c"}));
  EXPECT_EQ(shape.block_text, (std::vector<std::string>{"{\"p\":\"a\"}", "{\"p\":\"b\"}", "{}"}));

  // Parsed back, the three calls keep three indexes.
  std::vector<Event> events = parse_anthropic(render_anthropic(
      {Event::tool_call_delta(0, "a", "f", "{}"), Event::tool_call_delta(1, "b", "f", "{}"),
       Event::tool_call_delta(2, "c", "f", "{}"), Event::finished(FinishReason::ToolCalls)}));
  std::vector<int> indexes;
  for (const Event& e : events) {
    if (e.kind == Event::Kind::ToolCallDelta) indexes.push_back(e.index);
  }
  EXPECT_EQ(indexes, (std::vector<int>{0, 1, 2}));
  // Calls without an upstream id get distinct ones.
  const testing::StreamShape no_ids = check_stream(render_anthropic(
      {Event::tool_call_delta(0, "", "f", "{}"), Event::tool_call_delta(1, "", "g", "{}"),
       Event::finished(FinishReason::ToolCalls)}));
  EXPECT_EQ(no_ids.block_ids, (std::vector<std::string>{"toolu_1_0", "toolu_1_1"}));
}

// A duplicate message_start (e.g. one per upstream role chunk).
TEST(AnthropicFieldRegressionTest, ExactlyOneMessageStart) {
  Usage u;
  u.input_tokens = 5;
  const std::string sse = render_anthropic({Event::role(), Event::role(), Event::usage_report(u),
                                            Event::text_delta("a"), Event::role(), Event::usage_report(u),
                                            Event::text_delta("b"), Event::finished(FinishReason::Stop),
                                            Event::finished(FinishReason::Stop)});
  const testing::StreamShape shape = check_stream(sse);  // fails on a second message_start
  EXPECT_EQ(shape.message_starts, 1);
  EXPECT_EQ(shape.block_types, std::vector<std::string>{"text"});
  std::size_t stops = 0;
  for (std::size_t at = sse.find("message_stop"); at != std::string::npos; at = sse.find("message_stop", at + 1)) ++stops;
  EXPECT_EQ(stops, 2u);  // the event line and the data type of one frame
}

// Reasoning text must go to thinking blocks, never into text blocks.
TEST(AnthropicFieldRegressionTest, ThinkingNeverLeaksIntoTextBlocks) {
  const testing::StreamShape shape = check_stream(from_openai_chunks({
      chunk(R"({"role":"assistant","content":""})"),
      chunk(R"({"reasoning_content":"Think 1. "})"),
      chunk(R"({"reasoning":"Think 2."})"),
      chunk(R"({"content":"Answer"})"),
      chunk(R"({"reasoning_content":"late thought"})"),
      chunk(R"({"content":" more"})"),
      chunk("{}", "\"stop\""),
  }));
  EXPECT_EQ(shape.block_types, (std::vector<std::string>{"thinking", "text", "thinking", "text"}));
  EXPECT_EQ(shape.block_text, (std::vector<std::string>{"Think 1. Think 2.", "Answer", "late thought", " more"}));
}

// tool_use dropped from a non-streamed /v1/messages answer.
TEST(AnthropicFieldRegressionTest, ToolUseNotDroppedOnMessages) {
  std::vector<Event> events;
  ASSERT_FALSE(openai::parse_chat_completion(
      R"({"id":"c","object":"chat.completion","created":1,"model":"gpt","choices":[{"index":0,
        "message":{"role":"assistant","content":null,"tool_calls":[
          {"id":"call_1","type":"function","function":{"name":"write","arguments":"{\"filePath\":\"a.txt\"}"}},
          {"id":"call_2","type":"function","function":{"name":"bash","arguments":"{\"cmd\":\"ls\"}"}}]},
        "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})",
      events));
  ResponseCollector c;
  for (const Event& e : events) c.add(e);
  EXPECT_EQ(anthropic::render_message(c.response(), testing::anthropic_meta()),
            R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[)"
            R"({"type":"tool_use","id":"call_1","name":"write","input":{"filePath":"a.txt"}},)"
            R"({"type":"tool_use","id":"call_2","name":"bash","input":{"cmd":"ls"}}],)"
            R"("stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5}})");
}

// Gateways that forget usage report zero tokens: the final message_delta
// carries the upstream's counts.
TEST(AnthropicFieldRegressionTest, UsageNotReportedAsZero) {
  const testing::StreamShape shape = check_stream(from_openai_chunks(
      {chunk(R"({"role":"assistant"})"), chunk(R"({"content":"x"})"), chunk("{}", "\"length\""), kUsageChunk}));
  EXPECT_EQ(shape.stop_reason, "max_tokens");
  EXPECT_EQ(shape.final_usage["output_tokens"].GetInt64(), 30);
}

// A cut upstream stream must end as an error, never as a clean stop.
TEST(AnthropicFieldRegressionTest, CutUpstreamStreamIsAnErrorNotACleanEnd) {
  std::string sse = render_anthropic({Event::role(), Event::text_delta("partial answer"), Event::finished(FinishReason::Stop)});
  sse = sse.substr(0, sse.find("event: content_block_stop"));
  const std::vector<Event> events = parse_anthropic(sse);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, Event::Kind::Error);
  EXPECT_EQ(events.back().error.status, 502);
}

// Coding agents send tool_choice auto and parallel_tool_calls false; a gateway
// must take both and carry them to Anthropic.
TEST(AnthropicFieldRegressionTest, ToolChoiceAutoAndParallelToolCallsFalseAccepted) {
  ChatRequest r;
  ASSERT_FALSE(openai::parse_chat_request(
      R"({"model":"claude","messages":[{"role":"user","content":"x"}],"tool_choice":"auto","parallel_tool_calls":false,
          "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]})",
      r));
  EXPECT_EQ(anthropic::render_messages_request(r),
            R"({"model":"claude","max_tokens":8192,"messages":[{"role":"user","content":"x"}],)"
            R"("tools":[{"name":"f","input_schema":{"type":"object"}}],)"
            R"("tool_choice":{"type":"auto","disable_parallel_tool_use":true}})");
}

// Thinking signatures are bound to a model: after a fallback to another
// family they must not be replayed (a 400 otherwise); Anthropic gets them back.
TEST(AnthropicFieldRegressionTest, ThinkingSignaturesNotReplayedAcrossFamilies) {
  ChatRequest r;
  ASSERT_FALSE(anthropic::parse_messages_request(
      R"({"model":"claude","messages":[{"role":"user","content":"x"},
          {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"SIG"},{"type":"text","text":"a"}]},
          {"role":"user","content":"y"}]})",
      r));
  EXPECT_NE(anthropic::render_messages_request(r).find("\"signature\":\"SIG\""), std::string::npos);
  const std::string to_openai = openai::render_chat_request(r);
  EXPECT_EQ(to_openai.find("SIG"), std::string::npos) << to_openai;
  ChatRequest from_openai = r;
  from_openai.source_api = Api::OpenAIChat;
  EXPECT_EQ(anthropic::render_messages_request(from_openai).find("SIG"), std::string::npos);

  // Thinking that another family produced (no signature) reached the client as
  // a thinking block; sent back to Anthropic it is left out, not refused.
  ChatRequest unsigned_thinking;
  ASSERT_FALSE(anthropic::parse_messages_request(
      R"({"model":"claude","messages":[{"role":"user","content":"x"},
          {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":""},
                                         {"type":"redacted_thinking","data":"R"},{"type":"text","text":"a"}]}]})",
      unsigned_thinking));
  EXPECT_EQ(anthropic::render_messages_request(unsigned_thinking),
            R"({"model":"claude","max_tokens":8192,"messages":[{"role":"user","content":"x"},)"
            R"({"role":"assistant","content":[{"type":"redacted_thinking","data":"R"},{"type":"text","text":"a"}]}]})");
}

}  // namespace
}  // namespace llmux

#include <gtest/gtest-spi.h>

namespace llmux {
namespace {

// The checker behind these tests does catch each bug when it is there.
TEST(AnthropicFieldRegressionTest, StreamCheckerCatchesTheBugs) {
#define START_FRAME "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}\n\n"
#define END_FRAMES                                                                                              \
  "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{}}\n\n" \
  "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
  // A delta for a block that was never started.
  EXPECT_NONFATAL_FAILURE(check_stream(START_FRAME
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n"
      END_FRAMES), "Content block not found");
  // An empty input_json_delta, and tool input that does not join into an object.
  EXPECT_NONFATAL_FAILURE(check_stream(START_FRAME
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      END_FRAMES), "empty input_json_delta");
  EXPECT_NONFATAL_FAILURE(check_stream(START_FRAME
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      END_FRAMES), "tool input is not a JSON object");
  // Two message_start events; thinking in a text block; a frame without its event line.
  EXPECT_NONFATAL_FAILURE(check_stream(START_FRAME START_FRAME END_FRAMES), "second message_start");
  EXPECT_NONFATAL_FAILURE(check_stream(START_FRAME
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"x\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      END_FRAMES), "thinking_delta in a text block");
  EXPECT_NONFATAL_FAILURE(check_stream(START_FRAME "data: {\"type\":\"ping\"}\n\n" END_FRAMES), "event line");
  // A stream that just stops.
  EXPECT_NONFATAL_FAILURE(check_stream(START_FRAME), "not ended");
#undef START_FRAME
#undef END_FRAMES
}

}  // namespace
}  // namespace llmux
