// collect_response(): a whole bounded response for small side calls, through
// the real engine against a fake upstream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include "http/http_engine.h"
#include "support/fake_upstream.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

CollectedResponse fetch(host::HttpEngine& engine, const std::string& url, std::size_t max_body) {
  std::promise<CollectedResponse> promise;
  auto answer = promise.get_future();
  HttpRequest request;
  request.method = "GET";
  request.url = url;
  engine.start(std::move(request), collect_response(max_body, [&](CollectedResponse&& r) {
                 promise.set_value(std::move(r));
               }));
  EXPECT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  return answer.get();
}

TEST(CollectResponse, GathersAWholeAnswer) {
  FakeUpstream upstream;
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "application/json"}});
    exchange.chunk(R"({"data":)");
    exchange.chunk(R"([]})");
    exchange.end_chunked();
  });
  host::HttpEngine engine;
  auto r = fetch(engine, upstream.url("/models"), 1024);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"data":[]})");
  EXPECT_EQ(find_header(r.headers, "content-type").value_or(""), "application/json");
  EXPECT_EQ(r.problem(), "");
}

TEST(CollectResponse, StopsAtTheLimit) {
  FakeUpstream upstream;
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.respond(200, {{"Content-Type", "application/json"}}, std::string(4096, 'x'));
  });
  host::HttpEngine engine;
  auto r = fetch(engine, upstream.url("/models"), 1000);
  EXPECT_TRUE(r.too_large);
  EXPECT_LE(r.body.size(), 1000u);
  EXPECT_EQ(r.problem(), "answer larger than 1000 bytes");
}

TEST(CollectResponse, ErrorStatusAndTransportFailureAreProblems) {
  FakeUpstream upstream;
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.respond(503, {{"Content-Type", "text/plain"}}, "overloaded");
  });
  host::HttpEngine engine;
  EXPECT_EQ(fetch(engine, upstream.url("/models"), 1024).problem(), "HTTP 503: overloaded");
  std::string dead;
  {
    FakeUpstream closed;
    dead = closed.url("/models");
  }
  auto refused = fetch(engine, dead, 1024);
  EXPECT_EQ(refused.outcome.failure, HttpFailure::ConnectRefused);
  EXPECT_THAT(refused.problem(), HasSubstr("onnect"));
}

}  // namespace
}  // namespace llmux::test
