// The front door as a registry: each inbound API (OpenAI chat, models,
// Anthropic messages and count_tokens, operations, ...) registers the paths it
// answers, the method, who may call it, its wire shape, and how it serves a
// request. The HTTP handler (server/http_server.cc) is a dispatcher that
// knows no API by name: it finds the API for the path, checks the method and
// the key, and hands over an ApiCall.
//
// Adding an API: one file that defines an InboundApi and one line in
// api_registry.cc's default_registry().
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/dialect.h"
#include "llmux/chat.h"
#include "observability/request_context.h"
#include "server/client_channel.h"

namespace llmux::host {

struct AdminAccess;
class Exchange;
class Gateway;
class RouteTable;

// The request as the transport read it.
class InboundRequest {
 public:
  virtual ~InboundRequest() = default;
  virtual std::string_view method() const = 0;  // "GET", "POST", ...
  virtual std::string_view path() const = 0;    // without the query
  virtual std::optional<std::string> header(std::string_view name) const = 0;
  // A query parameter's value (decoded), or nullopt.
  virtual std::optional<std::string> query(std::string_view name) const {
    (void)name;
    return std::nullopt;
  }
  // The body; an API may take it (move from it) for the exchange.
  virtual std::string& body() = 0;
  // The client's IP address as text ("" when unknown): login rate limits.
  virtual std::string peer_address() const { return {}; }
};

// Who may call an API.
enum class Access {
  Open,    // anyone (health)
  Client,  // a client key when `client_keys` are set
  Admin,   // the admin key when set, else a client key when those are set, else anyone
  Panel,   // the admin API: the admin key or a panel session (AdminAuth), CSRF-checked mutations
};

// One request handed to an API: what it needs to answer, and the ways to answer.
class ApiCall {
 public:
  ApiCall(Gateway& gateway, std::shared_ptr<const RouteTable> table, InboundRequest& request,
          std::shared_ptr<RequestContext> context, std::shared_ptr<ClientChannel> channel, const Dialect& dialect,
          bool close_connection);

  Gateway& gateway;
  std::shared_ptr<const RouteTable> table;
  InboundRequest& request;  // valid during serve() only: a copy kept for a later answer must not read it
  std::shared_ptr<RequestContext> context;
  std::shared_ptr<ClientChannel> channel;
  const Dialect& dialect;  // the shape of this call's errors
  bool close_connection;
  // Access::Panel APIs: how the caller got in (its session, if any).
  const AdminAccess* admin = nullptr;
  // An answer that outlives serve() without an Exchange (a live feed) sets
  // this; the transport runs it when the client disconnects.
  std::function<void()> on_client_gone;

  // A whole answer now; x-request-id is added, the context records the status
  // and the bytes and ends with `outcome` (by default ok for 2xx, else rejected).
  void respond(int status, std::string_view content_type, std::string_view body, std::string_view extra_headers = {});
  void respond(int status, std::string_view content_type, std::string_view body, std::string_view extra_headers,
               Outcome outcome);
  // An error answer in the call's dialect (Retry-After headers included).
  void fail(const Error& error, Outcome outcome = Outcome::Rejected);
  // The writer context of a streamed or whole answer produced later.
  AnswerContext answer_context() const { return {channel, context, close_connection}; }
};

// A whole answer written to `answer` (now or after an asynchronous step, from
// any thread): x-request-id, the panel's headers when `panel`, then
// `extra_headers`; the context records status and bytes and ends with `outcome`.
void respond_whole(const AnswerContext& answer, int status, std::string_view content_type, std::string_view body,
                   std::string_view extra_headers, Outcome outcome, bool panel);

class InboundApi {
 public:
  virtual ~InboundApi() = default;
  // Stable and short: the `api` label of the metrics and the access log ("openai.chat").
  virtual std::string_view name() const = 0;
  // The paths it answers, exactly (no query). Paths under /v1 are also
  // answered without the prefix (clients configured with a base URL lacking it).
  // A segment "{id}" stands for any one segment (the API reads it from path()).
  virtual std::vector<std::string> paths() const = 0;
  virtual std::string_view method() const = 0;  // "GET", "POST" or "DELETE"; HEAD is answered for GET APIs
  virtual Access access() const { return Access::Client; }
  // Whether its requests are traffic for the panel's history (live log,
  // usage, series). The operators' endpoints and the panel's own calls are
  // not (the metrics count everything).
  virtual bool traffic() const { return true; }
  // The wire shape of its answers and errors for this request.
  virtual const Dialect& dialect(const InboundRequest& request) const;  // default: OpenAI's
  // Answers through `call` now, or returns the exchange that will (the
  // transport cancels it when the client leaves).
  virtual std::shared_ptr<Exchange> serve(ApiCall& call) const = 0;
};

class ApiRegistry {
 public:
  void add(std::unique_ptr<InboundApi> api);
  // The API answering `method` on `path` (with or without the /v1 prefix);
  // else one that answers the path with another method (the caller says 405);
  // else null. A registered segment "{id}" matches any one segment.
  const InboundApi* find(std::string_view path, std::string_view method = {}) const;
  const std::vector<std::unique_ptr<InboundApi>>& apis() const { return apis_; }

 private:
  std::vector<std::unique_ptr<InboundApi>> apis_;
  std::vector<std::pair<std::string, const InboundApi*>> by_path_;
};

// "%2F" and the like decoded (a malformed escape stays as it is); in a query
// string `plus_is_space` also turns '+' into a space (HTML forms, URLSearchParams).
std::string percent_decode(std::string_view text, bool plus_is_space = false);

// Every API llmux serves on its main port.
const ApiRegistry& default_registry();
// Only the operations a metrics port serves (/metrics, /healthz).
const ApiRegistry& metrics_registry();

// The dialect of an answer to a request no API claims: Anthropic's for paths
// under /v1/messages or requests that carry anthropic-version, else OpenAI's.
const Dialect& dialect_for_unknown(const InboundRequest& request);

}  // namespace llmux::host
