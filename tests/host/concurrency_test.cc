// Many concurrent streams, half of them abandoned mid-stream by their client:
// the rest finish well-formed, abandoned calls are cancelled (the provider's
// pending work disappears), and the server keeps serving. Run under ASan and
// TSan in CI.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

TEST(Concurrency, TwoHundredStreamsWithHalfTheClientsLeavingMidStream) {
  TestGateway gw(R"(
providers:
  mock:
    plugin: mock
    options:
      chunk_size: 6
      chunk_delay: 15ms
routes:
  mock: [mock]
)");
  constexpr int kStreams = 200;
  std::atomic<int> completed{0}, abandoned{0}, malformed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&, i] {
      HttpClient client;
      bool leave = i % 2 == 1;
      int pieces = 0;
      RequestOptions options;
      options.timeout = std::chrono::seconds(60);
      options.on_data = [&](const std::string&) { return !(leave && ++pieces >= 2); };
      auto r = client.post(gw.url("/v1/chat/completions"),
                           chat_body("mock", "stream number " + std::to_string(i) + " with some more words", true),
                           options);
      if (leave) {
        ++abandoned;
        return;
      }
      auto events = sse_data(r.body);
      bool ok = r.status == 200 && !events.empty() && events.back() == "[DONE]" &&
                sse_content(r.body).find("stream number " + std::to_string(i) + " ") != std::string::npos;
      ok ? ++completed : ++malformed;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(completed.load(), kStreams / 2);
  EXPECT_EQ(abandoned.load(), kStreams / 2);
  EXPECT_EQ(malformed.load(), 0);
  // Abandoned streams are cancelled: the mock's pending chunk timers go away
  // instead of running to the end of each answer.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (gw.gateway().timers().pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(gw.gateway().timers().pending(), 0u);
  HttpClient client;
  EXPECT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("mock", "after")).status, 200);
}

TEST(Concurrency, DisconnectCancelsTheProviderCallPromptly) {
  TestGateway gw(R"(
providers:
  slow:
    plugin: mock
    options:
      chunk_size: 1
      chunk_delay: 200ms
routes:
  slow: [slow]
)");
  HttpClient client;
  RequestOptions options;
  options.on_data = [](const std::string&) { return false; };  // leave at the first byte
  client.post(gw.url("/v1/chat/completions"), chat_body("slow", "a long answer follows", true), options);
  // Without cancellation the answer would keep a timer pending for ~8 s.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (gw.gateway().timers().pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(gw.gateway().timers().pending(), 0u);
}

TEST(Concurrency, BytesOfALeftStreamNeverReachTheNextConnection) {
  // A client leaves mid-stream while chunks keep coming; the next client often
  // gets the same fd number. Each must see only its own, well-formed answer.
  TestGateway gw(R"(
providers:
  fast:
    plugin: mock
    options:
      chunk_size: 2
      chunk_delay: 1ms
routes:
  fast: [fast]
)");
  for (int round = 0; round < 60; ++round) {
    {
      HttpClient leaver;
      RequestOptions options;
      options.on_data = [](const std::string&) { return false; };
      leaver.post(gw.url("/v1/chat/completions"), chat_body("fast", "leaving early " + std::to_string(round), true),
                  options);
    }
    HttpClient next;
    auto r = next.post(gw.url("/v1/chat/completions"), chat_body("fast", "next client " + std::to_string(round)));
    ASSERT_EQ(r.status, 200) << "round " << round << ": " << r.error;
    ASSERT_EQ(r.body.find("leaving early"), std::string::npos) << r.body;
    ASSERT_NE(r.body.find("next client " + std::to_string(round)), std::string::npos) << r.body;
  }
}

}  // namespace
}  // namespace llmux::test

