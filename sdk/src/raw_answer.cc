#include "llmux/codec/raw_answer.h"

namespace llmux {

// Placeholder until the scanner lands: copies the bytes unchanged.
void restore_model(Api, std::string_view raw, std::string_view, std::string& out) { out.append(raw); }

}  // namespace llmux
