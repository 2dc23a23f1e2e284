// The operator's view of the gateway: metrics, the access log and the panel's
// request history, fed by the request context of every request. One per
// Gateway; it outlives reloads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "observability/access_log.h"
#include "observability/metrics.h"
#include "observability/request_context.h"
#include "observability/request_history.h"

namespace llmux::host {

class Observability final : public RequestObserver, public std::enable_shared_from_this<Observability> {
 public:
  // `clock` (not owned, outlives this) times the request history; null: the system clocks.
  explicit Observability(const Clock* clock = nullptr);

  // A new request's context, counted in llmux_active_requests until it ends.
  std::shared_ptr<RequestContext> start_request();
  // Requests started so far (whatever the metrics setting).
  std::uint64_t requests_started() const { return requests_started_.load(std::memory_order_relaxed); }

  Metrics& metrics() { return metrics_; }
  // `metrics.enabled` of the current config: off, new requests are not recorded.
  void set_metrics_enabled(bool enabled) { metrics_enabled_.store(enabled, std::memory_order_relaxed); }
  AccessLog& access_log() { return access_log_; }
  // The panel's Overview series, request list, live feed and usage (every request, metered or not).
  RequestHistory& history() { return history_; }

  void stream_started(const RequestContext& context) override;
  void request_finished(const RequestContext& context) override;

 private:
  Metrics metrics_;
  AccessLog access_log_;
  RequestHistory history_;
  std::atomic<bool> metrics_enabled_{true};
  std::atomic<std::uint64_t> requests_started_{0};
};

}  // namespace llmux::host
