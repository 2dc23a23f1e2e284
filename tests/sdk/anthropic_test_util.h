// Helpers for the Anthropic codec tests: rendering an event list, reading the
// SSE back, and a checker of the stream's shape as strict clients (the
// Anthropic SDK's MessageStream, Claude Code) rely on it.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "llmux/codec/anthropic.h"
#include "llmux/json.h"
#include "llmux/sse.h"

namespace llmux::testing {

inline anthropic::MessageMeta anthropic_meta(std::int64_t estimate = 42) { return {"msg_1", "claude-x", estimate}; }

inline std::string render_anthropic(const std::vector<Event>& events, std::int64_t estimate = 42) {
  anthropic::StreamRenderer renderer(anthropic_meta(estimate));
  std::string out;
  for (const Event& e : events) renderer.render(e, out);
  EXPECT_TRUE(renderer.done());
  return out;
}

inline std::vector<sse::Message> read_sse(std::string_view bytes) {
  std::vector<sse::Message> messages;
  sse::Reader reader;
  reader.feed(bytes, [&](const sse::Message& m) { messages.push_back(m); });
  return messages;
}

// Re-parses rendered SSE with StreamParser (Emit collects; feed errors become an Error event).
inline std::vector<Event> parse_anthropic(std::string_view bytes) {
  anthropic::StreamParser parser;
  std::vector<Event> events;
  const auto emit = [&](Event e) { events.push_back(std::move(e)); };
  for (const sse::Message& m : read_sse(bytes)) {
    if (auto err = parser.feed(m.event, m.data, emit)) {
      events.push_back(Event::failed(std::move(*err)));
      return events;
    }
  }
  if (auto err = parser.finish(emit)) events.push_back(Event::failed(std::move(*err)));
  return events;
}

// What a stream says, block by block.
struct StreamShape {
  int message_starts = 0;
  rapidjson::Document message_start;  // the first message_start's data
  std::vector<std::string> block_types;        // by index
  std::vector<std::string> block_text;         // text / thinking / joined partial_json / redacted data
  std::vector<std::string> block_ids;          // tool_use ids
  std::string stop_reason;
  rapidjson::Document final_usage;  // message_delta's usage
  bool message_stop = false;
  bool error = false;
};

// Checks the protocol and returns what the stream said. Failures are reported
// with ADD_FAILURE: every message has an `event:` line equal to its data's type;
// exactly one message_start, first; content_block_start indexes are 0, 1, ...;
// a block is stopped before the next starts; deltas go to the open block and
// fit its type; no delta is empty; a tool block's partial_json joins into a
// JSON object; message_delta then message_stop end the stream (or an error).
inline StreamShape check_stream(std::string_view bytes) {
  StreamShape shape;
  int open = -1;
  bool ended = false;
  for (const sse::Message& m : read_sse(bytes)) {
    rapidjson::Document d;
    d.Parse(m.data.data(), m.data.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("type") || !d["type"].IsString()) {
      ADD_FAILURE() << "not a JSON event object: " << m.data;
      continue;
    }
    const std::string type = d["type"].GetString();
    if (m.event != type) ADD_FAILURE() << "event line '" << m.event << "' for data type '" << type << "'";
    if (ended) ADD_FAILURE() << "event after the end: " << m.data;
    if (type != "message_start" && type != "error" && shape.message_starts == 0) {
      ADD_FAILURE() << "event before message_start: " << m.data;
    }
    if (type == "message_start") {
      if (++shape.message_starts == 1) {
        shape.message_start.CopyFrom(d, shape.message_start.GetAllocator());
      } else {
        ADD_FAILURE() << "second message_start";
      }
    } else if (type == "ping") {
    } else if (type == "content_block_start") {
      const int index = d["index"].GetInt();
      if (open != -1) ADD_FAILURE() << "block " << index << " starts while block " << open << " is open";
      if (index != static_cast<int>(shape.block_types.size())) ADD_FAILURE() << "block index " << index << " out of order";
      open = index;
      const auto& block = d["content_block"];
      shape.block_types.emplace_back(block["type"].GetString());
      shape.block_ids.emplace_back(block.HasMember("id") ? block["id"].GetString() : "");
      std::string text;
      if (shape.block_types.back() == "redacted_thinking") text = block["data"].GetString();
      if (shape.block_types.back() == "tool_use" &&
          (!block["input"].IsObject() || block["input"].MemberCount() != 0)) {
        ADD_FAILURE() << "tool_use start with a non-empty input";
      }
      shape.block_text.push_back(text);
    } else if (type == "content_block_delta") {
      const int index = d["index"].GetInt();
      if (index != open) {
        ADD_FAILURE() << "Content block not found: delta for block " << index << " while " << open << " is open";
        continue;
      }
      const auto& delta = d["delta"];
      const std::string dt = delta["type"].GetString();
      const std::string& bt = shape.block_types[static_cast<std::size_t>(index)];
      const char* field = dt == "text_delta" ? "text" : dt == "thinking_delta" ? "thinking"
                        : dt == "signature_delta" ? "signature" : dt == "input_json_delta" ? "partial_json" : nullptr;
      if (field == nullptr) {
        ADD_FAILURE() << "unknown delta " << dt;
        continue;
      }
      const bool fits = (dt == "text_delta" && bt == "text") ||
                        ((dt == "thinking_delta" || dt == "signature_delta") && bt == "thinking") ||
                        (dt == "input_json_delta" && bt == "tool_use");
      if (!fits) ADD_FAILURE() << dt << " in a " << bt << " block";
      const std::string value = delta[field].GetString();
      if (value.empty()) ADD_FAILURE() << "empty " << dt;
      if (dt != "signature_delta") shape.block_text[static_cast<std::size_t>(index)] += value;
    } else if (type == "content_block_stop") {
      const int index = d["index"].GetInt();
      if (index != open) ADD_FAILURE() << "Content block not found: stop for block " << index << " while " << open << " is open";
      if (index >= 0 && static_cast<std::size_t>(index) < shape.block_types.size() &&
          shape.block_types[static_cast<std::size_t>(index)] == "tool_use") {
        const std::string& input = shape.block_text[static_cast<std::size_t>(index)];
        rapidjson::Document in;
        in.Parse(input.data(), input.size());
        if (in.HasParseError() || !in.IsObject()) ADD_FAILURE() << "tool input is not a JSON object: " << input;
      }
      open = -1;
    } else if (type == "message_delta") {
      if (open != -1) ADD_FAILURE() << "message_delta while block " << open << " is open";
      shape.stop_reason = d["delta"]["stop_reason"].GetString();
      shape.final_usage.CopyFrom(d["usage"], shape.final_usage.GetAllocator());
    } else if (type == "message_stop") {
      if (shape.stop_reason.empty()) ADD_FAILURE() << "message_stop without message_delta";
      shape.message_stop = true;
      ended = true;
    } else if (type == "error") {
      shape.error = true;
      ended = true;
    } else {
      ADD_FAILURE() << "unexpected event type " << type;
    }
  }
  if (!ended) ADD_FAILURE() << "stream not ended by message_stop or error";
  if (shape.message_starts == 0 && !shape.error) ADD_FAILURE() << "no message_start";  // a second one is reported above
  return shape;
}

}  // namespace llmux::testing
