// ProviderHealth's admin additions: reset, counters, recent errors, p50
// latency and the wall time a cooldown ends.
#include "gateway/provider_health.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace llmux::test {
namespace {

using host::ProviderHealth;
using namespace std::chrono_literals;

class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return now_; }
  std::chrono::system_clock::time_point wall_now() const override { return wall_; }
  void advance(std::chrono::milliseconds by) {
    now_ += by;
    wall_ += by;
  }

 private:
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
  std::chrono::system_clock::time_point wall_{std::chrono::seconds(1'764'770'000)};
};

const host::CooldownPolicy kCoolAtOnce{1, 30s};
const host::CooldownPolicy kNeverCool{0, 30s};

TEST(ProviderHealth, ResetEndsACooldownAtOnce) {
  FakeClock clock;
  ProviderHealth health(&clock);
  health.record_failure("p", kCoolAtOnce, false, "upstream 503", 503);
  ASSERT_EQ(health.admit("p", nullptr), ProviderHealth::Admission::Skip);
  auto cooling = health.status("p");
  EXPECT_TRUE(cooling.cooling_down);
  ASSERT_TRUE(cooling.cooldown_until.has_value());
  EXPECT_EQ(*cooling.cooldown_until, clock.wall_now() + 30s);

  EXPECT_TRUE(health.reset("p"));
  // Admitted normally (not as a probe), with no time passing.
  EXPECT_EQ(health.admit("p", nullptr), ProviderHealth::Admission::Allowed);
  auto after = health.status("p");
  EXPECT_EQ(after.state, "healthy");
  EXPECT_FALSE(after.cooling_down);
  EXPECT_FALSE(after.cooldown_until.has_value());
  EXPECT_EQ(after.consecutive_failures, 0);
  // The history stays; only the streak ended.
  EXPECT_EQ(after.failures, 1u);
  EXPECT_EQ(after.recent_errors.size(), 1u);
  EXPECT_TRUE(health.snapshot().empty());
  EXPECT_EQ(health.snapshot(true).size(), 1u);
  // Nothing left to reset.
  EXPECT_FALSE(health.reset("p"));
  EXPECT_FALSE(health.reset("never-seen"));
}

TEST(ProviderHealth, ResetEndsAFailingStreakBeforeTheCooldown) {
  FakeClock clock;
  ProviderHealth health(&clock);
  host::CooldownPolicy three{3, 30s};
  health.record_failure("p", three, false, "e1", 500);
  health.record_failure("p", three, false, "e2", 500);
  EXPECT_TRUE(health.reset("p"));
  // The streak starts over: two more failures do not reach three.
  health.record_failure("p", three, false, "e3", 500);
  health.record_failure("p", three, false, "e4", 500);
  EXPECT_EQ(health.admit("p", nullptr), ProviderHealth::Admission::Allowed);
  health.record_failure("p", three, false, "e5", 500);
  EXPECT_EQ(health.admit("p", nullptr), ProviderHealth::Admission::Skip);
}

TEST(ProviderHealth, RecentErrorsKeepTheLastTenBounded) {
  FakeClock clock;
  ProviderHealth health(&clock);
  for (int i = 1; i <= 12; ++i) {
    health.record_failure("p", kNeverCool, false, "error " + std::to_string(i), 500 + i);
    clock.advance(1s);
  }
  health.record_failure("p", kNeverCool, false, std::string(1000, 'x'), 0);
  auto status = health.status("p");
  ASSERT_EQ(status.recent_errors.size(), ProviderHealth::kRecentErrors);
  EXPECT_EQ(status.recent_errors.front().message, "error 4");  // oldest kept first
  EXPECT_EQ(status.recent_errors.front().status, 504);
  EXPECT_EQ(status.recent_errors.front().at, clock.wall_now() - 9s);
  EXPECT_EQ(status.recent_errors.back().message, std::string(300, 'x'));
  EXPECT_EQ(status.recent_errors.back().status, 0);
  EXPECT_EQ(status.consecutive_failures, 13);
}

TEST(ProviderHealth, ALongMessageIsCutAtACharacterBoundary) {
  ProviderHealth health;
  std::string message = std::string(299, 'x') + "é and more";  // é straddles byte 300
  health.record_failure("p", kNeverCool, false, message, 500);
  EXPECT_EQ(health.status("p").recent_errors.back().message, std::string(299, 'x'));
}

TEST(ProviderHealth, CountsAttemptsAndFailures) {
  ProviderHealth health;
  health.record_success("p", 10ms);
  health.record_failure("p", kNeverCool, false, "boom", 502);
  health.record_request_error("p");
  health.record_success("p", 10ms);
  auto status = health.status("p");
  EXPECT_EQ(status.attempts, 4u);
  EXPECT_EQ(status.failures, 1u);
  EXPECT_EQ(status.consecutive_failures, 0);  // the last success ended the streak
  EXPECT_EQ(status.last_error, "boom");
  auto unseen = health.status("q");
  EXPECT_EQ(unseen.attempts, 0u);
  EXPECT_FALSE(unseen.latency_p50.has_value());
}

TEST(ProviderHealth, LatencyP50OfRecentSuccesses) {
  ProviderHealth health;
  health.record_success("p", 30ms);
  health.record_success("p", 10ms);
  health.record_success("p", 20ms);
  health.record_failure("p", kNeverCool, false, "slow failure", 504);  // failures do not count
  ASSERT_TRUE(health.status("p").latency_p50.has_value());
  EXPECT_EQ(*health.status("p").latency_p50, 20ms);
  // Only the last 100 successes count: 100 slow ones, then 60 fast ones
  // (a median of everything would still be slow).
  for (int i = 0; i < 100; ++i) health.record_success("p", 1000ms);
  EXPECT_EQ(*health.status("p").latency_p50, 1000ms);
  for (int i = 0; i < 60; ++i) health.record_success("p", 5ms);
  EXPECT_EQ(*health.status("p").latency_p50, 5ms);
}

TEST(ProviderHealth, CooldownUntilIsShownOnlyWhileCooling) {
  FakeClock clock;
  ProviderHealth health(&clock);
  health.record_failure("p", kCoolAtOnce, true, "refused", 0);
  auto snapshot = health.snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].cooldown_until, clock.wall_now() + 30s);
  clock.advance(31s);
  EXPECT_FALSE(health.status("p").cooldown_until.has_value());
  EXPECT_EQ(health.admit("p", nullptr), ProviderHealth::Admission::Probe);
}

}  // namespace
}  // namespace llmux::test
