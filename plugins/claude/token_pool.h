// The claude provider's token pool: selection, OAuth refresh, cooldowns,
// disabling, durable state and the /api/tokens report. It also guards the
// provider's host services: a reload may destroy the provider while calls and
// refreshes still run, so everything that reaches the host goes through here
// and stops once the provider is gone.
//
// Threading: every method may be called from any thread. The pool's lock is
// never held while calling out (host services, callbacks).
#pragma once

#include <atomic>
#include <condition_variable>
#include <thread>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "claude_config.h"
#include "llmux/host_services.h"
#include "llmux/http.h"
#include "llmux/json.h"
#include "llmux/provider.h"

namespace llmux::claude {

// What a request needs to authenticate with one credential.
struct Auth {
  std::size_t index = 0;
  CredentialKind kind = CredentialKind::ApiKey;
  std::string token;  // the API key or the OAuth access token
  std::string label;
};

// The credentials one request has tried (each at most once, bounded by the
// pool size). The pool may grow after the ticket was made (an operator added a
// credential): an index beyond `tried` is untried.
struct Ticket {
  std::vector<bool> tried;
  bool has_tried(std::size_t index) const { return index < tried.size() && tried[index]; }
  void mark_tried(std::size_t index) {
    if (index >= tried.size()) tried.resize(index + 1, false);
    tried[index] = true;
  }
};

class TokenPool : public std::enable_shared_from_this<TokenPool> {
 public:
  TokenPool(std::string provider_name, ClaudeConfig config, HostServices& host);
  ~TokenPool();
  TokenPool(const TokenPool&) = delete;
  TokenPool& operator=(const TokenPool&) = delete;

  // Loads the durable state (see docs/claude-pool.md for which side wins).
  void start();
  // The provider is going away: persists what is unsaved, waits (bounded)
  // for a refresh in flight so a rotated refresh token is stored, then stops
  // using the host services.
  void shutdown();

  const ClaudeConfig& config() const { return config_; }
  // Credentials ever in the pool, removed ones included (indices stay valid).
  std::size_t size() const;
  std::shared_ptr<Ticket> ticket() const;

  // An operator's action (Provider::manage_credentials): add, disable,
  // enable, refresh now, remove an added one. `done` runs once, on this thread
  // or (Refresh) on the thread that delivers the token endpoint's answer or
  // the state store's completion. Waits for the state store (the host calls
  // it off its I/O threads).
  void manage(const CredentialAction& action, CredentialActionDone done);

  // Picks a usable credential this ticket has not tried, refreshing its access
  // token first when it is about to expire (a refresh in flight is joined).
  // `done` gets nullopt and why when none is left.
  using Acquired = std::function<void(std::optional<Auth> auth, const std::string& why_none)>;
  void acquire(const std::shared_ptr<Ticket>& ticket, Acquired done);

  // After a 401/403 with `failed`: refreshes the credential once (joining a
  // refresh in flight, or taking a token another request already got) and
  // gives the new access token, or nullopt when it cannot (the credential is
  // then disabled or cooling down).
  // `why` disables a credential that has no refresh token.
  void reauthenticate(const Auth& failed, const std::string& why, std::function<void(std::optional<Auth>)> done);

  // Records the calling thread as one that delivers HTTP answers or state
  // store completions (an I/O thread, the store's writer): shutdown() must
  // not wait on it for a refresh that thread itself would deliver.
  void note_http_thread();

  // Outcomes of a request made with `auth`.
  void succeeded(const Auth& auth);
  // Any failed request: counted, remembered as the last error.
  void failed(const Auth& auth, const std::string& message);
  // 429/529: the credential rests for retry_after (or the configured cooldown).
  void rate_limited(const Auth& auth, std::optional<std::chrono::milliseconds> retry_after, const std::string& message);
  // 401/403 that a refresh cannot cure: the credential is disabled until the
  // config gives it a new secret.
  void rejected(const Auth& auth, const std::string& message);
  // Input + output tokens of an answer made with `auth` (its last Usage).
  void add_tokens(const Auth& auth, std::int64_t tokens);

  // How long until the first resting credential is usable again, when every
  // credential rests or is disabled and at least one rests; else nullopt.
  std::optional<std::chrono::milliseconds> next_rest_end() const;

  // /api/tokens: a JSON array, never a secret.
  std::string report() const;
  // Replaces every known secret in `text` (an upstream may echo one).
  std::string redact(std::string text) const;

  // ---- host services, only while the provider lives
  bool alive() const;
  void log(LogLevel level, const std::string& message);
  std::shared_ptr<HttpTransfer> start_http(HttpRequest request, std::shared_ptr<HttpHandler> handler);
  std::int64_t now_ms() const;

  const std::string& who() const { return who_; }

 private:
  struct Credential;
  struct Record;

  bool has_valid_access(const Credential& c, std::int64_t now) const;
  bool can_refresh(const Credential& c, std::int64_t now) const;
  bool needs_refresh(const Credential& c, std::int64_t now) const;
  bool usable(const Credential& c, std::int64_t now) const;
  std::optional<std::size_t> choose(const Ticket& ticket, std::int64_t now);
  std::optional<std::size_t> find_live(const std::string& label) const;  // under mu_
  std::string label_of(std::size_t index) const;
  std::string entry_json(std::size_t index, std::int64_t now) const;  // under mu_
  void write_entry(rapidjson::Writer<rapidjson::StringBuffer>& w, const Credential& c, std::int64_t now) const;
  static std::unique_ptr<Credential> make_credential(const CredentialConfig& config);
  bool apply_record(Credential& c, const Record& stored, std::string& note) const;
  void load_admin_credentials();

  void add(const CredentialAction& action, const CredentialActionDone& done);
  void set_disabled(const std::string& label, bool disabled, const CredentialActionDone& done);
  void refresh_now(const std::string& label, const CredentialActionDone& done);
  void remove(const std::string& label, const CredentialActionDone& done);
  std::string describe_unusable(std::int64_t now) const;
  Auth auth_of(std::size_t index) const;
  std::string redact_locked(std::string text) const;
  void acquire_after_refresh(const std::shared_ptr<Ticket>& ticket, const Acquired& done, std::size_t index);

  void run_refresh(std::size_t index, std::string failed_access);
  void refresh_done(std::size_t index, int status, const std::string& body, const std::string& problem,
                    bool transport_failed);
  void finish_refresh(std::size_t index);

  Record record_of(std::size_t index) const;  // under mu_
  // Wait: written and synced before persist() returns (startup, operator
  // actions: off the I/O threads). Queue: handed to the state store's own
  // thread (HTTP callbacks and timers never wait for the disk); `then` runs
  // there once the record is durable (or not, logged).
  enum class Durability { Wait, Queue };
  void persist(std::size_t index, Durability durability, std::function<void()> then = {});
  void mark_dirty(std::size_t index);         // soon, from a timer
  bool on_callback_thread() const;
  void flush_dirty();
  std::optional<Record> load_record(std::size_t index);
  std::optional<std::string> load_state(const std::string& key);
  bool update_state(const std::string& key, const StateStore::Mutation& mutation, std::string& error);

  const std::string name_;
  const ClaudeConfig config_;
  const std::string who_;  // "claude provider 'name'"

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Credential>> creds_;
  std::size_t cursor_ = 0;        // round robin
  std::uint64_t use_sequence_ = 0;  // least recently used
  bool flush_scheduled_ = false;
  std::set<std::string> adding_;  // labels of additions being stored

  // One operator addition or removal at a time: the list of added credentials
  // in the state store is read, changed and written back.
  std::mutex admin_mu_;

  // Refreshes in flight, waited for by shutdown().
  int refreshes_in_flight_ = 0;
  std::condition_variable refresh_cv_;
  mutable std::mutex threads_mu_;
  std::vector<std::thread::id> callback_threads_;  // see note_http_thread()

  mutable std::recursive_mutex life_mu_;  // recursive: a transfer may complete inside start()
  bool alive_ = true;
  HostServices* host_;  // valid while alive_
};

}  // namespace llmux::claude
