// Legacy completions (/v1/completions) through the ollama plugin and a live
// llmux: Ollama's native POST /api/generate (prompt, suffix for
// fill-in-the-middle, options) against a fake Ollama streaming NDJSON as
// Ollama 0.6+ does, answered as text_completion objects and chunks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "llmux/json.h"
#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string str(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : json::to_string(v);
}

// One /api/generate line as Ollama streams it.
std::string generate_line(const std::string& response) {
  std::string out = R"({"model":"codellama:code","created_at":"2025-05-05T10:00:00.123456789Z","response":)";
  json::append_quoted(out, response);
  out += ",\"done\":false}\n";
  return out;
}

std::string generate_done(const std::string& reason, int prompt, int eval) {
  return R"({"model":"codellama:code","created_at":"2025-05-05T10:00:01.5Z","response":"","done":true,"done_reason":")" +
         reason + R"(","context":[529,29989,2278],"total_duration":1191566416,"load_duration":2154458,)"
         R"("prompt_eval_count":)" + std::to_string(prompt) +
         R"(,"prompt_eval_duration":83809000,"eval_count":)" + std::to_string(eval) +
         ",\"eval_duration\":799921000}\n";
}

const FakeHeaders kNdjson = {{"Content-Type", "application/x-ndjson"}};

class OllamaGenerate : public ::testing::Test {
 protected:
  OllamaGenerate() {
    upstream_.set_handler([this](const FakeRequest& request, FakeExchange& exchange) {
      if (request.path == "/api/tags") {
        exchange.respond(200, {{"Content-Type", "application/json; charset=utf-8"}}, R"({"models":[]})");
        return;
      }
      std::vector<std::string> lines;
      {
        std::lock_guard lock(mutex_);
        lines = lines_;
      }
      if (request.path != "/api/generate") {
        exchange.respond(404, {{"Content-Type", "text/plain"}}, "404 page not found");
        return;
      }
      if (lines.empty()) {
        exchange.respond(400, {{"Content-Type", "application/json; charset=utf-8"}},
                         R"({"error":"registry.ollama.ai/library/llama3.2:latest does not support insert"})");
        return;
      }
      exchange.begin_chunked(200, kNdjson);
      for (const auto& line : lines) exchange.chunk(line);
      exchange.end_chunked();
    });
    gw_ = std::make_unique<TestGateway>(R"(
providers:
  ollama:
    plugin: ollama
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      base_url: )" + upstream_.url() + R"(
      keep_alive: 5m
      options: {num_ctx: 4096, temperature: 0.8}
routes:
  "codellama*": [ollama]
)");
  }

  void answer_with(std::vector<std::string> lines) {
    std::lock_guard lock(mutex_);
    lines_ = std::move(lines);
  }

  std::vector<FakeRequest> generate_requests() const {
    return upstream_.requests_to("/api/generate");
  }

  HttpResponse post(const std::string& body) { return client_.post(gw_->url("/v1/completions"), body); }

  std::mutex mutex_;
  std::vector<std::string> lines_;
  FakeUpstream upstream_;
  std::unique_ptr<TestGateway> gw_;
  HttpClient client_;
};

TEST_F(OllamaGenerate, FillInTheMiddleGoesToApiGenerateWithPromptSuffixAndOptions) {
  answer_with({generate_line("return"), generate_line(" a + b"), generate_done("stop", 26, 4)});
  auto r = post(R"j({"model":"codellama:code","prompt":"def add(a, b):\n    ","suffix":"\n\nprint(add(1, 2))",)j"
                R"("max_tokens":48,"temperature":0.1,"top_p":0.9,"stop":["\n\n"],"echo":false})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "ollama");
  auto doc = parse(r.body);
  EXPECT_EQ(str(doc["object"]), "text_completion");
  EXPECT_EQ(str(doc["model"]), "codellama:code");
  EXPECT_EQ(str(doc["choices"][0]["text"]), "return a + b");
  EXPECT_EQ(str(doc["choices"][0]["finish_reason"]), "stop");
  EXPECT_EQ(doc["usage"]["prompt_tokens"].GetInt(), 26);
  EXPECT_EQ(doc["usage"]["completion_tokens"].GetInt(), 4);
  EXPECT_EQ(doc["usage"]["total_tokens"].GetInt(), 30);

  auto requests = generate_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].body,
            R"j({"model":"codellama:code","prompt":"def add(a, b):\n    ","suffix":"\n\nprint(add(1, 2))",)j"
            R"("stream":true,"options":{"num_ctx":4096,"temperature":0.1,"top_p":0.9,"num_predict":48,)"
            R"("stop":["\n\n"]},"keep_alive":"5m"})");
}

TEST_F(OllamaGenerate, StreamedAsTextCompletionChunksWithLengthAndUsage) {
  answer_with({generate_line("The"), generate_line(" quick"), generate_line(" brown"), generate_done("length", 5, 3)});
  auto r = post(R"({"model":"codellama","prompt":"Once upon a time","stream":true,)"
                R"("stream_options":{"include_usage":true}})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto data = sse_data(r.body);
  ASSERT_GE(data.size(), 3u) << r.body;
  EXPECT_EQ(data.back(), "[DONE]");
  data.pop_back();
  std::string text;
  std::vector<std::string> finishes;
  const rapidjson::Value* usage = nullptr;
  std::vector<rapidjson::Document> chunks;
  for (const auto& d : data) chunks.push_back(parse(d));
  for (const auto& c : chunks) {
    EXPECT_EQ(str(c["object"]), "text_completion");
    if (c["choices"].Empty()) {
      usage = &c["usage"];
      continue;
    }
    text += str(c["choices"][0]["text"]);
    if (!c["choices"][0]["finish_reason"].IsNull()) finishes.push_back(str(c["choices"][0]["finish_reason"]));
  }
  EXPECT_EQ(text, "The quick brown");
  EXPECT_THAT(finishes, ElementsAre("length"));
  ASSERT_NE(usage, nullptr);
  EXPECT_EQ((*usage)["completion_tokens"].GetInt(), 3);

  auto requests = generate_requests();
  ASSERT_EQ(requests.size(), 1u);
  auto sent = parse(requests[0].body);
  EXPECT_EQ(str(sent["prompt"]), "Once upon a time");
  EXPECT_FALSE(sent.HasMember("suffix")) << "no suffix: a plain continuation";
  EXPECT_EQ(sent["options"]["num_predict"].GetInt(), 16) << "OpenAI's default max_tokens";
  EXPECT_FALSE(sent.HasMember("messages"));
}

TEST_F(OllamaGenerate, AnOllamaErrorKeepsItsWordsAndStatus) {
  answer_with({});
  auto r = post(R"({"model":"codellama:code","prompt":"a","suffix":"b"})");
  EXPECT_EQ(r.status, 400) << r.body;
  auto doc = parse(r.body);
  ASSERT_TRUE(doc.HasMember("error")) << r.body;
  EXPECT_THAT(str(doc["error"]["message"]), HasSubstr("does not support insert"));
}

}  // namespace
}  // namespace llmux::test
