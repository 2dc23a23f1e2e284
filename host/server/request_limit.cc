#include "server/request_limit.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace llmux::host {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;  // b is lower-case
  }
  return true;
}

bool icontains(std::string_view haystack, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) { return a > kMax - b ? kMax : a + b; }

// Echoed into a response header: visible ASCII only, so it cannot split the head.
bool echoable(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c < 127; });
}

}  // namespace

RequestLimit::Verdict RequestLimit::feed(std::string_view bytes) {
  if (verdict_ != Verdict::Pass) return verdict_;
  message_start_ = 0;
  std::size_t pos = 0;
  while (pos < bytes.size() && verdict_ == Verdict::Pass) {
    switch (state_) {
      case State::Head:
        pos = feed_head(bytes, pos);
        break;
      case State::Body:
      case State::ChunkData: {
        // The hot path for large bodies: skip the bytes, no look at them.
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size() - pos));
        remaining_ -= n;
        pos += n;
        if (remaining_ == 0) {
          if (state_ == State::Body) {
            next_message(pos);
          } else {
            state_ = State::ChunkDataEnd;
            chunk_end_bytes_ = 0;
          }
        }
        break;
      }
      case State::ChunkSize:
      case State::ChunkExtension:
      case State::ChunkDataEnd:
        pos = feed_chunk_line(bytes, pos);
        break;
      case State::Trailers:
        pos = feed_trailers(bytes, pos);
        break;
    }
  }
  hold_back_ = verdict_ == Verdict::Pass && state_ == State::ChunkDataEnd && chunk_end_bytes_ == 1 ? 1 : 0;
  return verdict_;
}

std::size_t RequestLimit::feed_head(std::string_view bytes, std::size_t pos) {
  while (pos < bytes.size()) {
    const char* start = bytes.data() + pos;
    const std::size_t available = bytes.size() - pos;
    const auto* newline = static_cast<const char*>(std::memchr(start, '\n', available));
    const std::size_t length = newline ? static_cast<std::size_t>(newline - start) : available;
    const std::size_t used = newline ? length + 1 : length;
    if (head_bytes_ + used > max_head_) {
      refuse(Verdict::HeadTooLarge);
      return bytes.size();
    }
    head_bytes_ += used;
    if (!newline) {  // the line goes on in the next read
      line_.append(start, length);
      return bytes.size();
    }
    std::string_view line(start, length);
    if (!line_.empty()) {
      line_.append(start, length);
      line = line_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos += used;
    const bool head_ended = request_line_seen_ && line.empty();
    head_line(line);
    line_.clear();
    if (head_ended) {
      end_head(pos);
      return pos;
    }
  }
  return pos;
}

void RequestLimit::head_line(std::string_view line) {
  if (!request_line_seen_) {
    if (line.empty()) return;  // blank lines before a request line are tolerated (RFC 9112 2.2)
    request_line_seen_ = true;
    // method SP request-target SP HTTP-version
    auto first = line.find(' ');
    if (first == std::string_view::npos) return;
    auto rest = line.substr(first + 1);
    target_.assign(rest.substr(0, rest.find(' ')));
    return;
  }
  if (line.empty()) return;
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return;  // Pistache rejects it; nothing to frame
  header(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
}

void RequestLimit::header(std::string_view name, std::string_view value) {
  // Only the headers that frame the body or shape the refusal; the length
  // check first keeps the cost of every other header to a comparison or two.
  switch (name.size()) {
    case 14:
      if (iequals(name, "content-length")) {
        if (value.empty()) return;
        std::uint64_t length = 0;
        for (char c : value) {
          if (c < '0' || c > '9') return;  // not a length: Pistache answers 400
          auto digit = static_cast<std::uint64_t>(c - '0');
          length = length > (kMax - digit) / 10 ? kMax : length * 10 + digit;
        }
        // Several Content-Length headers: the largest decides (Pistache refuses them anyway).
        content_length_ = has_length_ ? std::max(content_length_, length) : length;
        has_length_ = true;
      }
      return;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        if (icontains(value, "chunked")) chunked_ = true;
      } else if (iequals(name, "anthropic-version")) {
        anthropic_version_ = true;
      }
      return;
    case 12:
      if (iequals(name, "x-request-id") && echoable(value)) request_id_.assign(value);
      return;
    default:
      return;
  }
}

void RequestLimit::end_head(std::size_t pos) {
  if (has_length_ && content_length_ > max_body_) {
    body_bytes_ = content_length_;
    refuse(Verdict::TooLarge);
    return;
  }
  if (chunked_) {  // Transfer-Encoding wins over Content-Length (RFC 9112 6.3)
    state_ = State::ChunkSize;
    body_bytes_ = 0;
    chunk_size_ = 0;
    chunk_digits_ = false;
    return;
  }
  if (has_length_ && content_length_ > 0) {
    state_ = State::Body;
    remaining_ = content_length_;
    body_bytes_ = content_length_;
    return;
  }
  next_message(pos);  // no body
}

std::size_t RequestLimit::feed_chunk_line(std::string_view bytes, std::size_t pos) {
  while (pos < bytes.size()) {
    const char c = bytes[pos++];
    if (state_ == State::ChunkDataEnd) {  // the CRLF after a chunk's data
      ++chunk_end_bytes_;
      if (c == '\n') {
        state_ = State::ChunkSize;
        chunk_size_ = 0;
        chunk_digits_ = false;
        return pos;
      }
      continue;
    }
    if (state_ == State::ChunkSize) {
      const int digit = hex_digit(c);
      if (digit >= 0) {
        chunk_digits_ = true;
        auto d = static_cast<std::uint64_t>(digit);
        chunk_size_ = chunk_size_ > (kMax - d) / 16 ? kMax : chunk_size_ * 16 + d;
        // Endless digits: refused without waiting for the number's end.
        if (chunk_size_ > kMax / 16 && chunk_size_ > max_body_ - body_bytes_) {
          refuse_chunk();
          return pos;
        }
        continue;
      }
      if (!chunk_digits_ && (c == ' ' || c == '\t')) continue;  // as strtol skips them
      // The size is complete: over the limit now, before any of its data.
      if (chunk_size_ > max_body_ - body_bytes_) {
        refuse_chunk();
        return pos;
      }
      if (c != '\n') {  // ';' extensions, '\r', whitespace: skipped up to the line's end
        state_ = State::ChunkExtension;
        continue;
      }
    } else if (c != '\n') {  // ChunkExtension
      continue;
    }
    // The chunk-size line ended. No digits reads as 0, as Pistache's strtol does.
    if (chunk_size_ == 0) {
      state_ = State::Trailers;
      head_bytes_ = 0;  // trailers are bounded like a head
      trailer_line_ = 0;
    } else {
      body_bytes_ += chunk_size_;
      remaining_ = chunk_size_;
      state_ = State::ChunkData;
    }
    chunk_size_ = 0;
    chunk_digits_ = false;
    return pos;
  }
  return pos;
}

std::size_t RequestLimit::feed_trailers(std::string_view bytes, std::size_t pos) {
  while (pos < bytes.size()) {
    const char c = bytes[pos++];
    if (++head_bytes_ > max_head_) {
      refuse(Verdict::HeadTooLarge);
      return pos;
    }
    if (c == '\n') {
      if (trailer_line_ == 0) {  // the empty line: the request is complete
        next_message(pos);
        return pos;
      }
      trailer_line_ = 0;
    } else if (c != '\r') {
      ++trailer_line_;
    }
  }
  return pos;
}

void RequestLimit::next_message(std::size_t pos) {
  state_ = State::Head;
  message_start_ = pos;
  head_bytes_ = 0;
  request_line_seen_ = false;
  line_.clear();
  has_length_ = false;
  content_length_ = 0;
  chunked_ = false;
  anthropic_version_ = false;
  target_.clear();
  request_id_.clear();
  remaining_ = 0;
  chunk_size_ = 0;
  chunk_digits_ = false;
  body_bytes_ = 0;
}

void RequestLimit::refuse_chunk() {
  body_bytes_ = saturating_add(body_bytes_, chunk_size_);
  refuse(Verdict::TooLarge);
}

void RequestLimit::refuse(Verdict verdict) {
  verdict_ = verdict;
  accepted_ = message_start_;
}

}  // namespace llmux::host
