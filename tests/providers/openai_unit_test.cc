// The openai and g4f plugins driven in process through the plugin ABI, with a
// recording host (HTTP client, timers, logger) and a scripted ChatCall: option
// parsing and defaults per flavour, the request they send, key rotation, and
// the response handling that a live upstream makes hard to time (backpressure,
// cancellation, a provider destroyed while its call runs, the models cache).
#include <stdlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/plugin_harness.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// The plugins (the recording host and the call: support/plugin_harness.h)

ChatRequest simple_request(bool stream) { return request_for(chat_body("gpt-test", "hello", stream)); }

Plugin& openai_plugin() { return loaded_plugin("llmux-openai.so"); }

Plugin& g4f_plugin() { return loaded_plugin("llmux-g4f.so"); }

// The chat transfer started for `call` (the last transfer started).
Started& chat_transfer(FakeHost& host) {
  EXPECT_FALSE(host.started.empty());
  return host.started.back();
}

std::vector<Event::Kind> kinds(const std::vector<Event>& events) {
  std::vector<Event::Kind> out;
  for (const auto& e : events) out.push_back(e.kind);
  return out;
}

constexpr const char* kKeyA = "sk-unit-alpha-0000000000A1";
constexpr const char* kKeyB = "sk-unit-bravo-0000000000B2";

// ---------------------------------------------------------------------------
// Options and defaults

TEST(OpenAIConfig, PluginNamesAndVersions) {
  EXPECT_EQ(openai_plugin().name(), "openai");
  EXPECT_EQ(openai_plugin().version(), "1.0.0");
  EXPECT_EQ(g4f_plugin().name(), "g4f");
  EXPECT_EQ(g4f_plugin().version(), "1.0.0");
}

TEST(OpenAIConfig, DefaultsGoToApiOpenAIComWithTheKey) {
  FakeHost host;
  auto provider = create(openai_plugin(), std::string("api_key: ") + kKeyA, host);
  // The model list is asked for in the background at creation.
  ASSERT_EQ(host.started.size(), 1u);
  EXPECT_EQ(host.started[0].request.method, "GET");
  EXPECT_EQ(host.started[0].request.url, "https://api.openai.com/v1/models");
  EXPECT_EQ(header(host.started[0].request, "authorization"), std::string("Bearer ") + kKeyA);

  auto call = std::make_shared<FakeCall>(simple_request(false));
  provider->chat(call);
  ASSERT_EQ(host.started.size(), 2u);
  const HttpRequest& r = host.started[1].request;
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://api.openai.com/v1/chat/completions");
  EXPECT_EQ(header(r, "Authorization"), std::string("Bearer ") + kKeyA);
  EXPECT_EQ(header(r, "content-type"), "application/json");
  EXPECT_EQ(header(r, "accept"), "application/json");
  EXPECT_EQ(header(r, "openai-organization"), "<absent>");
  EXPECT_EQ(r.timeouts.connect, 10s);
  EXPECT_EQ(r.timeouts.first_byte, 60s);
  EXPECT_EQ(r.timeouts.idle, 120s);
  EXPECT_EQ(r.timeouts.total, 0ms);
  EXPECT_TRUE(r.verify_tls);
  EXPECT_EQ(r.proxy, "");
  EXPECT_EQ(r.ca_path, "");
  EXPECT_THAT(r.body, HasSubstr(R"("model":"gpt-test")"));
  EXPECT_THAT(r.body, Not(HasSubstr("stream")));
  EXPECT_TRUE(call->has_cancel_hook());
}

TEST(OpenAIConfig, StreamedRequestsAlwaysAskForUsage) {
  FakeHost host;
  auto provider = create(openai_plugin(), std::string("api_key: ") + kKeyA + "\nmodels: [gpt-test]", host);
  ASSERT_TRUE(host.started.empty()) << "a static model list needs no fetch";
  auto call = std::make_shared<FakeCall>(simple_request(true));
  ASSERT_FALSE(call->request().include_usage);
  provider->chat(call);
  const HttpRequest& r = chat_transfer(host).request;
  EXPECT_EQ(header(r, "accept"), "text/event-stream");
  EXPECT_THAT(r.body, HasSubstr(R"("stream":true,"stream_options":{"include_usage":true})"));
}

TEST(OpenAIConfig, OptionsReachTheRequest) {
  FakeHost host;
  auto provider = create(openai_plugin(),
                         std::string("api_key: ") + kKeyA +
                             "\nbase_url: http://10.1.2.3:8000/api/v1/\n"
                             "headers:\n  X-Team: llm-ops\n  accept: application/x-custom\n"
                             "organization: org-123\nconnect_timeout: 2s\nfirst_byte_timeout: 250ms\n"
                             "idle_timeout: 3s\ntotal_timeout: 1m\nproxy: http://proxy:3128\n"
                             "verify_tls: false\nca_path: /etc/ca.pem\nmodels: [a, b]\n",
                         host);
  auto call = std::make_shared<FakeCall>(simple_request(true));
  provider->chat(call);
  const HttpRequest& r = chat_transfer(host).request;
  EXPECT_EQ(r.url, "http://10.1.2.3:8000/api/v1/chat/completions");
  EXPECT_EQ(header(r, "x-team"), "llm-ops");
  EXPECT_EQ(header(r, "Accept"), "application/x-custom") << "configured headers replace defaults";
  int accepts = 0;
  for (const auto& [name, value] : r.headers) accepts += strcasecmp(name.c_str(), "accept") == 0;
  EXPECT_EQ(accepts, 1);
  EXPECT_EQ(header(r, "OpenAI-Organization"), "org-123");
  EXPECT_EQ(r.timeouts.connect, 2s);
  EXPECT_EQ(r.timeouts.first_byte, 250ms);
  EXPECT_EQ(r.timeouts.idle, 3s);
  EXPECT_EQ(r.timeouts.total, 60s);
  EXPECT_EQ(r.proxy, "http://proxy:3128");
  EXPECT_FALSE(r.verify_tls);
  EXPECT_EQ(r.ca_path, "/etc/ca.pem");
  auto models = provider->models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].id, "a");
  EXPECT_EQ(models[1].id, "b");
}

TEST(OpenAIConfig, MissingKeyIsNotConfigured) {
  ::unsetenv("LLMUX_TEST_UNSET_KEY_1");
  ::unsetenv("LLMUX_TEST_UNSET_KEY_2");
  EXPECT_THAT(not_configured(openai_plugin(), ""), HasSubstr("api_key"));
  EXPECT_THAT(not_configured(openai_plugin(), "base_url: http://127.0.0.1:9/v1"), HasSubstr("api_key"));
  EXPECT_THAT(not_configured(openai_plugin(), "api_key: ${LLMUX_TEST_UNSET_KEY_1}"),
              HasSubstr("LLMUX_TEST_UNSET_KEY_1"));
  std::string both = not_configured(openai_plugin(),
                                    "api_keys:\n  - ${LLMUX_TEST_UNSET_KEY_1}\n  - ${LLMUX_TEST_UNSET_KEY_2}");
  EXPECT_THAT(both, HasSubstr("LLMUX_TEST_UNSET_KEY_1"));
  EXPECT_THAT(both, HasSubstr("LLMUX_TEST_UNSET_KEY_2"));
}

TEST(OpenAIConfig, UnsetKeysInAListAreDropped) {
  ::unsetenv("LLMUX_TEST_UNSET_KEY_1");
  FakeHost host;
  auto provider = create(openai_plugin(),
                         std::string("models: [m]\napi_keys:\n  - ${LLMUX_TEST_UNSET_KEY_1}\n  - ") + kKeyB, host);
  for (int i = 0; i < 2; ++i) provider->chat(std::make_shared<FakeCall>(simple_request(false)));
  ASSERT_EQ(host.started.size(), 2u);
  for (const auto& s : host.started) EXPECT_EQ(header(s.request, "authorization"), std::string("Bearer ") + kKeyB);
}

TEST(OpenAIConfig, WrongValuesAreConfigErrorsWithPositions) {
  std::string key = std::string("api_key: ") + kKeyA + "\n";
  std::string e = config_error(openai_plugin(), key + "base_url: ftp://example.com");
  EXPECT_THAT(e, HasSubstr("providers.yaml:3:3: options.base_url: must start"));
  EXPECT_THAT(e, HasSubstr("http:// or https://"));
  EXPECT_THAT(config_error(openai_plugin(), key + "tiemout: 3s"), HasSubstr("unknown key 'tiemout'"));
  EXPECT_THAT(config_error(openai_plugin(), key + "idle_timeout: soon"), HasSubstr("options.idle_timeout"));
  EXPECT_THAT(config_error(openai_plugin(), key + "verify_tls: maybe"), HasSubstr("options.verify_tls"));
  EXPECT_THAT(config_error(openai_plugin(), key + "headers: [a, b]"), HasSubstr("options.headers"));
  EXPECT_THAT(config_error(openai_plugin(), key + "headers:\n  \"Bad Name\": x"), HasSubstr("invalid header name"));
  EXPECT_THAT(config_error(openai_plugin(), key + "models_ttl: -5s"), HasSubstr("negative"));
  EXPECT_THAT(config_error(openai_plugin(), key + "unauthorized_cooldown: soon"),
              HasSubstr("providers.yaml:3:3: options.unauthorized_cooldown"));
  EXPECT_THAT(config_error(openai_plugin(), key + "api_keys: [x]"), HasSubstr("not both"));
  EXPECT_THAT(config_error(openai_plugin(), key + "provider: Copilot"), HasSubstr("unknown key 'provider'"));
  // A ConfigError wins over a missing key.
  EXPECT_THAT(config_error(openai_plugin(), "base_url: nope"), HasSubstr("http:// or https://"));
}

TEST(G4fConfig, DefaultsToTheLocalServerWithoutAKey) {
  FakeHost host;
  auto provider = create(g4f_plugin(), "", host);
  ASSERT_EQ(host.started.size(), 1u);
  EXPECT_EQ(host.started[0].request.url, "http://127.0.0.1:1337/v1/models");
  provider->chat(std::make_shared<FakeCall>(simple_request(true)));
  ASSERT_EQ(host.started.size(), 2u);
  const HttpRequest& r = host.started[1].request;
  EXPECT_EQ(r.url, "http://127.0.0.1:1337/v1/chat/completions");
  EXPECT_EQ(header(r, "authorization"), "<absent>");
  EXPECT_THAT(r.body, Not(HasSubstr("provider")));
  EXPECT_THAT(r.body, HasSubstr(R"("include_usage":true)"));
  EXPECT_EQ(r.timeouts.idle, 120s);
}

TEST(G4fConfig, ProviderOptionIsSentUnlessTheRequestHasOne) {
  FakeHost host;
  auto provider = create(g4f_plugin(), "provider: Copilot\nmodels: [gpt-4]", host);
  provider->chat(std::make_shared<FakeCall>(simple_request(false)));
  EXPECT_THAT(chat_transfer(host).request.body, HasSubstr(R"("provider":"Copilot")"));
  auto body = chat_transfer(host).request.body;
  EXPECT_EQ(body.find("\"provider\""), body.rfind("\"provider\""));

  provider->chat(std::make_shared<FakeCall>(
      request_for(chat_body("gpt-test", "hi", false, R"("provider":"PollinationsAI")"))));
  body = chat_transfer(host).request.body;
  EXPECT_THAT(body, HasSubstr(R"("provider":"PollinationsAI")"));
  EXPECT_THAT(body, Not(HasSubstr("Copilot")));
}

TEST(G4fConfig, OptionalKeyIsUsedWhenSetAndDroppedWhenUnset) {
  ::unsetenv("LLMUX_TEST_UNSET_KEY_1");
  FakeHost host;
  auto provider = create(g4f_plugin(), "api_key: ${LLMUX_TEST_UNSET_KEY_1}\nmodels: [m]", host);
  provider->chat(std::make_shared<FakeCall>(simple_request(false)));
  EXPECT_EQ(header(chat_transfer(host).request, "authorization"), "<absent>");

  FakeHost host2;
  auto keyed = create(g4f_plugin(), std::string("api_key: ") + kKeyA + "\nmodels: [m]", host2);
  keyed->chat(std::make_shared<FakeCall>(simple_request(false)));
  EXPECT_EQ(header(chat_transfer(host2).request, "authorization"), std::string("Bearer ") + kKeyA);
  EXPECT_THAT(config_error(g4f_plugin(), "provider: \"\""), HasSubstr("provider must not be empty"));
}

// ---------------------------------------------------------------------------
// Keys

TEST(OpenAIKeys, RotateAndSetAsideA401dKey) {
  FakeHost host;
  auto provider = create(openai_plugin(), std::string("models: [m]\napi_keys: [") + kKeyA + ", " + kKeyB + "]",
                         host);
  std::vector<std::shared_ptr<FakeCall>> calls;
  for (int i = 0; i < 3; ++i) {
    calls.push_back(std::make_shared<FakeCall>(simple_request(false)));
    provider->chat(calls.back());
  }
  ASSERT_EQ(host.started.size(), 3u);
  EXPECT_EQ(header(host.started[0].request, "authorization"), std::string("Bearer ") + kKeyA);
  EXPECT_EQ(header(host.started[1].request, "authorization"), std::string("Bearer ") + kKeyB);
  EXPECT_EQ(header(host.started[2].request, "authorization"), std::string("Bearer ") + kKeyA);

  // Key A is rejected (twice: logged once).
  for (int i : {0, 2}) {
    auto& handler = *host.started[i].handler;
    handler.on_response(401, {{"Content-Type", "application/json"}});
    handler.on_body(std::string(R"({"error":{"message":"Incorrect API key provided: )") + kKeyA +
                    R"(","type":"invalid_request_error","code":"invalid_api_key"}})");
    handler.on_complete({});
    ASSERT_EQ(calls[i]->events.size(), 1u);
    const Error& error = calls[i]->events[0].error;
    EXPECT_EQ(error.status, 401);
    EXPECT_EQ(error.code, "invalid_api_key");
    EXPECT_THAT(error.message, HasSubstr("Incorrect API key provided"));
    EXPECT_THAT(error.message, Not(HasSubstr(kKeyA))) << "an echoed key is redacted";
  }
  std::string log = host.log_text();
  EXPECT_THAT(log, HasSubstr("key #1 (\xE2\x80\xA6" "00A1) rejected with 401; set aside for 60 s"));
  EXPECT_EQ(log.find("rejected with 401"), log.rfind("rejected with 401")) << log;
  EXPECT_THAT(log, Not(HasSubstr(kKeyA)));

  for (int i = 0; i < 2; ++i) provider->chat(std::make_shared<FakeCall>(simple_request(false)));
  ASSERT_EQ(host.started.size(), 5u);
  EXPECT_EQ(header(host.started[3].request, "authorization"), std::string("Bearer ") + kKeyB);
  EXPECT_EQ(header(host.started[4].request, "authorization"), std::string("Bearer ") + kKeyB);

  EXPECT_EQ(provider->condition().state, ProviderCondition::State::Up) << "key B still works";

  // Key B too: nothing usable is left; calls fail at once without a transfer
  // until a key is due for its probe.
  host.started[4].handler->on_response(401, {});
  host.started[4].handler->on_complete({});
  EXPECT_THAT(host.log_text(), HasSubstr("key #2 (\xE2\x80\xA6" "00B2) rejected with 401; set aside for 60 s; "
                                         "no usable key left, the provider waits for a probe"));
  EXPECT_EQ(provider->condition().state, ProviderCondition::State::Unauthorized);
  auto last = std::make_shared<FakeCall>(simple_request(false));
  provider->chat(last);
  EXPECT_EQ(host.started.size(), 5u);
  ASSERT_EQ(last->events.size(), 1u);
  EXPECT_EQ(last->events[0].error.status, 503);
  EXPECT_EQ(last->events[0].error.code, "no_usable_key");
  EXPECT_THAT(last->events[0].error.message, HasSubstr("all 2 key(s) got HTTP 401; next probe in"));

  // A cooldown later both keys are due: each gets one probe, and while the
  // probes run no third request is let through.
  host.advance(std::chrono::seconds(60));
  EXPECT_EQ(provider->condition().state, ProviderCondition::State::Up);
  for (int i = 0; i < 2; ++i) provider->chat(std::make_shared<FakeCall>(simple_request(false)));
  ASSERT_EQ(host.started.size(), 7u);
  EXPECT_EQ(header(host.started[5].request, "authorization"), std::string("Bearer ") + kKeyA);
  EXPECT_EQ(header(host.started[6].request, "authorization"), std::string("Bearer ") + kKeyB);
  EXPECT_EQ(provider->condition().state, ProviderCondition::State::Unauthorized);
  auto third = std::make_shared<FakeCall>(simple_request(false));
  provider->chat(third);
  EXPECT_EQ(host.started.size(), 7u);
  ASSERT_EQ(third->events.size(), 1u);
  EXPECT_EQ(third->events[0].error.code, "no_usable_key");

  // A's probe proves nothing (a 500): A is due again at once. B's succeeds.
  host.started[5].handler->on_response(500, {});
  host.started[5].handler->on_complete({});
  EXPECT_EQ(provider->condition().state, ProviderCondition::State::Up);
  host.started[6].handler->on_response(200, {{"Content-Type", "application/json"}});
  host.started[6].handler->on_complete({});
  EXPECT_THAT(host.log_text(), HasSubstr("key #2 (\xE2\x80\xA6" "00B2) works again after its probe"));
  EXPECT_THAT(host.log_text(), Not(HasSubstr("key #1 (\xE2\x80\xA6" "00A1) works again")));
  provider->chat(std::make_shared<FakeCall>(simple_request(false)));
  provider->chat(std::make_shared<FakeCall>(simple_request(false)));
  ASSERT_EQ(host.started.size(), 9u);
  EXPECT_EQ(header(host.started[7].request, "authorization"), std::string("Bearer ") + kKeyA) << "probed again";
  EXPECT_EQ(header(host.started[8].request, "authorization"), std::string("Bearer ") + kKeyB);
}

// ---------------------------------------------------------------------------
// Responses

struct Harness {
  FakeHost host;
  std::shared_ptr<Provider> provider;
  std::shared_ptr<FakeCall> call;
  Started* transfer = nullptr;

  explicit Harness(bool stream, const std::string& extra_options = "") {
    provider = create(openai_plugin(), std::string("api_key: ") + kKeyA + "\nmodels: [m]\n" + extra_options, host);
    call = std::make_shared<FakeCall>(simple_request(stream));
    provider->chat(call);
    transfer = &host.started.back();
  }
  HttpHandler& handler() { return *transfer->handler; }
};

std::string chunk(const std::string& delta, const std::string& finish = "null") {
  return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":" + delta +
         ",\"finish_reason\":" + finish + "}]}\n\n";
}

TEST(OpenAIStream, EventsInOrderWithUsageBeforeFinish) {
  Harness h(true);
  h.handler().on_response(200, {{"Content-Type", "text/event-stream; charset=utf-8"}});
  std::string wire = chunk(R"({"role":"assistant","content":""})") + chunk(R"({"content":"Hel"})") +
                     chunk(R"({"content":"lo"})") + chunk("{}", "\"stop\"") +
                     "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
                     "\"total_tokens\":7}}\n\ndata: [DONE]\n\n";
  // In awkward pieces.
  for (std::size_t i = 0; i < wire.size(); i += 7) EXPECT_TRUE(h.handler().on_body(wire.substr(i, 7)));
  h.handler().on_complete({});
  using K = Event::Kind;
  EXPECT_EQ(kinds(h.call->events), (std::vector<K>{K::Role, K::TextDelta, K::TextDelta, K::Usage, K::Finish}));
  EXPECT_EQ(h.call->events[3].usage.input_tokens, 5);
  EXPECT_EQ(h.call->events[3].usage.output_tokens, 2);
}

TEST(OpenAIStream, EndWithoutFinishReasonIsAnError) {
  Harness h(true);
  h.handler().on_response(200, {{"Content-Type", "text/event-stream"}});
  h.handler().on_body(chunk(R"({"role":"assistant","content":"partial"})"));
  h.handler().on_complete({});
  ASSERT_FALSE(h.call->events.empty());
  EXPECT_EQ(h.call->events.back().kind, Event::Kind::Error);
  EXPECT_EQ(h.call->events.back().error.status, 502);
}

TEST(OpenAIStream, LastEventWithoutBlankLineStillCounts) {
  Harness h(true);
  h.handler().on_response(200, {{"Content-Type", "text/event-stream"}});
  h.handler().on_body(chunk(R"({"role":"assistant","content":"ok"})", "\"stop\"") + "data: [DONE]");
  h.handler().on_complete({});
  ASSERT_FALSE(h.call->events.empty());
  EXPECT_EQ(h.call->events.back().kind, Event::Kind::Finish);
}

TEST(OpenAIStream, GarbageStopsTheTransferWithOneError) {
  Harness h(true);
  h.handler().on_response(200, {{"Content-Type", "text/event-stream"}});
  EXPECT_TRUE(h.handler().on_body(chunk(R"({"content":"a"})")));
  EXPECT_FALSE(h.handler().on_body("data: {not json\n\n"));
  h.handler().on_complete({HttpFailure::Cancelled, "stopped by handler"});
  ASSERT_FALSE(h.call->events.empty());
  EXPECT_EQ(h.call->events.back().kind, Event::Kind::Error);
  EXPECT_EQ(h.call->events.back().error.status, 502);
  int errors = 0;
  for (const auto& e : h.call->events) errors += e.kind == Event::Kind::Error;
  EXPECT_EQ(errors, 1);
}

TEST(OpenAIStream, TransportFailureAfterEventsIsAnError) {
  Harness h(true);
  h.handler().on_response(200, {{"Content-Type", "text/event-stream"}});
  h.handler().on_body(chunk(R"({"content":"a"})"));
  h.handler().on_complete({HttpFailure::IdleTimeout, "no data for 300 ms"});
  ASSERT_FALSE(h.call->events.empty());
  const Event& last = h.call->events.back();
  ASSERT_EQ(last.kind, Event::Kind::Error);
  EXPECT_EQ(last.error.status, 504);
  EXPECT_EQ(last.error.transport, HttpFailure::IdleTimeout);
  EXPECT_THAT(last.error.message, HasSubstr("openai provider 'up'"));
}

TEST(OpenAIStream, StreamRequestAnsweredWithJson) {
  Harness h(true);
  h.handler().on_response(200, {{"Content-Type", "application/json"}});
  h.handler().on_body(R"({"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",)"
                      R"("content":"whole"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})");
  h.handler().on_complete({});
  using K = Event::Kind;
  EXPECT_EQ(kinds(h.call->events), (std::vector<K>{K::Role, K::TextDelta, K::Usage, K::Finish}));
}

TEST(OpenAIStream, BackloggedClientPausesTheUpstreamUntilDrained) {
  Harness h(true);
  h.call->backlogged = true;
  h.handler().on_response(200, {{"Content-Type", "text/event-stream"}});
  h.handler().on_body(chunk(R"({"content":"a"})"));
  EXPECT_EQ(h.transfer->transfer->pauses, 1);
  h.handler().on_body(chunk(R"({"content":"b"})"));
  EXPECT_EQ(h.transfer->transfer->pauses, 1) << "paused once until drained";
  ASSERT_EQ(h.call->drained.size(), 1u);
  h.call->backlogged = false;
  h.call->drained[0]();
  EXPECT_EQ(h.transfer->transfer->resumes, 1);
  h.call->drained[0]();  // a second run changes nothing
  EXPECT_EQ(h.transfer->transfer->resumes, 1);
}

TEST(OpenAIStream, ClientCancelCancelsTheTransferAndEmitsNothing) {
  Harness h(true);
  h.handler().on_response(200, {{"Content-Type", "text/event-stream"}});
  h.handler().on_body(chunk(R"({"content":"a"})"));
  std::size_t before = h.call->events.size();
  h.call->cancel();
  EXPECT_EQ(h.transfer->transfer->cancels, 1);
  EXPECT_FALSE(h.handler().on_body(chunk(R"({"content":"b"})")));
  h.handler().on_complete({HttpFailure::Cancelled, "cancelled"});
  EXPECT_EQ(h.call->events.size(), before);
  EXPECT_EQ(h.call.use_count(), 1) << "the handler let go of the call";
}

TEST(OpenAIErrors, StatusBodyAndRetryAfterAreKept) {
  Harness h(false);
  h.handler().on_response(429, {{"Content-Type", "application/json"}, {"Retry-After", "7"}});
  h.handler().on_body(R"({"error":{"message":"Rate limit reached for gpt-test","type":"requests","code":"rate_limit_exceeded"}})");
  h.handler().on_complete({});
  ASSERT_EQ(h.call->events.size(), 1u);
  const Error& e = h.call->events[0].error;
  EXPECT_EQ(e.status, 429);
  EXPECT_EQ(e.message, "Rate limit reached for gpt-test");
  EXPECT_EQ(e.code, "rate_limit_exceeded");
  ASSERT_TRUE(e.retry_after);
  EXPECT_EQ(*e.retry_after, 7s);
}

TEST(OpenAIErrors, HugeErrorBodyIsCappedAndStillReported) {
  Harness h(false);
  h.handler().on_response(502, {{"Content-Type", "text/html"}});
  std::string page(40 * 1024, 'x');
  EXPECT_TRUE(h.handler().on_body(page));
  EXPECT_FALSE(h.handler().on_body(page)) << "stops reading past 64 KiB";
  h.handler().on_complete({HttpFailure::Cancelled, "stopped"});
  ASSERT_EQ(h.call->events.size(), 1u);
  EXPECT_EQ(h.call->events[0].error.status, 502);
  EXPECT_LT(h.call->events[0].error.message.size(), 1024u);
}

TEST(OpenAIErrors, ConnectFailureNamesTheProvider) {
  Harness h(false);
  h.handler().on_complete({HttpFailure::ConnectRefused, "connect to 127.0.0.1:9 refused"});
  ASSERT_EQ(h.call->events.size(), 1u);
  EXPECT_EQ(h.call->events[0].error.status, 502);
  EXPECT_EQ(h.call->events[0].error.transport, HttpFailure::ConnectRefused);
  EXPECT_THAT(h.call->events[0].error.message, HasSubstr("openai provider 'up'"));
}

// ---------------------------------------------------------------------------
// Lifetime and models

TEST(OpenAILifetime, CallFinishesAfterTheProviderIsGone) {
  auto h = std::make_unique<Harness>(true);
  h->provider.reset();  // a reload dropped it while the call runs
  h->handler().on_response(401, {});  // would log: must not touch the gone host services
  h->handler().on_complete({});
  ASSERT_EQ(h->call->events.size(), 1u);
  EXPECT_EQ(h->call->events[0].error.status, 401);
  EXPECT_THAT(h->host.log_text(), Not(HasSubstr("rejected with 401")));
}

TEST(OpenAIModels, FetchedInTheBackgroundAndRefreshed) {
  FakeHost host;
  auto provider = create(openai_plugin(), std::string("api_key: ") + kKeyA + "\nmodels_ttl: 2m", host);
  EXPECT_TRUE(provider->models().empty());
  ASSERT_EQ(host.started.size(), 1u);
  auto& fetch = *host.started[0].handler;
  fetch.on_response(200, {{"Content-Type", "application/json"}});
  fetch.on_body(R"({"object":"list","data":[{"id":"gpt-4o","object":"model","owned_by":"openai"},)");
  fetch.on_body(R"({"id":"gpt-4o-mini","object":"model"}]})");
  fetch.on_complete({});
  auto models = provider->models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].id, "gpt-4o");
  EXPECT_EQ(models[0].owned_by, "openai");
  EXPECT_EQ(models[1].id, "gpt-4o-mini");

  std::chrono::milliseconds delay{0};
  ASSERT_TRUE(host.run_timer(&delay));
  EXPECT_EQ(delay, 2min);
  ASSERT_EQ(host.started.size(), 2u);
  EXPECT_EQ(host.started[1].request.url, "https://api.openai.com/v1/models");
  // A failed refresh keeps the old list.
  host.started[1].handler->on_response(500, {});
  host.started[1].handler->on_complete({});
  EXPECT_EQ(provider->models().size(), 2u);
  EXPECT_THAT(host.log_text(), HasSubstr("could not list models"));
  EXPECT_EQ(host.pending_timers(), 1u);

  provider.reset();
  EXPECT_EQ(host.pending_timers(), 0u) << "the refresh is cancelled with the provider";
}

TEST(OpenAIModels, FailedFirstFetchRetriesSooner) {
  FakeHost host;
  auto provider = create(openai_plugin(), std::string("api_key: ") + kKeyA, host);
  host.started[0].handler->on_complete({HttpFailure::ConnectRefused, "refused"});
  std::chrono::milliseconds delay{0};
  ASSERT_TRUE(host.run_timer(&delay));
  EXPECT_EQ(delay, 30s);
  EXPECT_EQ(host.started.size(), 2u);
  EXPECT_TRUE(provider->models().empty());
}

}  // namespace
}  // namespace llmux::test
