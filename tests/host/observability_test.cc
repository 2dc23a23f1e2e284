// The operator's view over real loopback sockets: Prometheus metrics read from
// the request context (requests, tokens, attempts, fallbacks, TTFT, active
// streams, provider state), the cardinality guard (random model names never
// grow the series), and the JSON access log (fields, no secrets, reopening).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include <rapidjson/document.h>

#include "observability/access_log.h"
#include "observability/request_context.h"
#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char* kConfig = R"(
providers:
  mock:
    plugin: mock
  broken:
    plugin: mock
    options: {fail_status: 503}
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
routes:
  "gpt-*":
    chain: [mock]
    models: [gpt-4o]
  "claude-*": [mock]
  fallback-model: [broken, mock]
default: [mock]
)";

// The value of one series in a Prometheus text exposition, or -1.
double series(const std::string& exposition, const std::string& name_and_labels) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name_and_labels + " ", 0) == 0) return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return -1;
}

// Series of `name`, leaving out the scrapes' own (a scrape is counted once it
// has answered, so the one before may or may not be in).
std::size_t count_series(const std::string& exposition, const std::string& name) {
  std::size_t n = 0;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(R"(api="metrics")") != std::string::npos) continue;
    if (line.rfind(name + "{", 0) == 0 || line.rfind(name + " ", 0) == 0) ++n;
  }
  return n;
}

std::string scrape(TestGateway& gw) {
  HttpClient client;
  auto r = client.get(gw.url("/metrics"));
  EXPECT_EQ(r.status, 200) << r.body;
  return r.body;
}

// Requests end on the thread that writes their last byte, possibly just after
// the client has read it: poll the figure instead of assuming it is there.
template <class Predicate>
std::string scrape_until(TestGateway& gw, Predicate ready) {
  std::string text;
  for (int i = 0; i < 1000; ++i) {  // bounded: 5 s
    text = scrape(gw);
    if (ready(text)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return text;
}

TEST(Metrics, RequestsTokensAttemptsAndTtftComeFromTheRequestContext) {
  TestGateway gw(kConfig);
  HttpClient client;
  ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hello there")).status, 200);
  ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hello again", true)).status, 200);
  RequestOptions anthropic;
  anthropic.headers = {"anthropic-version: 2023-06-01"};
  ASSERT_EQ(client
                .post(gw.url("/v1/messages"),
                      R"({"model":"claude-x","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"yo"}]})",
                      anthropic)
                .status,
            200);
  ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), "{broken").status, 400);

  std::string m = scrape_until(gw, [](const std::string& t) {
    return series(t, R"(llmux_requests_total{api="anthropic.messages",provider="mock",route="claude-*",status="200"})") == 1;
  });
  EXPECT_EQ(series(m, R"(llmux_requests_total{api="openai.chat",provider="mock",route="gpt-*",status="200"})"), 2) << m;
  EXPECT_EQ(series(m, R"(llmux_requests_total{api="openai.chat",provider="none",route="none",status="400"})"), 1) << m;
  EXPECT_GT(series(m, R"(llmux_tokens_total{direction="output",model="gpt-4o",provider="mock"})"), 0) << m;
  EXPECT_GT(series(m, R"(llmux_tokens_total{direction="input",model="gpt-4o",provider="mock"})"), 0) << m;
  // "claude-x" is not a concrete name the table knows: its label is bounded.
  EXPECT_GT(series(m, R"(llmux_tokens_total{direction="output",model="other",provider="mock"})"), 0) << m;
  EXPECT_EQ(series(m, R"(llmux_upstream_attempts_total{outcome="ok",provider="mock"})"), 3) << m;
  // Two streams had a first token; the non-streamed answer has none.
  EXPECT_EQ(series(m, R"(llmux_time_to_first_token_seconds_count{api="openai.chat",provider="mock"})"), 1) << m;
  EXPECT_EQ(series(m, R"(llmux_time_to_first_token_seconds_count{api="anthropic.messages",provider="mock"})"), 1) << m;
  EXPECT_EQ(series(m, R"(llmux_request_duration_seconds_count{api="openai.chat",route="gpt-*"})"), 2) << m;
  EXPECT_EQ(series(m, "llmux_active_streams"), 0) << m;
  EXPECT_EQ(series(m, "llmux_active_requests"), 1) << m;  // the scrape itself
  EXPECT_EQ(series(m, R"(llmux_provider_state{provider="mock",state="up"})"), 1) << m;
  EXPECT_EQ(series(m, R"(llmux_provider_state{provider="mock",state="cooldown"})"), 0) << m;
  EXPECT_GT(series(m, "process_resident_memory_bytes"), 0) << m;
  EXPECT_GT(series(m, "process_open_fds"), 0) << m;
  EXPECT_THAT(m, HasSubstr("# TYPE llmux_requests_total counter"));
  EXPECT_THAT(m, HasSubstr("# TYPE llmux_request_duration_seconds histogram"));
}

TEST(Metrics, FallbacksAndFailedAttemptsAreCounted) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("fallback-model", "hi"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  std::string m = scrape_until(gw, [](const std::string& t) {
    return series(t, R"(llmux_fallbacks_total{from="broken",to="mock"})") == 1;
  });
  EXPECT_EQ(series(m, R"(llmux_fallbacks_total{from="broken",to="mock"})"), 1) << m;
  EXPECT_EQ(series(m, R"(llmux_upstream_attempts_total{outcome="error",provider="broken"})"), 1) << m;
  EXPECT_EQ(series(m, R"(llmux_requests_total{api="openai.chat",provider="mock",route="fallback-model",status="200"})"),
            1)
      << m;
}

// Regression (issue: label values must be bounded): 10,000 requests with
// random model names create no new series.
TEST(Metrics, RandomModelNamesDoNotGrowTheSeries) {
  TestGateway gw(kConfig);
  HttpClient client;
  ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("warm-up", "x")).status, 200);
  std::string before = scrape_until(gw, [](const std::string& t) {
    return series(t, R"(llmux_requests_total{api="openai.chat",provider="mock",route="default",status="200"})") == 1;
  });
  std::mt19937_64 rng(42);
  for (int i = 0; i < 10000; ++i) {
    std::string model = "m-" + std::to_string(rng()) + "-" + std::to_string(i);
    ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body(model, "x")).status, 200) << model;
  }
  std::string after = scrape_until(gw, [](const std::string& t) {
    return series(t, R"(llmux_requests_total{api="openai.chat",provider="mock",route="default",status="200"})") ==
           10001;
  });
  EXPECT_EQ(series(after, R"(llmux_requests_total{api="openai.chat",provider="mock",route="default",status="200"})"),
            10001);
  for (const char* name : {"llmux_requests_total", "llmux_tokens_total", "llmux_upstream_attempts_total",
                           "llmux_request_duration_seconds_bucket", "llmux_time_to_first_token_seconds_bucket"}) {
    EXPECT_EQ(count_series(after, name), count_series(before, name)) << name;
  }
  EXPECT_THAT(after, Not(HasSubstr("m-")));
}

TEST(Metrics, ClientAbortEndsTheStreamGauge) {
  TestGateway gw(kConfig);
  HttpClient client;
  RequestOptions options;
  options.on_data = [](const std::string&) { return false; };  // leave after the first piece
  client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "[[mock:stall=1]] wait forever", true), options);
  std::string m = scrape_until(gw, [](const std::string& t) {
    return series(t, R"(llmux_requests_total{api="openai.chat",provider="mock",route="gpt-*",status="200"})") == 1;
  });
  EXPECT_EQ(series(m, "llmux_active_streams"), 0) << m;
  EXPECT_EQ(series(m, R"(llmux_upstream_attempts_total{outcome="cancelled",provider="mock"})"), 1) << m;
}

TEST(Metrics, ConfigReloadsAreCountedByResult) {
  TestGateway gw(kConfig);
  ASSERT_TRUE(gw.rewrite_and_reload(kConfig));
  EXPECT_FALSE(gw.rewrite_and_reload("providers: [nonsense"));
  std::string m = scrape(gw);
  EXPECT_EQ(series(m, R"(llmux_config_reloads_total{result="ok"})"), 1) << m;
  EXPECT_EQ(series(m, R"(llmux_config_reloads_total{result="error"})"), 1) << m;
}

TEST(Metrics, OffMeansNoEndpoint) {
  TestGateway gw(std::string(kConfig) + "metrics: {enabled: false}\n");
  HttpClient client;
  EXPECT_EQ(client.get(gw.url("/metrics")).status, 404);
  // Nothing is recorded either: turned back on, the counters start from zero.
  ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "x")).status, 200);
  ASSERT_TRUE(gw.rewrite_and_reload(kConfig));
  std::string m = scrape(gw);
  EXPECT_EQ(series(m, R"(llmux_requests_total{api="openai.chat",provider="mock",route="gpt-*",status="200"})"), -1) << m;
}

// ------------------------------------------------------------------ access log

std::vector<std::string> read_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(AccessLog, OneJsonLinePerRequestWithTheDocumentedFieldsAndNoSecret) {
  TempDir dir;
  const std::string secret = "k-secret-client-0001";
  TestGateway gw(std::string(kConfig) + "client_keys: [{key: " + secret + ", label: alice}]\naccess_log: " +
                 (dir.path() / "access.log").string() + "\n");
  HttpClient client;
  RequestOptions options;
  options.headers = {"Authorization: Bearer " + secret, "x-request-id: req-abc"};
  ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "the secret prompt", true), options).status,
            200);
  options.headers = {"Authorization: Bearer wrong-key-9999"};
  ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "x"), options).status, 401);
  auto lines = read_lines(dir.path() / "access.log");
  // A request is logged as it ends, just after its last byte went out.
  for (int i = 0; i < 200 && lines.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    gw.gateway().observability().access_log().flush();
    lines = read_lines(dir.path() / "access.log");
  }
  ASSERT_EQ(lines.size(), 2u) << (lines.empty() ? "" : lines[0]);
  rapidjson::Document ok;
  ok.Parse(lines[0].c_str());
  ASSERT_TRUE(ok.IsObject()) << lines[0];
  for (const char* field : {"time", "id", "client", "api", "method", "path", "model", "model_answered", "route",
                            "provider", "stream", "status", "outcome", "attempts", "ttfb_ms", "ttft_ms", "duration_ms",
                            "tokens", "bytes_in", "bytes_out"}) {
    EXPECT_TRUE(ok.HasMember(field)) << field << " in " << lines[0];
  }
  EXPECT_STREQ(ok["id"].GetString(), "req-abc");
  EXPECT_STREQ(ok["client"].GetString(), "alice");
  EXPECT_STREQ(ok["api"].GetString(), "openai.chat");
  EXPECT_STREQ(ok["outcome"].GetString(), "ok");
  EXPECT_EQ(ok["status"].GetInt(), 200);
  EXPECT_TRUE(ok["stream"].GetBool());
  EXPECT_STREQ(ok["provider"].GetString(), "mock");
  EXPECT_GT(ok["tokens"]["output"].GetInt(), 0);
  EXPECT_GT(ok["bytes_out"].GetInt(), 0);
  EXPECT_EQ(ok["attempts"].Size(), 1u);
  rapidjson::Document rejected;
  rejected.Parse(lines[1].c_str());
  ASSERT_TRUE(rejected.IsObject()) << lines[1];
  EXPECT_EQ(rejected["status"].GetInt(), 401);
  EXPECT_STREQ(rejected["outcome"].GetString(), "rejected");
  for (const auto& line : lines) {
    EXPECT_THAT(line, Not(HasSubstr(secret)));
    EXPECT_THAT(line, Not(HasSubstr("wrong-key-9999")));
    EXPECT_THAT(line, Not(HasSubstr("the secret prompt")));
    EXPECT_THAT(line, Not(HasSubstr("Mock answer")));
  }
}

TEST(AccessLog, ReopenStartsANewFileAfterRotation) {
  TempDir dir;
  const auto file = dir.path() / "a.log";
  host::AccessLog log;
  log.configure({host::AccessLogTarget::Kind::File, file});
  {
    host::RequestContext context(nullptr);
    context.id = "first";
    log.record(context);
  }
  log.flush();
  std::filesystem::rename(file, dir.path() / "a.log.1");
  log.reopen();
  {
    host::RequestContext context(nullptr);
    context.id = "second";
    log.record(context);
  }
  log.flush();
  auto old_lines = read_lines(dir.path() / "a.log.1");
  auto new_lines = read_lines(file);
  ASSERT_EQ(old_lines.size(), 1u);
  ASSERT_EQ(new_lines.size(), 1u);
  EXPECT_THAT(old_lines[0], HasSubstr(R"("id":"first")"));
  EXPECT_THAT(new_lines[0], HasSubstr(R"("id":"second")"));
}

TEST(AccessLog, OffWritesNothing) {
  TempDir dir;
  host::AccessLog log;
  host::RequestContext context(nullptr);
  log.record(context);
  log.flush();
  EXPECT_FALSE(log.enabled());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(RequestContext, FallbacksAreStepsAfterAFailedAttempt) {
  host::RequestContext context(nullptr);
  using std::chrono::microseconds;
  context.attempts = {{"a", "skipped", 0, microseconds(0)},
                      {"b", "error", 503, microseconds(5)},
                      {"b", "error", 503, microseconds(5)},  // a retry of b: no fallback
                      {"c", "error", 502, microseconds(5)},
                      {"d", "ok", 200, microseconds(5)}};
  auto fallbacks = context.fallbacks();
  ASSERT_EQ(fallbacks.size(), 2u);
  EXPECT_EQ(fallbacks[0], std::make_pair(std::string("b"), std::string("c")));
  EXPECT_EQ(fallbacks[1], std::make_pair(std::string("c"), std::string("d")));
}

}  // namespace
}  // namespace llmux::test
