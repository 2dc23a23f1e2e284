#include "observability/request_history.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "llmux/json.h"

namespace llmux::host {
namespace {

// Bounds on what one kept request may hold (a client chooses these strings).
constexpr std::size_t kMaxModelChars = 200;
constexpr std::size_t kMaxIdChars = 256;
constexpr std::size_t kMaxPathChars = 512;
constexpr std::size_t kMaxLabelChars = 200;
constexpr std::size_t kMaxWarnings = 16;
constexpr std::size_t kMaxWarningChars = 300;
constexpr std::size_t kMaxAttempts = 32;

// At most `max` bytes of `s`, cut at a UTF-8 character boundary.
std::string bounded(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end));
}

bool is_error(Outcome outcome) { return outcome != Outcome::Ok && outcome != Outcome::ClientAbort; }

double to_ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }

// Floor division: buckets and periods of times before 1970 stay ordered.
std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::size_t slot_of(std::int64_t index, std::size_t slots) {
  const auto n = static_cast<std::int64_t>(slots);
  return static_cast<std::size_t>(((index % n) + n) % n);
}

void append_int(std::string& out, std::int64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

// A number rounded to 3 decimals, in its shortest form ("0.1", "12").
void append_number(std::string& out, double v) {
  v = std::round(v * 1000.0) / 1000.0;
  if (v == 0) v = 0;  // no "-0"
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// "2026-12-03T15:04:05Z", or with milliseconds "2026-12-03T15:04:05.123Z".
void append_time(std::string& out, std::chrono::system_clock::time_point when, bool millis) {
  const std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(floor_div(ms, 1000));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  out.append(buf, n);
  if (millis) {
    const int milli = static_cast<int>(ms - static_cast<std::int64_t>(seconds) * 1000);
    const char frac[4] = {'.', static_cast<char>('0' + milli / 100), static_cast<char>('0' + milli / 10 % 10),
                          static_cast<char>('0' + milli % 10)};
    out.append(frac, 4);
  }
  out.push_back('Z');
}

void append_time_from_unix(std::string& out, std::int64_t unix_seconds) {
  append_time(out, std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)), false);
}

// ---- latency histogram -------------------------------------------------------

// Upper bounds (ms) of bins 0..38: 1 ms to 10 min in equal ratios; bin 39 is above.
const std::array<double, RequestHistory::kLatencyBins - 1>& bin_bounds() {
  static const auto bounds = [] {
    std::array<double, RequestHistory::kLatencyBins - 1> b{};
    const double ratio = std::pow(600000.0, 1.0 / static_cast<double>(b.size() - 1));
    double bound = 1.0;
    for (double& x : b) {
      x = bound;
      bound *= ratio;
    }
    return b;
  }();
  return bounds;
}

std::size_t bin_of(double ms) {
  const auto& b = bin_bounds();
  return static_cast<std::size_t>(std::lower_bound(b.begin(), b.end(), ms) - b.begin());
}

struct Histogram {
  std::array<std::uint32_t, RequestHistory::kLatencyBins> bins{};
  std::uint32_t count = 0;
  float min_ms = 0;
  float max_ms = 0;

  void add(double ms) {
    const float v = static_cast<float>(ms);
    if (count == 0 || v < min_ms) min_ms = v;
    if (count == 0 || v > max_ms) max_ms = v;
    ++count;
    ++bins[bin_of(ms)];
  }

  // The p-quantile (nearest rank), interpolated inside its bin (so within a
  // bin's width, ~42%, of the truth) and kept within the bucket's min and max
  // (so a bucket of equal values answers exactly).
  std::optional<double> quantile(double p) const {
    if (count == 0) return std::nullopt;
    const auto& bounds = bin_bounds();
    const double target = std::max(1.0, std::ceil(p * count));
    double cumulative = 0;
    for (std::size_t b = 0; b < bins.size(); ++b) {
      if (bins[b] == 0 || cumulative + bins[b] < target) {
        cumulative += bins[b];
        continue;
      }
      const double lo = std::max<double>(min_ms, b == 0 ? 0.0 : bounds[b - 1]);
      const double hi = std::min<double>(max_ms, b == bins.size() - 1 ? max_ms : bounds[b]);
      const double fraction = (target - cumulative - 0.5) / bins[b];  // the rank's middle
      return std::clamp(lo + (hi - lo) * fraction, static_cast<double>(min_ms), static_cast<double>(max_ms));
    }
    return max_ms;
  }
};

struct Bucket {
  std::int64_t epoch = -1;  // unix seconds / kStepSeconds of the data it holds
  std::uint32_t requests = 0;
  std::uint32_t errors = 0;
  std::uint64_t output_tokens = 0;
  std::int32_t stream_delta = 0;  // streams opened minus streams closed in it
  Histogram latency;
  Histogram ttft;

  bool has_data() const { return requests != 0 || stream_delta != 0; }
};

}  // namespace

struct RequestHistory::Series {
  explicit Series(std::string n) : name(std::move(n)) {}
  std::string name;
  std::array<Bucket, kBuckets> buckets{};
  std::int64_t open_streams = 0;
  std::int64_t latest_epoch = -1;

  // The bucket for `epoch`, emptied when it still holds an hour-old one.
  Bucket& at(std::int64_t epoch) {
    Bucket& bucket = buckets[slot_of(epoch, kBuckets)];
    if (bucket.epoch != epoch) {
      bucket = Bucket{};
      bucket.epoch = epoch;
    }
    latest_epoch = std::max(latest_epoch, epoch);
    return bucket;
  }
  // Nothing to show in the hour ending at `now_epoch`.
  bool idle(std::int64_t now_epoch) const {
    return open_streams == 0 && latest_epoch <= now_epoch - static_cast<std::int64_t>(kBuckets);
  }
};

// ---- recent requests ---------------------------------------------------------

struct RequestHistory::Record {
  std::uint64_t seq = 0;
  std::string id, api, method, path, model, route, provider, client, model_answered;
  Outcome outcome = Outcome::Ok;
  int status = 0;
  bool stream = false;
  std::chrono::system_clock::time_point at;
  std::chrono::microseconds duration{0};
  std::optional<std::chrono::microseconds> ttft;
  std::optional<Usage> usage;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  std::vector<std::string> warnings;
  std::vector<AttemptRecord> attempts;
};

namespace {

using Record = RequestHistory::Record;

std::optional<std::chrono::microseconds> ttft_of(const RequestContext& c) {
  if (!c.stream || !c.first_token) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::microseconds>(*c.first_token - c.started);
}

std::shared_ptr<Record> make_record(const RequestContext& c) {
  auto r = std::make_shared<Record>();
  r->id = bounded(c.id, kMaxIdChars);
  r->api = bounded(c.api, kMaxLabelChars);
  r->method = bounded(c.method, 16);
  r->path = bounded(c.path, kMaxPathChars);
  r->model = bounded(c.model_requested, kMaxModelChars);
  r->route = bounded(c.route, kMaxLabelChars);
  r->provider = bounded(c.provider, kMaxLabelChars);
  r->client = bounded(c.client, kMaxLabelChars);
  r->model_answered = bounded(c.model_answered, kMaxModelChars);
  r->outcome = c.outcome();
  r->status = c.status;
  r->stream = c.stream;
  r->at = c.wall_started;
  r->duration = c.duration();
  r->ttft = ttft_of(c);
  r->usage = c.usage;
  r->bytes_in = c.bytes_in;
  r->bytes_out = c.bytes_out;
  for (std::size_t i = 0; i < c.warnings.size() && i < kMaxWarnings; ++i) {
    r->warnings.push_back(bounded(c.warnings[i], kMaxWarningChars));
  }
  for (std::size_t i = 0; i < c.attempts.size() && i < kMaxAttempts; ++i) {
    const AttemptRecord& a = c.attempts[i];
    r->attempts.push_back({bounded(a.provider, kMaxLabelChars), bounded(a.outcome, 32), a.status, a.duration});
  }
  return r;
}

void append_field(std::string& out, const char* name) {
  if (out.back() != '{') out.push_back(',');
  out.push_back('"');
  out.append(name).append("\":");
}

void append_string_field(std::string& out, const char* name, std::string_view value) {
  append_field(out, name);
  json::append_quoted(out, value);
}

void append_optional_int(std::string& out, const char* name, std::optional<std::int64_t> value) {
  append_field(out, name);
  if (value) {
    append_int(out, *value);
  } else {
    out.append("null");
  }
}

// The SUMMARY fields, without the closing brace.
void append_summary_fields(std::string& out, const Record& r) {
  out.push_back('{');
  append_string_field(out, "id", r.id);
  append_field(out, "seq");
  append_int(out, static_cast<std::int64_t>(r.seq));
  append_field(out, "at");
  out.push_back('"');
  append_time(out, r.at, true);
  out.push_back('"');
  append_string_field(out, "api", r.api);
  append_string_field(out, "method", r.method);
  append_string_field(out, "path", r.path);
  append_string_field(out, "model", r.model);
  append_string_field(out, "route", r.route);
  append_string_field(out, "provider", r.provider);
  append_string_field(out, "client", r.client);
  append_field(out, "status");
  append_int(out, r.status);
  append_string_field(out, "outcome", to_string(r.outcome));
  append_field(out, "stream");
  out.append(r.stream ? "true" : "false");
  append_field(out, "duration_ms");
  append_number(out, to_ms(r.duration));
  append_field(out, "ttft_ms");
  if (r.ttft) {
    append_number(out, to_ms(*r.ttft));
  } else {
    out.append("null");
  }
  append_optional_int(out, "input_tokens",
                      r.usage ? std::optional<std::int64_t>(r.usage->input_tokens) : std::nullopt);
  append_optional_int(out, "output_tokens",
                      r.usage ? std::optional<std::int64_t>(r.usage->output_tokens) : std::nullopt);
}

void append_summary(std::string& out, const Record& r) {
  append_summary_fields(out, r);
  out.push_back('}');
}

void append_detail(std::string& out, const Record& r) {
  append_summary_fields(out, r);
  append_string_field(out, "model_answered", r.model_answered);
  append_field(out, "bytes_in");
  append_int(out, static_cast<std::int64_t>(r.bytes_in));
  append_field(out, "bytes_out");
  append_int(out, static_cast<std::int64_t>(r.bytes_out));
  append_field(out, "warnings");
  out.push_back('[');
  for (std::size_t i = 0; i < r.warnings.size(); ++i) {
    if (i > 0) out.push_back(',');
    json::append_quoted(out, r.warnings[i]);
  }
  out.push_back(']');
  append_field(out, "attempts");
  out.push_back('[');
  for (std::size_t i = 0; i < r.attempts.size(); ++i) {
    const AttemptRecord& a = r.attempts[i];
    if (i > 0) out.push_back(',');
    out.push_back('{');
    append_string_field(out, "provider", a.provider);
    append_string_field(out, "outcome", a.outcome);
    append_field(out, "status");
    append_int(out, a.status);
    append_field(out, "duration_ms");
    append_number(out, to_ms(a.duration));
    out.push_back('}');
  }
  out.push_back(']');
  append_optional_int(out, "cache_read_tokens", r.usage ? r.usage->cache_read_tokens : std::nullopt);
  append_optional_int(out, "cache_creation_tokens", r.usage ? r.usage->cache_creation_tokens : std::nullopt);
  out.push_back('}');
}

bool matches(const Record& r, const RequestFilter& f) {
  if (!f.model.empty() && r.model != f.model) return false;
  if (!f.provider.empty() && r.provider != f.provider) return false;
  if (!f.client.empty() && r.client != f.client) return false;
  if (f.status.empty()) return true;
  if (f.status == "error") return is_error(r.outcome);
  if (f.status[1] == 'x') return r.status / 100 == f.status[0] - '0';
  return r.status == (f.status[0] - '0') * 100 + (f.status[1] - '0') * 10 + (f.status[2] - '0');
}

}  // namespace

bool RequestFilter::valid_status(std::string_view s) {
  if (s.empty() || s == "error") return true;
  if (s.size() != 3) return false;
  if (s[1] == 'x' && s[2] == 'x') return s[0] >= '1' && s[0] <= '5';
  return s[0] >= '1' && s[0] <= '5' && std::isdigit(static_cast<unsigned char>(s[1])) &&
         std::isdigit(static_cast<unsigned char>(s[2]));
}

// ---- usage -------------------------------------------------------------------

namespace {

struct UsageCounters {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
};

// "model\0provider\0client": one string, so a lookup allocates nothing.
std::string usage_key(std::string_view model, std::string_view provider, std::string_view client) {
  std::string key;
  key.reserve(model.size() + provider.size() + client.size() + 2);
  key.append(model).push_back('\0');
  key.append(provider).push_back('\0');
  key.append(client);
  return key;
}

std::tuple<std::string_view, std::string_view, std::string_view> split_key(std::string_view key) {
  const std::size_t a = key.find('\0');
  const std::size_t b = key.find('\0', a + 1);
  return {key.substr(0, a), key.substr(a + 1, b - a - 1), key.substr(b + 1)};
}

const std::string& overflow_key() {
  static const std::string key = usage_key("other", "other", "other");
  return key;
}

struct UsageRow {
  std::int64_t index;  // period number since 1970
  std::string key;
  UsageCounters counters;
};

}  // namespace

struct RequestHistory::UsageTable {
  struct Slot {
    std::int64_t index = -1;
    std::unordered_map<std::string, UsageCounters> rows;
  };
  UsageTable(std::int64_t period_seconds, std::size_t kept) : seconds(period_seconds), slots(kept) {}

  const std::int64_t seconds;
  std::vector<Slot> slots;
  std::int64_t latest_index = -1;

  // `retired` takes a stale slot's rows, so they are freed after the lock.
  void add(std::int64_t unix_seconds, const std::string& key, const std::string& other_model_key,
           const UsageCounters& delta, std::unordered_map<std::string, UsageCounters>& retired) {
    const std::int64_t index = std::max(floor_div(unix_seconds, seconds), latest_index);
    latest_index = index;
    Slot& slot = slots[slot_of(index, slots.size())];
    if (slot.index != index) {
      retired.swap(slot.rows);
      slot.index = index;
    }
    auto it = slot.rows.find(key);
    if (it == slot.rows.end()) {
      // Past the bound the model becomes "other" (its provider and client stay),
      // and past a little more everything is "other".
      if (slot.rows.size() < kMaxUsageKeys) {
        it = slot.rows.emplace(key, UsageCounters{}).first;
      } else {
        it = slot.rows.find(other_model_key);
        if (it == slot.rows.end()) {
          it = slot.rows.emplace(slot.rows.size() < kMaxUsageKeys + kMaxProviders ? other_model_key : overflow_key(),
                                 UsageCounters{}).first;
        }
      }
    }
    UsageCounters& c = it->second;
    c.requests += delta.requests;
    c.errors += delta.errors;
    c.input_tokens += delta.input_tokens;
    c.output_tokens += delta.output_tokens;
  }

  std::vector<UsageRow> snapshot(std::int64_t unix_seconds) const {
    const std::int64_t now = std::max(floor_div(unix_seconds, seconds), latest_index);
    std::vector<UsageRow> rows;
    for (const Slot& slot : slots) {
      if (slot.index < 0 || slot.index <= now - static_cast<std::int64_t>(slots.size())) continue;
      for (const auto& [key, counters] : slot.rows) rows.push_back({slot.index, key, counters});
    }
    return rows;
  }
};

// ---- live feed ---------------------------------------------------------------

struct RequestHistory::Subscription::Subscriber {
  explicit Subscriber(Listener l) : listener(std::move(l)) { calling.reserve(4); }
  Listener listener;
  std::mutex mutex;
  std::condition_variable idle;
  bool active = true;
  std::vector<std::thread::id> calling;  // threads inside the listener now
};

struct RequestHistory::Subscription::Hub {
  std::mutex mutex;
  std::vector<std::shared_ptr<Subscriber>> subscribers;
  std::atomic<std::size_t> count{0};

  void publish(const std::string& summary) {
    std::array<std::shared_ptr<Subscriber>, kMaxSubscribers> targets;
    std::size_t n = 0;
    {
      std::lock_guard lock(mutex);
      for (const auto& s : subscribers) targets[n++] = s;
    }
    const std::thread::id self = std::this_thread::get_id();
    for (std::size_t i = 0; i < n; ++i) {
      Subscriber& s = *targets[i];
      {
        std::lock_guard lock(s.mutex);
        if (!s.active) continue;
        s.calling.push_back(self);
      }
      try {
        s.listener(summary);
      } catch (...) {
        // A listener's failure is its own; the request is recorded regardless.
      }
      {
        std::lock_guard lock(s.mutex);
        s.calling.erase(std::find(s.calling.begin(), s.calling.end(), self));
      }
      s.idle.notify_all();
    }
  }

  void remove(const std::shared_ptr<Subscriber>& subscriber) {
    {
      std::lock_guard lock(mutex);
      auto it = std::find(subscribers.begin(), subscribers.end(), subscriber);
      if (it != subscribers.end()) {
        subscribers.erase(it);
        count.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    // Wait out calls on other threads; a call on this thread is the one destroying it.
    const std::thread::id self = std::this_thread::get_id();
    std::unique_lock lock(subscriber->mutex);
    subscriber->active = false;
    subscriber->idle.wait(lock, [&] {
      return std::all_of(subscriber->calling.begin(), subscriber->calling.end(),
                         [&](std::thread::id id) { return id == self; });
    });
  }
};

RequestHistory::Subscription::Subscription(std::shared_ptr<Hub> hub, std::shared_ptr<Subscriber> subscriber)
    : hub_(std::move(hub)), subscriber_(std::move(subscriber)) {}

RequestHistory::Subscription::~Subscription() { hub_->remove(subscriber_); }

// ---- the history -------------------------------------------------------------

RequestHistory::RequestHistory(const Clock* clock, std::size_t capacity)
    : clock_(clock),
      total_(std::make_unique<Series>("total")),
      other_(std::make_unique<Series>("other")),
      ring_(std::min(capacity, kMaxCapacity)),
      hours_(std::make_unique<UsageTable>(3600, kHoursKept)),
      days_(std::make_unique<UsageTable>(86400, kDaysKept)),
      hub_(std::make_shared<Subscription::Hub>()) {}

RequestHistory::~RequestHistory() = default;

std::int64_t RequestHistory::wall_seconds() const {
  const auto now = clock_ != nullptr ? clock_->wall_now() : std::chrono::system_clock::now();
  return floor_div(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count(), 1000);
}

RequestHistory::Series* RequestHistory::series_for(std::string_view provider, std::unique_ptr<Series>& spare,
                                                   std::unique_ptr<Series>& retired, bool& need_spare) {
  need_spare = false;
  if (provider == "none") return nullptr;  // refused before any provider: in the total only
  for (const auto& s : providers_) {
    if (s->name == provider) return s.get();
  }
  // A provider silent for an hour gives its place to a new one.
  auto idle = std::find_if(providers_.begin(), providers_.end(), [&](const auto& s) { return s->idle(latest_epoch_); });
  if (providers_.size() >= kMaxProviders && idle == providers_.end()) return other_.get();
  if (!spare) {
    need_spare = true;
    return nullptr;
  }
  Series* adopted = spare.get();
  if (idle != providers_.end()) {
    retired = std::move(*idle);
    *idle = std::move(spare);
  } else {
    providers_.push_back(std::move(spare));
  }
  return adopted;
}

void RequestHistory::stream_started(const RequestContext& context) {
  const std::int64_t epoch = floor_div(wall_seconds(), kStepSeconds);
  std::unique_ptr<Series> spare, retired;  // a provider's first series is built outside the lock
  std::unique_lock lock(series_mutex_);
  latest_epoch_ = std::max(latest_epoch_, epoch);
  bool need_spare = false;
  Series* provider = series_for(context.provider, spare, retired, need_spare);
  if (need_spare) {
    lock.unlock();
    spare = std::make_unique<Series>(context.provider);
    lock.lock();
    provider = series_for(context.provider, spare, retired, need_spare);
  }
  open_streams_.emplace(&context, provider);
  for (Series* s : {total_.get(), provider}) {
    if (s == nullptr) continue;
    ++s->open_streams;
    ++s->at(latest_epoch_).stream_delta;
  }
}

void RequestHistory::record(const RequestContext& context) {
  // Everything that allocates or computes happens before the locks.
  const std::int64_t now_s = wall_seconds();
  const std::int64_t epoch = floor_div(now_s, kStepSeconds);
  const bool error = is_error(context.outcome());
  const double latency_ms = to_ms(context.duration());
  const std::optional<std::chrono::microseconds> ttft = ttft_of(context);
  const std::int64_t output_tokens = context.usage ? std::max<std::int64_t>(0, context.usage->output_tokens) : 0;
  std::shared_ptr<Record> record = make_record(context);
  const std::string model_label = bounded(context.model_label, kMaxModelChars);
  const std::string key = usage_key(model_label, record->provider, record->client);
  const std::string other_model_key = usage_key("other", record->provider, record->client);
  const UsageCounters usage{1, error ? 1u : 0u, context.usage ? context.usage->input_tokens : 0,
                            context.usage ? context.usage->output_tokens : 0};
  std::unique_ptr<Series> spare, retired;  // a provider's first series is built outside the lock
  {
    std::unique_lock lock(series_mutex_);
    latest_epoch_ = std::max(latest_epoch_, epoch);
    bool need_spare = false;
    Series* provider = series_for(context.provider, spare, retired, need_spare);
    if (need_spare) {
      lock.unlock();
      spare = std::make_unique<Series>(context.provider);
      lock.lock();
      provider = series_for(context.provider, spare, retired, need_spare);
    }
    // A stream ends: it leaves the series that counted it open.
    if (context.stream_open) {
      auto open = open_streams_.find(&context);
      if (open != open_streams_.end()) {
        for (Series* s : {total_.get(), open->second}) {
          if (s == nullptr) continue;
          --s->open_streams;
          --s->at(latest_epoch_).stream_delta;
        }
        open_streams_.erase(open);
      }
    }
    for (Series* s : {total_.get(), provider}) {
      if (s == nullptr) continue;
      Bucket& bucket = s->at(latest_epoch_);
      ++bucket.requests;
      if (error) ++bucket.errors;
      bucket.output_tokens += static_cast<std::uint64_t>(output_tokens);
      bucket.latency.add(latency_ms);
      if (ttft) bucket.ttft.add(to_ms(*ttft));
    }
  }

  std::shared_ptr<const Record> evicted;  // freed after the lock
  {
    std::lock_guard lock(ring_mutex_);
    record->seq = ++last_seq_;
    if (!ring_.empty()) {
      evicted = std::move(ring_[record->seq % ring_.size()]);
      ring_[record->seq % ring_.size()] = record;
    }
  }

  std::unordered_map<std::string, UsageCounters> retired_hour, retired_day;
  {
    std::lock_guard lock(usage_mutex_);
    hours_->add(now_s, key, other_model_key, usage, retired_hour);
    days_->add(now_s, key, other_model_key, usage, retired_day);
  }

  if (hub_->count.load(std::memory_order_relaxed) > 0) {
    std::string summary;
    summary.reserve(512);
    append_summary(summary, *record);
    hub_->publish(summary);
  }
}

void RequestHistory::set_capacity(std::size_t capacity) {
  capacity = std::min(capacity, kMaxCapacity);
  std::vector<std::shared_ptr<const Record>> resized(capacity);
  std::lock_guard lock(ring_mutex_);
  if (capacity == ring_.size()) return;
  const std::uint64_t keep = std::min<std::uint64_t>({capacity, ring_.size(), last_seq_});
  for (std::uint64_t seq = last_seq_; seq > last_seq_ - keep; --seq) {
    auto& slot = ring_[seq % ring_.size()];
    if (slot && slot->seq == seq) resized[seq % capacity] = std::move(slot);
  }
  ring_.swap(resized);  // the old ring is freed after the lock (`resized` outlives it)
}

std::size_t RequestHistory::capacity() const {
  std::lock_guard lock(ring_mutex_);
  return ring_.size();
}

std::size_t RequestHistory::size() const {
  std::lock_guard lock(ring_mutex_);
  return static_cast<std::size_t>(std::min<std::uint64_t>(ring_.size(), last_seq_));
}

std::optional<std::string> RequestHistory::requests_json(const RequestFilter& filter, int limit,
                                                         std::string_view cursor) const {
  if (!RequestFilter::valid_status(filter.status)) return std::nullopt;
  std::optional<std::uint64_t> before;  // only requests older than this seq
  if (!cursor.empty()) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), value);
    if (ec != std::errc() || end != cursor.data() + cursor.size() || value == 0) return std::nullopt;
    before = value;
  }
  const std::size_t page = static_cast<std::size_t>(std::clamp(limit, 1, kMaxPageSize));

  std::vector<std::shared_ptr<const Record>> found;
  found.reserve(page + 1);
  {
    std::lock_guard lock(ring_mutex_);
    if (before && *before > last_seq_ + 1) return std::nullopt;  // not a cursor this history gave out
    const std::uint64_t newest = before ? *before - 1 : last_seq_;
    const std::uint64_t kept = std::min<std::uint64_t>(ring_.size(), last_seq_);
    const std::uint64_t oldest = last_seq_ - kept + 1;
    for (std::uint64_t seq = newest; seq >= oldest && seq > 0 && found.size() <= page; --seq) {
      const auto& r = ring_[seq % ring_.size()];
      if (r && r->seq == seq && matches(*r, filter)) found.push_back(r);
    }
  }
  const bool more = found.size() > page;
  if (more) found.pop_back();

  std::string out = "{\"requests\":[";
  out.reserve(found.size() * 400 + 64);
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_summary(out, *found[i]);
  }
  out.append("],\"next_cursor\":");
  if (more) {
    out.push_back('"');
    append_int(out, static_cast<std::int64_t>(found.back()->seq));
    out.push_back('"');
  } else {
    out.append("null");
  }
  out.push_back('}');
  return out;
}

std::optional<std::string> RequestHistory::request_json(std::string_view id) const {
  std::shared_ptr<const Record> found;
  {
    std::lock_guard lock(ring_mutex_);
    const std::uint64_t kept = std::min<std::uint64_t>(ring_.size(), last_seq_);
    for (std::uint64_t seq = last_seq_; seq > last_seq_ - kept; --seq) {
      const auto& r = ring_[seq % ring_.size()];
      if (r && r->seq == seq && r->id == id) {
        found = r;
        break;
      }
    }
  }
  if (!found) return std::nullopt;
  std::string out;
  append_detail(out, *found);
  return out;
}

std::unique_ptr<RequestHistory::Subscription> RequestHistory::subscribe(Listener listener) {
  auto subscriber = std::make_shared<Subscription::Subscriber>(std::move(listener));
  {
    std::lock_guard lock(hub_->mutex);
    if (hub_->subscribers.size() >= kMaxSubscribers) return nullptr;
    hub_->subscribers.push_back(subscriber);
    hub_->count.fetch_add(1, std::memory_order_relaxed);
  }
  return std::unique_ptr<Subscription>(new Subscription(hub_, std::move(subscriber)));
}

std::size_t RequestHistory::subscriber_count() const { return hub_->count.load(std::memory_order_relaxed); }

// ---- rendering: stats ----------------------------------------------------------

namespace {

void append_array(std::string& out, const char* name, const std::vector<std::optional<double>>& values) {
  out.push_back('"');
  out.append(name).append("\":[");
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (values[i]) {
      append_number(out, *values[i]);
    } else {
      out.append("null");
    }
  }
  out.push_back(']');
}

}  // namespace

std::string RequestHistory::stats_json() const {
  // Copy the series that have something to show (a few hundred KB at most), render after.
  std::vector<Series> copies;
  std::int64_t now_epoch = floor_div(wall_seconds(), kStepSeconds);
  {
    std::lock_guard lock(series_mutex_);
    now_epoch = std::max(now_epoch, latest_epoch_);
    std::size_t showing = 1;
    for (const auto& s : providers_) showing += s->idle(now_epoch) ? 0 : 1;
    showing += other_->idle(now_epoch) ? 0 : 1;
    copies.reserve(showing);
    copies.push_back(*total_);
    for (const auto& s : providers_) {
      if (!s->idle(now_epoch)) copies.push_back(*s);
    }
    if (!other_->idle(now_epoch)) copies.push_back(*other_);
  }
  std::sort(copies.begin() + 1, copies.end(), [](const Series& a, const Series& b) { return a.name < b.name; });

  const std::int64_t first_epoch = now_epoch - static_cast<std::int64_t>(kBuckets) + 1;
  std::string out;
  out.reserve(copies.size() * 16000 + 8000);
  out.append("{\"step_s\":");
  append_int(out, kStepSeconds);
  out.append(",\"window_s\":");
  append_int(out, kStepSeconds * static_cast<std::int64_t>(kBuckets));
  out.append(",\"t\":[");
  for (std::size_t i = 0; i < kBuckets; ++i) {
    if (i > 0) out.push_back(',');
    append_int(out, (first_epoch + static_cast<std::int64_t>(i)) * kStepSeconds);
  }
  out.append("]");

  std::vector<std::optional<double>> requests(kBuckets), errors(kBuckets), rate(kBuckets), error_rate(kBuckets),
      p50(kBuckets), p95(kBuckets), ttft(kBuckets), tokens(kBuckets), streams(kBuckets);
  const auto append_series = [&](const Series& s) {
    // Streams open at each bucket's end, walked back from the count open now.
    std::int64_t open = s.open_streams;
    for (std::size_t i = kBuckets; i-- > 0;) {
      const std::int64_t epoch = first_epoch + static_cast<std::int64_t>(i);
      const Bucket& stored = s.buckets[slot_of(epoch, kBuckets)];
      static const Bucket kEmpty{};
      const Bucket& b = stored.epoch == epoch ? stored : kEmpty;
      streams[i] = static_cast<double>(std::max<std::int64_t>(0, open));
      open -= b.stream_delta;
      requests[i] = b.requests;
      errors[i] = b.errors;
      rate[i] = static_cast<double>(b.requests) / kStepSeconds;
      error_rate[i] = b.requests == 0 ? std::nullopt : std::optional<double>(double(b.errors) / b.requests);
      p50[i] = b.latency.quantile(0.50);
      p95[i] = b.latency.quantile(0.95);
      ttft[i] = b.ttft.quantile(0.50);
      tokens[i] = static_cast<double>(b.output_tokens) / kStepSeconds;
    }
    const std::pair<const char*, const std::vector<std::optional<double>>*> members[] = {
        {"requests", &requests}, {"errors", &errors},     {"requests_per_s", &rate},
        {"error_rate", &error_rate}, {"p50_ms", &p50},     {"p95_ms", &p95},
        {"ttft_p50_ms", &ttft},   {"tokens_per_s", &tokens}, {"active_streams", &streams}};
    out.push_back('{');
    for (const auto& [name, values] : members) {
      if (name != members[0].first) out.push_back(',');
      append_array(out, name, *values);
    }
    out.push_back('}');
  };
  out.append(",\"total\":");
  append_series(copies.front());
  out.append(",\"providers\":{");
  for (std::size_t i = 1; i < copies.size(); ++i) {
    if (i > 1) out.push_back(',');
    json::append_quoted(out, copies[i].name);
    out.push_back(':');
    append_series(copies[i]);
  }
  out.append("}}");
  return out;
}

// ---- rendering: usage ----------------------------------------------------------

namespace {

// Newest period first, then by model, provider, client.
std::vector<UsageRow> sorted(std::vector<UsageRow> rows) {
  std::sort(rows.begin(), rows.end(), [](const UsageRow& a, const UsageRow& b) {
    if (a.index != b.index) return a.index > b.index;
    return a.key < b.key;
  });
  return rows;
}

// A CSV field: a spreadsheet formula is neutralised with a leading ', and a
// field with a comma, quote or line break is quoted.
void append_csv_field(std::string& out, std::string_view value) {
  std::string field;
  if (!value.empty() && (value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@' ||
                         value[0] == '\t' || value[0] == '\r')) {
    field.push_back('\'');
  }
  field.append(value);
  if (field.find_first_of(",\"\r\n") == std::string::npos) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

std::string RequestHistory::usage_json(UsagePeriod period) const {
  const UsageTable& table = period == UsagePeriod::Hour ? *hours_ : *days_;
  const std::int64_t now_s = wall_seconds();
  std::vector<UsageRow> rows;
  {
    std::lock_guard lock(usage_mutex_);
    rows = table.snapshot(now_s);
  }
  rows = sorted(std::move(rows));
  std::string out = period == UsagePeriod::Hour ? "{\"period\":\"hour\",\"rows\":[" : "{\"period\":\"day\",\"rows\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const UsageRow& row = rows[i];
    const auto [model, provider, client] = split_key(row.key);
    if (i > 0) out.push_back(',');
    out.append("{\"start\":\"");
    append_time_from_unix(out, row.index * table.seconds);
    out.push_back('"');
    append_string_field(out, "model", model);
    append_string_field(out, "provider", provider);
    append_string_field(out, "client", client);
    append_field(out, "requests");
    append_int(out, static_cast<std::int64_t>(row.counters.requests));
    append_field(out, "errors");
    append_int(out, static_cast<std::int64_t>(row.counters.errors));
    append_field(out, "input_tokens");
    append_int(out, row.counters.input_tokens);
    append_field(out, "output_tokens");
    append_int(out, row.counters.output_tokens);
    out.push_back('}');
  }
  out.append("]}");
  return out;
}

std::string RequestHistory::usage_csv(UsagePeriod period) const {
  const UsageTable& table = period == UsagePeriod::Hour ? *hours_ : *days_;
  const std::int64_t now_s = wall_seconds();
  std::vector<UsageRow> rows;
  {
    std::lock_guard lock(usage_mutex_);
    rows = table.snapshot(now_s);
  }
  rows = sorted(std::move(rows));
  std::string out = "start,model,provider,client,requests,errors,input_tokens,output_tokens\r\n";
  for (const UsageRow& row : rows) {
    const auto [model, provider, client] = split_key(row.key);
    append_time_from_unix(out, row.index * table.seconds);
    for (std::string_view field : {model, provider, client}) {
      out.push_back(',');
      append_csv_field(out, field);
    }
    for (std::int64_t n : {static_cast<std::int64_t>(row.counters.requests),
                           static_cast<std::int64_t>(row.counters.errors), row.counters.input_tokens,
                           row.counters.output_tokens}) {
      out.push_back(',');
      append_int(out, n);
    }
    out.append("\r\n");
  }
  return out;
}

}  // namespace llmux::host
