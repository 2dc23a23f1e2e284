// The operator's view of the gateway: metrics and the access log, fed by the
// request context of every request. One per Gateway; it outlives reloads.
#pragma once

#include <atomic>
#include <memory>

#include "observability/access_log.h"
#include "observability/metrics.h"
#include "observability/request_context.h"

namespace llmux::host {

class Observability final : public RequestObserver, public std::enable_shared_from_this<Observability> {
 public:
  Observability();

  // A new request's context, counted in llmux_active_requests until it ends.
  std::shared_ptr<RequestContext> start_request();

  Metrics& metrics() { return metrics_; }
  // `metrics.enabled` of the current config: off, new requests are not recorded.
  void set_metrics_enabled(bool enabled) { metrics_enabled_.store(enabled, std::memory_order_relaxed); }
  AccessLog& access_log() { return access_log_; }

  void stream_started(const RequestContext& context) override;
  void request_finished(const RequestContext& context) override;

 private:
  Metrics metrics_;
  AccessLog access_log_;
  std::atomic<bool> metrics_enabled_{true};
};

}  // namespace llmux::host
