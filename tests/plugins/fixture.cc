// A plugin for host tests. Options:
//   api_key: a secret (unset variable -> the provider is "not configured")
//   behaviour: ok | drop | throw | flaky | unauthorized
//     drop: lets go of the call without answering; throw: chat() throws;
//     unauthorized: reports ProviderCondition Unauthorized (answers if asked anyway);
//     flaky: the first `fail_times` calls fail with `fail_status` (and
//     `retry_after_ms` when given), later calls answer "fixture ok (call N)".
#include <atomic>
#include <stdexcept>

#include "llmux/plugin_abi.h"

namespace {

struct FlakySettings {
  int fail_times = 0;
  int fail_status = 503;
  int retry_after_ms = -1;
};

class FixtureProvider final : public llmux::Provider {
 public:
  FixtureProvider(std::string behaviour, FlakySettings flaky) : behaviour_(std::move(behaviour)), flaky_(flaky) {}
  std::vector<llmux::ModelInfo> models() const override { return {{"fixture-model", "fixture"}}; }
  llmux::ProviderCondition condition() const override {
    if (behaviour_ != "unauthorized") return {};
    return {llmux::ProviderCondition::State::Unauthorized, "all 1 key(s) got HTTP 401; next probe in 60 s"};
  }
  void chat(llmux::ChatCallPtr call) override {
    if (behaviour_ == "drop") return;
    if (behaviour_ == "throw") throw std::runtime_error("fixture chat() throws");
    int n = ++calls_;
    if (behaviour_ == "flaky" && n <= flaky_.fail_times) {
      auto error = llmux::Error::upstream(flaky_.fail_status, "fixture failure " + std::to_string(n));
      if (flaky_.retry_after_ms >= 0) error.retry_after = std::chrono::milliseconds(flaky_.retry_after_ms);
      call->emit(llmux::Event::failed(std::move(error)));
      return;
    }
    call->emit(llmux::Event::role());
    call->emit(llmux::Event::text_delta(behaviour_ == "flaky" ? "fixture ok (call " + std::to_string(n) + ")"
                                                              : std::string("fixture ok")));
    call->emit(llmux::Event::finished(llmux::FinishReason::Stop));
  }

 private:
  std::string behaviour_;
  FlakySettings flaky_;
  std::atomic<int> calls_{0};
};

class FixturePlugin final : public llmux::Plugin {
 public:
  std::string name() const override { return "fixture"; }
  std::string version() const override { return "0.0.1"; }
  std::shared_ptr<llmux::Provider> create_provider(const llmux::ProviderSpec& spec) override {
    spec.options.check_keys({"api_key", "behaviour", "fail_times", "fail_status", "retry_after_ms"});
    spec.options.get_secret("api_key");
    std::string behaviour = spec.options.get_string("behaviour", "ok");
    if (behaviour != "ok" && behaviour != "drop" && behaviour != "throw" && behaviour != "flaky" &&
        behaviour != "unauthorized") {
      throw llmux::ConfigError(*spec.options.find("behaviour"), "expected ok, drop, throw, flaky or unauthorized");
    }
    FlakySettings flaky;
    flaky.fail_times = static_cast<int>(spec.options.get_int("fail_times", 0));
    flaky.fail_status = static_cast<int>(spec.options.get_int("fail_status", 503));
    flaky.retry_after_ms = static_cast<int>(spec.options.get_int("retry_after_ms", -1));
    return std::make_shared<FixtureProvider>(behaviour, flaky);
  }
};

}  // namespace

LLMUX_DECLARE_PLUGIN(FixturePlugin)
