// The OpenAI Responses codec. See llmux/codec/responses.h.
// (Placeholder until the codec lands: every request is refused with a 501.)
#include "llmux/codec/responses.h"

#include "llmux/codec/openai.h"

namespace llmux::responses {

struct StreamRenderer::State {};

std::optional<Error> read_head(std::string_view, RequestHead&) {
  return Error::make(501, "invalid_request_error", "The Responses API is not available yet.");
}
std::string replace_input(std::string_view body, std::string_view) { return std::string(body); }
std::optional<Error> parse_request(std::string_view, ChatRequest&) {
  return Error::make(501, "invalid_request_error", "The Responses API is not available yet.");
}
std::string namespace_tool_name(std::string_view ns, std::string_view name) {
  return std::string(ns) + "__" + std::string(name);
}
std::string render_response(const ChatResponse&, const ResponseMeta&, const ChatRequest&) { return "{}"; }
std::string output_items(const ChatResponse&, const ResponseMeta&, const ChatRequest&) { return "[]"; }
std::string render_error(const Error& error) { return openai::render_error(error); }
StreamRenderer::StreamRenderer(ResponseMeta, const ChatRequest&) : state_(std::make_shared<State>()) {}
void StreamRenderer::render(const Event&, std::string&) {}
bool StreamRenderer::done() const { return true; }
const std::string& StreamRenderer::response_id() const { static const std::string empty; return empty; }
const std::string& StreamRenderer::output_json() const { static const std::string empty; return empty; }
std::optional<Usage> parse_usage(std::string_view) { return std::nullopt; }
std::optional<CompletedResponse> completed_response(std::string_view) { return std::nullopt; }

}  // namespace llmux::responses
