// Prometheus metrics (prometheus-cpp's core: its registry, metric types and
// text serializer; llmux serves the text itself at GET /metrics).
//
// Every label value is bounded by the configuration, never taken raw from a
// client: api (registered inbound APIs), route (route patterns, "default",
// "none"), provider (provider names, "none"), model (RouteTable::model_label:
// a concrete name the table serves, else "other"), status (HTTP status codes),
// outcome and direction (fixed sets).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

namespace llmux::host {

class RequestContext;

class Metrics {
 public:
  Metrics();

  // A request came through the door / a stream's head went out.
  void request_started() { active_requests_->Increment(); }
  void stream_started() { active_streams_->Increment(); }
  // Now, for the panel's overview.
  double active_requests() const { return active_requests_->Value(); }
  double active_streams() const { return active_streams_->Value(); }
  // Reads everything else from the context.
  void request_finished(const RequestContext& context);
  void config_reload(bool ok);
  void access_log_dropped() { access_log_dropped_->Increment(); }

  // The families collected from the registry, followed by `extra` (figures
  // computed at scrape time), as Prometheus text exposition format 0.0.4.
  std::string render(const std::vector<prometheus::MetricFamily>& extra) const;

  // Process figures read from /proc/self: RSS, virtual memory, CPU seconds,
  // open file descriptors, start time.
  static void append_process_metrics(std::vector<prometheus::MetricFamily>& out);

 private:
  prometheus::Counter& requests(const std::string& api, const std::string& route, const std::string& provider,
                                int status);

  std::shared_ptr<prometheus::Registry> registry_;
  const std::uint64_t instance_;  // tells per-thread label caches which Metrics they belong to
  prometheus::Family<prometheus::Counter>* requests_total_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Histogram>* ttft_;
  prometheus::Family<prometheus::Counter>* tokens_;
  prometheus::Family<prometheus::Counter>* attempts_;
  prometheus::Family<prometheus::Counter>* fallbacks_;
  prometheus::Family<prometheus::Counter>* reloads_;
  prometheus::Gauge* active_requests_;
  prometheus::Gauge* active_streams_;
  prometheus::Counter* access_log_dropped_;
};

// Scrape-time helpers for the families whose members come and go with the
// configuration (a gauge per provider and state).
prometheus::MetricFamily gauge_family(std::string name, std::string help);
void add_gauge(prometheus::MetricFamily& family, std::vector<std::pair<std::string, std::string>> labels,
               double value);

}  // namespace llmux::host
