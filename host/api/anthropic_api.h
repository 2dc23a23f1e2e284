// The Anthropic API surface: answer writers that render canonical events as a
// `message` or as Messages SSE (`event:` + `data:` frames), and the error and
// model-list bodies in Anthropic's shapes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/openai_api.h"
#include "gateway/answer_writer.h"
#include "llmux/codec/anthropic.h"

namespace llmux::host {

std::unique_ptr<AnswerWriter> make_anthropic_writer(AnswerContext context, anthropic::MessageMeta meta, bool stream);

// A whole error response: {"type":"error","error":{"type","message"}}.
std::string anthropic_error_response(const Error& error, bool close_connection = false);

// GET /v1/models for a client that sent anthropic-version.
std::string anthropic_model_list(const std::vector<ServedModel>& models, std::int64_t created);

// "msg_" + 24 random characters.
std::string new_message_id();

}  // namespace llmux::host
