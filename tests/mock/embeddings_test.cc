// The mock's embeddings (plugins/mock/embeddings.h): deterministic unit
// vectors in which equal texts are equal and similar texts are closer than
// unrelated ones; the plan of an embeddings call.
#include "embeddings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "mock_provider.h"

namespace llmux::mock {
namespace {

using ::testing::HasSubstr;

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double sum = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

// Unit vectors: the cosine similarity is the dot product.
double cosine(std::string_view a, std::string_view b, std::size_t dimensions = 768) {
  return dot(embed_text(a, dimensions), embed_text(b, dimensions));
}

TEST(MockEmbeddings, UnitVectorsOfTheAskedLength) {
  for (std::size_t dimensions : {1u, 8u, 256u, 1536u}) {
    for (const char* text : {"a", "hello world", "naïve café — ünïcödé", "!!!"}) {
      auto v = embed_text(text, dimensions);
      ASSERT_EQ(v.size(), dimensions);
      EXPECT_NEAR(dot(v, v), 1.0, 1e-5) << text;
    }
  }
  std::vector<std::int64_t> ids = {15339, 1917, 0, 42};
  auto t = embed_tokens(ids, 64);
  ASSERT_EQ(t.size(), 64u);
  EXPECT_NEAR(dot(t, t), 1.0, 1e-5);
}

TEST(MockEmbeddings, EqualTextsGiveEqualVectorsCaseAndPunctuationAside) {
  EXPECT_EQ(embed_text("The cat sat on the mat.", 512), embed_text("The cat sat on the mat.", 512));
  EXPECT_EQ(embed_text("Hello, World!", 512), embed_text("hello   world", 512));
  EXPECT_NE(embed_text("hello world", 512), embed_text("hello there", 512));
  std::vector<std::int64_t> ids = {1, 2, 3};
  EXPECT_EQ(embed_tokens(ids, 32), embed_tokens(ids, 32));
  std::vector<std::int64_t> other = {3, 2, 1};
  EXPECT_NE(embed_tokens(ids, 32), embed_tokens(other, 32));
}

TEST(MockEmbeddings, SimilarTextsAreCloserThanUnrelatedOnes) {
  const char* fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_GT(cosine(fox, "A quick brown fox jumped over the lazy dogs"),
            cosine(fox, "Quarterly revenue grew in the third fiscal period"));
  EXPECT_GT(cosine("How do I reset my password?", "password reset instructions"),
            cosine("How do I reset my password?", "best pizza toppings in Naples"));
  EXPECT_GT(cosine("embedding vectors for retrieval", "retrieval with embedding vectors"), 0.5);
  EXPECT_LT(std::fabs(cosine("apples and oranges", "kernel scheduler latency")), 0.3);
  // Holds in a small space too.
  EXPECT_GT(cosine(fox, "the lazy dog and the quick fox", 64), cosine(fox, "stock market report", 64));
}

TEST(MockEmbeddings, DefaultDimensionsFollowTheModelName) {
  EXPECT_EQ(default_embedding_dimensions("text-embedding-3-small"), 1536u);
  EXPECT_EQ(default_embedding_dimensions("text-embedding-3-large"), 3072u);
  EXPECT_EQ(default_embedding_dimensions("text-embedding-ada-002"), 1536u);
  EXPECT_EQ(default_embedding_dimensions("nomic-embed-text:latest"), 768u);
  EXPECT_EQ(default_embedding_dimensions("mxbai-embed-large"), 1024u);
  EXPECT_EQ(default_embedding_dimensions("all-minilm"), 384u);
  EXPECT_EQ(default_embedding_dimensions("mock"), kDefaultEmbeddingDimensions);
}

TEST(MockEmbeddings, TokenEstimate) {
  EmbeddingInput texts;
  texts.texts = {"abcd", "abcde", "é"};
  EXPECT_EQ(embedding_input_tokens(texts), 1 + 2 + 1);
  EmbeddingInput ids;
  ids.tokens = {{1, 2, 3}, {4}};
  EXPECT_EQ(embedding_input_tokens(ids), 4);
}

ChatRequest embedding_request(std::string model, std::vector<std::string> texts, std::optional<std::int64_t> dimensions = {}) {
  ChatRequest r;
  r.model = std::move(model);
  r.source_api = Api::OpenAIEmbeddings;
  r.embedding.emplace();
  r.embedding->texts = std::move(texts);
  r.embedding->dimensions = dimensions;
  return r;
}

std::vector<Event> events_of(const Plan& plan) {
  std::vector<Event> out;
  for (const auto& step : plan.steps) out.insert(out.end(), step.events.begin(), step.events.end());
  return out;
}

TEST(MockEmbeddingsPlan, OneVectorPerInputThenUsageAndFinish) {
  MockOptions options;
  auto events = events_of(make_plan(options, embedding_request("text-embedding-3-small", {"one", "two words"})));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, Event::Kind::Embedding);
  EXPECT_EQ(events[0].index, 0);
  EXPECT_EQ(events[0].embedding.size(), 1536u);
  EXPECT_EQ(events[0].embedding, embed_text("one", 1536));
  EXPECT_EQ(events[1].index, 1);
  EXPECT_EQ(events[2].kind, Event::Kind::Usage);
  EXPECT_EQ(events[2].usage.input_tokens, 1 + 3);
  EXPECT_EQ(events[3].kind, Event::Kind::Finish);

  auto sized = events_of(make_plan(options, embedding_request("mock", {"x"}, 12)));
  EXPECT_EQ(sized[0].embedding.size(), 12u);

  ChatRequest ids = embedding_request("mock", {});
  ids.embedding->tokens = {{1, 2}, {3}};
  auto by_ids = events_of(make_plan(options, ids));
  ASSERT_EQ(by_ids.size(), 4u);
  EXPECT_EQ(by_ids[1].embedding, embed_tokens(std::vector<std::int64_t>{3}, kDefaultEmbeddingDimensions));
  EXPECT_EQ(by_ids[2].usage.input_tokens, 3);
}

TEST(MockEmbeddingsPlan, FaultsAndLimits) {
  MockOptions options;
  auto failed = events_of(make_plan(options, embedding_request("mock", {"fine", "[[mock:fail=503]]"})));
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].kind, Event::Kind::Error);
  EXPECT_EQ(failed[0].error.status, 503);

  options.fail_status = 429;
  auto limited = events_of(make_plan(options, embedding_request("mock", {"x"})));
  ASSERT_EQ(limited.size(), 1u);
  EXPECT_EQ(limited[0].error.status, 429);

  MockOptions plain;
  auto too_big = events_of(make_plan(plain, embedding_request("mock", {"x"}, kMaxEmbeddingDimensions + 1)));
  ASSERT_EQ(too_big.size(), 1u);
  EXPECT_EQ(too_big[0].error.status, 400);
  EXPECT_EQ(too_big[0].error.param, "dimensions");
  EXPECT_THAT(too_big[0].error.message, HasSubstr("at most 16384"));
}

}  // namespace
}  // namespace llmux::mock
