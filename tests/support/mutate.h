// Damaged input for the codecs' robustness tests: a few random byte edits
// (replace, insert, erase) drawn from JSON's punctuation and a few bad bytes.
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <string_view>

namespace llmux::test {

inline std::string mutate(std::string_view in, std::mt19937& rng) {
  static constexpr char kBytes[] = "{}[]\":,0-1.enull\\tfalse \x01\xC3\xFF";
  std::string s(in);
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits && !s.empty(); ++i) {
    const std::size_t pos = rng() % s.size();
    const char byte = kBytes[rng() % (sizeof kBytes - 1)];
    switch (rng() % 3) {
      case 0: s[pos] = byte; break;
      case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), byte); break;
      default: s.erase(pos, 1 + rng() % 8);
    }
  }
  return s;
}

}  // namespace llmux::test
