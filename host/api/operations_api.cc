// The operator's endpoints: GET /healthz, GET / (name and status), GET
// /status, GET /api/tokens and GET /metrics.
#include <strings.h>

#include <cstdlib>

#include "api/registrations.h"
#include "api/status_api.h"
#include "gateway/gateway.h"
#include "llmux/json.h"
#include "llmux/plugin_abi.h"
#include "observability/metrics.h"
#include "routing/route_table.h"

namespace llmux::host {
namespace {

// The q-value an Accept header gives `type` ("text/html"): its own entry,
// else "text/*", else "*/*", else 0 (RFC 9110 12.5.1, most specific wins).
double accept_quality(std::string_view accept, std::string_view type) {
  const std::string_view family = type.substr(0, type.find('/'));
  double exact = -1, partial = -1, any = -1;
  while (!accept.empty()) {
    auto comma = accept.find(',');
    std::string_view item = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    auto semi = item.find(';');
    std::string_view range = item.substr(0, semi);
    auto trim = [](std::string_view v) {
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    };
    range = trim(range);
    double q = 1;
    if (semi != std::string_view::npos) {
      std::string_view params = item.substr(semi + 1);
      auto at = params.find("q=");
      if (at != std::string_view::npos) q = std::strtod(std::string(trim(params.substr(at + 2))).c_str(), nullptr);
    }
    if (range.size() == type.size() && strncasecmp(range.data(), type.data(), type.size()) == 0) {
      exact = q;
    } else if (range.size() == family.size() + 2 && strncasecmp(range.data(), family.data(), family.size()) == 0 &&
               range.substr(family.size()) == "/*") {
      partial = q;
    } else if (range == "*/*") {
      any = q;
    }
  }
  return exact >= 0 ? exact : partial >= 0 ? partial : any >= 0 ? any : 0;
}

class HealthApi final : public InboundApi {
 public:
  std::string_view name() const override { return "health"; }
  bool traffic() const override { return false; }  // an operator's call
  std::vector<std::string> paths() const override { return {"/healthz"}; }
  std::string_view method() const override { return "GET"; }
  Access access() const override { return Access::Open; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    call.respond(200, "application/json", R"({"status":"ok"})");
    return nullptr;
  }
};

class RootApi final : public InboundApi {
 public:
  std::string_view name() const override { return "root"; }
  bool traffic() const override { return false; }  // an operator's call
  std::vector<std::string> paths() const override { return {"/"}; }
  std::string_view method() const override { return "GET"; }
  Access access() const override { return Access::Open; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    // A browser goes to the panel; scripts (no Accept, */*, JSON) keep the JSON.
    auto accept = call.request.header("Accept");
    if (accept && accept_quality(*accept, "text/html") > accept_quality(*accept, "application/json")) {
      call.respond(302, "text/plain", "", "Location: /ui/\r\n");
      return nullptr;
    }
    call.respond(200, "application/json", R"({"name":"llmux","status":"ok"})");
    return nullptr;
  }
};

class StatusApi final : public InboundApi {
 public:
  std::string_view name() const override { return "status"; }
  bool traffic() const override { return false; }  // an operator's call
  std::vector<std::string> paths() const override { return {"/status"}; }
  std::string_view method() const override { return "GET"; }
  Access access() const override { return Access::Admin; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    call.respond(200, "application/json", render_status(call.gateway));
    return nullptr;
  }
};

class TokensApi final : public InboundApi {
 public:
  std::string_view name() const override { return "tokens"; }
  bool traffic() const override { return false; }  // an operator's call
  std::vector<std::string> paths() const override { return {"/api/tokens"}; }
  std::string_view method() const override { return "GET"; }
  Access access() const override { return Access::Admin; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    call.respond(200, "application/json", render_credentials(*call.table));
    return nullptr;
  }
};

class MetricsApi final : public InboundApi {
 public:
  std::string_view name() const override { return "metrics"; }
  bool traffic() const override { return false; }  // an operator's call
  std::vector<std::string> paths() const override { return {"/metrics"}; }
  std::string_view method() const override { return "GET"; }
  Access access() const override { return Access::Admin; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    if (!call.table->config().metrics.enabled) {
      call.fail(Error::make(404, "invalid_request_error", "Metrics are off (metrics.enabled in providers.yaml).",
                            "unknown_url"));
      return nullptr;
    }
    std::vector<prometheus::MetricFamily> extra;
    auto health = health_by_provider(call.gateway.health());

    static constexpr const char* kStates[] = {"up", "cooldown", "unauthorized", "not_configured", "unavailable"};
    auto states = gauge_family("llmux_provider_state", "1 for the state each provider is in now, else 0");
    auto pool = gauge_family("llmux_pool_credentials", "Credentials of token pools (claude) by state");
    for (const ProviderSlot& slot : call.table->slots()) {
      const char* now = provider_state(slot, health);
      for (const char* state : kStates) {
        add_gauge(states, {{"provider", slot.name}, {"state", state}}, std::string_view(state) == now ? 1 : 0);
      }
      if (!slot.ready()) continue;
      std::string report = slot.provider->credentials_report();
      if (report.empty()) continue;
      rapidjson::Document doc;
      doc.Parse(report.c_str(), report.size());
      if (!doc.IsArray()) continue;
      std::map<std::string, int> by_state = {
          {"active", 0}, {"cooldown", 0}, {"refreshing", 0}, {"expired", 0}, {"disabled", 0}};
      for (const auto& entry : doc.GetArray()) {
        if (!entry.IsObject()) continue;
        auto state = entry.FindMember("state");
        if (state == entry.MemberEnd() || !state->value.IsString()) continue;
        auto it = by_state.find(state->value.GetString());
        if (it != by_state.end()) ++it->second;  // known states only: the label stays bounded
      }
      for (const auto& [state, count] : by_state) {
        add_gauge(pool, {{"provider", slot.name}, {"state", state}}, count);
      }
    }
    extra.push_back(std::move(states));
    if (!pool.metric.empty()) extra.push_back(std::move(pool));
    auto info = gauge_family("llmux_build_info", "llmux version and plugin ABI (always 1)");
    add_gauge(info, {{"version", LLMUX_VERSION}, {"abi", std::to_string(LLMUX_ABI_VERSION)}}, 1);
    extra.push_back(std::move(info));
    auto generation = gauge_family("llmux_config_generation", "Routing tables built so far (1 after the first load)");
    add_gauge(generation, {}, static_cast<double>(call.gateway.generation()));
    extra.push_back(std::move(generation));
    Metrics::append_process_metrics(extra);
    call.respond(200, "text/plain; version=0.0.4; charset=utf-8", call.gateway.observability().metrics().render(extra));
    return nullptr;
  }
};

}  // namespace

std::unique_ptr<InboundApi> make_health_api() { return std::make_unique<HealthApi>(); }
std::unique_ptr<InboundApi> make_root_api() { return std::make_unique<RootApi>(); }
std::unique_ptr<InboundApi> make_status_api() { return std::make_unique<StatusApi>(); }
std::unique_ptr<InboundApi> make_tokens_api() { return std::make_unique<TokensApi>(); }
std::unique_ptr<InboundApi> make_metrics_api() { return std::make_unique<MetricsApi>(); }

}  // namespace llmux::host
