// The provider interface: a plugin turns a config subtree into providers; a
// provider lists its models and answers chat calls asynchronously.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmux/chat.h"
#include "llmux/config.h"
#include "llmux/event.h"
#include "llmux/host_services.h"

namespace llmux {

// One chat call as the provider sees it. The host implements it.
//
// Threading: emit() may be called from any thread, but the events of one call
// must be emitted one after another (never concurrently). After a terminal
// event the call ignores further events.
class ChatCall {
 public:
  virtual ~ChatCall() = default;
  virtual const ChatRequest& request() const = 0;
  virtual void emit(Event event) = 0;
  // The commit rule, decided by the host's answer writer alone: true once any
  // byte of this call's answer has reached the client. From then on an Error
  // ends the answer in-band: no other credential, retry or fallback can
  // replace it. Before it, an Error lets the host retry or fall back, and a
  // provider that has emitted nothing yet may still answer the call another
  // way (e.g. with another credential). A streamed answer commits with its
  // first content event, a whole answer with its terminal event. A call that
  // has ended (its terminal event is out) answers true: nothing it emits
  // counts any more. Lock-free; any thread, inside emit() paths too.
  virtual bool committed() const = 0;
  // True once the client went away or the host gave up on this call.
  virtual bool cancelled() const = 0;
  // Runs `on_cancel` once when the call is cancelled (immediately, on the
  // calling thread, if it already is). Use it to stop upstream work.
  virtual void on_cancel(std::function<void()> on_cancel) = 0;

  // Backpressure. True while the client has more of this answer unread than
  // the host buffers per connection: a streaming provider should pause its
  // upstream (HttpTransfer::pause) and resume in on_client_drained.
  virtual bool client_backlogged() const = 0;
  // Runs `fn` once when the backlog has drained, or the call ends (on a host
  // thread; immediately if there is no backlog now).
  virtual void on_client_drained(std::function<void()> fn) = 0;
};

using ChatCallPtr = std::shared_ptr<ChatCall>;

struct ModelInfo {
  std::string id;
  std::string owned_by;
};

// What a provider says about its own health, beyond the host's cooldowns:
// e.g. every key of a provider got 401 and waits for a probe. The host shows
// it in /status and the llmux_provider_state metric, and skips the provider
// while it is not Up (a provider lets a probe through itself when it is due,
// by reporting Up again).
struct ProviderCondition {
  enum class State { Up, Unauthorized };
  State state = State::Up;
  std::string reason;  // why, when not Up (never a secret)
};

// What an operator does to one credential of a pool.
struct CredentialAction {
  enum class Kind { Add, Disable, Enable, Refresh, Remove };
  Kind kind = Kind::Add;
  // The credential. Add: the new one's label (empty: the provider picks one).
  std::string label;
  // Add only: the secret as JSON, one of {"api_key"}, {"access_token",
  // "refresh_token", "expires_at"} (either token may be absent, not both),
  // or Claude Code's credentials file ({"claudeAiOauth":{...}}). The provider
  // keeps it in its state store; it never appears in a report or a log.
  std::string secret_json;
};

// The action's outcome: an Error (404 unknown label, 409 conflict, 400 bad
// secret, 502 a refresh the token endpoint refused, ...), or the credential's
// entry as credentials_report() shows it (JSON object; "{}" after Remove).
using CredentialActionDone = std::function<void(std::optional<Error> error, std::string credential_json)>;

class Provider {
 public:
  virtual ~Provider() = default;
  // Models this provider knows it can serve (may be empty: routes decide).
  virtual std::vector<ModelInfo> models() const = 0;
  // Starts answering and returns quickly; events follow on any thread. The
  // provider keeps `call` alive until it has emitted a terminal event or seen
  // the cancellation. It must not throw: failures are Error events.
  virtual void chat(ChatCallPtr call) = 0;

  // Whether it answers requests of `operation`. A Completion request also
  // carries its chat form (see TextCompletion), so every chat provider serves
  // it; Embedding needs a provider that says so. The host skips a provider
  // that does not serve a request's operation (the chain moves on).
  virtual bool serves(Operation operation) const { return operation != Operation::Embedding; }

  // True when a request that came in as `api` always goes upstream as the
  // client's own body (ChatRequest::original_body, model renamed), reading
  // nothing of the request but model, stream and include_usage: then the host
  // skips the full parse and hands over a routing-only request
  // (ChatRequest::parsed false), parsing it only for a step that needs it.
  // Constant for the provider's life; any thread.
  virtual bool passes_through(Api api) const {
    (void)api;
    return false;
  }

  // Exact input-token count for `request` (Anthropic /v1/messages/count_tokens).
  // A provider that can count calls `done` once, on any thread, with the count
  // or an Error, and returns true; the default returns false and the host
  // answers with its own estimate. `request` is only valid during the call.
  using CountTokensDone = std::function<void(std::int64_t input_tokens, std::optional<Error> error)>;
  virtual bool count_tokens(const ChatRequest& request, CountTokensDone done) {
    (void)request;
    (void)done;
    return false;
  }

  // Credentials the provider rotates (a token pool), as a JSON array of
  // objects for the admin endpoint GET /api/tokens; empty when it has none.
  // Never includes a secret: a short fingerprint at most.
  virtual std::string credentials_report() const { return {}; }

  // The provider's own view of its health (see ProviderCondition); any thread.
  virtual ProviderCondition condition() const { return {}; }

  // An operator's action on the provider's credentials (the admin API's pool
  // page). A provider with a pool calls `done` once, on any thread, and
  // returns true; the default returns false (the host answers 404: no pool).
  // The host calls it off its I/O threads: it may wait for the state store.
  virtual bool manage_credentials(CredentialAction action, CredentialActionDone done) {
    (void)action;
    (void)done;
    return false;
  }
};

// What the host hands a plugin to create one provider instance.
struct ProviderSpec {
  std::string name;          // the provider's name in providers.yaml
  const ConfigNode& options; // its `options` subtree (a map; empty map when absent)
  HostServices& host;        // valid for the provider's whole life
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual std::string name() const = 0;     // e.g. "mock"
  virtual std::string version() const = 0;  // the plugin's own version
  // Throws ConfigError for a wrong option and NotConfigured for a missing secret.
  virtual std::shared_ptr<Provider> create_provider(const ProviderSpec& spec) = 0;
};

}  // namespace llmux
