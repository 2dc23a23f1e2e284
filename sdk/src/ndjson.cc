// Newline-delimited JSON: incremental line reader.
#include "llmux/ndjson.h"

#include <cstring>

namespace llmux::ndjson {

bool Reader::is_blank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

void Reader::fail(std::size_t length) {
  failed_ = true;
  error_ = "NDJSON line longer than " + std::to_string(max_line_) + " bytes (" + std::to_string(length) +
           (length > max_line_ + 1 ? "+" : "") + " bytes without a line end)";
  line_.clear();
  line_.shrink_to_fit();
}

bool Reader::deliver(std::string_view line, const Handler& on_line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > max_line_) {
    fail(line.size());
    return false;
  }
  if (is_blank(line)) return true;
  return on_line(line);
}

bool Reader::feed(std::string_view bytes, const Handler& on_line) {
  if (failed_) return false;
  while (!bytes.empty()) {
    const void* found = std::memchr(bytes.data(), '\n', bytes.size());
    if (found == nullptr) {
      // No line end yet: hold the bytes, unless the line is already too long
      // (max_line_ + 1 leaves room for the '\r' of a "\r\n" still to come).
      const std::size_t held = line_.size() + bytes.size();
      if (held > max_line_ + 1 || (held == max_line_ + 1 && bytes.back() != '\r')) {
        fail(held);
        return false;
      }
      line_.append(bytes);
      return true;
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(found) - bytes.data());
    bool go_on;
    if (line_.empty()) {
      go_on = deliver(bytes.substr(0, end), on_line);  // no copy for a line within one piece
    } else {
      if (line_.size() + end > max_line_ + 1) {
        fail(line_.size() + end);
        return false;
      }
      line_.append(bytes.substr(0, end));
      std::string line = std::move(line_);
      line_.clear();
      go_on = deliver(line, on_line);
    }
    if (failed_) return false;
    bytes.remove_prefix(end + 1);
    if (!go_on) return true;
  }
  return true;
}

bool Reader::finish(const Handler& on_line) {
  if (failed_) return false;
  if (line_.empty()) return true;
  std::string line = std::move(line_);
  line_.clear();
  deliver(line, on_line);
  return !failed_;
}

}  // namespace llmux::ndjson
