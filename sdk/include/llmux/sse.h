// Server-sent events (the WHATWG event-stream format), both directions.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace llmux::sse {

// Appends one event to `out`: "event: NAME\n" when `event` is not empty, one
// "data: " line per line of `data`, then the blank line that ends the event.
void append_event(std::string& out, std::string_view data, std::string_view event = {});

struct Message {
  std::string event;  // empty when the stream gave no "event:" line
  std::string data;   // data lines joined with '\n'
  std::string id;
};

// Incremental parser: feed bytes as they arrive, in any split; complete events
// are delivered in order. Accepts \n, \r\n and \r line ends, ignores comment
// lines (":") and unknown fields, joins multi-line data.
class Reader {
 public:
  using Handler = std::function<void(const Message&)>;
  void feed(std::string_view bytes, const Handler& on_message);
  // Bytes held waiting for the end of a line or event (bounded by the caller).
  std::size_t pending_bytes() const { return line_.size() + current_.data.size(); }
  // True when bytes of an unfinished event are held (e.g. a stream cut mid-event).
  bool mid_event() const { return !line_.empty() || has_fields_; }

 private:
  void process_line(std::string_view line, const Handler& on_message);
  std::string line_;
  Message current_;
  bool has_fields_ = false;
  bool has_data_ = false;
  bool skip_lf_ = false;  // last byte was '\r': a following '\n' belongs to it
  bool first_line_ = true;  // a UTF-8 BOM may start the stream's first line
};

}  // namespace llmux::sse
