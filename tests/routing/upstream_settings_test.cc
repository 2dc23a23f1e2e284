// read_upstream_settings / read_http_timeouts: the transport options the
// upstream plugins share, and UpstreamSettings::apply.
#include <gtest/gtest.h>

#include <string>

#include "config/gateway_config.h"
#include "llmux/upstream_settings.h"
#include "routing/config_test_util.h"

namespace llmux {
namespace {

using test::config_error;
using namespace std::chrono_literals;

ConfigNode tree(const std::string& text) { return host::parse_yaml_tree(text, "t.yaml"); }

TEST(UpstreamSettings, AbsentAndNullKeepTheDefaults) {
  UpstreamSettings defaults;
  defaults.timeouts.connect = 5s;
  defaults.proxy = "http://d:1";
  defaults.verify_tls = false;
  defaults.ca_path = "/d.pem";
  for (const char* text : {"other: 1\n", "proxy: ~\nverify_tls: ~\nca_path: ~\nconnect_timeout: ~\n"}) {
    UpstreamSettings s = read_upstream_settings(tree(text), defaults);
    EXPECT_EQ(s.timeouts.connect, 5s) << text;
    EXPECT_EQ(s.timeouts.first_byte, 60s);
    EXPECT_EQ(s.timeouts.idle, 120s);
    EXPECT_EQ(s.timeouts.total, 0ms);
    EXPECT_EQ(s.proxy, "http://d:1");
    EXPECT_FALSE(s.verify_tls);
    EXPECT_EQ(s.ca_path, "/d.pem");
  }
}

TEST(UpstreamSettings, ReadsEveryKeyAndAppliesThem) {
  UpstreamSettings s = read_upstream_settings(
      tree("connect_timeout: 2s\nfirst_byte_timeout: 250ms\nidle_timeout: 3\ntotal_timeout: 1m\n"
           "proxy: http://p:3128\nverify_tls: false\nca_path: /ca.pem\n"),
      {});
  HttpRequest r;
  s.apply(r);
  EXPECT_EQ(r.timeouts.connect, 2s);
  EXPECT_EQ(r.timeouts.first_byte, 250ms);
  EXPECT_EQ(r.timeouts.idle, 3s);
  EXPECT_EQ(r.timeouts.total, 1min);
  EXPECT_EQ(r.proxy, "http://p:3128");
  EXPECT_FALSE(r.verify_tls);
  EXPECT_EQ(r.ca_path, "/ca.pem");
}

TEST(UpstreamSettings, WrongValuesThrowAtTheirPosition) {
  ConfigError e = config_error([] { read_upstream_settings(tree("a: 1\nproxy: \"http://p :1\"\n"), {}); });
  EXPECT_EQ(e.detail(), "proxy must not contain whitespace");
  EXPECT_EQ(e.mark().line, 2);
  EXPECT_NE(config_error([] { read_upstream_settings(tree("verify_tls: maybe\n"), {}); }).path().find("verify_tls"),
            std::string::npos);
  EXPECT_NE(config_error([] { read_http_timeouts(tree("idle_timeout: -1s\n"), {}); }).detail().find("negative"),
            std::string::npos);
  EXPECT_NE(config_error([] { read_http_timeouts(tree("total_timeout: soon\n"), {}); }).path().find("total_timeout"),
            std::string::npos);
}

TEST(UpstreamSettings, TimeoutsAloneLeaveOtherKeysUnread) {
  HttpTimeouts t = read_http_timeouts(tree("connect_timeout: 1s\nproxy: \"has space\"\n"), HttpTimeouts{});
  EXPECT_EQ(t.connect, 1s);
  EXPECT_EQ(t.first_byte, 60s);
}

}  // namespace
}  // namespace llmux
