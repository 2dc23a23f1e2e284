// The OpenAI API surface: answer writers that render canonical events as
// chat.completion / chat.completion.chunk, and the error and model-list bodies.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gateway/answer_writer.h"
#include "llmux/codec/openai.h"
#include "server/client_channel.h"

namespace llmux::host {

struct AnswerContext {
  std::shared_ptr<ClientChannel> channel;
  std::string request_id;     // also the response id
  bool close_connection = false;
};

std::unique_ptr<AnswerWriter> make_openai_writer(AnswerContext context, openai::ResponseMeta meta, bool stream,
                                                 bool include_usage);

// A whole error response in the OpenAI shape.
std::string openai_error_response(const Error& error, bool close_connection = false);

struct ServedModel {
  std::string id;
  std::string owned_by;
};
std::string openai_model_list(const std::vector<ServedModel>& models, std::int64_t created);

// "chatcmpl-" + 24 random characters; unique enough to correlate logs.
std::string new_completion_id();

}  // namespace llmux::host
