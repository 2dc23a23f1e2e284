// The ollama plugin through a live llmux: OpenAI-shaped requests in, Ollama's
// native /api/chat (NDJSON) against a fake upstream, OpenAI-shaped answers out.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "llmux/json.h"
#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/plugin_harness.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

std::string str(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : json::to_string(v);
}

// One line as Ollama 0.6+ streams it for /api/chat.
std::string ollama_line(const std::string& model, const std::string& content) {
  std::string out = R"({"model":)";
  json::append_quoted(out, model);
  out += R"(,"created_at":"2025-05-05T10:00:00.123456789Z","message":{"role":"assistant","content":)";
  json::append_quoted(out, content);
  out += "},\"done\":false}\n";
  return out;
}

std::string ollama_done(const std::string& model, const std::string& reason, int prompt, int eval) {
  std::string out = R"({"model":)";
  json::append_quoted(out, model);
  out += R"(,"created_at":"2025-05-05T10:00:01.5Z","message":{"role":"assistant","content":""},"done_reason":")" +
         reason + R"(","done":true,"total_duration":5191566416,"load_duration":2154458,"prompt_eval_count":)" +
         std::to_string(prompt) + R"(,"prompt_eval_duration":383809000,"eval_count":)" + std::to_string(eval) +
         ",\"eval_duration\":4799921000}\n";
  return out;
}

const FakeHeaders kNdjson = {{"Content-Type", "application/x-ndjson"}};

// The payloads of an SSE body, parsed (without the final [DONE]).
struct Stream {
  std::vector<rapidjson::Document> chunks;
  bool done = false;          // ended with data: [DONE]
  std::string content;
  std::vector<std::string> finish_reasons;
  const rapidjson::Value* error = nullptr;
  const rapidjson::Value* usage = nullptr;
};

Stream parse_stream(const std::string& body) {
  Stream s;
  auto data = sse_data(body);
  EXPECT_FALSE(data.empty()) << body;
  if (!data.empty() && data.back() == "[DONE]") {
    s.done = true;
    data.pop_back();
  }
  for (const auto& d : data) {
    EXPECT_NE(d, "[DONE]") << "[DONE] must come last: " << body;
    s.chunks.push_back(parse(d));
  }
  for (const auto& c : s.chunks) {
    if (c.HasMember("error")) {
      s.error = &c["error"];
      continue;
    }
    if (c.HasMember("usage") && c["usage"].IsObject()) s.usage = &c["usage"];
    if (!c.HasMember("choices") || c["choices"].Empty()) continue;
    const auto& choice = c["choices"][0];
    const auto& delta = choice["delta"];
    if (delta.HasMember("content") && delta["content"].IsString()) s.content += delta["content"].GetString();
    if (choice.HasMember("finish_reason") && choice["finish_reason"].IsString()) {
      s.finish_reasons.push_back(choice["finish_reason"].GetString());
    }
  }
  return s;
}

class Ollama : public ::testing::Test {
 protected:
  Ollama() {
    upstream_.set_handler([this](const FakeRequest& request, FakeExchange& exchange) {
      if (request.path == "/api/tags") {
        std::string tags;
        {
          std::lock_guard lock(mutex_);
          tags = tags_;
        }
        exchange.respond(200, {{"Content-Type", "application/json; charset=utf-8"}}, tags);
        return;
      }
      FakeHandler chat;
      {
        std::lock_guard lock(mutex_);
        chat = chat_;
      }
      if (request.path != "/api/chat" || !chat) {
        exchange.respond(404, {{"Content-Type", "text/plain"}}, "404 page not found");
        return;
      }
      chat(request, exchange);
    });
    gw_ = std::make_unique<TestGateway>(config(upstream_.url()));
  }

  static std::string config(const std::string& base_url, const std::string& extra_options = {}) {
    return R"(
providers:
  ollama:
    plugin: ollama
    options:
      base_url: )" + base_url + R"(/
      models_ttl: 200ms
)" + extra_options + R"(
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
  mock:
    plugin: mock
    options:
      reply: answered by mock
routes:
  "llama*": [ollama]
  "llava*": [ollama]
  "qwen*": [ollama, mock]
)";
  }

  void on_chat(FakeHandler handler) {
    std::lock_guard lock(mutex_);
    chat_ = std::move(handler);
  }
  // Streams `lines` as Ollama does: chunked, one chunk per piece.
  void stream_lines(std::vector<std::string> pieces) {
    on_chat([pieces](const FakeRequest&, FakeExchange& exchange) {
      exchange.begin_chunked(200, kNdjson);
      for (const auto& p : pieces) exchange.chunk(p);
      exchange.end_chunked();
    });
  }

  std::vector<FakeRequest> chat_requests() const {
    return upstream_.requests_to("/api/chat");
  }
  rapidjson::Document upstream_body(std::size_t i = 0) const {
    auto requests = chat_requests();
    EXPECT_GT(requests.size(), i);
    if (requests.size() <= i) return parse("{}");
    return parse(requests[i].body);
  }

  HttpResponse post(const std::string& body, const RequestOptions& options = {}) {
    return client_.post(gw_->url("/v1/chat/completions"), body, options);
  }

  std::mutex mutex_;
  FakeHandler chat_;
  std::string tags_ = R"({"models":[]})";
  FakeUpstream upstream_;
  std::unique_ptr<TestGateway> gw_;
  HttpClient client_;
};

TEST_F(Ollama, StreamsTextAsOpenAIChunks) {
  const std::string done = ollama_done("llama3.2", "stop", 26, 298);
  stream_lines({ollama_line("llama3.2", "Hello"), ollama_line("llama3.2", ","),
                // one line split across chunks, then two lines in one chunk
                ollama_line("llama3.2", " wor").substr(0, 40), ollama_line("llama3.2", " wor").substr(40),
                ollama_line("llama3.2", "ld") + ollama_line("llama3.2", "! \xC3\xA9\n"), done});
  auto r = post(R"({"model":"llama3.2","stream":true,"stream_options":{"include_usage":true},
                    "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.header("content-type"), HasSubstr("text/event-stream"));
  EXPECT_EQ(r.header("x-llmux-provider"), "ollama");
  Stream s = parse_stream(r.body);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.error, nullptr);
  EXPECT_EQ(s.content, "Hello, world! \xC3\xA9\n");
  EXPECT_THAT(s.finish_reasons, ElementsAre("stop"));
  ASSERT_FALSE(s.chunks.empty());
  EXPECT_STREQ(s.chunks[0]["choices"][0]["delta"]["role"].GetString(), "assistant");
  ASSERT_NE(s.usage, nullptr) << r.body;
  EXPECT_EQ((*s.usage)["prompt_tokens"].GetInt(), 26);
  EXPECT_EQ((*s.usage)["completion_tokens"].GetInt(), 298);
  EXPECT_EQ((*s.usage)["total_tokens"].GetInt(), 324);

  auto requests = chat_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_THAT(requests[0].header("content-type"), HasSubstr("application/json"));
  auto body = upstream_body();
  EXPECT_STREQ(body["model"].GetString(), "llama3.2");
  EXPECT_TRUE(body["stream"].GetBool());
  ASSERT_EQ(body["messages"].Size(), 2u);
  EXPECT_STREQ(body["messages"][0]["role"].GetString(), "system");
  EXPECT_STREQ(body["messages"][0]["content"].GetString(), "Be brief.");
  EXPECT_STREQ(body["messages"][1]["role"].GetString(), "user");
  EXPECT_STREQ(body["messages"][1]["content"].GetString(), "Say hello");
  EXPECT_FALSE(body.HasMember("tools"));
  EXPECT_FALSE(body.HasMember("options"));
  EXPECT_FALSE(body.HasMember("keep_alive"));
}

TEST_F(Ollama, NonStreamedClientGetsAWholeCompletionAndOptionsAreMapped) {
  stream_lines({ollama_line("llama3.2:8b", "The answer"), ollama_line("llama3.2:8b", " is 42."),
                ollama_done("llama3.2:8b", "stop", 11, 5)});
  auto r = post(R"({"model":"llama3.2:8b","max_tokens":64,"temperature":0.2,"top_p":0.9,"seed":7,
                    "stop":["\n\n","END"],"messages":[{"role":"developer","content":"Answer."},
                    {"role":"user","content":"Question?"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["object"].GetString(), "chat.completion");
  EXPECT_STREQ(doc["choices"][0]["message"]["role"].GetString(), "assistant");
  EXPECT_STREQ(doc["choices"][0]["message"]["content"].GetString(), "The answer is 42.");
  EXPECT_STREQ(doc["choices"][0]["finish_reason"].GetString(), "stop");
  EXPECT_EQ(doc["usage"]["prompt_tokens"].GetInt(), 11);
  EXPECT_EQ(doc["usage"]["completion_tokens"].GetInt(), 5);
  EXPECT_EQ(doc["usage"]["total_tokens"].GetInt(), 16);

  auto body = upstream_body();
  EXPECT_STREQ(body["model"].GetString(), "llama3.2:8b");
  EXPECT_TRUE(body["stream"].GetBool());  // always streamed from Ollama
  EXPECT_STREQ(body["messages"][0]["role"].GetString(), "system");
  const auto& options = body["options"];
  EXPECT_EQ(options["num_predict"].GetInt(), 64);
  EXPECT_DOUBLE_EQ(options["temperature"].GetDouble(), 0.2);
  EXPECT_DOUBLE_EQ(options["top_p"].GetDouble(), 0.9);
  EXPECT_EQ(options["seed"].GetInt(), 7);
  ASSERT_TRUE(options["stop"].IsArray());
  ASSERT_EQ(options["stop"].Size(), 2u);
  EXPECT_STREQ(options["stop"][0].GetString(), "\n\n");
  EXPECT_STREQ(options["stop"][1].GetString(), "END");
}

TEST_F(Ollama, ConfiguredOptionsKeepAliveAndHeadersAreSent) {
  gw_ = std::make_unique<TestGateway>(config(upstream_.url(), R"(      keep_alive: 10m
      headers:
        X-Team: llmux
      options:
        num_ctx: 8192
        temperature: 0.7
        mirostat: 2
)"));
  stream_lines({ollama_line("llama3", "ok"), ollama_done("llama3", "stop", 1, 1)});
  auto r = post(chat_body("llama3", "hi", false, R"("temperature":0.1)"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto requests = chat_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("x-team"), "llmux");
  auto body = upstream_body();
  EXPECT_STREQ(body["keep_alive"].GetString(), "10m");
  EXPECT_EQ(body["options"]["num_ctx"].GetInt(), 8192);
  EXPECT_EQ(body["options"]["mirostat"].GetInt(), 2);
  EXPECT_DOUBLE_EQ(body["options"]["temperature"].GetDouble(), 0.1);  // the request wins
}

TEST_F(Ollama, ToolCallsGetDistinctIndexesAndFinishReasonToolCalls) {
  // Ollama sends complete tool calls, arguments as objects, usually all in one line.
  stream_lines({R"({"model":"llama3.1","created_at":"2025-05-05T10:00:00Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris","unit":"celsius"}}},{"function":{"name":"get_time","arguments":{"tz":"Europe/Paris"}}}]},"done":false})"
                "\n",
                ollama_done("llama3.1", "stop", 120, 40)});
  const std::string request = R"({"model":"llama3.1","stream":true,
    "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city",
      "parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string"}},"required":["city"]}}},
      {"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":"string"}}}}}],
    "messages":[{"role":"user","content":"Weather in Rome?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_abc","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
      {"role":"tool","tool_call_id":"call_abc","content":"22C, sunny"},
      {"role":"user","content":"And in Paris, and the time there?"}]})";
  auto r = post(request);
  ASSERT_EQ(r.status, 200) << r.body;
  Stream s = parse_stream(r.body);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.error, nullptr);
  EXPECT_THAT(s.finish_reasons, ElementsAre("tool_calls"));
  std::map<int, std::string> names, args, ids;
  for (const auto& c : s.chunks) {
    if (!c.HasMember("choices") || c["choices"].Empty()) continue;
    const auto& delta = c["choices"][0]["delta"];
    if (!delta.HasMember("tool_calls")) continue;
    for (const auto& call : delta["tool_calls"].GetArray()) {
      int index = call["index"].GetInt();
      if (call.HasMember("id")) ids[index] += call["id"].GetString();
      if (call["function"].HasMember("name")) names[index] += call["function"]["name"].GetString();
      if (call["function"].HasMember("arguments")) args[index] += call["function"]["arguments"].GetString();
    }
  }
  ASSERT_EQ(names.size(), 2u) << r.body;
  EXPECT_EQ(names[0], "get_weather");
  EXPECT_EQ(names[1], "get_time");
  EXPECT_EQ(parse(args[0]), parse(R"({"city":"Paris","unit":"celsius"})"));
  EXPECT_EQ(parse(args[1]), parse(R"({"tz":"Europe/Paris"})"));
  EXPECT_FALSE(ids[0].empty());
  EXPECT_FALSE(ids[1].empty());
  EXPECT_NE(ids[0], ids[1]);

  auto body = upstream_body();
  ASSERT_TRUE(body["tools"].IsArray());
  ASSERT_EQ(body["tools"].Size(), 2u);
  EXPECT_STREQ(body["tools"][0]["type"].GetString(), "function");
  EXPECT_STREQ(body["tools"][0]["function"]["name"].GetString(), "get_weather");
  EXPECT_STREQ(body["tools"][0]["function"]["description"].GetString(), "Weather of a city");
  EXPECT_TRUE(body["tools"][0]["function"]["parameters"].IsObject());
  EXPECT_STREQ(body["tools"][0]["function"]["parameters"]["required"][0].GetString(), "city");
  const auto& messages = body["messages"];
  ASSERT_EQ(messages.Size(), 4u);
  EXPECT_STREQ(messages[1]["role"].GetString(), "assistant");
  const auto& arguments = messages[1]["tool_calls"][0]["function"]["arguments"];
  ASSERT_TRUE(arguments.IsObject()) << "arguments must be a JSON object: " << str(arguments);
  EXPECT_STREQ(arguments["city"].GetString(), "Rome");
  EXPECT_STREQ(messages[1]["tool_calls"][0]["function"]["name"].GetString(), "get_weather");
  EXPECT_STREQ(messages[2]["role"].GetString(), "tool");
  EXPECT_STREQ(messages[2]["content"].GetString(), "22C, sunny");
  EXPECT_STREQ(messages[2]["tool_name"].GetString(), "get_weather");
}

TEST_F(Ollama, ToolCallsInAWholeCompletion) {
  stream_lines({R"({"model":"llama3.1","created_at":"2025-05-05T10:00:00Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},"done":false})"
                "\n",
                R"({"model":"llama3.1","created_at":"2025-05-05T10:00:00Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Lyon"}}}]},"done":false})"
                "\n",
                ollama_done("llama3.1", "stop", 10, 4)});
  auto r = post(R"({"model":"llama3.1","tool_choice":"auto","tools":[{"type":"function","function":{"name":"get_weather",
    "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
    "messages":[{"role":"user","content":"Weather in Paris and Lyon?"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["choices"][0]["finish_reason"].GetString(), "tool_calls");
  const auto& calls = doc["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.Size(), 2u) << r.body;
  EXPECT_STRNE(calls[0]["id"].GetString(), calls[1]["id"].GetString());
  EXPECT_EQ(parse(calls[0]["function"]["arguments"].GetString()), parse(R"({"city":"Paris"})"));
  EXPECT_EQ(parse(calls[1]["function"]["arguments"].GetString()), parse(R"({"city":"Lyon"})"));
}

TEST_F(Ollama, ToolChoiceNoneSendsNoTools) {
  stream_lines({ollama_line("llama3.1", "fine"), ollama_done("llama3.1", "stop", 3, 1)});
  auto r = post(R"({"model":"llama3.1","tool_choice":"none","tools":[{"type":"function","function":{"name":"f",
    "parameters":{"type":"object"}}}],"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(upstream_body().HasMember("tools"));
}

TEST_F(Ollama, DoneReasonLengthIsFinishReasonLength) {
  stream_lines({ollama_line("llama3.2", "Once upon a"), ollama_done("llama3.2", "length", 9, 3)});
  auto s = post(chat_body("llama3.2", "Tell a story", true, R"("max_tokens":3)"));
  ASSERT_EQ(s.status, 200) << s.body;
  Stream stream = parse_stream(s.body);
  EXPECT_THAT(stream.finish_reasons, ElementsAre("length"));
  EXPECT_TRUE(stream.done);
  auto w = post(chat_body("llama3.2", "Tell a story", false, R"("max_tokens":3)"));
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_STREQ(parse(w.body)["choices"][0]["finish_reason"].GetString(), "length");
  EXPECT_EQ(upstream_body()["options"]["num_predict"].GetInt(), 3);
}

TEST_F(Ollama, ModelNotFoundFallsBackToTheNextProvider) {
  on_chat([](const FakeRequest&, FakeExchange& exchange) {
    exchange.respond(404, {{"Content-Type", "application/json; charset=utf-8"}},
                     R"({"error":"model \"qwen-missing\" not found, try pulling it first"})");
  });
  auto r = post(chat_body("qwen-missing", "hello"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  EXPECT_THAT(r.body, HasSubstr("answered by mock"));
  auto s = post(chat_body("qwen-missing", "hello", true));
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.header("x-llmux-provider"), "mock");
  EXPECT_EQ(sse_content(s.body), "answered by mock");
  EXPECT_GE(chat_requests().size(), 2u);

  // Alone on its route, the 404 reaches the client with Ollama's message.
  auto alone = post(chat_body("llama-missing", "hello"));
  EXPECT_EQ(alone.status, 404) << alone.body;
  auto doc = parse(alone.body);
  EXPECT_THAT(str(doc["error"]["message"]), HasSubstr("ollama: model \"qwen-missing\" not found"));
}

TEST_F(Ollama, ServerErrorStatusCarriesOllamasMessage) {
  on_chat([](const FakeRequest&, FakeExchange& exchange) {
    exchange.respond(500, {{"Content-Type", "application/json"}},
                     R"({"error":"llama runner process has terminated: signal: killed"})");
  });
  auto r = post(chat_body("llama3.2", "hello"));
  EXPECT_GE(r.status, 500) << r.body;
  EXPECT_THAT(str(parse(r.body)["error"]["message"]), HasSubstr("ollama: llama runner process has terminated"));
}

TEST_F(Ollama, ErrorLineMidStreamEndsTheStreamInBand) {
  stream_lines({ollama_line("llama3.2", "Partial "), ollama_line("llama3.2", "answer"),
                "{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n"});
  auto r = post(chat_body("llama3.2", "hello", true));
  ASSERT_EQ(r.status, 200) << r.body;
  Stream s = parse_stream(r.body);
  EXPECT_EQ(s.content, "Partial answer");
  ASSERT_NE(s.error, nullptr) << r.body;
  EXPECT_THAT(str((*s.error)["message"]), HasSubstr("unexpected EOF"));
  EXPECT_TRUE(s.done);
  EXPECT_TRUE(s.finish_reasons.empty());
}

TEST_F(Ollama, ErrorLineBeforeAnyContentIsAnErrorStatus) {
  stream_lines({"{\"error\":\"model requires more system memory (9.2 GiB) than is available (4.0 GiB)\"}\n"});
  auto r = post(chat_body("llama3.2", "hello"));
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_THAT(str(parse(r.body)["error"]["message"]), HasSubstr("more system memory"));
}

TEST_F(Ollama, CutMidStreamEndsTheStreamInBand) {
  on_chat([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, kNdjson);
    exchange.chunk(ollama_line("llama3.2", "Hello"));
    exchange.sleep(50ms);
    exchange.chunk(ollama_line("llama3.2", " there").substr(0, 30));  // half a line
    exchange.close();
  });
  auto r = post(chat_body("llama3.2", "hello", true));
  ASSERT_EQ(r.status, 200) << r.body;
  Stream s = parse_stream(r.body);
  EXPECT_EQ(s.content, "Hello");
  ASSERT_NE(s.error, nullptr) << r.body;
  EXPECT_THAT(str((*s.error)["message"]), HasSubstr("ollama provider 'ollama'"));
  EXPECT_TRUE(s.done);
  EXPECT_TRUE(s.finish_reasons.empty());
}

TEST_F(Ollama, StreamEndingWithoutDoneIsAnError) {
  stream_lines({ollama_line("llama3.2", "Hello"), ollama_line("llama3.2", " again")});
  auto r = post(chat_body("llama3.2", "hello", true));
  ASSERT_EQ(r.status, 200) << r.body;
  Stream s = parse_stream(r.body);
  EXPECT_EQ(s.content, "Hello again");
  ASSERT_NE(s.error, nullptr) << r.body;
  EXPECT_THAT(str((*s.error)["message"]), HasSubstr("ended before done"));
  EXPECT_TRUE(s.done);
}

TEST_F(Ollama, InvalidJsonLineEndsTheStreamInBand) {
  stream_lines({ollama_line("llama3.2", "Hello"), "{\"model\":\"llama3.2\",\"message\":{\"content\":\"x\"\n",
                ollama_done("llama3.2", "stop", 1, 1)});
  auto r = post(chat_body("llama3.2", "hello", true));
  ASSERT_EQ(r.status, 200) << r.body;
  Stream s = parse_stream(r.body);
  EXPECT_EQ(s.content, "Hello");
  ASSERT_NE(s.error, nullptr) << r.body;
  EXPECT_THAT(str((*s.error)["message"]), HasSubstr("invalid stream line"));
  EXPECT_TRUE(s.done);
  EXPECT_TRUE(s.finish_reasons.empty());
}

TEST_F(Ollama, ImageUrlIsRefusedBeforeAnyRequest) {
  stream_lines({ollama_line("llava", "a cat"), ollama_done("llava", "stop", 1, 1)});
  auto r = post(R"({"model":"llava","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},
    {"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]})");
  EXPECT_EQ(r.status, 400) << r.body;
  auto doc = parse(r.body);
  EXPECT_EQ(str(doc["error"]["message"]), "ollama provider cannot fetch image URLs; send images as data: URIs");
  EXPECT_STREQ(doc["error"]["type"].GetString(), "invalid_request_error");
  EXPECT_TRUE(chat_requests().empty());
}

TEST_F(Ollama, DataUriImagesAreSentAsBase64) {
  stream_lines({ollama_line("llava", "a red dot"), ollama_done("llava", "stop", 1, 3)});
  const std::string png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
  auto r = post(R"({"model":"llava","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},
    {"type":"image_url","image_url":{"url":"data:image/png;base64,)" + png + R"("}},
    {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ","detail":"low"}}]}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_STREQ(parse(r.body)["choices"][0]["message"]["content"].GetString(), "a red dot");
  auto body = upstream_body();
  const auto& message = body["messages"][0];
  EXPECT_STREQ(message["content"].GetString(), "What is this?");
  ASSERT_TRUE(message["images"].IsArray());
  ASSERT_EQ(message["images"].Size(), 2u);
  EXPECT_EQ(str(message["images"][0]), png);
  EXPECT_EQ(str(message["images"][1]), "/9j/4AAQ");
}

TEST_F(Ollama, ThinkingBecomesReasoning) {
  stream_lines({R"({"model":"qwen3","created_at":"2025-05-05T10:00:00Z","message":{"role":"assistant","content":"","thinking":"Let me think."},"done":false})"
                "\n",
                ollama_line("qwen3", "Yes."), ollama_done("qwen3", "stop", 4, 6)});
  auto r = post(chat_body("qwen3", "Is it?"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "ollama");
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["choices"][0]["message"]["content"].GetString(), "Yes.");
  EXPECT_THAT(r.body, HasSubstr("Let me think."));
}

TEST_F(Ollama, ModelsListIncludesTagsMatchingARoute) {
  {
    std::lock_guard lock(mutex_);
    tags_ = R"({"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2025-05-01T10:00:00Z",
      "size":2019393189,"digest":"a80c4f17acd5","details":{"format":"gguf","family":"llama","parameter_size":"3.2B",
      "quantization_level":"Q4_K_M"}},{"name":"llama3.1:8b","model":"llama3.1:8b"},{"name":"mistral:7b","model":"mistral:7b"}]})";
  }
  // The cache refreshes every models_ttl (200ms here) in the background.
  std::string body;
  for (int i = 0; i < 100; ++i) {
    auto r = client_.get(gw_->url("/v1/models"));
    ASSERT_EQ(r.status, 200);
    body = r.body;
    if (body.find("llama3.1:8b") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  }
  auto doc = parse(body);
  std::vector<std::string> ids;
  for (const auto& m : doc["data"].GetArray()) ids.push_back(m["id"].GetString());
  EXPECT_THAT(ids, ::testing::IsSupersetOf({"llama3.2:latest", "llama3.2", "llama3.1:8b"})) << body;
  EXPECT_THAT(ids, Not(::testing::Contains("mistral:7b"))) << body;  // no route serves it
  std::size_t tags_requests = 0;
  for (auto& r : upstream_.requests()) {
    if (r.path == "/api/tags") {
      ++tags_requests;
      EXPECT_EQ(r.method, "GET");
    }
  }
  EXPECT_GE(tags_requests, 1u);
}

TEST_F(Ollama, UnreachableOllamaFallsBack) {
  std::uint16_t port = 0;
  {
    FakeUpstream closed;  // a port nothing listens on once it is gone
    port = closed.port();
  }
  gw_ = std::make_unique<TestGateway>(config("http://127.0.0.1:" + std::to_string(port)));
  auto r = post(chat_body("qwen2.5", "hello"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  auto alone = post(chat_body("llama3.2", "hello"));
  EXPECT_EQ(alone.status, 502) << alone.body;
  EXPECT_THAT(str(parse(alone.body)["error"]["message"]), HasSubstr("ollama provider 'ollama'"));
}

TEST_F(Ollama, LargeStreamToASlowClientArrivesIntact) {
  // ~3.5 MB of content in 30k lines (~9 MB of SSE): the client reads slowly at first, so the
  // provider pauses Ollama's stream and resumes it as the client drains.
  std::string expected;
  std::vector<std::string> blocks(1);
  for (int i = 0; i < 30000; ++i) {
    std::string piece = "token " + std::to_string(i) + " \xC3\xA9t\xC3\xA9 lorem ipsum dolor sit amet, consectetur " +
                        "adipiscing elit, sed do eiusmod tempor incididunt ut labore\n";
    expected += piece;
    blocks.back() += ollama_line("llama3.2", piece);
    if (blocks.back().size() > 64 * 1024) blocks.emplace_back();
  }
  blocks.back() += ollama_done("llama3.2", "stop", 12, 30000);
  stream_lines(blocks);
  RequestOptions options;
  options.timeout = 60s;
  int pieces = 0;
  options.on_data = [&](const std::string&) {
    if (++pieces < 4) std::this_thread::sleep_for(300ms);
    return true;
  };
  auto r = post(chat_body("llama3.2", "a lot please", true, R"("stream_options":{"include_usage":true})"), options);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  Stream s = parse_stream(r.body);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.error, nullptr);
  EXPECT_EQ(s.content.size(), expected.size());
  EXPECT_TRUE(s.content == expected);
  EXPECT_THAT(s.finish_reasons, ElementsAre("stop"));
  ASSERT_NE(s.usage, nullptr);
  EXPECT_EQ((*s.usage)["completion_tokens"].GetInt(), 30000);
}

TEST_F(Ollama, ClientDisconnectCancelsTheUpstream) {
  on_chat([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, kNdjson);
    for (int i = 0; i < 400; ++i) {
      if (!exchange.chunk(ollama_line("llama3.2", "tok ")) || !exchange.sleep(10ms)) return;
    }
    exchange.chunk(ollama_done("llama3.2", "stop", 1, 400));
    exchange.end_chunked();
  });
  RequestOptions options;
  std::size_t pieces = 0;
  options.on_data = [&](const std::string&) { return ++pieces < 3; };
  auto started = FakeClock::now();
  post(chat_body("llama3.2", "hello", true), options);
  ASSERT_TRUE(upstream_.wait_for_requests(1, 2s));
  std::size_t connection = chat_requests().at(0).connection;
  auto closed = upstream_.wait_for_client_close(connection, 3s);
  ASSERT_TRUE(closed.has_value()) << "llmux kept reading from Ollama after the client left";
  EXPECT_LT(*closed - started, 3s);
}

// Without the gateway, over the host's HTTP engine: the call's trace context
// arrives as the `traceparent` header, replacing a configured one.
TEST(OllamaWire, TraceparentArrivesOnTheChatRequest) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path == "/api/tags") {
      exchange.respond(200, {{"Content-Type", "application/json"}}, R"({"models":[]})");
      return;
    }
    exchange.begin_chunked(200, kNdjson);
    exchange.chunk(ollama_line("llama3.2", "Hi"));
    exchange.chunk(ollama_done("llama3.2", "stop", 5, 1));
    exchange.end_chunked();
  });
  LiveHost host;
  auto provider = create(loaded_plugin("llmux-ollama.so"),
                         "base_url: " + upstream.url() + "\nheaders: {traceparent: configured-value}\n", host);
  ChatRequest request = request_for(chat_body("llama3.2", "hello", true));
  request.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto call = std::make_shared<LiveCall>(request);
  provider->chat(call);
  ASSERT_TRUE(call->wait_for_terminal(10s));
  EXPECT_EQ(call->events().back().kind, Event::Kind::Finish);
  provider.reset();
  std::vector<FakeRequest> chats;
  for (auto& r : upstream.requests()) {
    if (r.path == "/api/chat") chats.push_back(r);
  }
  ASSERT_EQ(chats.size(), 1u);
  EXPECT_EQ(chats[0].header("traceparent"), request.traceparent);
  std::size_t copies = 0;
  for (const auto& h : chats[0].headers) copies += h.first == "traceparent";
  EXPECT_EQ(copies, 1u) << "the configured value is replaced, not sent as well";
}

}  // namespace
}  // namespace llmux::test
