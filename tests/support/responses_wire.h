// What api.openai.com's Responses API sends (POST /v1/responses), byte for
// byte in shape, for fake upstreams (support/fake_upstream.h): a response
// object, and streams of `event: <type>\ndata: <json>\n\n` events with
// strictly increasing sequence numbers, ending in response.completed.
#pragma once

#include <string>
#include <vector>

#include "llmux/json.h"
#include "support/fake_upstream.h"

namespace llmux::test {

inline const char* const kResponseId = "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b";
inline const char* const kMessageId = "msg_68af40310c288193b4a0bd2b8a4a5e3005438e46b5f69a3b";
inline const char* const kCallItemId = "fc_68af4031d5048193a0cbd06c1ee1cd8a05438e46b5f69a3b";
inline const char* const kCallId = "call_0dmBX6JMXkjDu93LKW5rDbXl";

// input_tokens 37 (5 of them cached), output_tokens 11 (2 of them reasoning).
inline const char* const kResponsesUsage =
    R"({"input_tokens":37,"input_tokens_details":{"cached_tokens":5},"output_tokens":11,)"
    R"("output_tokens_details":{"reasoning_tokens":2},"total_tokens":48})";

inline std::string json_quoted(const std::string& text) {
  std::string out;
  json::append_quoted(out, text);
  return out;
}

// A response object as the API renders it, naming `model`.
inline std::string response_object(const std::string& model, const std::string& status, const std::string& output,
                                   const std::string& usage = "null", const std::string& error = "null") {
  return std::string(R"({"id":")") + kResponseId +
         R"(","object":"response","created_at":1756315696,"status":")" + status +
         R"(","background":false,"error":)" + error +
         R"(,"incomplete_details":null,"instructions":"Be brief.","max_output_tokens":null,)"
         R"("max_tool_calls":null,"model":")" + model + R"(","output":)" + output +
         R"(,"parallel_tool_calls":true,"previous_response_id":null,"prompt_cache_key":null,)"
         R"("reasoning":{"effort":null,"summary":null},"safety_identifier":null,"service_tier":"default",)"
         R"("store":false,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},)"
         R"("tool_choice":"auto","tools":[],"top_logprobs":0,"top_p":1.0,"truncation":"disabled","usage":)" +
         usage + R"(,"user":null,"metadata":{}})";
}

inline std::string message_item(const std::string& status, const std::string& text, bool with_content = true) {
  std::string content = with_content ? R"([{"type":"output_text","annotations":[],"logprobs":[],"text":)" +
                                           json_quoted(text) + "}]"
                                     : "[]";
  return std::string(R"({"id":")") + kMessageId + R"(","type":"message","status":")" + status +
         R"(","content":)" + content + R"(,"role":"assistant"})";
}

inline std::string function_call_item(const std::string& status, const std::string& arguments) {
  return std::string(R"({"id":")") + kCallItemId + R"(","type":"function_call","status":")" + status +
         R"(","arguments":)" + json_quoted(arguments) + R"(,"call_id":")" + kCallId + R"(","name":"get_weather"})";
}

// Builds one stream: each event gets the next sequence number.
class ResponsesStream {
 public:
  // `body` is the event's members after "type" and "sequence_number" (without braces).
  ResponsesStream& add(const std::string& type, const std::string& body) {
    events_.push_back("event: " + type + "\ndata: {\"type\":\"" + type + "\",\"sequence_number\":" +
                      std::to_string(sequence_++) + (body.empty() ? "" : ",") + body + "}\n\n");
    return *this;
  }
  ResponsesStream& opening(const std::string& model) {
    add("response.created", R"("response":)" + response_object(model, "in_progress", "[]"));
    return add("response.in_progress", R"("response":)" + response_object(model, "in_progress", "[]"));
  }
  ResponsesStream& completed(const std::string& model, const std::string& output,
                             const std::string& usage = kResponsesUsage) {
    return add("response.completed", R"("response":)" + response_object(model, "completed", output, usage));
  }
  const std::vector<std::string>& events() const { return events_; }
  std::string text() const {
    std::string all;
    for (const auto& event : events_) all += event;
    return all;
  }

 private:
  std::vector<std::string> events_;
  int sequence_ = 0;
};

// The message "Hello there!" in three deltas, named `model` (where the API
// names one: the response objects).
inline ResponsesStream text_stream(const std::string& model,
                                   const std::vector<std::string>& deltas = {"Hello", " there", "!"}) {
  std::string text;
  for (const auto& d : deltas) text += d;
  const std::string at = std::string(R"("item_id":")") + kMessageId + R"(","output_index":0,"content_index":0,)";
  ResponsesStream s;
  s.opening(model);
  s.add("response.output_item.added", R"("output_index":0,"item":)" + message_item("in_progress", "", false));
  s.add("response.content_part.added",
        at + R"("part":{"type":"output_text","annotations":[],"logprobs":[],"text":""})");
  for (const auto& d : deltas) {
    s.add("response.output_text.delta", at + R"("delta":)" + json_quoted(d) + R"(,"logprobs":[],"obfuscation":"Xq3")");
  }
  s.add("response.output_text.done", at + R"("text":)" + json_quoted(text) + R"(,"logprobs":[])");
  s.add("response.content_part.done",
        at + R"("part":{"type":"output_text","annotations":[],"logprobs":[],"text":)" + json_quoted(text) + "}");
  s.add("response.output_item.done", R"("output_index":0,"item":)" + message_item("completed", text));
  s.completed(model, "[" + message_item("completed", text) + "]");
  return s;
}

// A call of get_weather({"location":"Paris"}), its arguments in deltas.
inline ResponsesStream function_call_stream(const std::string& model) {
  const std::vector<std::string> deltas = {"{\"", "location", "\":\"", "Paris", "\"}"};
  std::string arguments;
  for (const auto& d : deltas) arguments += d;
  const std::string at = std::string(R"("item_id":")") + kCallItemId + R"(","output_index":0,)";
  ResponsesStream s;
  s.opening(model);
  s.add("response.output_item.added", R"("output_index":0,"item":)" + function_call_item("in_progress", ""));
  for (const auto& d : deltas) s.add("response.function_call_arguments.delta", at + R"("delta":)" + json_quoted(d));
  s.add("response.function_call_arguments.done", at + R"("arguments":)" + json_quoted(arguments));
  s.add("response.output_item.done", R"("output_index":0,"item":)" + function_call_item("completed", arguments));
  s.completed(model, "[" + function_call_item("completed", arguments) + "]");
  return s;
}

// The whole (non-streamed) answer to the text stream's request.
inline std::string whole_response(const std::string& model) {
  return response_object(model, "completed", "[" + message_item("completed", "Hello there!") + "]", kResponsesUsage);
}

inline void send_events(FakeExchange& exchange, const std::vector<std::string>& events) {
  exchange.begin_chunked(200, {{"Content-Type", "text/event-stream; charset=utf-8"}});
  for (const auto& event : events) exchange.chunk(event);
  exchange.end_chunked();
}

}  // namespace llmux::test
