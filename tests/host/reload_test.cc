// Reload: a good file swaps the table atomically, a broken one is rejected and
// the old table keeps serving, and requests in flight finish on their table.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

const char* kBefore = R"(
providers:
  mock:
    plugin: mock
    options:
      chunk_size: 8
      chunk_delay: 60ms
routes:
  before: [mock]
)";

const char* kAfter = R"(
providers:
  other:
    plugin: mock
    options:
      reply: from the new table
routes:
  after: [other]
)";

TEST(Reload, GoodFileSwapsTheTable) {
  TestGateway gw(kBefore);
  HttpClient client;
  EXPECT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("after", "x")).status, 404);
  ASSERT_TRUE(gw.rewrite_and_reload(kAfter));
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("after", "x"));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("from the new table"));
  EXPECT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("before", "x")).status, 404);
}

TEST(Reload, BrokenFileIsRejectedAndTheOldTableServes) {
  TestGateway gw(kAfter);
  auto generation = gw.gateway().generation();
  EXPECT_FALSE(gw.rewrite_and_reload("providers:\n  other: [unclosed\n"));
  EXPECT_FALSE(gw.rewrite_and_reload("providers:\n  x:\n    plugin: mock\nroutes:\n  a: [nobody]\n"));
  EXPECT_EQ(gw.gateway().generation(), generation);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("after", "x"));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("from the new table"));
}

TEST(Reload, InFlightStreamFinishesOnTheOldTable) {
  TestGateway gw(kBefore);
  std::promise<void> started;
  auto first_byte = started.get_future();
  auto stream = std::async(std::launch::async, [&] {
    HttpClient client;
    bool signalled = false;
    RequestOptions options;
    options.timeout = std::chrono::seconds(30);
    options.on_data = [&](const std::string&) {
      if (!signalled) started.set_value();
      signalled = true;
      return true;
    };
    return client.post(gw.url("/v1/chat/completions"),
                       chat_body("before", "a question long enough for many chunks", true), options);
  });
  ASSERT_EQ(first_byte.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  // The route and its provider vanish from the table mid-stream.
  ASSERT_TRUE(gw.rewrite_and_reload(kAfter));
  auto r = stream.get();
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(sse_content(r.body), HasSubstr("a question long enough for many chunks"));
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 6u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_THAT(events[events.size() - 2], HasSubstr(R"("finish_reason":"stop")"));
}

}  // namespace
}  // namespace llmux::test
