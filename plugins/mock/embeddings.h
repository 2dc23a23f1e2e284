// The mock's embeddings: deterministic unit vectors derived from the text, so
// equal texts get equal vectors and texts that share words and spellings get
// closer vectors (higher cosine similarity) than unrelated ones. Good enough
// to exercise a retrieval pipeline offline; meaningless as semantics.
//
// A text is lower-cased (ASCII), every run of characters that are not letters
// or digits becomes one space, and the result is padded with a space on each
// side. Its features are the character trigrams (UTF-8 code points) and the
// words; each feature adds +1 or -1 (by its FNV-1a hash) at position
// hash % dimensions. Token-id input uses the ids and the pairs of consecutive
// ids as features. The vector is then L2-normalised.
//
// Dimensions: the request's `dimensions`, else the model's native size when
// the name is a well-known embedding model (text-embedding-3-large 3072,
// text-embedding-3-small and text-embedding-ada-002 1536, mxbai-embed-large
// and bge-m3 1024, nomic-embed-text 768, all-minilm 384), else 768.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "llmux/chat.h"

namespace llmux::mock {

inline constexpr std::size_t kDefaultEmbeddingDimensions = 768;
inline constexpr std::int64_t kMaxEmbeddingDimensions = 16384;

// The vector length for `model` when the request asks for none.
std::size_t default_embedding_dimensions(std::string_view model);

std::vector<float> embed_text(std::string_view text, std::size_t dimensions);
std::vector<float> embed_tokens(std::span<const std::int64_t> tokens, std::size_t dimensions);

// The prompt tokens to report: characters / 4 (rounded up, at least 1) per
// text, or the number of token ids.
std::int64_t embedding_input_tokens(const EmbeddingInput& input);

}  // namespace llmux::mock
