// The Responses API's host side over real loopback sockets: the stored
// responses (GET, DELETE, input_items), previous_response_id resolved from the
// store whichever provider answers, store: false, the 400 and 404 answers
// OpenAI gives, and the store's own bounds (TTL driven by a fake clock, bytes).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <fstream>
#include <thread>

#include "api/inbound_api.h"
#include "services/response_store.h"
#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char* kConfig = R"(
client_keys: [k-client-0001]
providers:
  mock:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
routes:
  mock: [mock]
)";

const std::string kBearer = "Authorization: Bearer k-client-0001";

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

std::string write_tool() {
  return R"([{"type":"function","name":"write","description":"Write a file","parameters":{"type":"object",)"
         R"("properties":{"filePath":{"type":"string"},"content":{"type":"string"}},"required":["filePath","content"]}}])";
}

class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return now_; }
  std::chrono::system_clock::time_point wall_now() const override { return {}; }
  void advance(std::chrono::seconds by) { now_ += by; }

 private:
  std::chrono::steady_clock::time_point now_{};
};

host::StoredResponse stored(std::size_t size) { return {std::string(size, 'r'), "[]", "[]"}; }

TEST(ResponseStore, EntriesExpireAfterTheirTtl) {
  FakeClock clock;
  host::ResponseStore store({std::chrono::seconds(60), 1 << 20}, &clock);
  store.put("resp_a", stored(10));
  clock.advance(std::chrono::seconds(59));
  ASSERT_NE(store.get("resp_a"), nullptr);
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(store.get("resp_a"), nullptr);
  EXPECT_FALSE(store.erase("resp_a"));
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.bytes(), 0u);
}

TEST(ResponseStore, TheByteBoundEvictsTheLeastRecentlyUsed) {
  FakeClock clock;
  host::ResponseStore store({std::chrono::seconds(60), 300}, &clock);
  store.put("resp_a", stored(100));
  store.put("resp_b", stored(100));
  ASSERT_NE(store.get("resp_a"), nullptr);  // a is now the most recent
  store.put("resp_c", stored(100));         // over 300 bytes: b goes
  EXPECT_NE(store.get("resp_a"), nullptr);
  EXPECT_EQ(store.get("resp_b"), nullptr);
  EXPECT_NE(store.get("resp_c"), nullptr);
  EXPECT_LE(store.bytes(), 300u);
  store.put("resp_huge", stored(1000));  // larger than the bound: not kept, nothing else lost
  EXPECT_EQ(store.get("resp_huge"), nullptr);
  EXPECT_NE(store.get("resp_c"), nullptr);
  store.set_limits({std::chrono::seconds(60), 150});
  EXPECT_EQ(store.size(), 1u);
}

TEST(ResponseStore, PutReplacesAndEraseForgets) {
  host::ResponseStore store;
  store.put("resp_a", stored(10));
  store.put("resp_a", stored(20));
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.get("resp_a")->response_json.size(), 20u);
  EXPECT_TRUE(store.erase("resp_a"));
  EXPECT_FALSE(store.erase("resp_a"));
}

TEST(ApiRegistry, ResponsePathsWithIdsPickTheApiByMethod) {
  const host::ApiRegistry& registry = host::default_registry();
  EXPECT_EQ(registry.find("/v1/responses", "POST")->name(), "openai.responses");
  EXPECT_EQ(registry.find("/v1/responses/resp_1", "GET")->name(), "openai.responses.get");
  EXPECT_EQ(registry.find("/v1/responses/resp_1", "HEAD")->name(), "openai.responses.get");
  EXPECT_EQ(registry.find("/responses/resp_1", "DELETE")->name(), "openai.responses.delete");
  EXPECT_EQ(registry.find("/v1/responses/resp_1/input_items", "GET")->name(), "openai.responses.input_items");
  // Another method on a known path: an API of that path (the door says 405).
  ASSERT_NE(registry.find("/v1/responses/resp_1", "POST"), nullptr);
  EXPECT_EQ(registry.find("/v1/responses/", "GET"), nullptr);
  EXPECT_EQ(registry.find("/v1/responses/a/b", "GET"), nullptr);
  EXPECT_EQ(registry.find("/v1/responses/a/input_items/x", "GET"), nullptr);
}

TEST(ResponsesApi, StoredResponseCanBeReadListedAndDeleted) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto created = client.post(gw.url("/v1/responses"), R"({"model":"mock","input":"Say hi, please."})",
                             with_header(kBearer));
  ASSERT_EQ(created.status, 200) << created.body;
  auto doc = parse(created.body);
  const std::string id = doc["id"].GetString();

  auto fetched = client.get(gw.url("/v1/responses/" + id), with_header(kBearer));
  ASSERT_EQ(fetched.status, 200) << fetched.body;
  EXPECT_EQ(fetched.body, created.body);

  auto items = client.get(gw.url("/v1/responses/" + id + "/input_items"), with_header(kBearer));
  ASSERT_EQ(items.status, 200) << items.body;
  auto list = parse(items.body);
  EXPECT_STREQ(list["object"].GetString(), "list");
  ASSERT_EQ(list["data"].Size(), 1u);
  EXPECT_STREQ(list["data"][0]["type"].GetString(), "message");
  EXPECT_TRUE(list["data"][0]["id"].IsString());
  EXPECT_FALSE(list["has_more"].GetBool());

  auto wrong_method = client.request("POST", gw.url("/v1/responses/" + id), "{}", with_header(kBearer));
  EXPECT_EQ(wrong_method.status, 405) << wrong_method.body;

  auto deleted = client.request("DELETE", gw.url("/v1/responses/" + id), "", with_header(kBearer));
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_THAT(deleted.body, HasSubstr(R"("deleted":true)"));
  auto gone = client.get(gw.url("/v1/responses/" + id), with_header(kBearer));
  EXPECT_EQ(gone.status, 404) << gone.body;
  EXPECT_THAT(gone.body, HasSubstr(R"("type":"invalid_request_error")"));
  auto deleted_again = client.request("DELETE", gw.url("/v1/responses/" + id), "", with_header(kBearer));
  EXPECT_EQ(deleted_again.status, 404);
}

TEST(ResponsesApi, StoredResponsesNeedTheClientKey) {
  TestGateway gw(kConfig);
  HttpClient client;
  EXPECT_EQ(client.get(gw.url("/v1/responses/resp_x")).status, 401);
}

TEST(ResponsesApi, PreviousResponseIdContinuesFromTheStoredItems) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto first = client.post(gw.url("/v1/responses"),
                           R"({"model":"mock","input":"Create the file hello.txt containing hello","tools":)" +
                               write_tool() + "}",
                           with_header(kBearer));
  ASSERT_EQ(first.status, 200) << first.body;
  auto doc = parse(first.body);
  const std::string id = doc["id"].GetString();
  std::string call_id, arguments;
  for (const auto& item : doc["output"].GetArray()) {
    if (std::string(item["type"].GetString()) == "function_call") {
      call_id = item["call_id"].GetString();
      arguments = item["arguments"].GetString();
    }
  }
  ASSERT_FALSE(call_id.empty()) << first.body;

  // Only the tool output is sent: the call and the task come from the store.
  auto second = client.post(gw.url("/v1/responses"),
                            R"({"model":"mock","previous_response_id":")" + id +
                                R"(","input":[{"type":"function_call_output","call_id":")" + call_id +
                                R"(","output":"Wrote hello.txt"}],"tools":)" + write_tool() + "}",
                            with_header(kBearer));
  ASSERT_EQ(second.status, 200) << second.body;
  auto answer = parse(second.body);
  EXPECT_EQ(std::string(answer["previous_response_id"].GetString()), id);
  for (const auto& item : answer["output"].GetArray()) {
    EXPECT_STRNE(item["type"].GetString(), "function_call") << "the mock did not see its tool result: " << second.body;
  }

  auto items = client.get(gw.url("/v1/responses/" + std::string(answer["id"].GetString()) + "/input_items?order=asc"),
                          with_header(kBearer));
  ASSERT_EQ(items.status, 200) << items.body;
  auto list = parse(items.body);
  ASSERT_EQ(list["data"].Size(), 3u) << items.body;
  EXPECT_STREQ(list["data"][0]["type"].GetString(), "message");
  EXPECT_STREQ(list["data"][1]["type"].GetString(), "function_call");
  EXPECT_EQ(std::string(list["data"][1]["arguments"].GetString()), arguments);
  EXPECT_STREQ(list["data"][2]["type"].GetString(), "function_call_output");

  auto desc = client.get(gw.url("/v1/responses/" + std::string(answer["id"].GetString()) + "/input_items?limit=1"),
                         with_header(kBearer));
  ASSERT_EQ(desc.status, 200) << desc.body;
  auto page = parse(desc.body);
  ASSERT_EQ(page["data"].Size(), 1u);
  EXPECT_STREQ(page["data"][0]["type"].GetString(), "function_call_output");
  EXPECT_TRUE(page["has_more"].GetBool());
}

TEST(ResponsesApi, UnknownPreviousResponseIdIsA400AsOpenAIAnswers) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/responses"),
                       R"({"model":"mock","input":"hi","previous_response_id":"resp_nope","stream":true})",
                       with_header(kBearer));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("code":"previous_response_not_found")"));
  EXPECT_THAT(r.body, HasSubstr(R"("param":"previous_response_id")"));
}

TEST(ResponsesApi, StoreFalseKeepsNothing) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/responses"), R"({"model":"mock","input":"hi","store":false})",
                       with_header(kBearer));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string id = parse(r.body)["id"].GetString();
  EXPECT_EQ(client.get(gw.url("/v1/responses/" + id), with_header(kBearer)).status, 404);
  EXPECT_EQ(gw.gateway().responses().size(), 0u);
}

TEST(ResponsesApi, AStreamedAnswerIsStoredAsItsCompletedResponse) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/responses"), R"({"model":"mock","input":"Say hi, please.","stream":true})",
                       with_header(kBearer));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, Not(HasSubstr("[DONE]")));
  std::string completed;
  for (const std::string& data : sse_data(r.body)) {
    if (data.find(R"("type":"response.completed")") != std::string::npos) completed = data;
  }
  ASSERT_FALSE(completed.empty()) << r.body;
  auto event = parse(completed);
  const std::string id = event["response"]["id"].GetString();
  auto fetched = client.get(gw.url("/v1/responses/" + id), with_header(kBearer));
  ASSERT_EQ(fetched.status, 200) << fetched.body;
  auto doc = parse(fetched.body);
  EXPECT_STREQ(doc["status"].GetString(), "completed");
  EXPECT_EQ(std::string(doc["output"][0]["content"][0]["text"].GetString()),
            std::string(event["response"]["output"][0]["content"][0]["text"].GetString()));
}

}  // namespace
}  // namespace llmux::test

namespace llmux::test {
namespace {

// Codex sends web_search in every request: not refused, dropped for a
// provider that cannot run it, and the access log says so.
TEST(ResponsesApi, BuiltInToolsAreDroppedWithAWarningInTheAccessLog) {
  TempDir dir;
  const auto log = dir.path() / "access.log";
  TestGateway gw(std::string(kConfig) + "access_log: " + log.string() + "\n");
  HttpClient client;
  auto r = client.post(gw.url("/v1/responses"),
                       R"({"model":"mock","input":"Say hi, please.","stream":true,)"
                       R"("tools":[{"type":"web_search","external_web_access":true}]})",
                       with_header(kBearer));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string line;
  for (int i = 0; i < 400 && line.empty(); ++i) {
    gw.gateway().observability().access_log().flush();
    std::ifstream in(log);
    std::getline(in, line);
    if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto doc = parse(line);
  EXPECT_STREQ(doc["api"].GetString(), "openai.responses");
  ASSERT_TRUE(doc.HasMember("warnings")) << line;
  ASSERT_EQ(doc["warnings"].Size(), 1u) << line;
  EXPECT_THAT(std::string(doc["warnings"][0].GetString()), HasSubstr("web_search"));
}

}  // namespace
}  // namespace llmux::test

namespace llmux::test {
namespace {

const char* kChainConfig = R"(
client_keys: [k-client-0001]
providers:
  broken:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options: {fail_status: 503}
  mock:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
routes:
  mock: [broken, mock]
)";

// The fallback rule over Responses: a failure before the first byte moves to
// the next provider; one after it ends the stream with response.failed.
TEST(ResponsesApi, FailureBeforeTheFirstByteFallsBackAfterItEndsWithResponseFailed) {
  TestGateway gw(kChainConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/responses"), R"({"model":"mock","input":"Say hi, please.","stream":true})",
                       with_header(kBearer));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  EXPECT_THAT(r.body, HasSubstr("event: response.completed\n"));

  auto cut = client.post(gw.url("/v1/responses"),
                         R"({"model":"mock","input":"Tell me a long story [[mock:cut=2]]","stream":true})",
                         with_header(kBearer));
  ASSERT_EQ(cut.status, 200) << cut.body;
  auto frames = sse_data(cut.body);
  ASSERT_FALSE(frames.empty());
  auto last = parse(frames.back());
  EXPECT_STREQ(last["type"].GetString(), "response.failed") << cut.body;
  EXPECT_STREQ(last["response"]["status"].GetString(), "failed");
  EXPECT_TRUE(last["response"]["error"]["message"].IsString());
  EXPECT_FALSE(last.HasMember("error")) << "a top-level error key makes the SDK throw";
  // Regression (review): the text the client already had was missing from
  // the failed response; the cut message is there as "incomplete".
  std::string streamed;
  for (const std::string& data : frames) {
    auto frame = parse(data);
    if (std::string_view(frame["type"].GetString()) == "response.output_text.delta") streamed += frame["delta"].GetString();
  }
  ASSERT_FALSE(streamed.empty()) << cut.body;
  const auto& output = last["response"]["output"];
  ASSERT_EQ(output.Size(), 1u) << frames.back();
  EXPECT_STREQ(output[0]["type"].GetString(), "message");
  EXPECT_STREQ(output[0]["status"].GetString(), "incomplete");
  EXPECT_EQ(std::string(output[0]["content"][0]["text"].GetString()), streamed);
  EXPECT_THAT(cut.body, Not(HasSubstr("response.completed")));
}

}  // namespace
}  // namespace llmux::test

namespace llmux::test {
namespace {

// Regression (review): input_items listed short-form messages as sent (no
// type, string content, no status) and gave items ids that changed from one
// turn to the next.
TEST(ResponsesApi, InputItemsAreListedInOpenAIsShapeWithIdsStableAcrossTurns) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto first = client.post(gw.url("/v1/responses"),
                           R"({"model":"mock","input":[{"role":"developer","content":"Be brief."},)"
                           R"({"role":"user","content":"Say hi, please."}]})",
                           with_header(kBearer));
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string first_id = parse(first.body)["id"].GetString();
  auto listed = client.get(gw.url("/v1/responses/" + first_id + "/input_items?order=asc"), with_header(kBearer));
  ASSERT_EQ(listed.status, 200) << listed.body;
  auto items = parse(listed.body);
  ASSERT_EQ(items["data"].Size(), 2u);
  for (const auto& item : items["data"].GetArray()) {
    EXPECT_STREQ(item["type"].GetString(), "message") << listed.body;
    EXPECT_STREQ(item["status"].GetString(), "completed");
    ASSERT_TRUE(item["content"].IsArray()) << listed.body;
    EXPECT_STREQ(item["content"][0]["type"].GetString(), "input_text");
    EXPECT_EQ(std::string(item["id"].GetString()).substr(0, 4), "msg_");
  }
  const std::string developer_id = items["data"][0]["id"].GetString();

  auto second = client.post(gw.url("/v1/responses"),
                            R"({"model":"mock","previous_response_id":")" + first_id + R"(","input":"And again."})",
                            with_header(kBearer));
  ASSERT_EQ(second.status, 200) << second.body;
  const std::string second_id = parse(second.body)["id"].GetString();
  auto relisted = client.get(gw.url("/v1/responses/" + second_id + "/input_items?order=asc"), with_header(kBearer));
  auto again = parse(relisted.body);
  ASSERT_EQ(again["data"].Size(), 4u) << relisted.body;  // developer, user, the answer, the new user turn
  EXPECT_EQ(std::string(again["data"][0]["id"].GetString()), developer_id);
  EXPECT_STREQ(again["data"][2]["content"][0]["type"].GetString(), "output_text");
  EXPECT_STREQ(again["data"][3]["content"][0]["text"].GetString(), "And again.");
}

}  // namespace
}  // namespace llmux::test
