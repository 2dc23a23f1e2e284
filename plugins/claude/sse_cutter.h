// Where SSE events end in a byte stream that arrives in arbitrary reads, so
// pass-through can forward whole events with their original bytes (a Raw
// event never holds a cut one). An event ends with an empty line; line ends
// are \n, \r\n or \r (WHATWG), as sse::Reader reads them.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>

namespace llmux::claude {

class SseEventCutter {
 public:
  // Calls `on_event_end(offset)` for each event that ends in `bytes`, with the
  // offset just past its last byte; stops early when it returns false. An
  // event ended by a lone \r is reported once the next byte shows whether a
  // \n belongs to it: at offset 1 (that \n) or 0 (anything else) of a later feed.
  template <class OnEventEnd>
  void feed(std::string_view bytes, OnEventEnd&& on_event_end);

  // The bytes that end the unfinished event when the stream stops without
  // its empty line ("\n" or "\n\n"); fed, they make it whole. Empty when
  // the stream stopped right after the \r that ended an event.
  std::string_view completion() const;
  // The last byte fed was a \r that ended an event: when the stream stops
  // there, that event is whole.
  bool ended_by_last_cr() const { return cr_ended_event_; }

 private:
  static std::size_t line_end(std::string_view text, std::size_t from);

  bool line_empty_ = true;        // nothing read on the current line yet
  bool after_cr_ = false;         // the last byte was a \r: a \n now belongs to it
  bool cr_ended_event_ = false;   // ... and that \r was an empty line
};

// The first \r or \n from `from` on, or npos: memchr scans, as sse::Reader's
// (this runs over every pass-through byte).
inline std::size_t SseEventCutter::line_end(std::string_view text, std::size_t from) {
  if (from >= text.size()) return std::string_view::npos;
  const char* begin = text.data() + from;
  const std::size_t length = text.size() - from;
  const void* lf = std::memchr(begin, '\n', length);
  const std::size_t scan = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - begin) : length;
  if (const void* cr = std::memchr(begin, '\r', scan)) {
    return from + static_cast<std::size_t>(static_cast<const char*>(cr) - begin);
  }
  return lf ? from + scan : std::string_view::npos;
}

template <class OnEventEnd>
void SseEventCutter::feed(std::string_view bytes, OnEventEnd&& on_event_end) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (after_cr_) {
      after_cr_ = false;
      const bool lf = bytes[i] == '\n';
      if (lf) ++i;
      if (cr_ended_event_) {
        cr_ended_event_ = false;
        if (!on_event_end(i)) return;
      }
      if (lf) continue;
    }
    const std::size_t end = line_end(bytes, i);
    if (end == std::string_view::npos) {
      line_empty_ = false;
      return;
    }
    const bool empty_line = line_empty_ && end == i;
    line_empty_ = true;
    i = end + 1;
    if (bytes[end] == '\r') {
      after_cr_ = true;
      cr_ended_event_ = empty_line;
    } else if (empty_line) {
      if (!on_event_end(i)) return;
    }
  }
}

inline std::string_view SseEventCutter::completion() const {
  if (cr_ended_event_) return "";    // already whole
  if (after_cr_) return "\n\n";      // the first \n joins the \r that ended a line
  return line_empty_ ? "\n" : "\n\n";
}

}  // namespace llmux::claude
