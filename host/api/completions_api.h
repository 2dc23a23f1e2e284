// The OpenAI legacy Completions wire shape (Dialect): answers as
// text_completion objects or text_completion SSE chunks, errors as
// {"error":{...}} (OpenAI's), the model list in OpenAI's shape.
#pragma once

#include "api/dialect.h"

namespace llmux::host {

const Dialect& completions_dialect();

}  // namespace llmux::host
