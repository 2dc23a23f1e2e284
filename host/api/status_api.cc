#include "api/status_api.h"

#include <map>

#include "gateway/gateway.h"
#include "llmux/json.h"
#include "routing/route_table.h"

namespace llmux::host {

const char* provider_state(const ProviderSlot& slot, const std::map<std::string, ProviderHealth::Status>& health) {
  if (!slot.ready()) return slot.not_configured ? "not_configured" : "unavailable";
  if (slot.unauthorized()) return "unauthorized";
  auto it = health.find(slot.name);
  if (it != health.end() && it->second.cooling_down) return "cooldown";
  return "up";
}

std::map<std::string, ProviderHealth::Status> health_by_provider(const ProviderHealth& health) {
  std::map<std::string, ProviderHealth::Status> out;
  for (auto& status : health.snapshot()) out.emplace(status.provider, status);
  return out;
}

std::string render_status(Gateway& gateway) {
  auto table = gateway.table();
  auto health = health_by_provider(gateway.health());

  std::string out = R"({"version":)";
  json::append_quoted(out, LLMUX_VERSION);
  out += R"(,"config":)";
  json::append_quoted(out, table->config().source.string());
  out += R"(,"generation":)" + std::to_string(gateway.generation());
  out += R"(,"plugins":[)";
  bool first = true;
  for (const LoadedPlugin* plugin : gateway.plugins().plugins()) {
    out += first ? "" : ",";
    first = false;
    out += R"({"name":)";
    json::append_quoted(out, plugin->name);
    out += R"(,"version":)";
    json::append_quoted(out, plugin->version);
    out += R"(,"file":)";
    json::append_quoted(out, plugin->file.filename().string());
    out += "}";
  }
  out += R"(],"refused_plugin_files":[)";
  first = true;
  for (const auto& failure : gateway.plugins().failures()) {
    out += first ? "" : ",";
    first = false;
    out += R"({"file":)";
    json::append_quoted(out, failure.file.string());
    out += R"(,"reason":)";
    json::append_quoted(out, failure.reason);
    out += "}";
  }
  out += R"(],"providers":[)";
  first = true;
  for (const auto& slot : table->slots()) {
    out += first ? "" : ",";
    first = false;
    out += R"({"name":)";
    json::append_quoted(out, slot.name);
    out += R"(,"plugin":)";
    json::append_quoted(out, slot.plugin);
    out += R"(,"state":)";
    json::append_quoted(out, slot.state);
    if (slot.ready()) {
      ProviderCondition condition = slot.provider->condition();
      out += R"(,"condition":)";
      json::append_quoted(out, condition.state == ProviderCondition::State::Up ? "up" : "unauthorized");
      if (!condition.reason.empty()) {
        out += R"(,"condition_reason":)";
        json::append_quoted(out, condition.reason);
      }
    }
    auto h = health.find(slot.name);
    out += R"(,"health":)";
    json::append_quoted(out, h == health.end() ? "healthy" : h->second.state);
    if (h != health.end()) {
      out += R"(,"consecutive_failures":)" + std::to_string(h->second.consecutive_failures);
      out += R"(,"last_error":)";
      json::append_quoted(out, h->second.last_error);
    }
    out += "}";
  }
  out += R"(],"routes":[)";
  first = true;
  auto chain = [&](const std::vector<ChainStep>& steps) {
    std::string text = "[";
    for (std::size_t i = 0; i < steps.size(); ++i) {
      text += i ? "," : "";
      json::append_quoted(text, steps[i].provider);
    }
    return text + "]";
  };
  for (const auto& route : table->config().routes) {
    out += first ? "" : ",";
    first = false;
    out += R"({"pattern":)";
    json::append_quoted(out, route.pattern);
    out += R"(,"chain":)" + chain(route.chain) + "}";
  }
  out += "]";
  if (!table->config().default_chain.empty()) out += R"(,"default":)" + chain(table->config().default_chain);
  out += "}";
  return out;
}

std::string render_credentials(const RouteTable& table) {
  std::string out = R"({"providers":[)";
  bool first = true;
  for (const ProviderSlot& slot : table.slots()) {
    if (!slot.provider) continue;
    std::string report = slot.provider->credentials_report();
    if (report.empty()) continue;
    out += first ? "" : ",";
    first = false;
    out += R"({"provider":)";
    json::append_quoted(out, slot.name);
    out += R"(,"plugin":)";
    json::append_quoted(out, slot.plugin);
    out += R"(,"tokens":)";
    out += report;
    out += "}";
  }
  out += "]}";
  return out;
}

}  // namespace llmux::host
