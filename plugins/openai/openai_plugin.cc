// The `openai` plugin: any OpenAI-compatible API (api.openai.com by default),
// with API keys. All behaviour is in the shared base (openai_compat.h).
#include "llmux/plugin_abi.h"
#include "openai_compat.h"

namespace llmux::openai_compat {
namespace {

class OpenAIPlugin final : public OpenAICompatPlugin {
 public:
  OpenAIPlugin() : OpenAICompatPlugin(OpenAICompatConfig::openai()) {}
};

}  // namespace
}  // namespace llmux::openai_compat

LLMUX_DECLARE_PLUGIN(llmux::openai_compat::OpenAIPlugin)
