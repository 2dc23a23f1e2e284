// The legacy Completions codec (llmux/codec/completions.h): requests in (with
// their chat form), text_completion answers out (whole and streamed), requests
// to and answers from an upstream /v1/completions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "llmux/codec/completions.h"
#include "llmux/codec/openai.h"
#include "llmux/codec/raw_answer.h"
#include "llmux/json.h"
#include "sdk/codec_test_util.h"

namespace llmux {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ChatRequest parsed(const std::string& body) {
  ChatRequest r;
  auto error = completions::parse_request(body, r);
  EXPECT_FALSE(error) << (error ? error->message : "");
  return r;
}

Error refused(const std::string& body) {
  ChatRequest r;
  auto error = completions::parse_request(body, r);
  EXPECT_TRUE(error) << body;
  return error.value_or(Error{});
}

rapidjson::Document doc_of(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

Usage usage(std::int64_t input, std::int64_t output) {
  Usage u;
  u.input_tokens = input;
  u.output_tokens = output;
  return u;
}

const completions::ResponseMeta kMeta{"cmpl-abc", "gpt-3.5-turbo-instruct", 1700000000};

// ---------------------------------------------------------------- requests

TEST(CompletionsRequest, PromptSuffixAndSamplingAreModeled) {
  ChatRequest r = parsed(R"j({"model":"gpt-3.5-turbo-instruct","prompt":"def add(a, b):\n    ","suffix":"\n\nprint(add(1, 2))",)j"
                         R"("max_tokens":32,"temperature":0.2,"top_p":0.9,"stop":"\n\n","seed":7,)"
                         R"("frequency_penalty":0.1,"presence_penalty":0.3,"stream":true,)"
                         R"("stream_options":{"include_usage":true},"n":1,"echo":false,"logprobs":2,"best_of":1,"user":"u"})");
  EXPECT_EQ(r.source_api, Api::OpenAICompletions);
  EXPECT_EQ(r.operation(), Operation::Completion);
  EXPECT_EQ(r.model, "gpt-3.5-turbo-instruct");
  ASSERT_TRUE(r.completion);
  EXPECT_EQ(r.completion->prompt, "def add(a, b):\n    ");
  EXPECT_EQ(r.completion->suffix, "\n\nprint(add(1, 2))");
  EXPECT_EQ(r.sampling.max_tokens, 32);
  EXPECT_EQ(r.sampling.temperature, 0.2);
  EXPECT_EQ(r.sampling.top_p, 0.9);
  EXPECT_EQ(r.sampling.seed, 7);
  EXPECT_EQ(r.sampling.frequency_penalty, 0.1);
  EXPECT_EQ(r.sampling.presence_penalty, 0.3);
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"\n\n"});
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  std::vector<std::string> extra;
  for (const auto& [name, value] : r.extra) extra.push_back(name + "=" + value);
  EXPECT_EQ(extra, (std::vector<std::string>{"n=1", "echo=false", "logprobs=2", "best_of=1", "user=\"u\""}));
}

TEST(CompletionsRequest, MaxTokensDefaultsToSixteenAsOpenAI) {
  ChatRequest r = parsed(R"({"model":"m","prompt":"Once upon a time"})");
  EXPECT_EQ(r.sampling.max_tokens, 16);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  ASSERT_TRUE(r.completion);
  EXPECT_EQ(r.completion->suffix, "");
  EXPECT_EQ(parsed(R"({"model":"m","prompt":"x","max_tokens":null})").sampling.max_tokens, 16);
  EXPECT_EQ(parsed(R"({"model":"m","prompt":"x","max_tokens":0})").sampling.max_tokens, 0);
}

TEST(CompletionsRequest, TheChatFormAsksForTheTextAtTheCursorWithPrefixAndSuffixDelimited) {
  ChatRequest r = parsed(R"({"model":"m","prompt":"int main() {\n  ","suffix":"\n}\n"})");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, Role::System);
  const std::string system = r.messages[0].text();
  EXPECT_THAT(system, HasSubstr("completion engine"));
  EXPECT_THAT(system, HasSubstr("only the text that belongs at the cursor"));
  EXPECT_THAT(system, HasSubstr("code fences"));
  EXPECT_THAT(system, HasSubstr("never repeat"));
  EXPECT_EQ(r.messages[1].role, Role::User);
  const std::string user = r.messages[1].text();
  EXPECT_THAT(user, HasSubstr("<prefix>int main() {\n  </prefix>"));
  EXPECT_THAT(user, HasSubstr("<suffix>\n}\n</suffix>"));
  EXPECT_EQ(r.last_user_text(), user);

  ChatRequest plain = parsed(R"({"model":"m","prompt":"The quick brown fox"})");
  ASSERT_EQ(plain.messages.size(), 2u);
  EXPECT_THAT(plain.messages[1].text(), HasSubstr("Continue the text"));
  EXPECT_THAT(plain.messages[1].text(), HasSubstr("<prefix>The quick brown fox</prefix>"));
  EXPECT_THAT(plain.messages[1].text(), Not(HasSubstr("<suffix>")));
}

TEST(CompletionsRequest, AListWithOnePromptIsFine) {
  ChatRequest r = parsed(R"({"model":"m","prompt":["hello"],"stop":["a","b"],"suffix":null})");
  ASSERT_TRUE(r.completion);
  EXPECT_EQ(r.completion->prompt, "hello");
  EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"a", "b"}));
}

TEST(CompletionsRequest, SeveralPromptsAreRefusedOneRequestPerPrompt) {
  Error e = refused(R"({"model":"m","prompt":["a","b"]})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, "prompt");
  EXPECT_THAT(e.message, HasSubstr("one request per prompt"));
}

TEST(CompletionsRequest, TokenPromptsAreRefused) {
  for (const char* body : {R"({"model":"m","prompt":[1,2,3]})", R"({"model":"m","prompt":[[1,2],[3]]})"}) {
    Error e = refused(body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "prompt");
    EXPECT_THAT(e.message, HasSubstr("token"));
  }
}

TEST(CompletionsRequest, WrongOrMissingFieldsNameTheirParam) {
  EXPECT_EQ(refused(R"({"model":"m"})").param, "prompt");
  EXPECT_EQ(refused(R"({"model":"m"})").code, "missing_required_parameter");
  EXPECT_EQ(refused(R"({"prompt":"x"})").param, "model");
  EXPECT_EQ(refused(R"({"model":"m","prompt":[]})").param, "prompt");
  EXPECT_EQ(refused(R"({"model":"m","prompt":null})").param, "prompt");
  EXPECT_EQ(refused(R"({"model":"m","prompt":"x","suffix":3})").param, "suffix");
  EXPECT_EQ(refused(R"({"model":"m","prompt":"x","max_tokens":-1})").param, "max_tokens");
  EXPECT_EQ(refused(R"({"model":"m","prompt":"x","max_tokens":1.5})").param, "max_tokens");
  EXPECT_EQ(refused(R"({"model":"m","prompt":"x","stop":[1]})").param, "stop[0]");
  EXPECT_EQ(refused(R"({"model":"m","prompt":"x","stream":"yes"})").param, "stream");
  EXPECT_EQ(refused(R"({"model":"m","prompt":"x","stream_options":{"include_usage":1}})").param,
            "stream_options.include_usage");
  Error syntax = refused(R"({"model":"m","prompt":)");
  EXPECT_EQ(syntax.status, 400);
  EXPECT_THAT(syntax.message, HasSubstr("line 1"));
}

TEST(CompletionsRequest, RenderedForAnUpstreamCompletionsEndpoint) {
  ChatRequest r = parsed(R"({"model":"m","prompt":"a\"b","suffix":"c","max_tokens":5,"temperature":0.5,)"
                         R"("stop":"\n","stream":true,"echo":true,"logit_bias":{"50256":-100}})");
  r.model = "upstream-model";
  const std::string body = completions::render_request(r, {.force_usage = true});
  EXPECT_EQ(body,
            R"({"model":"upstream-model","prompt":"a\"b","suffix":"c","max_tokens":5,"temperature":0.5,)"
            R"("stop":["\n"],"stream":true,"stream_options":{"include_usage":true},"echo":true,)"
            R"("logit_bias":{"50256":-100}})");
  r.stream = false;
  EXPECT_THAT(completions::render_request(r), Not(HasSubstr("\"stream")));
}

TEST(CompletionsRequest, TheChatFormToAChatUpstreamLeavesTheCompletionOnlyMembersOut) {
  ChatRequest r = parsed(R"({"model":"m","prompt":"p","suffix":"s","n":2,"echo":true,"logprobs":3,)"
                         R"("best_of":2,"user":"u-1"})");
  const std::string body = openai::render_chat_request(r);
  rapidjson::Document doc = doc_of(body);
  EXPECT_TRUE(doc.HasMember("messages"));
  EXPECT_EQ(doc["messages"].Size(), 2u);
  EXPECT_EQ(doc["max_tokens"].GetInt(), 16);
  EXPECT_EQ(std::string(doc["user"].GetString()), "u-1");  // means the same in chat
  for (const char* gone : {"prompt", "suffix", "n", "echo", "logprobs", "best_of"}) {
    EXPECT_FALSE(doc.HasMember(gone)) << gone << " in " << body;
  }
}

// ---------------------------------------------------------------- answers to the client

TEST(CompletionsAnswer, WholeTextCompletionShape) {
  ChatResponse response;
  response.text = "    return a + b";
  response.reasoning = "dropped";
  response.finish = FinishReason::Length;
  response.usage = usage(12, 5);
  response.usage->cache_read_tokens = 3;
  EXPECT_EQ(completions::render_completion(response, kMeta),
            R"({"id":"cmpl-abc","object":"text_completion","created":1700000000,"model":"gpt-3.5-turbo-instruct",)"
            R"("choices":[{"text":"    return a + b","index":0,"logprobs":null,"finish_reason":"length"}],)"
            R"("usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}})");
  ChatResponse stop;
  stop.finish = FinishReason::StopSequence;
  EXPECT_THAT(completions::render_completion(stop, kMeta), HasSubstr(R"("text":"","index":0,"logprobs":null,"finish_reason":"stop")"));
  ChatResponse raw;
  raw.raw = R"({"object":"text_completion"})";
  EXPECT_EQ(completions::render_completion(raw, kMeta), raw.raw);
}

std::string render_all(const std::vector<Event>& events, bool include_usage) {
  completions::ChunkRenderer renderer(kMeta, include_usage);
  std::string out;
  for (const Event& e : events) renderer.render(e, out);
  return out;
}

const std::string kPrefix =
    R"(data: {"id":"cmpl-abc","object":"text_completion","created":1700000000,"model":"gpt-3.5-turbo-instruct",)";

TEST(CompletionsAnswer, StreamedChunksThenFinishThenUsageThenDone) {
  const std::vector<Event> events = {Event::role(),
                                     Event::usage_report(usage(4, 0)),
                                     Event::reasoning_delta("hmm"),
                                     Event::text_delta("Hel"),
                                     Event::text_delta("lo\n"),
                                     Event::usage_report(usage(4, 2)),
                                     Event::finished(FinishReason::Stop)};
  const std::string expected =
      kPrefix + R"("choices":[{"text":"Hel","index":0,"logprobs":null,"finish_reason":null}]})" + "\n\n" +
      kPrefix + R"("choices":[{"text":"lo\n","index":0,"logprobs":null,"finish_reason":null}]})" + "\n\n" +
      kPrefix + R"("choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}]})" + "\n\n" +
      kPrefix + R"("choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}})" + "\n\n" +
      "data: [DONE]\n\n";
  EXPECT_EQ(render_all(events, true), expected);
  std::string without = render_all(events, false);
  EXPECT_THAT(without, Not(HasSubstr("usage")));
  EXPECT_THAT(without, HasSubstr(R"("finish_reason":"stop"}]})" "\n\ndata: [DONE]\n\n"));
}

TEST(CompletionsAnswer, ErrorMidStreamIsAnErrorObjectThenDone) {
  std::string out = render_all({Event::text_delta("x"), Event::failed(Error::upstream(502, "cut")),
                                Event::text_delta("after")},
                               true);
  EXPECT_THAT(out, HasSubstr("data: {\"error\":{\"message\":\"cut\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"
                             "data: [DONE]\n\n"));
  EXPECT_THAT(out, Not(HasSubstr("after")));
}

TEST(CompletionsAnswer, RawFramesAreWrittenAsTheyAreAndFinishAddsNothing) {
  const std::string frames = "data: {\"object\":\"text_completion\",\"choices\":[{\"text\":\"a\"}]}\n\ndata: [DONE]\n\n";
  EXPECT_EQ(render_all({Event::raw(frames), Event::usage_report(usage(1, 1)), Event::finished(FinishReason::Stop)}, true),
            frames);
}

TEST(CompletionsAnswer, RestoreModelTreatsTextCompletionLikeOpenAIChat) {
  std::string out;
  restore_model(Api::OpenAICompletions,
                "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"up\",\"choices\":[]}\n\ndata: [DONE]\n\n",
                "client-model", out);
  EXPECT_EQ(out,
            "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"client-model\",\"choices\":[]}\n\n"
            "data: [DONE]\n\n");
  out.clear();
  restore_model(Api::OpenAICompletions, R"({"model":"up","object":"text_completion"})", "c", out);
  EXPECT_EQ(out, R"({"model":"c","object":"text_completion"})");
}

// ---------------------------------------------------------------- upstream answers

TEST(CompletionsUpstream, WholeBodyBecomesEvents) {
  std::vector<Event> events;
  auto error = completions::parse_completion(
      R"({"id":"cmpl-8","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct",)"
      R"("choices":[{"text":" jumps over","index":0,"logprobs":null,"finish_reason":"length"}],)"
      R"("usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}})",
      events);
  ASSERT_FALSE(error);
  ChatResponse r = testing::collect(events);
  EXPECT_EQ(r.text, " jumps over");
  EXPECT_EQ(r.finish, FinishReason::Length);
  ASSERT_TRUE(r.usage);
  EXPECT_EQ(r.usage->input_tokens, 5);
  EXPECT_EQ(r.usage->output_tokens, 3);
  EXPECT_EQ(events.front().kind, Event::Kind::Role);
}

TEST(CompletionsUpstream, ErrorsAndGarbage) {
  std::vector<Event> events;
  auto error = completions::parse_completion(
      R"({"error":{"message":"bad prompt","type":"invalid_request_error","param":"prompt","code":null}})", events);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "bad prompt");
  EXPECT_EQ(error->param, "prompt");
  EXPECT_TRUE(completions::parse_completion("not json", events));
  EXPECT_TRUE(completions::parse_completion(R"({"choices":[]})", events));
}

TEST(CompletionsUpstream, ChunksBecomeEventsWithUsageBeforeFinish) {
  completions::ChunkParser parser;
  std::vector<Event> events;
  const auto emit = [&](Event e) { events.push_back(std::move(e)); };
  for (const char* data :
       {R"({"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":"Hel","index":0,"logprobs":null,"finish_reason":null}],"model":"m"})",
        R"({"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":"lo","index":0,"logprobs":null,"finish_reason":null}],"model":"m"})",
        R"({"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"model":"m"})",
        R"({"id":"cmpl-1","object":"text_completion","created":1,"choices":[],"model":"m","usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})",
        "[DONE]"}) {
    ASSERT_FALSE(parser.feed(data, emit)) << data;
  }
  EXPECT_TRUE(parser.saw_done());
  EXPECT_FALSE(parser.finish(emit));
  using K = Event::Kind;
  std::vector<K> kinds;
  for (const auto& e : events) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<K>{K::Role, K::TextDelta, K::TextDelta, K::Usage, K::Finish}));
  EXPECT_EQ(events.back().finish, FinishReason::Length);
  EXPECT_EQ(events[3].usage.output_tokens, 2);
}

TEST(CompletionsUpstream, ChunkErrorsAndAnEndWithoutFinish) {
  completions::ChunkParser parser;
  const auto emit = [](Event) {};
  auto error = parser.feed(R"({"error":{"message":"overloaded","type":"server_error","code":"503"}})", emit);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "overloaded");
  completions::ChunkParser garbage;
  EXPECT_TRUE(garbage.feed("{nope", emit));
  completions::ChunkParser cut;
  ASSERT_FALSE(cut.feed(R"({"choices":[{"text":"a","index":0,"finish_reason":null}]})", emit));
  EXPECT_TRUE(cut.finish(emit));
}

}  // namespace
}  // namespace llmux
