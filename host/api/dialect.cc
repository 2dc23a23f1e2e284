#include "api/dialect.h"

#include "api/anthropic_api.h"
#include "api/embeddings_api.h"
#include "api/completions_api.h"
#include "api/openai_api.h"
#include "api/responses_api.h"

namespace llmux::host {

const Dialect& dialect_of(Api api) {
  switch (api) {
    case Api::Anthropic: return anthropic_dialect();
    case Api::OpenAIResponses: return responses_dialect();
    case Api::OpenAICompletions: return completions_dialect();
    case Api::OpenAIEmbeddings: return embeddings_dialect();
    case Api::OpenAIChat: break;
  }
  return openai_dialect();
}

std::string error_headers(const Error& error) {
  if (!error.retry_after) return {};
  auto ms = error.retry_after->count();
  if (ms < 0) ms = 0;
  return "retry-after: " + std::to_string((ms + 999) / 1000) + "\r\nretry-after-ms: " + std::to_string(ms) + "\r\n";
}

}  // namespace llmux::host
