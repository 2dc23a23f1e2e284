// The panel's memory of recent traffic, fed from the request context of every
// finished request (as the metrics and the access log are): the last hour in
// 10 s buckets (Overview), the last N requests (Requests, Live log), a live
// feed of finished requests (GET /events) and token usage per hour and day
// (Usage). Everything is in memory and bounded; a restart starts over.
//
// Threading: record() and stream_started() run on the threads that finish
// requests. They build what they store before taking a lock and hold each
// lock (series, ring, usage: separate, never nested) for a few field updates.
// Readers copy under the lock and render JSON outside it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "llmux/host_services.h"
#include "observability/request_context.h"
#include "services/spin_mutex.h"

namespace llmux::host {

// GET /requests filters; an empty field matches everything.
struct RequestFilter {
  std::string model{};     // exactly the model the client asked for
  std::string provider{};
  std::string client{};
  std::string status{};    // "200" (a status), "4xx" (a class, 1xx..5xx), "error" (outcome not ok)

  // True when `status` is empty or one of the forms above.
  static bool valid_status(std::string_view status);
};

enum class UsagePeriod { Hour, Day };

class RequestHistory {
 public:
  static constexpr std::size_t kDefaultCapacity = 2000;
  static constexpr std::size_t kMaxCapacity = 100000;
  static constexpr int kStepSeconds = 10;
  static constexpr std::size_t kBuckets = 360;  // one hour
  static constexpr std::size_t kMaxProviders = 64;  // more share the series "other"
  static constexpr std::size_t kLatencyBins = 40;
  static constexpr std::size_t kMaxSubscribers = 32;
  static constexpr std::size_t kMaxUsageKeys = 1000;  // per hour or day; more go to model "other"
  static constexpr std::size_t kHoursKept = 48;
  static constexpr std::size_t kDaysKept = 90;
  static constexpr int kMaxPageSize = 200;

  // `clock` (not owned, outlives this) places requests in time; null: the system clocks.
  explicit RequestHistory(const Clock* clock = nullptr, std::size_t capacity = kDefaultCapacity);
  ~RequestHistory();
  RequestHistory(const RequestHistory&) = delete;
  RequestHistory& operator=(const RequestHistory&) = delete;

  // A streamed answer's head went out (counted in active_streams until record()).
  void stream_started(const RequestContext& context);
  // The request ended: into the series, the ring, the usage and the live feed.
  void record(const RequestContext& context);

  // How many finished requests the ring keeps (admin.history), 0..kMaxCapacity; keeps the newest.
  void set_capacity(std::size_t capacity);
  std::size_t capacity() const;
  std::size_t size() const;  // requests kept now

  // The STATS object of docs/admin-api.md (Overview).
  std::string stats_json() const;

  // {"requests":[SUMMARY],"next_cursor":"…"|null}, newest first. `limit` is
  // clamped to 1..kMaxPageSize; an empty cursor starts at the newest. nullopt
  // (a 400 for the API) when the cursor is not one this produced or the
  // status filter is not a valid form.
  std::optional<std::string> requests_json(const RequestFilter& filter, int limit, std::string_view cursor) const;
  // SUMMARY plus the detail fields of the newest request with this id; nullopt once it is no longer kept.
  std::optional<std::string> request_json(std::string_view id) const;

  // The live feed: `listener` gets each finished request's SUMMARY. It runs on
  // the thread that finished the request, outside the history's locks, maybe
  // on several threads at once, so it must be quick (queue and return); it
  // may call anything here, including destroying its own Subscription.
  using Listener = std::function<void(const std::string& summary_json)>;
  class Subscription {
   public:
    // Unsubscribes; once it returns the listener is not running (except on
    // this very thread, when destroyed from inside it) and never runs again.
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    friend class RequestHistory;
    struct Hub;
    struct Subscriber;
    Subscription(std::shared_ptr<Hub> hub, std::shared_ptr<Subscriber> subscriber);
    std::shared_ptr<Hub> hub_;
    std::shared_ptr<Subscriber> subscriber_;
  };
  // Null when kMaxSubscribers are already listening.
  std::unique_ptr<Subscription> subscribe(Listener listener);
  std::size_t subscriber_count() const;

  // {"period":"hour","rows":[{"start","model","provider","client","requests","errors",
  // "input_tokens","output_tokens"}]}, newest period first.
  std::string usage_json(UsagePeriod period) const;
  // The same rows as CSV (RFC 4180, CRLF), with a header line.
  std::string usage_csv(UsagePeriod period) const;

  struct Record;  // one finished request as kept (defined in the .cc)
  struct Series;  // one hour of buckets for the total or one provider
  struct UsageTable;

 private:
  std::int64_t wall_seconds() const;
  // Under series_mutex_: the provider's series (null for "none"), adopting
  // `spare` for a new one; sets `need_spare` when a new one needs `spare` built.
  Series* series_for(std::string_view provider, std::unique_ptr<Series>& spare, std::unique_ptr<Series>& retired,
                     bool& need_spare);

  const Clock* clock_;

  // Time series.
  mutable SpinMutex series_mutex_;  // spins: taken by every I/O thread for a few field updates
  std::unique_ptr<Series> total_;
  std::vector<std::unique_ptr<Series>> providers_;  // up to kMaxProviders, then other_
  std::unique_ptr<Series> other_;
  // Which series counts each open stream: a stream's end finds it in O(1)
  // (10,000 held streams must not mean 10,000 steps per stream end).
  std::unordered_map<const RequestContext*, Series*> open_streams_;
  std::int64_t latest_epoch_ = 0;  // the newest bucket written (wall time may step back)

  // Recent requests: slot seq % capacity holds request `seq`.
  mutable SpinMutex ring_mutex_;
  std::vector<std::shared_ptr<const Record>> ring_;
  std::uint64_t last_seq_ = 0;

  // Usage.
  mutable SpinMutex usage_mutex_;
  std::unique_ptr<UsageTable> hours_;
  std::unique_ptr<UsageTable> days_;

  std::shared_ptr<Subscription::Hub> hub_;
};

}  // namespace llmux::host
