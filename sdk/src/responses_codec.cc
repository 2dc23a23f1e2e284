// The OpenAI Responses codec. See llmux/codec/responses.h.
#include "llmux/codec/responses.h"

namespace llmux::responses {}  // namespace llmux::responses
