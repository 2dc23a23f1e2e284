// providers.yaml: schema, defaults and errors with exact file:line:column.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/gateway_config.h"
#include "routing/config_test_util.h"

namespace llmux::host {
namespace {

namespace fs = std::filesystem;

using test::config_error;
using test::EnvGuard;

ConfigError parse_error(const std::string& yaml) {
  return config_error([&] { parse_gateway_config(yaml, "cfg.yaml"); });
}

GatewayConfig parse(const std::string& yaml) { return parse_gateway_config(yaml, "/etc/llmux/cfg.yaml"); }

// A fresh directory under the system temp dir, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "llmux-config-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& text) const {
    fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

 private:
  fs::path path_;
};

const char* kProviders = "providers:\n  openai: {plugin: openai}\n  local: {plugin: mock}\n";

// ------------------------------------------------------------------ defaults

TEST(GatewayConfig, EmptyFileGivesDefaults) {
  GatewayConfig config = parse("");
  EXPECT_EQ(config.listen_host, "127.0.0.1");
  EXPECT_EQ(config.listen_port, 8080);
  EXPECT_EQ(config.plugins_dir, fs::path("/etc/llmux/plugins"));
  EXPECT_TRUE(config.client_keys.empty());
  EXPECT_EQ(config.admin_key, "");
  EXPECT_EQ(config.max_body_bytes, 32u << 20);
  EXPECT_EQ(config.threads, 0u);
  EXPECT_TRUE(config.providers.empty());
  EXPECT_TRUE(config.routes.empty());
  EXPECT_TRUE(config.aliases.empty());
  EXPECT_TRUE(config.default_chain.empty());
  EXPECT_EQ(config.source, fs::path("/etc/llmux/cfg.yaml"));
}

TEST(GatewayConfig, TopLevelMustBeAMap) {
  ConfigError e = parse_error("- a\n- b\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:1:1");
}

// ------------------------------------------------------------------ errors with positions

TEST(GatewayConfigErrors, YamlSyntax) {
  ConfigError e = parse_error("listen: 127.0.0.1:8080\nproviders:\n  a: {plugin: mock\n");
  EXPECT_EQ(e.mark().file, "cfg.yaml");
  EXPECT_EQ(e.mark().line, 4);
  EXPECT_EQ(e.mark().column, 1);
  EXPECT_EQ(e.detail(), "end of map flow not found");
}

TEST(GatewayConfigErrors, DuplicateKey) {
  ConfigError e = parse_error("listen: 127.0.0.1:1\nthreads: 2\nlisten: 127.0.0.1:2\n");
  EXPECT_STREQ(e.what(), "cfg.yaml:3:1: listen: duplicate key 'listen' (first at line 1)");
}

TEST(GatewayConfigErrors, UnknownTopLevelKeyWithSuggestion) {
  ConfigError e = parse_error("listen: 127.0.0.1:8080\nprovders:\n  a: {plugin: mock}\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:2:1");
  EXPECT_EQ(e.path(), "provders");
  EXPECT_EQ(e.detail(),
            "unknown key 'provders'; did you mean 'providers'? known keys: listen, plugins_dir, state_dir, "
            "client_keys, admin_key, max_body, threads, providers, routes, aliases, default, access_log, metrics, responses, admin");
}

TEST(GatewayConfigErrors, UnknownProviderInChain) {
  ConfigError e = parse_error(std::string(kProviders) + "routes:\n  gpt-4o: [openai, opnai]\n");
  EXPECT_STREQ(e.what(), "cfg.yaml:5:20: routes.gpt-4o[1]: unknown provider 'opnai'; declared: openai, local");
  e = parse_error(std::string(kProviders) + "routes:\n  gpt-4o:\n    - provider: nobody\n      model: x\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:6:7");
  EXPECT_EQ(e.path(), "routes.gpt-4o[0].provider");
  e = parse_error("routes:\n  m: x\n");
  EXPECT_EQ(e.detail(), "unknown provider 'x'; no providers are declared");
  e = parse_error(std::string(kProviders) + "default: [local, ghost]\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:4:18");
  EXPECT_EQ(e.path(), "default[1]");
}

TEST(GatewayConfigErrors, RouteStepMissingProvider) {
  ConfigError e = parse_error(std::string(kProviders) + "routes:\n  gpt-4o:\n    - openai\n    - model: gpt-4\n");
  EXPECT_STREQ(e.what(), "cfg.yaml:7:7: routes.gpt-4o[1]: missing required key 'provider'");
  e = parse_error(std::string(kProviders) + "routes:\n  gpt-4o: [{provdier: openai}]\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:5:13");
  EXPECT_NE(e.detail().find("did you mean 'provider'?"), std::string::npos) << e.what();
}

TEST(GatewayConfigErrors, EmptyChain) {
  ConfigError e = parse_error(std::string(kProviders) + "routes:\n  gpt-4o: []\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:5:3");
  EXPECT_NE(e.detail().find("empty chain"), std::string::npos);
  e = parse_error(std::string(kProviders) + "routes:\n  gpt-4o:\n");
  EXPECT_NE(e.detail().find("empty chain"), std::string::npos);
}

TEST(GatewayConfigErrors, BadListen) {
  ConfigError e = parse_error("threads: 1\nlisten: localhost\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:2:1");
  EXPECT_EQ(e.path(), "listen");
  EXPECT_NE(e.detail().find("expected HOST:PORT"), std::string::npos) << e.what();
  e = parse_error("listen: 127.0.0.1:70000\n");
  EXPECT_STREQ(e.what(), "cfg.yaml:1:1: listen: port 70000 is out of range (1..65535)");
  EXPECT_THROW(parse("listen: 127.0.0.1:0\n"), ConfigError);
  EXPECT_THROW(parse("listen: 127.0.0.1:80a\n"), ConfigError);
  EXPECT_THROW(parse("listen: :8080\n"), ConfigError);
  EXPECT_THROW(parse("listen: \"127.0.0.1:\"\n"), ConfigError);
  EXPECT_THROW(parse("listen: ::1:8080\n"), ConfigError);
  EXPECT_THROW(parse("listen: \"[::1]8080\"\n"), ConfigError);
  EXPECT_THROW(parse("listen: [a, b]\n"), ConfigError);
}

TEST(GatewayConfig, ListenForms) {
  GatewayConfig config = parse("listen: 0.0.0.0:9000\n");
  EXPECT_EQ(config.listen_host, "0.0.0.0");
  EXPECT_EQ(config.listen_port, 9000);
  config = parse("listen: \"[::1]:8081\"\n");
  EXPECT_EQ(config.listen_host, "::1");
  EXPECT_EQ(config.listen_port, 8081);
  config = parse("listen: localhost:65535\n");
  EXPECT_EQ(config.listen_host, "localhost");
  EXPECT_EQ(config.listen_port, 65535);
}

TEST(GatewayConfigErrors, BadMaxBody) {
  ConfigError e = parse_error("\nmax_body: 32 megs\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:2:1");
  EXPECT_EQ(e.path(), "max_body");
  EXPECT_NE(e.detail().find("expected a size like 32MiB"), std::string::npos) << e.what();
  EXPECT_NE(parse_error("max_body: 512\n").detail().find("too small"), std::string::npos);
  EXPECT_NE(parse_error("max_body: 2GiB\n").detail().find("too large"), std::string::npos);
  EXPECT_NE(parse_error("max_body: 99999999999999GiB\n").detail().find("too large"), std::string::npos);
  EXPECT_THROW(parse("max_body: -1MiB\n"), ConfigError);
  EXPECT_THROW(parse("max_body: 1.5MiB\n"), ConfigError);
  EXPECT_THROW(parse("max_body: MiB\n"), ConfigError);
}

TEST(GatewayConfig, MaxBodyForms) {
  EXPECT_EQ(parse("max_body: 32MiB\n").max_body_bytes, 32u << 20);
  EXPECT_EQ(parse("max_body: 512KiB\n").max_body_bytes, 512u << 10);
  EXPECT_EQ(parse("max_body: 1048576\n").max_body_bytes, 1048576u);
  EXPECT_EQ(parse("max_body: 1KiB\n").max_body_bytes, 1024u);
  EXPECT_EQ(parse("max_body: 1GiB\n").max_body_bytes, 1u << 30);
  EXPECT_EQ(parse("max_body: 64 MiB\n").max_body_bytes, 64u << 20);
  EXPECT_EQ(parse("max_body: 2MB\n").max_body_bytes, 2000000u);
}

TEST(GatewayConfigErrors, BadBooleanInProviderOptions) {
  // The gateway schema has no booleans of its own; plugins read them from
  // options with get_bool, and the error points into the file.
  GatewayConfig config = parse_gateway_config(
      "providers:\n  openai:\n    plugin: openai\n    options:\n      stream: yes\n", "cfg.yaml");
  ConfigError e = config_error([&] { config.providers[0].options.get_bool("stream", false); });
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:5:7");
  EXPECT_EQ(e.path(), "providers.openai.options.stream");
  EXPECT_NE(e.detail().find("expected true or false, got 'yes'"), std::string::npos) << e.what();
}

TEST(GatewayConfigErrors, AliasCycle) {
  ConfigError e = parse_error(std::string(kProviders) +
                              "routes:\n  gpt-4o: openai\naliases:\n  x: a\n  a: b\n  b: c\n  c: a\n");
  EXPECT_STREQ(e.what(), "cfg.yaml:8:3: aliases.a: alias cycle: a -> b -> c -> a");
  e = parse_error("aliases:\n  self: self\n");
  EXPECT_EQ(e.detail(), "alias cycle: self -> self");
}

TEST(GatewayConfigErrors, AliasThatIsAlsoARoute) {
  ConfigError e = parse_error(std::string(kProviders) + "routes:\n  fast: openai\naliases:\n  fast: gpt-4o\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:7:3");
  EXPECT_EQ(e.path(), "aliases.fast");
  EXPECT_NE(e.detail().find("alias 'fast' is also a route"), std::string::npos) << e.what();
  // An alias may share a name with what a wildcard route matches.
  EXPECT_NO_THROW(parse(std::string(kProviders) + "routes:\n  \"fa*\": openai\naliases:\n  fast: gpt-4o\n"));
}

TEST(GatewayConfigErrors, Providers) {
  ConfigError e = parse_error("providers:\n  openai:\n    options: {}\n");
  EXPECT_STREQ(e.what(), "cfg.yaml:2:3: providers.openai: missing required key 'plugin'");
  e = parse_error("providers:\n  openai:\n    plugin: openai\n    enabled: true\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:4:5");
  EXPECT_EQ(e.detail(), "unknown key 'enabled'; known keys: plugin, options, retry, cooldown");
  e = parse_error("providers:\n  \"bad name\": {plugin: mock}\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:2:3");
  EXPECT_NE(e.detail().find("invalid provider name"), std::string::npos);
  e = parse_error("providers:\n  a: mock\n");
  EXPECT_NE(e.detail().find("expected a map"), std::string::npos) << e.what();
  e = parse_error("providers:\n  a:\n    plugin: mock\n    options: [1]\n");
  EXPECT_EQ(e.path(), "providers.a.options");
  e = parse_error("providers: [a]\n");
  EXPECT_EQ(e.path(), "providers");
}

TEST(GatewayConfigErrors, Threads) {
  ConfigError e = parse_error("threads: 65\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:1:1");
  EXPECT_NE(e.detail().find("between 0"), std::string::npos);
  EXPECT_THROW(parse("threads: -1\n"), ConfigError);
  EXPECT_THROW(parse("threads: four\n"), ConfigError);
  EXPECT_EQ(parse("threads: 64\n").threads, 64u);
}

TEST(GatewayConfigErrors, ShortClientKey) {
  ConfigError e = parse_error("client_keys:\n  - long-enough-key\n  - short\n");
  EXPECT_EQ(e.mark().to_string(), "cfg.yaml:3:5");
  EXPECT_EQ(e.path(), "client_keys[1]");
  EXPECT_NE(e.detail().find("too short"), std::string::npos);
}

// ------------------------------------------------------------------ values

TEST(GatewayConfig, ClientKeysDropEmptyFromUnsetVariables) {
  EnvGuard set("LLMUX_T_KEY", "key-from-env-123");
  EnvGuard unset("LLMUX_T_KEY_UNSET", nullptr);
  GatewayConfig config = parse(
      "client_keys:\n  - ${LLMUX_T_KEY}\n  - ${LLMUX_T_KEY_UNSET}\n  - literal-key-456\n  - ${LLMUX_T_KEY}\n"
      "admin_key: ${LLMUX_T_KEY_UNSET:-admin-secret}\n");
  ASSERT_EQ(config.client_keys.size(), 2u);
  EXPECT_EQ(config.client_keys[0].key, "key-from-env-123");
  EXPECT_EQ(config.client_keys[0].label, "key-1");
  EXPECT_EQ(config.client_keys[1].key, "literal-key-456");
  EXPECT_EQ(config.client_keys[1].label, "key-3");  // its position in the file
  EXPECT_EQ(config.admin_key, "admin-secret");
  EXPECT_TRUE(parse("client_keys: ${LLMUX_T_KEY_UNSET}\n").client_keys.empty());
  EXPECT_TRUE(parse("client_keys: []\n").client_keys.empty());
}

TEST(GatewayConfig, ProvidersRoutesAliasesDefault) {
  GatewayConfig config = parse(
      "providers:\n"
      "  openai:\n"
      "    plugin: openai\n"
      "    options:\n"
      "      timeout: 30s\n"
      "  local: {plugin: mock}\n"
      "routes:\n"
      "  gpt-4o: [openai, {provider: local, model: llama3}]\n"
      "  \"gpt-*\": openai\n"
      "  solo: {provider: local, model: m}\n"
      "aliases:\n"
      "  fast: gpt-4o\n"
      "default: local\n");
  ASSERT_EQ(config.providers.size(), 2u);
  EXPECT_EQ(config.providers[0].name, "openai");
  EXPECT_EQ(config.providers[0].plugin, "openai");
  EXPECT_EQ(config.providers[0].mark.line, 2);
  EXPECT_EQ(config.providers[0].options.get_duration("timeout", {}), std::chrono::seconds(30));
  EXPECT_EQ(config.providers[0].options.find("timeout")->path(), "providers.openai.options.timeout");
  // Absent options: an empty map with a sensible path.
  EXPECT_TRUE(config.providers[1].options.is_map());
  EXPECT_TRUE(config.providers[1].options.entries().empty());
  EXPECT_EQ(config.providers[1].options.path(), "providers.local.options");

  ASSERT_EQ(config.routes.size(), 3u);
  EXPECT_EQ(config.routes[0].pattern, "gpt-4o");
  ASSERT_EQ(config.routes[0].chain.size(), 2u);
  EXPECT_EQ(config.routes[0].chain[0].provider, "openai");
  EXPECT_EQ(config.routes[0].chain[0].upstream_model, "");
  EXPECT_EQ(config.routes[0].chain[1].provider, "local");
  EXPECT_EQ(config.routes[0].chain[1].upstream_model, "llama3");
  EXPECT_EQ(config.routes[0].chain[1].mark.to_string(), "/etc/llmux/cfg.yaml:8:20");
  EXPECT_EQ(config.routes[1].pattern, "gpt-*");
  ASSERT_EQ(config.routes[1].chain.size(), 1u);
  EXPECT_EQ(config.routes[2].chain[0].upstream_model, "m");

  ASSERT_EQ(config.aliases.size(), 1u);
  EXPECT_EQ(config.aliases[0].name, "fast");
  EXPECT_EQ(config.aliases[0].target, "gpt-4o");
  ASSERT_EQ(config.default_chain.size(), 1u);
  EXPECT_EQ(config.default_chain[0].provider, "local");
}

// ------------------------------------------------------------------ files

TEST(LoadGatewayConfig, MissingFile) {
  TempDir dir;
  fs::path file = dir.path() / "nope.yaml";
  ConfigError e = config_error([&] { load_gateway_config(file); });
  EXPECT_EQ(e.mark().file, file.string());
  EXPECT_EQ(e.mark().line, 0);
  EXPECT_EQ(e.detail(), "cannot read config file: No such file or directory");
  EXPECT_EQ(std::string(e.what()), file.string() + ": cannot read config file: No such file or directory");
  e = config_error([&] { load_gateway_config(dir.path()); });
  EXPECT_EQ(e.detail(), "cannot read config file: Is a directory");
}

TEST(LoadGatewayConfig, ErrorsNameTheFile) {
  TempDir dir;
  fs::path file = dir.write("providers.yaml", "listen: 127.0.0.1:8080\nthreds: 2\n");
  ConfigError e = config_error([&] { load_gateway_config(file); });
  EXPECT_EQ(e.mark().to_string(), file.string() + ":2:1");
  EXPECT_NE(e.detail().find("did you mean 'threads'?"), std::string::npos);
}

TEST(LoadGatewayConfig, PluginsDirResolvesAgainstTheConfigFolder) {
  TempDir dir;
  fs::path file = dir.write("conf/providers.yaml", "plugins_dir: ../lib/plugins\n");
  GatewayConfig config = load_gateway_config(file);
  EXPECT_EQ(config.plugins_dir, (dir.path() / "lib/plugins").lexically_normal());
  EXPECT_EQ(config.source, file);

  file = dir.write("conf/default.yaml", "listen: 127.0.0.1:1234\n");
  EXPECT_EQ(load_gateway_config(file).plugins_dir, (dir.path() / "conf/plugins").lexically_normal());

  file = dir.write("conf/absolute.yaml", "plugins_dir: /opt/llmux/plugins\n");
  EXPECT_EQ(load_gateway_config(file).plugins_dir, fs::path("/opt/llmux/plugins"));

  // A relative config path still gives an absolute plugins_dir.
  fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  GatewayConfig relative = load_gateway_config("conf/providers.yaml");
  fs::current_path(cwd);
  EXPECT_TRUE(relative.plugins_dir.is_absolute());
  EXPECT_EQ(fs::weakly_canonical(relative.plugins_dir), fs::weakly_canonical(dir.path() / "lib/plugins"));
}

TEST(LoadGatewayConfig, FullExample) {
  EnvGuard key("LLMUX_FIXTURE_CLIENT_KEY", nullptr);
  EnvGuard unset_key("LLMUX_FIXTURE_UNSET_CLIENT_KEY", nullptr);
  EnvGuard admin("LLMUX_FIXTURE_ADMIN_KEY", nullptr);
  EnvGuard openai("OPENAI_API_KEY", nullptr);
  EnvGuard local("LOCAL_LLM_URL", nullptr);
  fs::path file = fs::path(LLMUX_SOURCE_DIR) / "tests/routing/fixtures/full.yaml";
  GatewayConfig config = load_gateway_config(file);
  EXPECT_EQ(config.listen_host, "0.0.0.0");
  EXPECT_EQ(config.listen_port, 8080);
  EXPECT_EQ(config.plugins_dir, (fs::path(LLMUX_SOURCE_DIR) / "tests/routing/plugins").lexically_normal());
  EXPECT_EQ(config.threads, 4u);
  EXPECT_EQ(config.max_body_bytes, 64u << 20);
  ASSERT_EQ(config.client_keys.size(), 1u);
  EXPECT_EQ(config.client_keys[0].key, "local-dev-key-0001");
  EXPECT_EQ(config.admin_key, "");

  ASSERT_EQ(config.providers.size(), 4u);
  EXPECT_EQ(config.providers[0].name, "openai");
  EXPECT_EQ(config.providers[2].name, "local");
  EXPECT_EQ(config.providers[2].plugin, "openai");
  EXPECT_EQ(config.providers[2].options.get_string("base_url"), "http://127.0.0.1:11434/v1");
  EXPECT_EQ(config.providers[3].name, "mock");
  EXPECT_TRUE(config.providers[3].options.entries().empty());
  const ConfigNode& openai_options = config.providers[0].options;
  EXPECT_EQ(openai_options.get_duration("timeout", {}), std::chrono::seconds(120));
  try {
    openai_options.get_secret("api_key");
    FAIL() << "no NotConfigured";
  } catch (const NotConfigured& e) {
    EXPECT_STREQ(e.what(), "providers.openai.options.api_key: environment variable OPENAI_API_KEY is not set");
  }

  std::vector<std::string> patterns;
  for (const auto& route : config.routes) patterns.push_back(route.pattern);
  EXPECT_EQ(patterns, (std::vector<std::string>{"gpt-4o", "gpt-4o-mini", "gpt-*", "claude-sonnet-4", "claude-*",
                                                "llama*", "mock-echo"}));
  ASSERT_EQ(config.routes[0].chain.size(), 2u);
  EXPECT_EQ(config.routes[0].chain[1].upstream_model, "llama3.1:70b");
  EXPECT_EQ(config.routes[3].chain[1].provider, "openai");
  EXPECT_EQ(config.routes[3].chain[1].upstream_model, "gpt-4o");
  ASSERT_EQ(config.aliases.size(), 3u);
  EXPECT_EQ(config.aliases[2].target, "smart");
  ASSERT_EQ(config.default_chain.size(), 1u);
  EXPECT_EQ(config.default_chain[0].provider, "local");
}

}  // namespace
}  // namespace llmux::host

namespace llmux::host {
namespace {

TEST(GatewayConfigAdmin, SessionTtlAndHistoryAreReadAndBounded) {
  auto config = parse_gateway_config("admin: {session_ttl: 2h, history: 500}\n", "cfg.yaml");
  EXPECT_EQ(config.admin.session_ttl, std::chrono::hours(2));
  EXPECT_EQ(config.admin.history, 500u);
  EXPECT_EQ(parse_gateway_config("{}\n", "cfg.yaml").admin.session_ttl, std::chrono::hours(12));
  EXPECT_EQ(parse_error("admin:\n  history: 5\n").mark().to_string(), "cfg.yaml:2:3");  // at its key
  EXPECT_EQ(parse_error("admin: {session_ttl: 1s}\n").path(), "admin.session_ttl");
  EXPECT_EQ(parse_error("admin: {sesion_ttl: 1h}\n").path(), "admin.sesion_ttl");
}

}  // namespace
}  // namespace llmux::host
