// The Ollama plugin's entry point: builds OllamaProviders from provider specs.
#include "llmux/plugin_abi.h"
#include "ollama_provider.h"

namespace llmux::ollama {
namespace {

class OllamaPlugin final : public Plugin {
 public:
  std::string name() const override { return kPluginName; }
  std::string version() const override { return kPluginVersion; }
  std::shared_ptr<Provider> create_provider(const ProviderSpec& spec) override {
    return OllamaProvider::create(spec);
  }
};

}  // namespace
}  // namespace llmux::ollama

LLMUX_DECLARE_PLUGIN(llmux::ollama::OllamaPlugin)
