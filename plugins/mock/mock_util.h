// Small helpers shared by the mock's translation units.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace llmux::mock::util {

inline std::uint64_t fnv1a(std::string_view data, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

inline std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Trims spaces and tabs only.
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Trims every kind of white space, line breaks included.
inline std::string_view trim_all(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

inline bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Byte offset of the character after the one starting at `i`.
inline std::size_t next_char(std::string_view text, std::size_t i) {
  ++i;
  while (i < text.size() && is_continuation(text[i])) ++i;
  return i;
}

inline std::string truncate_chars(std::string_view text, std::size_t chars) {
  std::size_t i = 0;
  for (std::size_t n = 0; i < text.size() && n < chars; ++n) i = next_char(text, i);
  return std::string(text.substr(0, i));
}

}  // namespace llmux::mock::util
