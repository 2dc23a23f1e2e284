// The OpenAI Chat Completions wire shape (Dialect): answers as chat.completion
// or chat.completion.chunk SSE, errors as {"error":{...}}, the model list.
#pragma once

#include "api/dialect.h"

namespace llmux::host {

const Dialect& openai_dialect();

// "chatcmpl-" + 24 random characters; unique enough to correlate logs.
std::string new_completion_id();

}  // namespace llmux::host
