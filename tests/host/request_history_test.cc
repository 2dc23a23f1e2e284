// The panel's request history, fed synthetic request contexts under a fake
// clock: the hour of 10 s buckets (placement, rollover, percentiles, errors,
// providers, open streams), the ring of recent requests (pages, cursors,
// filters, detail, eviction), the live feed (unsubscribing from anywhere) and
// usage per hour and day (rollover, CSV quoting), all bounded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "llmux/json.h"
#include "observability/observability.h"
#include "observability/request_history.h"

namespace llmux::test {
namespace {

using host::Outcome;
using host::RequestContext;
using host::RequestFilter;
using host::RequestHistory;
using host::UsagePeriod;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr std::int64_t kT0 = 1764770000;  // 2025-12-03T13:53:20Z, a bucket start

class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return steady_; }
  std::chrono::system_clock::time_point wall_now() const override { return wall_; }
  void advance(seconds by) {
    steady_ += by;
    wall_ += by;
  }

 private:
  std::chrono::steady_clock::time_point steady_{};
  std::chrono::system_clock::time_point wall_{seconds(kT0)};
};

struct Request {
  std::string id = "req";
  std::string provider = "mock";
  std::string model = "gpt-4o";
  std::string model_label = "gpt-4o";
  std::string client = "-";
  int status = 200;
  Outcome outcome = Outcome::Ok;
  bool stream = false;
  milliseconds duration{100};
  std::optional<milliseconds> ttft{};
  std::optional<Usage> usage{};
};

Usage tokens(std::int64_t input, std::int64_t output, std::optional<std::int64_t> cache_read = std::nullopt,
             std::optional<std::int64_t> cache_creation = std::nullopt) {
  Usage usage;
  usage.input_tokens = input;
  usage.output_tokens = output;
  usage.cache_read_tokens = cache_read;
  usage.cache_creation_tokens = cache_creation;
  return usage;
}

// A finished context as the door and the exchange leave it (no observer: the test records it).
std::unique_ptr<RequestContext> finished_context(const Request& r) {
  auto c = std::make_unique<RequestContext>(nullptr);
  c->id = r.id;
  c->provider = r.provider;
  c->model_requested = r.model;
  c->model_label = r.model_label;
  c->client = r.client;
  c->api = "openai.chat";
  c->method = "POST";
  c->path = "/v1/chat/completions";
  c->route = "gpt-*";
  c->status = r.status;
  c->stream = r.stream;
  c->usage = r.usage;
  c->started = RequestContext::Clock::now() - r.duration;
  if (r.ttft) c->first_token = c->started + *r.ttft;
  c->finish(r.outcome);
  return c;
}

void record(RequestHistory& history, const Request& r) { history.record(*finished_context(r)); }

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

// The last `n` values of one SERIES array; null as -1.
std::vector<double> tail(const rapidjson::Value& series, const char* name, std::size_t n) {
  const auto& values = series[name].GetArray();
  std::vector<double> out;
  for (std::size_t i = values.Size() - n; i < values.Size(); ++i) {
    out.push_back(values[i].IsNull() ? -1 : values[i].GetDouble());
  }
  return out;
}

double sum(const rapidjson::Value& series, const char* name) {
  double total = 0;
  for (const auto& v : series[name].GetArray()) total += v.IsNull() ? 0 : v.GetDouble();
  return total;
}

std::vector<std::int64_t> seqs(const rapidjson::Document& page) {
  std::vector<std::int64_t> out;
  for (const auto& r : page["requests"].GetArray()) out.push_back(r["seq"].GetInt64());
  return out;
}

// ---- the hour of buckets ---------------------------------------------------------

TEST(RequestHistoryStats, RequestsLandInTheirTenSecondBucketAndErrorsLeaveClientAbortsOut) {
  FakeClock clock;
  RequestHistory history(&clock);
  record(history, {});
  record(history, {});
  clock.advance(seconds(9));
  record(history, {});  // still the first bucket
  clock.advance(seconds(1));
  record(history, {.status = 502, .outcome = Outcome::UpstreamError});
  record(history, {.status = 200, .outcome = Outcome::ClientAbort});
  record(history, {.status = 504, .outcome = Outcome::Timeout});
  record(history, {.status = 401, .outcome = Outcome::Rejected});

  auto stats = parse(history.stats_json());
  EXPECT_EQ(stats["step_s"].GetInt(), 10);
  EXPECT_EQ(stats["window_s"].GetInt(), 3600);
  ASSERT_EQ(stats["t"].Size(), 360u);
  EXPECT_EQ(stats["t"][359].GetInt64(), kT0 + 10);
  EXPECT_EQ(stats["t"][358].GetInt64(), kT0);
  EXPECT_EQ(stats["t"][0].GetInt64(), kT0 + 10 - 3590);
  const auto& total = stats["total"];
  EXPECT_EQ(tail(total, "requests", 3), (std::vector<double>{0, 3, 4}));
  EXPECT_EQ(tail(total, "errors", 3), (std::vector<double>{0, 0, 3}));
  EXPECT_EQ(tail(total, "requests_per_s", 2), (std::vector<double>{0.3, 0.4}));
  EXPECT_EQ(tail(total, "error_rate", 3), (std::vector<double>{-1, 0, 0.75}));  // null without requests
  EXPECT_EQ(tail(total, "p50_ms", 3)[0], -1);  // an empty bucket has no latency
  EXPECT_EQ(tail(total, "ttft_p50_ms", 1)[0], -1);  // nor TTFT without streams
}

TEST(RequestHistoryStats, AnHourLaterTheOldBucketsAreGone) {
  FakeClock clock;
  RequestHistory history(&clock);
  record(history, {});
  clock.advance(seconds(10));
  record(history, {});
  record(history, {});
  clock.advance(seconds(3590));  // the first bucket just left the window, the second is the oldest
  auto stats = parse(history.stats_json());
  EXPECT_EQ(stats["t"][0].GetInt64(), kT0 + 10);
  EXPECT_EQ(stats["total"]["requests"][0].GetInt(), 2);
  EXPECT_EQ(sum(stats["total"], "requests"), 2);

  // The new bucket reuses the first one's slot and starts empty.
  record(history, {});
  stats = parse(history.stats_json());
  EXPECT_EQ(tail(stats["total"], "requests", 1)[0], 1);
  EXPECT_EQ(sum(stats["total"], "requests"), 3);

  clock.advance(seconds(3600));
  stats = parse(history.stats_json());
  EXPECT_EQ(sum(stats["total"], "requests"), 0);
  EXPECT_EQ(stats["t"][359].GetInt64(), kT0 + 7200);
  EXPECT_EQ(stats["providers"].MemberCount(), 0u);
}

TEST(RequestHistoryStats, PercentilesComeFromTheBucketsHistogram) {
  FakeClock clock;
  RequestHistory history(&clock);
  for (int ms = 1; ms <= 100; ++ms) record(history, {.duration = milliseconds(ms)});
  auto stats = parse(history.stats_json());
  const double p50 = tail(stats["total"], "p50_ms", 1)[0];
  const double p95 = tail(stats["total"], "p95_ms", 1)[0];
  EXPECT_GT(p50, 50 / 1.42);
  EXPECT_LT(p50, 50 * 1.42);
  EXPECT_GT(p95, 95 / 1.42);
  EXPECT_LE(p95, 100.5);  // never above the slowest
  EXPECT_LT(p50, p95);

  // A bucket of equal durations gives that duration.
  clock.advance(seconds(10));
  for (int i = 0; i < 5; ++i) record(history, {.duration = milliseconds(250)});
  stats = parse(history.stats_json());
  EXPECT_NEAR(tail(stats["total"], "p50_ms", 1)[0], 250, 1);
  EXPECT_NEAR(tail(stats["total"], "p95_ms", 1)[0], 250, 1);

  // TTFT counts streams only (a non-stream's 5 ms would pull the median down).
  clock.advance(seconds(10));
  record(history, {.stream = true, .duration = milliseconds(900), .ttft = milliseconds(300)});
  record(history, {.stream = true, .duration = milliseconds(900), .ttft = milliseconds(300)});
  record(history, {.stream = false, .duration = milliseconds(900), .ttft = milliseconds(5)});
  stats = parse(history.stats_json());
  EXPECT_NEAR(tail(stats["total"], "ttft_p50_ms", 1)[0], 300, 0.01);
  EXPECT_NEAR(tail(stats["total"], "p95_ms", 1)[0], 900, 2);
}

TEST(RequestHistoryStats, EachProviderHasItsSeriesAndTokensPerSecond) {
  FakeClock clock;
  RequestHistory history(&clock);
  record(history, {.provider = "openai", .usage = tokens(10, 40)});
  record(history, {.provider = "openai", .usage = tokens(10, 60)});
  record(history, {.provider = "mock", .status = 503, .outcome = Outcome::UpstreamError});
  record(history, {.provider = "none", .status = 404, .outcome = Outcome::Rejected});  // no provider involved
  auto stats = parse(history.stats_json());
  const auto& providers = stats["providers"];
  ASSERT_EQ(providers.MemberCount(), 2u);
  EXPECT_EQ(tail(providers["openai"], "requests", 1)[0], 2);
  EXPECT_EQ(tail(providers["openai"], "tokens_per_s", 1)[0], 10);  // 100 output tokens in 10 s
  EXPECT_EQ(tail(providers["mock"], "errors", 1)[0], 1);
  EXPECT_EQ(tail(stats["total"], "requests", 1)[0], 4);
  EXPECT_EQ(tail(stats["total"], "errors", 1)[0], 2);
}

TEST(RequestHistoryStats, ProvidersBeyondTheCapShareOtherAndAnIdleOneGivesWay) {
  FakeClock clock;
  RequestHistory history(&clock);
  for (int i = 0; i < 70; ++i) record(history, {.provider = "p" + std::to_string(i)});
  auto stats = parse(history.stats_json());
  EXPECT_EQ(stats["providers"].MemberCount(), RequestHistory::kMaxProviders + 1);
  ASSERT_TRUE(stats["providers"].HasMember("other"));
  EXPECT_EQ(tail(stats["providers"]["other"], "requests", 1)[0], 6);
  EXPECT_FALSE(stats["providers"].HasMember("p69"));

  clock.advance(seconds(3600));
  record(history, {.provider = "newcomer"});
  stats = parse(history.stats_json());
  ASSERT_EQ(stats["providers"].MemberCount(), 1u);
  EXPECT_TRUE(stats["providers"].HasMember("newcomer"));
}

TEST(RequestHistoryStats, ActiveStreamsAreThoseOpenAtEachBucketsEnd) {
  FakeClock clock;
  RequestHistory history(&clock);
  auto second = std::make_unique<RequestContext>(nullptr);
  second->provider = "openai";
  second->stream = true;
  second->stream_open = true;
  auto opening = std::make_unique<RequestContext>(nullptr);
  opening->provider = "mock";
  opening->stream = true;
  opening->stream_open = true;

  history.stream_started(*opening);  // T0: one open
  clock.advance(seconds(10));
  history.stream_started(*second);  // T0+10: two open
  clock.advance(seconds(10));
  opening->finish(Outcome::Ok);
  history.record(*opening);  // T0+20: one open
  clock.advance(seconds(10));  // T0+30: still one

  auto stats = parse(history.stats_json());
  EXPECT_EQ(tail(stats["total"], "active_streams", 5), (std::vector<double>{0, 1, 2, 1, 1}));
  EXPECT_EQ(tail(stats["providers"]["mock"], "active_streams", 5), (std::vector<double>{0, 1, 1, 0, 0}));
  EXPECT_EQ(tail(stats["providers"]["openai"], "active_streams", 5), (std::vector<double>{0, 0, 1, 1, 1}));

  second->finish(Outcome::ClientAbort);
  history.record(*second);
  stats = parse(history.stats_json());
  EXPECT_EQ(tail(stats["total"], "active_streams", 1)[0], 0);
  EXPECT_EQ(tail(stats["total"], "active_streams", 2)[0], 1);
}

// ---- recent requests ------------------------------------------------------------

TEST(RequestHistoryRequests, PagesFollowTheCursorWithoutDuplicatesOrGapsWhileRequestsArrive) {
  FakeClock clock;
  RequestHistory history(&clock);
  for (int i = 1; i <= 25; ++i) record(history, {.id = "r" + std::to_string(i)});

  std::vector<std::int64_t> seen;
  auto page = parse(*history.requests_json({}, 10, ""));
  auto got = seqs(page);
  EXPECT_EQ(got.front(), 25);
  seen.insert(seen.end(), got.begin(), got.end());
  ASSERT_TRUE(page["next_cursor"].IsString());
  std::string cursor = page["next_cursor"].GetString();

  for (int i = 26; i <= 30; ++i) record(history, {.id = "r" + std::to_string(i)});  // newer: not in later pages
  while (true) {
    page = parse(*history.requests_json({}, 10, cursor));
    got = seqs(page);
    seen.insert(seen.end(), got.begin(), got.end());
    if (page["next_cursor"].IsNull()) break;
    cursor = page["next_cursor"].GetString();
  }
  std::vector<std::int64_t> expected;
  for (int s = 25; s >= 1; --s) expected.push_back(s);
  EXPECT_EQ(seen, expected);

  page = parse(*history.requests_json({}, 10, ""));
  EXPECT_EQ(seqs(page).front(), 30);
  EXPECT_STREQ(page["requests"][0]["id"].GetString(), "r30");
}

TEST(RequestHistoryRequests, TheLimitIsClampedAndTheLastPageHasNoCursor) {
  FakeClock clock;
  RequestHistory history(&clock);
  for (int i = 0; i < 300; ++i) record(history, {});
  EXPECT_EQ(parse(*history.requests_json({}, 0, ""))["requests"].Size(), 1u);
  EXPECT_EQ(parse(*history.requests_json({}, -5, ""))["requests"].Size(), 1u);
  EXPECT_EQ(parse(*history.requests_json({}, 1000, ""))["requests"].Size(), 200u);
  auto exact = parse(*history.requests_json({}, 100, "101"));  // exactly the 100 oldest
  EXPECT_EQ(exact["requests"].Size(), 100u);
  EXPECT_TRUE(exact["next_cursor"].IsNull());
}

TEST(RequestHistoryRequests, AnInvalidCursorOrStatusFilterIsRefused) {
  FakeClock clock;
  RequestHistory history(&clock);
  for (int i = 0; i < 3; ++i) record(history, {});
  for (const char* cursor : {"abc", "12x", "-1", "0", " 1", "99999999999999999999999", "5"}) {
    EXPECT_FALSE(history.requests_json({}, 10, cursor).has_value()) << cursor;
  }
  EXPECT_TRUE(history.requests_json({}, 10, "4").has_value());  // just past the newest: from the newest
  for (const char* status : {"abc", "6xx", "20", "2000", "4x"}) {
    EXPECT_FALSE(history.requests_json({.status = status}, 10, "").has_value()) << status;
  }
}

TEST(RequestHistoryRequests, FiltersMatchExactlyAndByStatusClass) {
  FakeClock clock;
  RequestHistory history(&clock);
  record(history, {.id = "a", .provider = "openai", .model = "gpt-4o", .client = "alice"});
  record(history, {.id = "b", .provider = "mock", .model = "gpt-4o-mini", .client = "bob", .status = 429,
                   .outcome = Outcome::UpstreamError});
  record(history, {.id = "c", .provider = "openai", .model = "gpt-4o", .client = "bob", .status = 502,
                   .outcome = Outcome::UpstreamError});
  record(history, {.id = "d", .provider = "openai", .model = "gpt-4o", .client = "alice", .status = 200,
                   .outcome = Outcome::UpstreamError});  // a stream that failed after its head
  record(history, {.id = "e", .model = "o3", .client = "alice", .status = 200, .outcome = Outcome::ClientAbort});

  auto ids = [&](const RequestFilter& filter) {
    std::string out;
    auto doc = parse(*history.requests_json(filter, 50, ""));  // kept: the loop reads into it
    for (const auto& r : doc["requests"].GetArray()) out += r["id"].GetString();
    return out;
  };
  EXPECT_EQ(ids({}), "edcba");
  EXPECT_EQ(ids({.model = "gpt-4o"}), "dca");
  EXPECT_EQ(ids({.model = "gpt-4"}), "");  // exact, not a prefix
  EXPECT_EQ(ids({.provider = "openai", .client = "alice"}), "da");
  EXPECT_EQ(ids({.status = "200"}), "eda");
  EXPECT_EQ(ids({.status = "4xx"}), "b");
  EXPECT_EQ(ids({.status = "5xx"}), "c");
  EXPECT_EQ(ids({.status = "error"}), "dcb");  // the client's abort is not an error
  // A filtered page's cursor skips what the filter leaves out.
  auto page = parse(*history.requests_json({.client = "alice"}, 1, ""));
  EXPECT_STREQ(page["requests"][0]["id"].GetString(), "e");
  page = parse(*history.requests_json({.client = "alice"}, 1, page["next_cursor"].GetString()));
  EXPECT_STREQ(page["requests"][0]["id"].GetString(), "d");
}

TEST(RequestHistoryRequests, ASummaryHasTheDocumentedFields) {
  FakeClock clock;
  RequestHistory history(&clock);
  auto context = finished_context({.id = "abc", .stream = true, .duration = milliseconds(1500),
                                   .ttft = milliseconds(120), .usage = tokens(11, 22, 3, 4)});
  context->wall_started = std::chrono::system_clock::time_point(milliseconds(kT0 * 1000 + 42));
  history.record(*context);
  auto page = parse(*history.requests_json({}, 1, ""));
  const auto& r = page["requests"][0];
  std::vector<std::string> names;
  for (const auto& m : r.GetObject()) names.emplace_back(m.name.GetString());
  EXPECT_EQ(names, (std::vector<std::string>{"id", "seq", "at", "api", "method", "path", "model", "route", "provider",
                                             "client", "status", "outcome", "stream", "duration_ms", "ttft_ms",
                                             "input_tokens", "output_tokens"}));
  EXPECT_STREQ(r["at"].GetString(), "2025-12-03T13:53:20.042Z");
  EXPECT_STREQ(r["outcome"].GetString(), "ok");
  EXPECT_TRUE(r["stream"].GetBool());
  EXPECT_NEAR(r["duration_ms"].GetDouble(), 1500, 5);
  EXPECT_NEAR(r["ttft_ms"].GetDouble(), 120, 0.01);
  EXPECT_EQ(r["input_tokens"].GetInt(), 11);
  EXPECT_EQ(r["output_tokens"].GetInt(), 22);

  record(history, {.id = "plain"});  // no usage, no stream: nulls
  page = parse(*history.requests_json({}, 1, ""));
  EXPECT_TRUE(page["requests"][0]["ttft_ms"].IsNull());
  EXPECT_TRUE(page["requests"][0]["input_tokens"].IsNull());
}

TEST(RequestHistoryRequests, TheDetailAddsItsFieldsUntilTheRequestIsEvicted) {
  FakeClock clock;
  RequestHistory history(&clock);
  history.set_capacity(5);
  auto context = finished_context({.id = "r1", .usage = tokens(1, 2, 30)});
  context->model_answered = "gpt-4o-2024-08-06";
  context->bytes_in = 123;
  context->bytes_out = 456;
  context->warnings = {"dropped: logit_bias"};
  context->attempts = {{"broken", "error", 503, milliseconds(20)}, {"mock", "ok", 200, milliseconds(80)}};
  history.record(*context);

  auto detail = parse(*history.request_json("r1"));
  EXPECT_STREQ(detail["id"].GetString(), "r1");
  EXPECT_STREQ(detail["model_answered"].GetString(), "gpt-4o-2024-08-06");
  EXPECT_EQ(detail["bytes_in"].GetInt(), 123);
  EXPECT_EQ(detail["bytes_out"].GetInt(), 456);
  ASSERT_EQ(detail["warnings"].Size(), 1u);
  EXPECT_STREQ(detail["warnings"][0].GetString(), "dropped: logit_bias");
  ASSERT_EQ(detail["attempts"].Size(), 2u);
  EXPECT_STREQ(detail["attempts"][0]["provider"].GetString(), "broken");
  EXPECT_STREQ(detail["attempts"][0]["outcome"].GetString(), "error");
  EXPECT_EQ(detail["attempts"][0]["status"].GetInt(), 503);
  EXPECT_EQ(detail["attempts"][1]["duration_ms"].GetDouble(), 80);
  EXPECT_EQ(detail["cache_read_tokens"].GetInt(), 30);
  EXPECT_TRUE(detail["cache_creation_tokens"].IsNull());
  EXPECT_FALSE(history.request_json("nope").has_value());

  for (int i = 2; i <= 6; ++i) record(history, {.id = "r" + std::to_string(i)});
  EXPECT_FALSE(history.request_json("r1").has_value());  // the sixth pushed it out
  EXPECT_TRUE(history.request_json("r2").has_value());
  EXPECT_EQ(history.size(), 5u);

  // Shrinking keeps the newest; growing keeps what is there.
  history.set_capacity(2);
  EXPECT_EQ(seqs(parse(*history.requests_json({}, 50, ""))), (std::vector<std::int64_t>{6, 5}));
  history.set_capacity(10);
  record(history, {.id = "r7"});
  EXPECT_EQ(seqs(parse(*history.requests_json({}, 50, ""))), (std::vector<std::int64_t>{7, 6, 5}));
}

TEST(RequestHistoryRequests, TheRingStaysAtItsCapacityAndClientStringsAreBounded) {
  FakeClock clock;
  RequestHistory history(&clock);
  std::string long_model = "x";  // then é: byte 200 is inside one, so the cut backs up
  for (int i = 0; i < 300; ++i) long_model += "\xC3\xA9";  // é: a cut must not split it
  for (int i = 0; i < 100000; ++i) record(history, {.model = i == 99999 ? long_model : "m"});
  EXPECT_EQ(history.size(), RequestHistory::kDefaultCapacity);
  EXPECT_EQ(history.capacity(), RequestHistory::kDefaultCapacity);
  auto page = parse(*history.requests_json({}, 200, std::to_string(100000 - 1999 + 1)));
  EXPECT_EQ(seqs(page).front(), 100000 - 1999);
  EXPECT_EQ(seqs(page).back(), 100000 - 1999);  // the oldest kept
  EXPECT_TRUE(page["next_cursor"].IsNull());
  const std::string model = parse(*history.requests_json({}, 1, ""))["requests"][0]["model"].GetString();
  EXPECT_EQ(model.size(), 199u);
  EXPECT_EQ(model, long_model.substr(0, 199));
}

// ---- the live feed ----------------------------------------------------------------

TEST(RequestHistoryEvents, SubscribersGetEachSummaryUntilTheyLeave) {
  FakeClock clock;
  RequestHistory history(&clock);
  std::vector<std::string> got;
  auto subscription = history.subscribe([&](const std::string& summary) { got.push_back(summary); });
  ASSERT_NE(subscription, nullptr);
  record(history, {.id = "one"});
  ASSERT_EQ(got.size(), 1u);
  auto summary = parse(got[0]);
  EXPECT_STREQ(summary["id"].GetString(), "one");
  EXPECT_THAT(*history.requests_json({}, 1, ""), HasSubstr(got[0]));  // the same SUMMARY as the list
  subscription.reset();
  EXPECT_EQ(history.subscriber_count(), 0u);
  record(history, {.id = "two"});
  EXPECT_EQ(got.size(), 1u);
}

TEST(RequestHistoryEvents, SubscribersAreCapped) {
  FakeClock clock;
  RequestHistory history(&clock);
  std::vector<std::unique_ptr<RequestHistory::Subscription>> subscriptions;
  for (std::size_t i = 0; i < RequestHistory::kMaxSubscribers; ++i) {
    subscriptions.push_back(history.subscribe([](const std::string&) {}));
    ASSERT_NE(subscriptions.back(), nullptr);
  }
  EXPECT_EQ(history.subscribe([](const std::string&) {}), nullptr);
  subscriptions.pop_back();
  EXPECT_NE(history.subscribe([](const std::string&) {}), nullptr);
}

TEST(RequestHistoryEvents, AListenerMayUnsubscribeItselfAndRecordAgain) {
  FakeClock clock;
  RequestHistory history(&clock);
  int calls = 0;
  std::unique_ptr<RequestHistory::Subscription> subscription;
  subscription = history.subscribe([&](const std::string&) {
    if (++calls == 1) record(history, {.id = "nested"});  // no lock of the history is held here
    subscription.reset();  // leaving from inside its own (nested) call
  });
  record(history, {.id = "first"});
  EXPECT_EQ(calls, 2);  // "first", then the nested record reached it before it left
  EXPECT_EQ(subscription, nullptr);
  record(history, {.id = "after"});
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(history.size(), 3u);
}

TEST(RequestHistoryEvents, OnceUnsubscribedFromAnotherThreadTheListenerNeverRunsAgain) {
  FakeClock clock;
  RequestHistory history(&clock);
  for (int round = 0; round < 20; ++round) {
    std::atomic<bool> left{false};
    std::atomic<int> late_calls{0};
    std::atomic<int> calls{0};
    auto subscription = history.subscribe([&](const std::string&) {
      if (left.load()) ++late_calls;
      ++calls;
    });
    std::atomic<bool> stop{false};
    std::vector<std::thread> publishers;
    for (int t = 0; t < 3; ++t) {
      publishers.emplace_back([&] {
        while (!stop.load()) record(history, {});
      });
    }
    while (calls.load() < 20) std::this_thread::yield();
    subscription.reset();
    left.store(true);
    const int calls_at_leave = calls.load();
    for (int i = 0; i < 200; ++i) record(history, {});
    stop.store(true);
    for (auto& p : publishers) p.join();
    EXPECT_EQ(late_calls.load(), 0);
    EXPECT_EQ(calls.load(), calls_at_leave);
  }
}

// ---- usage --------------------------------------------------------------------------

TEST(RequestHistoryUsage, RowsPerHourAndDayRollOverAndAgeOut) {
  FakeClock clock;  // 13:53:20 UTC
  RequestHistory history(&clock);
  record(history, {.client = "alice", .usage = tokens(100, 10)});
  record(history, {.client = "alice", .status = 502, .outcome = Outcome::UpstreamError});
  record(history, {.client = "bob", .outcome = Outcome::ClientAbort, .usage = tokens(5, 1)});
  clock.advance(seconds(3600));  // 14:53
  record(history, {.client = "alice", .usage = tokens(7, 3)});

  auto hours = parse(history.usage_json(UsagePeriod::Hour));
  EXPECT_STREQ(hours["period"].GetString(), "hour");
  ASSERT_EQ(hours["rows"].Size(), 3u);
  const auto& newest = hours["rows"][0];
  EXPECT_STREQ(newest["start"].GetString(), "2025-12-03T14:00:00Z");
  EXPECT_STREQ(newest["model"].GetString(), "gpt-4o");
  EXPECT_STREQ(newest["provider"].GetString(), "mock");
  EXPECT_STREQ(newest["client"].GetString(), "alice");
  EXPECT_EQ(newest["requests"].GetInt(), 1);
  const auto& alice = hours["rows"][1];
  EXPECT_STREQ(alice["start"].GetString(), "2025-12-03T13:00:00Z");
  EXPECT_STREQ(alice["client"].GetString(), "alice");
  EXPECT_EQ(alice["requests"].GetInt(), 2);
  EXPECT_EQ(alice["errors"].GetInt(), 1);
  EXPECT_EQ(alice["input_tokens"].GetInt(), 100);
  EXPECT_EQ(alice["output_tokens"].GetInt(), 10);
  EXPECT_EQ(hours["rows"][2]["errors"].GetInt(), 0);  // bob's abort is not an error

  auto days = parse(history.usage_json(UsagePeriod::Day));
  EXPECT_STREQ(days["period"].GetString(), "day");
  ASSERT_EQ(days["rows"].Size(), 2u);
  EXPECT_STREQ(days["rows"][0]["start"].GetString(), "2025-12-03T00:00:00Z");
  EXPECT_EQ(days["rows"][0]["requests"].GetInt(), 3);  // alice's three
  EXPECT_EQ(days["rows"][0]["input_tokens"].GetInt(), 107);

  clock.advance(seconds(47 * 3600));  // the 13:00 hour is now 49 hours old
  hours = parse(history.usage_json(UsagePeriod::Hour));
  ASSERT_EQ(hours["rows"].Size(), 1u);
  EXPECT_STREQ(hours["rows"][0]["start"].GetString(), "2025-12-03T14:00:00Z");
  clock.advance(seconds(3600));
  EXPECT_EQ(parse(history.usage_json(UsagePeriod::Hour))["rows"].Size(), 0u);
  EXPECT_EQ(parse(history.usage_json(UsagePeriod::Day))["rows"].Size(), 2u);

  record(history, {.client = "alice"});  // a new day
  days = parse(history.usage_json(UsagePeriod::Day));
  ASSERT_EQ(days["rows"].Size(), 3u);
  EXPECT_STREQ(days["rows"][0]["start"].GetString(), "2025-12-05T00:00:00Z");

  clock.advance(seconds(89 * 86400));
  days = parse(history.usage_json(UsagePeriod::Day));
  ASSERT_EQ(days["rows"].Size(), 1u);
  EXPECT_STREQ(days["rows"][0]["start"].GetString(), "2025-12-05T00:00:00Z");
}

TEST(RequestHistoryUsage, CsvQuotesFieldsAndNeutralisesFormulas) {
  FakeClock clock;
  RequestHistory history(&clock);
  record(history, {.provider = "p", .model_label = "a,b", .client = "=HYPERLINK(\"x\")", .usage = tokens(1, 2)});
  record(history, {.provider = "p", .model_label = "m", .client = "@sum", .usage = tokens(3, 4)});
  record(history, {.provider = "-p", .model_label = "+m", .client = "plain"});
  EXPECT_EQ(history.usage_csv(UsagePeriod::Hour),
            "start,model,provider,client,requests,errors,input_tokens,output_tokens\r\n"
            "2025-12-03T13:00:00Z,'+m,'-p,plain,1,0,0,0\r\n"
            "2025-12-03T13:00:00Z,\"a,b\",p,\"'=HYPERLINK(\"\"x\"\")\",1,0,1,2\r\n"
            "2025-12-03T13:00:00Z,m,p,'@sum,1,0,3,4\r\n");
  EXPECT_THAT(history.usage_csv(UsagePeriod::Day), HasSubstr("2025-12-03T00:00:00Z,m,p,'@sum,1,0,3,4\r\n"));
  // JSON keeps the text as it is.
  EXPECT_THAT(history.usage_json(UsagePeriod::Hour), HasSubstr("\"client\":\"=HYPERLINK(\\\"x\\\")\""));
}

TEST(RequestHistoryUsage, KeysPerPeriodAreBoundedAndTheRestGoesToOther) {
  FakeClock clock;
  RequestHistory history(&clock);
  for (std::size_t i = 0; i < RequestHistory::kMaxUsageKeys; ++i) {
    record(history, {.model_label = "m" + std::to_string(i)});
  }
  record(history, {.model_label = "extra1"});
  record(history, {.model_label = "extra2"});
  auto hours = parse(history.usage_json(UsagePeriod::Hour));
  EXPECT_EQ(hours["rows"].Size(), RequestHistory::kMaxUsageKeys + 1);
  int requests = 0;
  bool other = false;
  for (const auto& row : hours["rows"].GetArray()) {
    requests += row["requests"].GetInt();
    if (std::string(row["model"].GetString()) == "other") {
      other = true;
      EXPECT_EQ(row["requests"].GetInt(), 2);
      EXPECT_STREQ(row["provider"].GetString(), "mock");  // only the model is folded
    }
  }
  EXPECT_TRUE(other);
  EXPECT_EQ(requests, static_cast<int>(RequestHistory::kMaxUsageKeys) + 2);

  // Folded rows are bounded too: past them, provider and client fold as well.
  for (std::size_t i = 0; i < RequestHistory::kMaxProviders; ++i) {
    record(history, {.provider = "q" + std::to_string(i), .model_label = "late"});
  }
  hours = parse(history.usage_json(UsagePeriod::Hour));
  EXPECT_EQ(hours["rows"].Size(), RequestHistory::kMaxUsageKeys + RequestHistory::kMaxProviders + 1);
  bool all_other = false;
  for (const auto& row : hours["rows"].GetArray()) {
    if (std::string(row["model"].GetString()) == "other" && std::string(row["provider"].GetString()) == "other") {
      all_other = true;
      EXPECT_STREQ(row["client"].GetString(), "other");
      EXPECT_EQ(row["requests"].GetInt(), 1);
    }
  }
  EXPECT_TRUE(all_other);
}

TEST(RequestHistoryConcurrency, RequestsFinishingOnManyThreadsAreAllCountedOnce) {
  FakeClock clock;
  RequestHistory history(&clock, 100000);
  constexpr int kThreads = 4;
  constexpr int kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        record(history, {.id = std::to_string(t) + "-" + std::to_string(i), .provider = "p" + std::to_string(t % 2),
                         .stream = true, .ttft = milliseconds(1)});
      }
    });
  }
  std::string stats_meanwhile = history.stats_json();  // readers run alongside
  for (auto& t : threads) t.join();
  EXPECT_FALSE(parse(stats_meanwhile).HasParseError());

  auto stats = parse(history.stats_json());
  EXPECT_EQ(sum(stats["total"], "requests"), kThreads * kEach);
  EXPECT_EQ(sum(stats["providers"]["p0"], "requests") + sum(stats["providers"]["p1"], "requests"), kThreads * kEach);
  std::set<std::int64_t> seen;
  std::string cursor;
  do {
    auto page = parse(*history.requests_json({}, 200, cursor));
    for (std::int64_t seq : seqs(page)) EXPECT_TRUE(seen.insert(seq).second);
    cursor = page["next_cursor"].IsNull() ? "" : page["next_cursor"].GetString();
  } while (!cursor.empty());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(*seen.rbegin(), kThreads * kEach);
}

// ---- through Observability ----------------------------------------------------------

TEST(RequestHistoryObservability, ObservabilityFeedsItsHistoryFromEveryRequest) {
  FakeClock clock;
  auto observability = std::make_shared<host::Observability>(&clock);
  observability->set_metrics_enabled(false);  // the panel's history does not depend on metrics
  auto context = observability->start_request();
  context->id = "via-observability";
  context->provider = "mock";
  context->stream = true;
  context->note_committed(200, true);
  auto stats = parse(observability->history().stats_json());
  EXPECT_EQ(tail(stats["total"], "active_streams", 1)[0], 1);
  context->finish(Outcome::Ok);
  stats = parse(observability->history().stats_json());
  EXPECT_EQ(tail(stats["total"], "active_streams", 1)[0], 0);
  EXPECT_EQ(tail(stats["total"], "requests", 1)[0], 1);
  EXPECT_TRUE(observability->history().request_json("via-observability").has_value());
}

}  // namespace
}  // namespace llmux::test
