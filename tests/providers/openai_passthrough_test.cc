// The openai and g4f plugins in process (support/plugin_harness.h) over real
// loopback sockets: the host's HTTP engine carries their requests to a
// FakeUpstream, and the test drives the host clock instead of sleeping.
// What a plugin itself emits on pass-through (Raw bytes as the upstream sent
// them, a Usage event, one terminal event), how it rewrites the client's body
// and reads upstream frames (passthrough.h), the 401 cooldown and probe, and
// the traceparent header.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "http/http_engine.h"
#include "llmux/codec/raw_answer.h"
#include "passthrough.h"
#include "support/fake_upstream.h"
#include "support/openai_wire.h"
#include "support/openai_loopback.h"
#include "support/plugin_harness.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
namespace passthrough = openai_compat::passthrough;

constexpr const char* kKey = "sk-loopback-key-000000000042";
constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// The openai plugin's (or `plugin`'s) provider on `upstream` (support/openai_loopback.h).
struct OnLoopback : Loopback {
  OnLoopback(const FakeUpstream& upstream, const std::string& options = "", Plugin& plugin = openai_plugin())
      : Loopback(upstream, kKey, "[gpt-test]", options, plugin) {}
};

// The Raw events' bytes, joined; each one must hold whole SSE events.
std::string raw_bytes(const FakeCall& call, bool stream) {
  std::string out;
  for (const auto& e : call.events) {
    if (e.kind != Event::Kind::Raw) continue;
    if (stream) {
      EXPECT_EQ(e.text.substr(e.text.size() - 2), "\n\n") << "a cut event: " << e.text;
    }
    out += e.text;
  }
  return out;
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string all;
  for (const auto& piece : pieces) all += piece;
  return all;
}

std::vector<FakeRequest> chat_requests(const FakeUpstream& upstream) {
  std::vector<FakeRequest> out;
  for (auto& r : upstream.requests()) {
    if (r.path.find("/chat/completions") != std::string::npos) out.push_back(std::move(r));
  }
  return out;
}

const Event& last(const FakeCall& call) { return call.events.back(); }

// ---------------------------------------------------------------------------
// What the plugin emits on pass-through

TEST(OpenAIPassThroughEvents, RawIsTheUpstreamsBytesAndUsageComesAsAnEventBeforeFinish) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
  OnLoopback up(upstream);
  auto call = up.call(client_request(chat_body("gpt-test", "hello", true)));
  // The upstream's own model name: the host restores the client's.
  std::string expected = joined(hello_stream());
  expected.erase(expected.find(kUsageChunk), kUsageChunk.size());  // the client did not ask for it
  EXPECT_EQ(raw_bytes(*call, true), expected);
  ASSERT_GE(call->events.size(), 3u);
  const Event& usage = call->events[call->events.size() - 2];
  ASSERT_EQ(usage.kind, Event::Kind::Usage);
  EXPECT_EQ(usage.usage.input_tokens, 9);
  EXPECT_EQ(usage.usage.output_tokens, 2);
  EXPECT_EQ(usage.usage.cache_read_tokens, 0);
  EXPECT_EQ(last(*call).kind, Event::Kind::Finish);
  for (std::size_t i = 0; i + 2 < call->events.size(); ++i) EXPECT_EQ(call->events[i].kind, Event::Kind::Raw);

  auto requests = chat_requests(upstream);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0].body, HasSubstr(R"("stream_options":{"include_usage":true})"));
}

TEST(OpenAIPassThroughEvents, UsageChunkStaysWhenTheClientAskedAndIsReportedToo) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_stream(exchange, hello_stream()); });
  OnLoopback up(upstream);
  auto call = up.call(client_request(chat_body("gpt-test", "hello", true, R"("stream_options":{"include_usage":true})")));
  EXPECT_EQ(raw_bytes(*call, true), joined(hello_stream()));
  using K = Event::Kind;
  ASSERT_GE(call->events.size(), 2u);
  EXPECT_EQ(call->events[call->events.size() - 2].kind, K::Usage);
  EXPECT_EQ(call->events[call->events.size() - 2].usage.output_tokens, 2);
}

TEST(OpenAIPassThroughEvents, UsageSeenBeforeTheStreamIsCutIsStillReported) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_stream(exchange, {kRoleChunk, content_chunk("Hello"), finish_chunk("stop"), kUsageChunk});  // no [DONE]
  });
  OnLoopback up(upstream);
  auto call = up.call(client_request(chat_body("gpt-test", "hello", true)));
  using K = Event::Kind;
  ASSERT_GE(call->events.size(), 2u);
  EXPECT_EQ(call->events[call->events.size() - 2].kind, K::Usage);
  EXPECT_EQ(call->events[call->events.size() - 2].usage.input_tokens, 9);
  EXPECT_EQ(last(*call).kind, K::Error);
  EXPECT_THAT(last(*call).error.message, HasSubstr("ended without data: [DONE]"));
}

TEST(OpenAIPassThroughEvents, WholeAnswerIsForwardedAsItIsWithItsUsage) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, kCompletionJson); });
  OnLoopback up(upstream);
  auto call = up.call(client_request(chat_body("gpt-test", "hello")));
  using K = Event::Kind;
  ASSERT_EQ(kinds(call->events), (std::vector<K>{K::Raw, K::Usage, K::Finish}));
  EXPECT_EQ(call->events[0].text, kCompletionJson);
  EXPECT_EQ(call->events[1].usage.input_tokens, 9);
  // What the host then makes of it for the client.
  std::string restored;
  restore_model(Api::OpenAIChat, call->events[0].text, "gpt-test", restored);
  EXPECT_THAT(restored, HasSubstr(R"("model":"gpt-test",)"));
}

TEST(OpenAIPassThroughEvents, BrokenAnswersAreFailedAttemptsNamingTheProvider) {
  struct Case {
    std::string body;
    std::string why;
  };
  const std::vector<Case> cases = {
      {std::string(kCompletionJson).substr(0, 200), "the upstream's answer is not valid JSON (at line 1, column"},
      {R"({"id":"x","choices":[]})", "the upstream's answer is not a chat.completion"},
      {"[1,2]", "the upstream's answer is not a JSON object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, c.body); });
    OnLoopback up(upstream);
    auto call = up.call(client_request(chat_body("gpt-test", "hello")));
    ASSERT_EQ(kinds(call->events), std::vector<Event::Kind>{Event::Kind::Error}) << "nothing before the error";
    EXPECT_EQ(last(*call).error.status, 502);
    EXPECT_THAT(last(*call).error.message, HasSubstr("openai provider 'up': " + c.why));
  }
}

TEST(OpenAIPassThroughEvents, ErrorObjectWithStatus200KeepsTheUpstreamsWords) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, R"({"error":{"message":"No capacity","type":"server_error","code":503}})");
  });
  OnLoopback up(upstream);
  auto call = up.call(client_request(chat_body("gpt-test", "hello")));
  ASSERT_EQ(kinds(call->events), std::vector<Event::Kind>{Event::Kind::Error});
  EXPECT_EQ(last(*call).error.message, "No capacity");
  EXPECT_EQ(last(*call).error.status, 503);
}

TEST(OpenAIPassThroughEvents, GarbageMidStreamEndsWithOneErrorAndNoGarbage) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_stream(exchange, {": note\n\n", kRoleChunk, "data: \n\n", content_chunk("Hel"), "data: {\"choices\":[{\n\n",
                           content_chunk("never"), "data: [DONE]\n\n"});
  });
  OnLoopback up(upstream);
  auto call = up.call(client_request(chat_body("gpt-test", "hello", true)));
  EXPECT_EQ(raw_bytes(*call, true), ": note\n\n" + kRoleChunk + content_chunk("Hel"))
      << "the comment waits for the first frame; the empty frame is dropped";
  EXPECT_EQ(last(*call).kind, Event::Kind::Error);
  EXPECT_THAT(last(*call).error.message, HasSubstr("a stream frame that is not valid JSON"));
  int terminal = 0;
  for (const auto& e : call->events) terminal += e.terminal();
  EXPECT_EQ(terminal, 1);
}

TEST(OpenAIPassThroughEvents, UpstreamErrorFrameBecomesTheOneErrorEvent) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_stream(exchange, {kRoleChunk,
                           "data: {\"error\":{\"message\":\"Rate limited\",\"type\":\"rate_limit_error\","
                           "\"code\":429}}\n\n",
                           "data: [DONE]\n\n"});
  });
  OnLoopback up(upstream);
  auto call = up.call(client_request(chat_body("gpt-test", "hello", true)));
  EXPECT_EQ(raw_bytes(*call, true), kRoleChunk) << "the error frame itself is not forwarded";
  using K = Event::Kind;
  ASSERT_EQ(kinds(call->events), (std::vector<K>{K::Raw, K::Error}));
  EXPECT_EQ(last(*call).error.message, "Rate limited");
  EXPECT_EQ(last(*call).error.status, 429);
}

// ---------------------------------------------------------------------------
// The client's body as it goes up (passthrough::upstream_body)

std::string upstream_body(const std::string& client_body, const std::string& provider = "") {
  ChatRequest request = client_request(client_body);
  auto body = passthrough::upstream_body(request, provider);
  EXPECT_TRUE(body) << "not passed through: " << client_body;
  return body.value_or("");
}

TEST(OpenAIPassThroughBody, StreamAlwaysAsksForUsageAndKeepsTheClientsStreamOptions) {
  const std::string head = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"stream":true)";
  EXPECT_EQ(upstream_body(head + "}"), head + R"(,"stream_options":{"include_usage":true}})");
  EXPECT_EQ(upstream_body(head + R"(,"stream_options":{"include_usage":true,"x":1}})"),
            head + R"(,"stream_options":{"include_usage":true,"x":1}})");
  EXPECT_EQ(upstream_body(head + R"(,"stream_options": {"x": 1, "include_usage": false} })"),
            head + R"(,"stream_options": {"x": 1, "include_usage": true} })");
  EXPECT_EQ(upstream_body(head + R"(,"stream_options":{"continuous_usage_stats":true}})"),
            head + R"(,"stream_options":{"include_usage":true,"continuous_usage_stats":true}})");
  EXPECT_EQ(upstream_body(head + R"(,"stream_options":{ }})"), head + R"(,"stream_options":{"include_usage":true }})");
  EXPECT_EQ(upstream_body(head + R"(,"stream_options":null})"), head + R"(,"stream_options":{"include_usage":true}})");
  EXPECT_EQ(upstream_body(head + R"(,"stream_options":{"include_usage":null}})"),
            head + R"(,"stream_options":{"include_usage":true}})");
  // Not streamed: untouched but the model.
  const std::string whole =
      R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":false}})";
  EXPECT_EQ(upstream_body(whole), whole);
}

TEST(OpenAIPassThroughBody, ModelRenamedAndProviderAddedInOnePass) {
  ChatRequest request = client_request(R"({"stream" : true, "model" : "alias", "messages" : [{"role":"user","content":"hi"}] })");
  request.model = "real \"model\"";
  auto body = passthrough::upstream_body(request, "Copilot");
  ASSERT_TRUE(body);
  EXPECT_EQ(*body, R"({"stream" : true, "model" : "real \"model\"", "messages" : [{"role":"user","content":"hi"}] )"
                   R"(,"stream_options":{"include_usage":true},"provider":"Copilot"})");
}

// ---------------------------------------------------------------------------
// Upstream frames as pass-through reads them (passthrough::FrameReader)

struct SeenFrame {
  passthrough::Frame::Kind kind;
  std::string text, data, error, usage, problem;
  bool usage_only;
};

std::vector<SeenFrame> frames_of(const std::vector<std::string>& pieces, bool end = true) {
  std::vector<SeenFrame> seen;
  passthrough::FrameReader reader;
  auto keep = [&](const passthrough::Frame& f) {
    seen.push_back({f.kind, std::string(f.text), std::string(f.data), std::string(f.error), std::string(f.usage),
                    f.problem, f.usage_only});
    return true;
  };
  for (const auto& piece : pieces) reader.feed(piece, keep);
  if (end) reader.finish(keep);
  return seen;
}

TEST(OpenAIPassThroughFrames, KindsOfFrames) {
  using K = passthrough::Frame::Kind;
  std::string all = ": comment\n\nevent: ping\n\ndata:\n\n" + kRoleChunk + kUsageChunk +
                    "data: {\"error\":{\"message\":\"m\"},\"x\":1}\n\ndata: {\"error\":null,\"choices\":[]}\n\n"
                    "data: {\"a\":\n\ndata: 42\n\ndata: [DONE]\n\n";
  // Byte by byte: every event still arrives whole.
  std::vector<std::string> bytes;
  for (char c : all) bytes.emplace_back(1, c);
  auto seen = frames_of(bytes);
  ASSERT_EQ(seen.size(), 10u);
  std::vector<K> got;
  for (const auto& f : seen) got.push_back(f.kind);
  EXPECT_THAT(got, ElementsAre(K::Other, K::Other, K::Empty, K::Object, K::Object, K::Object, K::Object, K::Invalid,
                               K::Invalid, K::Done));
  EXPECT_EQ(seen[3].text, kRoleChunk);
  EXPECT_FALSE(seen[3].usage_only);
  EXPECT_TRUE(seen[3].usage.empty()) << "usage: null is no usage";
  EXPECT_TRUE(seen[4].usage_only);
  EXPECT_THAT(seen[4].usage, HasSubstr(R"("prompt_tokens":9)"));
  EXPECT_EQ(seen[5].error, R"({"message":"m"})");
  EXPECT_EQ(seen[6].error, "") << "error: null is no error";
  EXPECT_THAT(seen[7].problem, HasSubstr("not valid JSON (at line 1, column 6"));
  EXPECT_EQ(seen[8].problem, "not a JSON object");
}

TEST(OpenAIPassThroughFrames, CrlfMultiLineDataAndAnUnfinishedLastEvent) {
  using K = passthrough::Frame::Kind;
  auto seen = frames_of({"data: {\"a\":\r\ndata: 1}\r\n\r\n", "id: 7\ndata: {\"b\":2}"});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kind, K::Object);
  EXPECT_EQ(seen[0].data, "{\"a\":\n1}");
  EXPECT_EQ(seen[0].text, "data: {\"a\":\r\ndata: 1}\r\n\r\n");
  EXPECT_EQ(seen[1].kind, K::Object);
  EXPECT_EQ(seen[1].text, "id: 7\ndata: {\"b\":2}\n\n") << "completed with its blank line";
  EXPECT_TRUE(frames_of({"data: {\"b\":2}"}, false).empty()) << "nothing before the event ends";
}

// ---------------------------------------------------------------------------
// Keys

// Defect: one 401 took a provider with a single key out of service until the
// config was reloaded.
TEST(OpenAIKeys, One401NoLongerTakesASingleKeyProviderOutOfServiceUntilReload) {
  std::atomic<bool> key_works{false};
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
    if (!key_works) {
      send_json(exchange,
                R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error",)"
                R"("param":null,"code":"invalid_api_key"}})",
                401);
      return;
    }
    send_json(exchange, kCompletionJson);
  });
  OnLoopback up(upstream, "unauthorized_cooldown: 90s");
  auto hello = [] { return client_request(chat_body("gpt-test", "hello")); };
  using State = ProviderCondition::State;
  EXPECT_EQ(up.provider->condition().state, State::Up);

  auto first = up.call(hello());
  EXPECT_EQ(last(*first).error.status, 401);
  ProviderCondition condition = up.provider->condition();
  EXPECT_EQ(condition.state, State::Unauthorized);
  EXPECT_EQ(condition.reason, "all 1 key(s) got HTTP 401; next probe in 90 s");
  EXPECT_THAT(up.host.log_text(), HasSubstr("key #1 (\xE2\x80\xA6" "0042) rejected with 401; set aside for 90 s"));

  // While the key waits, calls fail at once without asking the upstream.
  auto waiting = up.call(hello());
  EXPECT_EQ(last(*waiting).error.status, 503);
  EXPECT_EQ(last(*waiting).error.code, "no_usable_key");
  EXPECT_THAT(last(*waiting).error.message, HasSubstr("all 1 key(s) got HTTP 401; next probe in 90 s"));
  EXPECT_EQ(chat_requests(upstream).size(), 1u);

  up.host.advance(48s);
  EXPECT_EQ(up.provider->condition().reason, "all 1 key(s) got HTTP 401; next probe in 42 s");
  up.host.advance(42s);
  EXPECT_EQ(up.provider->condition().state, State::Up) << "due for its probe";

  // The probe gets 401 again: set aside for another cooldown.
  auto probe = up.call(hello());
  EXPECT_EQ(last(*probe).error.status, 401);
  EXPECT_EQ(chat_requests(upstream).size(), 2u);
  EXPECT_EQ(up.provider->condition().reason, "all 1 key(s) got HTTP 401; next probe in 90 s");
  EXPECT_THAT(up.host.log_text(), HasSubstr("still rejected with 401 after its probe; set aside for another 90 s"));

  // The key was fixed upstream: the next probe restores it for good.
  key_works = true;
  up.host.advance(90s);
  auto fixed = up.call(hello());
  EXPECT_EQ(last(*fixed).kind, Event::Kind::Finish);
  EXPECT_EQ(up.provider->condition().state, State::Up);
  EXPECT_EQ(up.provider->condition().reason, "");
  EXPECT_THAT(up.host.log_text(), HasSubstr("key #1 (\xE2\x80\xA6" "0042) works again after its probe"));
  auto after = up.call(hello());
  EXPECT_EQ(last(*after).kind, Event::Kind::Finish);
  EXPECT_EQ(chat_requests(upstream).size(), 4u);
  EXPECT_THAT(up.host.log_text(), Not(HasSubstr(kKey)));
}

TEST(OpenAIKeys, KeylessProviderIsAlwaysUp) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, R"({"error":{"message":"no","type":"invalid_request_error"}})", 401);
  });
  OnLoopback up(upstream, "", g4f_plugin());
  auto call = up.call(client_request(chat_body("gpt-test", "hello")));
  EXPECT_EQ(last(*call).error.status, 401);
  EXPECT_EQ(up.provider->condition().state, ProviderCondition::State::Up);
}

// ---------------------------------------------------------------------------
// Headers

TEST(OpenAIUpstream, TraceparentGoesOnEveryUpstreamRequest) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.body.find("\"stream\":true") != std::string::npos) {
      send_stream(exchange, hello_stream());
    } else {
      send_json(exchange, kCompletionJson);
    }
  });
  for (Plugin* plugin : {&openai_plugin(), &g4f_plugin()}) {
    SCOPED_TRACE(plugin->name());
    for (const char* options : {"", "passthrough: false"}) {
      SCOPED_TRACE(options);
      OnLoopback up(upstream, options, *plugin);
      std::size_t before = chat_requests(upstream).size();
      for (bool stream : {false, true}) {
        ChatRequest request = client_request(chat_body("gpt-test", "hello", stream));
        request.traceparent = kTraceparent;
        EXPECT_EQ(last(*up.call(std::move(request))).kind, Event::Kind::Finish);
      }
      up.call(client_request(chat_body("gpt-test", "no trace")));
      auto requests = chat_requests(upstream);
      ASSERT_EQ(requests.size(), before + 3);
      EXPECT_EQ(requests[before].header("traceparent"), kTraceparent);
      EXPECT_EQ(requests[before + 1].header("traceparent"), kTraceparent);
      EXPECT_FALSE(requests[before + 2].has_header("traceparent")) << "none when the call has none";
    }
  }
}

TEST(OpenAIUpstream, RetryAfterOfA429IsKeptInTheError) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    FakeHeaders wait = {{"Retry-After", "20"}};
    if (request.body.find("ms please") != std::string::npos) wait = {{"retry-after-ms", "1500"}, {"Retry-After", "2"}};
    send_json(exchange, R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})",
              429, wait);
  });
  OnLoopback up(upstream);
  auto seconds = up.call(client_request(chat_body("gpt-test", "hello", true)));
  EXPECT_EQ(last(*seconds).error.status, 429);
  EXPECT_EQ(last(*seconds).error.retry_after, std::chrono::milliseconds(20s));
  auto millis = up.call(client_request(chat_body("gpt-test", "ms please")));
  EXPECT_EQ(last(*millis).error.retry_after, std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace llmux::test
