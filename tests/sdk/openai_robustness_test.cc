// The OpenAI codec's parsers on damaged input: never throw, never crash, and
// either succeed or return an Error with a message.
#include <gtest/gtest.h>

#include <random>

#include "llmux/codec/openai.h"
#include "llmux/sse.h"
#include "support/mutate.h"

namespace llmux {
namespace {

constexpr std::string_view kRequest =
    R"({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"t"},)"
    R"({"type":"image_url","image_url":{"url":"u","detail":"low"}}]},{"role":"assistant","content":null,)"
    R"("tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
    R"({"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f",)"
    R"("parameters":{"type":"object"}}}],"tool_choice":"auto","temperature":0.5,"max_tokens":9,"stop":["x"],)"
    R"("stream":true,"stream_options":{"include_usage":true},"user":"u"})";

constexpr std::string_view kCompletion =
    R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi","tool_calls":[{"id":"c",)"
    R"("type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":0}}})";

constexpr std::string_view kChunk =
    R"({"choices":[{"index":0,"delta":{"role":"assistant","content":"x","tool_calls":[{"index":0,"id":"c",)"
    R"("function":{"name":"f","arguments":"{"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}})";

using test::mutate;

TEST(OpenAIRobustnessTest, MutatedInputsNeverThrow) {
  std::mt19937 rng(12345);
  int request_errors = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string body = mutate(kRequest, rng);
    ChatRequest r;
    std::optional<Error> err;
    ASSERT_NO_THROW(err = openai::parse_chat_request(body, r)) << body;
    if (err) {
      ++request_errors;
      EXPECT_EQ(err->status, 400);
      EXPECT_FALSE(err->message.empty());
    } else {
      ASSERT_NO_THROW((void)openai::render_chat_request(r)) << body;
    }

    const std::string completion = mutate(kCompletion, rng);
    std::vector<Event> events;
    ASSERT_NO_THROW((void)openai::parse_chat_completion(completion, events)) << completion;

    const std::string chunk = mutate(kChunk, rng);
    openai::ChunkParser parser;
    ASSERT_NO_THROW((void)parser.feed(chunk, [](Event) {})) << chunk;
    ASSERT_NO_THROW((void)parser.finish([](Event) {}));

    ASSERT_NO_THROW((void)openai::parse_error_response(500, completion));
  }
  EXPECT_GT(request_errors, 1000);  // the mutations do reach the error paths
}

}  // namespace
}  // namespace llmux
