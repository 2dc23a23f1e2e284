#include "observability/observability.h"

namespace llmux::host {

Observability::Observability() : access_log_([this] { metrics_.access_log_dropped(); }) {}

std::shared_ptr<RequestContext> Observability::start_request() {
  metrics_.request_started();
  return std::make_shared<RequestContext>(shared_from_this());
}

void Observability::stream_started(const RequestContext&) { metrics_.stream_started(); }

void Observability::request_finished(const RequestContext& context) {
  metrics_.request_finished(context);
  access_log_.record(context);
}

}  // namespace llmux::host
