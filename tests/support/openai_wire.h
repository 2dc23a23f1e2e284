// What api.openai.com sends, byte for byte in shape, for fake upstreams
// (support/fake_upstream.h) in the openai plugin's tests.
#pragma once

#include <string>
#include <vector>

#include "llmux/json.h"
#include "support/fake_upstream.h"

namespace llmux::test {

inline const char* const kCompletionJson =
    R"({"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,)"
    R"("model":"gpt-test-2024-08-06","choices":[{"index":0,"message":{"role":"assistant",)"
    R"("content":"Hello world","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,)"
    R"("prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},)"
    R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,)"
    R"("rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_50cad350e4"})";

inline std::string stream_chunk(const std::string& choice_body) {
  return R"(data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk",)"
         R"("created":1741570283,"model":"gpt-test-2024-08-06","service_tier":"default",)"
         R"("system_fingerprint":"fp_50cad350e4","choices":[)" +
         choice_body + R"(],"usage":null})" + "\n\n";
}

inline const std::string kUsageChunk =
    R"(data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk",)"
    R"("created":1741570283,"model":"gpt-test-2024-08-06","service_tier":"default",)"
    R"("system_fingerprint":"fp_50cad350e4","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,)"
    R"("total_tokens":11,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},)"
    R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,)"
    R"("rejected_prediction_tokens":0}}})"
    "\n\n";

inline const std::string kRoleChunk =
    stream_chunk(R"({"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null})");

inline std::string content_chunk(const std::string& text) {
  std::string quoted;
  json::append_quoted(quoted, text);
  return stream_chunk(R"({"index":0,"delta":{"content":)" + quoted + R"(},"logprobs":null,"finish_reason":null})");
}

inline std::string finish_chunk(const std::string& reason) {
  return stream_chunk(R"({"index":0,"delta":{},"logprobs":null,"finish_reason":")" + reason + R"("})");
}

// The whole "Hello world" stream: role, two contents, finish, usage, [DONE].
inline std::vector<std::string> hello_stream() {
  return {kRoleChunk, content_chunk("Hello"), content_chunk(" world"), finish_chunk("stop"), kUsageChunk,
          "data: [DONE]\n\n"};
}

inline void send_stream(FakeExchange& exchange, const std::vector<std::string>& pieces) {
  exchange.begin_chunked(200, {{"Content-Type", "text/event-stream; charset=utf-8"}});
  for (const auto& piece : pieces) exchange.chunk(piece);
  exchange.end_chunked();
}

inline void send_json(FakeExchange& exchange, const std::string& body, int status = 200, FakeHeaders headers = {}) {
  headers.emplace_back("Content-Type", "application/json");
  exchange.respond(status, headers, body);
}

}  // namespace llmux::test
