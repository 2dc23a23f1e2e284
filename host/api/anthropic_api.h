// The Anthropic Messages wire shape (Dialect): answers as a `message` or as
// Messages SSE (`event:` + `data:` frames), errors as
// {"type":"error","error":{"type","message"}}, the model list.
#pragma once

#include "api/dialect.h"

namespace llmux::host {

const Dialect& anthropic_dialect();

// "msg_" + 24 random characters.
std::string new_message_id();

}  // namespace llmux::host
