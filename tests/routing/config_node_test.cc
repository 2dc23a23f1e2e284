// ConfigNode: typed getters, errors with positions and paths, secrets, check_keys.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "config/gateway_config.h"
#include "llmux/config.h"
#include "routing/config_test_util.h"

namespace llmux {
namespace {

using test::config_error;
using test::EnvGuard;

using namespace std::chrono_literals;

// Parses `text` into a tree (the host's YAML loader is the usual builder).
ConfigNode tree(const std::string& text) { return host::parse_yaml_tree(text, "t.yaml"); }

TEST(SourceMark, ToString) {
  EXPECT_EQ((SourceMark{"p.yaml", 12, 7}).to_string(), "p.yaml:12:7");
  EXPECT_EQ((SourceMark{"p.yaml", 0, 0}).to_string(), "p.yaml");
}

TEST(ConfigError, WhatAndDetail) {
  ConfigError e(SourceMark{"p.yaml", 12, 7}, "providers.openai.options.timeout", "bad");
  EXPECT_STREQ(e.what(), "p.yaml:12:7: providers.openai.options.timeout: bad");
  EXPECT_EQ(e.detail(), "bad");
  EXPECT_EQ(e.path(), "providers.openai.options.timeout");
  EXPECT_EQ(e.mark().line, 12);
  ConfigError no_path(SourceMark{"p.yaml", 3, 1}, "", "oops");
  EXPECT_STREQ(no_path.what(), "p.yaml:3:1: oops");
}

TEST(ConfigError, FromNode) {
  ConfigNode node = ConfigNode::scalar("x", SourceMark{"f", 2, 5}, "a.b");
  ConfigError e(node, "wrong");
  EXPECT_STREQ(e.what(), "f:2:5: a.b: wrong");
}

TEST(ConfigNode, PathsAndMarks) {
  ConfigNode root = tree("a:\n  b: 1\n  c: [x, y]\nd:\n  - e: 2\n");
  ASSERT_TRUE(root.is_map());
  EXPECT_EQ(root.path(), "");
  const ConfigNode* a = root.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->path(), "a");
  EXPECT_EQ(a->find("b")->path(), "a.b");
  EXPECT_EQ(a->find("b")->mark().to_string(), "t.yaml:2:3");
  EXPECT_EQ(a->find("c")->items()[1].path(), "a.c[1]");
  EXPECT_EQ(a->find("c")->items()[1].mark().to_string(), "t.yaml:3:10");
  EXPECT_EQ(root.find("d")->items()[0].find("e")->path(), "d[0].e");
  EXPECT_EQ(root.find("zzz"), nullptr);
  EXPECT_EQ(a->find("b")->find("x"), nullptr);  // not a map
}

TEST(ConfigNode, BuildingByHandAssignsPaths) {
  SourceMark m{"h", 1, 1};
  ConfigNode options = ConfigNode::map(m, "");
  options.insert("timeout", ConfigNode::scalar("5s", m, ""));
  ConfigNode list = ConfigNode::sequence(m, "");
  list.push_back(ConfigNode::scalar("a", m, ""));
  options.insert("list", std::move(list));
  ConfigNode root = ConfigNode::map(m, "");
  root.insert("options", std::move(options));
  const ConfigNode* opts = root.find("options");
  EXPECT_EQ(opts->path(), "options");
  EXPECT_EQ(opts->find("timeout")->path(), "options.timeout");
  EXPECT_EQ(opts->find("list")->items()[0].path(), "options.list[0]");
  // An explicit path is kept.
  ConfigNode other = ConfigNode::map(m, "x");
  other.insert("k", ConfigNode::scalar("v", m, "custom"));
  EXPECT_EQ(other.find("k")->path(), "custom");
  EXPECT_EQ(other.entries().size(), 1u);
}

TEST(ConfigNode, GetString) {
  ConfigNode root = tree("s: hello\nn: 12\nempty:\nm: {a: 1}\n");
  EXPECT_EQ(root.get_string("s"), "hello");
  EXPECT_EQ(root.get_string("n"), "12");
  EXPECT_EQ(root.get_string("absent", "fb"), "fb");
  EXPECT_EQ(root.get_string("empty", "fb"), "fb");
  ConfigError e = config_error([&] { root.get_string("m"); });
  EXPECT_STREQ(e.what(), "t.yaml:4:1: m: expected a string, got a map");
}

TEST(ConfigNode, GetInt) {
  ConfigNode root = tree(
      "a: 42\nb: -7\nc: +3\nd: 0\ne: abc\nf: 0123\ng: 99999999999999999999\nh: 1.5\ni: 32k\nj: -0\n");
  EXPECT_EQ(root.get_int("a", 0), 42);
  EXPECT_EQ(root.get_int("b", 0), -7);
  EXPECT_EQ(root.get_int("c", 0), 3);
  EXPECT_EQ(root.get_int("d", 5), 0);
  EXPECT_EQ(root.get_int("j", 5), 0);
  EXPECT_EQ(root.get_int("absent", 5), 5);
  ConfigError e = config_error([&] { root.get_int("e", 0); });
  EXPECT_STREQ(e.what(), "t.yaml:5:1: e: expected an integer, got 'abc'");
  EXPECT_EQ(e.detail(), "expected an integer, got 'abc'");
  e = config_error([&] { root.get_int("f", 0); });
  EXPECT_NE(e.detail().find("leading zeros"), std::string::npos) << e.what();
  e = config_error([&] { root.get_int("g", 0); });
  EXPECT_NE(e.detail().find("out of range"), std::string::npos) << e.what();
  EXPECT_THROW(root.get_int("h", 0), ConfigError);
  EXPECT_THROW(root.get_int("i", 0), ConfigError);
}

TEST(ConfigNode, GetDouble) {
  ConfigNode root = tree("a: 0.25\nb: 3\nc: -1e3\nd: nope\ne: .inf\nf: 1e999\n");
  EXPECT_DOUBLE_EQ(root.get_double("a", 0), 0.25);
  EXPECT_DOUBLE_EQ(root.get_double("b", 0), 3);
  EXPECT_DOUBLE_EQ(root.get_double("c", 0), -1000);
  EXPECT_DOUBLE_EQ(root.get_double("absent", 1.5), 1.5);
  EXPECT_EQ(config_error([&] { root.get_double("d", 0); }).detail(), "expected a number, got 'nope'");
  EXPECT_THROW(root.get_double("e", 0), ConfigError);
  EXPECT_THROW(root.get_double("f", 0), ConfigError);
}

TEST(ConfigNode, GetBoolAcceptsOnlyTrueFalse) {
  ConfigNode root = tree("a: true\nb: false\nc: yes\nd: off\ne: 1\nf: True\n");
  EXPECT_TRUE(root.get_bool("a", false));
  EXPECT_FALSE(root.get_bool("b", true));
  EXPECT_TRUE(root.get_bool("absent", true));
  ConfigError e = config_error([&] { root.get_bool("c", false); });
  EXPECT_EQ(e.mark().to_string(), "t.yaml:3:1");
  EXPECT_EQ(e.path(), "c");
  EXPECT_NE(e.detail().find("expected true or false, got 'yes'"), std::string::npos) << e.what();
  EXPECT_NE(e.detail().find("yes/no/on/off"), std::string::npos) << e.what();
  EXPECT_THROW(root.get_bool("d", false), ConfigError);
  EXPECT_EQ(config_error([&] { root.get_bool("e", false); }).detail(), "expected true or false, got '1'");
  EXPECT_THROW(root.get_bool("f", false), ConfigError);
}

TEST(ConfigNode, GetDuration) {
  ConfigNode root = tree(
      "a: 250ms\nb: 30s\nc: 5m\nd: 1h\ne: 10\nf: 0.5\ng: 1.5s\nh: -5s\ni: 5 days\nj: ms\nk: 0\n");
  EXPECT_EQ(root.get_duration("a", 0ms), 250ms);
  EXPECT_EQ(root.get_duration("b", 0ms), 30s);
  EXPECT_EQ(root.get_duration("c", 0ms), 5min);
  EXPECT_EQ(root.get_duration("d", 0ms), 1h);
  EXPECT_EQ(root.get_duration("e", 0ms), 10s);
  EXPECT_EQ(root.get_duration("f", 0ms), 500ms);
  EXPECT_EQ(root.get_duration("g", 0ms), 1500ms);
  EXPECT_EQ(root.get_duration("k", 7ms), 0ms);
  EXPECT_EQ(root.get_duration("absent", 7ms), 7ms);
  EXPECT_NE(config_error([&] { root.get_duration("h", 0ms); }).detail().find("negative"), std::string::npos);
  EXPECT_THROW(root.get_duration("i", 0ms), ConfigError);
  EXPECT_THROW(root.get_duration("j", 0ms), ConfigError);
}

TEST(ConfigNode, GetStringList) {
  ConfigNode root = tree("one: a\nmany: [a, b]\nbad: [a, [b]]\nmap: {a: 1}\n");
  EXPECT_EQ(root.get_string_list("one"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(root.get_string_list("many"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(root.get_string_list("absent").empty());
  ConfigError e = config_error([&] { root.get_string_list("bad"); });
  EXPECT_EQ(e.path(), "bad[1]");
  EXPECT_EQ(e.mark().to_string(), "t.yaml:3:10");
  EXPECT_THROW(root.get_string_list("map"), ConfigError);
}

TEST(ConfigNode, RequireString) {
  ConfigNode root = tree("p:\n  a: x\n  n:\n");
  const ConfigNode& p = *root.find("p");
  EXPECT_EQ(p.require_string("a"), "x");
  ConfigError e = config_error([&] { p.require_string("plugin"); });
  EXPECT_STREQ(e.what(), "t.yaml:1:1: p: missing required key 'plugin'");
  e = config_error([&] { p.require_string("n"); });
  EXPECT_EQ(e.path(), "p.n");
  EXPECT_EQ(e.mark().line, 3);
}

TEST(ConfigNode, CheckKeys) {
  ConfigNode root = tree("opts:\n  base_url: x\n  tiemout: 5\n");
  const ConfigNode& opts = *root.find("opts");
  EXPECT_NO_THROW(opts.check_keys({"base_url", "tiemout"}));
  ConfigError e = config_error([&] { opts.check_keys({"base_url", "timeout", "api_key"}); });
  EXPECT_EQ(e.mark().to_string(), "t.yaml:3:3");
  EXPECT_EQ(e.path(), "opts.tiemout");
  EXPECT_EQ(e.detail(), "unknown key 'tiemout'; did you mean 'timeout'? known keys: base_url, timeout, api_key");
  // No suggestion when nothing is close.
  e = config_error([&] { opts.check_keys({"base_url", "zzzzzz"}); });
  EXPECT_EQ(e.detail(), "unknown key 'tiemout'; known keys: base_url, zzzzzz");
  // A null node has no keys; a scalar is not a map.
  EXPECT_NO_THROW(ConfigNode().check_keys({"a"}));
  EXPECT_THROW(opts.find("base_url")->check_keys({"a"}), ConfigError);
}

TEST(ConfigNode, GetSecret) {
  EnvGuard set("LLMUX_T_SECRET_SET", "s3cret");
  EnvGuard unset("LLMUX_T_SECRET_UNSET", nullptr);
  ConfigNode root = tree(
      "p:\n  options:\n    a: ${LLMUX_T_SECRET_SET}\n    b: ${LLMUX_T_SECRET_UNSET}\n    c: \"\"\n"
      "    d: literal\n");
  const ConfigNode& opts = *root.find("p")->find("options");
  EXPECT_EQ(opts.get_secret("a"), "s3cret");
  EXPECT_EQ(opts.get_secret("d"), "literal");
  EXPECT_EQ(opts.get_secret("absent"), std::nullopt);
  try {
    opts.get_secret("b");
    FAIL() << "no NotConfigured";
  } catch (const NotConfigured& e) {
    EXPECT_STREQ(e.what(), "p.options.b: environment variable LLMUX_T_SECRET_UNSET is not set");
  }
  try {
    opts.get_secret("c");
    FAIL() << "no NotConfigured";
  } catch (const NotConfigured& e) {
    EXPECT_STREQ(e.what(), "p.options.c is empty");
  }
}

}  // namespace
}  // namespace llmux
