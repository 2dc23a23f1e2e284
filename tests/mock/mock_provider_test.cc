// The mock provider driven through the provider interface, in process, with a
// fake call and a fake host (real one-thread timers).
#include "mock_provider.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "llmux/codec/anthropic.h"
#include "llmux/json.h"
#include "llmux/sse.h"

namespace llmux::mock {
namespace {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Fake host

class TestLogger : public Logger {
 public:
  void log(LogLevel level, std::string_view message) override {
    std::lock_guard lock(mu_);
    lines_.emplace_back(level, std::string(message));
  }
  bool enabled(LogLevel) const override { return true; }
  std::vector<std::pair<LogLevel, std::string>> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

class TestClock : public Clock {
 public:
  SteadyClock::time_point now() const override { return SteadyClock::now(); }
  std::chrono::system_clock::time_point wall_now() const override { return std::chrono::system_clock::now(); }
};

// One-shot timers on one thread, ordered by due time (then by id).
class TestTimers : public Timers {
 public:
  TestTimers() : thread_([this] { loop(); }) {}
  ~TestTimers() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    std::map<Id, std::function<void()>> dropped;
    {
      std::lock_guard lock(mu_);
      dropped.swap(callbacks_);
    }
  }

  Id schedule(Ms delay, std::function<void()> callback) override {
    std::lock_guard lock(mu_);
    Id id = ++next_id_;
    queue_.emplace(SteadyClock::now() + delay, id);
    callbacks_.emplace(id, std::move(callback));
    ++scheduled_;
    cv_.notify_all();
    return id;
  }

  bool cancel(Id id) override {
    std::function<void()> dropped;  // destroyed outside the lock
    std::lock_guard lock(mu_);
    auto it = callbacks_.find(id);
    if (it == callbacks_.end()) return false;
    dropped = std::move(it->second);
    callbacks_.erase(it);
    return true;
  }

  std::size_t pending() const {
    std::lock_guard lock(mu_);
    return callbacks_.size();
  }
  std::size_t scheduled() const {
    std::lock_guard lock(mu_);
    return scheduled_;
  }

 private:
  using Entry = std::pair<SteadyClock::time_point, Id>;

  void loop() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      Entry top = queue_.top();
      if (top.first > SteadyClock::now()) {
        cv_.wait_until(lock, top.first);
        continue;
      }
      queue_.pop();
      auto it = callbacks_.find(top.second);
      if (it == callbacks_.end()) continue;  // cancelled
      std::function<void()> callback = std::move(it->second);
      callbacks_.erase(it);
      lock.unlock();
      callback();
      callback = nullptr;
      lock.lock();
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue_;
  std::map<Id, std::function<void()>> callbacks_;
  Id next_id_ = 0;
  std::size_t scheduled_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the rest is built
};

// The mock never goes to the network: any use of HTTP is a test failure.
class NoHttp : public HttpClient {
 public:
  std::shared_ptr<HttpTransfer> start(HttpRequest request, std::shared_ptr<HttpHandler>) override {
    ADD_FAILURE() << "the mock started an HTTP transfer to " << request.url;
    return nullptr;
  }
};

// The mock keeps no state: any use of the store is a failure.
class NoState : public StateStore {
 public:
  std::optional<std::string> load(std::string_view key) override {
    ADD_FAILURE() << "the mock read state " << key;
    return std::nullopt;
  }
  bool store(std::string_view key, std::string_view, std::string*) override {
    ADD_FAILURE() << "the mock stored state " << key;
    return false;
  }
  bool update(std::string_view key, const Mutation&, std::string*) override {
    ADD_FAILURE() << "the mock updated state " << key;
    return false;
  }
};

class TestHost : public HostServices {
 public:
  Logger& logger() override { return logger_; }
  Clock& clock() override { return clock_; }
  Timers& timers() override { return timers_; }
  HttpClient& http() override { return http_; }
  StateStore& state() override { return state_; }
  NoState state_;
  NoHttp http_;
  TestLogger logger_;
  TestClock clock_;
  TestTimers timers_;
};

// ---------------------------------------------------------------------------
// Fake call

class FakeCall : public ChatCall {
 public:
  bool client_backlogged() const override { return false; }
  void on_client_drained(std::function<void()> fn) override { fn(); }
  explicit FakeCall(ChatRequest request) : request_(std::move(request)) {}

  const ChatRequest& request() const override { return request_; }

  void emit(Event event) override {
    if (in_emit_.exchange(true)) concurrent_emits_ = true;
    {
      std::lock_guard lock(mu_);
      if (terminal_) {
        ++ignored_;
      } else {
        if (cancelled_) ++after_cancel_;
        terminal_ = event.terminal();
        events_.push_back(std::move(event));
      }
    }
    in_emit_ = false;
    cv_.notify_all();
  }

  // The mock never asks (it holds nothing back); an ended call answers true, as the host's does.
  bool committed() const override { return terminal(); }

  bool cancelled() const override { return cancelled_.load(); }

  void on_cancel(std::function<void()> hook) override {
    {
      std::lock_guard lock(mu_);
      if (!cancelled_) {
        hooks_.push_back(std::move(hook));
        return;
      }
    }
    hook();
  }

  // Like the host: runs every hook once, then drops them.
  void cancel() {
    std::vector<std::function<void()>> hooks;
    {
      std::lock_guard lock(mu_);
      if (cancelled_) return;
      cancelled_ = true;
      hooks.swap(hooks_);
    }
    for (auto& hook : hooks) hook();
  }

  bool wait_terminal(Ms timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return terminal_; });
  }
  bool wait_events(std::size_t n, Ms timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }

  std::vector<Event> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  bool terminal() const {
    std::lock_guard lock(mu_);
    return terminal_;
  }
  int ignored() const {
    std::lock_guard lock(mu_);
    return ignored_;
  }
  int after_cancel() const {
    std::lock_guard lock(mu_);
    return after_cancel_;
  }
  bool concurrent_emits() const { return concurrent_emits_; }

 private:
  ChatRequest request_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  std::vector<std::function<void()>> hooks_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> in_emit_{false};
  std::atomic<bool> concurrent_emits_{false};
  bool terminal_ = false;
  int ignored_ = 0;
  int after_cancel_ = 0;
};

// ---------------------------------------------------------------------------
// Helpers

const SourceMark kMark{"providers.yaml", 3, 5};
const std::string kPath = "providers.mock.options";

ConfigNode options(std::initializer_list<std::pair<std::string, std::string>> scalars = {}) {
  ConfigNode node = ConfigNode::map(kMark, kPath);
  for (const auto& [key, value] : scalars) node.insert(key, ConfigNode::scalar(value, kMark, kPath + "." + key));
  return node;
}

std::shared_ptr<MockProvider> make_provider(TestHost& host, const ConfigNode& opts = options()) {
  return MockProvider::create(ProviderSpec{"mock", opts, host});
}

Message text_message(Role role, std::string text) {
  Message m;
  m.role = role;
  m.content.push_back(ContentPart::make_text(std::move(text)));
  return m;
}

ChatRequest request(std::string user_text) {
  ChatRequest r;
  r.model = "mock";
  r.messages.push_back(text_message(Role::System, "You are terse."));
  r.messages.push_back(text_message(Role::User, std::move(user_text)));
  return r;
}

Tool tool(std::string name, std::string parameters) {
  Tool t;
  t.name = std::move(name);
  t.description = "a tool";
  t.parameters_json = std::move(parameters);
  return t;
}

const char* kKiloWrite = R"({"type":"object","properties":{
  "filePath":{"type":"string","description":"path of the file"},
  "content":{"type":"string"}},"required":["filePath","content"]})";

const char* kClaudeWrite = R"({"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
  "additionalProperties":false,"properties":{
  "file_path":{"type":"string","description":"The absolute path to the file to write"},
  "content":{"type":"string"},"mode":{"type":"string","enum":["overwrite","append"]}},
  "required":["file_path","content"]})";

std::shared_ptr<FakeCall> run(MockProvider& provider, ChatRequest req) {
  auto call = std::make_shared<FakeCall>(std::move(req));
  provider.chat(call);
  return call;
}

std::string describe(const Event& e) {
  switch (e.kind) {
    case Event::Kind::Role: return "role";
    case Event::Kind::TextDelta: return "text:" + e.text;
    case Event::Kind::ReasoningDelta: return "reasoning:" + e.text;
    case Event::Kind::ReasoningSignature: return "signature:" + e.text;
    case Event::Kind::RedactedReasoning: return "redacted:" + e.text;
    case Event::Kind::Raw: return "raw:" + e.text;
    case Event::Kind::Embedding: return "embedding:" + std::to_string(e.index);
    case Event::Kind::ToolCallDelta:
      return "tool:" + std::to_string(e.index) + ":" + e.id + ":" + e.name + ":" + e.text;
    case Event::Kind::Usage:
      return "usage:" + std::to_string(e.usage.input_tokens) + "/" + std::to_string(e.usage.output_tokens);
    case Event::Kind::Finish:
      return std::string("finish:") + (e.finish == FinishReason::Stop ? "stop"
                                       : e.finish == FinishReason::ToolCalls ? "tool_calls" : "other");
    case Event::Kind::Error: return "error:" + std::to_string(e.error.status) + ":" + e.error.message;
  }
  return "?";
}

std::vector<std::string> describe(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(describe(e));
  return out;
}

std::string joined_text(const std::vector<Event>& events) {
  std::string out;
  for (const auto& e : events) {
    if (e.kind == Event::Kind::TextDelta) out += e.text;
  }
  return out;
}

std::string joined_arguments(const std::vector<Event>& events) {
  std::string out;
  for (const auto& e : events) {
    if (e.kind == Event::Kind::ToolCallDelta) out += e.text;
  }
  return out;
}

std::size_t count(const std::vector<Event>& events, Event::Kind kind) {
  std::size_t n = 0;
  for (const auto& e : events) n += e.kind == kind;
  return n;
}

// Checks the order contract: Role? Usage? deltas* Usage? terminal, nothing after.
void expect_order_contract(const std::vector<Event>& events, bool want_terminal = true) {
  std::size_t i = 0;
  if (i < events.size() && events[i].kind == Event::Kind::Role) ++i;
  if (i < events.size() && events[i].kind == Event::Kind::Usage) ++i;
  while (i < events.size() && (events[i].kind == Event::Kind::TextDelta ||
                               events[i].kind == Event::Kind::ReasoningDelta ||
                               events[i].kind == Event::Kind::ToolCallDelta)) {
    ++i;
  }
  if (i < events.size() && events[i].kind == Event::Kind::Usage) ++i;
  if (want_terminal) {
    ASSERT_LT(i, events.size()) << "no terminal event";
    EXPECT_TRUE(events[i].terminal()) << describe(events[i]);
    EXPECT_EQ(i + 1, events.size()) << "events after the terminal one";
  } else {
    EXPECT_EQ(i, events.size()) << "unexpected event " << describe(events[i]);
  }
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

template <typename Pred>
bool eventually(Pred pred, Ms timeout = 5s) {
  auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

// ---------------------------------------------------------------------------
// Text answers

TEST(MockProvider, TextAnswerChunksAndExactEventSequence) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "4"}}));
  auto call = run(*provider, request("hello"));
  // Zero delays: every event was emitted inside chat().
  ASSERT_TRUE(call->terminal());
  // Input: "You are terse." (14) + "hello" (5) = 19 chars -> 5 tokens.
  // Output: "Mock answer to: hello" (21 chars) -> 6 tokens.
  // The prompt's count comes before the first delta; the final Usage adds the output.
  EXPECT_EQ(describe(call->events()),
            (std::vector<std::string>{"role", "usage:5/0", "text:Mock", "text: ans", "text:wer ", "text:to: ",
                                      "text:hell", "text:o", "usage:5/6", "finish:stop"}));
  EXPECT_FALSE(call->concurrent_emits());
  EXPECT_EQ(call->ignored(), 0);
}

// An Anthropic client streaming from the mock got the host's estimate as
// message_start's input_tokens, though the mock knew the prompt's count all
// along (it only reported it before Finish).
TEST(MockProvider, AnthropicMessageStartCarriesTheFinalInputTokensNotTheEstimate) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "4"}}));
  ChatRequest r = request("What is the capital of France?");
  r.stream = true;
  auto call = run(*provider, r);
  ASSERT_TRUE(call->terminal());
  // Rendered as the host renders a /v1/messages stream.
  const std::int64_t estimate = anthropic::estimate_input_tokens(r);
  anthropic::StreamRenderer renderer(anthropic::MessageMeta{"msg_mock", "mock", estimate});
  std::string sse;
  for (const Event& e : call->events()) renderer.render(e, sse);
  std::map<std::string, rapidjson::Document> by_name;
  sse::Reader reader;
  reader.feed(sse, [&](const sse::Message& m) { by_name[m.event].Parse(m.data.c_str(), m.data.size()); });
  ASSERT_TRUE(by_name.count("message_start") && by_name.count("message_delta")) << sse;
  const std::int64_t opening = by_name["message_start"]["message"]["usage"]["input_tokens"].GetInt64();
  const std::int64_t final_count = by_name["message_delta"]["usage"]["input_tokens"].GetInt64();
  EXPECT_EQ(opening, final_count);
  EXPECT_EQ(opening, 11) << "(14 + 30 characters) / 4";
  EXPECT_NE(opening, estimate) << "the estimate differs, so the test tells them apart";
  EXPECT_EQ(by_name["message_delta"]["usage"]["output_tokens"].GetInt64(), 12);
}

TEST(MockProvider, DefaultChunkSizeIsSixteen) {
  TestHost host;
  auto provider = make_provider(host);
  auto call = run(*provider, request("0123456789abcdef0123"));
  auto events = call->events();
  expect_order_contract(events);
  EXPECT_EQ(joined_text(events), "Mock answer to: 0123456789abcdef0123");
  ASSERT_EQ(count(events, Event::Kind::TextDelta), 3u);
  EXPECT_EQ(events[2].text, "Mock answer to: ");
  EXPECT_EQ(events[3].text, "0123456789abcdef");
  EXPECT_EQ(events[4].text, "0123");
}

TEST(MockProvider, StreamedAndNonStreamedGiveTheSameText) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "5"}}));
  auto streamed = request("What is the capital of France?");
  streamed.stream = true;
  streamed.include_usage = true;
  auto collected = request("What is the capital of France?");
  collected.stream = false;
  auto a = run(*provider, streamed);
  auto b = run(*provider, collected);
  EXPECT_EQ(joined_text(a->events()), "Mock answer to: What is the capital of France?");
  EXPECT_EQ(describe(a->events()), describe(b->events()));
}

TEST(MockProvider, FixedReply) {
  TestHost host;
  auto provider = make_provider(host, options({{"reply", "Paris."}}));
  auto call = run(*provider, request("capital of France?"));
  EXPECT_EQ(describe(call->events()),
            (std::vector<std::string>{"role", "usage:8/0", "text:Paris.", "usage:8/2", "finish:stop"}));
}

TEST(MockProvider, EmptyUserTextGivesMockAnswer) {
  TestHost host;
  auto provider = make_provider(host);
  ChatRequest r;
  r.model = "mock";
  auto call = run(*provider, r);
  EXPECT_EQ(describe(call->events()),
            (std::vector<std::string>{"role", "usage:1/0", "text:Mock answer.", "usage:1/3", "finish:stop"}));
}

TEST(MockProvider, EchoIsTruncatedTo200Characters) {
  TestHost host;
  auto provider = make_provider(host);
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "é";
  auto call = run(*provider, request(long_text));
  std::string text = joined_text(call->events());
  EXPECT_EQ(text, "Mock answer to: " + long_text.substr(0, 400));
  EXPECT_EQ(utf8_length(text), 16u + 200u);
}

TEST(MockProvider, Utf8NeverSplitInsideACharacter) {
  TestHost host;
  const std::string reply = "héllo wörld ✓ 日本語 🎉 ok ñandú €";
  for (int size = 1; size <= 7; ++size) {
    auto provider = make_provider(host, options({{"chunk_size", std::to_string(size)}, {"reply", reply}}));
    auto call = run(*provider, request("x"));
    auto events = call->events();
    expect_order_contract(events);
    EXPECT_EQ(joined_text(events), reply);
    for (const auto& e : events) {
      if (e.kind != Event::Kind::TextDelta) continue;
      EXPECT_TRUE(valid_utf8(e.text)) << "chunk_size " << size << ": " << e.text;
      EXPECT_LE(utf8_length(e.text), static_cast<std::size_t>(size));
      EXPECT_GE(utf8_length(e.text), 1u);
    }
  }
}

TEST(MockHelpers, SplitUtf8) {
  EXPECT_TRUE(split_utf8("", 3).empty());
  EXPECT_EQ(split_utf8("abcdefg", 3), (std::vector<std::string>{"abc", "def", "g"}));
  EXPECT_EQ(split_utf8("日本語です", 2), (std::vector<std::string>{"日本", "語で", "す"}));
  EXPECT_EQ(split_utf8("a🎉b", 1), (std::vector<std::string>{"a", "🎉", "b"}));
  EXPECT_EQ(utf8_length("a🎉é"), 3u);
}

TEST(MockProvider, ModelsFromOptions) {
  TestHost host;
  auto defaults = make_provider(host);
  ASSERT_EQ(defaults->models().size(), 1u);
  EXPECT_EQ(defaults->models()[0].id, "mock");
  EXPECT_EQ(defaults->models()[0].owned_by, "llmux-mock");

  ConfigNode opts = options();
  ConfigNode list = ConfigNode::sequence(kMark, kPath + ".models");
  list.push_back(ConfigNode::scalar("mock-small", kMark, kPath + ".models[0]"));
  list.push_back(ConfigNode::scalar("mock-large", kMark, kPath + ".models[1]"));
  opts.insert("models", std::move(list));
  auto provider = make_provider(host, opts);
  auto models = provider->models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].id, "mock-small");
  EXPECT_EQ(models[1].id, "mock-large");
  EXPECT_EQ(models[1].owned_by, "llmux-mock");
}

// ---------------------------------------------------------------------------
// Tool calls

struct ToolAnswer {
  std::string id;
  std::string name;
  rapidjson::Document arguments;
  std::size_t fragments = 0;
};

ToolAnswer expect_tool_call(const std::vector<Event>& events) {
  ToolAnswer out;
  expect_order_contract(events);
  EXPECT_EQ(count(events, Event::Kind::TextDelta), 0u);
  out.fragments = count(events, Event::Kind::ToolCallDelta);
  EXPECT_GE(out.fragments, 2u) << "arguments must come in several fragments";
  bool first = true;
  for (const auto& e : events) {
    if (e.kind != Event::Kind::ToolCallDelta) continue;
    EXPECT_EQ(e.index, 0);
    if (first) {
      out.id = e.id;
      out.name = e.name;
      first = false;
    } else {
      EXPECT_TRUE(e.id.empty());
      EXPECT_TRUE(e.name.empty());
    }
  }
  EXPECT_EQ(out.id.rfind("call_mock_", 0), 0u) << out.id;
  EXPECT_GT(out.id.size(), std::string("call_mock_").size());
  std::string args = joined_arguments(events);
  out.arguments.Parse(args.c_str());
  EXPECT_FALSE(out.arguments.HasParseError()) << args;
  EXPECT_TRUE(out.arguments.IsObject()) << args;
  EXPECT_FALSE(events.empty());
  if (!events.empty()) {
    EXPECT_EQ(events.back().kind, Event::Kind::Finish);
    EXPECT_EQ(events.back().finish, FinishReason::ToolCalls);
  }
  return out;
}

TEST(MockProvider, ToolCallForKiloLikeSchema) {
  TestHost host;
  auto provider = make_provider(host);
  auto r = request("write hello to a file");
  r.tools.push_back(tool("read_file", R"({"type":"object","properties":{"path":{"type":"string"}}})"));
  r.tools.push_back(tool("write", kKiloWrite));
  r.tool_choice.mode = ToolChoice::Mode::Function;
  r.tool_choice.function_name = "write";
  auto call = run(*provider, r);
  ToolAnswer answer = expect_tool_call(call->events());
  EXPECT_EQ(answer.name, "write");
  ASSERT_TRUE(answer.arguments.IsObject());
  ASSERT_TRUE(answer.arguments.HasMember("filePath"));
  ASSERT_TRUE(answer.arguments["filePath"].IsString());
  EXPECT_EQ(std::string(answer.arguments["filePath"].GetString()), "mock.txt");
  ASSERT_TRUE(answer.arguments.HasMember("content"));
  EXPECT_TRUE(answer.arguments["content"].IsString());
  EXPECT_EQ(count(call->events(), Event::Kind::Usage), 2u) << "the prompt's count first, the final one last";

  // Deterministic: the same request gives the same id; another prompt another.
  auto again = run(*provider, r);
  EXPECT_EQ(expect_tool_call(again->events()).id, answer.id);
  auto other_request = r;
  other_request.messages.back() = text_message(Role::User, "something else");
  auto other = run(*provider, other_request);
  EXPECT_NE(expect_tool_call(other->events()).id, answer.id);
}

TEST(MockProvider, ToolCallForClaudeCodeLikeSchema) {
  TestHost host;
  auto provider = make_provider(host);
  auto r = request("create notes.md");
  r.source_api = Api::Anthropic;
  r.tools.push_back(tool("Write", kClaudeWrite));
  r.tools.push_back(tool("Bash", R"({"type":"object","properties":{"command":{"type":"string"}},"required":["command"]})"));
  auto call = run(*provider, r);
  ToolAnswer answer = expect_tool_call(call->events());
  EXPECT_EQ(answer.name, "Write");  // the first tool when the choice is not a named function
  ASSERT_TRUE(answer.arguments.IsObject());
  ASSERT_TRUE(answer.arguments.HasMember("file_path"));
  EXPECT_TRUE(answer.arguments["file_path"].IsString());
  ASSERT_TRUE(answer.arguments.HasMember("content"));
  EXPECT_TRUE(answer.arguments["content"].IsString());
  EXPECT_FALSE(answer.arguments.HasMember("mode")) << "only required properties";
}

TEST(MockProvider, ToolArgumentsSplitIntoSeveralFragmentsEvenWithLargeChunks) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "1000"}}));
  auto r = request("go");
  r.tools.push_back(tool("noop", "{}"));
  ToolAnswer answer = expect_tool_call(run(*provider, r)->events());
  EXPECT_EQ(answer.fragments, 2u);  // "{" and "}"
  EXPECT_EQ(answer.arguments.MemberCount(), 0u);
}

TEST(MockProvider, ToolResultPresentGivesTextAndStop) {
  TestHost host;
  auto provider = make_provider(host);
  auto r = request("write hello to a file");
  r.tools.push_back(tool("write", kKiloWrite));
  Message assistant;
  assistant.role = Role::Assistant;
  assistant.content_was_null = true;
  assistant.tool_calls.push_back({"call_mock_1", "write", R"({"filePath":"mock.txt","content":"x"})"});
  r.messages.push_back(assistant);
  Message result = text_message(Role::Tool, "ok, written");
  result.tool_call_id = "call_mock_1";
  r.messages.push_back(result);
  ASSERT_TRUE(r.has_tool_result());
  auto events = run(*provider, r)->events();
  expect_order_contract(events);
  EXPECT_EQ(count(events, Event::Kind::ToolCallDelta), 0u);
  EXPECT_EQ(joined_text(events), "Done: wrote mock.txt.");
  EXPECT_EQ(events.back().kind, Event::Kind::Finish);
  EXPECT_EQ(events.back().finish, FinishReason::Stop);
}

TEST(MockProvider, ToolChoiceNoneGivesText) {
  TestHost host;
  auto provider = make_provider(host);
  auto r = request("hi");
  r.tools.push_back(tool("write", kKiloWrite));
  r.tool_choice.mode = ToolChoice::Mode::None;
  auto events = run(*provider, r)->events();
  EXPECT_EQ(describe(events).back(), "finish:stop");
  EXPECT_EQ(joined_text(events), "Mock answer to: hi");
  EXPECT_EQ(count(events, Event::Kind::ToolCallDelta), 0u);
}

TEST(MockProvider, ToolCallsNeverGivesText) {
  TestHost host;
  auto provider = make_provider(host, options({{"tool_calls", "never"}}));
  auto r = request("hi");
  r.tools.push_back(tool("write", kKiloWrite));
  r.tool_choice.mode = ToolChoice::Mode::Required;
  auto events = run(*provider, r)->events();
  EXPECT_EQ(describe(events).back(), "finish:stop");
  EXPECT_EQ(joined_text(events), "Mock answer to: hi");
}

TEST(MockHelpers, ArgumentsForSchema) {
  auto parse = [](const std::string& schema) {
    auto doc = std::make_unique<rapidjson::Document>();
    std::string args = arguments_for_schema(schema);
    doc->Parse(args.c_str());
    EXPECT_FALSE(doc->HasParseError()) << args;
    return doc;
  };
  EXPECT_EQ(arguments_for_schema("not json"), "{}");
  EXPECT_EQ(arguments_for_schema("[1,2]"), "{}");
  EXPECT_EQ(arguments_for_schema(""), "{}");
  EXPECT_EQ(arguments_for_schema(R"({"type":"object"})"), "{}");
  EXPECT_EQ(arguments_for_schema(
                R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"number"},)"
                R"("c":{"type":"boolean"},"d":{"type":"array"},"e":{"type":"object"},)"
                R"("f":{"enum":["x","y"]},"g":{"type":"string"},"h":{"type":["string","null"]}}})"),
            R"({"a":1,"b":1,"c":true,"d":[],"e":{},"f":"x","g":"mock g","h":"mock h"})");
  // Only required ones, recursively, with a missing schema for one of them.
  EXPECT_EQ(arguments_for_schema(
                R"({"type":"object","required":["cfg","extra"],"properties":{"skip":{"type":"string"},)"
                R"("cfg":{"type":"object","required":["file"],"properties":{"file":{"type":"string"},)"
                R"("n":{"type":"integer"}}}}})"),
            R"({"cfg":{"file":"mock.txt"},"extra":"mock extra"})");
  auto doc = parse(R"({"type":"object","properties":{"todos":{"type":"array","minItems":1,"items":
      {"type":"object","required":["id","status"],"properties":{"id":{"type":"string"},
      "status":{"type":"string","enum":["pending","done"]}}}},"limit":{"type":"integer","minimum":5}}})");
  ASSERT_TRUE((*doc)["todos"].IsArray());
  ASSERT_EQ((*doc)["todos"].Size(), 1u);
  EXPECT_STREQ((*doc)["todos"][0]["status"].GetString(), "pending");
  EXPECT_EQ((*doc)["limit"].GetInt(), 5);
  // A self-nesting schema stays finite.
  std::string deep = R"({"type":"object"})";
  for (int i = 0; i < 30; ++i) deep = R"({"type":"object","properties":{"x":)" + deep + "}}";
  parse(deep);
}

// ---------------------------------------------------------------------------
// Faults

TEST(MockProvider, FailMarkerGivesOneErrorFirst) {
  TestHost host;
  auto provider = make_provider(host);
  auto events = run(*provider, request("please [[mock:fail=503]] now"))->events();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_EQ(events[0].kind, Event::Kind::Error);
  EXPECT_EQ(events[0].error.status, 503);
  EXPECT_EQ(events[0].error.message, "mock: injected failure (HTTP 503)");
  EXPECT_EQ(events[0].error.type, "server_error");

  events = run(*provider, request("[[mock:fail=429]]"))->events();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_EQ(events[0].kind, Event::Kind::Error);
  EXPECT_EQ(events[0].error.status, 429);
  EXPECT_EQ(events[0].error.type, "rate_limit_error");
  EXPECT_EQ(events[0].error.message, "mock: injected failure (HTTP 429)");
}

TEST(MockProvider, FailStatusOption) {
  TestHost host;
  auto provider = make_provider(host, options({{"fail_status", "401"}, {"fail_message", "bad key"}}));
  auto events = run(*provider, request("hi"))->events();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_EQ(events[0].kind, Event::Kind::Error);
  EXPECT_EQ(events[0].error.status, 401);
  EXPECT_EQ(events[0].error.message, "bad key");
}

TEST(MockProvider, CutMarkerEndsWithErrorAfterKChunks) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "4"}}));
  auto events = run(*provider, request("a longer question [[mock:cut=2]]"))->events();
  EXPECT_EQ(describe(events), (std::vector<std::string>{"role", "usage:12/0", "text:Mock", "text: ans",
                                                        "error:502:mock: stream cut after 2 chunks"}));
  events = run(*provider, request("[[mock:cut=0]]"))->events();
  EXPECT_EQ(describe(events),
            (std::vector<std::string>{"role", "usage:7/0", "error:502:mock: stream cut after 0 chunks"}));
}

TEST(MockProvider, CutAfterOption) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "4"}, {"cut_after", "3"}}));
  auto events = run(*provider, request("a longer question"))->events();
  expect_order_contract(events);
  EXPECT_EQ(count(events, Event::Kind::TextDelta), 3u);
  EXPECT_EQ(events.back().error.status, 502);
}

TEST(MockProvider, StallThenCancelReleasesTheCall) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "4"}}));
  auto call = run(*provider, request("tell me a story [[mock:stall=2]]"));
  std::weak_ptr<FakeCall> weak = call;
  EXPECT_EQ(describe(call->events()), (std::vector<std::string>{"role", "usage:12/0", "text:Mock", "text: ans"}));
  call.reset();
  std::this_thread::sleep_for(50ms);
  auto held = weak.lock();
  ASSERT_TRUE(held) << "the provider must keep a stalled call alive";
  EXPECT_FALSE(held->terminal());
  held->cancel();
  EXPECT_EQ(held->events().size(), 4u);
  EXPECT_EQ(held->after_cancel(), 0);
  held.reset();
  EXPECT_TRUE(eventually([&] { return weak.expired(); })) << "cancel must release the call";
}

TEST(MockProvider, PacedStallThenCancelReleasesTheCall) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "4"}, {"chunk_delay", "10ms"}}));
  auto call = run(*provider, request("tell me a story [[mock:stall=3]]"));
  std::weak_ptr<FakeCall> weak = call;
  ASSERT_TRUE(call->wait_events(5));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(call->events().size(), 5u);
  expect_order_contract(call->events(), false);
  EXPECT_EQ(host.timers_.pending(), 0u) << "a stall schedules nothing";
  call.reset();
  auto held = weak.lock();
  ASSERT_TRUE(held);
  held->cancel();
  held.reset();
  EXPECT_TRUE(eventually([&] { return weak.expired(); }));
}

TEST(MockProvider, CancelMidStreamStopsAndReleases) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "2"}, {"chunk_delay", "20ms"}}));
  auto call = run(*provider, request("a question with a long echo"));
  std::weak_ptr<FakeCall> weak = call;
  ASSERT_TRUE(call->wait_events(3));
  call->cancel();
  std::this_thread::sleep_for(10ms);  // an emit racing the cancel may still land
  std::size_t seen = call->events().size();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(call->events().size(), seen);
  EXPECT_FALSE(call->terminal());
  EXPECT_LE(call->after_cancel(), 1);
  EXPECT_TRUE(eventually([&] { return host.timers_.pending() == 0; })) << "the pending timer is cancelled";
  call.reset();
  EXPECT_TRUE(eventually([&] { return weak.expired(); }));
}

TEST(MockProvider, CancelledBeforeChatEmitsNothing) {
  TestHost host;
  for (const char* delay : {"0ms", "10ms"}) {
    auto provider = make_provider(host, options({{"chunk_delay", delay}}));
    auto call = std::make_shared<FakeCall>(request("hi"));
    call->cancel();
    std::weak_ptr<FakeCall> weak = call;
    provider->chat(call);
    std::this_thread::sleep_for(30ms);
    EXPECT_TRUE(call->events().empty()) << delay;
    call.reset();
    EXPECT_TRUE(eventually([&] { return weak.expired(); })) << delay;
  }
}

// ---------------------------------------------------------------------------
// Pacing

TEST(MockProvider, ChunkDelayIsHonoured) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "4"}, {"reply", "abcdefghijkl"},
                                               {"chunk_delay", "50ms"}}));
  auto start = SteadyClock::now();
  auto call = run(*provider, request("x"));
  auto returned = SteadyClock::now();
  EXPECT_LT(returned - start, 40ms) << "chat() must return quickly";
  ASSERT_TRUE(call->wait_terminal());
  auto elapsed = SteadyClock::now() - start;
  EXPECT_GE(elapsed, 100ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(describe(call->events()), (std::vector<std::string>{"role", "usage:4/0", "text:abcd", "text:efgh",
                                                                "text:ijkl", "usage:4/3", "finish:stop"}));
  EXPECT_FALSE(call->concurrent_emits());
  EXPECT_GE(host.timers_.scheduled(), 3u) << "paced through the host timers";
}

TEST(MockProvider, DelayMarkers) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "8"}}));
  auto start = SteadyClock::now();
  // 8 chunks of 8 -> 7 gaps of 30 ms, after a first byte delay of 80 ms.
  auto call = run(*provider, request("[[mock:delay=30]] [[mock:first_byte_delay=80]]"));
  ASSERT_TRUE(call->wait_events(1));
  EXPECT_GE(SteadyClock::now() - start, 75ms);
  ASSERT_TRUE(call->wait_terminal());
  EXPECT_GE(SteadyClock::now() - start, 160ms);
  auto events = call->events();
  expect_order_contract(events);
  EXPECT_EQ(joined_text(events), "Mock answer to: [[mock:delay=30]] [[mock:first_byte_delay=80]]");
  EXPECT_EQ(events.back().finish, FinishReason::Stop);
}

TEST(MockProvider, FirstByteDelayAppliesToFailures) {
  TestHost host;
  auto provider = make_provider(host, options({{"first_byte_delay", "60ms"}}));
  auto start = SteadyClock::now();
  auto call = run(*provider, request("[[mock:fail=500]]"));
  ASSERT_TRUE(call->wait_terminal());
  EXPECT_GE(SteadyClock::now() - start, 55ms);
  ASSERT_EQ(call->events().size(), 1u);
  EXPECT_EQ(call->events()[0].error.status, 500);
}

TEST(MockProvider, PacedToolCallAndCut) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "4"}, {"chunk_delay", "5ms"}}));
  auto r = request("write it");
  r.tools.push_back(tool("write", kClaudeWrite));
  auto call = run(*provider, r);
  ASSERT_TRUE(call->wait_terminal());
  expect_tool_call(call->events());

  call = run(*provider, request("a long enough question [[mock:cut=3]]"));
  ASSERT_TRUE(call->wait_terminal());
  auto events = call->events();
  expect_order_contract(events);
  EXPECT_EQ(count(events, Event::Kind::TextDelta), 3u);
  EXPECT_EQ(events.back().kind, Event::Kind::Error);
}

TEST(MockProvider, ProviderDestroyedWhileCallsAreRunning) {
  auto host = std::make_unique<TestHost>();
  auto provider = make_provider(*host, options({{"chunk_size", "2"}, {"chunk_delay", "5ms"}}));
  std::vector<std::shared_ptr<FakeCall>> calls;
  for (int i = 0; i < 8; ++i) calls.push_back(run(*provider, request("question " + std::to_string(i))));
  provider.reset();
  for (auto& call : calls) {
    ASSERT_TRUE(call->wait_terminal());
    expect_order_contract(call->events());
    EXPECT_EQ(joined_text(call->events()), "Mock answer to: " + call->request().last_user_text());
    EXPECT_FALSE(call->concurrent_emits());
  }
}

TEST(MockProvider, ConcurrentCallsWithRacingCancels) {
  TestHost host;
  auto provider = make_provider(host, options({{"chunk_size", "3"}, {"chunk_delay", "1ms"}}));
  std::vector<std::weak_ptr<FakeCall>> weaks;
  {
    std::vector<std::shared_ptr<FakeCall>> calls;
    for (int i = 0; i < 40; ++i) {
      calls.push_back(run(*provider, request("concurrent question number " + std::to_string(i))));
      weaks.push_back(calls.back());
    }
    for (std::size_t i = 0; i < calls.size(); i += 2) {
      std::this_thread::sleep_for(1ms);
      calls[i]->cancel();
    }
    for (std::size_t i = 1; i < calls.size(); i += 2) {
      ASSERT_TRUE(calls[i]->wait_terminal());
      expect_order_contract(calls[i]->events());
    }
    for (auto& call : calls) {
      EXPECT_LE(call->after_cancel(), 1);  // at most one emit racing the cancel
      EXPECT_FALSE(call->concurrent_emits());
    }
  }
  for (auto& weak : weaks) EXPECT_TRUE(eventually([&] { return weak.expired(); }));
}

TEST(MockHelpers, ParseMarkers) {
  Markers m = parse_markers("x [[mock:fail=503]] y [[mock:cut=2]][[mock:stall=4]] [[mock:delay=10]]"
                            "[[mock:first_byte_delay=20]]");
  EXPECT_EQ(m.fail, 503);
  EXPECT_EQ(m.cut, 2);
  EXPECT_EQ(m.stall, 4);
  EXPECT_EQ(m.delay_ms, 10);
  EXPECT_EQ(m.first_byte_delay_ms, 20);
  Markers none = parse_markers("[[mock:fail=abc]] [[mock:cut=-1]] [[mock:fail=42]] [[mock:stall=3");
  EXPECT_EQ(none.fail, 0);
  EXPECT_EQ(none.cut, -1);
  EXPECT_EQ(none.stall, -1);
  Markers combined = parse_markers("[[mock:cut=1, delay=5]]");
  EXPECT_EQ(combined.cut, 1);
  EXPECT_EQ(combined.delay_ms, 5);
}

// ---------------------------------------------------------------------------
// Options

TEST(MockOptions, Validation) {
  TestHost host;
  EXPECT_THROW(make_provider(host, options({{"chunk_sise", "4"}})), ConfigError);
  EXPECT_THROW(make_provider(host, options({{"chunk_size", "0"}})), ConfigError);
  EXPECT_THROW(make_provider(host, options({{"chunk_size", "four"}})), ConfigError);
  EXPECT_THROW(make_provider(host, options({{"tool_calls", "sometimes"}})), ConfigError);
  EXPECT_THROW(make_provider(host, options({{"fail_status", "42"}})), ConfigError);
  EXPECT_THROW(make_provider(host, options({{"cut_after", "-2"}})), ConfigError);
  EXPECT_THROW(make_provider(host, options({{"chunk_delay", "soon"}})), ConfigError);
  try {
    make_provider(host, options({{"chunk_size", "0"}}));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), kPath + ".chunk_size");
    EXPECT_EQ(e.mark().line, kMark.line);
  }
  ConfigNode empty_models = options();
  empty_models.insert("models", ConfigNode::sequence(kMark, kPath + ".models"));
  EXPECT_THROW(make_provider(host, empty_models), ConfigError);
}

TEST(MockOptions, AllKeysAccepted) {
  TestHost host;
  auto provider = make_provider(host, options({{"models", "m1"},
                                               {"chunk_size", "3"},
                                               {"chunk_delay", "250ms"},
                                               {"first_byte_delay", "1s"},
                                               {"reply", "hi"},
                                               {"tool_calls", "never"},
                                               {"fail_status", "503"},
                                               {"fail_message", "down"},
                                               {"cut_after", "5"},
                                               {"stall_after", "-1"}}));
  const MockOptions& o = provider->options();
  EXPECT_EQ(o.models, std::vector<std::string>{"m1"});
  EXPECT_EQ(o.chunk_size, 3);
  EXPECT_EQ(o.chunk_delay, 250ms);
  EXPECT_EQ(o.first_byte_delay, 1000ms);
  EXPECT_EQ(o.reply, "hi");
  EXPECT_FALSE(o.tool_calls);
  EXPECT_EQ(o.fail_status, 503);
  EXPECT_EQ(o.fail_message, "down");
  EXPECT_EQ(o.cut_after, 5);
  EXPECT_EQ(o.stall_after, -1);
}

}  // namespace
}  // namespace llmux::mock
