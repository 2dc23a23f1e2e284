#include "embeddings.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <utility>

#include "mock_util.h"

namespace llmux::mock {

namespace {

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;  // any non-ASCII character counts as a letter
}

// " the cat sat ": lower case, separators folded into single spaces, padded.
std::string normalised(std::string_view text) {
  std::string out = " ";
  for (char c : util::lower(text)) {
    if (is_word_byte(static_cast<unsigned char>(c))) {
      out.push_back(c);
    } else if (out.back() != ' ') {
      out.push_back(' ');
    }
  }
  if (out.back() != ' ') out.push_back(' ');
  return out;
}

void add_feature(std::vector<float>& vector, std::uint64_t hash) {
  // The low bits pick the position, the top bit the sign.
  const std::size_t at = static_cast<std::size_t>(hash % vector.size());
  vector[at] += (hash >> 63) != 0 ? -1.0f : 1.0f;
}

void normalise(std::vector<float>& vector) {
  double sum = 0;
  for (float x : vector) sum += static_cast<double>(x) * x;
  if (sum == 0) {  // no features, or they cancelled out: still a unit vector
    vector[0] = 1.0f;
    return;
  }
  const double scale = 1.0 / std::sqrt(sum);
  for (float& x : vector) x = static_cast<float>(x * scale);
}

}  // namespace

std::size_t default_embedding_dimensions(std::string_view model) {
  static constexpr std::array<std::pair<std::string_view, std::size_t>, 7> kKnown = {{
      {"text-embedding-3-large", 3072},
      {"text-embedding-3-small", 1536},
      {"text-embedding-ada-002", 1536},
      {"mxbai-embed-large", 1024},
      {"bge-m3", 1024},
      {"nomic-embed-text", 768},
      {"all-minilm", 384},
  }};
  const std::string name = util::lower(model);
  for (const auto& [known, dimensions] : kKnown) {
    if (name.find(known) != std::string::npos) return dimensions;
  }
  return kDefaultEmbeddingDimensions;
}

std::vector<float> embed_text(std::string_view text, std::size_t dimensions) {
  std::vector<float> vector(dimensions == 0 ? 1 : dimensions, 0.0f);
  const std::string s = normalised(text);
  // Character trigrams: three code points starting at each character.
  for (std::size_t i = 0; i < s.size(); i = util::next_char(s, i)) {
    std::size_t end = i;
    int chars = 0;
    for (; chars < 3 && end < s.size(); ++chars) end = util::next_char(s, end);
    if (chars < 3) break;
    add_feature(vector, util::fnv1a(std::string_view(s).substr(i, end - i), 0x9e3779b97f4a7c15ull));
  }
  // Words: a shared word weighs more than a shared trigram.
  for (std::size_t start = 1; start < s.size();) {
    const std::size_t space = s.find(' ', start);
    if (space == std::string::npos) break;
    if (space > start) {
      const std::uint64_t hash = util::fnv1a(std::string_view(s).substr(start, space - start));
      add_feature(vector, hash);
      add_feature(vector, hash * 0x9e3779b97f4a7c15ull + 1);
    }
    start = space + 1;
  }
  normalise(vector);
  return vector;
}

std::vector<float> embed_tokens(std::span<const std::int64_t> tokens, std::size_t dimensions) {
  std::vector<float> vector(dimensions == 0 ? 1 : dimensions, 0.0f);
  auto hash_of = [](std::int64_t a, std::int64_t b) {
    std::uint64_t h = 1469598103934665603ull;
    for (std::uint64_t v : {static_cast<std::uint64_t>(a), static_cast<std::uint64_t>(b)}) {
      for (int k = 0; k < 8; ++k) {
        h ^= (v >> (8 * k)) & 0xff;
        h *= 1099511628211ull;
      }
    }
    return h;
  };
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    add_feature(vector, hash_of(tokens[i], -1));
    if (i + 1 < tokens.size()) add_feature(vector, hash_of(tokens[i], tokens[i + 1]));
  }
  normalise(vector);
  return vector;
}

std::int64_t embedding_input_tokens(const EmbeddingInput& input) {
  std::int64_t total = 0;
  for (const auto& text : input.texts) {
    std::size_t chars = 0;
    for (std::size_t i = 0; i < text.size(); i = util::next_char(text, i)) ++chars;
    total += std::max<std::int64_t>(1, static_cast<std::int64_t>((chars + 3) / 4));
  }
  for (const auto& ids : input.tokens) total += static_cast<std::int64_t>(ids.size());
  return total;
}

}  // namespace llmux::mock
