// The host's FileStateStore: writes on its own thread, in the order asked,
// update_async never waiting for the disk, the destructor finishing the queue.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "services/state_store.h"
#include "support/held_writes.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using namespace std::chrono_literals;

StateStore::Mutation set_to(std::string value) {
  return [value](const std::optional<std::string>&) { return value; };
}

TEST(FileStateStore, UpdateAsyncReturnsWhileTheWriteIsHeldAndDoneRunsOnceDurable) {
  TempDir dir;
  host::FileStateStore store(dir.path() / "state");
  HeldWrites held;
  std::promise<std::pair<bool, std::string>> outcome;
  const auto asked = std::chrono::steady_clock::now();
  store.update_async("p", "k", set_to("v1"), [&](bool ok, const std::string& error) {
    outcome.set_value({ok, error});
  });
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 1s) << "update_async returned at once";
  ASSERT_TRUE(held.wait_held());
  auto done = outcome.get_future();
  EXPECT_EQ(done.wait_for(0ms), std::future_status::timeout) << "done waits for the write";
  EXPECT_EQ(store.load("p", "k"), std::nullopt) << "load reads what is durable";
  held.release();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(done.get().first);
  EXPECT_EQ(store.load("p", "k"), "v1");
}

TEST(FileStateStore, AnUpdateSeesEveryUpdateAskedBeforeItAsyncOnesIncluded) {
  TempDir dir;
  host::FileStateStore store(dir.path() / "state");
  HeldWrites held;
  store.update_async("p", "k", set_to("a"), nullptr);
  ASSERT_TRUE(held.wait_held());
  store.update_async("p", "k", [](const std::optional<std::string>& v) { return v.value_or("?") + "b"; }, nullptr);
  auto later = std::async(std::launch::async, [&] {
    std::string error;
    return store.update("p", "k", [](const std::optional<std::string>& v) { return v.value_or("?") + "c"; }, &error);
  });
  EXPECT_EQ(later.wait_for(50ms), std::future_status::timeout) << "the synchronous update waits its turn";
  held.release();
  ASSERT_EQ(later.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(later.get());
  EXPECT_EQ(store.load("p", "k"), "abc");
}

TEST(FileStateStore, TheDestructorFinishesTheQueuedWrites) {
  TempDir dir;
  std::atomic<int> completed{0};
  {
    host::FileStateStore store(dir.path() / "state");
    for (int i = 0; i < 50; ++i) {
      store.update_async("p", "k" + std::to_string(i % 5), set_to("v" + std::to_string(i)),
                         [&](bool ok, const std::string&) { completed += ok ? 1 : 0; });
    }
  }
  EXPECT_EQ(completed.load(), 50);
  host::FileStateStore reopened(dir.path() / "state");
  for (int k = 0; k < 5; ++k) EXPECT_EQ(reopened.load("p", "k" + std::to_string(k)), "v" + std::to_string(45 + k));
}

TEST(FileStateStore, AnUpdateInsideADoneRunsAtOnceInsteadOfWaitingForItself) {
  TempDir dir;
  host::FileStateStore store(dir.path() / "state");
  std::promise<bool> nested;
  store.update_async("p", "k", set_to("first"), [&](bool, const std::string&) {
    nested.set_value(store.update("p", "k2", set_to("second"), nullptr));
  });
  auto result = nested.get_future();
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(result.get());
  EXPECT_EQ(store.load("p", "k2"), "second");
}

}  // namespace
}  // namespace llmux::test
