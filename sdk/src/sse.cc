// Server-sent events: writer and incremental reader (WHATWG event-stream).
#include "llmux/sse.h"

#include <cstring>

namespace llmux::sse {

namespace {

// Where the line starting at `from` ends (its CR or LF), or npos. Two memchr
// scans instead of find_first_of, which tests each byte against the set
// one at a time: the SSE reader is on every streamed chunk's path.
std::size_t line_end(std::string_view text, std::size_t from) {
  if (from >= text.size()) return std::string_view::npos;
  const char* begin = text.data() + from;
  const std::size_t length = text.size() - from;
  const void* lf = std::memchr(begin, '\n', length);
  const std::size_t scan = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - begin) : length;
  const void* cr = std::memchr(begin, '\r', scan);
  if (cr) return from + static_cast<std::size_t>(static_cast<const char*>(cr) - begin);
  return lf ? from + scan : std::string_view::npos;
}

}  // namespace

void append_event(std::string& out, std::string_view data, std::string_view event) {
  if (!event.empty()) {
    out.append("event: ");
    out.append(event);
    out.push_back('\n');
  }
  // Every line end a reader would see (\r\n, \r, \n) starts a new data line.
  std::size_t start = 0;
  while (true) {
    const std::size_t end = line_end(data, start);
    out.append("data: ");
    if (end == std::string_view::npos) {
      out.append(data.substr(start));
      out.push_back('\n');
      break;
    }
    out.append(data.substr(start, end - start));
    out.push_back('\n');
    start = end + 1;
    if (data[end] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  out.push_back('\n');
}

void Reader::feed(std::string_view bytes, const Handler& on_message) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    const std::size_t end = line_end(bytes, i);
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(i));
      return;
    }
    if (line_.empty()) {
      process_line(bytes.substr(i, end - i), on_message);
    } else {
      line_.append(bytes.substr(i, end - i));
      process_line(line_, on_message);  // does not touch line_
      line_.clear();
    }
    if (bytes[end] == '\r') skip_lf_ = true;
    i = end + 1;
  }
}

void Reader::process_line(std::string_view line, const Handler& on_message) {
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  }
  if (line.empty()) {
    // End of an event: dispatch it only when it has data (WHATWG). The last
    // event id persists across events, as the spec's "last event ID" does.
    if (has_data_) on_message(current_);
    current_.event.clear();
    current_.data.clear();
    has_data_ = false;
    has_fields_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment
  std::string_view field = line;
  std::string_view value;
  if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  has_fields_ = true;
  if (field == "data") {
    if (has_data_) current_.data.push_back('\n');
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.event.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) current_.id.assign(value);
  }
  // "retry" and unknown fields are ignored.
}

}  // namespace llmux::sse
