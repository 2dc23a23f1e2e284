// The llmux executable from the outside: command line, --check-config output
// and error positions, the shipped providers.yaml served offline, reload on
// file change and on SIGHUP, shutdown on SIGTERM/SIGINT, a taken port, and
// LLMUX_CONFIG. Every test runs the built binary as a child process on a free
// loopback port; children are killed when a test fails.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>

#include "support/http_client.h"
#include "support/process.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

const std::filesystem::path kBinary = LLMUX_BINARY;

// The environment every child starts from: nothing from the developer's shell
// may pick a config or unlock a real backend.
ProcessOptions options_for(std::vector<std::string> args) {
  ProcessOptions options;
  options.args = std::move(args);
  for (const char* name : {"LLMUX_CONFIG", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LLMUX_API_KEY"}) {
    options.env[name] = std::nullopt;
  }
  return options;
}

struct Result {
  ExitStatus status;
  std::string out;
  std::string err;
};

Result run_llmux(std::vector<std::string> args, ProcessOptions options = {}) {
  ProcessOptions full = options_for(std::move(args));
  for (auto& [name, value] : options.env) full.env[name] = value;
  full.cwd = options.cwd;
  Result result;
  result.status = Process::run(kBinary, std::move(full), &result.out, &result.err, 30s);
  return result;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = 50ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

// A copy of the mock plugin alone in a directory: the provider states below do
// not depend on which other plugins the build happens to have produced.
class MockOnlyPluginDir {
 public:
  MockOnlyPluginDir() {
    std::filesystem::copy_file(plugin_dir() / "llmux-mock.so", dir_.path() / "llmux-mock.so");
  }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  TempDir dir_;
};

// A running `llmux --config FILE --listen 127.0.0.1:PORT [extra...]`, ready
// (its "listening on" line logged) when the constructor returns.
class Llmux {
 public:
  explicit Llmux(const std::filesystem::path& config, std::vector<std::string> extra = {},
                 ProcessOptions base = {}) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_port();
      std::vector<std::string> args;
      if (!config.empty()) args = {"--config", config.string()};
      args.push_back("--listen");
      args.push_back("127.0.0.1:" + std::to_string(port_));
      for (auto& arg : extra) args.push_back(arg);
      ProcessOptions options = options_for(std::move(args));
      for (auto& [name, value] : base.env) options.env[name] = value;
      options.cwd = base.cwd;
      process_ = std::make_unique<Process>(kBinary, std::move(options));
      if (process_->wait_for_stderr("listening on http://127.0.0.1:" + std::to_string(port_), 15s)) return;
      bool port_race = process_->err().find("cannot listen on") != std::string::npos;
      process_->kill();
      if (!port_race) break;  // another process took the port in between: try another
    }
    ADD_FAILURE() << "llmux did not start; stderr:\n" << process_->err();
  }

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  Process& process() { return *process_; }
  bool ready() { return process_->running(); }

  HttpResponse chat(const std::string& model) {
    return client_.post(url("/v1/chat/completions"), chat_body(model, "hello"));
  }

 private:
  std::uint16_t port_ = 0;
  std::unique_ptr<Process> process_;
  HttpClient client_;
};

std::string plugins_line(const std::filesystem::path& dir) { return "plugins_dir: " + dir.string() + "\n"; }

// ---------------------------------------------------------------- options

TEST(CliOptions, VersionPrintsNameAndVersion) {
  auto r = run_llmux({"--version"});
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 0);
  EXPECT_EQ(r.out, std::string("llmux ") + LLMUX_VERSION + "\n");
}

TEST(CliOptions, HelpExitsZeroAndListsTheOptions) {
  for (const char* flag : {"--help", "-h"}) {
    auto r = run_llmux({flag});
    ASSERT_TRUE(r.status.exited) << r.status.describe();
    EXPECT_EQ(r.status.code, 0) << flag;
    EXPECT_THAT(r.out, HasSubstr("usage: llmux"));
    for (const char* option : {"--check-config", "--config", "--listen", "--plugins", "--log-level", "--version"}) {
      EXPECT_THAT(r.out, HasSubstr(option)) << flag;
    }
  }
}

TEST(CliOptions, UnknownOptionExitsTwoNamingIt) {
  auto r = run_llmux({"--frobnicate"});
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown option '--frobnicate'"));
  EXPECT_THAT(r.err, HasSubstr("usage: llmux"));
  EXPECT_EQ(r.out, "");
}

TEST(CliOptions, BadValuesExitTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--config"}, "--config needs a value"},
      {{"--log-level", "loud"}, "unknown log level 'loud'"},
      // Checked before the config is read: even --check-config refuses it.
      {{"--check-config", "--config", "/nonexistent/llmux.yaml", "--listen", "nowhere"},
       "--listen expects HOST:PORT, got 'nowhere'"},
      {{"--config", "/nonexistent/llmux.yaml", "--listen=127.0.0.1:99999"},
       "--listen expects HOST:PORT, got '127.0.0.1:99999'"},
  };
  for (const auto& c : cases) {
    auto r = run_llmux(c.args);
    ASSERT_TRUE(r.status.exited) << r.status.describe();
    EXPECT_EQ(r.status.code, 2) << c.message << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
}

// ---------------------------------------------------------------- --check-config

TEST(CliCheckConfig, ValidConfigPrintsPluginsProvidersAndRoutes) {
  MockOnlyPluginDir plugins;
  TempDir dir;
  auto config = dir.write("providers.yaml", plugins_line(plugins.path()) + R"(providers:
  mock:
    plugin: mock
  openai:
    plugin: openai
    options:
      api_key: sk-test
  second:
    plugin: mock
    options:
      reply: second says hi
routes:
  mock: [mock]
  "gpt-*": [openai, second]
  "o*": [{provider: second, model: upstream-o}, mock]
aliases:
  gpt-4: gpt-4o
)");
  auto r = run_llmux({"--check-config", "--config", config.string()});
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("config: " + config.string() + "\n"));
  EXPECT_THAT(r.out, HasSubstr("plugins: " + plugins.path().string() + "\n"));
  EXPECT_THAT(r.out, HasSubstr("  mock "));
  EXPECT_THAT(r.out, HasSubstr(" (llmux-mock.so)\n"));
  EXPECT_THAT(r.out, HasSubstr("providers:\n"
                               "  mock (plugin mock): ready\n"
                               "  openai (plugin openai): unavailable: plugin 'openai' is not loaded\n"
                               "  second (plugin mock): ready\n"));
  EXPECT_THAT(r.out, HasSubstr("routes:\n"
                               "  mock: mock\n"
                               "  gpt-*: openai [skipped: unavailable: plugin 'openai' is not loaded] -> second\n"
                               "  o*: second (as upstream-o) -> mock\n"));
  EXPECT_THAT(r.out, HasSubstr("aliases:\n  gpt-4 -> gpt-4o\n"));
  EXPECT_TRUE(r.out.size() >= 10 && r.out.substr(r.out.size() - 10) == "config OK\n") << r.out;
}

TEST(CliCheckConfig, PluginsOptionOverridesTheFile) {
  MockOnlyPluginDir plugins;
  TempDir dir;
  auto config = dir.write("providers.yaml", "plugins_dir: /nonexistent/plugins\n"
                                            "providers:\n  mock:\n    plugin: mock\nroutes:\n  mock: [mock]\n");
  auto r = run_llmux({"--check-config", "--config", config.string(), "--plugins", plugins.path().string()});
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("plugins: " + plugins.path().string() + "\n"));
  EXPECT_THAT(r.out, HasSubstr("  mock (plugin mock): ready\n"));
}

struct BrokenConfig {
  const char* name;
  std::string body;  // appended to the plugins_dir line (line 1)
  std::string position;
  std::string message;
};

TEST(CliCheckConfig, BrokenConfigsNameFileLineAndColumn) {
  const BrokenConfig cases[] = {
      {"yaml syntax",
       "providers:\n"           // 2
       "  mock:\n"              // 3
       "    plugin: mock\n"     // 4
       "   bad: indentation\n"  // 5: three spaces: neither under mock nor beside it
       "routes:\n"              // 6
       "  a: [mock]\n",         // 7
       ":5:4: ", "end of map not found"},
      {"unknown provider",
       "providers:\n"           // 2
       "  mock:\n"              // 3
       "    plugin: mock\n"     // 4
       "routes:\n"              // 5
       "  a: [mock]\n"          // 6
       "  b: [mock, nobody]\n"  // 7: 'nobody' starts at column 13
       "aliases:\n"             // 8
       "  c: a\n",              // 9
       ":7:13: ", "unknown provider 'nobody'"},
      {"unknown top-level key",
       "providers:\n"        // 2
       "  mock:\n"           // 3
       "    plugin: mock\n"  // 4
       "routes:\n"           // 5
       "  a: [mock]\n"       // 6
       "timeout: 30s\n"      // 7
       "threads: 2\n",       // 8
       ":7:1: ", "unknown key 'timeout'"},
  };
  MockOnlyPluginDir plugins;
  TempDir dir;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto config = dir.write("broken.yaml", plugins_line(plugins.path()) + c.body);
    auto r = run_llmux({"--check-config", "--config", config.string()});
    ASSERT_TRUE(r.status.exited) << r.status.describe();
    EXPECT_NE(r.status.code, 0);
    EXPECT_THAT(r.err, HasSubstr(config.string() + c.position)) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_THAT(r.out, Not(HasSubstr("config OK")));
  }
}

TEST(CliCheckConfig, MissingFileIsAnError) {
  TempDir dir;
  auto missing = dir.path() / "absent.yaml";
  auto r = run_llmux({"--check-config", "--config", missing.string()});
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 1);
  EXPECT_THAT(r.err, HasSubstr(missing.string()));
  EXPECT_THAT(r.err, HasSubstr("cannot read config file"));
}

// ---------------------------------------------------------------- shipped providers.yaml

const std::filesystem::path kShipped = std::filesystem::path(LLMUX_SOURCE_DIR) / "providers.yaml";

TEST(CliShippedConfig, PassesCheckConfig) {
  auto r = run_llmux({"--check-config", "--config", kShipped.string(), "--plugins", plugin_dir().string()});
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("  mock (plugin mock): ready\n"));
  EXPECT_THAT(r.out, HasSubstr("config OK\n"));
}

TEST(CliShippedConfig, EveryRouteFamilyAnswersOffline) {
  Llmux llmux(kShipped, {"--plugins", plugin_dir().string()});
  ASSERT_TRUE(llmux.ready());
  for (const char* model :
       {"mock", "gpt-4o", "gpt-4", "o3-mini", "claude-sonnet-4-5", "claude-3-sonnet", "llama3.2", "qwen2.5-coder",
        "g4f-gpt-4o"}) {
    auto r = llmux.chat(model);
    EXPECT_EQ(r.status, 200) << model << ": " << r.error << r.body;
    EXPECT_EQ(r.header("x-llmux-provider"), "mock") << model;
    EXPECT_THAT(r.body, HasSubstr("chat.completion")) << model;
  }
  auto r = llmux.chat("no-such-model");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_TRUE(llmux.process().running()) << llmux.process().err();
}

TEST(CliShippedConfig, EveryEmbeddingModelAnswersOffline) {
  Llmux llmux(kShipped, {"--plugins", plugin_dir().string()});
  ASSERT_TRUE(llmux.ready());
  HttpClient client;
  for (const char* model : {"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
                            "nomic-embed-text", "mxbai-embed-large", "all-minilm"}) {
    auto r = client.post(llmux.url("/v1/embeddings"),
                         std::string(R"({"model":")") + model + R"(","input":"hello","encoding_format":"base64"})");
    EXPECT_EQ(r.status, 200) << model << ": " << r.error << r.body;
    EXPECT_EQ(r.header("x-llmux-provider"), "mock") << model;
    EXPECT_THAT(r.body, HasSubstr(R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":")"))
        << model;
  }
}

// ---------------------------------------------------------------- reload

std::string reload_config(const std::filesystem::path& plugins, const std::string& routes) {
  return plugins_line(plugins) +   // 1
         "providers:\n"            // 2
         "  mock:\n"               // 3
         "    plugin: mock\n"      // 4
         "routes:\n" +             // 5
         routes;                   // 6...
}

TEST(CliReload, FileChangeSwapsTheTableAndABrokenFileIsRejected) {
  MockOnlyPluginDir plugins;
  TempDir dir;
  auto config = dir.write("providers.yaml", reload_config(plugins.path(), "  alpha: [mock]\n"));
  Llmux llmux(config);
  ASSERT_TRUE(llmux.ready());
  EXPECT_EQ(llmux.chat("alpha").status, 200);
  EXPECT_EQ(llmux.chat("beta").status, 404);

  // Written beside and renamed over, as editors do.
  dir.write("providers.yaml", reload_config(plugins.path(), "  alpha: [mock]\n  beta: [mock]\n"));
  EXPECT_TRUE(eventually([&] { return llmux.chat("beta").status == 200; }, 5s))
      << "no reload after the file changed; stderr:\n"
      << llmux.process().err();
  EXPECT_THAT(llmux.process().err(), HasSubstr("changed on disk; reloading"));

  dir.write("providers.yaml", reload_config(plugins.path(), "  alpha: [mock]\n  beta: [mock, ghost]\n"));
  ASSERT_TRUE(llmux.process().wait_for_stderr("reload rejected", 5s)) << llmux.process().err();
  std::this_thread::sleep_for(100ms);  // the rest of the line
  EXPECT_THAT(llmux.process().err(), HasSubstr(config.string() + ":7:16: "));
  EXPECT_THAT(llmux.process().err(), HasSubstr("unknown provider 'ghost'"));
  auto beta = llmux.chat("beta");
  EXPECT_EQ(beta.status, 200) << beta.body;
  EXPECT_EQ(llmux.chat("alpha").status, 200);
  EXPECT_TRUE(llmux.process().running());
}

TEST(CliReload, SighupReloadsAChangeTheWatcherCannotSee) {
  MockOnlyPluginDir plugins;
  TempDir dir;
  // Same length: "#eta" becomes "beta".
  const std::string before = reload_config(plugins.path(), "  alpha: [mock]\n  #eta: [mock]\n");
  const std::string after = reload_config(plugins.path(), "  alpha: [mock]\n  beta: [mock]\n");
  ASSERT_EQ(before.size(), after.size());
  auto config = dir.write("providers.yaml", before);
  Llmux llmux(config);
  ASSERT_TRUE(llmux.ready());
  EXPECT_EQ(llmux.chat("beta").status, 404);

  // Rewrite in place (same inode, same size) and put the old mtime back: the
  // watcher's stamp (mtime, size, inode) is unchanged.
  struct stat old_stat {};
  ASSERT_EQ(::stat(config.c_str(), &old_stat), 0);
  int fd = ::open(config.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::pwrite(fd, after.data(), after.size(), 0), static_cast<ssize_t>(after.size()));
  const struct timespec times[2] = {old_stat.st_atim, old_stat.st_mtim};
  ASSERT_EQ(::futimens(fd, times), 0) << std::strerror(errno);
  ::close(fd);
  struct stat new_stat {};
  ASSERT_EQ(::stat(config.c_str(), &new_stat), 0);
  ASSERT_EQ(new_stat.st_ino, old_stat.st_ino);
  ASSERT_EQ(new_stat.st_size, old_stat.st_size);
  ASSERT_EQ(new_stat.st_mtim.tv_sec, old_stat.st_mtim.tv_sec);
  ASSERT_EQ(new_stat.st_mtim.tv_nsec, old_stat.st_mtim.tv_nsec);

  // Three watcher polls go by without a reload: only SIGHUP can bring "beta" in.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(llmux.chat("beta").status, 404);
  EXPECT_THAT(llmux.process().err(), Not(HasSubstr("changed on disk")));

  llmux.process().signal(SIGHUP);
  EXPECT_TRUE(eventually([&] { return llmux.chat("beta").status == 200; }, 5s, 20ms))
      << "SIGHUP did not reload; stderr:\n"
      << llmux.process().err();
  EXPECT_THAT(llmux.process().err(), HasSubstr("SIGHUP: reloading " + config.string()));
  // The table is swapped in before the line is logged: wait for it (TSan runs slowly).
  EXPECT_TRUE(eventually([&] { return llmux.process().err().find("reloaded " + config.string()) != std::string::npos; },
                         5s, 20ms))
      << llmux.process().err();
  EXPECT_THAT(llmux.process().err(), Not(HasSubstr("changed on disk")));
  EXPECT_TRUE(llmux.process().running());
}

// ---------------------------------------------------------------- signals and listening

TEST(CliSignals, SigtermAndSigintStopCleanly) {
  MockOnlyPluginDir plugins;
  TempDir dir;
  auto config = dir.write("providers.yaml", reload_config(plugins.path(), "  alpha: [mock]\n"));
  for (int signal_number : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(strsignal(signal_number));
    Llmux llmux(config);
    ASSERT_TRUE(llmux.ready());
    EXPECT_EQ(llmux.chat("alpha").status, 200);
    llmux.process().signal(signal_number);
    auto status = llmux.process().wait(3s);
    ASSERT_TRUE(status.has_value()) << "still running 3 s after the signal; stderr:\n" << llmux.process().err();
    EXPECT_TRUE(status->exited) << status->describe();
    EXPECT_EQ(status->code, 0);
    EXPECT_THAT(llmux.process().err(), HasSubstr("stopping ("));
  }
}

TEST(CliSignals, TakenPortExitsOne) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string listen = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  MockOnlyPluginDir plugins;
  TempDir dir;
  auto config = dir.write("providers.yaml", reload_config(plugins.path(), "  alpha: [mock]\n"));
  auto r = run_llmux({"--config", config.string(), "--listen", listen});
  ::close(fd);
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot listen on " + listen));
}

// ---------------------------------------------------------------- LLMUX_CONFIG

TEST(CliEnvironment, LlmuxConfigIsUsedWithoutConfigOption) {
  MockOnlyPluginDir plugins;
  TempDir dir;
  TempDir empty_cwd;  // no ./providers.yaml to fall back on
  auto config = dir.write("from-env.yaml", reload_config(plugins.path(), "  from-env: [mock]\n"));
  ProcessOptions options;
  options.env["LLMUX_CONFIG"] = config.string();
  options.cwd = empty_cwd.path();

  auto r = run_llmux({"--check-config"}, options);
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("config: " + config.string() + "\n"));
  EXPECT_THAT(r.out, HasSubstr("  from-env: mock\n"));

  // Serving, too.
  Llmux llmux({}, {}, options);
  ASSERT_TRUE(llmux.ready());
  EXPECT_EQ(llmux.chat("from-env").status, 200);
  EXPECT_THAT(llmux.process().err(), HasSubstr("(config " + config.string() + ")"));
}

TEST(CliEnvironment, ConfigOptionBeatsLlmuxConfig) {
  MockOnlyPluginDir plugins;
  TempDir dir;
  auto config = dir.write("option.yaml", reload_config(plugins.path(), "  from-option: [mock]\n"));
  ProcessOptions options;
  options.env["LLMUX_CONFIG"] = (dir.path() / "absent.yaml").string();
  auto r = run_llmux({"--check-config", "--config", config.string()}, options);
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("  from-option: mock\n"));
}

TEST(CliEnvironment, WithoutEitherTheWorkingDirectoryFileIsUsed) {
  MockOnlyPluginDir plugins;
  TempDir cwd;
  ProcessOptions options;
  options.cwd = cwd.path();
  auto r = run_llmux({"--check-config"}, options);
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 1);
  EXPECT_THAT(r.err, HasSubstr("providers.yaml: cannot read config file"));

  cwd.write("providers.yaml", reload_config(plugins.path(), "  from-cwd: [mock]\n"));
  r = run_llmux({"--check-config"}, options);
  ASSERT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("  from-cwd: mock\n"));
}

}  // namespace
}  // namespace llmux::test

namespace llmux::test {
namespace {

// The access log rotated by SIGUSR1, and /metrics on a port of its own.
TEST(CliOperations, SigusrOneReopensTheAccessLogAndMetricsListenServesAPortOfItsOwn) {
  MockOnlyPluginDir plugins;
  TempDir dir;
  const std::uint16_t metrics_port = free_port();
  auto config = dir.write("providers.yaml", reload_config(plugins.path(), "  alpha: [mock]\n") +
                                                "access_log: access.log\nmetrics: {listen: 127.0.0.1:" +
                                                std::to_string(metrics_port) + "}\n");
  Llmux llmux(config);
  ASSERT_TRUE(llmux.ready());
  ASSERT_TRUE(llmux.process().wait_for_stderr("metrics on http://127.0.0.1:" + std::to_string(metrics_port), 5s));
  EXPECT_EQ(llmux.chat("alpha").status, 200);
  const auto log = dir.path() / "access.log";
  auto wait_for_lines = [](const std::filesystem::path& file, std::size_t n) {
    for (int i = 0; i < 300; ++i) {
      std::ifstream in(file);
      std::size_t lines = 0;
      for (std::string line; std::getline(in, line);) ++lines;
      if (lines >= n) return lines;
      std::this_thread::sleep_for(10ms);
    }
    return std::size_t{0};
  };
  ASSERT_EQ(wait_for_lines(log, 1), 1u);
  std::filesystem::rename(log, dir.path() / "access.log.1");
  llmux.process().signal(SIGUSR1);
  ASSERT_TRUE(llmux.process().wait_for_stderr("reopening the access log", 5s));
  EXPECT_EQ(llmux.chat("alpha").status, 200);
  EXPECT_EQ(wait_for_lines(log, 1), 1u);  // the new file has the new request only
  EXPECT_EQ(wait_for_lines(dir.path() / "access.log.1", 1), 1u);

  HttpClient client;
  const std::string metrics_url = "http://127.0.0.1:" + std::to_string(metrics_port);
  auto r = client.get(metrics_url + "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"(llmux_requests_total{api="openai.chat",provider="mock",route="alpha",status="200"} 2)"));
  EXPECT_EQ(client.get(metrics_url + "/healthz").status, 200);
  EXPECT_EQ(client.post(metrics_url + "/v1/chat/completions", chat_body("alpha", "x")).status, 404);
}

}  // namespace
}  // namespace llmux::test
