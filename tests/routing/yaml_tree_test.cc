// parse_yaml_tree: syntax errors, duplicate keys, key rules, ${VAR} substitution.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "config/gateway_config.h"
#include "routing/config_test_util.h"

namespace llmux::host {
namespace {

using test::config_error;
using test::EnvGuard;

std::string value_of(const std::string& yaml) {
  ConfigNode root = parse_yaml_tree(yaml, "env.yaml");
  return root.find("v")->value();
}

TEST(YamlTree, SyntaxErrorHasOneBasedPosition) {
  ConfigError e = config_error([] { parse_yaml_tree("a: [1,\nb: 2\n", "bad.yaml"); });
  EXPECT_EQ(e.mark().file, "bad.yaml");
  EXPECT_EQ(e.mark().line, 3);
  EXPECT_EQ(e.mark().column, 1);
  EXPECT_EQ(e.path(), "");
  EXPECT_STREQ(e.what(), "bad.yaml:3:1: end of sequence flow not found");
  e = config_error([] { parse_yaml_tree("a: 1\n  b: 2\n", "bad.yaml"); });
  EXPECT_EQ(e.mark().to_string(), "bad.yaml:2:4");
}

TEST(YamlTree, EmptyDocumentIsNull) {
  EXPECT_TRUE(parse_yaml_tree("", "e.yaml").is_null());
  EXPECT_TRUE(parse_yaml_tree("# only a comment\n", "e.yaml").is_null());
}

TEST(YamlTree, ScalarsSequencesMapsAndNulls) {
  ConfigNode root = parse_yaml_tree("a: x\nb: [1, 2]\nc: {d: e}\nn:\nt: ~\nq: \"null\"\n", "f.yaml");
  EXPECT_TRUE(root.find("a")->is_scalar());
  EXPECT_TRUE(root.find("b")->is_sequence());
  EXPECT_EQ(root.find("b")->items().size(), 2u);
  EXPECT_TRUE(root.find("c")->is_map());
  EXPECT_TRUE(root.find("n")->is_null());
  EXPECT_TRUE(root.find("t")->is_null());
  EXPECT_TRUE(root.find("q")->is_scalar());
  EXPECT_EQ(root.find("q")->value(), "null");
  // Map entries keep file order.
  ASSERT_EQ(root.entries().size(), 6u);
  EXPECT_EQ(root.entries()[0].first, "a");
  EXPECT_EQ(root.entries()[5].first, "q");
}

TEST(YamlTree, DuplicateKeyAtSecondOccurrence) {
  ConfigError e = config_error([] {
    parse_yaml_tree("providers:\n  a:\n    plugin: mock\n  b: {plugin: x}\n  a:\n    plugin: y\n", "dup.yaml");
  });
  EXPECT_STREQ(e.what(), "dup.yaml:5:3: providers.a: duplicate key 'a' (first at line 2)");
  // In a flow map too.
  e = config_error([] { parse_yaml_tree("m: {x: 1, y: 2, x: 3}\n", "dup.yaml"); });
  EXPECT_EQ(e.mark().to_string(), "dup.yaml:1:17");
  EXPECT_EQ(e.detail(), "duplicate key 'x' (first at line 1)");
}

TEST(YamlTree, KeysMustBeScalars) {
  ConfigError e = config_error([] { parse_yaml_tree("? [a, b]\n: 1\n", "k.yaml"); });
  EXPECT_EQ(e.mark().line, 1);
  EXPECT_NE(e.detail().find("keys"), std::string::npos);
}

TEST(YamlTree, EnvSubstitution) {
  EnvGuard a("LLMUX_T_A", "alpha");
  EnvGuard empty("LLMUX_T_EMPTY", "");
  EnvGuard unset("LLMUX_T_UNSET", nullptr);
  EXPECT_EQ(value_of("v: ${LLMUX_T_A}\n"), "alpha");
  EXPECT_EQ(value_of("v: \"pre-${LLMUX_T_A}-post\"\n"), "pre-alpha-post");
  EXPECT_EQ(value_of("v: ${LLMUX_T_A:-x}\n"), "alpha");
  EXPECT_EQ(value_of("v: ${LLMUX_T_UNSET:-x}\n"), "x");
  EXPECT_EQ(value_of("v: ${LLMUX_T_UNSET:-http://h:1/v1}\n"), "http://h:1/v1");
  EXPECT_EQ(value_of("v: ${LLMUX_T_EMPTY:-fallback}\n"), "fallback");
  EXPECT_EQ(value_of("v: \"a${LLMUX_T_UNSET:-}b\"\n"), "ab");
  EXPECT_EQ(value_of("v: cost $$5 and $$${LLMUX_T_A}\n"), "cost $5 and $alpha");
  EXPECT_EQ(value_of("v: $HOME and $ and a$\n"), "$HOME and $ and a$");
  EXPECT_EQ(value_of("v: $${LLMUX_T_A}\n"), "${LLMUX_T_A}");
}

TEST(YamlTree, UnsetVariableIsRecorded) {
  EnvGuard unset("LLMUX_T_UNSET", nullptr);
  EnvGuard unset2("LLMUX_T_UNSET2", nullptr);
  EnvGuard empty("LLMUX_T_EMPTY", "");
  ConfigNode root = parse_yaml_tree(
      "v: ${LLMUX_T_UNSET}\nw: \"${LLMUX_T_UNSET2}/${LLMUX_T_UNSET}/${LLMUX_T_UNSET2}\"\n"
      "x: ${LLMUX_T_UNSET:-d}\ny: ${LLMUX_T_EMPTY}\n",
      "m.yaml");
  EXPECT_EQ(root.find("v")->value(), "");
  EXPECT_EQ(root.find("v")->missing_variables(), (std::vector<std::string>{"LLMUX_T_UNSET"}));
  EXPECT_EQ(root.find("w")->value(), "//");
  EXPECT_EQ(root.find("w")->missing_variables(), (std::vector<std::string>{"LLMUX_T_UNSET2", "LLMUX_T_UNSET"}));
  EXPECT_TRUE(root.find("x")->missing_variables().empty());
  EXPECT_TRUE(root.find("y")->missing_variables().empty());  // set, though empty
  try {
    root.get_secret("v");
    FAIL() << "no NotConfigured";
  } catch (const NotConfigured& e) {
    EXPECT_STREQ(e.what(), "v: environment variable LLMUX_T_UNSET is not set");
  }
}

TEST(YamlTree, KeysAreNotSubstituted) {
  EnvGuard a("LLMUX_T_A", "alpha");
  ConfigNode root = parse_yaml_tree("${LLMUX_T_A}: ${LLMUX_T_A}\n", "k.yaml");
  ASSERT_EQ(root.entries().size(), 1u);
  EXPECT_EQ(root.entries()[0].first, "${LLMUX_T_A}");
  EXPECT_EQ(root.entries()[0].second.value(), "alpha");
}

TEST(YamlTree, MalformedSubstitution) {
  ConfigError e = config_error([] { parse_yaml_tree("a:\n  b: \"x${OPEN\"\n", "s.yaml"); });
  EXPECT_EQ(e.mark().to_string(), "s.yaml:2:3");
  EXPECT_EQ(e.path(), "a.b");
  EXPECT_NE(e.detail().find("unterminated"), std::string::npos) << e.what();
  e = config_error([] { parse_yaml_tree("a: ${}\n", "s.yaml"); });
  EXPECT_NE(e.detail().find("empty variable name"), std::string::npos) << e.what();
  e = config_error([] { parse_yaml_tree("a: ${:-x}\n", "s.yaml"); });
  EXPECT_NE(e.detail().find("empty variable name"), std::string::npos) << e.what();
  e = config_error([] { parse_yaml_tree("a: ${BAD-NAME}\n", "s.yaml"); });
  EXPECT_NE(e.detail().find("invalid variable name 'BAD-NAME'"), std::string::npos) << e.what();
  e = config_error([] { parse_yaml_tree("a: [ok, \"${1X}\"]\n", "s.yaml"); });
  EXPECT_EQ(e.path(), "a[1]");
  EXPECT_EQ(e.mark().to_string(), "s.yaml:1:9");
}

}  // namespace
}  // namespace llmux::host
