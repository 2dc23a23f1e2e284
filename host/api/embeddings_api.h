// The OpenAI Embeddings wire shape (Dialect): a whole `list` of embeddings
// (never a stream), errors as {"error":{...}}, the model list as OpenAI's.
#pragma once

#include "api/dialect.h"

namespace llmux::host {

const Dialect& embeddings_dialect();

}  // namespace llmux::host
