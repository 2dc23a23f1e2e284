// An inbound API's wire shape, as the host writes it: errors, model lists and
// answers (whole and streamed). One per llmux::Api; the writers in
// answer_writers.h are shared, each dialect names its renderers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gateway/answer_writer.h"
#include "llmux/chat.h"
#include "llmux/event.h"

namespace llmux::host {

struct ServedModel {
  std::string id;
  std::string owned_by;
};

class Dialect {
 public:
  virtual ~Dialect() = default;
  virtual Api api() const = 0;
  // The body of a whole error answer in this API's shape.
  virtual std::string error_body(const Error& error) const = 0;
  // GET /v1/models in this API's shape.
  virtual std::string model_list(const std::vector<ServedModel>& models, std::int64_t created) const = 0;
  // The writer of one answer to `request` (streamed or whole).
  virtual std::unique_ptr<AnswerWriter> make_writer(AnswerContext context, const ChatRequest& request) const = 0;
};

const Dialect& dialect_of(Api api);

// Headers an error answer carries beyond the defaults: Retry-After (seconds,
// rounded up) and retry-after-ms when the upstream asked to wait.
std::string error_headers(const Error& error);

}  // namespace llmux::host
