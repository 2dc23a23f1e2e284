// GET /routes, GET /routes/resolve, GET /providers, POST /providers/{name}/reset,
// GET /plugins: the routing table and the providers as the gateway runs them.
#include <cstdio>

#include "admin/admin_api.h"
#include "admin/config_editor.h"
#include "api/status_api.h"
#include "gateway/gateway.h"
#include "llmux/json.h"
#include "llmux/plugin_abi.h"
#include "routing/route_table.h"

namespace llmux::host {
namespace {

void append_step(std::string& out, const ChainStep& step) {
  out += R"({"provider":)";
  json::append_quoted(out, step.provider);
  out += R"(,"model":)";
  if (step.upstream_model.empty()) {
    out += "null";
  } else {
    json::append_quoted(out, step.upstream_model);
  }
  out += "}";
}

void append_chain(std::string& out, const std::vector<ChainStep>& chain) {
  out += "[";
  for (std::size_t i = 0; i < chain.size(); ++i) {
    if (i) out += ",";
    append_step(out, chain[i]);
  }
  out += "]";
}

std::shared_ptr<Exchange> routes(ApiCall& call) {
  const GatewayConfig& config = call.table->config();
  std::string out = R"({"routes":[)";
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const RouteDecl& route = config.routes[i];
    if (i) out += ",";
    out += R"({"pattern":)";
    json::append_quoted(out, route.pattern);
    out += R"(,"chain":)";
    append_chain(out, route.chain);
    out += R"(,"models":[)";
    for (std::size_t m = 0; m < route.models.size(); ++m) {
      if (m) out += ",";
      json::append_quoted(out, route.models[m]);
    }
    out += R"(],"line":)" + std::to_string(route.mark.line) + "}";
  }
  out += R"(],"aliases":[)";
  for (std::size_t i = 0; i < config.aliases.size(); ++i) {
    if (i) out += ",";
    out += R"({"name":)";
    json::append_quoted(out, config.aliases[i].name);
    out += R"(,"target":)";
    json::append_quoted(out, config.aliases[i].target);
    out += "}";
  }
  out += R"(],"default":)";
  append_chain(out, config.default_chain);
  out += "}";
  admin::reply_json(call, 200, out);
  return nullptr;
}

// Why a provider is in the state it is in ("" when up).
std::string state_reason(const ProviderSlot& slot, const std::map<std::string, ProviderHealth::Status>& health) {
  if (auto reason = slot.unusable_reason()) return *reason;
  auto it = health.find(slot.name);
  if (it != health.end() && it->second.cooling_down) return it->second.state;
  return {};
}

std::shared_ptr<Exchange> resolve(ApiCall& call) {
  auto model = call.request.query("model");
  if (!model || model->empty()) {
    admin::reply_error(call, 400, "invalid_request", "Give the model to resolve: ?model=<name>.");
    return nullptr;
  }
  auto resolution = call.table->resolve(*model);
  if (!resolution) {
    admin::reply_error(call, 404, "model_not_found", "No route, alias or default chain serves this model.");
    return nullptr;
  }
  auto health = health_by_provider(call.gateway.health());
  std::string out = R"({"model":)";
  json::append_quoted(out, resolution->requested);
  out += R"(,"resolved":)";
  json::append_quoted(out, resolution->resolved);
  out += R"(,"aliases":[)";
  json::append_quoted(out, resolution->requested);
  if (resolution->resolved != resolution->requested) {
    out += ",";
    json::append_quoted(out, resolution->resolved);
  }
  out += R"(],"route":)";
  json::append_quoted(out, resolution->matched_route);
  out += R"(,"chain":[)";
  bool first = true;
  for (const ResolvedStep& step : resolution->chain) {
    if (!first) out += ",";
    first = false;
    out += R"({"provider":)";
    json::append_quoted(out, step.slot->name);
    out += R"(,"plugin":)";
    json::append_quoted(out, step.slot->plugin);
    out += R"(,"model":)";
    json::append_quoted(out, step.upstream_model);
    out += R"(,"state":)";
    json::append_quoted(out, provider_state(*step.slot, health));
    out += R"(,"reason":)";
    json::append_quoted(out, state_reason(*step.slot, health));
    out += "}";
  }
  out += "]}";
  admin::reply_json(call, 200, out);
  return nullptr;
}

// "…wxyz": enough to tell keys apart, never enough to use one. Short
// secrets show nothing of themselves.
std::string redacted(const std::string& secret) {
  if (secret.size() < 16) return "\u2026";
  return "\u2026" + secret.substr(secret.size() - 4);
}

void collect_keys(const ConfigNode& node, bool secret, std::vector<std::string>& out) {
  if (out.size() >= 32) return;
  if (node.is_scalar()) {
    if (secret && !node.value().empty()) out.push_back(redacted(node.value()));
  } else if (node.is_sequence()) {
    for (const ConfigNode& item : node.items()) collect_keys(item, secret, out);
  } else if (node.is_map()) {
    // The config editor's rule of what is a secret, so /providers and /config agree.
    for (const auto& [name, child] : node.entries()) {
      collect_keys(child, secret || is_secret_config_key(name) || name == "headers", out);
    }
  }
}

void append_provider(std::string& out, const ProviderSlot& slot, const RouteTable& table, const ProviderHealth& health,
                     const std::map<std::string, ProviderHealth::Status>& troubled) {
  const ProviderHealth::Status status = health.status(slot.name);
  out += R"({"name":)";
  json::append_quoted(out, slot.name);
  out += R"(,"plugin":)";
  json::append_quoted(out, slot.plugin);
  out += R"(,"state":)";
  json::append_quoted(out, provider_state(slot, troubled));
  out += R"(,"reason":)";
  json::append_quoted(out, state_reason(slot, troubled));
  out += R"(,"cooldown_until":)";
  if (status.cooling_down && status.cooldown_until) {
    json::append_quoted(out, admin::rfc3339(*status.cooldown_until));
  } else {
    out += "null";
  }
  out += R"(,"consecutive_failures":)" + std::to_string(status.consecutive_failures);
  out += R"(,"last_error":)";
  if (!status.last_error.empty()) {
    json::append_quoted(out, status.last_error);
  } else {
    out += "null";
  }
  out += R"(,"recent_errors":[)";
  for (std::size_t i = 0; i < status.recent_errors.size(); ++i) {
    // Newest first, as the panel lists them.
    const auto& error = status.recent_errors[status.recent_errors.size() - 1 - i];
    if (i) out += ",";
    out += R"({"at":)";
    json::append_quoted(out, admin::rfc3339(error.at));
    out += R"(,"status":)" + std::to_string(error.status) + R"(,"message":)";
    json::append_quoted(out, error.message);
    out += "}";
  }
  out += R"(],"attempts":)" + std::to_string(status.attempts) + R"(,"failures":)" + std::to_string(status.failures);
  out += R"(,"latency_p50_ms":)";
  if (status.latency_p50) {
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.3f", static_cast<double>(status.latency_p50->count()) / 1000.0);
    out += ms;
  } else {
    out += "null";
  }
  std::vector<std::string> keys;
  for (const ProviderDecl& decl : table.config().providers) {
    if (decl.name == slot.name) collect_keys(decl.options, false, keys);
  }
  out += R"(,"keys":[)";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i) out += ",";
    json::append_quoted(out, keys[i]);
  }
  out += "]}";
}

std::shared_ptr<Exchange> providers(ApiCall& call) {
  auto health = health_by_provider(call.gateway.health());
  std::string out = R"({"providers":[)";
  bool first = true;
  for (const ProviderSlot& slot : call.table->slots()) {
    if (!first) out += ",";
    first = false;
    append_provider(out, slot, *call.table, call.gateway.health(), health);
  }
  out += "]}";
  admin::reply_json(call, 200, out);
  return nullptr;
}

std::shared_ptr<Exchange> reset_provider(ApiCall& call) {
  const std::string name = admin::path_segment(call.request.path(), 1);
  const ProviderSlot* slot = call.table->find_slot(name);
  if (!slot) {
    admin::reply_error(call, 404, "not_found", "No provider by that name in the current config.");
    return nullptr;
  }
  call.gateway.health().reset(name);
  auto health = health_by_provider(call.gateway.health());
  std::string out;
  append_provider(out, *slot, *call.table, call.gateway.health(), health);
  admin::reply_json(call, 200, out);
  return nullptr;
}

std::shared_ptr<Exchange> plugins(ApiCall& call) {
  std::string out = R"({"abi":)" + std::to_string(LLMUX_ABI_VERSION) + R"(,"plugins":[)";
  bool first = true;
  for (const LoadedPlugin* plugin : call.gateway.plugins().plugins()) {
    if (!first) out += ",";
    first = false;
    out += R"({"name":)";
    json::append_quoted(out, plugin->name);
    out += R"(,"version":)";
    json::append_quoted(out, plugin->version);
    out += R"(,"file":)";
    json::append_quoted(out, plugin->file.string());
    // A plugin is loaded only when its ABI is the host's (else it is refused).
    out += R"(,"abi":)" + std::to_string(LLMUX_ABI_VERSION) + "}";
  }
  out += R"(],"refused":[)";
  first = true;
  for (const auto& failure : call.gateway.plugins().failures()) {
    if (!first) out += ",";
    first = false;
    out += R"({"file":)";
    json::append_quoted(out, failure.file.string());
    out += R"(,"reason":)";
    json::append_quoted(out, failure.reason);
    out += "}";
  }
  out += "]}";
  admin::reply_json(call, 200, out);
  return nullptr;
}

}  // namespace

void add_gateway_apis(std::vector<std::unique_ptr<InboundApi>>& apis) {
  apis.push_back(std::make_unique<AdminEndpoint>("admin.routes", "GET", "/routes", routes));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.resolve", "GET", "/routes/resolve", resolve));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.providers", "GET", "/providers", providers));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.provider_reset", "POST", "/providers/{id}/reset",
                                                 reset_provider));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.plugins", "GET", "/plugins", plugins));
}

}  // namespace llmux::host
