// Plugin loading: every refused file is named with its reason, the rest serve.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>

#include "llmux/plugin_abi.h"
#include "http/http_engine.h"
#include "plugins/plugin_registry.h"
#include "services/log.h"
#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

std::filesystem::path fixture_dir() { return LLMUX_TEST_FIXTURE_PLUGIN_DIR; }

class PluginLoading : public ::testing::Test {
 protected:
  void SetUp() override {
    // A plugins folder with good and bad files side by side.
    for (const char* name : {"not-a-plugin.so", "llmux-wrong-abi.so", "llmux-throws.so", "llmux-unresolved.so",
                             "llmux-fixture.so"}) {
      std::filesystem::copy_file(fixture_dir() / name, dir_.path() / name);
    }
    std::filesystem::copy_file(plugin_dir() / "llmux-mock.so", dir_.path() / "llmux-mock.so");
    dir_.write("garbage.so", "this is not an ELF file\n");
    dir_.write("README.txt", "not a library at all; ignored by extension\n");
    host::Log::set_capture([this](LogLevel, std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    });
  }
  void TearDown() override { host::Log::set_capture(nullptr); }

  std::string log_line_for(const std::string& file) {
    std::lock_guard lock(mutex_);
    std::string found;
    for (const auto& line : lines_) {
      if (line.find(file) != std::string::npos && line.find("skipped") != std::string::npos) {
        EXPECT_TRUE(found.empty()) << "one line per refused file: " << line;
        found = line;
      }
    }
    return found;
  }

  TempDir dir_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

TEST_F(PluginLoading, EachRefusedFileIsNamedWithItsReasonAndTheRestLoad) {
  host::TimerService timers;
  host::HttpEngine http;
  host::PluginRegistry registry(timers, http);
  registry.load_directory(dir_.path());
  EXPECT_NE(registry.find("mock"), nullptr);
  EXPECT_NE(registry.find("fixture"), nullptr);
  EXPECT_EQ(registry.failures().size(), 5u);
  EXPECT_THAT(log_line_for("not-a-plugin.so"), HasSubstr("not an llmux plugin"));
  EXPECT_THAT(log_line_for("llmux-wrong-abi.so"), HasSubstr("plugin ABI " + std::to_string(LLMUX_ABI_VERSION + 100)));
  EXPECT_THAT(log_line_for("llmux-throws.so"), HasSubstr("fixture refuses to initialize"));
  EXPECT_THAT(log_line_for("llmux-unresolved.so"), HasSubstr("llmux_symbol_nobody_defines"));
  EXPECT_THAT(log_line_for("garbage.so"), HasSubstr("cannot load"));
}

TEST_F(PluginLoading, MissingFileIsReported) {
  host::TimerService timers;
  host::HttpEngine http;
  host::PluginRegistry registry(timers, http);
  auto failure = registry.load_file(dir_.path() / "absent.so");
  ASSERT_TRUE(failure);
  EXPECT_THAT(failure->reason, HasSubstr("absent.so"));
}

TEST_F(PluginLoading, HostServesWithBrokenPluginsBesideIt) {
  TestGateway gw(R"(
providers:
  mock:
    plugin: mock
routes:
  mock: [mock]
)",
                 {}, dir_.path());
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("mock", "still here"));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("still here"));
}

TEST_F(PluginLoading, ProviderOutlivesTheRegistryThatLoadedIt) {
  // The library stays mapped while a provider from it lives: calling it after
  // the registry (and its handle on the library) is gone must work.
  std::shared_ptr<Provider> provider;
  auto timers = std::make_unique<host::TimerService>();
  host::HttpEngine http;
  {
    host::PluginRegistry registry(*timers, http);
    ASSERT_FALSE(registry.load_file(dir_.path() / "llmux-fixture.so"));
    auto options = ConfigNode::map({}, "options");
    auto state = std::make_shared<host::FileStateStore>(dir_.path() / "state");
    provider = registry.create_provider(*registry.find("fixture"), "p", options, state);
  }
  auto models = provider->models();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].id, "fixture-model");
  provider.reset();
}

TEST_F(PluginLoading, BadProviderOptionIsAConfigErrorWithPosition) {
  TempDir dir;
  auto file = dir.write("providers.yaml", "plugins_dir: " + dir_.path().string() + R"(
providers:
  f:
    plugin: fixture
    options:
      behaviour: sideways
routes:
  m: [f]
)");
  host::Gateway gateway({file, std::nullopt});
  try {
    gateway.load();
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.mark().line, 6);
    EXPECT_THAT(e.what(), HasSubstr("providers.yaml:6:"));
    EXPECT_THAT(e.what(), HasSubstr("behaviour"));
  }
}

}  // namespace
}  // namespace llmux::test
