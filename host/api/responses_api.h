// The OpenAI Responses API's wire shape (errors in OpenAI's shape, answers as
// response objects and Responses streams); the APIs are in responses_api.cc.
#pragma once

#include "api/dialect.h"

namespace llmux::host {

const Dialect& responses_dialect();

}  // namespace llmux::host
