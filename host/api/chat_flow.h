// What every chat-like inbound API does with a request, written once: check
// the size, parse the body with the API's codec, resolve the model, fill the
// request context, and start the exchange with the dialect's writer.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "api/inbound_api.h"
#include "llmux/chat.h"
#include "routing/route_table.h"

namespace llmux::host {

using ChatParser = std::optional<Error> (*)(std::string_view body, ChatRequest& out);

struct RoutedChat {
  ChatRequest request;
  Resolution resolution;
};

// Parses and routes the call's body. On failure answers the client itself
// (413, 400, 404 in the call's dialect) and returns nullopt.
std::optional<RoutedChat> route_chat(ApiCall& call, ChatParser parse);

// Starts the exchange that answers `routed` with `writer`, by default the
// call dialect's writer.
std::shared_ptr<Exchange> start_chat(ApiCall& call, RoutedChat routed, std::unique_ptr<AnswerWriter> writer = nullptr);

}  // namespace llmux::host
