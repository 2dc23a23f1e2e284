// Pass-through streams in tests of the claude plugin: Anthropic's SSE as a
// list of whole events, and the check that Raw events hold whole events only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "llmux/event.h"

namespace llmux::test {

// The events of `wire` (whole, each ending with its empty line), with their
// line ends made `eol`.
inline std::vector<std::string> sse_events(const std::string& wire, const std::string& eol = "\n") {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t end = wire.find("\n\n"); end != std::string::npos; end = wire.find("\n\n", start)) {
    std::string event = wire.substr(start, end + 2 - start);
    std::string converted;
    for (char c : event) {
      if (c == '\n') {
        converted += eol;
      } else {
        converted.push_back(c);
      }
    }
    out.push_back(std::move(converted));
    start = end + 2;
  }
  return out;
}

inline std::string joined(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += p;
  return out;
}

// The offsets just past each event of `events` once joined.
inline std::vector<std::size_t> ends_of(const std::vector<std::string>& events) {
  std::vector<std::size_t> ends;
  std::size_t at = 0;
  for (const auto& e : events) ends.push_back(at += e.size());
  return ends;
}

// Checks that the Raw events of `events` hold `wire` exactly, each ending
// where an event of it ends; returns how many Raw events there were.
inline std::size_t expect_whole_raw_events(const std::vector<Event>& events, const std::string& wire,
                                           const std::vector<std::size_t>& event_ends, const std::string& context) {
  std::string raw;
  std::size_t count = 0;
  for (const auto& e : events) {
    if (e.kind != Event::Kind::Raw) continue;
    ++count;
    EXPECT_FALSE(e.text.empty()) << context;
    raw += e.text;
    EXPECT_NE(std::find(event_ends.begin(), event_ends.end(), raw.size()), event_ends.end())
        << context << ": a Raw event ends inside an SSE event, at " << raw.size();
  }
  EXPECT_EQ(raw, wire) << context;
  return count;
}

}  // namespace llmux::test
