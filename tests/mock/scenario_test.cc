// Mock scenarios: parsing (with file:line:column errors), matching, the
// answers they script, how they combine with the built-in agent, faults and
// pacing, and the `scenario` option resolved against the config file.
#include "scenario.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "llmux/json.h"
#include "mock_provider.h"

namespace llmux::mock {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

Message msg(Role role, std::string text) {
  Message m;
  m.role = role;
  m.content.push_back(ContentPart::make_text(std::move(text)));
  return m;
}

Tool tool(std::string name, std::string parameters) {
  Tool t;
  t.name = std::move(name);
  t.parameters_json = std::move(parameters);
  return t;
}

const char* kKiloWrite = R"({"type":"object","properties":{"content":{"type":"string"},
  "filePath":{"type":"string"}},"required":["content","filePath"]})";
const char* kClaudeWrite = R"({"type":"object","properties":{"file_path":{"type":"string"},
  "content":{"type":"string"}},"required":["file_path","content"]})";

ChatRequest chat(std::string user) {
  ChatRequest r;
  r.model = "mock";
  r.messages.push_back(msg(Role::System, "You are a test."));
  r.messages.push_back(msg(Role::User, std::move(user)));
  return r;
}

std::shared_ptr<const Scenario> scenario(const std::string& yaml) { return Scenario::parse(yaml, "s.yaml"); }

MockOptions with(std::shared_ptr<const Scenario> s) {
  MockOptions o;
  o.scenario = std::move(s);
  return o;
}

std::vector<Event> events_of(const Plan& plan) {
  std::vector<Event> out;
  for (const auto& step : plan.steps) out.insert(out.end(), step.events.begin(), step.events.end());
  return out;
}

std::string text_of(const Plan& plan, Event::Kind kind = Event::Kind::TextDelta) {
  std::string out;
  for (const Event& e : events_of(plan)) {
    if (e.kind == kind) out += e.text;
  }
  return out;
}

struct CallSeen {
  std::string name;
  std::string arguments;
};
std::vector<CallSeen> calls_of(const Plan& plan) {
  std::vector<CallSeen> out;
  for (const Event& e : events_of(plan)) {
    if (e.kind != Event::Kind::ToolCallDelta) continue;
    if (static_cast<std::size_t>(e.index) == out.size()) out.push_back({e.name, {}});
    out[e.index].arguments += e.text;
  }
  return out;
}

const Event& terminal(const Plan& plan) {
  static const Event none;
  if (plan.steps.empty() || plan.steps.back().events.empty()) {
    ADD_FAILURE() << "empty plan";
    return none;
  }
  return plan.steps.back().events.back();
}

// The ConfigError a scenario text gives, as "file:line:column: path: detail".
std::string error_of(const std::string& yaml) {
  try {
    scenario(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// ---------------------------------------------------------------------------
// Matching

TEST(MockScenario, FirstMatchingTurnAnswers) {
  auto s = scenario(R"Y(
turns:
  - match: {user: "(?i)^hello (\\w+)"}
    text: "Hi {{1}}, turn {{turn}}"
  - match: {user: hello}
    text: "second"
  - text: "anything else"
)Y");
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ(text_of(make_plan(with(s), chat("HELLO World"))), "Hi World, turn 1");
  EXPECT_EQ(text_of(make_plan(with(s), chat("say hello"))), "second");
  EXPECT_EQ(text_of(make_plan(with(s), chat("bye"))), "anything else");
}

TEST(MockScenario, TurnNumbersToolResultsSystemAndTools) {
  auto s = scenario(R"Y(
turns:
  - match: {tool_result: true}
    text: "result: {{tool_result}}"
  - match: {turn: 1, system: "Kilo"}
    text: "kilo first"
  - match: {turn: [2, 4]}
    text: "two or four"
  - match: {turn: "5+"}
    text: "five and later"
  - match: {tool: "@write"}
    text: "a writer is offered"
  - match: {tool: read}
    text: "read is offered"
)Y");
  ChatRequest r = chat("hi");
  // Turn 1 without "Kilo" in the system prompt and no tools: nothing matches,
  // the built-in answer comes.
  EXPECT_EQ(text_of(make_plan(with(s), r)), "Mock answer to: hi");
  r.messages[0] = msg(Role::System, "You are Kilo.");
  EXPECT_EQ(text_of(make_plan(with(s), r)), "kilo first");

  auto at_turn = [&](int turn) {
    ChatRequest t = chat("hi");
    for (int i = 1; i < turn; ++i) {
      t.messages.push_back(msg(Role::Assistant, "ok"));
      t.messages.push_back(msg(Role::User, "more"));
    }
    return text_of(make_plan(with(s), t));
  };
  EXPECT_EQ(at_turn(2), "two or four");
  EXPECT_EQ(at_turn(3), "Mock answer to: more");
  EXPECT_EQ(at_turn(4), "two or four");
  EXPECT_EQ(at_turn(5), "five and later");
  EXPECT_EQ(at_turn(9), "five and later");

  ChatRequest tools = chat("hi");
  tools.tools = {tool("read", R"({"type":"object"})")};
  EXPECT_EQ(text_of(make_plan(with(s), tools)), "read is offered");
  tools.tools.push_back(tool("write", kKiloWrite));
  EXPECT_EQ(text_of(make_plan(with(s), tools)), "a writer is offered");

  ChatRequest result = chat("hi");
  Message call;
  call.role = Role::Assistant;
  call.tool_calls.push_back({"c1", "read", "{}"});
  result.messages.push_back(call);
  Message out = msg(Role::Tool, "file body");
  out.tool_call_id = "c1";
  result.messages.push_back(out);
  EXPECT_EQ(text_of(make_plan(with(s), result)), "result: file body");
}

// ---------------------------------------------------------------------------
// Answers

TEST(MockScenario, ReasoningTextAndTypedToolArguments) {
  auto s = scenario(R"Y(
turns:
  - reasoning: "thinking"
    text: "calling"
    tool_calls:
      - name: lookup
        arguments: {query: "{{user}}", limit: 5, exact: true, ratio: 0.5, quoted: "5", none: null, list: [a, 2]}
      - name: raw
        arguments: '{"n": 1, "s": "{{turn}}"}'
)Y");
  Plan plan = make_plan(with(s), chat("find \"x\""));
  auto events = events_of(plan);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events[0].kind, Event::Kind::Role);
  EXPECT_EQ(events[1].kind, Event::Kind::Usage) << "the prompt's count before any content";
  EXPECT_EQ(events[2].kind, Event::Kind::ReasoningDelta) << "reasoning comes first";
  EXPECT_EQ(text_of(plan, Event::Kind::ReasoningDelta), "thinking");
  EXPECT_EQ(text_of(plan), "calling");
  auto calls = calls_of(plan);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].name, "lookup");
  EXPECT_EQ(calls[0].arguments,
            R"({"query":"find \"x\"","limit":5,"exact":true,"ratio":0.5,"quoted":"5","none":null,"list":["a",2]})");
  EXPECT_EQ(calls[1].name, "raw");
  EXPECT_EQ(calls[1].arguments, R"({"n":1,"s":"1"})");
  EXPECT_EQ(terminal(plan).finish, FinishReason::ToolCalls);
}

TEST(MockScenario, AtWriteUsesTheClientsWriter) {
  auto s = scenario(R"Y(
turns:
  - tool_calls:
      - name: "@write"
        arguments: {path: "{{file}}", content: "{{content}}!"}
)Y");
  ChatRequest kilo = chat("create hello.txt with the text hello");
  kilo.tools = {tool("bash", R"({"type":"object"})"), tool("write", kKiloWrite)};
  auto calls = calls_of(make_plan(with(s), kilo));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "write");
  EXPECT_EQ(calls[0].arguments, R"({"filePath":"hello.txt","content":"hello!"})");

  ChatRequest claude = kilo;
  claude.source_api = Api::Anthropic;
  claude.tools = {tool("Write", kClaudeWrite)};
  calls = calls_of(make_plan(with(s), claude));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "Write");
  EXPECT_EQ(calls[0].arguments, R"({"file_path":"hello.txt","content":"hello!"})");

  // No writer offered: a text answer, never an empty one.
  Plan none = make_plan(with(s), chat("create a.txt"));
  EXPECT_TRUE(calls_of(none).empty());
  EXPECT_EQ(text_of(none), "mock scenario: the client offers no file-writing tool.");
  EXPECT_EQ(terminal(none).finish, FinishReason::Stop);
}

TEST(MockScenario, EmptyExpansionIsNeverAnEmptyAnswer) {
  auto s = scenario("turns:\n  - match: {user: \"x(y)?\"}\n    text: \"{{1}}\"\n");
  Plan plan = make_plan(with(s), chat("x"));
  EXPECT_EQ(text_of(plan), "Mock answer.");
}

TEST(MockScenario, Errors) {
  auto s = scenario(R"Y(
turns:
  - match: {user: limit}
    error: {status: 429, message: "slow down", retry_after: 2s}
  - match: {user: down}
    error: 503
)Y");
  Plan limited = make_plan(with(s), chat("limit"));
  ASSERT_EQ(events_of(limited).size(), 1u);
  const Event& e = terminal(limited);
  ASSERT_EQ(e.kind, Event::Kind::Error);
  EXPECT_EQ(e.error.status, 429);
  EXPECT_EQ(e.error.type, "rate_limit_error");
  EXPECT_EQ(e.error.message, "slow down");
  ASSERT_TRUE(e.error.retry_after);
  EXPECT_EQ(*e.error.retry_after, 2000ms);

  Plan down = make_plan(with(s), chat("down"));
  EXPECT_EQ(terminal(down).error.status, 503);
  EXPECT_EQ(terminal(down).error.message, "mock scenario: HTTP 503");
}

TEST(MockScenario, PacingCutAndStall) {
  auto s = scenario(R"Y(
turns:
  - match: {user: cut}
    text: "abcdefghijkl"
    delay: 300ms
    chunk_delay: 20ms
    cut_after: 2
  - match: {user: stall}
    text: "abcdefghijkl"
    stall_after: 1
  - match: {user: length}
    text: "abc"
    finish: length
)Y");
  MockOptions o = with(s);
  o.chunk_size = 4;
  Plan cut = make_plan(o, chat("cut"));
  ASSERT_EQ(cut.steps.size(), 2u);
  EXPECT_EQ(cut.steps[0].delay, 300ms);
  EXPECT_EQ(cut.steps[1].delay, 20ms);
  EXPECT_EQ(text_of(cut), "abcdefgh");
  EXPECT_EQ(terminal(cut).kind, Event::Kind::Error);
  EXPECT_EQ(terminal(cut).error.status, 502);

  Plan stall = make_plan(o, chat("stall"));
  EXPECT_TRUE(stall.stall);
  EXPECT_EQ(text_of(stall), "abcd");

  Plan length = make_plan(o, chat("length"));
  EXPECT_EQ(terminal(length).finish, FinishReason::Length);

  // Markers in the prompt still win over the scenario.
  Plan marked = make_plan(o, chat("cut [[mock:first_byte_delay=5]]"));
  EXPECT_EQ(marked.steps[0].delay, 5ms);
}

TEST(MockScenario, AgentTurnKeepsBuiltInAnswerWithPacing) {
  auto s = scenario(R"Y(
turns:
  - match: {user: slow}
    delay: 1s
    agent: true
)Y");
  ChatRequest r = chat("slow: create hello.txt with the text hello");
  r.tools = {tool("write", kKiloWrite)};
  Plan plan = make_plan(with(s), r);
  EXPECT_EQ(plan.steps[0].delay, 1000ms);
  auto calls = calls_of(plan);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].arguments, R"({"filePath":"hello.txt","content":"hello"})");
  EXPECT_NE(plan.origin.find("scenario s.yaml turn 1"), std::string::npos) << plan.origin;
}

TEST(MockScenario, ScriptedToolLoopsAreBounded) {
  auto s = scenario(R"Y(
turns:
  - tool_calls: [{name: again}]
)Y");
  MockOptions o = with(s);
  o.max_tool_turns = 3;
  ChatRequest r = chat("loop");
  int calls = 0;
  for (int i = 0; i < 10; ++i) {
    Plan plan = make_plan(o, r);
    auto seen = calls_of(plan);
    if (seen.empty()) {
      EXPECT_EQ(terminal(plan).finish, FinishReason::Stop);
      EXPECT_FALSE(text_of(plan).empty());
      break;
    }
    ++calls;
    Message a;
    a.role = Role::Assistant;
    a.tool_calls.push_back({"c" + std::to_string(i), seen[0].name, seen[0].arguments});
    r.messages.push_back(a);
    Message out = msg(Role::Tool, "ok");
    out.tool_call_id = "c" + std::to_string(i);
    r.messages.push_back(out);
  }
  EXPECT_EQ(calls, 3);
}

// ---------------------------------------------------------------------------
// Errors in scenario files

TEST(MockScenarioErrors, PositionsAndMessages) {
  // YAML syntax errors keep yaml-cpp's position and message.
  EXPECT_EQ(error_of("turns:\n  - text: [unclosed\n"), "s.yaml:3:1: end of sequence flow not found");
  EXPECT_EQ(error_of("turns:\n  - txt: hi\n"),
            "s.yaml:2:5: turns[0].txt: unknown key 'txt' (known: name, match, reasoning, text, tool_calls, error, "
            "finish, delay, chunk_delay, cut_after, stall_after, agent)");
  EXPECT_EQ(error_of("turns:\n  - match: {user: \"(\"}\n    text: x\n").substr(0, 37),
            "s.yaml:2:19: turns[0].match.user: inv");
  EXPECT_EQ(error_of("turns:\n  - error: 200\n"),
            "s.yaml:2:12: turns[0].error: must be an HTTP error status 400..599");
  EXPECT_EQ(error_of("turns:\n  - match: {turn: 0}\n    text: x\n"),
            "s.yaml:2:19: turns[0].match.turn: turn numbers start at 1");
  EXPECT_EQ(error_of("turns:\n  - match: {tool_result: maybe}\n    text: x\n").substr(0, 40),
            "s.yaml:2:26: turns[0].match.tool_result:");
  EXPECT_EQ(error_of("turns:\n  - name: quiet\n"),
            "s.yaml:2:5: turns[0]: a turn needs text, tool_calls, error or agent: true (an empty answer fails "
            "agents)");
  EXPECT_EQ(error_of("turns:\n  - text: \"{{nme}}\"\n"),
            "s.yaml:2:11: turns[0].text: unknown placeholder '{{nme}}' (known: user, task, file, content, turn, "
            "tool_result, working_directory, 0..9)");
  EXPECT_EQ(error_of("turns:\n  - text: x\n    error: 500\n").substr(0, 28), "s.yaml:2:5: turns[0]: an err");
  EXPECT_EQ(error_of("turns:\n  - text: a\n    text: b\n"),
            "s.yaml:3:5: turns[0].text: duplicate key 'text' (first at line 2)");
  EXPECT_EQ(error_of("turns: []\n"), "s.yaml:1:8: turns: must be a non-empty list of turns");
  EXPECT_EQ(error_of("- text: x\n"), "s.yaml:1:1: a scenario is a map with a 'turns' list");
  EXPECT_EQ(error_of("turns:\n  - text: x\n    delay: soon\n").substr(0, 29), "s.yaml:3:12: turns[0].delay: ");
  EXPECT_EQ(error_of("turns:\n  - tool_calls: [{arguments: {}}]\n"),
            "s.yaml:2:18: turns[0].tool_calls[0]: a tool call needs a name");
  EXPECT_EQ(error_of("turns:\n  - tool_calls: [{name: x, arguments: \"[1]\"}]\n"),
            "s.yaml:2:39: turns[0].tool_calls[0].arguments: must be a map, or a JSON object as a string");
}

// ---------------------------------------------------------------------------
// The `scenario` option

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("llmux-mock-scenario-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    fs::create_directories((path / name).parent_path());
    std::ofstream(path / name) << text;
  }
};

ConfigNode options_naming(const fs::path& config_file, const std::string& scenario_value) {
  SourceMark mark{config_file.string(), 7, 5};
  ConfigNode node = ConfigNode::map(mark, "providers.mock.options");
  node.insert("scenario",
              ConfigNode::scalar(scenario_value, SourceMark{config_file.string(), 8, 17}, "providers.mock.options.scenario"));
  return node;
}

TEST(MockScenarioOption, ResolvedAgainstTheConfigFile) {
  TempDir dir;
  dir.write("scenarios/demo.yaml", "turns:\n  - text: scripted\n");
  MockOptions o = MockOptions::parse(options_naming(dir.path / "providers.yaml", "scenarios/demo.yaml"));
  ASSERT_TRUE(o.scenario);
  EXPECT_EQ(o.scenario_path, (dir.path / "scenarios/demo.yaml").string());
  EXPECT_EQ(text_of(make_plan(o, chat("hi"))), "scripted");

  // An absolute path is taken as it is.
  MockOptions abs = MockOptions::parse(options_naming("/elsewhere/providers.yaml",
                                                      (dir.path / "scenarios/demo.yaml").string()));
  ASSERT_TRUE(abs.scenario);
}

TEST(MockScenarioOption, MissingAndBrokenFiles) {
  TempDir dir;
  const fs::path config = dir.path / "providers.yaml";
  try {
    MockOptions::parse(options_naming(config, "nope.yaml"));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.mark().file, config.string()) << "reported where the option is";
    EXPECT_EQ(e.mark().line, 8);
    EXPECT_EQ(e.path(), "providers.mock.options.scenario");
    EXPECT_NE(std::string(e.what()).find("cannot read scenario file '" + (dir.path / "nope.yaml").string()),
              std::string::npos)
        << e.what();
  }
  dir.write("bad.yaml", "turns:\n  - text: ok\n  - match: {turn: x}\n    text: y\n");
  try {
    MockOptions::parse(options_naming(config, "bad.yaml"));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.mark().file, (dir.path / "bad.yaml").string()) << "reported in the scenario file";
    EXPECT_EQ(e.mark().line, 3);
    EXPECT_EQ(e.mark().column, 19);
    EXPECT_EQ(e.path(), "turns[1].match.turn");
  }
}

// Every scenario shipped in examples/ loads.
TEST(MockScenarioOption, ShippedExamplesLoad) {
  const fs::path dir = fs::path(LLMUX_SOURCE_DIR) / "examples" / "mock-scenarios";
  int loaded = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    ConfigNode where = ConfigNode::scalar(entry.path().string(), SourceMark{"providers.yaml", 1, 1}, "scenario");
    auto s = Scenario::load(entry.path().string(), where);
    EXPECT_GT(s->size(), 0u);
    ++loaded;
  }
  EXPECT_GE(loaded, 3);
}

TEST(MockScenarioOption, ShippedAgentDemoPlaysKilosTask) {
  ConfigNode where = ConfigNode::scalar("x", SourceMark{"providers.yaml", 1, 1}, "scenario");
  auto s = Scenario::load(std::string(LLMUX_SOURCE_DIR) + "/examples/mock-scenarios/agent-demo.yaml", where);
  ChatRequest r = chat("create hello.txt with the text hello");
  r.tools = {tool("write", kKiloWrite)};
  Plan first = make_plan(with(s), r);
  auto calls = calls_of(first);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].arguments, R"({"filePath":"hello.txt","content":"hello"})");
  EXPECT_EQ(text_of(first, Event::Kind::ReasoningDelta), "The task names hello.txt; I will write it.");

  Message a;
  a.role = Role::Assistant;
  a.tool_calls.push_back({"c1", "write", calls[0].arguments});
  r.messages.push_back(a);
  Message out = msg(Role::Tool, "Wrote file successfully.");
  out.tool_call_id = "c1";
  r.messages.push_back(out);
  EXPECT_EQ(text_of(make_plan(with(s), r)), "Created hello.txt. The tool said: Wrote file successfully.");

  EXPECT_EQ(text_of(make_plan(with(s), chat("What is this?"))),
            "This is a scripted answer from the llmux mock. You asked: What is this?");
}

}  // namespace
}  // namespace llmux::mock
