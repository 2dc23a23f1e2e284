// The mock plugin's entry point: builds MockProviders from provider specs.
#include "llmux/plugin_abi.h"
#include "mock_provider.h"

namespace llmux::mock {
namespace {

class MockPlugin final : public Plugin {
 public:
  std::string name() const override { return kPluginName; }
  std::string version() const override { return kPluginVersion; }
  std::shared_ptr<Provider> create_provider(const ProviderSpec& spec) override {
    return MockProvider::create(spec);
  }
};

}  // namespace
}  // namespace llmux::mock

LLMUX_DECLARE_PLUGIN(llmux::mock::MockPlugin)
