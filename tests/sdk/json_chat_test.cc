// llmux/json.h helpers, the canonical chat model and Error constructors.
#include <gtest/gtest.h>

#include "llmux/chat.h"
#include "llmux/event.h"
#include "llmux/json.h"

namespace llmux {
namespace {

std::string quoted(std::string_view s) {
  std::string out;
  json::append_quoted(out, s);
  return out;
}

TEST(JsonTest, PositionOfCountsLinesAndColumnsFromOne) {
  const std::string_view text = "{\n  \"a\": 1,\n  x\n}";
  EXPECT_EQ(json::position_of(text, 0).line, 1);
  EXPECT_EQ(json::position_of(text, 0).column, 1);
  EXPECT_EQ(json::position_of(text, 1).column, 2);
  const auto x = json::position_of(text, text.find('x'));
  EXPECT_EQ(x.line, 3);
  EXPECT_EQ(x.column, 3);
  const auto end = json::position_of(text, 1000);  // clamped to the end
  EXPECT_EQ(end.line, 4);
  EXPECT_EQ(end.column, 2);
}

TEST(JsonTest, AppendQuotedEscapes) {
  EXPECT_EQ(quoted(""), "\"\"");
  EXPECT_EQ(quoted("plain"), "\"plain\"");
  EXPECT_EQ(quoted("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
  EXPECT_EQ(quoted("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(quoted(std::string_view("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
}

TEST(JsonTest, AppendQuotedPassesUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(quoted("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"), "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  EXPECT_EQ(quoted("a\xFF" "b"), "\"a\\ufffdb\"");
  EXPECT_EQ(quoted("\xC3"), "\"\\ufffd\"");                       // truncated sequence
  EXPECT_EQ(quoted("\xED\xA0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
  EXPECT_EQ(quoted("\xC0\xAF"), "\"\\ufffd\\ufffd\"");             // overlong
}

TEST(JsonTest, AppendQuotedAppends) {
  std::string out = "x=";
  json::append_quoted(out, "y");
  EXPECT_EQ(out, "x=\"y\"");
}

TEST(JsonTest, ToStringIsCompact) {
  rapidjson::Document doc;
  doc.Parse(R"({ "a" : [1, 2.5, "x\n"], "b": {"c": null, "d": true} })");
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_EQ(json::to_string(doc), R"({"a":[1,2.5,"x\n"],"b":{"c":null,"d":true}})");
}

TEST(ChatTest, RoleNames) {
  EXPECT_STREQ(to_string(Role::System), "system");
  EXPECT_STREQ(to_string(Role::Developer), "developer");
  EXPECT_STREQ(to_string(Role::User), "user");
  EXPECT_STREQ(to_string(Role::Assistant), "assistant");
  EXPECT_STREQ(to_string(Role::Tool), "tool");
}

TEST(ChatTest, MessageTextJoinsTextPartsSkippingImages) {
  Message m;
  m.content_was_string = false;
  m.content = {ContentPart::make_text("Hello, "), ContentPart::make_image("https://x/y.png", "low"),
               ContentPart::make_text("world")};
  EXPECT_EQ(m.text(), "Hello, world");
  Message empty;
  EXPECT_EQ(empty.text(), "");
}

TEST(ChatTest, LastUserTextAndToolResult) {
  ChatRequest r;
  EXPECT_EQ(r.last_user_text(), "");
  EXPECT_FALSE(r.has_tool_result());
  Message u1;
  u1.content = {ContentPart::make_text("first")};
  Message a;
  a.role = Role::Assistant;
  a.content = {ContentPart::make_text("answer")};
  Message u2;
  u2.content = {ContentPart::make_text("second")};
  r.messages = {u1, a, u2};
  EXPECT_EQ(r.last_user_text(), "second");
  Message t;
  t.role = Role::Tool;
  t.tool_call_id = "call_1";
  t.content = {ContentPart::make_text("42")};
  r.messages.push_back(t);
  EXPECT_EQ(r.last_user_text(), "second");
  EXPECT_TRUE(r.has_tool_result());
}

TEST(EventTest, FinishReasonNames) {
  EXPECT_STREQ(to_string(FinishReason::Stop), "stop");
  EXPECT_STREQ(to_string(FinishReason::Length), "length");
  EXPECT_STREQ(to_string(FinishReason::ToolCalls), "tool_calls");
  EXPECT_STREQ(to_string(FinishReason::ContentFilter), "content_filter");
}

TEST(EventTest, ErrorConstructors) {
  const Error bad = Error::invalid_request("no", "messages[0].role", "invalid_value");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.type, "invalid_request_error");
  EXPECT_EQ(bad.message, "no");
  EXPECT_EQ(bad.param, "messages[0].role");
  EXPECT_EQ(bad.code, "invalid_value");

  const Error down = Error::unavailable("busy");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.type, "server_error");
  EXPECT_EQ(down.code, "service_unavailable");
  EXPECT_EQ(down.message, "busy");
}

TEST(EventTest, UpstreamStatusMapsToType) {
  const std::pair<int, const char*> cases[] = {
      {400, "invalid_request_error"}, {401, "authentication_error"}, {403, "permission_error"},
      {404, "not_found_error"},       {413, "invalid_request_error"}, {422, "invalid_request_error"},
      {429, "rate_limit_error"},      {500, "server_error"},          {502, "server_error"},
      {503, "server_error"},          {529, "server_error"},
  };
  for (const auto& [status, type] : cases) {
    const Error e = Error::upstream(status, "m");
    EXPECT_EQ(e.status, status);
    EXPECT_EQ(e.type, type) << status;
    EXPECT_EQ(e.message, "m");
    EXPECT_EQ(e.code, "");
  }
}

}  // namespace
}  // namespace llmux
