#include "observability/observability.h"

namespace llmux::host {

Observability::Observability(const Clock* clock)
    : access_log_([this] { metrics_.access_log_dropped(); }), history_(clock) {}

std::shared_ptr<RequestContext> Observability::start_request() {
  auto context = std::make_shared<RequestContext>(shared_from_this());
  requests_started_.fetch_add(1, std::memory_order_relaxed);
  // Decided once per request, so the gauges stay balanced across a reload that toggles it.
  context->metered = metrics_enabled_.load(std::memory_order_relaxed);
  if (context->metered) metrics_.request_started();
  return context;
}

void Observability::stream_started(const RequestContext& context) {
  if (context.metered) metrics_.stream_started();
  if (context.traffic) history_.stream_started(context);
}

void Observability::request_finished(const RequestContext& context) {
  if (context.metered) metrics_.request_finished(context);
  access_log_.record(context);
  if (context.traffic) history_.record(context);
}

}  // namespace llmux::host
