// JSON text read without a DOM: the top level of an object as spans of the
// text itself, and a syntax check. For code that looks at or rewrites one
// member of a large body, or of every stream frame (pass-through answers),
// without building a document for the rest.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmux::json {

// One member at the top level of a JSON object: its name (the text between
// the quotes, escapes not decoded) and its value's raw text.
struct Member {
  std::string_view name;
  std::string_view value;
  bool name_escaped = false;  // the name holds a backslash escape

  // The name is `plain` once its escapes are decoded ("mod\u0065l" is "model").
  bool is(std::string_view plain) const;
};

// Reads the top level of a JSON object text, skipping nested values by their
// brackets (values are not checked: see well_formed). Stops after the first
// member named `stop_after` when given. False when the text is not an object
// this reader follows.
bool top_level_members(std::string_view text, std::vector<Member>& out, std::string_view stop_after = {});

// The value text of the first top-level member named `name`, if the object has
// one. Reads only as far as that member: what follows is not looked at.
std::optional<std::string_view> find_member(std::string_view object, std::string_view name);

// Appends `object` to `out` with the value of every top-level member named
// `name` replaced by `value` (JSON text). Returns false, and appends nothing,
// when `object` has no such member or is not an object this reader follows.
bool append_with_member(std::string& out, std::string_view object, std::string_view name, std::string_view value);

// True when `text` is exactly one well-formed JSON value (whitespace around it
// allowed): a streaming syntax pass, no document. Otherwise `why` (when
// given) says where and what, e.g. "at line 1, column 9: Missing a colon
// after a name of object member.". With `validate_utf8`, strings must be
// valid UTF-8 too (as a client's request body must; upstream frames are not
// checked for it).
bool well_formed(std::string_view text, std::string* why = nullptr, bool validate_utf8 = false);

}  // namespace llmux::json
