// Anthropic codec: answers in both directions (message objects, SSE streams,
// errors), ToolInputRepair, and the round trips through them.
#include <gtest/gtest.h>

#include "llmux/codec/anthropic.h"
#include "sdk/anthropic_test_util.h"
#include "sdk/codec_test_util.h"

namespace llmux {
namespace {

using testing::check_stream;
using testing::collect;
using testing::expect_response_eq;
using testing::parse_anthropic;
using testing::render_anthropic;

Usage usage(std::int64_t in, std::int64_t out) {
  Usage u;
  u.input_tokens = in;
  u.output_tokens = out;
  return u;
}

// Frames spelled out.
#define FRAME(event, data) "event: " event "\ndata: " data "\n\n"
#define MESSAGE_START(usage_json)                                                                          \
  FRAME("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\"," \
                         "\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null," \
                         "\"stop_sequence\":null,\"usage\":" usage_json "}}")                              \
  FRAME("ping", "{\"type\":\"ping\"}")
#define BLOCK_START(i, block) \
  FRAME("content_block_start", "{\"type\":\"content_block_start\",\"index\":" #i ",\"content_block\":" block "}")
#define DELTA(i, delta) FRAME("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":" #i ",\"delta\":" delta "}")
#define BLOCK_STOP(i) FRAME("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":" #i "}")
#define MESSAGE_END(reason, usage_json)                                                                       \
  FRAME("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" reason "\",\"stop_sequence\":null}," \
                         "\"usage\":" usage_json "}")                                                         \
  FRAME("message_stop", "{\"type\":\"message_stop\"}")

// ---------------------------------------------------------------- StreamRenderer goldens

TEST(AnthropicStreamRendererTest, TextStreamGolden) {
  EXPECT_EQ(render_anthropic({Event::role(), Event::text_delta("Hel"), Event::text_delta(""),
                              Event::text_delta("lo \"w\"\n"), Event::usage_report(usage(10, 3)),
                              Event::finished(FinishReason::Stop)}),
            MESSAGE_START("{\"input_tokens\":42,\"output_tokens\":1}")
            BLOCK_START(0, "{\"type\":\"text\",\"text\":\"\"}")
            DELTA(0, "{\"type\":\"text_delta\",\"text\":\"Hel\"}")
            DELTA(0, "{\"type\":\"text_delta\",\"text\":\"lo \\\"w\\\"\\n\"}")
            BLOCK_STOP(0)
            MESSAGE_END("end_turn", "{\"input_tokens\":10,\"output_tokens\":3}"));
}

TEST(AnthropicStreamRendererTest, ThinkingTextAndToolsGolden) {
  Usage u = usage(100, 20);
  u.cache_read_tokens = 60;
  u.cache_creation_tokens = 30;
  const std::vector<Event> events = {
      Event::role(),
      Event::usage_report(u),  // known before anything is shown: message_start carries it
      Event::redacted_reasoning("opaque=="),
      Event::reasoning_delta("Let me "),
      Event::reasoning_delta("think."),
      Event::reasoning_signature("sig=="),
      Event::text_delta("Calling."),
      Event::tool_call_delta(0, "toolu_a", "get_weather", ""),
      Event::tool_call_delta(0, "", "", "{\"city\":"),
      Event::tool_call_delta(0, "", "", "\"Paris\"}"),
      Event::tool_call_delta(1, "toolu_b", "get_time", "{}"),
      Event::finished(FinishReason::ToolCalls),
  };
  EXPECT_EQ(render_anthropic(events),
            MESSAGE_START("{\"input_tokens\":10,\"cache_creation_input_tokens\":30,\"cache_read_input_tokens\":60,"
                          "\"output_tokens\":1}")
            BLOCK_START(0, "{\"type\":\"redacted_thinking\",\"data\":\"opaque==\"}")
            BLOCK_STOP(0)
            BLOCK_START(1, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}")
            DELTA(1, "{\"type\":\"thinking_delta\",\"thinking\":\"Let me \"}")
            DELTA(1, "{\"type\":\"thinking_delta\",\"thinking\":\"think.\"}")
            DELTA(1, "{\"type\":\"signature_delta\",\"signature\":\"sig==\"}")
            BLOCK_STOP(1)
            BLOCK_START(2, "{\"type\":\"text\",\"text\":\"\"}")
            DELTA(2, "{\"type\":\"text_delta\",\"text\":\"Calling.\"}")
            BLOCK_STOP(2)
            BLOCK_START(3, "{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"get_weather\",\"input\":{}}")
            DELTA(3, "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}")
            DELTA(3, "{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}")
            BLOCK_STOP(3)
            BLOCK_START(4, "{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"get_time\",\"input\":{}}")
            DELTA(4, "{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}")
            BLOCK_STOP(4)
            MESSAGE_END("tool_use", "{\"input_tokens\":10,\"cache_creation_input_tokens\":30,"
                                    "\"cache_read_input_tokens\":60,\"output_tokens\":20}"));
}

Usage with_cache(std::int64_t in, std::int64_t out, std::int64_t read, std::int64_t created) {
  Usage u = usage(in, out);
  u.cache_read_tokens = read;
  u.cache_creation_tokens = created;
  return u;
}

TEST(AnthropicStreamRendererTest, AnEarlyUsageOpensTheStreamAndTheLastUsageEndsIt) {
  // The provider knew the prompt's count before its first delta (output not
  // yet), then reported the final figures.
  EXPECT_EQ(render_anthropic({Event::role(), Event::usage_report(with_cache(100, 0, 60, 30)), Event::text_delta("Hi"),
                              Event::usage_report(with_cache(100, 7, 60, 30)), Event::finished(FinishReason::Stop)}),
            MESSAGE_START("{\"input_tokens\":10,\"cache_creation_input_tokens\":30,\"cache_read_input_tokens\":60,"
                          "\"output_tokens\":1}")
            BLOCK_START(0, "{\"type\":\"text\",\"text\":\"\"}")
            DELTA(0, "{\"type\":\"text_delta\",\"text\":\"Hi\"}")
            BLOCK_STOP(0)
            MESSAGE_END("end_turn", "{\"input_tokens\":10,\"cache_creation_input_tokens\":30,"
                                    "\"cache_read_input_tokens\":60,\"output_tokens\":7}"));
}

TEST(AnthropicStreamRendererTest, AStreamOpenedOnTheEstimateEndsWithTheTrueFigures) {
  // Nothing better than the estimate when message_start went out: the usage
  // that came later is all in message_delta, input and cache tokens included.
  EXPECT_EQ(render_anthropic({Event::role(), Event::text_delta("Hi"), Event::usage_report(usage(5, 1)),
                              Event::usage_report(with_cache(100, 20, 60, 30)), Event::finished(FinishReason::Stop)}),
            MESSAGE_START("{\"input_tokens\":42,\"output_tokens\":1}")
            BLOCK_START(0, "{\"type\":\"text\",\"text\":\"\"}")
            DELTA(0, "{\"type\":\"text_delta\",\"text\":\"Hi\"}")
            BLOCK_STOP(0)
            MESSAGE_END("end_turn", "{\"input_tokens\":10,\"cache_creation_input_tokens\":30,"
                                    "\"cache_read_input_tokens\":60,\"output_tokens\":20}"));
}

TEST(AnthropicStreamRendererTest, ErrorMidStreamGolden) {
  anthropic::StreamRenderer renderer(testing::anthropic_meta());
  std::string out;
  renderer.render(Event::role(), out);
  renderer.render(Event::text_delta("partial"), out);
  EXPECT_FALSE(renderer.done());
  renderer.render(Event::failed(Error::make(529, "overloaded_error", "Overloaded")), out);
  EXPECT_TRUE(renderer.done());
  renderer.render(Event::text_delta("late"), out);
  renderer.render(Event::finished(FinishReason::Stop), out);
  EXPECT_EQ(out, MESSAGE_START("{\"input_tokens\":42,\"output_tokens\":1}")
                 BLOCK_START(0, "{\"type\":\"text\",\"text\":\"\"}")
                 DELTA(0, "{\"type\":\"text_delta\",\"text\":\"partial\"}")
                 FRAME("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"));
}

TEST(AnthropicStreamRendererTest, ErrorFirstIsOnlyTheErrorFrame) {
  EXPECT_EQ(render_anthropic({Event::role(), Event::failed(Error::unavailable("no provider"))}),
            FRAME("error", "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"no provider\"}}"));
}

TEST(AnthropicStreamRendererTest, EmptyAnswerStillWellFormed) {
  EXPECT_EQ(render_anthropic({Event::role(), Event::finished(FinishReason::Length)}, 0),
            MESSAGE_START("{\"input_tokens\":1,\"output_tokens\":1}")
            MESSAGE_END("max_tokens", "{\"output_tokens\":0}"));
}

TEST(AnthropicStreamRendererTest, RawPassThroughThenFinishAddsNothing) {
  const std::string upstream = FRAME("message_start", "{\"type\":\"message_start\"}") FRAME("message_stop", "{\"type\":\"message_stop\"}");
  EXPECT_EQ(render_anthropic({Event::role(), Event::raw(upstream), Event::text_delta("ignored"),
                              Event::usage_report(usage(1, 1)), Event::finished(FinishReason::Stop)}),
            upstream);
  // An error after raw bytes still ends the stream with an error frame.
  anthropic::StreamRenderer renderer(testing::anthropic_meta());
  std::string out;
  renderer.render(Event::raw("event: ping\ndata: {\"type\":\"ping\"}\n\n"), out);
  renderer.render(Event::failed(Error::upstream(502, "cut")), out);
  EXPECT_EQ(out, "event: ping\ndata: {\"type\":\"ping\"}\n\n"
                 FRAME("error", "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"cut\"}}"));
  EXPECT_TRUE(renderer.done());
}

TEST(AnthropicStreamRendererTest, UpstreamErrorFrameInPassThroughIsNotDoubled) {
  // The upstream ended its stream with its own error event (forwarded raw, in
  // whole events); the Error that ends the call adds nothing, whichever Raw
  // event carried it.
  const std::string start = FRAME("message_start", "{\"type\":\"message_start\"}");
  const std::string error =
      FRAME("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}");
  for (const bool together : {true, false}) {
    anthropic::StreamRenderer renderer(testing::anthropic_meta());
    std::string out;
    if (together) {
      renderer.render(Event::raw(start + error), out);
    } else {
      renderer.render(Event::raw(start), out);
      renderer.render(Event::raw(error), out);
    }
    renderer.render(Event::failed(Error::make(529, "overloaded_error", "busy")), out);
    EXPECT_EQ(out, start + error) << (together ? "one Raw event" : "two Raw events");
  }
}

// An upstream that ends its lines with CRLF (or CR) still has its error event
// seen: the name line is "event: error\r\n", which the old scan for
// "event: error\n" missed, writing a second error frame.
TEST(AnthropicStreamRendererTest, PassThroughErrorEventWithCrlfLineEndsIsDoubled) {
  for (const std::string eol : {"\r\n", "\r", "\n"}) {
    const std::string error = "event: error" + eol +
                              "data: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}" + eol +
                              eol;
    const std::string upstream = "event: ping" + eol + "data: {\"type\":\"ping\"}" + eol + eol + error;
    anthropic::StreamRenderer renderer(testing::anthropic_meta());
    std::string out;
    renderer.render(Event::raw(upstream), out);
    renderer.render(Event::failed(Error::upstream(500, "x")), out);
    EXPECT_EQ(out, upstream) << "line end " << ::testing::PrintToString(eol);
  }
  // Only an `event:` field names the event: text that merely contains the
  // words does not stop the call's own error frame.
  anthropic::StreamRenderer renderer(testing::anthropic_meta());
  std::string out;
  const std::string mention = "event: ping\ndata: {\"text\":\"event: error\"}\n\n";
  renderer.render(Event::raw(mention), out);
  renderer.render(Event::failed(Error::upstream(502, "cut")), out);
  EXPECT_EQ(out, mention + FRAME("error", "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"cut\"}}"));
}

TEST(AnthropicStreamRendererTest, StopReasonsAndSignatureWithoutThinking) {
  EXPECT_STREQ(anthropic::stop_reason(FinishReason::Stop), "end_turn");
  EXPECT_STREQ(anthropic::stop_reason(FinishReason::Length), "max_tokens");
  EXPECT_STREQ(anthropic::stop_reason(FinishReason::StopSequence), "stop_sequence");
  EXPECT_STREQ(anthropic::stop_reason(FinishReason::ToolCalls), "tool_use");
  EXPECT_STREQ(anthropic::stop_reason(FinishReason::ContentFilter), "refusal");
  // Omitted thinking: a signature alone still makes a (closed) thinking block.
  EXPECT_EQ(render_anthropic({Event::reasoning_signature("s"), Event::text_delta("x"),
                              Event::finished(FinishReason::StopSequence)}),
            MESSAGE_START("{\"input_tokens\":42,\"output_tokens\":1}")
            BLOCK_START(0, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}")
            DELTA(0, "{\"type\":\"signature_delta\",\"signature\":\"s\"}")
            BLOCK_STOP(0)
            BLOCK_START(1, "{\"type\":\"text\",\"text\":\"\"}")
            DELTA(1, "{\"type\":\"text_delta\",\"text\":\"x\"}")
            BLOCK_STOP(1)
            MESSAGE_END("stop_sequence", "{\"output_tokens\":0}"));
}

// ---------------------------------------------------------------- render_message

TEST(AnthropicMessageTest, WholeMessageGolden) {
  ChatResponse r;
  r.redacted_reasoning = {"opaque"};
  r.reasoning = "Think \"hard\"";
  r.reasoning_signature = "sig";
  r.text = "Here.";
  r.tool_calls = {{"toolu_1", "write", R"({"path": "a.txt", "n": [1, 2.5]})"}, {"toolu_2", "noop", ""}};
  Usage u = usage(50, 7);
  u.cache_read_tokens = 40;
  r.usage = u;
  r.finish = FinishReason::ToolCalls;
  EXPECT_EQ(anthropic::render_message(r, testing::anthropic_meta()),
            R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[)"
            R"({"type":"redacted_thinking","data":"opaque"},)"
            R"({"type":"thinking","thinking":"Think \"hard\"","signature":"sig"},)"
            R"({"type":"text","text":"Here."},)"
            R"({"type":"tool_use","id":"toolu_1","name":"write","input":{"path": "a.txt", "n": [1, 2.5]}},)"
            R"({"type":"tool_use","id":"toolu_2","name":"noop","input":{}}],)"
            R"("stop_reason":"tool_use","stop_sequence":null,)"
            R"("usage":{"input_tokens":10,"cache_read_input_tokens":40,"output_tokens":7}})");
}

TEST(AnthropicMessageTest, TextOnlyWithoutUsageUsesTheEstimate) {
  ChatResponse r;
  r.text = "Hi";
  EXPECT_EQ(anthropic::render_message(r, testing::anthropic_meta(0)),
            R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[)"
            R"({"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,)"
            R"("usage":{"input_tokens":1,"output_tokens":0}})");
  ChatResponse raw;
  raw.raw = R"({"id":"msg_up","type":"message"})";
  EXPECT_EQ(anthropic::render_message(raw, testing::anthropic_meta()), raw.raw);
}

// ---------------------------------------------------------------- errors

TEST(AnthropicErrorTest, RenderMapsStatusAndTypes) {
  const auto type_of = [](int status, std::string type, std::string code = {}) {
    return std::string(anthropic::error_type(Error::make(status, std::move(type), "m", std::move(code))));
  };
  EXPECT_EQ(type_of(400, "invalid_request_error"), "invalid_request_error");
  EXPECT_EQ(type_of(422, "invalid_request_error"), "invalid_request_error");
  EXPECT_EQ(type_of(401, "authentication_error"), "authentication_error");
  EXPECT_EQ(type_of(403, "permission_error"), "permission_error");
  EXPECT_EQ(type_of(404, "invalid_request_error", "model_not_found"), "invalid_request_error");
  EXPECT_EQ(type_of(404, "not_found_error"), "not_found_error");
  EXPECT_EQ(type_of(404, "whatever"), "not_found_error");
  EXPECT_EQ(type_of(413, "invalid_request_error"), "request_too_large");
  EXPECT_EQ(type_of(429, "rate_limit_error"), "rate_limit_error");
  EXPECT_EQ(type_of(429, "insufficient_quota"), "billing_error");
  EXPECT_EQ(type_of(500, "server_error"), "api_error");
  EXPECT_EQ(type_of(502, "server_error"), "api_error");
  EXPECT_EQ(type_of(503, "server_error", "service_unavailable"), "api_error");
  EXPECT_EQ(type_of(529, "server_error"), "overloaded_error");
  EXPECT_EQ(type_of(529, "overloaded_error"), "overloaded_error");
  EXPECT_EQ(type_of(402, "invalid_request_error", "billing_error"), "billing_error");
  EXPECT_EQ(anthropic::render_error(Error::invalid_request("Bad \"x\"\n", "messages")),
            R"({"type":"error","error":{"type":"invalid_request_error","message":"Bad \"x\"\n"}})");
}

TEST(AnthropicErrorTest, ParseErrorResponseKeepsMessageAndMapsTypes) {
  Error e = anthropic::parse_error_response(
      529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"})");
  EXPECT_EQ(e.status, 529);
  EXPECT_EQ(e.type, "overloaded_error");
  EXPECT_EQ(e.message, "Overloaded");
  e = anthropic::parse_error_response(503, R"({"type":"error","error":{"type":"overloaded_error","message":"busy"}})");
  EXPECT_EQ(e.status, 529);
  EXPECT_EQ(e.type, "overloaded_error");
  e = anthropic::parse_error_response(529, "<html>Overloaded</html>");
  EXPECT_EQ(e.status, 529);
  EXPECT_EQ(e.type, "overloaded_error");
  EXPECT_EQ(e.message, "upstream returned HTTP 529: <html>Overloaded</html>");
  e = anthropic::parse_error_response(500, R"({"type":"error","error":{"type":"api_error","message":"Internal"}})");
  EXPECT_EQ(e.status, 500);
  EXPECT_EQ(e.type, "server_error");
  EXPECT_EQ(anthropic::render_error(e), R"({"type":"error","error":{"type":"api_error","message":"Internal"}})");
  e = anthropic::parse_error_response(413, R"({"type":"error","error":{"type":"request_too_large","message":"Too big"}})");
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.code, "request_too_large");
  e = anthropic::parse_error_response(400, R"({"type":"error","error":{"type":"billing_error","message":"Pay"}})");
  EXPECT_EQ(e.code, "billing_error");
  EXPECT_EQ(anthropic::error_type(e), "billing_error");  // survives the trip back
  e = anthropic::parse_error_response(401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})");
  EXPECT_EQ(e.status, 401);
  EXPECT_EQ(e.type, "authentication_error");
  EXPECT_EQ(e.message, "invalid x-api-key");
  e = anthropic::parse_error_response(429, R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})");
  EXPECT_EQ(e.type, "rate_limit_error");
  e = anthropic::parse_error_response(404, "");
  EXPECT_EQ(e.message, "upstream returned HTTP 404");
  EXPECT_EQ(e.type, "not_found_error");
}

// ---------------------------------------------------------------- upstream answers

TEST(AnthropicParseTest, MessageToEvents) {
  std::vector<Event> events;
  ASSERT_FALSE(anthropic::parse_message(
      R"({"id":"msg_u","type":"message","role":"assistant","model":"claude","content":[
        {"type":"thinking","thinking":"hmm","signature":"s1"},
        {"type":"redacted_thinking","data":"r1"},
        {"type":"text","text":"Hello"},
        {"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"q"}},
        {"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]},
        {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}},
        {"type":"tool_use","id":"toolu_2","name":"g","input":{}}],
      "stop_reason":"tool_use","stop_sequence":null,
      "usage":{"input_tokens":5,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":9}})",
      events));
  ChatResponse want;
  want.reasoning = "hmm";
  want.text = "Hello";
  want.tool_calls = {{"toolu_1", "f", R"({"a":1})"}, {"toolu_2", "g", "{}"}};
  Usage u = usage(10, 9);
  u.cache_creation_tokens = 2;
  u.cache_read_tokens = 3;
  want.usage = u;
  want.finish = FinishReason::ToolCalls;
  const ChatResponse got = collect(events);
  expect_response_eq(got, want);
  EXPECT_EQ(got.reasoning_signature, "s1");
  EXPECT_EQ(got.redacted_reasoning, std::vector<std::string>{"r1"});
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().kind, Event::Kind::Role);

  // Back to a message: the same content.
  ChatResponse again = got;
  EXPECT_EQ(anthropic::render_message(again, {"msg_u", "claude", 0}),
            R"({"id":"msg_u","type":"message","role":"assistant","model":"claude","content":[)"
            R"({"type":"redacted_thinking","data":"r1"},{"type":"thinking","thinking":"hmm","signature":"s1"},)"
            R"({"type":"text","text":"Hello"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}},)"
            R"({"type":"tool_use","id":"toolu_2","name":"g","input":{}}],"stop_reason":"tool_use","stop_sequence":null,)"
            R"("usage":{"input_tokens":5,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":9}})");
}

TEST(AnthropicParseTest, MessageStopReasonsAndErrors) {
  const auto finish_of = [](std::string_view reason) {
    std::vector<Event> events;
    const std::string body = std::string(R"({"type":"message","content":[],"stop_reason":)") + std::string(reason) + "}";
    EXPECT_FALSE(anthropic::parse_message(body, events));
    return events.back().finish;
  };
  EXPECT_EQ(finish_of("\"end_turn\""), FinishReason::Stop);
  EXPECT_EQ(finish_of("\"pause_turn\""), FinishReason::Stop);
  EXPECT_EQ(finish_of("\"max_tokens\""), FinishReason::Length);
  EXPECT_EQ(finish_of("\"model_context_window_exceeded\""), FinishReason::Length);
  EXPECT_EQ(finish_of("\"stop_sequence\""), FinishReason::StopSequence);
  EXPECT_EQ(finish_of("\"refusal\""), FinishReason::ContentFilter);
  EXPECT_EQ(finish_of("null"), FinishReason::Stop);

  std::vector<Event> events;
  auto err = anthropic::parse_message(R"({"type":"error","error":{"type":"rate_limit_error","message":"slow"}})", events);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 502);
  EXPECT_EQ(err->message, "slow");
  err = anthropic::parse_message("{\"content\":", events);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 502);
  err = anthropic::parse_message(R"({"type":"message"})", events);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->message, "upstream sent a message without content");
}

// A stream as the Anthropic API sends it (docs example, with thinking and a tool).
constexpr std::string_view kUpstreamStream =
    "event: message_start\n"
    "data: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_01\", \"type\": \"message\", \"role\": \"assistant\", "
    "\"content\": [], \"model\": \"claude-sonnet-4-5\", \"stop_reason\": null, \"stop_sequence\": null, "
    "\"usage\": {\"input_tokens\": 25, \"cache_read_input_tokens\": 100, \"output_tokens\": 1}}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Weather?\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking.\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"citations_delta\",\"citation\":{}}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\": \\\"San\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" Francisco\\\"}\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_02\",\"name\":\"now\",\"input\":{}}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

TEST(AnthropicStreamParserTest, UpstreamStreamToEvents) {
  const std::vector<Event> events = parse_anthropic(kUpstreamStream);
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(events[0].kind, Event::Kind::Role);
  EXPECT_EQ(events[1].kind, Event::Kind::ReasoningDelta);
  EXPECT_EQ(events[1].text, "Weather?");
  EXPECT_EQ(events[2].kind, Event::Kind::ReasoningSignature);
  EXPECT_EQ(events[2].text, "EqQB");
  EXPECT_EQ(events[3].kind, Event::Kind::TextDelta);
  EXPECT_EQ(events[3].text, "Checking.");
  EXPECT_EQ(events[4].kind, Event::Kind::ToolCallDelta);
  EXPECT_EQ(events[4].index, 0);
  EXPECT_EQ(events[4].id, "toolu_01");
  EXPECT_EQ(events[4].name, "get_weather");
  EXPECT_EQ(events[4].text, "{\"location\": \"San");
  EXPECT_EQ(events[5].index, 0);
  EXPECT_EQ(events[5].id, "");
  EXPECT_EQ(events[5].text, " Francisco\"}");
  EXPECT_EQ(events[6].index, 1);  // a call without input deltas gets "{}"
  EXPECT_EQ(events[6].id, "toolu_02");
  EXPECT_EQ(events[6].text, "{}");
  EXPECT_EQ(events[7].kind, Event::Kind::Usage);
  EXPECT_EQ(events[7].usage.input_tokens, 125);
  EXPECT_EQ(events[7].usage.cache_read_tokens, 100);
  EXPECT_EQ(events[7].usage.output_tokens, 89);
  EXPECT_EQ(events[8].kind, Event::Kind::Finish);
  EXPECT_EQ(events[8].finish, FinishReason::ToolCalls);
}

TEST(AnthropicStreamParserTest, ErrorsAndEarlyEnd) {
  anthropic::StreamParser parser;
  std::vector<Event> events;
  const auto emit = [&](Event e) { events.push_back(std::move(e)); };
  ASSERT_FALSE(parser.feed("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":3}}})", emit));
  auto err = parser.feed("error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", emit);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 529);
  EXPECT_EQ(err->type, "overloaded_error");
  EXPECT_EQ(err->message, "Overloaded");

  anthropic::StreamParser cut;
  ASSERT_FALSE(cut.feed("message_start", R"({"type":"message_start","message":{}})", emit));
  ASSERT_FALSE(cut.feed("", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":"a"}})", emit));
  err = cut.finish(emit);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 502);
  EXPECT_EQ(err->message, "upstream stream ended before message_stop");

  anthropic::StreamParser garbage;
  err = garbage.feed("message_start", "{nope", emit);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 502);
  anthropic::StreamParser orphan;
  err = orphan.feed("content_block_delta", R"({"type":"content_block_delta","index":4,"delta":{"type":"text_delta","text":"x"}})", emit);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->message, "upstream sent a content_block_delta for no open content block");
}

TEST(AnthropicStreamParserTest, MissingMessageStopStillFinishes) {
  anthropic::StreamParser parser;
  std::vector<Event> events;
  const auto emit = [&](Event e) { events.push_back(std::move(e)); };
  ASSERT_FALSE(parser.feed("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}})", emit));
  ASSERT_FALSE(parser.feed("message_delta",
                           R"({"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"input_tokens":4,"output_tokens":7}})",
                           emit));
  ASSERT_FALSE(parser.finish(emit));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].usage.input_tokens, 4);
  EXPECT_EQ(events[1].usage.output_tokens, 7);
  EXPECT_EQ(events[2].finish, FinishReason::Length);
  EXPECT_TRUE(parser.saw_stop());
}

// ---------------------------------------------------------------- round trips

void expect_events_eq(const std::vector<Event>& got, const std::vector<Event>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    EXPECT_EQ(got[i].kind, want[i].kind);
    EXPECT_EQ(got[i].text, want[i].text);
    EXPECT_EQ(got[i].index, want[i].index);
    EXPECT_EQ(got[i].id, want[i].id);
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].finish, want[i].finish);
    if (got[i].kind == Event::Kind::Usage) testing::expect_usage_eq(got[i].usage, want[i].usage);
    if (got[i].kind == Event::Kind::Error) testing::expect_error_eq(got[i].error, want[i].error);
  }
}

TEST(AnthropicRoundTripTest, SseRenderThenParseGivesTheSameEvents) {
  Usage u = usage(300, 40);
  u.cache_read_tokens = 200;
  u.cache_creation_tokens = 50;
  const std::vector<Event> events = {
      Event::role(),
      Event::redacted_reasoning("r=="),
      Event::reasoning_delta("step 1"),
      Event::reasoning_delta(", step 2 \"é\""),
      Event::reasoning_signature("sig"),
      Event::text_delta("Let me check.\n"),
      Event::tool_call_delta(0, "toolu_a", "read", "{\"path\":"),
      Event::tool_call_delta(0, "", "", "\"a.txt\"}"),
      Event::tool_call_delta(1, "toolu_b", "list", "{}"),
      Event::tool_call_delta(2, "toolu_c", "grep", "{\"q\":[1,true,null]}"),
      Event::usage_report(u),
      Event::finished(FinishReason::ToolCalls),
  };
  const std::string sse = render_anthropic(events);
  check_stream(sse);
  std::vector<Event> parsed = parse_anthropic(sse);
  ASSERT_FALSE(parsed.empty());
  ASSERT_EQ(parsed.back().kind, Event::Kind::Finish);
  expect_events_eq(parsed, events);
}

TEST(AnthropicRoundTripTest, EveryFinishReasonAndTheErrorEvent) {
  for (const FinishReason reason : {FinishReason::Stop, FinishReason::Length, FinishReason::StopSequence,
                                    FinishReason::ToolCalls, FinishReason::ContentFilter}) {
    const std::vector<Event> events = {Event::role(), Event::text_delta("x"), Event::usage_report(usage(5, 1)),
                                       Event::finished(reason)};
    expect_events_eq(parse_anthropic(render_anthropic(events)), events);
  }
  Error e = Error::make(429, "rate_limit_error", "slow down");
  const std::vector<Event> events = {Event::role(), Event::text_delta("x"), Event::failed(e)};
  expect_events_eq(parse_anthropic(render_anthropic(events)), {Event::role(), Event::text_delta("x"), Event::failed(e)});
}

TEST(AnthropicRoundTripTest, NonStreamedMessageThroughParse) {
  ChatResponse r;
  r.reasoning = "because";
  r.reasoning_signature = "sig";
  r.text = "answer";
  r.tool_calls = {{"toolu_1", "f", R"({"a":{"b":[1,2]}})"}};
  Usage u = usage(12, 4);
  u.cache_creation_tokens = 2;
  r.usage = u;
  r.finish = FinishReason::ToolCalls;
  std::vector<Event> events;
  ASSERT_FALSE(anthropic::parse_message(anthropic::render_message(r, testing::anthropic_meta()), events));
  const ChatResponse back = collect(events);
  expect_response_eq(back, r);
  EXPECT_EQ(back.reasoning_signature, "sig");
}

// ---------------------------------------------------------------- ToolInputRepair

struct RepairCase {
  std::vector<std::string> fragments;
  std::string emitted;     // what feed() let through, joined
  std::string completion;  // what closes it
};

TEST(AnthropicToolInputRepairTest, FragmentsAlwaysJoinIntoAnObject) {
  const std::vector<RepairCase> cases = {
      {{"", "  {\"a\"", ": 1", "}  "}, "{\"a\": 1}", ""},
      {{"{\"a\":\"b"}, "{\"a\":\"b", "\"}"},
      {{"{\"a\""}, "{\"a\"", ":null}"},
      {{"{\"a\":"}, "{\"a\":", "null}"},
      {{"{\"a\":1,"}, "{\"a\":1,", "\"\":null}"},
      {{"{\"a\":[1,"}, "{\"a\":[1,", "null]}"},
      {{"{\"a\":[{\"b\":tr"}, "{\"a\":[{\"b\":tr", "ue}]}"},
      {{"{\"a\":-"}, "{\"a\":-", "0}"},
      {{"{\"a\":1.5e"}, "{\"a\":1.5e", "0}"},
      {{"{\"a\":12"}, "{\"a\":12", "}"},
      {{"{\"a\":\"x\\"}, "{\"a\":\"x\\", "\\\"}"},
      {{"{\"a\":\"\\u00"}, "{\"a\":\"\\u00", "00\"}"},
      {{"{\"k\":\"caf\xC3", "\xA9\"}"}, "{\"k\":\"caf\xC3\xA9\"}", ""},  // a code point split across fragments
      {{"{\"k\":\"caf\xC3"}, "{\"k\":\"caf", "\"}"},                  // cut inside one: the partial bytes never go out
      {{"not json"}, "", "{}"},
      {{"[1,2]"}, "", "{}"},
      {{"{\"a\":1}}", "{\"b\":2}"}, "{\"a\":1}", ""},
      {{"{\"a\":01}"}, "{\"a\":0", "}"},
      {{"{\"a\":\"x\ny\"}"}, "{\"a\":\"x", "\"}"},
      {{"{\"a\":\"\xFF\"}"}, "{\"a\":\"", "\"}"},
      {{}, "", "{}"},
  };
  for (const RepairCase& c : cases) {
    std::string label;
    for (const std::string& f : c.fragments) label += "[" + f + "]";
    SCOPED_TRACE(label);
    anthropic::ToolInputRepair repair;
    std::string emitted;
    for (const std::string& f : c.fragments) emitted += repair.feed(f);
    EXPECT_EQ(emitted, c.emitted);
    EXPECT_EQ(repair.completion(), c.completion);
    const std::string whole = emitted + repair.completion();
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(whole.data(), whole.size());
    EXPECT_FALSE(d.HasParseError()) << whole;
    EXPECT_TRUE(d.IsObject()) << whole;
  }
  EXPECT_EQ(anthropic::ToolInputRepair::repair(" {\"a\" : [true, false, null, \"\\\"\"]} "),
            "{\"a\" : [true, false, null, \"\\\"\"]}");
}

// Every prefix of a real argument text is repaired into an object.
TEST(AnthropicToolInputRepairTest, EveryPrefixRepairs) {
  const std::string args = R"({"path": "src/a b.txt", "n": -12.5e+3, "ok": true, "list": [null, {"x": "\u00e9\n"}], "e": {}})";
  for (std::size_t n = 0; n <= args.size(); ++n) {
    const std::string whole = anthropic::ToolInputRepair::repair(args.substr(0, n));
    rapidjson::Document d;
    d.Parse(whole.data(), whole.size());
    EXPECT_TRUE(!d.HasParseError() && d.IsObject()) << n << ": " << whole;
  }
}

}  // namespace
}  // namespace llmux

#include <random>

namespace llmux {
namespace {

// Random JSON-ish text in random fragments: the repaired input is always a
// JSON object, and replace_model on it changes the model and nothing else.
TEST(AnthropicToolInputRepairTest, RandomFragmentsAlwaysMakeAnObject) {
  std::mt19937 rng(20240601);
  static const std::vector<std::string> kPieces = {
      "{", "}", "[", "]", "\"", ":", ",", "\\", "u00e9", "1", "-", ".", "e", "+", "0", "true", "fals", "null", " ",
      "\n", "\"k\"", "\"model\"", "\xC3", "\xA9", "\xFF", "a", "\\\"", "{\"a\":", "[1,2]"};
  std::uniform_int_distribution<std::size_t> piece(0, kPieces.size() - 1);
  std::uniform_int_distribution<int> length(0, 24);
  for (int round = 0; round < 3000; ++round) {
    std::string text = round % 2 == 0 ? "{" : "";
    for (int n = length(rng); n > 0; --n) text += kPieces[piece(rng)];
    anthropic::ToolInputRepair repair;
    std::string joined;
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 5)(rng);
      joined += repair.feed(std::string_view(text).substr(at, n));
      at += n;
    }
    joined += repair.completion();
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(joined.data(), joined.size());
    ASSERT_TRUE(!d.HasParseError() && d.IsObject()) << "input: " << text << "\nrepaired: " << joined;
    EXPECT_EQ(joined, anthropic::ToolInputRepair::repair(text)) << text;  // fragmenting does not matter

    const std::string renamed = anthropic::replace_model(joined, "n");
    rapidjson::Document r;
    r.Parse(renamed.data(), renamed.size());
    ASSERT_FALSE(r.HasParseError()) << joined << " -> " << renamed;
    ASSERT_TRUE(r.HasMember("model") && r["model"].IsString()) << renamed;
    EXPECT_STREQ(r["model"].GetString(), "n");
    for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
      if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == "model") continue;
      EXPECT_TRUE(r.HasMember(it->name)) << renamed;
    }
  }
}

// Garbage from an upstream never crashes the stream parser, and every stream
// ends in exactly one way.
TEST(AnthropicStreamParserTest, RandomGarbageIsAnErrorOrIgnored) {
  std::mt19937 rng(7);
  static const std::vector<std::string> kEvents = {
      R"({"type":"message_start","message":{"usage":{"input_tokens":"x"}}})",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","input":[1]}})",
      R"({"type":"content_block_start","index":-1,"content_block":{}})",
      R"({"type":"content_block_start","index":2,"content_block":{"type":"thinking"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":7}})",
      R"({"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"x"}})",
      R"({"type":"content_block_delta","index":0,"delta":null})",
      R"({"type":"content_block_stop","index":99})",
      R"({"type":"message_delta","delta":{"stop_reason":5},"usage":{"output_tokens":1.5e300}})",
      R"({"type":"message_delta","usage":null})",
      R"({"type":"error","error":"boom"})",
      R"({"type":"message_stop"})",
      "[]", "{", "", "null", R"({"type":7})"};
  std::uniform_int_distribution<std::size_t> pick(0, kEvents.size() - 1);
  for (int round = 0; round < 2000; ++round) {
    anthropic::StreamParser parser;
    int terminals = 0;
    const auto emit = [&](Event e) { terminals += e.terminal(); };
    bool failed = false;
    for (int n = 0; n < 8 && !failed; ++n) failed = parser.feed("", kEvents[pick(rng)], emit).has_value();
    if (!failed) failed = parser.finish(emit).has_value();
    EXPECT_EQ(terminals + (failed ? 1 : 0), 1);  // a Finish or an error, exactly one
  }
}

}  // namespace
}  // namespace llmux
