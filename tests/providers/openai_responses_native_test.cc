// `responses: native` on the openai plugin: a /v1/responses request goes to
// the upstream's own /responses with the client's body (only the model
// renamed), and the upstream's Responses answer comes back as its bytes.
//
// Two levels, both over real loopback sockets against a FakeUpstream that
// speaks the Responses wire (support/responses_wire.h):
// - the plugin in process (support/plugin_harness.h): the events it emits
//   (Raw holding whole events, Usage before Finish, one terminal event), what
//   the upstream got, failures before and after the first byte;
// - a live llmux (TestGateway) in front of it, a client on /v1/responses:
//   the bytes the client gets, usage in the metrics, fallback, a cut stream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/http_engine.h"
#include "passthrough.h"
#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/openai_wire.h"
#include "support/openai_loopback.h"
#include "support/plugin_harness.h"
#include "support/responses_wire.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
namespace passthrough = openai_compat::passthrough;

constexpr const char* kKey = "sk-responses-key-00000000007";
constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* kUpstreamModel = "gpt-test-2025-04-14";  // what the upstream's answers name

// A client's /v1/responses body as the openai Python SDK writes it (spacing,
// members llmux does not model, a built-in tool only the upstream can run).
std::string client_body(const std::string& model, bool stream, const std::string& tools = R"([{"type": "web_search"}])") {
  return R"({"model": ")" + model +
         R"(", "instructions": "Be brief.", "input": [{"role": "user", "content": [{"type": "input_text", "text": "Say hi"}]}], )"
         R"("tools": )" + tools + R"(, "store": false, "truncation": "auto", "metadata": {"k": "v"})" +
         (stream ? R"(, "stream": true})" : "}");
}

const std::string kWeatherTool =
    R"([{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": )"
    R"({"location": {"type": "string"}}, "required": ["location"]}}])";

// `body` with its first "model" value replaced.
std::string with_model(std::string body, const std::string& from, const std::string& to) {
  const std::string needle = "\"model\": \"" + from + "\"";
  std::size_t at = body.find(needle);
  EXPECT_NE(at, std::string::npos) << body;
  if (at != std::string::npos) body.replace(at, needle.size(), "\"model\": \"" + to + "\"");
  return body;
}

// ===========================================================================
// The plugin in process

// The openai plugin's (or `plugin`'s) provider on `upstream` (support/openai_loopback.h).
struct OnLoopback : Loopback {
  OnLoopback(const FakeUpstream& upstream, const std::string& options = "responses: native\n",
             Plugin& plugin = openai_plugin())
      : Loopback(upstream, kKey, "[gpt-test]", options, plugin) {}
};

// A Responses request as the host hands it to a provider: the client's body
// kept, `model` already the upstream's name (a route step may rename it).
ChatRequest responses_request(const std::string& body, bool stream, const std::string& model = "gpt-test") {
  ChatRequest r;
  r.source_api = Api::OpenAIResponses;
  r.original_body = std::make_shared<const std::string>(body);
  r.model = model;
  r.stream = stream;
  Message system;
  system.role = Role::System;
  system.content = {ContentPart::make_text("Be brief.")};
  Message user;
  user.role = Role::User;
  user.content = {ContentPart::make_text("Say hi")};
  user.content_was_string = false;
  r.messages = {system, user};
  return r;
}

using K = Event::Kind;

std::vector<K> kinds(const FakeCall& call) {
  std::vector<K> out;
  for (const auto& e : call.events) out.push_back(e.kind);
  return out;
}

// The Raw events' bytes, joined; each one must hold whole events (it starts
// with a field and ends with the blank line).
std::string raw_bytes(const std::vector<Event>& events) {
  std::string out;
  for (const auto& e : events) {
    if (e.kind != K::Raw) continue;
    EXPECT_TRUE(e.text.size() >= 2 && e.text.compare(e.text.size() - 2, 2, "\n\n") == 0) << "a cut event: " << e.text;
    EXPECT_TRUE(e.text.rfind("event: ", 0) == 0 || e.text.rfind(": ", 0) == 0) << "starts mid-event: " << e.text;
    out += e.text;
  }
  return out;
}

std::string raw_bytes(const FakeCall& call) { return raw_bytes(call.events); }

const Event& last(const FakeCall& call) { return call.events.back(); }

// Holds an upstream handler until the test has seen what it needs.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    opened_.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return opened_.wait_for(lock, timeout, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable opened_;
  bool open_ = false;
};

int terminal_count(const FakeCall& call) {
  int n = 0;
  for (const auto& e : call.events) n += e.terminal();
  return n;
}

// ---------------------------------------------------------------------------
// Streamed and whole answers

TEST(OpenAIResponsesNative, StreamGoesToResponsesAndComesBackAsTheUpstreamsBytes) {
  const ResponsesStream stream = text_stream(kUpstreamModel);
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_events(exchange, stream.events()); });
  OnLoopback up(upstream);
  const std::string sent = client_body("alias", true);
  ChatRequest request = responses_request(sent, true, "gpt-test");
  request.traceparent = kTraceparent;
  auto call = up.call(std::move(request));

  EXPECT_EQ(raw_bytes(*call), stream.text()) << "the upstream's bytes, its model name included (the host restores it)";
  ASSERT_GE(call->events.size(), 2u);
  EXPECT_EQ(last(*call).kind, K::Finish);
  EXPECT_EQ(terminal_count(*call), 1);
  for (std::size_t i = 0; i + 1 < call->events.size(); ++i) {
    EXPECT_TRUE(call->events[i].kind == K::Raw || (call->events[i].kind == K::Usage && i + 2 == call->events.size()))
        << "only Raw events, then Usage, then Finish";
  }

  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  const FakeRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/v1/responses");
  EXPECT_EQ(r.body, with_model(sent, "alias", "gpt-test")) << "the client's body, only the model renamed";
  EXPECT_EQ(r.header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(r.header("traceparent"), kTraceparent);
  EXPECT_EQ(r.header("accept"), "text/event-stream");
  EXPECT_THAT(r.header("content-type"), HasSubstr("application/json"));
}

// Needs the Responses codec (responses::completed_response).
TEST(OpenAIResponsesNative, UsageOfResponseCompletedIsReportedBeforeFinish) {
  const ResponsesStream stream = text_stream(kUpstreamModel);
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_events(exchange, stream.events()); });
  OnLoopback up(upstream);
  auto call = up.call(responses_request(client_body("gpt-test", true), true));
  ASSERT_GE(call->events.size(), 2u);
  const Event& usage = call->events[call->events.size() - 2];
  ASSERT_EQ(usage.kind, K::Usage);
  EXPECT_EQ(usage.usage.input_tokens, 37);
  EXPECT_EQ(usage.usage.output_tokens, 11);
  EXPECT_EQ(usage.usage.cache_read_tokens, 5);
  EXPECT_EQ(usage.usage.reasoning_tokens, 2);
  EXPECT_EQ(last(*call).kind, K::Finish);
}

TEST(OpenAIResponsesNative, FunctionCallStreamPassesAsItIs) {
  const ResponsesStream stream = function_call_stream(kUpstreamModel);
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_events(exchange, stream.events()); });
  OnLoopback up(upstream);
  const std::string sent = client_body("gpt-test", true, kWeatherTool);
  auto call = up.call(responses_request(sent, true));
  EXPECT_EQ(raw_bytes(*call), stream.text());
  EXPECT_EQ(last(*call).kind, K::Finish);
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].body, sent);
}

TEST(OpenAIResponsesNative, EventsSplitAnywhereAreEmittedWhole) {
  const ResponsesStream stream = text_stream(kUpstreamModel);
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
    const std::string all = stream.text();
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    for (std::size_t at = 0; at < all.size(); at += 13) exchange.chunk(all.substr(at, 13));
    exchange.end_chunked();
  });
  OnLoopback up(upstream);
  auto call = up.call(responses_request(client_body("gpt-test", true), true));
  EXPECT_EQ(raw_bytes(*call), stream.text());
  EXPECT_EQ(last(*call).kind, K::Finish);
}

TEST(OpenAIResponsesNative, WholeAnswerIsOneRawEventThenFinish) {
  const std::string whole = whole_response(kUpstreamModel);
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, whole); });
  OnLoopback up(upstream);
  const std::string sent = client_body("gpt-test", false);
  auto call = up.call(responses_request(sent, false));
  ASSERT_FALSE(call->events.empty());
  EXPECT_EQ(call->events[0].kind, K::Raw);
  EXPECT_EQ(call->events[0].text, whole);
  EXPECT_EQ(last(*call).kind, K::Finish);
  EXPECT_EQ(terminal_count(*call), 1);
  auto requests = upstream.requests_to("/v1/responses");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, sent);
  EXPECT_EQ(requests[0].header("accept"), "application/json");
}

// Needs the Responses codec (responses::parse_usage).
TEST(OpenAIResponsesNative, WholeAnswerReportsItsUsage) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, whole_response(kUpstreamModel));
  });
  OnLoopback up(upstream);
  auto call = up.call(responses_request(client_body("gpt-test", false), false));
  ASSERT_EQ(kinds(*call), (std::vector<K>{K::Raw, K::Usage, K::Finish}));
  EXPECT_EQ(call->events[1].usage.input_tokens, 37);
  EXPECT_EQ(call->events[1].usage.output_tokens, 11);
}

TEST(OpenAIResponsesNative, ResponseIncompleteEndsTheStreamToo) {
  ResponsesStream stream;
  stream.opening(kUpstreamModel);
  stream.add("response.output_item.added", R"("output_index":0,"item":)" + message_item("in_progress", "", false));
  stream.add("response.incomplete",
             R"("response":)" + response_object(kUpstreamModel, "incomplete", "[]", kResponsesUsage));
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_events(exchange, stream.events()); });
  OnLoopback up(upstream);
  auto call = up.call(responses_request(client_body("gpt-test", true), true));
  EXPECT_EQ(raw_bytes(*call), stream.text());
  EXPECT_EQ(last(*call).kind, K::Finish);
}

// ---------------------------------------------------------------------------
// Failures

TEST(OpenAIResponsesNative, HttpErrorsAreMappedLikeChatPassThrough) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.body.find("please wait") != std::string::npos) {
      send_json(exchange,
                R"({"error":{"message":"Rate limit reached for gpt-test","type":"requests","param":null,)"
                R"("code":"rate_limit_exceeded"}})",
                429, {{"Retry-After", "20"}});
      return;
    }
    send_json(exchange,
              R"({"error":{"message":"Invalid type for 'input'.","type":"invalid_request_error","param":"input",)"
              R"("code":"invalid_type"}})",
              400);
  });
  OnLoopback up(upstream);
  auto limited = up.call(responses_request(R"({"model":"gpt-test","input":"please wait","stream":true})", true));
  ASSERT_EQ(kinds(*limited), std::vector<K>{K::Error});
  EXPECT_EQ(last(*limited).error.status, 429);
  EXPECT_EQ(last(*limited).error.message, "Rate limit reached for gpt-test");
  EXPECT_EQ(last(*limited).error.retry_after, std::chrono::milliseconds(20s));
  auto invalid = up.call(responses_request(R"({"model":"gpt-test","input":7})", false));
  ASSERT_EQ(kinds(*invalid), std::vector<K>{K::Error});
  EXPECT_EQ(last(*invalid).error.status, 400);
  EXPECT_EQ(last(*invalid).error.param, "input");
  EXPECT_EQ(last(*invalid).error.code, "invalid_type");
}

TEST(OpenAIResponsesNative, A401SetsTheKeyAsideLikeOnChat) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error",)"
                        R"("param":null,"code":"invalid_api_key"}})",
              401);
  });
  OnLoopback up(upstream, "responses: native\nunauthorized_cooldown: 30s\n");
  auto call = up.call(responses_request(client_body("gpt-test", true), true));
  EXPECT_EQ(last(*call).error.status, 401);
  EXPECT_EQ(up.provider->condition().state, ProviderCondition::State::Unauthorized);
  EXPECT_THAT(up.host.log_text(), HasSubstr("rejected with 401; set aside for 30 s"));
}

TEST(OpenAIResponsesNative, FailureRightAfterTheOpeningEventsFailsTheAttemptWithNothingSent) {
  ResponsesStream failed;
  failed.opening(kUpstreamModel);
  failed.add("response.failed",
             R"("response":)" + response_object(kUpstreamModel, "failed", "[]", "null",
                                                 R"({"code":"server_error","message":"The server had an error."})"));
  ResponsesStream error_event;
  error_event.add("error", R"("code":"rate_limit_exceeded","message":"Slow down.","param":null)");
  for (const ResponsesStream* stream : {&failed, &error_event}) {
    SCOPED_TRACE(stream->text());
    FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_events(exchange, stream->events()); });
    OnLoopback up(upstream);
    auto call = up.call(responses_request(client_body("gpt-test", true), true));
    ASSERT_EQ(kinds(*call), std::vector<K>{K::Error}) << "nothing before the error: the chain can move on";
    if (stream == &failed) {
      EXPECT_EQ(last(*call).error.status, 502);
      EXPECT_EQ(last(*call).error.message, "The server had an error.");
      EXPECT_EQ(last(*call).error.code, "server_error");
    } else {
      EXPECT_EQ(last(*call).error.status, 429);
      EXPECT_EQ(last(*call).error.message, "Slow down.");
    }
  }
}

TEST(OpenAIResponsesNative, FailureAfterTheFirstBytesIsForwardedThenEndsTheCall) {
  const std::string at = std::string(R"("item_id":")") + kMessageId + R"(","output_index":0,"content_index":0,)";
  for (bool failed_event : {true, false}) {
    SCOPED_TRACE(failed_event ? "response.failed" : "error");
    ResponsesStream stream;
    stream.opening(kUpstreamModel);
    stream.add("response.output_item.added", R"("output_index":0,"item":)" + message_item("in_progress", "", false));
    stream.add("response.output_text.delta", at + R"("delta":"Hel","logprobs":[])");
    const std::string head = stream.text();
    if (failed_event) {
      stream.add("response.failed",
                 R"("response":)" + response_object(kUpstreamModel, "failed", "[]", "null",
                                                     R"({"code":"server_error","message":"Boom."})"));
    } else {
      stream.add("error", R"("code":"server_error","message":"Boom.","param":null)");
    }
    Gate first_bytes_out;
    FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
      exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
      exchange.chunk(head);
      first_bytes_out.wait(10s);  // the failure comes once the first bytes are emitted
      exchange.chunk(stream.events().back());
      exchange.chunk("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\"}\n\n");
      exchange.end_chunked();
    });
    OnLoopback up(upstream);
    auto call = std::make_shared<LiveCall>(responses_request(client_body("gpt-test", true), true));
    up.provider->chat(call);
    EXPECT_TRUE(call->wait_for_raw_bytes(head.size(), 10s));
    first_bytes_out.open();
    ASSERT_TRUE(call->wait_for_terminal(10s));
    std::vector<Event> events = call->events();
    EXPECT_EQ(raw_bytes(events), stream.text()) << "the failure reaches the client; nothing after it";
    EXPECT_EQ(events.back().kind, K::Error);
    EXPECT_EQ(events.back().error.message, "Boom.");
    int terminal = 0;
    for (const auto& e : events) terminal += e.terminal();
    EXPECT_EQ(terminal, 1);
  }
}

TEST(OpenAIResponsesNative, StreamEndingWithoutATerminalEventIsACut) {
  const ResponsesStream stream = text_stream(kUpstreamModel);
  const std::vector<std::string> events(stream.events().begin(), stream.events().begin() + 5);
  std::string head;
  for (const auto& e : events) head += e;
  for (bool clean_close : {true, false}) {
    SCOPED_TRACE(clean_close ? "clean close" : "cut connection");
    FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
      exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
      exchange.chunk(head);
      exchange.chunk("event: response.output_text.delta\ndata: {\"type\":\"resp");  // half an event
      if (clean_close) {
        exchange.end_chunked();
      } else {
        exchange.close();
      }
    });
    OnLoopback up(upstream);
    auto call = up.call(responses_request(client_body("gpt-test", true), true));
    EXPECT_EQ(raw_bytes(*call), head) << "whole events only: the half one never goes out";
    EXPECT_EQ(last(*call).kind, K::Error);
    EXPECT_EQ(last(*call).error.status, 502);
    EXPECT_EQ(terminal_count(*call), 1);
    if (clean_close) {
      // The half event completes as garbage at the close; either way the call fails.
      EXPECT_THAT(last(*call).error.message, HasSubstr("openai provider 'up': upstream sent a stream event that is"));
    }
  }
}

TEST(OpenAIResponsesNative, CleanEndWithoutTerminalEventNamesWhatIsMissing) {
  const ResponsesStream stream = text_stream(kUpstreamModel);
  const std::vector<std::string> events(stream.events().begin(), stream.events().begin() + 5);
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_events(exchange, events); });
  OnLoopback up(upstream);
  auto call = up.call(responses_request(client_body("gpt-test", true), true));
  EXPECT_EQ(last(*call).kind, K::Error);
  EXPECT_THAT(last(*call).error.message,
              HasSubstr("ended without response.completed, response.incomplete or response.failed"));
}

TEST(OpenAIResponsesNative, GarbageFailsBeforeTheFirstByteAndEndsTheStreamAfterIt) {
  const ResponsesStream stream = text_stream(kUpstreamModel);
  struct Case {
    std::vector<std::string> pieces;
    std::string expected_raw;
    std::string why;
  };
  const std::string good = stream.events()[0] + stream.events()[1] + stream.events()[2];
  const std::vector<Case> cases = {
      {{": hi\n\n", "data: <html>oops</html>\n\n", stream.text()}, "", "a stream event that is not valid JSON"},
      {{"data: [1,2]\n\n"}, "", "a stream event that is not a JSON object"},
      {{"data: {\"sequence_number\":0}\n\n"}, "", "a stream event without a \"type\""},
      {{good, "event: response.output_text.delta\ndata: {\"type\":\n\n", stream.events()[3]}, good,
       "a stream event that is not valid JSON"},
      {{good, "data: [DONE]\n\n"}, good, "data: [DONE] before response.completed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.pieces[c.pieces.size() > 1 ? 1 : 0]);
    FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
      exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
      for (const auto& piece : c.pieces) exchange.chunk(piece);
      exchange.end_chunked();
    });
    OnLoopback up(upstream);
    auto call = up.call(responses_request(client_body("gpt-test", true), true));
    EXPECT_EQ(raw_bytes(*call), c.expected_raw);
    EXPECT_EQ(last(*call).kind, K::Error);
    EXPECT_EQ(last(*call).error.status, 502);
    EXPECT_THAT(last(*call).error.message, HasSubstr("openai provider 'up': upstream sent " + c.why));
    EXPECT_EQ(terminal_count(*call), 1);
  }
}

TEST(OpenAIResponsesNative, BrokenOrFailedWholeAnswersAreFailedAttempts) {
  struct Case {
    std::string body;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {whole_response(kUpstreamModel).substr(0, 100), 502, "the upstream's answer is not valid JSON"},
      {R"({"id":"resp_1","object":"response"})", 502, "the upstream's answer is not a response object"},
      {response_object(kUpstreamModel, "failed", "[]", "null", R"({"code":"server_error","message":"Went wrong."})"),
       502, "Went wrong."},
      {R"({"error":{"message":"No capacity","type":"server_error","code":503}})", 503, "No capacity"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) { send_json(exchange, c.body); });
    OnLoopback up(upstream);
    auto call = up.call(responses_request(client_body("gpt-test", false), false));
    ASSERT_EQ(kinds(*call), std::vector<K>{K::Error}) << "nothing before the error";
    EXPECT_EQ(last(*call).error.status, c.status);
    EXPECT_THAT(last(*call).error.message, HasSubstr(c.message));
  }
}

TEST(OpenAIResponsesNative, AnswerInTheOtherShapeIsAFailedAttempt) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.body.find("\"stream\": true") != std::string::npos) {
      send_json(exchange, whole_response(kUpstreamModel));
    } else {
      send_events(exchange, text_stream(kUpstreamModel).events());
    }
  });
  OnLoopback up(upstream);
  auto streamed = up.call(responses_request(client_body("gpt-test", true), true));
  ASSERT_EQ(kinds(*streamed), std::vector<K>{K::Error});
  EXPECT_THAT(last(*streamed).error.message, HasSubstr("answered a streamed Responses request whole"));
  auto whole = up.call(responses_request(client_body("gpt-test", false), false));
  ASSERT_EQ(kinds(*whole), std::vector<K>{K::Error});
  EXPECT_THAT(last(*whole).error.message, HasSubstr("answered a whole Responses request with a stream"));
}

// ---------------------------------------------------------------------------
// What goes where

TEST(OpenAIResponsesNative, TranslateModeAndBodiesThatCannotPassGoToChatCompletions) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path != "/v1/chat/completions") {
      exchange.respond(404);
      return;
    }
    send_stream(exchange, hello_stream());
  });
  // translate (the default, and said outright).
  for (const char* options : {"", "responses: translate\n"}) {
    SCOPED_TRACE(options);
    OnLoopback up(upstream, options);
    auto call = up.call(responses_request(client_body("gpt-test", true), true));
    EXPECT_EQ(last(*call).kind, K::Finish);
    std::string text;
    for (const auto& e : call->events) {
      EXPECT_NE(e.kind, K::Raw) << "a chat answer is no Responses answer: parsed into events";
      if (e.kind == K::TextDelta) text += e.text;
    }
    EXPECT_EQ(text, "Hello world");
  }
  // native, but a route step's params dropped the client's body.
  OnLoopback native(upstream);
  ChatRequest stepped = responses_request(client_body("gpt-test", true), true);
  stepped.original_body.reset();
  EXPECT_EQ(last(*native.call(std::move(stepped))).kind, K::Finish);
  // native, and a chat request: chat pass-through as before.
  auto chat = native.call(client_request(chat_body("gpt-test", "hello", true)));
  EXPECT_EQ(last(*chat).kind, K::Finish);
  EXPECT_EQ(chat->events[0].kind, K::Raw);

  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const auto& r : requests) EXPECT_EQ(r.path, "/v1/chat/completions");
  EXPECT_THAT(requests[0].body, HasSubstr(R"("messages":[)")) << "a chat rendered from the request";
  EXPECT_THAT(requests[0].body, Not(HasSubstr(R"("input")")));
}

TEST(OpenAIResponsesNative, G4fAddsItsProviderMember) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, whole_response(kUpstreamModel));
  });
  OnLoopback up(upstream, "responses: native\nprovider: Copilot\n", g4f_plugin());
  const std::string sent = client_body("gpt-test", false);
  EXPECT_EQ(last(*up.call(responses_request(sent, false))).kind, K::Finish);
  auto requests = upstream.requests_to("/v1/responses");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, sent.substr(0, sent.size() - 1) + R"(,"provider":"Copilot"})");
  EXPECT_FALSE(requests[0].has_header("authorization"));
}

TEST(OpenAIResponsesNative, TheOptionIsNativeOrTranslate) {
  const std::string base = std::string("api_key: ") + kKey + "\n";
  EXPECT_EQ(config_error(openai_plugin(), base + "responses: native\n"), "no error");
  EXPECT_EQ(config_error(openai_plugin(), base + "responses: translate\n"), "no error");
  EXPECT_THAT(config_error(openai_plugin(), base + "responses: passthrough\n"),
              HasSubstr("must be 'native' or 'translate', got 'passthrough'"));
}

// ---------------------------------------------------------------------------
// The pieces (passthrough.h)

TEST(OpenAIResponsesNativeBody, OnlyTheModelChanges) {
  const std::string sent = R"({ "stream" : true, "model" : "alias" , "input" : "hi", "x": {"model": "inner"} })";
  ChatRequest request = responses_request(sent, true, "real \"model\"");
  auto body = passthrough::responses_body(request, "");
  ASSERT_TRUE(body);
  EXPECT_EQ(*body, R"({ "stream" : true, "model" : "real \"model\"" , "input" : "hi", "x": {"model": "inner"} })");
  EXPECT_FALSE(body->find("stream_options") != std::string::npos) << "a Responses stream reports usage anyway";

  // Nothing to pass: a chat request, no body, no readable model.
  ChatRequest chat = client_request(chat_body("gpt-test", "hi"));
  EXPECT_FALSE(passthrough::responses_body(chat, ""));
  ChatRequest no_body = responses_request(sent, true);
  no_body.original_body.reset();
  EXPECT_FALSE(passthrough::responses_body(no_body, ""));
  for (const char* odd : {R"({"input":"hi"})", R"({"model":7,"input":"hi"})", R"({"model":"a","model":"b"})",
                          R"({"mod\u0065l":"a","model":"b"})", "[1]"}) {
    EXPECT_FALSE(passthrough::responses_body(responses_request(odd, false), "")) << odd;
  }
}

TEST(OpenAIResponsesNativeBody, FailuresInTheUpstreamsWords) {
  Error event = passthrough::responses_failure(
      R"({"type":"error","sequence_number":3,"code":"rate_limit_exceeded","message":"Slow down.","param":null})");
  EXPECT_EQ(event.status, 429);
  EXPECT_EQ(event.type, "rate_limit_error");
  EXPECT_EQ(event.message, "Slow down.");
  EXPECT_EQ(event.code, "rate_limit_exceeded");
  Error failed = passthrough::responses_failure(
      R"({"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"invalid_prompt","message":"No."}}})");
  EXPECT_EQ(failed.status, 400);
  EXPECT_EQ(failed.message, "No.");
  Error whole = passthrough::responses_failure(R"({"error":{"message":"Busy","type":"server_error","code":503}})");
  EXPECT_EQ(whole.status, 503);
  EXPECT_EQ(whole.message, "Busy");
  EXPECT_EQ(passthrough::responses_failure("not json").status, 502);
}

TEST(OpenAIResponsesNativeBody, EventKindsByType) {
  using T = passthrough::ResponsesEvent;
  EXPECT_EQ(passthrough::responses_event(R"("response.created")"), T::Opening);
  EXPECT_EQ(passthrough::responses_event(R"("response.in_progress")"), T::Opening);
  EXPECT_EQ(passthrough::responses_event(R"("response.queued")"), T::Opening);
  EXPECT_EQ(passthrough::responses_event(R"("response.output_text.delta")"), T::Content);
  EXPECT_EQ(passthrough::responses_event(R"("response.completed")"), T::Completed);
  EXPECT_EQ(passthrough::responses_event(R"("response.incomplete")"), T::Completed);
  EXPECT_EQ(passthrough::responses_event(R"("response.failed")"), T::Failed);
  EXPECT_EQ(passthrough::responses_event(R"("error")"), T::Error);
  EXPECT_EQ(passthrough::responses_event(""), T::Untyped);
  EXPECT_EQ(passthrough::responses_event("7"), T::Untyped);
}

// ===========================================================================
// Through a live llmux: a client on /v1/responses (needs the Responses codec:
// the host reads the request with it and renders failures with it)

// One openai provider entry; no host retries or cooldown, so each client
// request is one upstream request per provider.
std::string openai_entry(const std::string& name, const FakeUpstream& upstream,
                         const std::string& options = "responses: native\n") {
  return "  " + name +
         ":\n    plugin: openai\n    retry: {attempts: 0}\n    cooldown: {after_failures: 0}\n    options:\n"
         "      base_url: " + upstream.url("/v1") + "\n" +
         indent(std::string("api_key: ") + kKey + "\nmodels: [gpt-test]\n" + options, 6);
}

std::string gateway_config(const std::string& providers, const std::string& routes) {
  return "providers:\n" + providers + "routes:\n" + indent(routes, 2);
}

// One native provider `up`; routes gpt-test and renamed (-> upstream-model).
std::string single(const FakeUpstream& upstream, const std::string& options = "responses: native\n") {
  return gateway_config(openai_entry("up", upstream, options),
                        "gpt-test: [up]\nrenamed:\n  - provider: up\n    model: upstream-model\n");
}

// The value of one series in a Prometheus exposition, or -1.
double series(const std::string& exposition, const std::string& name_and_labels) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name_and_labels + " ", 0) == 0) return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return -1;
}

// A request is counted as it ends, just after its last byte went out (maybe
// after the client read it): poll the scrape until `name` shows `value`.
double tokens_counted(TestGateway& gw, const std::string& name, double value) {
  HttpClient client;
  double seen = -1;
  for (int i = 0; i < 500 && seen != value; ++i) {  // bounded: 5 s
    if (i > 0) std::this_thread::sleep_for(10ms);
    seen = series(client.get(gw.url("/metrics")).body, name);
  }
  return seen;
}

// The `data` JSON of each event of a Responses stream body.
std::vector<std::string> event_types(const std::string& body) {
  std::vector<std::string> types;
  for (const auto& data : sse_data(body)) {
    rapidjson::Document doc;
    doc.Parse(data.c_str(), data.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("type") || !doc["type"].IsString()) {
      ADD_FAILURE() << "not a Responses event: " << data;
      continue;
    }
    types.emplace_back(doc["type"].GetString());
  }
  return types;
}

TEST(OpenAIResponsesNativeGateway, StreamReachesTheClientAsTheUpstreamSentItButTheModel) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_events(exchange, text_stream(kUpstreamModel).events());
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  const std::string sent = client_body("renamed", true);
  auto response = client.post(gw.url("/v1/responses"), sent, with_header(std::string("traceparent: ") + kTraceparent));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(response.header("content-type"), HasSubstr("text/event-stream"));
  EXPECT_EQ(response.header("x-llmux-provider"), "up");
  EXPECT_EQ(response.body, text_stream("renamed").text()) << "byte for byte, the model the client asked for";

  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/v1/responses");
  EXPECT_EQ(requests[0].body, with_model(sent, "renamed", "upstream-model"));
  EXPECT_EQ(requests[0].header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(requests[0].header("traceparent"), kTraceparent);

  EXPECT_EQ(tokens_counted(gw, R"(llmux_tokens_total{direction="input",model="renamed",provider="up"})", 37), 37);
  EXPECT_EQ(tokens_counted(gw, R"(llmux_tokens_total{direction="output",model="renamed",provider="up"})", 11), 11);
}

TEST(OpenAIResponsesNativeGateway, FunctionCallStreamReachesTheClient) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_events(exchange, function_call_stream(kUpstreamModel).events());
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  const std::string sent = client_body("gpt-test", true, kWeatherTool);
  auto response = client.post(gw.url("/v1/responses"), sent);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, function_call_stream("gpt-test").text());
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].body, sent);
}

TEST(OpenAIResponsesNativeGateway, WholeAnswerReachesTheClientWithItsUsageRecorded) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange, whole_response(kUpstreamModel));
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  const std::string sent = client_body("gpt-test", false);
  auto response = client.post(gw.url("/v1/responses"), sent);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, whole_response("gpt-test"));
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests()[0].path, "/v1/responses");
  EXPECT_EQ(upstream.requests()[0].body, sent);
  EXPECT_EQ(tokens_counted(gw, R"(llmux_tokens_total{direction="input",model="gpt-test",provider="up"})", 37), 37);
}

TEST(OpenAIResponsesNativeGateway, RateLimitBeforeTheFirstByteFallsBackToTheNextProvider) {
  FakeUpstream limited([](const FakeRequest&, FakeExchange& exchange) {
    send_json(exchange,
              R"({"error":{"message":"Rate limit reached for gpt-test","type":"requests","param":null,)"
              R"("code":"rate_limit_exceeded"}})",
              429, {{"Retry-After", "20"}});
  });
  FakeUpstream good([](const FakeRequest&, FakeExchange& exchange) {
    send_events(exchange, text_stream(kUpstreamModel).events());
  });
  TestGateway gw(gateway_config(openai_entry("limited", limited) + openai_entry("good", good),
                                "gpt-test: [limited, good]\nalone: [limited]\n"));
  HttpClient client;
  auto response = client.post(gw.url("/v1/responses"), client_body("gpt-test", true));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("x-llmux-provider"), "good");
  EXPECT_EQ(response.body, text_stream("gpt-test").text()) << "nothing of the failed attempt";
  EXPECT_EQ(limited.requests_to("/v1/responses").size(), 1u);
  EXPECT_EQ(good.requests_to("/v1/responses").size(), 1u);

  auto alone = client.post(gw.url("/v1/responses"), client_body("alone", true));
  EXPECT_EQ(alone.status, 429) << alone.body;
  EXPECT_EQ(alone.header("retry-after"), "20");
  EXPECT_THAT(alone.body, HasSubstr("Rate limit reached for gpt-test"));
}

TEST(OpenAIResponsesNativeGateway, CutAfterTheFirstByteEndsWithResponseFailed) {
  const ResponsesStream stream = text_stream(kUpstreamModel);
  const std::vector<std::string> head(stream.events().begin(), stream.events().begin() + 6);
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    for (const auto& event : head) exchange.chunk(event);
    exchange.close();  // a cut: no terminal chunk
  });
  TestGateway gw(single(upstream));
  HttpClient client;
  auto response = client.post(gw.url("/v1/responses"), client_body("gpt-test", true));
  ASSERT_EQ(response.status, 200) << response.body;
  std::string expected;
  for (std::size_t i = 0; i < head.size(); ++i) expected += text_stream("gpt-test").events()[i];
  ASSERT_GE(response.body.size(), expected.size());
  EXPECT_EQ(response.body.substr(0, expected.size()), expected) << "the upstream's events, as they were";
  auto types = event_types(response.body);
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.back(), "response.failed") << response.body;
  EXPECT_EQ(std::count(types.begin(), types.end(), "response.failed"), 1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "response.completed"), 0);
}

TEST(OpenAIResponsesNativeGateway, TranslateSendsAChatToChatCompletions) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path != "/v1/chat/completions") {
      exchange.respond(404);
      return;
    }
    send_stream(exchange, hello_stream());
  });
  TestGateway gw(single(upstream, "responses: translate\n"));
  HttpClient client;
  auto response = client.post(gw.url("/v1/responses"), client_body("gpt-test", true));
  ASSERT_EQ(response.status, 200) << response.body;
  auto types = event_types(response.body);
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.front(), "response.created");
  EXPECT_EQ(types.back(), "response.completed");
  EXPECT_THAT(response.body, HasSubstr("Hello"));
  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/v1/chat/completions");
  EXPECT_THAT(requests[0].body, HasSubstr(R"("messages":[)"));
}

}  // namespace
}  // namespace llmux::test
