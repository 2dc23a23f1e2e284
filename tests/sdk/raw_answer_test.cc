// restore_model: pass-through answers get back the model name the client
// asked for, every other byte as the upstream sent it.
#include <gtest/gtest.h>

#include <string>

#include "llmux/codec/raw_answer.h"

namespace llmux {
namespace {

std::string restored(Api api, std::string_view raw, std::string_view model = "my-model") {
  std::string out = "kept|";  // restore_model appends
  restore_model(api, raw, model, out);
  return out.substr(5);
}

// ---------------------------------------------------------- OpenAI Responses

TEST(RestoreModelResponses, ResponseObjectsInEventsAndBodies) {
  const std::string raw =
      "event: response.created\n"
      "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\","
      "\"object\":\"response\",\"model\":\"gpt-5-2025\",\"output\":[]}}\n\n"
      "event: response.output_text.delta\n"
      "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"\\\"model\\\":\\\"x\\\"\"}\n\n"
      "event: response.completed\n"
      "data: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\","
      "\"model\":\"gpt-5-2025\",\"output\":[{\"type\":\"message\",\"content\":[{\"text\":\"model\"}]}]}}\n\n";
  std::string expected = raw;
  for (auto at = expected.find("gpt-5-2025"); at != std::string::npos; at = expected.find("gpt-5-2025")) {
    expected.replace(at, 10, "my-model");
  }
  EXPECT_EQ(restored(Api::OpenAIResponses, raw), expected);
  EXPECT_EQ(restored(Api::OpenAIResponses, R"({"id":"resp_1","object":"response","model":"up","output":[]})"),
            R"({"id":"resp_1","object":"response","model":"my-model","output":[]})");
}

// ---------------------------------------------------------------- OpenAI chat

TEST(RestoreModelOpenAI, WholeBodyTopLevelModelOnly) {
  const std::string body =
      R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06",)"
      R"("choices":[{"index":0,"message":{"role":"assistant","content":"the \"model\":\"x\" said"},)"
      R"("finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1},"meta":{"model":"inner"}})";
  std::string expected = body;
  expected.replace(expected.find("gpt-4o-2024-08-06"), 17, "my-model");
  EXPECT_EQ(restored(Api::OpenAIChat, body), expected);
  EXPECT_EQ(restored(Api::OpenAIChat, "\n  {\"model\" : \"a\"}\n"), "\n  {\"model\" : \"my-model\"}\n");
}

TEST(RestoreModelOpenAI, EverySseFrameAndNothingElse) {
  const std::string raw =
      ": keep-alive\n\n"
      "data: {\"id\":\"c\",\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"model\"}}]}\n\n"
      "event: note\ndata:{\"model\":\"up\"}\n\n"
      "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n"
      "data: [DONE]\n\n";
  const std::string expected =
      ": keep-alive\n\n"
      "data: {\"id\":\"c\",\"model\":\"my-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"model\"}}]}\n\n"
      "event: note\ndata:{\"model\":\"my-model\"}\n\n"
      "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n"
      "data: [DONE]\n\n";
  EXPECT_EQ(restored(Api::OpenAIChat, raw), expected);
}

TEST(RestoreModelOpenAI, CrlfAndCrFramingIsKept) {
  EXPECT_EQ(restored(Api::OpenAIChat, "data: {\"model\":\"up\"}\r\n\r\ndata: [DONE]\r\n\r\n"),
            "data: {\"model\":\"my-model\"}\r\n\r\ndata: [DONE]\r\n\r\n");
  EXPECT_EQ(restored(Api::OpenAIChat, "data: {\"model\":\"up\"}\r\rdata: {\"model\":\"up\"}\r\r"),
            "data: {\"model\":\"my-model\"}\r\rdata: {\"model\":\"my-model\"}\r\r");
}

TEST(RestoreModelOpenAI, FramesWithoutAModelAreUnchanged) {
  const std::string raw = "data: {\"id\":\"c\",\"choices\":[]}\n\ndata: {\"error\":{\"message\":\"m\"}}\n\n";
  EXPECT_EQ(restored(Api::OpenAIChat, raw), raw);
  EXPECT_EQ(restored(Api::OpenAIChat, R"({"id":"c","choices":[]})"), R"({"id":"c","choices":[]})");
}

TEST(RestoreModelOpenAI, EscapedNamesOnBothSides) {
  // An escaped member name is still "model"; the client's name is quoted here.
  EXPECT_EQ(restored(Api::OpenAIChat, R"({"mod\u0065l":"up","x":1})", "team \"a\"\\b"),
            R"({"mod\u0065l":"team \"a\"\\b","x":1})");
  EXPECT_EQ(restored(Api::OpenAIChat, "data: {\"model\":\"up\\\"x\"}\n\n", "\xC3\xA9t\xC3\xA9"),
            "data: {\"model\":\"\xC3\xA9t\xC3\xA9\"}\n\n");
}

TEST(RestoreModelOpenAI, GarbageIsCopiedUnchanged) {
  for (std::string_view raw : {std::string_view("data: {\"model\":\"up\",\n\n"), std::string_view("data: {\"model\n\n"),
                               std::string_view("{\"model\":\"up\""), std::string_view("\x01\xFF garbage"),
                               std::string_view(""), std::string_view("data: not json\n\n"),
                               std::string_view("data: {\"model\":\"up\"}")}) {
    SCOPED_TRACE(raw);
    if (raw == "data: {\"model\":\"up\"}") {
      EXPECT_EQ(restored(Api::OpenAIChat, raw), "data: {\"model\":\"my-model\"}") << "a last line without its end";
    } else {
      EXPECT_EQ(restored(Api::OpenAIChat, raw), raw);
    }
  }
}

// ---------------------------------------------------------------- Anthropic

TEST(RestoreModelAnthropic, WholeMessageBody) {
  const std::string body =
      R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514",)"
      R"("content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}})";
  std::string expected = body;
  expected.replace(expected.find("claude-sonnet-4-20250514"), 24, "my-model");
  EXPECT_EQ(restored(Api::Anthropic, body), expected);
}

TEST(RestoreModelAnthropic, OnlyTheMessageOfMessageStart) {
  const std::string raw =
      "event: message_start\n"
      "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
      "\"model\":\"claude-up\",\"content\":[],\"usage\":{\"input_tokens\":3}}}\n\n"
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
      "\"text\":\"message_start model\"},\"model\":\"not-here\"}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  std::string expected = raw;
  expected.replace(expected.find("claude-up"), 9, "my-model");
  EXPECT_EQ(restored(Api::Anthropic, raw), expected);
}

TEST(RestoreModelAnthropic, CrlfFramingAndEventsWithoutAModel) {
  const std::string raw =
      "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"
      "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"up\"}}\r\n\r\n"
      "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"no model\"}}\r\n\r\n";
  std::string expected = raw;
  expected.replace(expected.find("\"up\""), 4, "\"my-model\"");
  EXPECT_EQ(restored(Api::Anthropic, raw), expected);
}

TEST(RestoreModelAnthropic, EscapedNamesAndGarbage) {
  EXPECT_EQ(restored(Api::Anthropic,
                     "data: {\"type\":\"message_start\",\"message\":{\"mod\\u0065l\":\"up\"}}\n\n", "a\"b"),
            "data: {\"type\":\"message_start\",\"message\":{\"mod\\u0065l\":\"a\\\"b\"}}\n\n");
  for (std::string_view raw : {std::string_view("data: {\"type\":\"message_start\",\"message\":{\"model\":\"up\"\n\n"),
                               std::string_view("data: {\"type\":\"message_start\",\"message\":\"model\"}\n\n"),
                               std::string_view("event: error\ndata: {\"type\":\"error\",\"error\":{}}\n\n"),
                               std::string_view("{\"type\":\"error\"")}) {
    EXPECT_EQ(restored(Api::Anthropic, raw), raw);
  }
}

}  // namespace
}  // namespace llmux
