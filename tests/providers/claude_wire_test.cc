// The claude plugin over real loopback sockets without the gateway: the
// host's HTTP engine (LiveHost) against FakeAnthropic, so the plugin reads
// what TCP delivers where the fake upstream split it. Pass-through forwards
// whole SSE events whatever the reads, and every upstream request carries the
// call's trace context.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "llmux/codec/anthropic.h"
#include "providers/claude_stream_util.h"
#include "support/fake_anthropic.h"
#include "support/plugin_harness.h"

namespace llmux::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kKey = "sk-ant-api03-wire-alpha-0000000000A";
constexpr const char* kTrace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

Plugin& claude_plugin() { return loaded_plugin("llmux-claude.so"); }

std::string options(const FakeAnthropic& fake) {
  return "base_url: " + fake.base_url() + "\ncredentials:\n  - {label: a, api_key: " + kKey + "}\n";
}

ChatRequest pass_through_request(const std::string& body) {
  ChatRequest r;
  r.original_body = std::make_shared<const std::string>(body);
  auto error = anthropic::parse_messages_request(body, r);
  EXPECT_FALSE(error) << (error ? error->message : "");
  r.client_headers = {{"anthropic-version", "2023-06-01"}};
  return r;
}

const std::string kStreamBody =
    R"({"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello"}]})";

// Where to cut inside `event` so that a read ends at an awkward place, in turn:
// one byte in, inside the `event:` line, right after "data: ", inside the
// JSON, between the line ends of the empty line, inside a \r\n.
std::size_t awkward_offset(const std::string& event, std::size_t turn, const std::string& eol) {
  switch (turn % 6) {
    case 0: return 1;
    case 1: return 4;
    case 2: return event.find("data: ") + 6;
    case 3: return event.find("data: ") + (event.size() - event.find("data: ")) / 2;
    case 4: return event.size() - eol.size();
    default: return event.size() - 1;
  }
}

TEST(ClaudeWire, RawEventsStayWholeWhenTheUpstreamSplitsEventsAcrossReads) {
  for (const std::string eol : {"\n", "\r\n"}) {
    SCOPED_TRACE("line end " + ::testing::PrintToString(eol));
    FakeAnthropic fake;
    fake.allow(kKey);
    const std::vector<std::string> events =
        sse_events(FakeAnthropic::text_stream({"Il ", "était ", "une ", "fois ", "un ", "flux"}), eol);
    const std::string wire = joined(events);
    const std::vector<std::size_t> event_ends = ends_of(events);

    // Each piece ends inside the next event: the whole events before the cut
    // must go out, the cut one must wait for the next piece.
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < events.size(); ++i) {
      cuts.push_back(event_ends[i - 1] + awkward_offset(events[i], i, eol));
    }
    cuts.push_back(wire.size());

    auto call = std::make_shared<LiveCall>(pass_through_request(kStreamBody));
    std::atomic<std::size_t> waited{0};  // pieces after which the forwarded bytes were awaited
    fake.set_hook([&](const FakeRequest&, FakeExchange& exchange) {
      exchange.begin_chunked(200, {{"Content-Type", "text/event-stream; charset=utf-8"}});
      std::size_t sent = 0;
      std::size_t forwarded = 0;
      for (const std::size_t cut : cuts) {
        exchange.chunk(std::string_view(wire).substr(sent, cut - sent));
        sent = cut;
        // The whole events so far (an event ends after its last \n) come out
        // before the next piece is sent, so no read holds both pieces.
        std::size_t whole = 0;
        for (const std::size_t end : event_ends) {
          if (end <= cut) whole = end;
        }
        if (whole > forwarded && cut < wire.size()) {
          if (!call->wait_for_raw_bytes(whole, 10s)) break;
          forwarded = whole;
          ++waited;
        }
      }
      exchange.end_chunked();
      return true;
    });

    LiveHost host;
    auto provider = create(claude_plugin(), options(fake), host);
    provider->chat(call);
    ASSERT_TRUE(call->wait_for_terminal(10s));
    const std::vector<Event> got = call->events();
    const std::size_t raw_events = expect_whole_raw_events(got, wire, event_ends, "over loopback");
    EXPECT_EQ(waited.load(), cuts.size() - 1) << "every piece but the last was read on its own";
    EXPECT_GE(raw_events, waited.load()) << "one Raw event at least per read that completed an event";
    ASSERT_GE(got.size(), 2u);
    EXPECT_EQ(got[got.size() - 2].kind, Event::Kind::Usage);
    EXPECT_EQ(got.back().kind, Event::Kind::Finish);
    provider.reset();
  }
}

TEST(ClaudeWire, TraceparentArrivesOnMessagesAndCountTokens) {
  FakeAnthropic fake;
  fake.allow(kKey);
  LiveHost host;
  auto provider = create(claude_plugin(), options(fake), host);

  ChatRequest request = pass_through_request(kStreamBody);
  request.traceparent = kTrace;
  auto call = std::make_shared<LiveCall>(request);
  provider->chat(call);
  ASSERT_TRUE(call->wait_for_terminal(10s));
  EXPECT_EQ(call->events().back().kind, Event::Kind::Finish);

  std::mutex mu;
  std::condition_variable done;
  std::optional<std::int64_t> counted;
  provider->count_tokens(request, [&](std::int64_t tokens, std::optional<Error>) {
    std::lock_guard lock(mu);
    counted = tokens;
    done.notify_all();
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(done.wait_for(lock, 10s, [&] { return counted.has_value(); }));
  }

  ASSERT_EQ(fake.messages().size(), 1u);
  EXPECT_EQ(fake.messages()[0].header("traceparent"), kTrace);
  ASSERT_EQ(fake.count_requests().size(), 1u);
  EXPECT_EQ(fake.count_requests()[0].header("traceparent"), kTrace);
  provider.reset();
}

}  // namespace
}  // namespace llmux::test
