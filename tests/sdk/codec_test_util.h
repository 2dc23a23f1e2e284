// Helpers shared by the SDK codec tests: equality and printing of the
// canonical types (which deliberately have no operator==).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "llmux/chat.h"
#include "llmux/event.h"
#include "llmux/response.h"

namespace llmux::testing {

inline void expect_usage_eq(const std::optional<Usage>& a, const std::optional<Usage>& b) {
  ASSERT_EQ(a.has_value(), b.has_value());
  if (!a) return;
  EXPECT_EQ(a->input_tokens, b->input_tokens);
  EXPECT_EQ(a->output_tokens, b->output_tokens);
  EXPECT_EQ(a->cache_read_tokens, b->cache_read_tokens);
  EXPECT_EQ(a->cache_creation_tokens, b->cache_creation_tokens);
  EXPECT_EQ(a->reasoning_tokens, b->reasoning_tokens);
}

inline void expect_error_eq(const Error& a, const Error& b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(a.param, b.param);
}

inline void expect_response_eq(const ChatResponse& a, const ChatResponse& b) {
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.reasoning, b.reasoning);
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size());
  for (std::size_t i = 0; i < a.tool_calls.size(); ++i) {
    SCOPED_TRACE("tool call " + std::to_string(i));
    EXPECT_EQ(a.tool_calls[i].id, b.tool_calls[i].id);
    EXPECT_EQ(a.tool_calls[i].name, b.tool_calls[i].name);
    EXPECT_EQ(a.tool_calls[i].arguments, b.tool_calls[i].arguments);
  }
  expect_usage_eq(a.usage, b.usage);
  EXPECT_EQ(a.finish, b.finish);
  ASSERT_EQ(a.error.has_value(), b.error.has_value());
  if (a.error) expect_error_eq(*a.error, *b.error);
}

inline ChatResponse collect(const std::vector<Event>& events) {
  ResponseCollector c;
  for (const Event& e : events) c.add(e);
  return c.take();
}

inline void expect_message_eq(const Message& a, const Message& b) {
  EXPECT_EQ(a.role, b.role);
  ASSERT_EQ(a.content.size(), b.content.size());
  for (std::size_t i = 0; i < a.content.size(); ++i) {
    EXPECT_EQ(a.content[i].kind, b.content[i].kind);
    EXPECT_EQ(a.content[i].text, b.content[i].text);
    EXPECT_EQ(a.content[i].image_url, b.content[i].image_url);
    EXPECT_EQ(a.content[i].detail, b.content[i].detail);
  }
  EXPECT_EQ(a.content_was_string, b.content_was_string);
  EXPECT_EQ(a.content_was_null, b.content_was_null);
  EXPECT_EQ(a.name, b.name);
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size());
  for (std::size_t i = 0; i < a.tool_calls.size(); ++i) {
    EXPECT_EQ(a.tool_calls[i].id, b.tool_calls[i].id);
    EXPECT_EQ(a.tool_calls[i].name, b.tool_calls[i].name);
    EXPECT_EQ(a.tool_calls[i].arguments, b.tool_calls[i].arguments);
  }
  EXPECT_EQ(a.tool_call_id, b.tool_call_id);
  EXPECT_EQ(a.reasoning, b.reasoning);
}

inline void expect_request_eq(const ChatRequest& a, const ChatRequest& b) {
  EXPECT_EQ(a.model, b.model);
  ASSERT_EQ(a.messages.size(), b.messages.size());
  for (std::size_t i = 0; i < a.messages.size(); ++i) {
    SCOPED_TRACE("message " + std::to_string(i));
    expect_message_eq(a.messages[i], b.messages[i]);
  }
  ASSERT_EQ(a.tools.size(), b.tools.size());
  for (std::size_t i = 0; i < a.tools.size(); ++i) {
    EXPECT_EQ(a.tools[i].name, b.tools[i].name);
    EXPECT_EQ(a.tools[i].description, b.tools[i].description);
    EXPECT_EQ(a.tools[i].parameters_json, b.tools[i].parameters_json);
    EXPECT_EQ(a.tools[i].strict, b.tools[i].strict);
  }
  EXPECT_EQ(a.tool_choice.mode, b.tool_choice.mode);
  EXPECT_EQ(a.tool_choice.function_name, b.tool_choice.function_name);
  EXPECT_EQ(a.parallel_tool_calls, b.parallel_tool_calls);
  EXPECT_EQ(a.sampling.temperature, b.sampling.temperature);
  EXPECT_EQ(a.sampling.top_p, b.sampling.top_p);
  EXPECT_EQ(a.sampling.frequency_penalty, b.sampling.frequency_penalty);
  EXPECT_EQ(a.sampling.presence_penalty, b.sampling.presence_penalty);
  EXPECT_EQ(a.sampling.max_tokens, b.sampling.max_tokens);
  EXPECT_EQ(a.sampling.seed, b.sampling.seed);
  EXPECT_EQ(a.sampling.stop, b.sampling.stop);
  EXPECT_EQ(a.stream, b.stream);
  EXPECT_EQ(a.include_usage, b.include_usage);
  ASSERT_EQ(a.reasoning.has_value(), b.reasoning.has_value());
  if (a.reasoning) {
    EXPECT_EQ(a.reasoning->effort, b.reasoning->effort);
    EXPECT_EQ(a.reasoning->summary, b.reasoning->summary);
  }
  EXPECT_EQ(a.response_format, b.response_format);
  EXPECT_EQ(a.extra, b.extra);
  EXPECT_EQ(a.source_api, b.source_api);
}

}  // namespace llmux::testing
