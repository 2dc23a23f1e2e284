// The mock's answer to a legacy completion (/v1/completions): a deterministic
// text derived from the prompt and the suffix, shaped like what an editor's
// autocomplete expects at the cursor.
#pragma once

#include <string>

#include "llmux/chat.h"

namespace llmux::mock {

// What the mock inserts at the cursor, by the first rule that applies:
//   1. inside a call or index whose closing bracket is the suffix's next
//      character ("add(1, " + ")"): one argument, the number after the last
//      one on the line when there is one ("2"), else "value";
//   2. a block opened by the line before the cursor (or the cursor's own line)
//      ending in '{' or ':' ("def add(a, b):" + "\n    "): its body, one
//      statement that returns the opener's parameters joined by " + "
//      ("return a + b", "return a + b;" after '{'), or "pass" / "return;"
//      without parameters; a new line and an indent when the cursor is still
//      on the opener's line;
//   3. otherwise a sentence that goes on from the prompt, picked by a hash of
//      the prompt and suffix.
// The same input always gives the same text.
std::string completion_text(const TextCompletion& completion);

}  // namespace llmux::mock
