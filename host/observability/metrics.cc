#include "observability/metrics.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <type_traits>
#include <unordered_map>

#include <prometheus/text_serializer.h>

#include "observability/request_context.h"

namespace llmux::host {
namespace {

std::atomic<std::uint64_t> next_instance{1};

const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
const prometheus::Histogram::BucketBoundaries kTtftBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                             1,     2,     5,    10,    20,   30,  60};

double seconds(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e6; }

// Counters by their joined label values, per thread: a request's updates cost
// a hash lookup each instead of building a label map and taking the family's
// lock. Counter objects live as long as their registry.
struct LabelCache {
  std::uint64_t instance = 0;
  std::unordered_map<std::string, prometheus::Counter*> counters;
  std::unordered_map<std::string, prometheus::Histogram*> histograms;
};
thread_local LabelCache label_cache;

LabelCache& cache_for(std::uint64_t instance) {
  if (label_cache.instance != instance) {
    label_cache.instance = instance;
    label_cache.counters.clear();
    label_cache.histograms.clear();
  }
  return label_cache;
}

template <class Metric>
std::unordered_map<std::string, Metric*>& cache_of(LabelCache& cache) {
  if constexpr (std::is_same_v<Metric, prometheus::Counter>) {
    return cache.counters;
  } else {
    return cache.histograms;
  }
}

// The series of `family` with these label values, from this thread's cache
// (made in the family on first use). `args` are the family's Add() extras
// (a histogram's buckets).
template <class Metric, class... Args>
Metric& series(std::uint64_t instance, prometheus::Family<Metric>& family, char tag,
               std::initializer_list<std::pair<const char*, std::string_view>> labels, const Args&... args) {
  std::string key(1, tag);
  for (const auto& [name, value] : labels) {
    key.append(value);
    key.push_back('\x1f');
  }
  auto& cache = cache_of<Metric>(cache_for(instance));
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  prometheus::Labels map;
  for (const auto& [name, value] : labels) map.emplace(name, std::string(value));
  Metric& made = family.Add(map, args...);
  cache.emplace(std::move(key), &made);
  return made;
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()), instance_(next_instance.fetch_add(1)) {
  requests_total_ = &prometheus::BuildCounter()
                         .Name("llmux_requests_total")
                         .Help("Requests answered, by inbound API, route, provider and HTTP status")
                         .Register(*registry_);
  duration_ = &prometheus::BuildHistogram()
                   .Name("llmux_request_duration_seconds")
                   .Help("Time from the request's arrival to the last byte of its answer")
                   .Register(*registry_);
  ttft_ = &prometheus::BuildHistogram()
               .Name("llmux_time_to_first_token_seconds")
               .Help("Streams: time from the request's arrival to the first content event sent to the client")
               .Register(*registry_);
  tokens_ = &prometheus::BuildCounter()
                 .Name("llmux_tokens_total")
                 .Help("Tokens reported by providers, by direction (input, output, cache_read, cache_write)")
                 .Register(*registry_);
  attempts_ = &prometheus::BuildCounter()
                   .Name("llmux_upstream_attempts_total")
                   .Help("Provider attempts by outcome (ok, error, skipped, cancelled)")
                   .Register(*registry_);
  fallbacks_ = &prometheus::BuildCounter()
                    .Name("llmux_fallbacks_total")
                    .Help("Moves to the next provider of a chain after a failed attempt")
                    .Register(*registry_);
  reloads_ = &prometheus::BuildCounter()
                  .Name("llmux_config_reloads_total")
                  .Help("Configuration reloads by result (ok, error)")
                  .Register(*registry_);
  active_requests_ = &prometheus::BuildGauge()
                          .Name("llmux_active_requests")
                          .Help("Requests in flight")
                          .Register(*registry_)
                          .Add({});
  active_streams_ = &prometheus::BuildGauge()
                         .Name("llmux_active_streams")
                         .Help("Streamed answers in flight (head sent, not ended)")
                         .Register(*registry_)
                         .Add({});
  access_log_dropped_ = &prometheus::BuildCounter()
                             .Name("llmux_access_log_dropped_total")
                             .Help("Access log lines dropped because the writer fell behind")
                             .Register(*registry_)
                             .Add({});
  // Present from the start, so a dashboard sees zeros rather than no series.
  reloads_->Add({{"result", "ok"}});
  reloads_->Add({{"result", "error"}});
}

prometheus::Counter& Metrics::requests(const std::string& api, const std::string& route, const std::string& provider,
                                       int status) {
  char code[8];
  std::snprintf(code, sizeof code, "%d", status);
  return series(instance_, *requests_total_, 'r',
                {{"api", api}, {"route", route}, {"provider", provider}, {"status", code}});
}

void Metrics::request_finished(const RequestContext& c) {
  active_requests_->Decrement();
  if (c.stream_open) active_streams_->Decrement();
  requests(c.api, c.route, c.provider, c.status).Increment();
  series(instance_, *duration_, 'd', {{"api", c.api}, {"route", c.route}}, kDurationBuckets)
      .Observe(seconds(c.duration()));
  if (c.stream && c.first_token) {
    auto ttft = std::chrono::duration_cast<std::chrono::microseconds>(*c.first_token - c.started);
    series(instance_, *ttft_, 't', {{"api", c.api}, {"provider", c.provider}}, kTtftBuckets).Observe(seconds(ttft));
  }
  if (c.usage) {
    auto add = [&](const char* direction, std::int64_t n) {
      if (n <= 0) return;
      series(instance_, *tokens_, 'k', {{"direction", direction}, {"provider", c.provider}, {"model", c.model_label}})
          .Increment(static_cast<double>(n));
    };
    add("input", c.usage->input_tokens);
    add("output", c.usage->output_tokens);
    add("cache_read", c.usage->cache_read_tokens.value_or(0));
    add("cache_write", c.usage->cache_creation_tokens.value_or(0));
  }
  for (const AttemptRecord& attempt : c.attempts) {
    series(instance_, *attempts_, 'a', {{"provider", attempt.provider}, {"outcome", attempt.outcome}}).Increment();
  }
  for (const auto& [from, to] : c.fallbacks()) {
    series(instance_, *fallbacks_, 'f', {{"from", from}, {"to", to}}).Increment();
  }
}

void Metrics::config_reload(bool ok) { reloads_->Add({{"result", ok ? "ok" : "error"}}).Increment(); }

std::string Metrics::render(const std::vector<prometheus::MetricFamily>& extra) const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  families.insert(families.end(), extra.begin(), extra.end());
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

prometheus::MetricFamily gauge_family(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

void add_gauge(prometheus::MetricFamily& family, std::vector<std::pair<std::string, std::string>> labels,
               double value) {
  prometheus::ClientMetric metric;
  for (auto& [name, label] : labels) metric.label.push_back({std::move(name), std::move(label)});
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

void Metrics::append_process_metrics(std::vector<prometheus::MetricFamily>& out) {
  auto single = [&](const char* name, const char* help, prometheus::MetricType type, double value) {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = type;
    prometheus::ClientMetric metric;
    if (type == prometheus::MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family.metric.push_back(std::move(metric));
    out.push_back(std::move(family));
  };
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  // /proc/self/stat: fields after the command name (which may hold spaces).
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f;
    for (std::string field; fields >> field;) f.push_back(field);
    // f[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24.
    if (f.size() > 21) {
      double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             prometheus::MetricType::Counter, cpu);
      single("process_virtual_memory_bytes", "Virtual memory size in bytes.", prometheus::MetricType::Gauge,
             std::stod(f[20]));
      single("process_resident_memory_bytes", "Resident memory size in bytes.", prometheus::MetricType::Gauge,
             std::stod(f[21]) * page);
      std::ifstream uptime_file("/proc/uptime");
      double uptime = 0;
      uptime_file >> uptime;
      double boot = static_cast<double>(std::time(nullptr)) - uptime;
      single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             prometheus::MetricType::Gauge, boot + std::stod(f[19]) / ticks);
    }
  }
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  single("process_open_fds", "Number of open file descriptors.", prometheus::MetricType::Gauge, fds);
  long max_fds = ::sysconf(_SC_OPEN_MAX);
  if (max_fds > 0) {
    single("process_max_fds", "Maximum number of open file descriptors.", prometheus::MetricType::Gauge,
           static_cast<double>(max_fds));
  }
}

}  // namespace llmux::host
