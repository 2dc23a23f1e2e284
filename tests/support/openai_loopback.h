// The openai plugin (and g4f, its keyless sibling) in process
// (support/plugin_harness.h) over real loopback sockets: the host's HTTP
// engine carries a provider's requests to a FakeUpstream.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_engine.h"
#include "support/fake_upstream.h"
#include "support/plugin_harness.h"

namespace llmux::test {

inline Plugin& openai_plugin() { return loaded_plugin("llmux-openai.so"); }
inline Plugin& g4f_plugin() { return loaded_plugin("llmux-g4f.so"); }

// A provider of `plugin` serving `models` (a YAML list) on `upstream`, its
// requests sent by the host's engine, its clock in the test's hands; the
// openai plugin is given `key`, and `options` (YAML lines) follow.
struct Loopback {
  host::HttpEngine engine;  // first: outlives the provider's transfers
  FakeHost host;
  std::shared_ptr<Provider> provider;

  Loopback(const FakeUpstream& upstream, std::string_view key, std::string_view models, const std::string& options,
           Plugin& plugin) {
    host.send_through(engine);
    std::string keyed = &plugin == &openai_plugin() ? "api_key: " + std::string(key) + "\n" : "";
    provider = create(plugin, keyed + "models: " + std::string(models) + "\nbase_url: " + upstream.url("/v1") + "\n" +
                                  options,
                      host);
  }
  ~Loopback() { provider.reset(); }

  // Runs one call to its end.
  std::shared_ptr<FakeCall> call(ChatRequest request) {
    auto call = std::make_shared<FakeCall>(std::move(request));
    provider->chat(call);
    EXPECT_TRUE(call->wait_for_end()) << "no terminal event";
    return call;
  }
};

inline std::vector<Event::Kind> kinds(const std::vector<Event>& events) {
  std::vector<Event::Kind> out;
  for (const auto& e : events) out.push_back(e.kind);
  return out;
}

}  // namespace llmux::test
