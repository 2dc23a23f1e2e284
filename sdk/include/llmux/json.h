// RapidJSON as llmux uses it: std::string support on, and assertions that throw
// instead of aborting (input comes from clients and upstreams). Include this
// header, never rapidjson directly, so every translation unit agrees.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#ifndef RAPIDJSON_HAS_STDSTRING
#define RAPIDJSON_HAS_STDSTRING 1
#endif
#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) \
  do { if (!(x)) throw std::logic_error("rapidjson assertion failed: " #x); } while (0)
#endif

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace llmux::json {

// "line 3, column 17" style position of a byte offset in `text` (1-based).
struct TextPosition { int line = 1; int column = 1; };
TextPosition position_of(std::string_view text, std::size_t offset);

// Appends `s` as a JSON string literal (with quotes) to `out`.
void append_quoted(std::string& out, std::string_view s);

// Serializes a value to compact JSON text.
std::string to_string(const rapidjson::Value& value);

}  // namespace llmux::json
