// The OpenAI Embeddings codec (POST /v1/embeddings): requests and answers,
// both directions.
//   client request  -> ChatRequest        parse_request
//   ChatRequest     -> upstream request   render_request
//   events          -> client answer      render_response
//   upstream answer -> events             parse_response
//
// Canonical mapping (see llmux/chat.h, EmbeddingInput):
// - `input` as a string is one text; a list of strings is that many texts; a
//   list of integers is one token array; a list of lists of integers is that
//   many token arrays. At most kMaxInputs items; no empty string, no empty
//   token array, no mixed list.
// - `encoding_format` "float" (the default) or "base64" (EmbeddingInput::base64);
//   `dimensions` a positive integer (EmbeddingInput::dimensions); `user` a
//   string, kept in `extra` like every member the codec does not model, and
//   forwarded only to an OpenAI-compatible upstream (render_request).
// - The answer: one Event::Kind::Embedding per input (index = the input's
//   position), Usage {input_tokens = prompt_tokens}, Finish.
// - base64 is the little-endian float32 array of a vector, base64-encoded
//   (what the official OpenAI SDKs ask for by default and decode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/chat.h"
#include "llmux/event.h"
#include "llmux/response.h"

namespace llmux::embeddings {

// OpenAI's limit on the items of one request's `input`.
inline constexpr std::size_t kMaxInputs = 2048;

// Parses a /v1/embeddings body (source_api OpenAIEmbeddings): fills `model`
// and `embedding`. On failure returns a 400 Error in OpenAI's words with the
// field in `param` ("input", "input[3]", "encoding_format", "dimensions", ...).
// `out.original_body` and `out.client_headers` set by the caller beforehand
// are kept.
std::optional<Error> parse_request(std::string_view body, ChatRequest& out);

// The body for an OpenAI-compatible upstream: model, input (a list of
// strings, or of token arrays), encoding_format ("base64" when the client
// asked for it; parse_response reads both), dimensions, then `extra` (only
// when source_api is OpenAIEmbeddings).
std::string render_request(const ChatRequest& request);

struct ResponseMeta {
  std::string model;  // the model name reported to the client
};

// {"object":"list","data":[{"object":"embedding","index":0,"embedding":[...]},...],
//  "model":...,"usage":{"prompt_tokens":N,"total_tokens":N}}: vectors in index
// order, as JSON numbers (the shortest text that reads back as the same
// float32) or, with `base64`, as base64 strings. A pass-through response
// (response.raw) is returned as is.
std::string render_response(const ChatResponse& response, const ResponseMeta& meta, bool base64);

// `{"error":{"message","type","param","code"}}` (the OpenAI error shape).
std::string render_error(const Error& error);

// Parses an upstream's embeddings list into events (Embedding per item, with
// the item's index, Usage when reported, Finish), reading float arrays and
// base64 strings alike; an error body gives its Error, anything else a 502.
std::optional<Error> parse_response(std::string_view body, std::vector<Event>& out);

// base64 of the vector's little-endian float32 bytes.
std::string encode_base64(std::span<const float> vector);
// The vector of such a base64 text; nullopt when it is not base64 of a whole
// number of float32 values.
std::optional<std::vector<float>> decode_base64(std::string_view text);

}  // namespace llmux::embeddings
