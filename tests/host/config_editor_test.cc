// The admin config editor: secrets redacted with the layout kept, placeholders
// restored, validation with positions, atomic apply with a backup.
#include "admin/config_editor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using host::apply_config_text;
using host::config_check_json;
using host::ConfigCheck;
using host::redact_config_text;
using host::restore_redacted;
using host::validate_config_text;
using ::testing::HasSubstr;
using ::testing::Not;

std::string sha8(std::string_view secret) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(secret.data(), secret.size(), digest, &size, EVP_sha256(), nullptr);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
  return hex;
}

std::string redacted(std::string_view secret) { return "\"<redacted:" + sha8(secret) + ">\""; }

void replace_once(std::string& text, std::string_view from, const std::string& to) {
  auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
}

std::string read(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const std::string kConfig = R"(# llmux — the team's gateway
listen: 127.0.0.1:8080
admin_key: "s3cret-admin-key"   # the panel's key

client_keys:
  - plain-client-key-1
  - {key: 'flow-client-key-2', label: ci}
  - key: block-client-key-3
    label: alice

providers:
  openai:
    plugin: mock
    options:
      base_url: https://api.example.com/v1
      api_key: ${OPENAI_API_KEY}
      headers:
        Authorization: Bearer header-secret-123   # sent upstream
        X-Trace: visible-header-value
  other:
    plugin: mock
    options:
      api_key: ${OTHER_KEY:-fallback}
      api_keys: [key-one-aaaa, "key-two-bbbb"]
      password: |
        multi-line
        password-here
      Token: 'it''s-a-token'
      secret: "esc\"aped\\secret"
      reply: keep me
routes:
  gpt-4o: [openai, other]
)";

TEST(ConfigEditor, RedactionReplacesEachSecretAndKeepsEverythingElse) {
  std::string expected = kConfig;
  replace_once(expected, "\"s3cret-admin-key\"", redacted("s3cret-admin-key"));
  replace_once(expected, "plain-client-key-1", redacted("plain-client-key-1"));
  replace_once(expected, "'flow-client-key-2'", redacted("flow-client-key-2"));
  replace_once(expected, "block-client-key-3", redacted("block-client-key-3"));
  replace_once(expected, "Bearer header-secret-123", redacted("Bearer header-secret-123"));
  replace_once(expected, "visible-header-value", redacted("visible-header-value"));  // every header value
  replace_once(expected, "${OTHER_KEY:-fallback}", redacted("${OTHER_KEY:-fallback}"));  // a default may be the key
  replace_once(expected, "key-one-aaaa", redacted("key-one-aaaa"));
  replace_once(expected, "\"key-two-bbbb\"", redacted("key-two-bbbb"));
  replace_once(expected, "|\n        multi-line\n        password-here", redacted("multi-line\npassword-here\n"));
  replace_once(expected, "'it''s-a-token'", redacted("it's-a-token"));
  replace_once(expected, R"("esc\"aped\\secret")", redacted(R"(esc"aped\secret)"));

  std::string out = redact_config_text(kConfig);
  EXPECT_EQ(out, expected);
  // The documented hash: the first 8 hex digits of SHA-256 (sha256sum).
  EXPECT_THAT(out, HasSubstr(R"(admin_key: "<redacted:cc12d797>"   # the panel's key)"));
  EXPECT_THAT(out, HasSubstr("password: \"<redacted:52dfbab4>\"\n      Token:"));
  // References and non-secrets are shown as they are.
  EXPECT_THAT(out, HasSubstr("api_key: ${OPENAI_API_KEY}\n"));
  EXPECT_THAT(out, HasSubstr("label: ci}"));
  for (const char* secret : {"s3cret", "client-key", "header-secret", "key-one", "key-two", "password-here",
                             "a-token", "aped"}) {
    EXPECT_THAT(out, Not(HasSubstr(secret)));
  }
  // Still a valid config.
  EXPECT_NO_THROW(host::parse_gateway_config(out, "providers.yaml"));
}

TEST(ConfigEditor, AnchoredTaggedAndFoldedSecretsAreRedacted) {
  std::string text =
      "base: &shared anchored-secret-1\n"
      "providers:\n"
      "  a:\n"
      "    plugin: mock\n"
      "    options:\n"
      "      api_key: *shared\n"
      "      token: !!str tagged-token-2\n"
      "      access_token: >-\n"
      "        folded\n"
      "        token-3\n"
      "      refresh_token: plain spanning\n"
      "        two lines\n"
      "      note: x\n";
  std::string out = redact_config_text(text);
  EXPECT_EQ(out,
            "base: &shared " + redacted("anchored-secret-1") +
                "\n"
                "providers:\n"
                "  a:\n"
                "    plugin: mock\n"
                "    options:\n"
                "      api_key: *shared\n"
                "      token: !!str " +
                redacted("tagged-token-2") +
                "\n"
                "      access_token: " +
                redacted("folded token-3") +
                "\n"
                "      refresh_token: " +
                redacted("plain spanning two lines") +
                "\n"
                "      note: x\n");
}

TEST(ConfigEditor, RestoreRoundTripsTheRedactedText) {
  std::string text = kConfig;
  std::string back = restore_redacted(redact_config_text(text), text);
  // Everything but the block scalar comes back in its own spelling.
  std::string expected = text;
  replace_once(expected, "|\n        multi-line\n        password-here", "\"multi-line\\npassword-here\\n\"");
  EXPECT_EQ(back, expected);
  EXPECT_EQ(YAML::Dump(YAML::Load(back)), YAML::Dump(YAML::Load(text)));

  std::string no_block = "admin_key: 'quoted-admin'\nclient_keys: [flow-key-abc, {key: \"k2-value\"}]\n";
  EXPECT_EQ(restore_redacted(redact_config_text(no_block), no_block), no_block);
}

TEST(ConfigEditor, APlaceholderMayMoveUnderAKeyOfItsKindAndBeUnquoted) {
  std::string current = "providers:\n  a:\n    options: {api_key: \"s3cret-api-key\"}\n";
  std::string edited = "providers:\n  b:\n    options:\n      api_key: <redacted:" + sha8("s3cret-api-key") + ">\n";
  EXPECT_EQ(restore_redacted(edited, current), "providers:\n  b:\n    options:\n      api_key: \"s3cret-api-key\"\n");
  // A plain secret moved into a flow sequence is quoted there (its ',' would end it).
  std::string plain = "api_keys: [x]\nadmin_key: abc,def-secret\n";
  EXPECT_EQ(restore_redacted("admin_key: [" + redacted("abc,def-secret") + "]\n", plain),
            "admin_key: [\"abc,def-secret\"]\n");
}

// Regression (security review): a placeholder put where the API or an error
// message would echo it (a model name, max_body) or under another kind of key
// (the admin key as an upstream api_key) must not bring the secret back.
TEST(ConfigEditor, APlaceholderOutsideASecretOfItsKindIsRefused) {
  std::string current = "admin_key: \"s3cret-admin-key\"\nproviders:\n  a: {plugin: mock, options: {api_key: up-key-0001}}\n";
  const std::string admin = redacted("s3cret-admin-key");
  for (const std::string& edited : {"max_body: " + admin + "\n", "aliases: {leak: " + admin + "}\n",
                                    "providers:\n  a: {plugin: mock, options: {api_key: " + admin + "}}\n",
                                    "providers:\n  a: {plugin: mock, options: {base_url: " + admin + "}}\n"}) {
    try {
      restore_redacted(edited, current);
      ADD_FAILURE() << "restored: " << edited;
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.detail(), HasSubstr("can only be used under one")) << edited;
      EXPECT_THAT(e.what(), Not(HasSubstr("s3cret-admin-key")));
    }
  }
}

// Regression (security review): forms of secrets the first redaction missed.
TEST(ConfigEditor, ScalarClientKeysDefaultsOfReferencesAndUrlCredentialsAreRedacted) {
  std::string text =
      "client_keys: lone-client-key-0001\n"
      "providers:\n"
      "  a:\n"
      "    plugin: mock\n"
      "    options:\n"
      "      api_key: ${KEY:-literal-default-key}\n"
      "      base_url: https://user:url-password-0001@example.com/v1\n"
      "      headers: {X-Goog-Api-Key: goog-key-0001}\n";
  std::string out = redact_config_text(text);
  for (const char* secret : {"lone-client-key", "literal-default-key", "url-password", "goog-key"}) {
    EXPECT_THAT(out, Not(HasSubstr(secret)));
  }
  EXPECT_EQ(restore_redacted(out, text), text);
}

TEST(ConfigEditor, AnUnknownHashIsAnErrorWithItsPosition) {
  std::string edited = "listen: 127.0.0.1:8080\nproviders:\n  a: {plugin: mock, options: {api_key: \"<redacted:deadbeef>\"}}\n";
  try {
    restore_redacted(edited, kConfig);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.detail(), HasSubstr("unknown redacted secret"));
    EXPECT_EQ(e.mark().line, 3);
    EXPECT_EQ(e.mark().column, 40);
    EXPECT_EQ(e.path(), "providers.a.options.api_key");
  }
  EXPECT_THROW(restore_redacted("token: \"Bearer <redacted:cc12d797>\"\n", kConfig), ConfigError);
}

TEST(ConfigEditor, ValidateReportsPositions) {
  TempDir dir;
  auto file = dir.write("providers.yaml", "providers:\n  a: {plugin: mock}\nadmin_key: kept-secret-value\n");

  ConfigCheck syntax = validate_config_text("providers:\n  a: {plugin: mock\nroutes: x\n", file);
  EXPECT_FALSE(syntax.ok);
  EXPECT_EQ(syntax.file, file.string());
  EXPECT_EQ(syntax.line, 3);
  EXPECT_GT(syntax.column, 0);
  EXPECT_FALSE(syntax.message.empty());

  ConfigCheck unknown = validate_config_text("providers:\n  a: {plugin: mock}\nroutes:\n  m: [a, nope]\n", file);
  EXPECT_FALSE(unknown.ok);
  EXPECT_THAT(unknown.message, HasSubstr("unknown provider 'nope'"));
  EXPECT_EQ(unknown.line, 4);
  EXPECT_EQ(unknown.column, 10);
  EXPECT_THAT(unknown.path, HasSubstr("routes.m"));

  ConfigCheck listen = validate_config_text("listen: nowhere\n", file);
  EXPECT_FALSE(listen.ok);
  EXPECT_EQ(listen.line, 1);
  EXPECT_EQ(listen.column, 1);  // a map entry is positioned at its key
  EXPECT_EQ(listen.path, "listen");

  // A placeholder of the current file's secret is fine.
  std::string edited = redact_config_text(read(file));
  EXPECT_TRUE(validate_config_text(edited, file).ok) << validate_config_text(edited, file).message;
  ConfigCheck unknown_hash = validate_config_text("admin_key: <redacted:00000000>\n", file);
  EXPECT_FALSE(unknown_hash.ok);
  EXPECT_EQ(unknown_hash.line, 1);
  EXPECT_EQ(unknown_hash.column, 12);
}

TEST(ConfigEditor, ValidateChecksThePluginsAreLoaded) {
  TestGateway gw("providers:\n  a: {plugin: mock}\nroutes:\n  m: [a]\n");
  auto file = gw.gateway().options().config_path;
  const auto* plugins = &gw.gateway().plugins();
  EXPECT_TRUE(validate_config_text("providers:\n  a: {plugin: mock}\n", file, plugins).ok);
  ConfigCheck missing = validate_config_text("providers:\n  a:\n    plugin: nosuch\n", file, plugins);
  EXPECT_FALSE(missing.ok);
  EXPECT_THAT(missing.message, HasSubstr("plugin 'nosuch' is not loaded"));
  EXPECT_EQ(missing.line, 3);
  EXPECT_EQ(missing.column, 5);  // at the `plugin:` key
  EXPECT_EQ(missing.path, "providers.a.plugin");
  // Without a registry the plugin is not checked (the loader's own rules).
  EXPECT_TRUE(validate_config_text("providers:\n  a:\n    plugin: nosuch\n", file).ok);
}

TEST(ConfigEditor, CheckRendersAsJson) {
  EXPECT_EQ(config_check_json(ConfigCheck{}), R"({"ok":true})");
  EXPECT_EQ(config_check_json(ConfigCheck{false, "bad \"x\"", "/etc/p.yaml", 3, 7, "listen"}),
            R"({"ok":false,"error":{"message":"bad \"x\"","file":"/etc/p.yaml","line":3,"column":7,"path":"listen"}})");
  EXPECT_EQ(config_check_json(ConfigCheck{false, "io", "f", 0, 0, ""}),
            R"({"ok":false,"error":{"message":"io","file":"f","line":null,"column":null,"path":null}})");
}

std::vector<std::string> folder_names(const std::filesystem::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ConfigEditor, ApplyWritesTheFileAndKeepsABackup) {
  TempDir dir;
  std::string before = "# old\nadmin_key: old-admin-secret\nproviders:\n  a: {plugin: mock}\n";
  auto file = dir.write("providers.yaml", before);
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                         std::filesystem::perms::group_read);
  dir.write("providers.yaml.bak", "an older backup\n");

  std::string edited = redact_config_text(before);
  replace_once(edited, "# old", "# new");
  auto result = apply_config_text(file, edited);
  ASSERT_TRUE(result.check.ok) << result.check.message;
  EXPECT_EQ(result.backup, std::filesystem::path(file.string() + ".bak"));
  EXPECT_EQ(read(file), "# new\nadmin_key: old-admin-secret\nproviders:\n  a: {plugin: mock}\n");
  EXPECT_EQ(read(result.backup), before);
  struct stat file_stat {}, backup_stat {};
  ASSERT_EQ(::stat(file.c_str(), &file_stat), 0);
  ASSERT_EQ(::stat(result.backup.c_str(), &backup_stat), 0);
  EXPECT_EQ(file_stat.st_mode & 07777, 0640u);
  EXPECT_EQ(backup_stat.st_mode & 07777, 0640u);
  // No temporary file is left behind.
  EXPECT_EQ(folder_names(dir.path()), (std::vector<std::string>{"providers.yaml", "providers.yaml.bak"}));
}

TEST(ConfigEditor, ApplyOfABadTextWritesNothing) {
  TempDir dir;
  std::string before = "providers:\n  a: {plugin: mock}\n";
  auto file = dir.write("providers.yaml", before);
  auto result = apply_config_text(file, "providers:\n  a: {plugin: mock}\nroutes:\n  m: [missing]\n");
  EXPECT_FALSE(result.check.ok);
  EXPECT_EQ(result.check.line, 4);
  EXPECT_TRUE(result.backup.empty());
  EXPECT_EQ(read(file), before);
  EXPECT_EQ(folder_names(dir.path()), (std::vector<std::string>{"providers.yaml"}));
  // An unknown placeholder is refused the same way.
  EXPECT_FALSE(apply_config_text(file, "admin_key: <redacted:12345678>\n").check.ok);
  EXPECT_EQ(read(file), before);
}

TEST(ConfigEditor, ApplyReplacesTheTargetOfASymbolicLink) {
  TempDir dir;
  auto real = dir.write("real.yaml", "providers:\n  a: {plugin: mock}\n");
  auto link = dir.path() / "providers.yaml";
  std::filesystem::create_symlink(real, link);
  auto result = apply_config_text(link, "providers:\n  b: {plugin: mock}\n");
  ASSERT_TRUE(result.check.ok) << result.check.message;
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(read(real), "providers:\n  b: {plugin: mock}\n");
  EXPECT_EQ(read(result.backup), "providers:\n  a: {plugin: mock}\n");
}

}  // namespace
}  // namespace llmux::test
