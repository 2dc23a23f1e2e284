// The Responses codec on damaged input: never throws, never crashes; a bad
// request is a 400 with a message, and whatever parses renders.
#include <gtest/gtest.h>

#include <random>

#include "llmux/codec/anthropic.h"
#include "llmux/codec/openai.h"
#include "llmux/codec/responses.h"
#include "support/mutate.h"

namespace llmux {
namespace {

constexpr std::string_view kRequest =
    R"({"model":"m","instructions":"i","input":[{"role":"user","content":[{"type":"input_text","text":"t"},)"
    R"({"type":"input_image","image_url":"u"}]},{"type":"reasoning","summary":[],"encrypted_content":"llmux.1:eyJ0aGlua2luZyI6ImgiLCJzaWduYXR1cmUiOiJTIn0="},)"
    R"({"type":"function_call","call_id":"c","name":"f","namespace":"n","arguments":"{}"},)"
    R"({"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"r"}]},)"
    R"({"type":"custom_tool_call","call_id":"d","name":"p","input":"x"},{"type":"custom_tool_call_output","call_id":"d","output":"o"}],)"
    R"("tools":[{"type":"function","name":"f","parameters":{"type":"object"}},{"type":"custom","name":"p",)"
    R"("format":{"type":"grammar","syntax":"lark","definition":"start: x"}},{"type":"namespace","name":"n","tools":)"
    R"([{"type":"function","name":"f"}]},{"type":"web_search"}],"tool_choice":{"type":"function","name":"f"},)"
    R"("text":{"format":{"type":"json_schema","name":"a","schema":{"type":"object"}}},"reasoning":{"effort":"low"},)"
    R"("max_output_tokens":9,"stream":true,"store":false,"previous_response_id":"r","include":["x"]})";

constexpr std::string_view kTerminal =
    R"({"type":"response.completed","sequence_number":4,"response":{"id":"resp_1","output":[{"type":"message"}],)"
    R"("usage":{"input_tokens":1,"output_tokens":2,"input_tokens_details":{"cached_tokens":0}}}})";

using test::mutate;

TEST(ResponsesRobustnessTest, MutatedInputsNeverThrow) {
  std::mt19937 rng(4242);
  int request_errors = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string body = mutate(kRequest, rng);
    ChatRequest r;
    std::optional<Error> err;
    ASSERT_NO_THROW(err = responses::parse_request(body, r)) << body;
    if (err) {
      ++request_errors;
      EXPECT_EQ(err->status, 400);
      EXPECT_FALSE(err->message.empty());
    } else {
      ASSERT_NO_THROW((void)openai::render_chat_request(r)) << body;
      ASSERT_NO_THROW((void)anthropic::render_messages_request(r)) << body;
    }
    responses::RequestHead head;
    ASSERT_NO_THROW((void)responses::read_head(body, head)) << body;
    ASSERT_NO_THROW((void)responses::replace_input(body, "[]")) << body;

    const std::string terminal = mutate(kTerminal, rng);
    ASSERT_NO_THROW((void)responses::completed_response(terminal)) << terminal;
    responses::ResponseMeta meta;
    meta.request_body = body;
    std::string out;
    ASSERT_NO_THROW({
      responses::StreamRenderer renderer(meta, r);
      renderer.render(Event::raw("event: response.completed\ndata: " + terminal + "\n\n"), out);
      renderer.render(Event::failed(Error::upstream(502, "x")), out);
    }) << terminal;
    ASSERT_NO_THROW({
      responses::StreamRenderer renderer(meta, r);
      renderer.render(Event::tool_call_delta(0, "c", "p", terminal), out);
      renderer.render(Event::finished(FinishReason::ToolCalls), out);
    }) << terminal;
  }
  EXPECT_GT(request_errors, 1000);  // the mutations do reach the error paths
}

}  // namespace
}  // namespace llmux
