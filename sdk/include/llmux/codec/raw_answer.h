// Pass-through answers (Event::Kind::Raw) are the upstream's own bytes, so
// they name the upstream's model. The host puts back the name the client asked
// for, in one place (the answer writer), for every dialect.
#pragma once

#include <string>
#include <string_view>

#include "llmux/chat.h"

namespace llmux {

// Appends `raw` to `out` with the model the answer names replaced by
// `client_model` (plain text, quoted here). `raw` is either a whole JSON body
// (a non-streamed answer) or whole SSE events (a streamed one) in `api`'s
// wire format: OpenAI chat and legacy completions (text_completion) — the
// top-level "model" of every JSON object (body, or each `data:` frame); Anthropic — the top-level "model" of a
// message body, and "message"."model" of a `message_start` event. A `raw`
// whose first non-blank byte is '{' is taken as a whole body, anything else as
// SSE (\n, \r\n or \r line ends). Everything else is copied byte for byte;
// bytes it cannot read (a cut or invalid object, [DONE]) are copied unchanged.
void restore_model(Api api, std::string_view raw, std::string_view client_model, std::string& out);

}  // namespace llmux
