// The mock's agent simulator: conversations shaped like the ones real coding
// agents send (Kilo Code CLI, Claude Code through the Anthropic codec, Roo /
// Cline with native tools, the XML-tag protocol of the older extensions),
// planned with make_plan() and checked event by event.
#include "agent.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "llmux/json.h"
#include "mock_provider.h"

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

}  // namespace
}  // namespace llmux::mock
