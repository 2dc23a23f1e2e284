// The ollama plugin driven in process through the plugin ABI, with a
// recording host (HTTP client, timers, logger) and a scripted ChatCall: option
// parsing, the exact request, NDJSON decoding in any split, and what a live
// upstream makes hard to time (backpressure, cancellation, a provider
// destroyed while its call or its model listing runs, the models cache).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "llmux/json.h"
#include "support/json_doc.h"
#include "support/plugin_harness.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// The ollama plugin (the recording host and the call: support/plugin_harness.h)

Plugin& ollama_plugin() { return loaded_plugin("llmux-ollama.so"); }

std::shared_ptr<Provider> create(const std::string& yaml, FakeHost& host, const std::string& name = "local") {
  return test::create(ollama_plugin(), yaml, host, name);
}

std::string config_error(const std::string& yaml) { return test::config_error(ollama_plugin(), yaml, "local"); }

// Events in a compact form: R, T(text), Z(reasoning), C<index>(id,name,args), U(in,out), F(reason), E(status:msg).
std::string describe(const std::vector<Event>& events) {
  std::string s;
  for (const auto& e : events) {
    if (!s.empty()) s += " ";
    switch (e.kind) {
      case Event::Kind::Role: s += "R"; break;
      case Event::Kind::TextDelta: s.append("T(").append(e.text).append(")"); break;
      case Event::Kind::ReasoningDelta: s.append("Z(").append(e.text).append(")"); break;
      case Event::Kind::ReasoningSignature: s.append("S(").append(e.text).append(")"); break;
      case Event::Kind::RedactedReasoning: s.append("D(").append(e.text).append(")"); break;
      case Event::Kind::Raw: s.append("W(").append(e.text).append(")"); break;
      case Event::Kind::Embedding: s.append("E").append(std::to_string(e.index)); break;
      case Event::Kind::ToolCallDelta:
        s.append("C").append(std::to_string(e.index)).append("(").append(e.id).append(",").append(e.name);
        s.append(",").append(e.text).append(")");
        break;
      case Event::Kind::Usage:
        s.append("U(").append(std::to_string(e.usage.input_tokens)).append(",");
        s.append(std::to_string(e.usage.output_tokens)).append(")");
        break;
      case Event::Kind::Finish: s.append("F(").append(to_string(e.finish)).append(")"); break;
      case Event::Kind::Error:
        s.append("E(").append(std::to_string(e.error.status)).append(":").append(e.error.message).append(")");
        break;
    }
  }
  return s;
}

// One provider with one call started and the tags listing answered (empty).
struct Harness {
  FakeHost host;
  std::shared_ptr<Provider> provider;
  std::shared_ptr<FakeCall> call;
  Started* transfer = nullptr;

  explicit Harness(const std::string& body = chat_body("llama3.2", "hello", true), const std::string& yaml = "") {
    provider = create(yaml, host);
    call = std::make_shared<FakeCall>(request_for(body));
    provider->chat(call);
    transfer = &host.started.back();
  }
  HttpHandler& handler() { return *transfer->handler; }
  rapidjson::Document sent() { return parse(transfer->request.body); }
};

const std::string kDone =
    R"({"model":"llama3.2","created_at":"2025-05-05T10:00:01Z","message":{"role":"assistant","content":""},)"
    R"("done_reason":"stop","done":true,"total_duration":1,"prompt_eval_count":26,"eval_count":3})";

std::string line(const std::string& message_json) {
  return R"({"model":"llama3.2","created_at":"2025-05-05T10:00:00Z","message":)" + message_json +
         ",\"done\":false}\n";
}

// ---------------------------------------------------------------------------
// Configuration

TEST(OllamaConfig, PluginNameAndVersion) {
  EXPECT_EQ(ollama_plugin().name(), "ollama");
  EXPECT_EQ(ollama_plugin().version(), "1.0.0");
}

TEST(OllamaConfig, DefaultsGoToTheLocalServer) {
  Harness h;
  const HttpRequest& r = h.transfer->request;
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://127.0.0.1:11434/api/chat");
  EXPECT_THAT(header(r, "content-type"), HasSubstr("application/json"));
  EXPECT_EQ(r.timeouts.connect, 5s);
  EXPECT_EQ(r.timeouts.first_byte, 300s);
  EXPECT_EQ(r.timeouts.idle, 120s);
  EXPECT_EQ(r.timeouts.total, 0ms);
  ASSERT_GE(h.host.started.size(), 2u);
  EXPECT_EQ(h.host.started[0].request.method, "GET");
  EXPECT_EQ(h.host.started[0].request.url, "http://127.0.0.1:11434/api/tags");
  auto body = h.sent();
  EXPECT_EQ(json::to_string(body),
            R"({"model":"llama3.2","messages":[{"role":"user","content":"hello"}],"stream":true})");
}

TEST(OllamaConfig, OptionsReachTheRequest) {
  Harness h(chat_body("llama3.2", "hello", false, R"("temperature":0.3,"presence_penalty":0.5)"),
            "base_url: https://gpu-box.example:8443/ollama/\n"
            "headers: {Authorization: Bearer t0ken, X-Team: ml}\n"
            "connect_timeout: 2s\nfirst_byte_timeout: 10m\nidle_timeout: 30s\ntotal_timeout: 1h\n"
            "keep_alive: -1\n"
            "options: {num_ctx: 16384, temperature: 0.9, num_gpu: 1, low_vram: true, stop: [\"<|eot|>\"], tag: v1}");
  const HttpRequest& r = h.transfer->request;
  EXPECT_EQ(r.url, "https://gpu-box.example:8443/ollama/api/chat");
  EXPECT_EQ(header(r, "authorization"), "Bearer t0ken");
  EXPECT_EQ(header(r, "x-team"), "ml");
  EXPECT_EQ(r.timeouts.connect, 2s);
  EXPECT_EQ(r.timeouts.first_byte, 10min);
  EXPECT_EQ(r.timeouts.idle, 30s);
  EXPECT_EQ(r.timeouts.total, 1h);
  EXPECT_EQ(h.host.started[0].request.url, "https://gpu-box.example:8443/ollama/api/tags");
  EXPECT_EQ(header(h.host.started[0].request, "authorization"), "Bearer t0ken");
  auto body = h.sent();
  EXPECT_TRUE(body["stream"].GetBool()) << "always streamed from Ollama";
  EXPECT_EQ(body["keep_alive"].GetInt(), -1) << "a bare number is sent as a number";
  EXPECT_EQ(json::to_string(body["options"]),
            R"({"num_ctx":16384,"temperature":0.3,"num_gpu":1,"low_vram":true,"stop":["<|eot|>"],"tag":"v1",)"
            R"("presence_penalty":0.5})");
}

TEST(OllamaConfig, OptionValuesBecomeJsonOfTheirType) {
  Harness h(chat_body("llama3.2", "hi"),
            "keep_alive: 5m\noptions: {a: 007, b: .5, c: -2.50, d: True, e: \"10\", f: 1e3, g: nan, h: 0x10, i: ~, "
            "j: {k: [1, x]}}");
  auto body = h.sent();
  EXPECT_STREQ(body["keep_alive"].GetString(), "5m");
  EXPECT_EQ(json::to_string(body["options"]),
            R"({"a":7,"b":0.5,"c":-2.5,"d":true,"e":10,"f":1000.0,"g":"nan","h":"0x10","i":null,"j":{"k":[1,"x"]}})");
}

TEST(OllamaConfig, WrongValuesAreConfigErrorsWithPositions) {
  EXPECT_THAT(config_error("base_url: ftp://x"), HasSubstr("providers.yaml:2:3: options.base_url"));
  EXPECT_THAT(config_error("base_url: ftp://x"), HasSubstr("http:// or https://"));
  EXPECT_THAT(config_error("base_url: http://"), HasSubstr("no host"));
  EXPECT_THAT(config_error("idle_timout: 3s"), HasSubstr("did you mean 'idle_timeout'"));
  EXPECT_THAT(config_error("headers: [a, b]"), HasSubstr("options.headers"));
  EXPECT_THAT(config_error("headers: {\"Bad Name\": x}"), HasSubstr("not a valid header name"));
  EXPECT_THAT(config_error("connect_timeout: soon"), HasSubstr("options.connect_timeout"));
  EXPECT_THAT(config_error("models_ttl: -5s"), HasSubstr("options.models_ttl"));
  EXPECT_THAT(config_error("options: 4096"), HasSubstr("map of Ollama options"));
  EXPECT_THAT(config_error("keep_alive: [1]"), HasSubstr("options.keep_alive"));
  EXPECT_EQ(config_error(""), "no error");
}

// ---------------------------------------------------------------------------
// The request

TEST(OllamaRequest, MessagesImagesToolsAndSampling) {
  const std::string png = "iVBORw0KGgo=";
  Harness h(R"({"model":"llava:13b","max_completion_tokens":50,"seed":3,"top_p":0.5,"stop":"###",
    "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},
    "tools":[{"type":"function","function":{"name":"lookup","description":"Looks up","parameters":{"type":"object",
      "properties":{"q":{"type":"string"}}}}}],"tool_choice":"required",
    "messages":[{"role":"system","content":"sys"},{"role":"developer","content":"dev"},
      {"role":"user","content":[{"type":"text","text":"Look: "},{"type":"image_url","image_url":{"url":"data:image/png;base64,)" +
                png + R"("}},{"type":"text","text":"what?"}]},
      {"role":"assistant","content":"Let me check.","tool_calls":[
        {"id":"call_0","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"cat\"}"}},
        {"id":"call_1","type":"function","function":{"name":"lookup","arguments":"not json"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"nothing"},
      {"role":"tool","tool_call_id":"call_0","content":"a cat"},
      {"role":"tool","tool_call_id":"unknown","content":"?"}]})");
  auto body = h.sent();
  EXPECT_EQ(json::to_string(body["messages"]),
            R"([{"role":"system","content":"sys"},{"role":"system","content":"dev"},)"
            R"({"role":"user","content":"Look: what?","images":["iVBORw0KGgo="]},)"
            R"({"role":"assistant","content":"Let me check.","tool_calls":[)"
            R"({"function":{"name":"lookup","arguments":{"q":"cat"}}},{"function":{"name":"lookup","arguments":{}}}]},)"
            R"({"role":"tool","content":"nothing","tool_name":"lookup"},)"
            R"({"role":"tool","content":"a cat","tool_name":"lookup"},{"role":"tool","content":"?"}])");
  EXPECT_EQ(json::to_string(body["tools"]),
            R"([{"type":"function","function":{"name":"lookup","description":"Looks up","parameters":)"
            R"({"type":"object","properties":{"q":{"type":"string"}}}}}])");
  EXPECT_EQ(json::to_string(body["options"]), R"({"top_p":0.5,"seed":3,"num_predict":50,"stop":["###"]})");
  EXPECT_EQ(json::to_string(body["format"]), R"({"type":"object"})");
  EXPECT_THAT(h.host.log_text(), HasSubstr("not a JSON object")) << "unparsable arguments are noted at debug";
}

TEST(OllamaRequest, ImageUrlsAndNonBase64DataUrisFailBeforeAnyRequest) {
  for (const char* url : {"https://example.com/cat.png", "http://x/y.jpg", "data:image/svg+xml,%3Csvg%3E"}) {
    FakeHost host;
    auto provider = create("", host);
    const std::size_t before = host.started.size();
    auto call = std::make_shared<FakeCall>(request_for(
        std::string(R"({"model":"llava","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":")") +
        url + R"("}}]}]})"));
    provider->chat(call);
    EXPECT_EQ(host.started.size(), before) << url;
    ASSERT_EQ(call->events.size(), 1u) << url;
    EXPECT_EQ(call->events[0].error.status, 400);
    EXPECT_EQ(call->events[0].error.type, "invalid_request_error");
    EXPECT_THAT(call->events[0].error.message, HasSubstr("data: URIs")) << url;
  }
}

TEST(OllamaRequest, ThinkIsPassedThrough) {
  Harness h(chat_body("qwen3", "hi", false, R"("think":true)"));
  EXPECT_TRUE(h.sent()["think"].GetBool());
  Harness level(chat_body("gpt-oss", "hi", false, R"("think":"high")"));
  EXPECT_STREQ(level.sent()["think"].GetString(), "high");
  Harness none(chat_body("qwen3", "hi"));
  EXPECT_FALSE(none.sent().HasMember("think"));
}

TEST(OllamaRequest, JsonObjectFormat) {
  Harness h(chat_body("llama3.2", "hi", false, R"("response_format":{"type":"json_object"})"));
  EXPECT_STREQ(h.sent()["format"].GetString(), "json");
  Harness text(chat_body("llama3.2", "hi", false, R"("response_format":{"type":"text"})"));
  EXPECT_FALSE(text.sent().HasMember("format"));
}

// ---------------------------------------------------------------------------
// The stream

TEST(OllamaStream, EveryEventKindInOrderForEverySplit) {
  const std::string wire =
      line(R"({"role":"assistant","content":"","thinking":"Hmm."})") + line(R"({"role":"assistant","content":""})") +
      line(R"({"role":"assistant","content":"Hi"})") +
      line(R"({"role":"assistant","content":"","tool_calls":[{"function":{"name":"a","arguments":{"x":[1,2]}}},)"
           R"({"id":"up_7","function":{"name":"b","arguments":{}}}]})") +
      line(R"({"role":"assistant","content":"","tool_calls":[{"function":{"name":"c","arguments":{"y":"\u00e9"}}}]})") +
      kDone + "\n";
  const std::string expected =
      "R Z(Hmm.) T(Hi) C0(call_0,a,{\"x\":[1,2]}) C1(up_7,b,{}) C2(call_2,c,{\"y\":\"\xC3\xA9\"}) U(26,3) F(tool_calls)";
  for (std::size_t step : {wire.size(), std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
    Harness h;
    h.handler().on_response(200, {{"Content-Type", "application/x-ndjson"}});
    for (std::size_t i = 0; i < wire.size(); i += step) EXPECT_TRUE(h.handler().on_body(wire.substr(i, step)));
    h.handler().on_complete({});
    EXPECT_EQ(describe(h.call->events), expected) << "pieces of " << step;
  }
}

TEST(OllamaStream, FinishReasons) {
  auto finish_of = [](const std::string& done_line) {
    Harness h;
    h.handler().on_response(200, {});
    h.handler().on_body(line(R"({"role":"assistant","content":"x"})") + done_line + "\n");
    h.handler().on_complete({});
    return describe(h.call->events);
  };
  EXPECT_EQ(finish_of(R"({"done":true,"done_reason":"length","prompt_eval_count":5,"eval_count":9})"),
            "R T(x) U(5,9) F(length)");
  EXPECT_EQ(finish_of(R"({"done":true,"done_reason":"stop"})"), "R T(x) F(stop)") << "no counts: no usage";
  EXPECT_EQ(finish_of(R"({"done":true})"), "R T(x) F(stop)");
  EXPECT_EQ(finish_of(R"({"done":true,"done_reason":"load","eval_count":1})"), "R T(x) U(0,1) F(stop)");
}

TEST(OllamaStream, EmptyAnswerStillHasRoleAndFinish) {
  Harness h;
  h.handler().on_response(200, {});
  h.handler().on_body(kDone + "\n");
  h.handler().on_complete({});
  EXPECT_EQ(describe(h.call->events), "R U(26,3) F(stop)");
}

TEST(OllamaStream, DoneLineWithoutLineEndStillCounts) {
  Harness h;
  h.handler().on_response(200, {});
  h.handler().on_body(line(R"({"content":"ok"})") + kDone);
  h.handler().on_complete({});
  EXPECT_EQ(describe(h.call->events), "R T(ok) U(26,3) F(stop)");
}

TEST(OllamaStream, LinesAfterDoneAreIgnoredAndTheConnectionIsReadToTheEnd) {
  Harness h;
  h.handler().on_response(200, {});
  EXPECT_TRUE(h.handler().on_body(kDone + "\n" + line(R"({"content":"late"})")));
  EXPECT_TRUE(h.handler().on_body("garbage\n"));
  h.handler().on_complete({});
  EXPECT_EQ(describe(h.call->events), "R U(26,3) F(stop)");
  EXPECT_EQ(h.transfer->transfer->cancels, 0);
}

TEST(OllamaStream, ErrorLineStopsTheTransferWithOneError) {
  Harness h;
  h.handler().on_response(200, {});
  EXPECT_TRUE(h.handler().on_body(line(R"({"content":"a"})")));
  EXPECT_FALSE(h.handler().on_body("{\"error\":\"out of memory\"}\n" + line(R"({"content":"b"})")));
  h.handler().on_complete({HttpFailure::Cancelled, "stopped by handler"});
  EXPECT_EQ(describe(h.call->events), "R T(a) E(502:ollama: out of memory)");
}

TEST(OllamaStream, InvalidJsonStopsTheTransferWithOneError) {
  for (const std::string bad : {"{not json", "[1,2]", "\"text\""}) {
    Harness h;
    h.handler().on_response(200, {});
    EXPECT_FALSE(h.handler().on_body(line(R"({"content":"a"})") + bad + "\n")) << bad;
    h.handler().on_complete({HttpFailure::Cancelled, "stopped by handler"});
    ASSERT_EQ(h.call->events.size(), 3u) << bad;
    EXPECT_EQ(h.call->events[2].kind, Event::Kind::Error);
    EXPECT_EQ(h.call->events[2].error.status, 502);
    EXPECT_THAT(h.call->events[2].error.message, HasSubstr("invalid stream line")) << bad;
  }
}

TEST(OllamaStream, OverlongLineIsAnError) {
  Harness h;
  h.handler().on_response(200, {});
  std::string piece(4 << 20, 'x');
  bool ok = true;
  for (int i = 0; i < 5 && ok; ++i) ok = h.handler().on_body(i == 0 ? "{\"message\":{\"content\":\"" + piece : piece);
  EXPECT_FALSE(ok) << "a line over 16 MiB stops the transfer";
  h.handler().on_complete({HttpFailure::Cancelled, "stopped by handler"});
  ASSERT_EQ(h.call->events.size(), 1u);
  EXPECT_EQ(h.call->events[0].error.status, 502);
  EXPECT_THAT(h.call->events[0].error.message, HasSubstr("longer than"));
}

TEST(OllamaStream, EndWithoutDoneIsAnError) {
  Harness h;
  h.handler().on_response(200, {});
  h.handler().on_body(line(R"({"content":"partial"})"));
  h.handler().on_complete({});
  ASSERT_EQ(h.call->events.size(), 3u);
  const Error& e = h.call->events.back().error;
  EXPECT_EQ(e.status, 502);
  EXPECT_EQ(e.transport, HttpFailure::Cut);
  EXPECT_THAT(e.message, HasSubstr("ollama provider 'local'"));
  EXPECT_THAT(e.message, HasSubstr("ended before done"));
}

TEST(OllamaStream, TransportFailureAfterEventsIsAnError) {
  Harness h;
  h.handler().on_response(200, {});
  h.handler().on_body(line(R"({"content":"a"})") + R"({"model":"llama3.2","mess)");
  h.handler().on_complete({HttpFailure::IdleTimeout, "no data for 120000 ms"});
  EXPECT_EQ(describe(h.call->events),
            "R T(a) E(504:ollama provider 'local': no data for 120000 ms)");
  EXPECT_EQ(h.call->events.back().error.transport, HttpFailure::IdleTimeout);
}

TEST(OllamaStream, BackloggedClientPausesTheUpstreamUntilDrained) {
  Harness h;
  h.call->backlogged = true;
  h.handler().on_response(200, {});
  h.handler().on_body(line(R"({"content":"a"})"));
  EXPECT_EQ(h.transfer->transfer->pauses, 1);
  h.handler().on_body(line(R"({"content":"b"})"));
  EXPECT_EQ(h.transfer->transfer->pauses, 1) << "paused once until drained";
  ASSERT_EQ(h.call->drained.size(), 1u);
  h.call->backlogged = false;
  h.call->drained[0]();
  EXPECT_EQ(h.transfer->transfer->resumes, 1);
  h.call->drained[0]();
  EXPECT_EQ(h.transfer->transfer->resumes, 1) << "a second run changes nothing";
  h.call->backlogged = true;
  h.handler().on_body(line(R"({"content":"c"})"));
  EXPECT_EQ(h.transfer->transfer->pauses, 2);
  ASSERT_EQ(h.call->drained.size(), 2u);
  h.handler().on_body(kDone + "\n");
  h.handler().on_complete({});
  EXPECT_EQ(describe(h.call->events), "R T(a) T(b) T(c) U(26,3) F(stop)");
}

TEST(OllamaStream, ClientCancelCancelsTheTransferAndEmitsNothing) {
  Harness h;
  h.handler().on_response(200, {});
  h.handler().on_body(line(R"({"content":"a"})"));
  const std::size_t before = h.call->events.size();
  h.call->cancel();
  EXPECT_EQ(h.transfer->transfer->cancels, 1);
  EXPECT_FALSE(h.handler().on_body(line(R"({"content":"b"})")));
  h.handler().on_complete({HttpFailure::Cancelled, "cancelled"});
  EXPECT_EQ(h.call->events.size(), before);
  EXPECT_EQ(h.call.use_count(), 1) << "the handler let go of the call";
}

TEST(OllamaStream, AlreadyCancelledCallStartsNothing) {
  FakeHost host;
  auto provider = create("", host);
  const std::size_t before = host.started.size();
  auto call = std::make_shared<FakeCall>(request_for(chat_body("llama3.2", "hi")));
  call->cancel();
  provider->chat(call);
  EXPECT_EQ(host.started.size(), before);
  EXPECT_TRUE(call->events.empty());
}

// ---------------------------------------------------------------------------
// Error statuses

TEST(OllamaErrors, StatusMessageAndRetryAfterAreKept) {
  Harness h;
  h.handler().on_response(404, {{"Content-Type", "application/json"}});
  h.handler().on_body(R"({"error":"model \"llama3.2\" not found, try pulling it first"})");
  h.handler().on_complete({});
  ASSERT_EQ(h.call->events.size(), 1u);
  const Error& e = h.call->events[0].error;
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.message, "ollama: model \"llama3.2\" not found, try pulling it first");
  EXPECT_EQ(e.code, "model_not_found");

  Harness busy;
  busy.handler().on_response(503, {{"Retry-After", "4"}});
  busy.handler().on_body(R"({"error":"server busy, please try again.  maximum pending requests exceeded"})");
  busy.handler().on_complete({});
  ASSERT_EQ(busy.call->events.size(), 1u);
  EXPECT_EQ(busy.call->events[0].error.status, 503);
  ASSERT_TRUE(busy.call->events[0].error.retry_after);
  EXPECT_EQ(*busy.call->events[0].error.retry_after, 4s);
}

TEST(OllamaErrors, NonJsonBodyIsQuoted) {
  Harness h;
  h.handler().on_response(502, {{"Content-Type", "text/html"}});
  h.handler().on_body("<html><body>Bad Gateway</body></html>\n");
  h.handler().on_complete({});
  ASSERT_EQ(h.call->events.size(), 1u);
  EXPECT_EQ(h.call->events[0].error.message, "ollama: HTTP 502: <html><body>Bad Gateway</body></html>");
}

TEST(OllamaErrors, HugeErrorBodyIsCappedAndStillReported) {
  Harness h;
  h.handler().on_response(500, {{"Content-Type", "text/html"}});
  std::string page(40 * 1024, 'x');
  EXPECT_TRUE(h.handler().on_body(page));
  EXPECT_FALSE(h.handler().on_body(page)) << "stops reading past 64 KiB";
  h.handler().on_complete({HttpFailure::Cancelled, "stopped"});
  ASSERT_EQ(h.call->events.size(), 1u);
  EXPECT_EQ(h.call->events[0].error.status, 500);
  EXPECT_LT(h.call->events[0].error.message.size(), 1024u);
}

TEST(OllamaErrors, ConnectFailureNamesTheProvider) {
  Harness h;
  h.handler().on_complete({HttpFailure::ConnectRefused, "connect to 127.0.0.1:11434 refused"});
  ASSERT_EQ(h.call->events.size(), 1u);
  EXPECT_EQ(h.call->events[0].error.status, 502);
  EXPECT_EQ(h.call->events[0].error.transport, HttpFailure::ConnectRefused);
  EXPECT_THAT(h.call->events[0].error.message, HasSubstr("ollama provider 'local'"));
}

// ---------------------------------------------------------------------------
// Lifetime and models

TEST(OllamaLifetime, CallFinishesAfterTheProviderIsGone) {
  auto h = std::make_unique<Harness>();
  h->provider.reset();  // a reload dropped it while the call runs
  h->handler().on_response(200, {});
  h->handler().on_body(line(R"({"content":"still here"})") + kDone + "\n");
  h->handler().on_complete({});
  EXPECT_EQ(describe(h->call->events), "R T(still here) U(26,3) F(stop)");
}

TEST(OllamaLifetime, ListingThatEndsAfterTheProviderIsGoneTouchesNothing) {
  FakeHost host;
  auto provider = create("", host);
  ASSERT_EQ(host.started.size(), 1u);
  auto listing = host.started[0];
  provider.reset();
  EXPECT_EQ(listing.transfer->cancels, 1) << "the listing is cancelled with the provider";
  const std::size_t lines = host.lines.size();
  listing.handler->on_response(200, {});
  listing.handler->on_body(R"({"models":[{"name":"x"}]})");
  listing.handler->on_complete({});
  EXPECT_EQ(host.lines.size(), lines);
  EXPECT_EQ(host.pending_timers(), 0u);
}

TEST(OllamaModels, FetchedInTheBackgroundAndRefreshed) {
  FakeHost host;
  auto provider = create("models_ttl: 2m", host);
  EXPECT_TRUE(provider->models().empty()) << "never blocks on the listing";
  ASSERT_EQ(host.started.size(), 1u);
  auto& fetch = *host.started[0].handler;
  fetch.on_response(200, {{"Content-Type", "application/json; charset=utf-8"}});
  fetch.on_body(R"({"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","size":2019393189,)");
  fetch.on_body(R"("details":{"family":"llama"}},{"name":"qwen2.5:7b","model":"qwen2.5:7b"},{"model":"phi4:latest"}]})");
  fetch.on_complete({});
  std::vector<std::string> ids;
  for (const auto& m : provider->models()) {
    ids.push_back(m.id);
    EXPECT_EQ(m.owned_by, "ollama");
  }
  EXPECT_THAT(ids, ElementsAre("llama3.2:latest", "llama3.2", "qwen2.5:7b", "phi4:latest", "phi4"));

  std::chrono::milliseconds delay{0};
  ASSERT_TRUE(host.run_timer(&delay));
  EXPECT_EQ(delay, 2min);
  ASSERT_EQ(host.started.size(), 2u);
  EXPECT_EQ(host.started[1].request.url, "http://127.0.0.1:11434/api/tags");
  // A failed refresh keeps the old list, and logs at debug.
  host.started[1].handler->on_response(500, {});
  host.started[1].handler->on_body(R"({"error":"boom"})");
  host.started[1].handler->on_complete({});
  EXPECT_EQ(provider->models().size(), 5u);
  EXPECT_THAT(host.log_text(), HasSubstr("listing models failed"));
  EXPECT_EQ(host.pending_timers(), 1u);
  // So does a body that is not a listing.
  ASSERT_TRUE(host.run_timer());
  host.started[2].handler->on_response(200, {});
  host.started[2].handler->on_body("<html>");
  host.started[2].handler->on_complete({});
  EXPECT_EQ(provider->models().size(), 5u);
  // An empty Ollama lists nothing.
  ASSERT_TRUE(host.run_timer());
  host.started[3].handler->on_response(200, {});
  host.started[3].handler->on_body(R"({"models":[]})");
  host.started[3].handler->on_complete({});
  EXPECT_TRUE(provider->models().empty());

  provider.reset();
  EXPECT_EQ(host.pending_timers(), 0u) << "the refresh is cancelled with the provider";
}

TEST(OllamaModels, FailedFirstFetchRetriesWithinAMinute) {
  FakeHost host;
  auto provider = create("models_ttl: 10m", host);
  host.started[0].handler->on_complete({HttpFailure::ConnectRefused, "refused"});
  std::chrono::milliseconds delay{0};
  ASSERT_TRUE(host.run_timer(&delay));
  EXPECT_EQ(delay, 60s);
  ASSERT_EQ(host.started.size(), 2u);
  host.started[1].handler->on_response(200, {});
  host.started[1].handler->on_body(R"({"models":[{"name":"m:1"}]})");
  host.started[1].handler->on_complete({});
  ASSERT_TRUE(host.run_timer(&delay));
  EXPECT_EQ(delay, 10min);
}

TEST(OllamaModels, ZeroTtlListsOnce) {
  FakeHost host;
  auto provider = create("models_ttl: 0", host);
  host.started[0].handler->on_response(200, {});
  host.started[0].handler->on_body(R"({"models":[{"name":"m:1"}]})");
  host.started[0].handler->on_complete({});
  EXPECT_EQ(provider->models().size(), 1u);
  EXPECT_EQ(host.pending_timers(), 0u);
}

}  // namespace
}  // namespace llmux::test
