// NDJSON incremental line reader.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "llmux/ndjson.h"

namespace llmux {
namespace {

struct Result {
  std::vector<std::string> lines;
  bool ok = true;
};

Result read_all(const std::vector<std::string_view>& pieces, std::size_t max_line = ndjson::Reader::kDefaultMaxLine,
                bool finish = true) {
  ndjson::Reader reader(max_line);
  Result result;
  auto on_line = [&](std::string_view line) {
    result.lines.emplace_back(line);
    return true;
  };
  for (std::string_view p : pieces) {
    if (!reader.feed(p, on_line)) result.ok = false;
  }
  if (finish && !reader.finish(on_line)) result.ok = false;
  return result;
}

const std::string kOllamaStream =
    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.1Z\",\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hel\"},\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.2Z\",\"message\":{\"role\":\"assistant\","
    "\"content\":\"lo \\u00e9\\n\"},\"done\":false}\n"
    "\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.3Z\",\"message\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,\"prompt_eval_count\":26,\"eval_count\":3}\n";

std::vector<std::string> expected_lines() {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < kOllamaStream.size()) {
    std::size_t end = kOllamaStream.find('\n', start);
    if (end > start) out.push_back(kOllamaStream.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

TEST(NdjsonReaderTest, WholeInputGivesEveryLine) {
  Result r = read_all({kOllamaStream});
  EXPECT_TRUE(r.ok);
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines, expected_lines());
}

TEST(NdjsonReaderTest, EverySplitPointGivesTheSameLines) {
  const auto expected = expected_lines();
  std::string_view all = kOllamaStream;
  for (std::size_t i = 0; i <= all.size(); ++i) {
    Result r = read_all({all.substr(0, i), all.substr(i)});
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.lines, expected) << "split at " << i;
  }
  // Every pair of split points (three pieces) on a shorter CRLF input.
  const std::string crlf = "{\"a\":1}\r\n\r\n{\"b\":2}\r\n{\"c\":3}";
  std::string_view s = crlf;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    for (std::size_t j = i; j <= s.size(); ++j) {
      Result r = read_all({s.substr(0, i), s.substr(i, j - i), s.substr(j)});
      EXPECT_TRUE(r.ok);
      EXPECT_EQ(r.lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}))
          << "splits at " << i << ", " << j;
    }
  }
}

TEST(NdjsonReaderTest, ByteByByte) {
  std::vector<std::string_view> pieces;
  std::string_view all = kOllamaStream;
  for (std::size_t i = 0; i < all.size(); ++i) pieces.push_back(all.substr(i, 1));
  Result r = read_all(pieces);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.lines, expected_lines());
}

TEST(NdjsonReaderTest, CrlfLineEnds) {
  Result r = read_all({"{\"a\":1}\r\n{\"b\":2}\r", "\n{\"c\":3}\n"});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
}

TEST(NdjsonReaderTest, BlankLinesAreSkipped) {
  Result r = read_all({"\n\n{\"a\":1}\n \n\t\r\n\r\n{\"b\":2}\n\n"});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
}

TEST(NdjsonReaderTest, TrailingLineIsFlushedAtFinish) {
  ndjson::Reader reader;
  std::vector<std::string> lines;
  auto on_line = [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  };
  EXPECT_TRUE(reader.feed("{\"a\":1}\n{\"done\":", on_line));
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_TRUE(reader.mid_line());
  EXPECT_EQ(reader.pending_bytes(), 8u);
  EXPECT_TRUE(reader.feed("true}", on_line));
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_TRUE(reader.finish(on_line));
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"done\":true}"}));
  EXPECT_FALSE(reader.mid_line());
  EXPECT_EQ(reader.pending_bytes(), 0u);
  // A trailing "\r" or blanks only are no line.
  Result r = read_all({"{\"a\":1}\n  \r"});
  EXPECT_EQ(r.lines, (std::vector<std::string>{"{\"a\":1}"}));
  EXPECT_TRUE(read_all({"{\"a\":1}\r"}).lines.size() == 1);
  // Without finish, the trailing line stays held.
  EXPECT_EQ(read_all({"{\"a\":1}\n{\"b\""}, ndjson::Reader::kDefaultMaxLine, false).lines.size(), 1u);
}

TEST(NdjsonReaderTest, LineAtTheLimitPasses) {
  const std::string line(10, 'x');
  for (const char* end : {"\n", "\r\n"}) {
    Result r = read_all({line + end + line + end}, 10);
    EXPECT_TRUE(r.ok) << end;
    EXPECT_EQ(r.lines, (std::vector<std::string>{line, line}));
    // Split inside the line end.
    std::string all = line + end;
    for (std::size_t i = 0; i <= all.size(); ++i) {
      Result split = read_all({std::string_view(all).substr(0, i), std::string_view(all).substr(i)}, 10);
      EXPECT_TRUE(split.ok) << i;
      EXPECT_EQ(split.lines, (std::vector<std::string>{line})) << i;
    }
  }
  EXPECT_TRUE(read_all({line}, 10).ok);  // flushed at finish
}

TEST(NdjsonReaderTest, OverlongLineFailsTheReader) {
  const std::string longer(11, 'x');
  // Complete line in one piece.
  {
    ndjson::Reader reader(10);
    std::vector<std::string> lines;
    auto on_line = [&](std::string_view line) {
      lines.emplace_back(line);
      return true;
    };
    EXPECT_TRUE(reader.feed("{\"a\":1}\n", on_line));
    EXPECT_FALSE(reader.feed(longer + "\n{\"b\":2}\n", on_line));
    EXPECT_TRUE(reader.failed());
    EXPECT_NE(reader.error().find("longer than 10 bytes"), std::string::npos) << reader.error();
    EXPECT_FALSE(reader.feed("{\"c\":3}\n", on_line));
    EXPECT_FALSE(reader.finish(on_line));
    EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}"}));
  }
  // A line that keeps growing without a line end fails before its end comes,
  // and holds no more than the limit.
  {
    ndjson::Reader reader(10);
    auto on_line = [](std::string_view) { return true; };
    EXPECT_TRUE(reader.feed("xxxxxx", on_line));
    EXPECT_FALSE(reader.feed("xxxxxx", on_line));
    EXPECT_TRUE(reader.failed());
    EXPECT_EQ(reader.pending_bytes(), 0u);
  }
  // Over the limit across pieces, ended by a line end.
  EXPECT_FALSE(read_all({"xxxxx", "xxxxxx\n"}, 10).ok);
  // With "\r" the limit allows one more held byte, but not a longer line.
  EXPECT_FALSE(read_all({longer + "\r\n"}, 10).ok);
  EXPECT_FALSE(read_all({longer + "\r", "\n"}, 10).ok);
  // Trailing overlong line at finish.
  EXPECT_FALSE(read_all({"xxxxxxxxxx\r"}, 9).ok);
}

TEST(NdjsonReaderTest, HandlerCanStopTheFeed) {
  ndjson::Reader reader;
  std::vector<std::string> lines;
  auto stop_at_b = [&](std::string_view line) {
    lines.emplace_back(line);
    return line != "b";
  };
  EXPECT_TRUE(reader.feed("a\nb\nc\nd", stop_at_b));
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(reader.failed());
}

}  // namespace
}  // namespace llmux
