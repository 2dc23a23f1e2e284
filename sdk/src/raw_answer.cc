#include "llmux/codec/raw_answer.h"

#include "llmux/json.h"
#include "llmux/json_scan.h"

namespace llmux {

namespace {

std::string_view trim_left(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' ||
                           text.front() == '\n')) {
    text.remove_prefix(1);
  }
  return text;
}

// OpenAI: the top-level "model" of the object.
void restore_openai_object(std::string_view object, std::string_view model_token, std::string& out) {
  if (!json::append_with_member(out, object, "model", model_token)) out.append(object);
}

// Anthropic stream: only message_start names the model, inside its "message".
void restore_anthropic_frame(std::string_view data, std::string_view model_token, std::string& out) {
  // Most frames are deltas: a substring test spares them the scan.
  if (data.find("message_start") == std::string_view::npos) {
    out.append(data);
    return;
  }
  auto type = json::find_member(data, "type");
  auto message = json::find_member(data, "message");
  if (!type || *type != "\"message_start\"" || !message || message->empty() || message->front() != '{') {
    out.append(data);
    return;
  }
  std::size_t at = static_cast<std::size_t>(message->data() - data.data());
  std::size_t mark = out.size();
  out.append(data.substr(0, at));
  if (!json::append_with_member(out, *message, "model", model_token)) {
    out.resize(mark);
    out.append(data);
    return;
  }
  out.append(data.substr(at + message->size()));
}

// Responses stream: the events that carry the response object
// (response.created, .in_progress, .completed, .incomplete, .failed) name the
// model inside their "response"; deltas name none.
void restore_responses_frame(std::string_view data, std::string_view model_token, std::string& out) {
  if (data.find("\"response\"") == std::string_view::npos) {
    out.append(data);
    return;
  }
  auto response = json::find_member(data, "response");
  if (!response || response->empty() || response->front() != '{') {
    out.append(data);
    return;
  }
  std::size_t at = static_cast<std::size_t>(response->data() - data.data());
  std::size_t mark = out.size();
  out.append(data.substr(0, at));
  if (!json::append_with_member(out, *response, "model", model_token)) {
    out.resize(mark);
    out.append(data);
    return;
  }
  out.append(data.substr(at + response->size()));
}

void restore_frame(Api api, std::string_view data, std::string_view model_token, std::string& out) {
  if (api == Api::Anthropic) {
    restore_anthropic_frame(data, model_token, out);
  } else if (api == Api::OpenAIResponses) {
    restore_responses_frame(data, model_token, out);
  } else {
    restore_openai_object(data, model_token, out);
  }
}

}  // namespace

void restore_model(Api api, std::string_view raw, std::string_view client_model, std::string& out) {
  std::string model_token;
  json::append_quoted(model_token, client_model);
  out.reserve(out.size() + raw.size() + model_token.size());

  // A whole body is one JSON object; SSE starts with a field or a comment,
  // never with '{'.
  if (std::string_view body = trim_left(raw); !body.empty() && body.front() == '{') {
    out.append(raw.substr(0, raw.size() - body.size()));
    restore_openai_object(body, model_token, out);  // both dialects: the body's top-level "model"
    return;
  }

  // SSE, line by line (\n, \r\n or \r ends a line); only `data:` lines change.
  std::size_t pos = 0;
  while (pos < raw.size()) {
    std::size_t end = raw.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = raw.size();
    std::size_t next = end;
    if (next < raw.size()) next += raw[next] == '\r' && next + 1 < raw.size() && raw[next + 1] == '\n' ? 2 : 1;
    std::string_view line = raw.substr(pos, end - pos);
    if (line.substr(0, 5) == "data:") {
      std::size_t payload = line.size() > 5 && line[5] == ' ' ? 6 : 5;
      out.append(line.substr(0, payload));
      restore_frame(api, line.substr(payload), model_token, out);
    } else {
      out.append(line);
    }
    out.append(raw.substr(end, next - end));
    pos = next;
  }
}

}  // namespace llmux
