#include "observability/observability.h"

#include <string_view>

namespace llmux::host {
namespace {

// The panel's own calls, its assets and the operators' endpoints are not
// traffic: a live log that showed them would mostly show itself (and every
// Prometheus scrape).
bool operator_call(std::string_view api) {
  return api.substr(0, 6) == "admin." || api.substr(0, 6) == "panel." || api == "health" || api == "root" ||
         api == "status" || api == "tokens" || api == "metrics";
}

}  // namespace

Observability::Observability(const Clock* clock)
    : access_log_([this] { metrics_.access_log_dropped(); }), history_(clock) {}

std::shared_ptr<RequestContext> Observability::start_request() {
  auto context = std::make_shared<RequestContext>(shared_from_this());
  // Decided once per request, so the gauges stay balanced across a reload that toggles it.
  context->metered = metrics_enabled_.load(std::memory_order_relaxed);
  if (context->metered) metrics_.request_started();
  return context;
}

void Observability::stream_started(const RequestContext& context) {
  if (context.metered) metrics_.stream_started();
  if (!operator_call(context.api)) history_.stream_started(context);
}

void Observability::request_finished(const RequestContext& context) {
  if (context.metered) metrics_.request_finished(context);
  access_log_.record(context);
  if (!operator_call(context.api)) history_.record(context);
}

}  // namespace llmux::host
