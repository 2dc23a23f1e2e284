// Newline-delimited JSON (one JSON text per line, as Ollama streams): an
// incremental line reader. It does not parse JSON; it hands each complete
// line to the caller, who does.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace llmux::ndjson {

// Feed bytes as they arrive, in any split; each complete line is delivered in
// order, without its line end ("\n" or "\r\n"). Lines that are empty or only
// blanks (space, tab, a lone '\r') are skipped. A line longer than `max_line`
// bytes fails the reader (the stream is not trusted further): feed() and
// finish() then deliver nothing and return false, and error() says why.
class Reader {
 public:
  static constexpr std::size_t kDefaultMaxLine = std::size_t{16} << 20;  // 16 MiB

  // Return false to stop: the reader delivers nothing further from this
  // feed() (the rest of the bytes are dropped) and stays usable for the next.
  using Handler = std::function<bool(std::string_view line)>;

  explicit Reader(std::size_t max_line = kDefaultMaxLine) : max_line_(max_line) {}

  // Returns false when the reader has failed (now or before).
  bool feed(std::string_view bytes, const Handler& on_line);
  // End of the stream: delivers a trailing line that had no line end. Returns
  // false when the reader has failed.
  bool finish(const Handler& on_line);

  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  // Bytes held waiting for the end of a line.
  std::size_t pending_bytes() const { return line_.size(); }
  // True when a started line is held (e.g. a stream cut mid-line).
  bool mid_line() const { return !is_blank(line_); }
  std::size_t max_line() const { return max_line_; }

 private:
  static bool is_blank(std::string_view line);
  bool deliver(std::string_view line, const Handler& on_line);
  void fail(std::size_t length);

  std::size_t max_line_;
  std::string line_;  // an unfinished line (without its end)
  bool failed_ = false;
  std::string error_;
};

}  // namespace llmux::ndjson
