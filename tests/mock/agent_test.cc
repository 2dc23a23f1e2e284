// The mock's agent simulator: conversations shaped like the ones real coding
// agents send (Kilo Code CLI, Claude Code through the Anthropic codec, Roo /
// Cline with native tools, Codex CLI through the Responses codec, the XML-tag
// protocol of the older extensions),
// planned with make_plan() and checked event by event.
#include "agent.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "llmux/codec/responses.h"
#include "llmux/json.h"
#include "mock_provider.h"
#include "scenario.h"

namespace llmux::mock {
namespace {

// ---------------------------------------------------------------------------
// Conversation builders

Message msg(Role role, std::string text) {
  Message m;
  m.role = role;
  m.content.push_back(ContentPart::make_text(std::move(text)));
  return m;
}

// A user message in parts, as Kilo and Claude Code send it.
Message parts(Role role, std::vector<std::string> texts) {
  Message m;
  m.role = role;
  m.content_was_string = false;
  for (auto& t : texts) m.content.push_back(ContentPart::make_text(std::move(t)));
  return m;
}

Message assistant_call(std::string id, std::string name, std::string arguments) {
  Message m;
  m.role = Role::Assistant;
  m.content_was_null = true;
  m.tool_calls.push_back({std::move(id), std::move(name), std::move(arguments)});
  return m;
}

Message tool_result(std::string id, std::string text) {
  Message m = msg(Role::Tool, std::move(text));
  m.tool_call_id = std::move(id);
  return m;
}

Tool tool(std::string name, std::string parameters) {
  Tool t;
  t.name = std::move(name);
  t.parameters_json = std::move(parameters);
  return t;
}

// The tools as the clients send them (schemas trimmed to what matters).
const char* kKiloWrite = R"J({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
  "properties":{"content":{"type":"string","description":"The content to write to the file"},
  "filePath":{"type":"string","description":"The absolute path to the file to write (must be absolute, not relative)"}},
  "required":["content","filePath"]})J";
const char* kKiloEdit = R"({"type":"object","properties":{"filePath":{"type":"string"},
  "oldString":{"type":"string"},"newString":{"type":"string"},"replaceAll":{"type":"boolean"}},
  "required":["filePath","oldString","newString"]})";
const char* kKiloRead = R"({"type":"object","properties":{"filePath":{"type":"string"},
  "offset":{"type":"number"}},"required":["filePath"]})";
const char* kBash = R"({"type":"object","properties":{"command":{"type":"string"},
  "description":{"type":"string"}},"required":["command","description"]})";
const char* kClaudeWrite = R"J({"type":"object","additionalProperties":false,"properties":{
  "file_path":{"type":"string","description":"The absolute path to the file to write (must be absolute, not relative)"},
  "content":{"type":"string","description":"The content to write to the file"}},"required":["file_path","content"]})J";
const char* kRooWrite = R"({"type":"object","properties":{
  "path":{"type":"string","description":"File path relative to the workspace"},
  "content":{"type":"string"},"line_count":{"type":"integer"}},"required":["path","content","line_count"]})";
const char* kRooDone = R"({"type":"object","properties":{"result":{"type":"string"}},"required":["result"]})";

std::vector<Tool> kilo_tools() {
  return {tool("bash", kBash), tool("edit", kKiloEdit), tool("read", kKiloRead), tool("write", kKiloWrite)};
}

// Kilo Code CLI 7.7.7's first request, as recorded (system prompt shortened).
ChatRequest kilo_request(const std::string& prompt = "create hello.txt with the text hello") {
  ChatRequest r;
  r.model = "mock";
  r.stream = true;
  r.include_usage = true;
  r.messages.push_back(msg(Role::System, "You are Kilo, a highly skilled software engineer..."));
  r.messages.push_back(parts(Role::User, {"\"" + prompt + "\"",
                                          "\n\n<environment_details>\nMessage time: 2026-11-21T07:49:07Z\n"
                                          "Working directory: /tmp/ws\nWorkspace root folder: /tmp/ws\n"
                                          "</environment_details>"}));
  r.tools = kilo_tools();
  r.tool_choice.mode = ToolChoice::Mode::Auto;
  return r;
}

// ---------------------------------------------------------------------------
// Reading the plan

std::vector<Event> events_of(const Plan& plan) {
  std::vector<Event> out;
  for (const auto& step : plan.steps) out.insert(out.end(), step.events.begin(), step.events.end());
  return out;
}

struct Said {
  std::string text;
  std::string reasoning;
  struct Call {
    std::string id, name, arguments;
  };
  std::vector<Call> calls;
  std::optional<FinishReason> finish;
  std::optional<Error> error;
};

Said said(const Plan& plan) {
  Said s;
  for (const Event& e : events_of(plan)) {
    switch (e.kind) {
      case Event::Kind::TextDelta: s.text += e.text; break;
      case Event::Kind::ReasoningDelta: s.reasoning += e.text; break;
      case Event::Kind::ToolCallDelta:
        if (static_cast<std::size_t>(e.index) >= s.calls.size()) {
          EXPECT_EQ(static_cast<std::size_t>(e.index), s.calls.size()) << "tool call indexes in order";
          EXPECT_FALSE(e.id.empty()) << "first delta of a call carries its id";
          EXPECT_FALSE(e.name.empty()) << "first delta of a call carries its name";
          s.calls.push_back({e.id, e.name, {}});
        }
        s.calls[e.index].arguments += e.text;
        break;
      case Event::Kind::Finish: s.finish = e.finish; break;
      case Event::Kind::Error: s.error = e.error; break;
      default: break;
    }
  }
  return s;
}

Said plan_for(const ChatRequest& r, const MockOptions& o = MockOptions{}) { return said(make_plan(o, r)); }

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  EXPECT_FALSE(d.HasParseError()) << json;
  EXPECT_TRUE(d.IsObject()) << json;
  return d;
}

std::string str(const rapidjson::Document& d, const char* key) {
  auto it = d.FindMember(key);
  if (it == d.MemberEnd() || !it->value.IsString()) {
    ADD_FAILURE() << "no string member " << key << " in " << json::to_string(d);
    return {};
  }
  return it->value.GetString();
}

// ---------------------------------------------------------------------------
// Reading prompts

TEST(MockAgentText, CleanUserText) {
  EXPECT_EQ(clean_user_text("\"create hello.txt with the text hello\"\n\n<environment_details>\nWorking "
                            "directory: /x\n</environment_details>"),
            "create hello.txt with the text hello");
  EXPECT_EQ(clean_user_text("<task>\nwrite a.md\n</task>\n<environment_details>\n# Files\nb.txt\n"
                            "</environment_details>"),
            "write a.md");
  EXPECT_EQ(clean_user_text("<system-reminder>\nThe date is x.\n</system-reminder>\nWhat is 2+2?"), "What is 2+2?");
  EXPECT_EQ(clean_user_text("  say \"hi\" to me  "), "say \"hi\" to me");  // inner quotes stay
  EXPECT_EQ(clean_user_text("<environment_details>unterminated"), "");
}

TEST(MockAgentText, FileTaskFromPrompt) {
  FileTask a = file_task("create hello.txt with the text hello");
  EXPECT_EQ(a.path, "hello.txt");
  EXPECT_EQ(a.content, "hello");
  EXPECT_TRUE(a.path_named);
  EXPECT_TRUE(a.content_named);

  FileTask b = file_task("Please write `src/notes.md` containing \"# Notes\nfirst line\".");
  EXPECT_EQ(b.path, "src/notes.md");
  EXPECT_EQ(b.content, "# Notes\nfirst line");

  FileTask c = file_task("Create hello.txt.");
  EXPECT_EQ(c.path, "hello.txt");
  EXPECT_TRUE(c.path_named);
  EXPECT_FALSE(c.content_named);
  EXPECT_FALSE(c.content.empty()) << "a default content, never an empty file";

  FileTask d = file_task("make a file named report with the content: quarterly numbers.");
  EXPECT_EQ(d.path, "report");
  EXPECT_EQ(d.content, "quarterly numbers");

  FileTask e = file_task("write something, e.g. a poem, version 3.5 please");
  EXPECT_FALSE(e.path_named) << e.path;
  EXPECT_EQ(e.path, "mock.txt");

  FileTask f = file_task("save it to 'out/data.json' that says 'it''s'");
  EXPECT_EQ(f.path, "out/data.json");
  EXPECT_EQ(f.content, "it");

  FileTask g = file_task("add a .gitignore with the text node_modules");
  EXPECT_EQ(g.path, ".gitignore");
  EXPECT_EQ(g.content, "node_modules");
}

TEST(MockAgentText, QuestionsAndTasks) {
  EXPECT_TRUE(looks_like_question("What is 2+2?"));
  EXPECT_TRUE(looks_like_question("explain the gateway"));
  EXPECT_TRUE(looks_like_question("how do I write a for loop?"));
  EXPECT_FALSE(looks_like_question("can you create hello.txt?"));
  EXPECT_FALSE(looks_like_question("create hello.txt with the text hello"));
  EXPECT_FALSE(looks_like_question("write hello to a file"));
  EXPECT_FALSE(looks_like_question("refactor the parser"));
  EXPECT_FALSE(looks_like_question(""));
}

TEST(MockAgentText, LineCount) {
  EXPECT_EQ(line_count(""), 0);
  EXPECT_EQ(line_count("a"), 1);
  EXPECT_EQ(line_count("a\nb"), 2);
  EXPECT_EQ(line_count("a\nb\n"), 2);
}

// ---------------------------------------------------------------------------
// Finding the writing tool

TEST(MockAgentTools, FindsEachClientsWriter) {
  const std::vector<Tool> kilo_offered = kilo_tools();  // the result points into it
  auto kilo = find_write_tool(kilo_offered);
  ASSERT_TRUE(kilo);
  EXPECT_EQ(kilo->tool->name, "write");
  EXPECT_EQ(kilo->path_key, "filePath");
  EXPECT_EQ(kilo->content_key, "content");
  EXPECT_TRUE(kilo->wants_absolute);

  std::vector<Tool> claude = {tool("Bash", kBash), tool("Edit", kKiloEdit), tool("Write", kClaudeWrite)};
  auto cc = find_write_tool(claude);
  ASSERT_TRUE(cc);
  EXPECT_EQ(cc->tool->name, "Write");
  EXPECT_EQ(cc->path_key, "file_path");

  std::vector<Tool> roo = {tool("read_file", kKiloRead), tool("write_to_file", kRooWrite),
                           tool("attempt_completion", kRooDone)};
  auto rw = find_write_tool(roo);
  ASSERT_TRUE(rw);
  EXPECT_EQ(rw->tool->name, "write_to_file");
  EXPECT_EQ(rw->path_key, "path");
  EXPECT_EQ(rw->line_count_key, "line_count");
  EXPECT_FALSE(rw->wants_absolute);

  // Any tool whose schema fits, whatever its name.
  std::vector<Tool> other = {tool("store_document", R"({"type":"object","properties":{
      "target_path":{"type":"string"},"text":{"type":"string"},"overwrite":{"type":"boolean"}},
      "required":["target_path","text","overwrite"]})")};
  auto od = find_write_tool(other);
  ASSERT_TRUE(od);
  EXPECT_EQ(od->path_key, "target_path");
  EXPECT_EQ(od->content_key, "text");
  auto args = parse(write_arguments(*od, "a.txt", "x"));
  EXPECT_EQ(str(args, "target_path"), "a.txt");
  EXPECT_EQ(str(args, "text"), "x");
  ASSERT_TRUE(args.HasMember("overwrite")) << "other required members are filled from the schema";
  EXPECT_TRUE(args["overwrite"].IsBool());

  // Editing tools and tools without both a path and a content are not writers.
  EXPECT_FALSE(find_write_tool({tool("edit", kKiloEdit), tool("read", kKiloRead), tool("bash", kBash)}));
  EXPECT_FALSE(find_write_tool({tool("append_file", R"({"type":"object","properties":{
      "path":{"type":"string"},"content":{"type":"string"}}})")}));
  EXPECT_FALSE(find_write_tool({tool("write", "not json")}));
}

TEST(MockAgentTools, WriteArgumentsWithLineCount) {
  std::vector<Tool> roo = {tool("write_to_file", kRooWrite)};
  auto w = find_write_tool(roo);
  ASSERT_TRUE(w);
  EXPECT_EQ(write_arguments(*w, "a.txt", "one\ntwo\n"),
            R"({"path":"a.txt","content":"one\ntwo\n","line_count":2})");
}

// ---------------------------------------------------------------------------
// Reading conversations

TEST(MockAgentConversation, KiloTurns) {
  ChatRequest r = kilo_request();
  Conversation c = analyze(r);
  EXPECT_EQ(c.turn, 1);
  EXPECT_FALSE(c.tool_result);
  EXPECT_EQ(c.task, "create hello.txt with the text hello");
  EXPECT_EQ(c.working_directory, "/tmp/ws");
  EXPECT_EQ(c.task_tool_turns, 0);

  r.messages.push_back(assistant_call("call_1", "write", R"({"filePath":"/tmp/ws/hello.txt","content":"hello"})"));
  r.messages.push_back(tool_result("call_1", "Wrote file successfully."));
  c = analyze(r);
  EXPECT_EQ(c.turn, 2);
  EXPECT_TRUE(c.tool_result);
  EXPECT_EQ(c.task_tool_turns, 1);
  EXPECT_EQ(c.task, "create hello.txt with the text hello");
  EXPECT_EQ(c.last_tool, "write");
  EXPECT_EQ(c.last_write_path, "/tmp/ws/hello.txt");
  EXPECT_EQ(c.last_tool_result, "Wrote file successfully.");

  // The task ends with text; the next user message is a fresh task.
  r.messages.push_back(msg(Role::Assistant, "Done."));
  r.messages.push_back(msg(Role::User, "now create b.txt"));
  c = analyze(r);
  EXPECT_EQ(c.turn, 3);
  EXPECT_FALSE(c.tool_result);
  EXPECT_EQ(c.task_tool_turns, 0);
  EXPECT_EQ(c.task, "now create b.txt");
}

TEST(MockAgentConversation, AnthropicToolResultFollowedByUserText) {
  // Claude Code's tool_result user turn also carries text blocks: the codec
  // gives Tool messages then a User message. That is still a tool result.
  ChatRequest r;
  r.source_api = Api::Anthropic;
  r.messages.push_back(msg(Role::System, "You are Claude Code.\nWorking directory: /home/u/proj\n"));
  r.messages.push_back(parts(Role::User, {"<system-reminder>ctx</system-reminder>", "create a.txt"}));
  r.messages.push_back(assistant_call("toolu_1", "Write", R"({"file_path":"/home/u/proj/a.txt","content":"x"})"));
  r.messages.push_back(tool_result("toolu_1", "File created successfully"));
  r.messages.push_back(msg(Role::User, "<system-reminder>todo list empty</system-reminder>"));
  Conversation c = analyze(r);
  EXPECT_TRUE(c.tool_result);
  EXPECT_EQ(c.task_tool_turns, 1);
  EXPECT_EQ(c.task, "create a.txt");
  EXPECT_EQ(c.working_directory, "/home/u/proj");
}

// ---------------------------------------------------------------------------
// Native tools

TEST(MockAgentNative, KiloCompletesCreateHello) {
  ChatRequest r = kilo_request();
  Said first = plan_for(r);
  ASSERT_EQ(first.calls.size(), 1u) << first.text;
  EXPECT_EQ(first.calls[0].name, "write");
  EXPECT_EQ(first.calls[0].id.rfind("call_mock_", 0), 0u);
  auto args = parse(first.calls[0].arguments);
  EXPECT_EQ(str(args, "filePath"), "/tmp/ws/hello.txt") << "absolute, as the schema asks";
  EXPECT_EQ(str(args, "content"), "hello");
  EXPECT_EQ(first.finish, FinishReason::ToolCalls);
  EXPECT_TRUE(first.text.empty());

  r.messages.push_back(assistant_call(first.calls[0].id, "write", first.calls[0].arguments));
  r.messages.push_back(tool_result(first.calls[0].id, "Wrote file successfully."));
  Said second = plan_for(r);
  EXPECT_TRUE(second.calls.empty()) << "no tool call once the result is there";
  EXPECT_EQ(second.text, "Done: wrote /tmp/ws/hello.txt.");
  EXPECT_EQ(second.finish, FinishReason::Stop);
}

TEST(MockAgentNative, RelativePathWithoutWorkingDirectory) {
  ChatRequest r = kilo_request();
  r.messages[1] = msg(Role::User, "create hello.txt with the text hello");
  Said s = plan_for(r);
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(str(parse(s.calls[0].arguments), "filePath"), "hello.txt");
}

TEST(MockAgentNative, ClaudeCodeWrite) {
  ChatRequest r;
  r.source_api = Api::Anthropic;
  r.messages.push_back(msg(Role::System, "You are Claude Code.\n<env>\nWorking directory: /home/u/proj\n</env>"));
  r.messages.push_back(parts(Role::User, {"<system-reminder>x</system-reminder>",
                                          "create hello.txt with the text hello"}));
  r.tools = {tool("Bash", kBash), tool("Edit", kKiloEdit), tool("Write", kClaudeWrite)};
  Said s = plan_for(r);
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(s.calls[0].name, "Write");
  auto args = parse(s.calls[0].arguments);
  EXPECT_EQ(str(args, "file_path"), "/home/u/proj/hello.txt");
  EXPECT_EQ(str(args, "content"), "hello");

  // A plain question gets a plain answer, tools or not.
  r.messages.back() = msg(Role::User, "What is the capital of France?");
  Said q = plan_for(r);
  EXPECT_TRUE(q.calls.empty());
  EXPECT_EQ(q.text, "Mock answer to: What is the capital of France?");
  EXPECT_EQ(q.finish, FinishReason::Stop);
}

TEST(MockAgentNative, RooWritesThenAttemptsCompletionThenStops) {
  ChatRequest r;
  r.messages.push_back(msg(Role::System, "You are Roo."));
  r.messages.push_back(msg(Role::User, "<task>\ncreate notes.md with the text # Notes\n</task>"));
  r.tools = {tool("read_file", kKiloRead), tool("write_to_file", kRooWrite), tool("attempt_completion", kRooDone)};
  r.parallel_tool_calls = false;

  Said first = plan_for(r);
  ASSERT_EQ(first.calls.size(), 1u);
  EXPECT_EQ(first.calls[0].name, "write_to_file");
  EXPECT_EQ(first.calls[0].arguments, R"({"path":"notes.md","content":"# Notes","line_count":1})");

  r.messages.push_back(assistant_call(first.calls[0].id, first.calls[0].name, first.calls[0].arguments));
  r.messages.push_back(tool_result(first.calls[0].id, "File written"));
  Said second = plan_for(r);
  ASSERT_EQ(second.calls.size(), 1u);
  EXPECT_EQ(second.calls[0].name, "attempt_completion");
  EXPECT_EQ(str(parse(second.calls[0].arguments), "result"), "Done: wrote notes.md.");
  EXPECT_NE(second.calls[0].id, first.calls[0].id);

  r.messages.push_back(assistant_call(second.calls[0].id, second.calls[0].name, second.calls[0].arguments));
  r.messages.push_back(tool_result(second.calls[0].id, "The user accepted."));
  Said third = plan_for(r);
  EXPECT_TRUE(third.calls.empty()) << "attempt_completion answered: finish with text";
  EXPECT_FALSE(third.text.empty());
  EXPECT_EQ(third.finish, FinishReason::Stop);
}

TEST(MockAgentNative, NeverCallsToolsForever) {
  // A client that answers every tool call with another tool result: the mock
  // must end the task within a few turns, whatever it is offered.
  for (bool with_done : {false, true}) {
    ChatRequest r = kilo_request();
    if (with_done) r.tools.push_back(tool("attempt_completion", kRooDone));
    int calls = 0;
    for (int turn = 0; turn < 10; ++turn) {
      Said s = plan_for(r);
      if (s.calls.empty()) break;
      ++calls;
      r.messages.push_back(assistant_call(s.calls[0].id, s.calls[0].name, s.calls[0].arguments));
      r.messages.push_back(tool_result(s.calls[0].id, "ok"));
    }
    EXPECT_EQ(calls, with_done ? 2 : 1);
  }
}

TEST(MockAgentNative, MaxToolTurnsBoundsTheTask) {
  ChatRequest r = kilo_request();
  r.tools.push_back(tool("attempt_completion", kRooDone));
  MockOptions o;
  o.max_tool_turns = 1;
  Said first = plan_for(r, o);
  ASSERT_EQ(first.calls.size(), 1u);
  r.messages.push_back(assistant_call(first.calls[0].id, first.calls[0].name, first.calls[0].arguments));
  r.messages.push_back(tool_result(first.calls[0].id, "ok"));
  Said second = plan_for(r, o);
  EXPECT_TRUE(second.calls.empty()) << "one tool turn spent: no attempt_completion";
  EXPECT_FALSE(second.text.empty());
}

TEST(MockAgentNative, EachFreshTaskWritesAgain) {
  ChatRequest r = kilo_request();
  Said first = plan_for(r);
  ASSERT_EQ(first.calls.size(), 1u);
  r.messages.push_back(assistant_call(first.calls[0].id, "write", first.calls[0].arguments));
  r.messages.push_back(tool_result(first.calls[0].id, "ok"));
  r.messages.push_back(msg(Role::Assistant, "Done."));
  r.messages.push_back(msg(Role::User, "create b.txt with the text bee"));
  Said next = plan_for(r);
  ASSERT_EQ(next.calls.size(), 1u);
  auto args = parse(next.calls[0].arguments);
  EXPECT_EQ(str(args, "filePath"), "/tmp/ws/b.txt");
  EXPECT_EQ(str(args, "content"), "bee");
}

TEST(MockAgentNative, DeterministicAnswers) {
  ChatRequest r = kilo_request();
  Said a = plan_for(r);
  Said b = plan_for(r);
  ASSERT_EQ(a.calls.size(), 1u);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(a.calls[0].id, b.calls[0].id);
  EXPECT_EQ(a.calls[0].arguments, b.calls[0].arguments);
}

TEST(MockAgentNative, OptionsStillApply) {
  ChatRequest r = kilo_request();
  MockOptions never;
  never.tool_calls = false;
  Said s = plan_for(r, never);
  EXPECT_TRUE(s.calls.empty());
  EXPECT_FALSE(s.text.empty());

  // agent: off keeps the plain behaviour: the first tool, from its schema.
  MockOptions off;
  off.agent = false;
  Said plain = plan_for(r, off);
  ASSERT_EQ(plain.calls.size(), 1u);
  EXPECT_EQ(plain.calls[0].name, "bash");

  r.tool_choice.mode = ToolChoice::Mode::None;
  EXPECT_TRUE(plan_for(r).calls.empty());

  // A named tool choice is obeyed.
  r.tool_choice.mode = ToolChoice::Mode::Function;
  r.tool_choice.function_name = "read";
  Said named = plan_for(r);
  ASSERT_EQ(named.calls.size(), 1u);
  EXPECT_EQ(named.calls[0].name, "read");
}

TEST(MockAgentNative, NoWriterKeepsTheSchemaToolCall) {
  ChatRequest r = kilo_request();
  r.tools = {tool("read", kKiloRead), tool("bash", kBash)};
  Said s = plan_for(r);
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(s.calls[0].name, "read");
  EXPECT_TRUE(parse(s.calls[0].arguments).HasMember("filePath"));
}

// ---------------------------------------------------------------------------
// XML tools

const char* kXmlSystem =
    "You are Kilo Code, a highly skilled software engineer.\n\n====\n\nTOOL USE\n\n"
    "Tool uses are formatted using XML-style tags.\n\n# Tools\n\n"
    "## write_to_file\nParameters:\n- path: (required)\n- content: (required)\n- line_count: (required)\n"
    "Usage:\n<write_to_file>\n<path>File path here</path>\n<content>\nYour file content here\n</content>\n"
    "<line_count>total number of lines</line_count>\n</write_to_file>\n\n"
    "## attempt_completion\nUsage:\n<attempt_completion>\n<result>\nYour final result\n</result>\n"
    "</attempt_completion>\n";

ChatRequest xml_request(const std::string& task) {
  ChatRequest r;
  r.messages.push_back(msg(Role::System, kXmlSystem));
  r.messages.push_back(parts(Role::User, {"<task>\n" + task + "\n</task>",
                                          "<environment_details>\n# Current Workspace Directory (/w) Files\n"
                                          "package.json\n</environment_details>"}));
  return r;
}

TEST(MockAgentXml, WriteThenAttemptCompletion) {
  ChatRequest r = xml_request("create hello.txt with the text hello");
  EXPECT_EQ(xml_tools_described(kXmlSystem), (std::vector<std::string>{"write_to_file", "attempt_completion"}));
  Said first = plan_for(r);
  EXPECT_TRUE(first.calls.empty());
  EXPECT_EQ(first.text,
            "I'll create hello.txt.\n\n<write_to_file>\n<path>hello.txt</path>\n<content>\nhello\n</content>\n"
            "<line_count>1</line_count>\n</write_to_file>");
  EXPECT_EQ(first.finish, FinishReason::Stop);

  Message a = msg(Role::Assistant, first.text);
  r.messages.push_back(a);
  r.messages.push_back(parts(Role::User, {"[write_to_file for 'hello.txt'] Result:",
                                          "The content was successfully saved to hello.txt.",
                                          "<environment_details>\n</environment_details>"}));
  Conversation c = analyze(r);
  EXPECT_TRUE(c.tool_result);
  EXPECT_EQ(c.last_tool, "write_to_file");
  EXPECT_EQ(c.last_write_path, "hello.txt");
  EXPECT_EQ(c.task, "create hello.txt with the text hello");
  Said second = plan_for(r);
  EXPECT_EQ(second.text, "<attempt_completion>\n<result>\nDone: wrote hello.txt.\n</result>\n</attempt_completion>");

  // "You did not use a tool" also gets a tool.
  r.messages.push_back(msg(Role::Assistant, "thinking out loud"));
  r.messages.push_back(msg(Role::User, "[ERROR] You did not use a tool in your previous response! Please retry."));
  EXPECT_NE(plan_for(r).text.find("<attempt_completion>"), std::string::npos);
}

TEST(MockAgentXml, QuestionsAndMissingTags) {
  Said q = plan_for(xml_request("What does this project do?"));
  EXPECT_EQ(q.text.rfind("<attempt_completion>\n<result>\nMock answer to: What does this project do?", 0), 0u)
      << q.text;

  // Without XML tool descriptions, plain text as before.
  ChatRequest plain;
  plain.messages.push_back(msg(Role::System, "You are terse."));
  plain.messages.push_back(msg(Role::User, "create hello.txt"));
  EXPECT_EQ(plan_for(plain).text, "Mock answer to: create hello.txt");

  // Native tools win over tags in the prompt.
  ChatRequest both = xml_request("create hello.txt");
  both.tools = kilo_tools();
  Said b = plan_for(both);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(b.calls[0].name, "write");
}

TEST(MockAgentXml, NoLineCountWhenNotDescribed) {
  ChatRequest r = xml_request("write a.py with the text print(1)");
  std::string system = kXmlSystem;
  system.erase(system.find("<line_count>total number of lines</line_count>\n"),
               std::string("<line_count>total number of lines</line_count>\n").size());
  r.messages[0] = msg(Role::System, system);
  Said s = plan_for(r);
  EXPECT_EQ(s.text.find("<line_count>"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("<path>a.py</path>\n<content>\nprint(1)\n</content>"), std::string::npos) << s.text;
}

// ---------------------------------------------------------------------------
// Codex CLI (Responses API): no write tool; apply_patch, exec_command or shell

// Codex 0.171.0's exec_command schema, as sent for a model without metadata
// (tools_mock_fallback.json of the recorded requests).
const char* kCodexExec =
    R"J({"type":"object","properties":{"cmd":{"type":"string","description":"Shell command to execute."},)J"
    R"J("justification":{"type":"string","description":"User-facing approval question for `require_escalated`; omit otherwise."},)J"
    R"J("login":{"type":"boolean","description":"Request login-shell startup. Omit to inherit."},)J"
    R"J("max_output_tokens":{"type":"number","description":"Output token budget. Defaults to 10000 tokens; larger requests may be capped by policy."},)J"
    R"J("prefix_rule":{"type":"array","description":"Reusable approval prefix for `cmd`, only with `sandbox_permissions: \"require_escalated\"`; for example [\"git\", \"pull\"].","items":{"type":"string"}},)J"
    R"J("sandbox_permissions":{"type":"string","description":"Per-command sandbox override. Defaults to `use_default`; use `require_escalated` for unsandboxed execution.","enum":["use_default","require_escalated"]},)J"
    R"J("shell":{"type":"string","description":"Shell binary to launch. Defaults to the user's default shell."},)J"
    R"J("tty":{"type":"boolean","description":"True allocates a PTY for the command; false or omitted uses plain pipes."},)J"
    R"J("workdir":{"type":"string","description":"Working directory for the command. Defaults to the turn cwd."},)J"
    R"J("yield_time_ms":{"type":"number","description":"Wait before yielding output. Defaults to 10000 ms; effective range is 250-30000 ms."}},)J"
    R"J("required":["cmd"],"additionalProperties":false})J";
const char* kCodexWriteStdin = R"({"type":"object","properties":{"chars":{"type":"string"},
  "max_output_tokens":{"type":"number"},"session_id":{"type":"number"},"yield_time_ms":{"type":"number"}},
  "required":["session_id"],"additionalProperties":false})";
const char* kCodexViewImage = R"({"type":"object","properties":{"path":{"type":"string",
  "description":"Local filesystem path to an image file."}},"required":["path"],"additionalProperties":false})";
const char* kCodexSendInput = R"({"type":"object","properties":{"interrupt":{"type":"boolean"},
  "items":{"type":"array","items":{"type":"object","properties":{"path":{"type":"string"},"text":{"type":"string"},
  "type":{"type":"string"}},"additionalProperties":false}},"message":{"type":"string"},"target":{"type":"string"}},
  "required":["target"],"additionalProperties":false})";
const char* kCodexCreateGoal = R"({"type":"object","properties":{"objective":{"type":"string"},
  "token_budget":{"type":"integer"}},"required":["objective"],"additionalProperties":false})";
// Older Codex versions: `shell` with an argv array.
const char* kCodexShell = R"({"type":"object","properties":{"command":{"type":"array","items":{"type":"string"},
  "description":"The command to execute"},"workdir":{"type":"string","description":"The working directory to execute the command in"},
  "timeout_ms":{"type":"number"}},"required":["command"],"additionalProperties":false})";
// A `custom` tool as the Responses codec offers it (Tool::freeform).
const char* kFreeformInput = R"({"type":"object","properties":{"input":{"type":"string"}},"required":["input"]})";

Tool freeform_tool(std::string name) {
  Tool t = tool(std::move(name), kFreeformInput);
  t.freeform = true;
  return t;
}

// What Codex offers the model "mock" (fallback metadata), canonical: the
// multi_agent_v1 namespace's functions under their namespaced names.
std::vector<Tool> codex_tools() {
  return {tool("exec_command", kCodexExec),
          tool("write_stdin", kCodexWriteStdin),
          tool("view_image", kCodexViewImage),
          tool(responses::namespace_tool_name("multi_agent_v1", "send_input"), kCodexSendInput),
          tool("get_goal", R"({"type":"object","properties":{},"required":[],"additionalProperties":false})"),
          tool("create_goal", kCodexCreateGoal)};
}

std::string environment_context(const std::string& cwd) {
  return "<environment_context>\n  <cwd>" + cwd + "</cwd>\n  <shell>bash</shell>\n  <current_date>2026-12-03"
         "</current_date>\n  <timezone>Etc/UTC</timezone>\n  <filesystem><workspace_roots><root>" + cwd +
         "</root></workspace_roots><permission_profile type=\"disabled\"><file_system type=\"unrestricted\" />"
         "</permission_profile></filesystem>\n</environment_context>";
}

// Codex CLI 0.171.0's first request (`codex exec "<prompt>"`), as the
// Responses codec reads it: two developer items (base instructions; skills and
// permissions), the environment context, then the prompt.
ChatRequest codex_request(const std::string& cwd, const std::string& prompt = "create hello.txt containing hello") {
  ChatRequest r;
  r.model = "mock";
  r.stream = true;
  r.source_api = Api::OpenAIResponses;
  r.messages.push_back(parts(Role::Developer, {"You are a coding agent running in the Codex CLI, a terminal-based "
                                               "coding assistant. ..."}));
  r.messages.push_back(parts(Role::Developer,
                             {"<skills_instructions>\n## Skills\n...</skills_instructions>",
                              "<permissions instructions>\nFilesystem sandboxing defines which files can be read or "
                              "written. `sandbox_mode` is `danger-full-access`...</permissions instructions>"}));
  r.messages.push_back(parts(Role::User, {environment_context(cwd)}));
  r.messages.push_back(parts(Role::User, {prompt}));
  r.tools = codex_tools();
  r.tool_choice.mode = ToolChoice::Mode::Auto;
  r.parallel_tool_calls = true;
  return r;
}

// A scratch folder, removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "llmux-mock-agent.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path / name, std::ios::binary);
    EXPECT_TRUE(in.good()) << "no file " << (path / name);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

// Runs argv in `cwd` (as Codex runs a command) and returns its exit status.
int run_in(const std::vector<std::string>& argv, const std::string& cwd) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A command for exec_command as Codex runs it: the user's shell with -lc
// (without profile files here, so the test does not depend on them).
int run_command(const std::string& cmd, const std::string& cwd) {
  return run_in({"bash", "--noprofile", "--norc", "-c", cmd}, cwd);
}

TEST(MockAgentCodex, CleanUserTextDropsTheEnvironmentContext) {
  EXPECT_EQ(clean_user_text(environment_context("/w")), "");
  EXPECT_EQ(clean_user_text(environment_context("/w") + "\ncreate a.txt"), "create a.txt");
}

TEST(MockAgentCodex, ReadsTheConversation) {
  ChatRequest r = codex_request("/work/ws");
  Conversation c = analyze(r);
  EXPECT_EQ(c.turn, 1);
  EXPECT_FALSE(c.tool_result);
  EXPECT_EQ(c.task, "create hello.txt containing hello") << "the prompt, not the environment context";
  EXPECT_EQ(c.last_user, "create hello.txt containing hello");
  EXPECT_EQ(c.working_directory, "/work/ws") << "from <cwd>";
  EXPECT_NE(c.system.find("Codex CLI"), std::string::npos);
  EXPECT_NE(c.system.find("<permissions instructions>"), std::string::npos);

  r.messages.push_back(assistant_call("call_1", "exec_command", R"({"cmd":"printf 'hello\\n' > hello.txt"})"));
  r.messages.push_back(tool_result("call_1", "Chunk ID: fb2c5d\nWall time: 0.0015 seconds\nProcess exited with "
                                             "code 0\nOriginal token count: 0\nOutput:\n"));
  c = analyze(r);
  EXPECT_EQ(c.turn, 2);
  EXPECT_TRUE(c.tool_result);
  EXPECT_EQ(c.task_tool_turns, 1);
  EXPECT_EQ(c.task, "create hello.txt containing hello");
  EXPECT_EQ(c.last_tool, "exec_command");
  EXPECT_EQ(c.last_write_path, "hello.txt") << "the command's redirection target";

  // A later `codex exec resume`-like turn: a new environment context, then a new prompt.
  r.messages.push_back(msg(Role::Assistant, "Done: wrote hello.txt."));
  r.messages.push_back(parts(Role::User, {environment_context("/work/other")}));
  r.messages.push_back(parts(Role::User, {"create b.txt containing bee"}));
  c = analyze(r);
  EXPECT_FALSE(c.tool_result);
  EXPECT_EQ(c.task, "create b.txt containing bee");
  EXPECT_EQ(c.working_directory, "/work/other") << "the latest <cwd>";

  // Only the environment context after the task's text: the task is still found.
  ChatRequest ctx_last = codex_request("/w");
  std::swap(ctx_last.messages[2], ctx_last.messages[3]);
  EXPECT_EQ(analyze(ctx_last).task, "create hello.txt containing hello");
}

TEST(MockAgentCodex, FindsCommandToolsInOrder) {
  const std::vector<Tool> codex = codex_tools();
  auto exec = find_command_tool(codex);
  ASSERT_TRUE(exec);
  EXPECT_EQ(exec->tool->name, "exec_command");
  EXPECT_EQ(exec->kind, CommandTool::Kind::ExecCommand);
  EXPECT_TRUE(exec->has_workdir);
  EXPECT_FALSE(find_write_tool(codex)) << "none of Codex's function tools writes files (view_image has no content)";

  std::vector<Tool> with_patch = codex_tools();
  with_patch.push_back(freeform_tool("apply_patch"));
  auto patch = find_command_tool(with_patch);
  ASSERT_TRUE(patch);
  EXPECT_EQ(patch->kind, CommandTool::Kind::ApplyPatch) << "apply_patch before exec_command";
  EXPECT_FALSE(patch->has_workdir);

  std::vector<Tool> old = {tool("shell", kCodexShell), tool("update_plan", R"({"type":"object","properties":{}})")};
  auto shell = find_command_tool(old);
  ASSERT_TRUE(shell);
  EXPECT_EQ(shell->kind, CommandTool::Kind::Shell);
  std::vector<Tool> both = {tool("shell", kCodexShell), tool("exec_command", kCodexExec)};
  EXPECT_EQ(find_command_tool(both)->kind, CommandTool::Kind::ExecCommand) << "exec_command before shell";

  // Names alone are not enough: the schema must fit.
  EXPECT_FALSE(find_command_tool({tool("shell", kBash)})) << "a string `command` is not shell's argv";
  EXPECT_FALSE(find_command_tool({tool("exec_command", kBash)}));
  EXPECT_FALSE(find_command_tool(kilo_tools())) << "Kilo's bash is not one of them";
  std::vector<Tool> json_patch = {tool("apply_patch", kFreeformInput)};
  EXPECT_EQ(find_command_tool(json_patch)->kind, CommandTool::Kind::ApplyPatch) << "older Codex: a function tool";

  // A dedicated write tool wins over all of them.
  std::vector<Tool> mixed = with_patch;
  mixed.push_back(tool("write_file", kRooWrite));
  Conversation c;
  auto call = file_write_call(mixed, c, "a.txt", "x");
  ASSERT_TRUE(call);
  EXPECT_EQ(call->name, "write_file");
  EXPECT_TRUE(can_write_files(codex));
  EXPECT_FALSE(can_write_files({tool("read", kKiloRead)}));
}

TEST(MockAgentCodex, WriteCommandsAreExactAndSafe) {
  EXPECT_EQ(shell_quote("it's"), R"('it'\''s')");
  EXPECT_EQ(write_command("hello.txt", "hello"), "printf '%s' 'hello' > 'hello.txt'");
  EXPECT_EQ(write_command("src/a b.md", "x"), "mkdir -p 'src' && printf '%s' 'x' > 'src/a b.md'");
  EXPECT_EQ(add_file_patch("hello.txt", "hello"), "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n");
  EXPECT_EQ(add_file_patch("a.md", "# A\n\nb\n"), "*** Begin Patch\n*** Add File: a.md\n+# A\n+\n+b\n*** End Patch\n");

  // Whatever the content, running the command leaves exactly it in the file.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"hello.txt", "hello"},
      {"quotes.txt", "it's \"quoted\" and 'single'"},
      {"shell.txt", "$HOME `id` $(id) \\ %s %d -- > < | ; & *"},
      {"lines.txt", "first\nsecond\n\nlast\n"},
      {"-dash.txt", "-n"},
      {"sub dir/deeper/x.txt", "\xC3\xA9t\xC3\xA9 \t tab"},
  };
  TempDir dir;
  for (const auto& [path, content] : cases) {
    const std::string cmd = write_command(path, content);
    EXPECT_EQ(run_command(cmd, dir.path.string()), 0) << cmd;
    EXPECT_EQ(dir.read(path), content) << cmd;
    rapidjson::Document args(rapidjson::kObjectType);
    args.AddMember("cmd", rapidjson::Value(cmd.c_str(), args.GetAllocator()), args.GetAllocator());
    EXPECT_EQ(written_path(json::to_string(args)), path) << "the mock reads back what it wrote: " << cmd;
  }
}

TEST(MockAgentCodex, WrittenPathOfCommandsAndPatches) {
  EXPECT_EQ(written_path(R"({"cmd":"printf 'hello\\n' > hello.txt"})"), "hello.txt");
  EXPECT_EQ(written_path(R"({"cmd":"echo hi >> \"a b.txt\" 2>&1"})"), "a b.txt");
  EXPECT_EQ(written_path(R"({"cmd":"cat > out.md <<'EOF'\nx\nEOF"})"), "out.md");
  EXPECT_EQ(written_path(R"({"cmd":"echo '>' not-a-file"})"), "");
  EXPECT_EQ(written_path(R"({"cmd":"ls > /dev/null"})"), "");
  EXPECT_EQ(written_path(R"({"command":["bash","-lc","printf '%s' x > 'b.txt'"],"workdir":"/w"})"), "b.txt");
  EXPECT_EQ(written_path(R"({"input":"*** Begin Patch\n*** Add File: src/new.rs\n+x\n*** End Patch\n"})"),
            "src/new.rs");
  EXPECT_EQ(written_path(R"({"input":"*** Begin Patch\n*** Update File: a.py\n@@\n-x\n+y\n*** End Patch"})"), "a.py");
  EXPECT_EQ(written_path(R"({"cmd":"ls -la"})"), "");
}

TEST(MockAgentCodex, ExecCommandCreatesTheFileThenFinishes) {
  TempDir ws;
  const std::string cwd = ws.path.string();
  ChatRequest r = codex_request(cwd);
  Said first = plan_for(r);
  ASSERT_EQ(first.calls.size(), 1u) << first.text;
  EXPECT_EQ(first.calls[0].name, "exec_command");
  EXPECT_EQ(first.calls[0].id.rfind("call_mock_", 0), 0u);
  EXPECT_EQ(first.finish, FinishReason::ToolCalls);
  EXPECT_TRUE(first.text.empty());
  rapidjson::Document expected(rapidjson::kObjectType);
  expected.AddMember("cmd", "printf '%s' 'hello' > 'hello.txt'", expected.GetAllocator());
  expected.AddMember("workdir", rapidjson::Value(cwd.c_str(), expected.GetAllocator()), expected.GetAllocator());
  EXPECT_EQ(first.calls[0].arguments, json::to_string(expected));

  // Codex runs `cmd` in `workdir`: the file is there with exactly the content.
  auto args = parse(first.calls[0].arguments);
  ASSERT_EQ(run_command(str(args, "cmd"), str(args, "workdir")), 0);
  EXPECT_EQ(ws.read("hello.txt"), "hello");

  // The second request: the call echoed back, and its output.
  r.messages.push_back(assistant_call(first.calls[0].id, "exec_command", first.calls[0].arguments));
  r.messages.push_back(tool_result(first.calls[0].id, "Chunk ID: 3f2a1b\nWall time: 0.0012 seconds\nProcess "
                                                      "exited with code 0\nOriginal token count: 0\nOutput:\n"));
  Said second = plan_for(r);
  EXPECT_TRUE(second.calls.empty());
  EXPECT_EQ(second.text, "Done: wrote hello.txt.");
  EXPECT_EQ(second.finish, FinishReason::Stop);
}

TEST(MockAgentCodex, ContentWithQuotesAndSubfolders) {
  TempDir ws;
  ChatRequest r = codex_request(ws.path.string(), "create notes/todo.md with the text \"it's $HOME `x`\"");
  Said s = plan_for(r);
  ASSERT_EQ(s.calls.size(), 1u);
  auto args = parse(s.calls[0].arguments);
  EXPECT_EQ(str(args, "cmd"), R"(mkdir -p 'notes' && printf '%s' 'it'\''s $HOME `x`' > 'notes/todo.md')");
  ASSERT_EQ(run_command(str(args, "cmd"), str(args, "workdir")), 0);
  EXPECT_EQ(ws.read("notes/todo.md"), "it's $HOME `x`");
}

TEST(MockAgentCodex, ShellToolRunsBashLc) {
  TempDir ws;
  ChatRequest r = codex_request(ws.path.string());
  r.tools = {tool("shell", kCodexShell), tool("update_plan", R"({"type":"object","properties":{}})")};
  Said s = plan_for(r);
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(s.calls[0].name, "shell");
  auto args = parse(s.calls[0].arguments);
  ASSERT_TRUE(args.HasMember("command") && args["command"].IsArray());
  std::vector<std::string> argv;
  for (const auto& v : args["command"].GetArray()) argv.emplace_back(v.GetString());
  EXPECT_EQ(argv, (std::vector<std::string>{"bash", "-lc", "printf '%s' 'hello' > 'hello.txt'"}));
  EXPECT_EQ(str(args, "workdir"), ws.path.string());
  ASSERT_EQ(run_in({"bash", "--noprofile", "--norc", "-c", argv[2]}, str(args, "workdir")), 0);
  EXPECT_EQ(ws.read("hello.txt"), "hello");

  r.messages.push_back(assistant_call(s.calls[0].id, "shell", s.calls[0].arguments));
  r.messages.push_back(
      tool_result(s.calls[0].id, R"({"output":"","metadata":{"exit_code":0,"duration_seconds":0.0}})"));
  EXPECT_EQ(plan_for(r).text, "Done: wrote hello.txt.");
}

TEST(MockAgentCodex, FreeformApplyPatchAddsTheFile) {
  ChatRequest r = codex_request("/work/ws");
  r.tools.insert(r.tools.begin() + 2, freeform_tool("apply_patch"));
  Said s = plan_for(r);
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(s.calls[0].name, "apply_patch");
  EXPECT_EQ(s.calls[0].arguments,
            R"({"input":"*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"})");

  r.messages.push_back(assistant_call(s.calls[0].id, "apply_patch", s.calls[0].arguments));
  r.messages.push_back(tool_result(s.calls[0].id, "Exit code: 0\nWall time: 0 seconds\nOutput:\nSuccess. Updated the "
                                                  "following files:\nA hello.txt\n"));
  Said done = plan_for(r);
  EXPECT_TRUE(done.calls.empty());
  EXPECT_EQ(done.text, "Done: wrote hello.txt.");
}

TEST(MockAgentCodex, QuestionsToolChoiceAndBounds) {
  ChatRequest q = codex_request("/w", "What is the capital of France?");
  Said a = plan_for(q);
  EXPECT_TRUE(a.calls.empty());
  EXPECT_EQ(a.text, "Mock answer to: What is the capital of France?");

  ChatRequest named = codex_request("/w");
  named.tool_choice.mode = ToolChoice::Mode::Function;
  named.tool_choice.function_name = "exec_command";
  Said n = plan_for(named);
  ASSERT_EQ(n.calls.size(), 1u);
  EXPECT_EQ(str(parse(n.calls[0].arguments), "cmd"), "printf '%s' 'hello' > 'hello.txt'");

  // A client that keeps answering: one command, then text.
  ChatRequest r = codex_request("/w");
  int calls = 0;
  for (int turn = 0; turn < 10; ++turn) {
    Said s = plan_for(r);
    if (s.calls.empty()) break;
    ++calls;
    r.messages.push_back(assistant_call(s.calls[0].id, s.calls[0].name, s.calls[0].arguments));
    r.messages.push_back(tool_result(s.calls[0].id, "Process exited with code 0"));
  }
  EXPECT_EQ(calls, 1);
}

TEST(MockAgentCodex, ScenarioWriteUsesTheCommandTool) {
  auto scenario = Scenario::parse(R"(turns:
  - match: {tool: "@write", tool_result: false}
    tool_calls:
      - name: "@write"
        arguments: {path: "out/{{file}}", content: "scripted {{content}}"}
)", "codex.yaml");
  MockOptions o;
  o.scenario = scenario;
  TempDir ws;
  Said s = plan_for(codex_request(ws.path.string()), o);
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(s.calls[0].name, "exec_command");
  auto args = parse(s.calls[0].arguments);
  ASSERT_EQ(run_command(str(args, "cmd"), str(args, "workdir")), 0) << str(args, "cmd");
  EXPECT_EQ(ws.read("out/hello.txt"), "scripted hello");
}

// Codex's recorded requests (tests/e2e/fixtures: turn two of a run; turn one
// is its input without the call and its output), read by the Responses codec.
ChatRequest recorded_codex(const std::string& fixture, bool first_turn) {
  std::ifstream in(std::string(LLMUX_SOURCE_DIR) + "/tests/e2e/fixtures/" + fixture, std::ios::binary);
  EXPECT_TRUE(in.good()) << fixture;
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (first_turn) {
    rapidjson::Document doc;
    doc.Parse(body.c_str());
    EXPECT_TRUE(doc.IsObject() && doc["input"].IsArray() && doc["input"].Size() == 6u) << fixture;
    doc["input"].Erase(doc["input"].Begin() + 4, doc["input"].End());
    body = json::to_string(doc);
  }
  ChatRequest r;
  if (auto error = responses::parse_request(body, r)) ADD_FAILURE() << fixture << ": " << error->message;
  return r;
}

TEST(MockAgentCodex, RecordedExecCommandRequests) {
  ChatRequest first = recorded_codex("codex-cli-0.171.0-exec-command.json", true);
  Conversation c = analyze(first);
  EXPECT_EQ(c.task, "create hello.txt containing hello");
  EXPECT_EQ(c.working_directory, "/home/dev/project");
  const std::string spawn = responses::namespace_tool_name("multi_agent_v1", "spawn_agent");
  bool namespaced = false;
  for (const Tool& t : first.tools) namespaced = namespaced || t.name == spawn;
  EXPECT_TRUE(namespaced) << "the namespace's tools are offered";

  Said s = plan_for(first);
  ASSERT_EQ(s.calls.size(), 1u) << s.text;
  EXPECT_EQ(s.calls[0].name, "exec_command");
  EXPECT_EQ(s.calls[0].arguments, R"({"cmd":"printf '%s' 'hello' > 'hello.txt'","workdir":"/home/dev/project"})");
  TempDir ws;
  ASSERT_EQ(run_command(str(parse(s.calls[0].arguments), "cmd"), ws.path.string()), 0);
  EXPECT_EQ(ws.read("hello.txt"), "hello");

  // The recorded second turn (its call wrote "hello\n" with printf).
  ChatRequest second = recorded_codex("codex-cli-0.171.0-exec-command.json", false);
  Said done = plan_for(second);
  EXPECT_TRUE(done.calls.empty());
  EXPECT_EQ(done.text, "Done: wrote hello.txt.");
  EXPECT_EQ(done.finish, FinishReason::Stop);
}

TEST(MockAgentCodex, RecordedApplyPatchRequests) {
  ChatRequest first = recorded_codex("codex-cli-0.171.0-apply-patch.json", true);
  bool freeform = false;
  for (const Tool& t : first.tools) freeform = freeform || (t.name == "apply_patch" && t.freeform);
  EXPECT_TRUE(freeform) << "the custom apply_patch tool is a freeform Tool";
  Said s = plan_for(first);
  ASSERT_EQ(s.calls.size(), 1u) << s.text;
  EXPECT_EQ(s.calls[0].name, "apply_patch");
  EXPECT_EQ(s.calls[0].arguments, R"({"input":"*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"})");

  Said done = plan_for(recorded_codex("codex-cli-0.171.0-apply-patch.json", false));
  EXPECT_TRUE(done.calls.empty());
  EXPECT_EQ(done.text, "Done: wrote hello.txt.");
}

}  // namespace
}  // namespace llmux::mock
