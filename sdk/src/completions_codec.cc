// The OpenAI legacy Completions codec (see llmux/codec/completions.h).
//
// Rendering is done by string appends (no DOM), parsing with the RapidJSON
// DOM; error objects from upstreams are read by the chat codec, the one
// definition of what an OpenAI error object means.
#include "llmux/codec/completions.h"

#include "codec_common.h"

namespace llmux::completions {

namespace {

using namespace codec;

constexpr std::string_view kSystemPrompt =
    "You are a code and text completion engine. You are given the text before the cursor and, when there is "
    "one, the text after it. Reply with only the text that belongs at the cursor, exactly as it is to be "
    "inserted: no explanations, no markdown or code fences, and never repeat the text before or after the cursor.";

// The request members render_request writes itself.
constexpr std::string_view kModeledMembers[] = {"model",   "prompt",           "suffix",           "max_tokens",
                                                "temperature", "top_p",        "frequency_penalty", "presence_penalty",
                                                "seed",    "stop",             "stream",           "stream_options"};

Message text_message(Role role, std::string text) {
  Message m;
  m.role = role;
  m.content_was_string = true;
  m.content.push_back(ContentPart::make_text(std::move(text)));
  return m;
}

// The legacy API's finish reasons: "stop", "length", "content_filter".
const char* finish_text(FinishReason reason) {
  switch (reason) {
    case FinishReason::Length: return "length";
    case FinishReason::ContentFilter: return "content_filter";
    case FinishReason::Stop:
    case FinishReason::StopSequence:
    case FinishReason::ToolCalls: break;  // no tools are offered: cannot happen
  }
  return "stop";
}

FinishReason finish_reason_of(std::string_view s) {
  if (s == "length") return FinishReason::Length;
  if (s == "content_filter") return FinishReason::ContentFilter;
  return FinishReason::Stop;
}

// The legacy API's usage: the three counts, no details.
void append_usage(std::string& out, const Usage& u) { append_openai_usage(out, u, false); }
Usage usage_of(const Value& usage) { return openai_usage_of(usage, false); }

// The upstream's error object (in a body or a chunk) as the chat codec reads it.
Error upstream_error(std::string_view text) {
  openai::ChunkParser parser;
  if (auto error = parser.feed(text, [](Event) {})) return std::move(*error);
  return Error::upstream(502, "upstream sent an error");
}

// ---------------------------------------------------------------- request parsing

class RequestParser : public FieldChecker {
 public:
  bool parse(const Value& root, ChatRequest& r) {
    TextCompletion completion;
    const bool ok = parse_members(
        root, r,
        [&](std::string_view name, const Value& v) -> std::optional<bool> {
          if (name == "prompt") return parse_prompt(v, completion.prompt);
          if (name == "suffix") return parse_suffix(v, completion.suffix);
          if (name == "max_tokens") return parse_max_tokens(v, r.sampling.max_tokens);
          if (name == "frequency_penalty") return optional_number(v, "frequency_penalty", r.sampling.frequency_penalty);
          if (name == "presence_penalty") return optional_number(v, "presence_penalty", r.sampling.presence_penalty);
          if (name == "seed") return optional_int(v, "seed", r.sampling.seed);
          if (name == "stop") return parse_stop(v, r.sampling.stop);
          if (name == "stream_options") return parse_stream_options(v, r.include_usage);
          return std::nullopt;
        },
        "prompt");
    if (!ok) return false;
    if (!r.sampling.max_tokens) r.sampling.max_tokens = kDefaultMaxTokens;
    r.messages = chat_messages(completion);
    r.completion = std::move(completion);
    return true;
  }

 private:
  // A string, or a list of exactly one string.
  bool parse_prompt(const Value& v, std::string& out) {
    if (v.IsString()) {
      out = string_of(v);
      return true;
    }
    if (!v.IsArray()) return type_error("prompt", "a string or an array of strings", v);
    if (v.Empty()) {
      return fail(Error::invalid_request("Invalid 'prompt': empty array. Expected one prompt.", "prompt",
                                         "empty_array"));
    }
    if (!v[0].IsString()) {
      return value_error("prompt",
                         "Invalid 'prompt': token-id prompts are not supported by this gateway; send the prompt as "
                         "text.");
    }
    if (v.Size() > 1) {
      return value_error("prompt", "Invalid 'prompt': this gateway completes one prompt per request (got " +
                                       std::to_string(v.Size()) + "); send one request per prompt.");
    }
    out = string_of(v[0]);
    return true;
  }

  bool parse_suffix(const Value& v, std::string& out) {
    out.clear();
    if (v.IsNull()) return true;
    if (!v.IsString()) return type_error("suffix", "a string", v);
    out = string_of(v);
    return true;
  }

  bool parse_max_tokens(const Value& v, std::optional<std::int64_t>& out) {
    std::optional<std::int64_t> n;
    if (!optional_int(v, "max_tokens", n)) return false;
    if (n && *n < 0) {
      return value_error("max_tokens", "Invalid 'max_tokens': integer below minimum value. Expected a value >= 0, "
                                       "but got " + std::to_string(*n) + " instead.");
    }
    out = n;
    return true;
  }

};

}  // namespace

// ---------------------------------------------------------------- requests

std::optional<Error> parse_request(std::string_view body, ChatRequest& out) {
  return parse_client_request<RequestParser>(body, Api::OpenAICompletions, out);
}

std::vector<Message> chat_messages(const TextCompletion& completion) {
  std::vector<Message> messages;
  messages.push_back(text_message(Role::System, std::string(kSystemPrompt)));
  std::string user;
  user.reserve(completion.prompt.size() + completion.suffix.size() + 256);
  if (completion.suffix.empty()) {
    user.append("Continue the text from where it ends. The text so far is between <prefix> and </prefix>.\n\n");
    user.append("<prefix>").append(completion.prompt).append("</prefix>");
  } else {
    user.append(
        "Fill in the text at the cursor. The text before the cursor is between <prefix> and </prefix>, the text "
        "after it between <suffix> and </suffix>.\n\n");
    user.append("<prefix>").append(completion.prompt).append("</prefix>\n");
    user.append("<suffix>").append(completion.suffix).append("</suffix>");
  }
  messages.push_back(text_message(Role::User, std::move(user)));
  return messages;
}

// Member order: model, prompt, suffix, max_tokens, temperature, top_p,
// frequency_penalty, presence_penalty, seed, stop, stream, stream_options,
// then `extra` (a completion's own) in its order.
std::string render_request(const ChatRequest& request, const openai::RenderOptions& options) {
  std::string out = open_request_body(request);
  out.append(",\"prompt\":");
  if (request.completion) {
    json::append_quoted(out, request.completion->prompt);
    if (!request.completion->suffix.empty()) {
      out.append(",\"suffix\":");
      json::append_quoted(out, request.completion->suffix);
    }
  } else {
    json::append_quoted(out, request.last_user_text());
  }
  const Sampling& s = request.sampling;
  if (s.max_tokens) {
    out.append(",\"max_tokens\":");
    append_int(out, *s.max_tokens);
  }
  append_sampling_numbers(out, s);
  append_seed_and_stop(out, s);
  append_stream(out, request, options.force_usage);
  if (request.source_api == Api::OpenAICompletions) append_extra(out, request.extra, kModeledMembers);
  out.push_back('}');
  return out;
}

// ---------------------------------------------------------------- answers to the client

std::string render_completion(const ChatResponse& response, const ResponseMeta& meta) {
  if (!response.raw.empty()) return response.raw;
  std::string out;
  out.reserve(256 + response.text.size());
  out.append("{\"id\":");
  json::append_quoted(out, meta.id);
  out.append(",\"object\":\"text_completion\",\"created\":");
  append_int(out, meta.created);
  out.append(",\"model\":");
  json::append_quoted(out, meta.model);
  out.append(",\"choices\":[{\"text\":");
  json::append_quoted(out, response.text);
  out.append(",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
  out.append(finish_text(response.finish.value_or(FinishReason::Stop)));
  out.append("\"}],\"usage\":");
  append_usage(out, response.usage.value_or(Usage{}));
  out.push_back('}');
  return out;
}

ChunkRenderer::ChunkRenderer(ResponseMeta meta, bool include_usage)
    : meta_(std::move(meta)), include_usage_(include_usage) {
  chunk_prefix_ = openai_chunk_prefix(meta_.id, "text_completion", meta_.created, meta_.model);
}

void ChunkRenderer::render(const Event& event, std::string& out) {
  if (done_) return;
  switch (event.kind) {
    case Event::Kind::TextDelta:
      if (event.text.empty()) return;
      out.append(chunk_prefix_);
      out.append(",\"choices\":[{\"text\":");
      json::append_quoted(out, event.text);
      out.append(",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n");
      return;
    case Event::Kind::Role:
    case Event::Kind::ReasoningDelta:  // a completion is the text alone
    case Event::Kind::ReasoningSignature:
    case Event::Kind::RedactedReasoning:
    case Event::Kind::ToolCallDelta:  // no tools are offered
    case Event::Kind::Embedding:
      return;
    case Event::Kind::Raw:  // already text_completion wire bytes
      out.append(event.text);
      raw_ = true;
      return;
    case Event::Kind::Usage:
      usage_ = event.usage;
      return;
    case Event::Kind::Finish:
      done_ = true;
      if (raw_) return;
      out.append(chunk_prefix_);
      out.append(",\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
      out.append(finish_text(event.finish));
      out.append("\"}]}\n\n");
      append_openai_stream_end(out, chunk_prefix_, include_usage_, usage_, false);
      return;
    case Event::Kind::Error:
      out.append("data: ");
      out.append(openai::render_error(event.error));
      out.append("\n\ndata: [DONE]\n\n");
      done_ = true;
      return;
  }
}

// ---------------------------------------------------------------- upstream answers

std::optional<Error> parse_completion(std::string_view body, std::vector<Event>& out) {
  rapidjson::Document doc;
  if (std::optional<Error> e = parse_upstream_object(body, doc, "text_completion", false)) return e;
  if (find_set(doc, "error") != nullptr) return upstream_error(body);
  const Value* choices = find(doc, "choices");
  if (choices == nullptr || !choices->IsArray() || choices->Empty() || !(*choices)[0].IsObject()) {
    return Error::upstream(502, "upstream sent a text_completion without choices");
  }
  const Value& choice = (*choices)[0];
  out.push_back(Event::role());
  if (std::string text = string_member(choice, "text"); !text.empty()) out.push_back(Event::text_delta(std::move(text)));
  if (const Value* usage = find_object(doc, "usage")) out.push_back(Event::usage_report(usage_of(*usage)));
  const Value* reason = find_set(choice, "finish_reason");
  out.push_back(Event::finished(finish_reason_of(reason != nullptr && reason->IsString() ? view_of(*reason) : "")));
  return std::nullopt;
}

std::optional<Error> ChunkParser::feed(std::string_view data, const Emit& emit) {
  if (openai_stream_control(data, saw_done_, finish_emitted_, finish_, emit)) return std::nullopt;
  rapidjson::Document doc;
  if (std::optional<Error> e = parse_upstream_object(data, doc, "stream chunk", true)) return e;
  if (find_set(doc, "error") != nullptr) return upstream_error(data);
  if (const Value* choices = find_set(doc, "choices"); choices != nullptr && choices->IsArray()) {
    for (const auto& choice : choices->GetArray()) {
      if (!choice.IsObject()) continue;
      if (int_member(choice, "index").value_or(0) != 0) continue;  // only choice 0 is relayed (no n > 1)
      if (!role_emitted_) {
        role_emitted_ = true;
        emit(Event::role());
      }
      if (const Value* text = find_set(choice, "text");
          text != nullptr && text->IsString() && text->GetStringLength() != 0) {
        emit(Event::text_delta(string_of(*text)));
      }
      if (const Value* reason = find_set(choice, "finish_reason"); reason != nullptr && reason->IsString()) {
        finish_ = finish_reason_of(view_of(*reason));
      }
    }
  }
  if (const Value* usage = find_object(doc, "usage")) emit(Event::usage_report(usage_of(*usage)));
  return std::nullopt;
}

std::optional<Error> ChunkParser::finish(const Emit& emit) {
  return openai_stream_finish(finish_emitted_, finish_, emit);
}

}  // namespace llmux::completions
