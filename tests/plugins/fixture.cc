// A plugin for host tests. Options:
//   api_key: a secret (unset variable -> the provider is "not configured")
//   behaviour: ok | drop | throw | flaky | unauthorized | commit_probe
//     drop: lets go of the call without answering; throw: chat() throws;
//     unauthorized: reports ProviderCondition Unauthorized (answers if asked anyway);
//     flaky: the first `fail_times` calls fail with `fail_status` (and
//     `retry_after_ms` when given), later calls answer "fixture ok (call N)";
//     commit_probe: answers with what ChatCall::committed() said before its
//     first event, after its Role, after its first content, and (for the
//     call before) after its terminal event:
//     "probe: before=false after_role=false after_content=true previous_after_end=none".
#include <atomic>
#include <stdexcept>
#include <string>

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
    if (behaviour_ == "commit_probe") return probe_commit(*call);
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
  void probe_commit(llmux::ChatCall& call) {
    const auto said = [](bool committed) { return std::string(committed ? "true" : "false"); };
    std::string report = "before=" + said(call.committed());
    call.emit(llmux::Event::role());
    report += " after_role=" + said(call.committed());
    call.emit(llmux::Event::text_delta("probe: "));
    report += " after_content=" + said(call.committed());
    const int previous = previous_after_end_.load();
    report += " previous_after_end=" + (previous < 0 ? std::string("none") : said(previous == 1));
    call.emit(llmux::Event::text_delta(report));
    call.emit(llmux::Event::finished(llmux::FinishReason::Stop));
    previous_after_end_ = call.committed() ? 1 : 0;
  }

  std::string behaviour_;
  FlakySettings flaky_;
  std::atomic<int> calls_{0};
  std::atomic<int> previous_after_end_{-1};  // commit_probe: -1 before the first call ends
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
        behaviour != "unauthorized" && behaviour != "commit_probe") {
      throw llmux::ConfigError(*spec.options.find("behaviour"),
                               "expected ok, drop, throw, flaky, unauthorized or commit_probe");
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
