// A plugin for host tests. Options:
//   api_key: a secret (unset variable -> the provider is "not configured")
//   behaviour: ok | drop | throw   (drop: lets go of the call without answering)
#include <stdexcept>

#include "llmux/plugin_abi.h"

namespace {

class FixtureProvider final : public llmux::Provider {
 public:
  explicit FixtureProvider(std::string behaviour) : behaviour_(std::move(behaviour)) {}
  std::vector<llmux::ModelInfo> models() const override { return {{"fixture-model", "fixture"}}; }
  void chat(llmux::ChatCallPtr call) override {
    if (behaviour_ == "drop") return;
    if (behaviour_ == "throw") throw std::runtime_error("fixture chat() throws");
    call->emit(llmux::Event::role());
    call->emit(llmux::Event::text_delta("fixture ok"));
    call->emit(llmux::Event::finished(llmux::FinishReason::Stop));
  }

 private:
  std::string behaviour_;
};

class FixturePlugin final : public llmux::Plugin {
 public:
  std::string name() const override { return "fixture"; }
  std::string version() const override { return "0.0.1"; }
  std::shared_ptr<llmux::Provider> create_provider(const llmux::ProviderSpec& spec) override {
    spec.options.check_keys({"api_key", "behaviour"});
    spec.options.get_secret("api_key");
    std::string behaviour = spec.options.get_string("behaviour", "ok");
    if (behaviour != "ok" && behaviour != "drop" && behaviour != "throw") {
      throw llmux::ConfigError(*spec.options.find("behaviour"), "expected ok, drop or throw");
    }
    return std::make_shared<FixtureProvider>(behaviour);
  }
};

}  // namespace

LLMUX_DECLARE_PLUGIN(FixturePlugin)
