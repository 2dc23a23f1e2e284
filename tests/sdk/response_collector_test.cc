// ResponseCollector and to_events.
#include <gtest/gtest.h>

#include "llmux/response.h"
#include "sdk/codec_test_util.h"

namespace llmux {
namespace {

using testing::collect;
using testing::expect_response_eq;

TEST(ResponseCollectorTest, JoinsTextReasoningAndToolCallFragments) {
  Usage usage;
  usage.input_tokens = 10;
  usage.output_tokens = 5;
  usage.reasoning_tokens = 2;
  const ChatResponse r = collect({
      Event::role(),
      Event::reasoning_delta("thinking "),
      Event::reasoning_delta("hard"),
      Event::text_delta("Hel"),
      Event::text_delta("lo"),
      Event::tool_call_delta(3, "call_b", "second", "{\"x\""),
      Event::tool_call_delta(1, "call_a", "first", ""),
      Event::tool_call_delta(1, "", "", "{}"),
      Event::tool_call_delta(3, "", "", ":1}"),
      Event::usage_report(usage),
      Event::finished(FinishReason::ToolCalls),
  });
  EXPECT_EQ(r.text, "Hello");
  EXPECT_EQ(r.reasoning, "thinking hard");
  ASSERT_EQ(r.tool_calls.size(), 2u);  // first-seen order, not index order
  EXPECT_EQ(r.tool_calls[0].id, "call_b");
  EXPECT_EQ(r.tool_calls[0].name, "second");
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"x\":1}");
  EXPECT_EQ(r.tool_calls[1].id, "call_a");
  EXPECT_EQ(r.tool_calls[1].name, "first");
  EXPECT_EQ(r.tool_calls[1].arguments, "{}");
  ASSERT_TRUE(r.usage.has_value());
  EXPECT_EQ(r.usage->input_tokens, 10);
  EXPECT_EQ(r.usage->reasoning_tokens, 2);
  EXPECT_EQ(r.finish, FinishReason::ToolCalls);
  EXPECT_FALSE(r.error.has_value());
  EXPECT_TRUE(r.complete());
}

TEST(ResponseCollectorTest, FirstTerminalWins) {
  ResponseCollector c;
  c.add(Event::text_delta("x"));
  EXPECT_FALSE(c.response().complete());
  c.add(Event::failed(Error::unavailable("down")));
  c.add(Event::finished(FinishReason::Stop));
  EXPECT_FALSE(c.response().finish.has_value());
  ASSERT_TRUE(c.response().error.has_value());
  EXPECT_EQ(c.response().error->status, 503);
  EXPECT_EQ(c.response().error->message, "down");
}

TEST(ResponseCollectorTest, ToEventsReproducesTheResponse) {
  ChatResponse r;
  r.text = "answer";
  r.reasoning = "because";
  r.tool_calls = {{"call_1", "f", "{\"a\":1}"}, {"call_2", "g", "{}"}};
  Usage u;
  u.input_tokens = 3;
  u.output_tokens = 4;
  u.cache_read_tokens = 1;
  r.usage = u;
  r.finish = FinishReason::Length;
  const std::vector<Event> events = to_events(r);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events.front().kind, Event::Kind::Role);
  EXPECT_EQ(events[1].kind, Event::Kind::ReasoningDelta);
  EXPECT_EQ(events[2].kind, Event::Kind::TextDelta);
  EXPECT_EQ(events[3].kind, Event::Kind::ToolCallDelta);
  EXPECT_EQ(events[3].index, 0);
  EXPECT_EQ(events[4].index, 1);
  EXPECT_EQ(events[5].kind, Event::Kind::Usage);
  EXPECT_EQ(events[6].kind, Event::Kind::Finish);
  expect_response_eq(collect(events), r);
}

TEST(ResponseCollectorTest, ToEventsDefaultsAndErrors) {
  ChatResponse empty;
  const auto events = to_events(empty);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Event::Kind::Role);
  EXPECT_EQ(events[1].kind, Event::Kind::Finish);
  EXPECT_EQ(events[1].finish, FinishReason::Stop);

  ChatResponse failed;
  failed.text = "partial";
  failed.error = Error::upstream(429, "slow down");
  const auto fe = to_events(failed);
  ASSERT_EQ(fe.size(), 3u);
  EXPECT_EQ(fe.back().kind, Event::Kind::Error);
  expect_response_eq(collect(fe), failed);
}

}  // namespace
}  // namespace llmux
