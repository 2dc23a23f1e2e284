#include "llmux/upstream_settings.h"

#include <utility>

namespace llmux {

void UpstreamSettings::apply(HttpRequest& request) const {
  request.timeouts = timeouts;
  request.proxy = proxy;
  request.verify_tls = verify_tls;
  request.ca_path = ca_path;
}

HttpTimeouts read_http_timeouts(const ConfigNode& options, HttpTimeouts defaults) {
  HttpTimeouts t = defaults;
  t.connect = options.get_duration("connect_timeout", t.connect);
  t.first_byte = options.get_duration("first_byte_timeout", t.first_byte);
  t.idle = options.get_duration("idle_timeout", t.idle);
  t.total = options.get_duration("total_timeout", t.total);
  return t;
}

UpstreamSettings read_upstream_settings(const ConfigNode& options, UpstreamSettings defaults) {
  UpstreamSettings s = std::move(defaults);
  s.timeouts = read_http_timeouts(options, s.timeouts);
  s.proxy = options.get_string("proxy", std::move(s.proxy));
  if (const ConfigNode* proxy = options.find("proxy");
      proxy != nullptr && !proxy->is_null() && s.proxy.find_first_of(" \t\r\n") != std::string::npos) {
    throw ConfigError(*proxy, "proxy must not contain whitespace");
  }
  s.verify_tls = options.get_bool("verify_tls", s.verify_tls);
  s.ca_path = options.get_string("ca_path", std::move(s.ca_path));
  return s;
}

}  // namespace llmux
