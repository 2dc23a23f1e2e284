// What every chat-like inbound API does with a request, written once: check
// the size, parse the body with the API's codec, resolve the model, fill the
// request context, and start the exchange with the dialect's writer.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "api/inbound_api.h"
#include "gateway/exchange.h"
#include "llmux/chat.h"
#include "routing/route_table.h"

namespace llmux::host {

using ChatParser = FullParser;

// What routing-only parsing reads of an API's body (see route_chat).
struct RoutingShape {
  Api api = Api::OpenAIChat;          // what the codec sets as source_api
  std::string_view content_member;    // the member the codec requires besides model ("messages")
  bool stream_options = false;        // OpenAI: stream_options.include_usage is read too
};

struct RoutedChat {
  ChatRequest request;
  Resolution resolution;
  // Set when `request` is routing-only (ChatRequest::parsed false): the
  // exchange parses with it when a step needs the whole request.
  ChatParser parse_later = nullptr;
};

// Parses and routes the call's body. On failure answers the client itself
// (413, 400, 404 in the call's dialect) and returns nullopt.
//
// With `routing_only`, a body is first scanned (a syntax pass and its top
// level, no document): when it is a JSON object the scan follows (plain
// member names, one string `model`, `stream` a boolean or null, the content
// member present, ...) and the chain's first step is a provider that passes
// this API through (Provider::passes_through) with no `params`, the request
// stays unparsed and `parse_later` is set. Any other body is parsed in full
// at once, so a malformed one gets the codec's own 400.
std::optional<RoutedChat> route_chat(ApiCall& call, ChatParser parse, const RoutingShape* routing_only = nullptr);

// Reads only the routing fields of `body` into `out` (model, stream,
// include_usage when `shape` says so). False when the body is not one the
// scan vouches for: the caller parses it in full (which gives the error).
bool scan_routing_fields(std::string_view body, const RoutingShape& shape, ChatRequest& out);

// Starts the exchange that answers `routed` with `writer`, by default the
// call dialect's writer.
std::shared_ptr<Exchange> start_chat(ApiCall& call, RoutedChat routed, std::unique_ptr<AnswerWriter> writer = nullptr);

}  // namespace llmux::host
