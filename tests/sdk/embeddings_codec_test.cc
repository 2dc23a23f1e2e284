// The OpenAI Embeddings codec: requests in (every `input` shape, the errors in
// OpenAI's words), requests out, answers out (float and base64), upstream
// answers in.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "llmux/codec/embeddings.h"
#include "llmux/codec/raw_answer.h"
#include "llmux/json.h"

namespace llmux {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

ChatRequest parsed(const std::string& body) {
  ChatRequest r;
  auto error = embeddings::parse_request(body, r);
  EXPECT_FALSE(error) << body << " -> " << (error ? error->message : "");
  return r;
}

Error refused(const std::string& body) {
  ChatRequest r;
  auto error = embeddings::parse_request(body, r);
  EXPECT_TRUE(error) << body;
  return error.value_or(Error{});
}

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

// ---------------------------------------------------------------- parse_request

TEST(EmbeddingsRequest, StringInputIsOneText) {
  ChatRequest r = parsed(R"({"model":"text-embedding-3-small","input":"hello world"})");
  EXPECT_EQ(r.model, "text-embedding-3-small");
  EXPECT_EQ(r.source_api, Api::OpenAIEmbeddings);
  EXPECT_EQ(r.operation(), Operation::Embedding);
  ASSERT_TRUE(r.embedding);
  EXPECT_THAT(r.embedding->texts, ElementsAre("hello world"));
  EXPECT_TRUE(r.embedding->tokens.empty());
  EXPECT_FALSE(r.embedding->base64);
  EXPECT_FALSE(r.embedding->dimensions);
  EXPECT_EQ(r.embedding->size(), 1u);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.messages.empty());
}

TEST(EmbeddingsRequest, ListOfStringsTokenArraysAndListsOfTokenArrays) {
  ChatRequest texts = parsed(R"({"model":"m","input":["a","b c","d"]})");
  EXPECT_THAT(texts.embedding->texts, ElementsAre("a", "b c", "d"));

  ChatRequest one = parsed(R"({"model":"m","input":[1, 2, 3]})");
  EXPECT_TRUE(one.embedding->texts.empty());
  ASSERT_EQ(one.embedding->tokens.size(), 1u);
  EXPECT_THAT(one.embedding->tokens[0], ElementsAre(1, 2, 3));
  EXPECT_EQ(one.embedding->size(), 1u);

  ChatRequest many = parsed(R"({"model":"m","input":[[1,2],[3],[100257,0]]})");
  ASSERT_EQ(many.embedding->tokens.size(), 3u);
  EXPECT_THAT(many.embedding->tokens[2], ElementsAre(100257, 0));
  EXPECT_EQ(many.embedding->size(), 3u);
}

TEST(EmbeddingsRequest, EncodingFormatDimensionsUserAndUnknownMembers) {
  ChatRequest r = parsed(
      R"({"model":"m","input":"x","encoding_format":"base64","dimensions":256,"user":"u-1","x_custom":{"a":1}})");
  EXPECT_TRUE(r.embedding->base64);
  EXPECT_EQ(r.embedding->dimensions, 256);
  EXPECT_THAT(r.extra, ElementsAre(Pair("user", R"("u-1")"), Pair("x_custom", R"({"a":1})")));
  EXPECT_FALSE(parsed(R"({"model":"m","input":"x","encoding_format":"float"})").embedding->base64);
  EXPECT_FALSE(parsed(R"({"model":"m","input":"x","encoding_format":null,"dimensions":null})").embedding->dimensions);
}

TEST(EmbeddingsRequest, TheHostsOriginalBodyIsKept) {
  ChatRequest r;
  r.original_body = std::make_shared<const std::string>("body");
  ASSERT_FALSE(embeddings::parse_request(R"({"model":"m","input":"x"})", r));
  ASSERT_TRUE(r.original_body);
  EXPECT_EQ(*r.original_body, "body");
}

TEST(EmbeddingsRequest, BadInputIsA400NamingTheField) {
  struct Case {
    std::string body;
    std::string param;
    std::string code;
    std::string says;
  };
  std::string too_many = R"({"model":"m","input":[)";
  for (int i = 0; i < 2049; ++i) too_many += (i ? ",\"t\"" : "\"t\"");
  too_many += "]}";
  const std::vector<Case> cases = {
      {R"({"model":"m"})", "input", "missing_required_parameter", "Missing required parameter: 'input'"},
      {R"({"input":"x"})", "model", "missing_required_parameter", "'model'"},
      {R"({"model":"","input":"x"})", "model", "invalid_value", "must not be empty"},
      {R"({"model":"m","input":""})", "input", "empty_string", "empty string"},
      {R"({"model":"m","input":[]})", "input", "empty_array", "empty array"},
      {R"({"model":"m","input":["a",""]})", "input[1]", "empty_string", "empty string"},
      {R"({"model":"m","input":["a",2]})", "input[1]", "invalid_type", "expected a string, got a number"},
      {R"({"model":"m","input":[1,"a"]})", "input[1]", "invalid_type", "expected an integer, got a string"},
      {R"({"model":"m","input":[1,-2]})", "input[1]", "invalid_value", "non-negative integer"},
      {R"({"model":"m","input":[1.5]})", "input[0]", "invalid_value", "non-negative integer"},
      {R"({"model":"m","input":[[1],[]]})", "input[1]", "empty_array", "empty array"},
      {R"({"model":"m","input":[[1],2]})", "input[1]", "invalid_type", "expected an array of integers"},
      {R"({"model":"m","input":[[1,"x"]]})", "input[0][1]", "invalid_type", "expected an integer"},
      {R"({"model":"m","input":[{"text":"a"}]})", "input[0]", "invalid_type", "got an object"},
      {R"({"model":"m","input":42})", "input", "invalid_type", "expected a string or an array, got a number"},
      {R"({"model":"m","input":null})", "input", "invalid_type", "got null"},
      {too_many, "input", "array_above_max_length", "maximum length 2048, but got an array with length 2049"},
      {R"({"model":"m","input":"x","encoding_format":"int8"})", "encoding_format", "invalid_value", "'float' and 'base64'"},
      {R"({"model":"m","input":"x","encoding_format":1})", "encoding_format", "invalid_type", "expected a string"},
      {R"({"model":"m","input":"x","dimensions":0})", "dimensions", "integer_below_min_value", "Expected a value >= 1"},
      {R"({"model":"m","input":"x","dimensions":"8"})", "dimensions", "invalid_type", "expected an integer"},
      {R"({"model":"m","input":"x","user":7})", "user", "invalid_type", "expected a string"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body.substr(0, 120));
    Error e = refused(c.body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.code, c.code);
    EXPECT_THAT(e.message, HasSubstr(c.says));
  }
  EXPECT_THAT(refused("{\"model\":").message, HasSubstr("Invalid JSON in request body at line 1"));
  EXPECT_THAT(refused("[1]").message, HasSubstr("expected a JSON object"));
}

TEST(EmbeddingsRequest, ExactlyTheLimitIsAccepted) {
  std::string body = R"({"model":"m","input":[)";
  for (std::size_t i = 0; i < embeddings::kMaxInputs; ++i) body += (i ? ",[1]" : "[1]");
  body += "]}";
  EXPECT_EQ(parsed(body).embedding->size(), embeddings::kMaxInputs);
}

// ---------------------------------------------------------------- render_request

TEST(EmbeddingsRequest, RenderedForAnOpenAIUpstream) {
  ChatRequest r = parsed(R"({"model":"client","input":"hi \"there\"","dimensions":64,"user":"u"})");
  r.model = "upstream-model";
  EXPECT_EQ(embeddings::render_request(r),
            R"({"model":"upstream-model","input":["hi \"there\""],"dimensions":64,"user":"u"})");

  ChatRequest t = parsed(R"({"model":"m","input":[[1,2],[3]],"encoding_format":"base64"})");
  EXPECT_EQ(embeddings::render_request(t), R"({"model":"m","input":[[1,2],[3]],"encoding_format":"base64"})");

  // Members of another API are not forwarded.
  t.source_api = Api::OpenAIChat;
  t.extra.emplace_back("messages_only", "1");
  EXPECT_THAT(embeddings::render_request(t), ::testing::Not(HasSubstr("messages_only")));
}

// ---------------------------------------------------------------- render_response

ChatResponse two_vectors() {
  ChatResponse response;
  response.embeddings = {{0.5f, -0.25f, 1e-7f, 0.1f}, {1.0f, 0.0f, -3.5f, 0.33333334f}};
  Usage usage;
  usage.input_tokens = 7;
  response.usage = usage;
  response.finish = FinishReason::Stop;
  return response;
}

TEST(EmbeddingsResponse, FloatAnswerInOpenAIsShape) {
  const std::string body = embeddings::render_response(two_vectors(), {"text-embedding-3-small"}, false);
  EXPECT_EQ(body,
            R"({"object":"list","data":[)"
            R"({"object":"embedding","index":0,"embedding":[0.5,-0.25,1e-07,0.1]},)"
            R"({"object":"embedding","index":1,"embedding":[1,0,-3.5,0.33333334]}],)"
            R"("model":"text-embedding-3-small","usage":{"prompt_tokens":7,"total_tokens":7}})");
  // Every number reads back as the same float32.
  auto doc = parse_json(body);
  const auto& second = doc["data"][1]["embedding"];
  EXPECT_EQ(static_cast<float>(second[3].GetDouble()), 0.33333334f);
}

TEST(EmbeddingsResponse, Base64IsLittleEndianFloat32) {
  const std::string body = embeddings::render_response(two_vectors(), {"m"}, true);
  auto doc = parse_json(body);
  ASSERT_TRUE(doc["data"][0]["embedding"].IsString()) << body;
  // 0.5f = 0x3F000000, -0.25f = 0xBE800000: bytes 00 00 00 3F 00 00 80 BE.
  std::vector<float> first = {0.5f, -0.25f};
  EXPECT_EQ(embeddings::encode_base64(first), "AAAAPwAAgL4=");
  for (int i = 0; i < 2; ++i) {
    auto decoded = embeddings::decode_base64(doc["data"][i]["embedding"].GetString());
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, two_vectors().embeddings[static_cast<std::size_t>(i)]);
  }
  EXPECT_EQ(doc["model"].GetString(), std::string("m"));
  EXPECT_EQ(doc["usage"]["total_tokens"].GetInt(), 7);
}

TEST(EmbeddingsResponse, Base64RoundTripsAnyLengthAndRefusesGarbage) {
  for (std::size_t n = 0; n < 8; ++n) {
    std::vector<float> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back(static_cast<float>(i) * 0.37f - 1.0f);
    auto back = embeddings::decode_base64(embeddings::encode_base64(v));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, v);
  }
  EXPECT_FALSE(embeddings::decode_base64("AAAA!AAA"));
  EXPECT_FALSE(embeddings::decode_base64("AAAAPwAA"));  // 6 bytes: a cut float
  EXPECT_FALSE(embeddings::decode_base64("A"));
  EXPECT_TRUE(embeddings::decode_base64("AAAAPw"));  // unpadded is fine
}

TEST(EmbeddingsResponse, PassThroughBodyIsReturnedAsIs) {
  ChatResponse response;
  response.raw = R"({"object":"list","data":[],"model":"x"})";
  EXPECT_EQ(embeddings::render_response(response, {"m"}, true), response.raw);
}

TEST(EmbeddingsResponse, RestoreModelRenamesTheListsModel) {
  const std::string body =
      R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],)"
      R"("model":"text-embedding-3-small-upstream","usage":{"prompt_tokens":2,"total_tokens":2}})";
  std::string out;
  restore_model(Api::OpenAIEmbeddings, body, "my-embedder", out);
  std::string expected = body;
  expected.replace(expected.find("text-embedding-3-small-upstream"), 31, "my-embedder");
  EXPECT_EQ(out, expected);
}

TEST(EmbeddingsResponse, ErrorsInOpenAIsShape) {
  Error e = Error::invalid_request("Invalid 'input': empty string.", "input", "empty_string");
  auto doc = parse_json(embeddings::render_error(e));
  EXPECT_EQ(doc["error"]["param"].GetString(), std::string("input"));
  EXPECT_EQ(doc["error"]["type"].GetString(), std::string("invalid_request_error"));
  EXPECT_EQ(doc["error"]["code"].GetString(), std::string("empty_string"));
}

// ---------------------------------------------------------------- parse_response

// What api.openai.com answers (trimmed vectors).
const char* const kUpstreamFloat =
    R"({"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.25,-1]},)"
    R"({"object":"embedding","index":0,"embedding":[-0.0069292835,0.5]}],)"
    R"("model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}})";

TEST(EmbeddingsUpstream, FloatListBecomesEventsByIndex) {
  std::vector<Event> events;
  ASSERT_FALSE(embeddings::parse_response(kUpstreamFloat, events));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, Event::Kind::Embedding);
  EXPECT_EQ(events[0].index, 1);
  EXPECT_THAT(events[0].embedding, ElementsAre(0.25f, -1.0f));
  EXPECT_EQ(events[1].index, 0);
  EXPECT_THAT(events[1].embedding, ElementsAre(-0.0069292835f, 0.5f));
  EXPECT_EQ(events[2].kind, Event::Kind::Usage);
  EXPECT_EQ(events[2].usage.input_tokens, 5);
  EXPECT_EQ(events[3].kind, Event::Kind::Finish);
}

TEST(EmbeddingsUpstream, Base64ListIsDecoded) {
  const std::string body = R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":"AAAAPwAAgL4="}],)"
                           R"("model":"m","usage":{"prompt_tokens":1,"total_tokens":1}})";
  std::vector<Event> events;
  ASSERT_FALSE(embeddings::parse_response(body, events));
  ASSERT_GE(events.size(), 1u);
  EXPECT_THAT(events[0].embedding, ElementsAre(0.5f, -0.25f));
}

TEST(EmbeddingsUpstream, ErrorsAndBrokenAnswers) {
  std::vector<Event> events;
  auto error = embeddings::parse_response(
      R"({"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","param":null,"code":null}})",
      events);
  ASSERT_TRUE(error);
  EXPECT_THAT(error->message, HasSubstr("maximum context length"));
  EXPECT_EQ(error->type, "invalid_request_error");
  for (const char* broken : {"{\"object\":\"list\"}", "[1]", "{\"data\":[{\"index\":0}]}",
                             "{\"data\":[{\"index\":0,\"embedding\":[\"x\"]}]}",
                             "{\"data\":[{\"index\":0,\"embedding\":\"!!\"}]}", "{\"data\":[{\"index\":-1,\"embedding\":[]}]}",
                             "{\"data\":"}) {
    SCOPED_TRACE(broken);
    events.clear();
    auto e = embeddings::parse_response(broken, events);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->status, 502);
    EXPECT_TRUE(events.empty());
  }
}

}  // namespace
}  // namespace llmux
