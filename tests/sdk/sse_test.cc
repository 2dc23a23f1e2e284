// SSE writer and incremental reader.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "llmux/sse.h"

namespace llmux {
namespace {

struct Seen {
  std::string event, data, id;
  bool operator==(const Seen&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << "{event=" << s.event << " data=" << s.data << " id=" << s.id << "}";
}

std::vector<Seen> read_all(const std::vector<std::string_view>& pieces, sse::Reader* reader_out = nullptr) {
  sse::Reader local;
  sse::Reader& reader = reader_out ? *reader_out : local;
  std::vector<Seen> seen;
  for (std::string_view p : pieces) {
    reader.feed(p, [&](const sse::Message& m) { seen.push_back({m.event, m.data, m.id}); });
  }
  return seen;
}

TEST(SseWriterTest, AppendEvent) {
  std::string out;
  sse::append_event(out, "{\"a\":1}");
  EXPECT_EQ(out, "data: {\"a\":1}\n\n");
  out.clear();
  sse::append_event(out, "line1\nline2\r\nline3\rline4", "message_start");
  EXPECT_EQ(out, "event: message_start\ndata: line1\ndata: line2\ndata: line3\ndata: line4\n\n");
  out.clear();
  sse::append_event(out, "");
  EXPECT_EQ(out, "data: \n\n");
}

TEST(SseReaderTest, BasicEventsAndFields) {
  const auto seen = read_all({"event: ping\ndata: one\nid: 7\n\ndata:two\n\n"});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (Seen{"ping", "one", "7"}));
  // The event name resets after dispatch; the last event id persists.
  EXPECT_EQ(seen[1], (Seen{"", "two", "7"}));
}

TEST(SseReaderTest, OnlyOneLeadingSpaceIsStripped) {
  const auto seen = read_all({"data:  two spaces \n\n"});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].data, " two spaces ");
}

TEST(SseReaderTest, MultiLineDataIsJoinedWithNewline) {
  const auto seen = read_all({"data: a\ndata:\ndata: c\n\n"});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].data, "a\n\nc");
}

TEST(SseReaderTest, CommentsUnknownFieldsAndDatalessEventsAreIgnored) {
  const auto seen = read_all({": keep-alive\n\nretry: 100\nfoo: bar\n\nevent: x\n\ndata\n\n: tail\ndata: y\n\n"});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (Seen{"", "", ""}));  // a bare "data" line is a data field with an empty value
  EXPECT_EQ(seen[1], (Seen{"", "y", ""}));
}

TEST(SseReaderTest, CrLfAndCrLineEnds) {
  EXPECT_EQ(read_all({"event: e\r\ndata: a\r\ndata: b\r\n\r\n"}), (std::vector<Seen>{{"e", "a\nb", ""}}));
  EXPECT_EQ(read_all({"data: a\rdata: b\r\rdata: c\r\r"}), (std::vector<Seen>{{"", "a\nb", ""}, {"", "c", ""}}));
  // CR then LF in separate feeds is one line end, not two.
  EXPECT_EQ(read_all({"data: a\r", "\ndata: b\r", "\n\r", "\n"}), (std::vector<Seen>{{"", "a\nb", ""}}));
}

TEST(SseReaderTest, IgnoresLeadingBom) {
  EXPECT_EQ(read_all({"\xEF\xBB", "\xBF" "data: x\n\n"}), (std::vector<Seen>{{"", "x", ""}}));
}

TEST(SseReaderTest, IncompleteEventIsHeldNotDispatched) {
  sse::Reader reader;
  const auto seen = read_all({"data: done\n\ndata: partial\n"}, &reader);
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_TRUE(reader.mid_event());
  EXPECT_EQ(reader.pending_bytes(), 7u);  // "partial"
  sse::Reader fresh;
  EXPECT_FALSE(fresh.mid_event());
  read_all({"data: x"}, &fresh);
  EXPECT_TRUE(fresh.mid_event());
  EXPECT_EQ(fresh.pending_bytes(), 7u);  // "data: x" still waits for its line end
}

TEST(SseReaderTest, EverySplitPointGivesTheSameEvents) {
  const std::string stream =
      "\xEF\xBB\xBF: comment\r\n"
      "event: message_start\r\n"
      "data: {\"type\":\"message_start\"}\r\n"
      "\r\n"
      "data: line one\r"
      "data: line two\r"
      "\r"
      "id: 42\n"
      "data: {\"x\":\"\xC3\xA9\"}\n"
      "\n"
      "event: empty\n"
      "\n"
      "data:  [DONE]\n"
      "\n";
  const std::vector<Seen> expected = {
      {"message_start", "{\"type\":\"message_start\"}", ""},
      {"", "line one\nline two", ""},
      {"", "{\"x\":\"\xC3\xA9\"}", "42"},
      {"", " [DONE]", "42"},
  };
  ASSERT_EQ(read_all({stream}), expected);
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    for (std::size_t j = i; j <= stream.size(); j += 7) {
      const std::string_view s(stream);
      ASSERT_EQ(read_all({s.substr(0, i), s.substr(i, j - i), s.substr(j)}), expected) << "split at " << i << "," << j;
    }
  }
  // One byte at a time.
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < stream.size(); ++i) bytes.push_back(std::string_view(stream).substr(i, 1));
  EXPECT_EQ(read_all(bytes), expected);
}

TEST(SseRoundTripTest, WriterOutputReadsBack) {
  std::string out;
  sse::append_event(out, "a\nb", "ev");
  sse::append_event(out, " leading space");
  EXPECT_EQ(read_all({out}), (std::vector<Seen>{{"ev", "a\nb", ""}, {"", " leading space", ""}}));
}

}  // namespace
}  // namespace llmux
