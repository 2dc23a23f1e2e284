// The `claude` plugin: the Anthropic Messages API with a pool of API keys and
// OAuth tokens (refreshed, rotated, cooled down, persisted). See claude_provider.h.
#include "claude_provider.h"
#include "llmux/plugin_abi.h"

namespace llmux::claude {
namespace {

class ClaudePlugin final : public Plugin {
 public:
  std::string name() const override { return "claude"; }
  std::string version() const override { return "1.0.0"; }
  std::shared_ptr<Provider> create_provider(const ProviderSpec& spec) override {
    return std::make_shared<ClaudeProvider>(spec.name, ClaudeConfig::parse(spec.options), spec.host);
  }
};

}  // namespace
}  // namespace llmux::claude

LLMUX_DECLARE_PLUGIN(llmux::claude::ClaudePlugin)
