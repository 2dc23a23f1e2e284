// The transport options an upstream provider reads from its `options` map and
// puts on every HttpRequest it makes: the four timeouts, a proxy, TLS
// verification and a CA bundle. One reader, so that every plugin spells and
// checks them the same way.
#pragma once

#include <string>

#include "llmux/config.h"
#include "llmux/http.h"

namespace llmux {

struct UpstreamSettings {
  HttpTimeouts timeouts;  // connect 10s, first byte 60s, idle 120s, total off
  std::string proxy;      // empty: the usual environment variables
  bool verify_tls = true;
  std::string ca_path;    // CA bundle file; empty = the system's

  // Copies the settings onto `request` (its timeouts, proxy, verify_tls, ca_path).
  void apply(HttpRequest& request) const;
};

// Reads connect_timeout, first_byte_timeout, idle_timeout and total_timeout
// (durations; absent or null keeps the default). Throws ConfigError at the
// offending value.
HttpTimeouts read_http_timeouts(const ConfigNode& options, HttpTimeouts defaults);

// read_http_timeouts plus proxy (a string without whitespace), verify_tls (a
// boolean) and ca_path (a string). Absent or null keys keep `defaults`; a wrong
// value throws ConfigError with its position. The caller checks the map's keys.
UpstreamSettings read_upstream_settings(const ConfigNode& options, UpstreamSettings defaults);

}  // namespace llmux
