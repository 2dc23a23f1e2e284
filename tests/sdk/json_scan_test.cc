// The DOM-free JSON reader (llmux/json_scan.h): the top level of an object as
// spans of its text, member rewrites, and the syntax check pass-through uses
// on every upstream frame.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "llmux/json_scan.h"

namespace llmux::json {
namespace {

using ::testing::HasSubstr;

TEST(JsonScan, TopLevelMembersAreSpansOfTheText) {
  const std::string text = R"( { "id" : "x\"y", "n":-1.5e3,"deep":{"model":[1,"]}"]}, "ok":true } )";
  std::vector<Member> members;
  ASSERT_TRUE(top_level_members(text, members));
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[0].name, "id");
  EXPECT_EQ(members[0].value, R"("x\"y")");
  EXPECT_EQ(members[1].value, "-1.5e3");
  EXPECT_EQ(members[2].value, R"({"model":[1,"]}"]})");
  EXPECT_EQ(members[3].value, "true");
  EXPECT_EQ(members[3].value.data(), text.data() + text.find("true")) << "a view into the text, not a copy";
}

TEST(JsonScan, StopsAfterTheMemberAskedFor) {
  std::vector<Member> members;
  ASSERT_TRUE(top_level_members(R"({"a":1,"model":"m","b":{"broken)", members, "model"));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members.back().value, R"("m")");
}

TEST(JsonScan, EscapedNamesAreDecodedWhenCompared) {
  std::vector<Member> members;
  ASSERT_TRUE(top_level_members(R"({"mod\u0065l":"a","mode\"l":"b"})", members));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_TRUE(members[0].name_escaped);
  EXPECT_TRUE(members[0].is("model"));
  EXPECT_FALSE(members[1].is("model"));
  EXPECT_EQ(find_member(R"({"x":1,"mod\u0065l":"a","model":"b"})", "model"), R"("a")") << "the first one counts";
}

TEST(JsonScan, TextThatIsNotAnObjectIsRefused) {
  std::vector<Member> members;
  for (const char* text : {"", "[1]", "\"s\"", "{", R"({"a":1)", R"({"a" 1})", R"({"a":1,})", R"({"a":1} x)",
                           R"({"a":"unterminated})", R"({"a":})", R"({a:1})"}) {
    members.clear();
    EXPECT_FALSE(top_level_members(text, members)) << text;
    EXPECT_FALSE(find_member(text, "zz")) << text;
  }
  // find_member reads only as far as the member (what follows is not checked).
  EXPECT_EQ(find_member(R"({"a":1,"b":{broken)", "a"), "1");
  EXPECT_TRUE(top_level_members(" {} ", members));
}

TEST(JsonScan, FindMember) {
  EXPECT_EQ(find_member(R"({"usage":{"prompt_tokens":1},"x":null})", "usage"), R"({"prompt_tokens":1})");
  EXPECT_EQ(find_member(R"({"x":null})", "x"), "null");
  EXPECT_FALSE(find_member(R"({"x":{"usage":1}})", "usage")) << "nested members are not top-level";
}

TEST(JsonScan, AppendWithMemberReplacesEveryTopLevelOccurrence) {
  std::string out = "prefix:";
  EXPECT_TRUE(append_with_member(out, R"({"model":"a","m":{"model":"x"},"model" : null})", "model", R"("b")"));
  EXPECT_EQ(out, R"(prefix:{"model":"b","m":{"model":"x"},"model" : "b"})");
  out.clear();
  EXPECT_FALSE(append_with_member(out, R"({"other":"a"})", "model", R"("b")"));
  EXPECT_FALSE(append_with_member(out, R"({"model":"a",)", "model", R"("b")"));
  EXPECT_EQ(out, "") << "nothing appended when it fails";
  // Many occurrences (past the inline span buffer).
  std::string many = "{";
  for (int i = 0; i < 6; ++i) many += std::string(i ? "," : "") + R"("model":)" + std::to_string(i);
  many += "}";
  EXPECT_TRUE(append_with_member(out, many, "model", "7"));
  EXPECT_EQ(out, R"({"model":7,"model":7,"model":7,"model":7,"model":7,"model":7})");
}

TEST(JsonScan, WellFormedChecksTheWholeSyntax) {
  for (const char* good : {"{}", " {\"a\":[1,2.5e-3,true,null,\"\\u00e9\"]} ", "[]", "\"s\"", "0"}) {
    EXPECT_TRUE(well_formed(good)) << good;
  }
  std::string why;
  EXPECT_FALSE(well_formed(R"({"a":1 "b":2})", &why));
  EXPECT_THAT(why, HasSubstr("at line 1, column 8"));
  for (const char* bad : {"", "{", R"({"a":1} {"b":2})", R"({"a":01})", R"({"a":"x)", "{\"a\":tru}", "data"}) {
    EXPECT_FALSE(well_formed(bad)) << bad;
  }
  // Deep nesting is checked without recursion.
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  EXPECT_TRUE(well_formed(deep));
  deep.pop_back();
  EXPECT_FALSE(well_formed(deep));
}

}  // namespace
}  // namespace llmux::json
