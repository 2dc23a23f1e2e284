// IdleTrim: memory a burst freed goes back to the system once nothing runs.
#include "services/idle_trim.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace llmux::host {
namespace {

std::size_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  }
  return 0;
}

// The sanitizers replace malloc: glibc's arenas, mallinfo2 and malloc_trim
// are not what they measure.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif

// Frees the blocks a burst kept, however the test ends.
struct Kept {
  Kept() = default;
  Kept(Kept&& other) noexcept : blocks(std::move(other.blocks)) { other.blocks.clear(); }
  Kept(const Kept&) = delete;
  Kept& operator=(const Kept&) = delete;
  std::vector<char*> blocks;
  ~Kept() {
    for (char* block : blocks) std::free(block);
  }
};

// On another thread (its own arena, as an I/O thread's): allocates 64 MiB in
// small blocks, then frees seven of every eight, so the freed runs sit
// between live blocks where free() alone cannot give them back (each run
// spans whole pages, which a trim can).
Kept leave_a_fragmented_burst() {
  Kept kept;
  std::thread burst([&] {
    std::vector<char*> all;
    for (int i = 0; i < 16384; ++i) {
      char* block = static_cast<char*>(std::malloc(4000));
      for (int b = 0; b < 4000; b += 512) block[b] = 1;  // touch every page
      all.push_back(block);
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (i % 8) {
        std::free(all[i]);
      } else {
        kept.blocks.push_back(all[i]);
      }
    }
  });
  burst.join();
  return kept;
}

TEST(IdleTrim, AnIdleGatewayGivesBackWhatABurstFreed) {
  if (!kGlibcMalloc) GTEST_SKIP() << "a sanitizer's allocator replaces glibc's";
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::uint64_t> started{1};
  IdleTrim trim([&] { return IdleTrim::Load{in_flight.load(), started.load()}; }, {8u << 20, 1u << 30});
  auto kept = leave_a_fragmented_burst();
  ASSERT_GE(IdleTrim::held_free_bytes(), 16u << 20);
  const std::size_t before = rss_bytes();

  in_flight = 3;  // requests running: below the busy threshold nothing is trimmed
  EXPECT_FALSE(trim.check());
  in_flight = 0;
  EXPECT_TRUE(trim.check());
  const std::size_t after = rss_bytes();
  EXPECT_LT(after + (16u << 20), before) << "RSS " << (before >> 20) << " MiB -> " << (after >> 20) << " MiB";
  EXPECT_EQ(trim.trims(), 1u);
  EXPECT_FALSE(trim.check()) << "no work since the last trim: nothing new to give back";
  started = 2;
  EXPECT_TRUE(trim.check());
}

TEST(IdleTrim, ABigEnoughHoardIsTrimmedEvenWhileBusy) {
  if (!kGlibcMalloc) GTEST_SKIP() << "a sanitizer's allocator replaces glibc's";
  IdleTrim trim([] { return IdleTrim::Load{100, 1}; }, {8u << 20, 16u << 20});
  auto kept = leave_a_fragmented_burst();
  ASSERT_GE(IdleTrim::held_free_bytes(), 16u << 20);
  EXPECT_TRUE(trim.check());
}

}  // namespace
}  // namespace llmux::host
