// The `g4f` plugin: the gpt4free API server (http://127.0.0.1:1337/v1 by
// default, no key needed), with an optional `provider` option naming g4f's
// upstream provider. A configuration of the shared OpenAI-compatible base.
#include "llmux/plugin_abi.h"
#include "openai_compat.h"

namespace llmux::openai_compat {
namespace {

class G4fPlugin final : public OpenAICompatPlugin {
 public:
  G4fPlugin() : OpenAICompatPlugin(OpenAICompatConfig::g4f()) {}
};

}  // namespace
}  // namespace llmux::openai_compat

LLMUX_DECLARE_PLUGIN(llmux::openai_compat::G4fPlugin)
