// The token pool. Durable state, one record per credential label:
//
//   {"v":1,"origin":"<sha256 prefix of the configured secret>","generation":N,
//    "access_token":..,"refresh_token":..,"expires_at":<unix ms>,
//    "cooldown_until":<unix ms>,"disabled":bool,"disabled_reason":..,
//    "last_error":..,"requests":N,"failures":N,"refreshes":N,
//    "last_refresh":<unix ms>,"tokens":N}
//
// Credentials an operator added (the admin API) are listed, with the secret
// they were added with, under one more key, "admin-credentials":
// {"v":1,"credentials":[{"label","api_key"} | {"label","access_token",
// "refresh_token","expires_at"}]}. At start they join the configured ones
// (a configured label wins) and their records are read like any other.
// Removing one drops it from that list and blanks its record.
//
// Which side wins at start (config or state): the record remembers the
// configured secret it descends from (`origin`). While the config still holds
// that secret, the state wins: it has the rotated refresh token and the
// current access token, which the config cannot know. When the config's
// secret differs, the user changed it (a new login), so the config wins and
// the record starts over from it -- unless the config now holds exactly the
// refresh token the state has (the user copied the current one back), which
// is the same login. A rotated refresh token is therefore never dropped while
// its login is configured, and an edited config is never shadowed.
//
// `generation` counts refreshes: a write never replaces tokens with older ones
// (several llmux instances on one shared store, or a reloaded provider and its
// predecessor finishing a refresh).
#include "token_pool.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "llmux/json.h"
#include "sha256.h"

namespace llmux::claude {

namespace {

constexpr std::size_t kMaxTokenBody = 64 * 1024;
constexpr const char* kAdminKey = "admin-credentials";
constexpr const char* kAdminSource = "admin";
constexpr std::size_t kMaxLabel = 64;

Error action_error(int status, const std::string& code, std::string message) {
  const char* type = status == 404 ? "not_found_error" : status >= 500 ? "api_error" : "invalid_request_error";
  return Error::make(status, type, std::move(message), code);
}

// Why an operator's label cannot be used, or empty.
std::string label_problem(const std::string& label) {
  if (label.size() > kMaxLabel) return "the label is longer than " + std::to_string(kMaxLabel) + " characters";
  for (char ch : label) {
    if (std::iscntrl(static_cast<unsigned char>(ch))) return "the label must be printable";
    if (ch == '/') return "the label must not contain '/'";
  }
  if (!label.empty() && (std::isspace(static_cast<unsigned char>(label.front())) ||
                         std::isspace(static_cast<unsigned char>(label.back())))) {
    return "the label must not start or end with a space";
  }
  return {};
}

// The list of added credentials, as stored under kAdminKey.
void write_definition(rapidjson::Writer<rapidjson::StringBuffer>& w, const CredentialConfig& c) {
  w.StartObject();
  w.Key("label"); w.String(c.label);
  if (c.kind == CredentialKind::ApiKey) {
    w.Key("api_key"); w.String(c.api_key);
  } else {
    if (!c.access_token.empty()) { w.Key("access_token"); w.String(c.access_token); }
    if (!c.refresh_token.empty()) { w.Key("refresh_token"); w.String(c.refresh_token); }
    if (c.expires_at_ms != 0) { w.Key("expires_at"); w.Int64(c.expires_at_ms); }
  }
  w.EndObject();
}

// `current` with `added` appended and every entry labelled `removed` left out;
// nullopt (and why) when `current` is not such a list.
std::optional<std::string> edit_definitions(const std::optional<std::string>& current, const CredentialConfig* added,
                                            const std::string& removed, std::string& problem) {
  std::vector<CredentialConfig> kept;
  if (current && !current->empty()) {
    try {
      kept = parse_credentials_json(*current, kAdminSource);
    } catch (const std::exception& e) {
      problem = std::string("the stored list of added credentials is unreadable: ") + e.what();
      return std::nullopt;
    }
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("v"); w.Int(1);
  w.Key("credentials");
  w.StartArray();
  for (const auto& c : kept) {
    if (c.label != removed) write_definition(w, c);
  }
  if (added != nullptr) write_definition(w, *added);
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString());
}


std::string iso_time(std::int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string state_key(const std::string& label) {
  std::string key = "credential-";
  key += label;
  return key;
}

std::string seconds_text(std::int64_t ms) {
  std::int64_t s = (ms + 999) / 1000;
  return std::to_string(s < 0 ? 0 : s) + "s";
}

std::string excerpt(const std::string& body) {
  std::string out = body.substr(0, 300);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

struct TokenPool::Credential {
  CredentialConfig config;
  std::string origin;
  std::string fingerprint;  // "sha256:" + 8 hex of the configured secret

  std::string access_token;
  std::string refresh_token;
  std::int64_t expires_at = 0;
  std::uint64_t generation = 0;

  std::int64_t cooldown_until = 0;
  std::int64_t refresh_blocked_until = 0;  // after a refresh failed for a passing reason
  bool disabled = false;
  std::string disabled_reason;
  std::string last_error;
  std::uint64_t requests = 0, failures = 0, refreshes = 0;
  std::uint64_t tokens = 0;           // input + output, from the answers' usage
  std::int64_t last_refresh = 0;      // unix ms of the last successful refresh; 0 = none
  std::uint64_t last_used = 0;  // use sequence (least recently used)

  bool refreshing = false;
  std::string refresh_error;  // why the last refresh failed; empty after a success
  std::vector<std::function<void()>> waiters;
  bool dirty = false;
  // Removed by the operator: never chosen, reported or stored again. It stays
  // in the vector (a tombstone) because requests in flight hold its index.
  bool removed = false;
};

struct TokenPool::Record {
  std::string origin;
  std::uint64_t generation = 0;
  std::string access_token, refresh_token;
  std::int64_t expires_at = 0, cooldown_until = 0;
  bool disabled = false;
  std::string disabled_reason, last_error;
  std::uint64_t requests = 0, failures = 0, refreshes = 0, tokens = 0;
  std::int64_t last_refresh = 0;

  std::string serialize() const {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("v"); w.Int(1);
    w.Key("origin"); w.String(origin);
    w.Key("generation"); w.Uint64(generation);
    if (!access_token.empty()) { w.Key("access_token"); w.String(access_token); }
    if (!refresh_token.empty()) { w.Key("refresh_token"); w.String(refresh_token); }
    w.Key("expires_at"); w.Int64(expires_at);
    w.Key("cooldown_until"); w.Int64(cooldown_until);
    w.Key("disabled"); w.Bool(disabled);
    w.Key("disabled_reason"); w.String(disabled_reason);
    w.Key("last_error"); w.String(last_error);
    w.Key("requests"); w.Uint64(requests);
    w.Key("failures"); w.Uint64(failures);
    w.Key("refreshes"); w.Uint64(refreshes);
    w.Key("tokens"); w.Uint64(tokens);
    w.Key("last_refresh"); w.Int64(last_refresh);
    w.EndObject();
    return buffer.GetString();
  }

  static std::optional<Record> parse(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    try {
      rapidjson::Document doc;
      doc.Parse(text->data(), text->size());
      if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
      Record r;
      auto str = [&](const char* name, std::string& out) {
        auto it = doc.FindMember(name);
        if (it != doc.MemberEnd() && it->value.IsString()) out = it->value.GetString();
      };
      auto i64 = [&](const char* name, std::int64_t& out) {
        auto it = doc.FindMember(name);
        if (it != doc.MemberEnd() && it->value.IsInt64()) out = it->value.GetInt64();
      };
      auto u64 = [&](const char* name, std::uint64_t& out) {
        auto it = doc.FindMember(name);
        if (it != doc.MemberEnd() && it->value.IsUint64()) out = it->value.GetUint64();
      };
      str("origin", r.origin);
      if (r.origin.empty()) return std::nullopt;
      u64("generation", r.generation);
      str("access_token", r.access_token);
      str("refresh_token", r.refresh_token);
      i64("expires_at", r.expires_at);
      i64("cooldown_until", r.cooldown_until);
      if (auto it = doc.FindMember("disabled"); it != doc.MemberEnd() && it->value.IsBool()) r.disabled = it->value.GetBool();
      str("disabled_reason", r.disabled_reason);
      str("last_error", r.last_error);
      u64("requests", r.requests);
      u64("failures", r.failures);
      u64("refreshes", r.refreshes);
      u64("tokens", r.tokens);
      i64("last_refresh", r.last_refresh);
      return r;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
};

TokenPool::TokenPool(std::string provider_name, ClaudeConfig config, HostServices& host)
    : name_(std::move(provider_name)), config_(std::move(config)), who_("claude provider '" + name_ + "'"),
      host_(&host) {
  for (const auto& cc : config_.credentials) creds_.push_back(make_credential(cc));
}

TokenPool::~TokenPool() = default;

std::unique_ptr<TokenPool::Credential> TokenPool::make_credential(const CredentialConfig& cc) {
  auto c = std::make_unique<Credential>();
  c->config = cc;
  const std::string digest = sha256_hex(cc.secret());
  c->origin = digest.substr(0, 16);
  c->fingerprint = "sha256:" + digest.substr(0, 8);
  c->access_token = cc.kind == CredentialKind::OAuth ? cc.access_token : std::string();
  c->refresh_token = cc.refresh_token;
  c->expires_at = cc.expires_at_ms;
  return c;
}

std::size_t TokenPool::size() const {
  std::lock_guard lock(mu_);
  return creds_.size();
}

std::shared_ptr<Ticket> TokenPool::ticket() const {
  auto t = std::make_shared<Ticket>();
  t->tried.assign(size(), false);
  return t;
}

std::string TokenPool::label_of(std::size_t index) const {
  std::lock_guard lock(mu_);
  return creds_[index]->config.label;
}

std::optional<std::size_t> TokenPool::find_live(const std::string& label) const {
  for (std::size_t i = 0; i < creds_.size(); ++i) {
    if (!creds_[i]->removed && creds_[i]->config.label == label) return i;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Host services

bool TokenPool::alive() const {
  std::lock_guard lock(life_mu_);
  return alive_;
}

void TokenPool::log(LogLevel level, const std::string& message) {
  std::lock_guard lock(life_mu_);
  if (!alive_) return;
  Logger& logger = host_->logger();
  if (logger.enabled(level)) logger.log(level, message);
}

std::shared_ptr<HttpTransfer> TokenPool::start_http(HttpRequest request, std::shared_ptr<HttpHandler> handler) {
  std::lock_guard lock(life_mu_);
  if (!alive_) return nullptr;
  return host_->http().start(std::move(request), std::move(handler));
}

std::int64_t TokenPool::now_ms() const {
  std::lock_guard lock(life_mu_);
  auto wall = alive_ ? host_->clock().wall_now() : std::chrono::system_clock::now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
}

// ---------------------------------------------------------------------------
// State

TokenPool::Record TokenPool::record_of(std::size_t index) const {
  const Credential& c = *creds_[index];
  Record r;
  r.origin = c.origin;
  r.generation = c.generation;
  if (c.config.kind == CredentialKind::OAuth) {
    r.access_token = c.access_token;
    r.refresh_token = c.refresh_token;
    r.expires_at = c.expires_at;
  }
  r.cooldown_until = c.cooldown_until;
  r.disabled = c.disabled;
  r.disabled_reason = c.disabled_reason;
  r.last_error = c.last_error;
  r.requests = c.requests;
  r.failures = c.failures;
  r.refreshes = c.refreshes;
  r.tokens = c.tokens;
  r.last_refresh = c.last_refresh;
  return r;
}

std::optional<TokenPool::Record> TokenPool::load_record(std::size_t index) {
  return Record::parse(load_state(state_key(label_of(index))));
}

std::optional<std::string> TokenPool::load_state(const std::string& key) {
  std::lock_guard lock(life_mu_);
  if (!alive_) return std::nullopt;
  return host_->state().load(key);
}

namespace {
// The outcome of a state update another thread carries out, waited for.
struct Awaited {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  bool ok = false;
  std::string error;
  void finish(bool success, const std::string& why) {
    std::lock_guard lock(mu);
    ok = success;
    error = why;
    finished = true;
    cv.notify_all();
  }
  bool wait(std::string& why) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished; });
    why = error;
    return ok;
  }
};
}  // namespace

bool TokenPool::update_state(const std::string& key, const StateStore::Mutation& mutation, std::string& error) {
  // Queued under life_mu_ (so in order with persist(), which queues under it
  // too), waited for outside it: nothing else that needs life_mu_ (a request
  // reading the clock, a log line) waits for this disk write.
  auto outcome = std::make_shared<Awaited>();
  {
    std::lock_guard lock(life_mu_);
    if (!alive_) {
      error = "the provider was removed";
      return false;
    }
    // The caller waits below, so the mutation may read and write its frame.
    host_->state().update_async(
        key, [&mutation](const std::optional<std::string>& current) { return mutation(current); },
        [outcome](bool ok, const std::string& why) { outcome->finish(ok, why); });
  }
  return outcome->wait(error);
}

void TokenPool::persist(std::size_t index, Durability durability, std::function<void()> then) {
  if (durability == Durability::Wait) {
    // Queued like any other, waited for here (outside life_mu_: see update_state).
    auto written = std::make_shared<Awaited>();
    persist(index, Durability::Queue, [written] { written->finish(true, {}); });
    std::string ignored;
    written->wait(ignored);
    if (then) then();
    return;
  }
  // life_mu_ from reading the credential to queueing its write: a removal
  // (which queues its blanking under life_mu_) cannot slip in between, and
  // the store writes in the order asked.
  std::unique_lock life(life_mu_);
  Record record;
  std::string key, label;
  bool skip = !alive_;
  if (!skip) {
    std::lock_guard lock(mu_);
    Credential& c = *creds_[index];
    skip = c.removed;
    if (!skip) {
      record = record_of(index);
      c.dirty = false;
      label = c.config.label;
      key = state_key(label);
    }
  }
  if (skip) {
    life.unlock();
    if (then) then();
    return;
  }
  // Owns what it reads: an asynchronous update runs it later, on the store's thread.
  StateStore::Mutation mutation = [record](const std::optional<std::string>& current) -> std::optional<std::string> {
    auto stored = Record::parse(current);
    if (stored && stored->origin == record.origin && stored->generation > record.generation) {
      Record merged = record;  // newer tokens were written elsewhere: keep them
      merged.generation = stored->generation;
      merged.access_token = stored->access_token;
      merged.refresh_token = stored->refresh_token;
      merged.expires_at = stored->expires_at;
      return merged.serialize();
    }
    return record.serialize();
  };
  // The caller may be on an I/O thread: the write and its fsync happen on the
  // store's thread, and `then` runs there once the record is durable.
  auto self = shared_from_this();
  auto completion = [self, label, then = std::move(then)](bool ok, const std::string& error) {
    if (!ok) self->log(LogLevel::Error, "credential '" + label + "': state not saved: " + error);
    if (then) then();
  };
  // A store without a thread of its own completes inside update_async: that
  // completion waits until life_mu_ is released here.
  struct Handoff {
    std::mutex mu;
    bool returned = false;  // update_async has returned
    std::optional<std::pair<bool, std::string>> early;
  };
  auto handoff = std::make_shared<Handoff>();
  host_->state().update_async(key, std::move(mutation),
                              [self, handoff, completion](bool ok, const std::string& error) {
                                {
                                  std::lock_guard lock(handoff->mu);
                                  if (!handoff->returned) {
                                    handoff->early.emplace(ok, error);
                                    return;
                                  }
                                }
                                self->note_http_thread();  // shutdown() must not wait on this thread either
                                completion(ok, error);
                              });
  std::optional<std::pair<bool, std::string>> early;
  {
    std::lock_guard lock(handoff->mu);
    handoff->returned = true;
    early.swap(handoff->early);
  }
  life.unlock();
  if (early) completion(early->first, early->second);
}

void TokenPool::mark_dirty(std::size_t index) {
  bool schedule = false;
  {
    std::lock_guard lock(mu_);
    creds_[index]->dirty = true;
    if (!flush_scheduled_) flush_scheduled_ = schedule = true;
  }
  if (!schedule) return;
  std::weak_ptr<TokenPool> weak = weak_from_this();
  std::lock_guard lock(life_mu_);
  if (!alive_) return;
  host_->timers().schedule(config_.state_flush, [weak] {
    if (auto self = weak.lock()) self->flush_dirty();
  });
}

void TokenPool::flush_dirty() {
  std::vector<std::size_t> dirty;
  {
    std::lock_guard lock(mu_);
    flush_scheduled_ = false;
    for (std::size_t i = 0; i < creds_.size(); ++i) {
      if (creds_[i]->dirty) dirty.push_back(i);
    }
  }
  for (std::size_t i : dirty) persist(i, Durability::Queue);
}

bool TokenPool::apply_record(Credential& c, const Record& stored, std::string& note) const {
  bool write = false;
  const bool same_login = stored.origin == c.origin ||
                          (c.config.kind == CredentialKind::OAuth && !c.config.refresh_token.empty() &&
                           stored.refresh_token == c.config.refresh_token);
  if (same_login) {
    if (c.config.kind == CredentialKind::OAuth && (!stored.access_token.empty() || !stored.refresh_token.empty())) {
      c.access_token = stored.access_token;
      c.refresh_token = stored.refresh_token;
      c.expires_at = stored.expires_at;
    }
    c.generation = stored.generation;
    c.cooldown_until = stored.cooldown_until;
    c.disabled = stored.disabled;
    c.disabled_reason = stored.disabled_reason;
    c.last_error = stored.last_error;
    c.last_refresh = stored.last_refresh;
    write = stored.origin != c.origin;  // record the config's secret as the new origin
    if (c.disabled) note = "disabled since an earlier run: " + c.disabled_reason;
  } else {
    note = "the configured secret changed: its saved state is replaced";
    c.generation = stored.generation + 1;  // the config's tokens win over the old login's
    write = true;
  }
  c.requests = stored.requests;
  c.failures = stored.failures;
  c.refreshes = stored.refreshes;
  c.tokens = stored.tokens;
  return write;
}

void TokenPool::load_admin_credentials() {
  auto text = load_state(kAdminKey);
  if (!text || text->empty()) return;
  std::vector<CredentialConfig> added;
  try {
    added = parse_credentials_json(*text, kAdminSource);
  } catch (const std::exception& e) {
    log(LogLevel::Error, std::string("the credentials added through the admin API are unreadable: ") + e.what());
    return;
  }
  std::vector<std::string> shadowed;
  {
    std::lock_guard lock(mu_);
    for (auto& cc : added) {
      if (cc.label.empty()) continue;
      if (find_live(cc.label)) {
        shadowed.push_back(cc.label);
        continue;
      }
      cc.source = kAdminSource;
      creds_.push_back(make_credential(cc));
    }
  }
  for (const auto& label : shadowed) {
    log(LogLevel::Warn, "credential '" + label + "' added through the admin API is left out: the config defines "
                        "that label");
  }
}

void TokenPool::start() {
  load_admin_credentials();
  const std::size_t count = size();
  for (std::size_t i = 0; i < count; ++i) {
    auto stored = load_record(i);
    std::string note;
    bool write = false;
    if (stored) {
      std::lock_guard lock(mu_);
      write = apply_record(*creds_[i], *stored, note);
    }
    if (write) persist(i, Durability::Wait);  // a provider starts off the I/O threads
    if (!note.empty()) log(LogLevel::Info, "credential '" + label_of(i) + "': " + note);
  }
  for (const auto& skipped : config_.skipped) log(LogLevel::Warn, skipped);
}

void TokenPool::shutdown() {
  flush_dirty();  // queued: the host's store finishes its queue even after this provider is gone
  if (!on_callback_thread()) {
    // A refresh in flight may bring a rotated refresh token: wait for it (not
    // on a thread that delivers HTTP answers or store completions, which may
    // be the one to deliver it: bounded by refresh_timeout).
    std::unique_lock lock(mu_);
    refresh_cv_.wait_for(lock, config_.refresh_timeout + std::chrono::seconds(1),
                         [&] { return refreshes_in_flight_ == 0; });
  }
  std::lock_guard lock(life_mu_);
  alive_ = false;
}

// ---------------------------------------------------------------------------
// Selection

bool TokenPool::has_valid_access(const Credential& c, std::int64_t now) const {
  if (c.config.kind == CredentialKind::ApiKey) return true;
  return !c.access_token.empty() && (c.expires_at == 0 || c.expires_at > now);
}

bool TokenPool::can_refresh(const Credential& c, std::int64_t now) const {
  return c.config.kind == CredentialKind::OAuth && !c.refresh_token.empty() && c.refresh_blocked_until <= now;
}

bool TokenPool::needs_refresh(const Credential& c, std::int64_t now) const {
  if (!can_refresh(c, now)) return false;
  if (c.access_token.empty()) return true;
  return c.expires_at != 0 && c.expires_at - config_.refresh_skew.count() <= now;
}

bool TokenPool::usable(const Credential& c, std::int64_t now) const {
  if (c.removed || c.disabled || c.cooldown_until > now) return false;
  return has_valid_access(c, now) || can_refresh(c, now);
}

std::optional<std::size_t> TokenPool::choose(const Ticket& ticket, std::int64_t now) {
  const std::size_t n = creds_.size();
  std::optional<std::size_t> best;
  if (config_.selection == Selection::RoundRobin) {
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t i = (cursor_ + k) % n;
      if (ticket.has_tried(i) || !usable(*creds_[i], now)) continue;
      cursor_ = i + 1;
      return i;
    }
    return std::nullopt;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (ticket.has_tried(i) || !usable(*creds_[i], now)) continue;
    if (!best || creds_[i]->last_used < creds_[*best]->last_used) best = i;
  }
  return best;
}

std::string TokenPool::describe_unusable(std::int64_t now) const {
  std::string out;
  for (const auto& c : creds_) {
    if (c->removed) continue;
    if (!out.empty()) out += "; ";
    out += "'" + c->config.label + "' ";
    if (c->disabled) {
      out += "disabled (" + c->disabled_reason + ")";
    } else if (c->cooldown_until > now) {
      out += "cooling down for " + seconds_text(c->cooldown_until - now);
      if (!c->last_error.empty()) out += " (" + c->last_error + ")";
    } else if (!has_valid_access(*c, now) && !can_refresh(*c, now)) {
      out += c->refresh_token.empty() ? "expired (no refresh token)" : "expired, refresh failing";
    } else {
      out += "failed for this request";
      if (!c->last_error.empty()) out += " (" + c->last_error + ")";
    }
  }
  return out;
}

std::optional<std::chrono::milliseconds> TokenPool::next_rest_end() const {
  const std::int64_t now = now_ms();
  std::lock_guard lock(mu_);
  std::optional<std::int64_t> soonest;
  for (const auto& c : creds_) {
    if (c->disabled || c->removed) continue;
    if (c->cooldown_until <= now) return std::nullopt;  // not resting: no time to wait for
    if (!soonest || c->cooldown_until < *soonest) soonest = c->cooldown_until;
  }
  if (!soonest) return std::nullopt;
  return std::chrono::milliseconds(*soonest - now);
}

Auth TokenPool::auth_of(std::size_t index) const {
  const Credential& c = *creds_[index];
  Auth a;
  a.index = index;
  a.kind = c.config.kind;
  a.token = c.config.kind == CredentialKind::ApiKey ? c.config.api_key : c.access_token;
  a.label = c.config.label;
  return a;
}

void TokenPool::acquire(const std::shared_ptr<Ticket>& ticket, Acquired done) {
  const std::int64_t now = now_ms();
  std::unique_lock lock(mu_);
  auto index = choose(*ticket, now);
  if (!index) {
    std::string why = describe_unusable(now);
    lock.unlock();
    done(std::nullopt, why);
    return;
  }
  ticket->mark_tried(*index);
  Credential& c = *creds_[*index];
  c.last_used = ++use_sequence_;
  if (needs_refresh(c, now)) {
    const bool begin = !c.refreshing;
    if (begin) {
      c.refreshing = true;
      ++refreshes_in_flight_;
    }
    std::weak_ptr<TokenPool> weak = weak_from_this();
    c.waiters.push_back([weak, ticket, done, i = *index] {
      if (auto self = weak.lock()) self->acquire_after_refresh(ticket, done, i);
    });
    lock.unlock();
    if (begin) run_refresh(*index, {});
    return;
  }
  ++c.requests;
  Auth auth = auth_of(*index);
  lock.unlock();
  mark_dirty(auth.index);
  done(std::move(auth), {});
}

void TokenPool::acquire_after_refresh(const std::shared_ptr<Ticket>& ticket, const Acquired& done, std::size_t index) {
  const std::int64_t now = now_ms();
  std::unique_lock lock(mu_);
  Credential& c = *creds_[index];
  if (!c.removed && !c.disabled && c.cooldown_until <= now && has_valid_access(c, now)) {
    ++c.requests;
    Auth auth = auth_of(index);
    lock.unlock();
    mark_dirty(index);
    done(std::move(auth), {});
    return;
  }
  lock.unlock();
  acquire(ticket, done);  // this one is out: the next
}

void TokenPool::note_http_thread() {
  const auto self = std::this_thread::get_id();
  std::lock_guard lock(threads_mu_);
  if (std::find(callback_threads_.begin(), callback_threads_.end(), self) == callback_threads_.end()) {
    callback_threads_.push_back(self);
  }
}

bool TokenPool::on_callback_thread() const {
  const auto self = std::this_thread::get_id();
  std::lock_guard lock(threads_mu_);
  return std::find(callback_threads_.begin(), callback_threads_.end(), self) != callback_threads_.end();
}

void TokenPool::reauthenticate(const Auth& failed, const std::string& why,
                               std::function<void(std::optional<Auth>)> done) {
  const std::int64_t now = now_ms();
  std::unique_lock lock(mu_);
  Credential& c = *creds_[failed.index];
  if (c.config.kind != CredentialKind::OAuth || c.disabled || c.removed) {
    lock.unlock();
    done(std::nullopt);
    return;
  }
  if (!c.refreshing && c.access_token != failed.token && has_valid_access(c, now)) {
    Auth auth = auth_of(failed.index);  // another request refreshed it meanwhile
    lock.unlock();
    done(std::move(auth));
    return;
  }
  if (!c.refreshing && !can_refresh(c, now)) {
    // No refresh token, or the token endpoint failed a moment ago.
    if (c.refresh_token.empty()) {
      lock.unlock();
      rejected(failed, why);
      done(std::nullopt);
      return;
    }
    c.cooldown_until = std::max(c.cooldown_until, c.refresh_blocked_until);
    lock.unlock();
    done(std::nullopt);
    return;
  }
  const bool begin = !c.refreshing;
  if (begin) {
    c.refreshing = true;
    ++refreshes_in_flight_;
  }
  std::weak_ptr<TokenPool> weak = weak_from_this();
  c.waiters.push_back([weak, failed, done] {
    auto self = weak.lock();
    if (!self) return done(std::nullopt);
    const std::int64_t at = self->now_ms();
    std::unique_lock relock(self->mu_);
    Credential& cred = *self->creds_[failed.index];
    if (!cred.removed && !cred.disabled && cred.access_token != failed.token && self->has_valid_access(cred, at)) {
      Auth auth = self->auth_of(failed.index);
      relock.unlock();
      done(std::move(auth));
      return;
    }
    relock.unlock();
    done(std::nullopt);
  });
  lock.unlock();
  if (begin) run_refresh(failed.index, failed.token);
}

// ---------------------------------------------------------------------------
// Refresh

void TokenPool::run_refresh(std::size_t index, std::string failed_access) {
  // Tokens another instance (or this provider's predecessor) got since: take
  // them instead of spending a refresh token that may have rotated.
  if (auto stored = load_record(index)) {
    const std::int64_t now = now_ms();
    std::unique_lock lock(mu_);
    Credential& c = *creds_[index];
    if (stored->origin == c.origin && stored->generation > c.generation && !stored->refresh_token.empty()) {
      c.access_token = stored->access_token;
      c.refresh_token = stored->refresh_token;
      c.expires_at = stored->expires_at;
      c.generation = stored->generation;
      const bool fresh = !c.access_token.empty() && c.access_token != failed_access &&
                         (c.expires_at == 0 || c.expires_at - config_.refresh_skew.count() > now);
      if (fresh) {
        c.refresh_error.clear();
        lock.unlock();
        log(LogLevel::Info, "credential '" + c.config.label + "': took the tokens refreshed elsewhere");
        finish_refresh(index);
        return;
      }
    }
  }

  std::string refresh_token;
  {
    std::lock_guard lock(mu_);
    refresh_token = creds_[index]->refresh_token;
  }
  std::string body = "{\"grant_type\":\"refresh_token\",\"refresh_token\":";
  json::append_quoted(body, refresh_token);
  body += ",\"client_id\":";
  json::append_quoted(body, config_.client_id);
  body += "}";

  HttpRequest request;
  request.method = "POST";
  request.url = config_.token_url;
  request.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  request.body = std::move(body);
  config_.upstream.apply(request);
  request.timeouts.total = config_.refresh_timeout;
  if (request.timeouts.first_byte.count() == 0 || request.timeouts.first_byte > config_.refresh_timeout) {
    request.timeouts.first_byte = config_.refresh_timeout;
  }

  std::weak_ptr<TokenPool> weak = weak_from_this();
  auto handler = collect_response(kMaxTokenBody, [weak, index](CollectedResponse&& answer) {
    auto self = weak.lock();
    if (!self) return;
    self->note_http_thread();
    self->refresh_done(index, answer.status, answer.body, answer.problem(), !answer.outcome.ok() || answer.too_large);
  });
  if (!start_http(std::move(request), handler)) {
    refresh_done(index, 0, {}, "the provider was removed", true);
  }
}

void TokenPool::refresh_done(std::size_t index, int status, const std::string& body, const std::string& problem,
                             bool transport_failed) {
  const std::int64_t now = now_ms();
  std::string access, refresh, why;
  std::int64_t expires_in = -1;
  if (!transport_failed && status >= 200 && status < 300) {
    try {
      rapidjson::Document doc;
      doc.Parse(body.data(), body.size());
      if (doc.IsObject()) {
        if (auto it = doc.FindMember("access_token"); it != doc.MemberEnd() && it->value.IsString()) {
          access = it->value.GetString();
        }
        if (auto it = doc.FindMember("refresh_token"); it != doc.MemberEnd() && it->value.IsString()) {
          refresh = it->value.GetString();
        }
        if (auto it = doc.FindMember("expires_in"); it != doc.MemberEnd() && it->value.IsNumber()) {
          expires_in = static_cast<std::int64_t>(it->value.GetDouble());
        }
      }
    } catch (const std::exception&) {
    }
    if (access.empty()) why = "token endpoint answered without an access_token";
  } else if (transport_failed) {
    why = "token endpoint unreachable: " + problem;
  } else {
    why = "token endpoint answered HTTP " + std::to_string(status);
    std::string text = excerpt(body);
    if (!text.empty()) why += ": " + text;
  }
  why = redact(std::move(why));
  // 400 (invalid_grant), 401, 403: this refresh token is dead for good --
  // unless another instance spent it first and stored its successor.
  const bool permanent = !transport_failed && (status == 400 || status == 401 || status == 403);
  if (permanent) {
    if (auto stored = load_record(index)) {
      bool adopted = false;
      {
        std::lock_guard lock(mu_);
        Credential& c = *creds_[index];
        if (stored->origin == c.origin && stored->generation > c.generation && !stored->refresh_token.empty() &&
            !stored->access_token.empty()) {
          c.access_token = stored->access_token;
          c.refresh_token = stored->refresh_token;
          c.expires_at = stored->expires_at;
          c.generation = stored->generation;
          c.refresh_error.clear();
          adopted = true;
        }
      }
      if (adopted) {
        log(LogLevel::Info, "credential '" + label_of(index) +
                                "': its refresh token was spent elsewhere; took the stored successor");
        finish_refresh(index);
        return;
      }
    }
  }

  std::string label;
  std::string message;
  LogLevel level = LogLevel::Info;
  {
    std::lock_guard lock(mu_);
    Credential& c = *creds_[index];
    label = c.config.label;
    if (why.empty()) {
      c.access_token = access;
      if (!refresh.empty()) c.refresh_token = refresh;  // rotated
      c.expires_at = expires_in >= 0 ? now + expires_in * 1000 : 0;
      ++c.generation;
      ++c.refreshes;
      c.last_refresh = now;
      c.refresh_error.clear();
      c.refresh_blocked_until = 0;
      c.cooldown_until = 0;
      message = "refreshed";
      if (!refresh.empty()) message += " (refresh token rotated)";
      if (expires_in >= 0) message += "; expires in " + std::to_string(expires_in) + "s";
    } else if (permanent) {
      c.disabled = true;
      c.disabled_reason = "refresh rejected: " + why;
      c.last_error = c.disabled_reason;
      c.refresh_error = why;
      ++c.failures;
      level = LogLevel::Warn;
      message = "disabled: " + c.disabled_reason;
    } else {
      c.refresh_blocked_until = now + config_.cooldown.count();
      c.last_error = "refresh failed: " + why;
      c.refresh_error = why;
      ++c.failures;
      // Still usable until its access token expires; otherwise it rests.
      if (!has_valid_access(c, now)) c.cooldown_until = std::max(c.cooldown_until, c.refresh_blocked_until);
      level = LogLevel::Warn;
      message = c.last_error + "; next try in " + seconds_text(config_.cooldown.count());
    }
  }
  log(level, "credential '" + label + "': " + message);
  // A rotated refresh token is durable before anyone uses the new access
  // token: the waiters run once the store has written it (on its thread, so
  // this I/O thread never waits for the disk).
  auto self = shared_from_this();
  persist(index, Durability::Queue, [self, index] { self->finish_refresh(index); });
}

void TokenPool::finish_refresh(std::size_t index) {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mu_);
    Credential& c = *creds_[index];
    c.refreshing = false;
    waiters.swap(c.waiters);
  }
  for (auto& waiter : waiters) waiter();
  {
    std::lock_guard lock(mu_);
    --refreshes_in_flight_;
  }
  refresh_cv_.notify_all();
}

// ---------------------------------------------------------------------------
// Outcomes

void TokenPool::succeeded(const Auth& auth) {
  (void)auth;  // counted when acquired
}

void TokenPool::failed(const Auth& auth, const std::string& message) {
  {
    std::lock_guard lock(mu_);
    Credential& c = *creds_[auth.index];
    ++c.failures;
    c.last_error = redact_locked(message);
  }
  mark_dirty(auth.index);
}

void TokenPool::rate_limited(const Auth& auth, std::optional<std::chrono::milliseconds> retry_after,
                             const std::string& message) {
  std::chrono::milliseconds wait = retry_after.value_or(config_.cooldown);
  if (wait > config_.max_cooldown) wait = config_.max_cooldown;
  if (wait.count() <= 0) wait = std::chrono::milliseconds(1000);
  const std::int64_t now = now_ms();
  {
    std::lock_guard lock(mu_);
    Credential& c = *creds_[auth.index];
    c.cooldown_until = std::max(c.cooldown_until, now + wait.count());
    c.last_error = redact_locked(message);
  }
  persist(auth.index, Durability::Queue);
  log(LogLevel::Info, "credential '" + auth.label + "' cooling down for " + seconds_text(wait.count()) + ": " +
                          redact(message));
}

void TokenPool::rejected(const Auth& auth, const std::string& message) {
  std::string reason = redact(message);
  {
    std::lock_guard lock(mu_);
    Credential& c = *creds_[auth.index];
    if (c.disabled) return;
    c.disabled = true;
    c.disabled_reason = reason;
    c.last_error = reason;
  }
  persist(auth.index, Durability::Queue);
  log(LogLevel::Warn, "credential '" + auth.label + "' disabled: " + reason +
                          " (fix its secret in the config; the others keep serving)");
}

// ---------------------------------------------------------------------------
// Report

void TokenPool::write_entry(rapidjson::Writer<rapidjson::StringBuffer>& w, const Credential& c,
                            std::int64_t now) const {
  w.StartObject();
  w.Key("label"); w.String(c.config.label);
  w.Key("kind"); w.String(to_string(c.config.kind));
  const char* state = "active";
  if (c.disabled) {
    state = "disabled";
  } else if (c.refreshing) {
    state = "refreshing";
  } else if (c.cooldown_until > now) {
    state = "cooldown";
  } else if (!has_valid_access(c, now) && !can_refresh(c, now)) {
    state = "expired";
  }
  w.Key("state"); w.String(state);
  w.Key("cooldown_until");
  if (c.cooldown_until > now) {
    w.String(iso_time(c.cooldown_until));
  } else {
    w.Null();
  }
  w.Key("expires_at");
  if (c.config.kind == CredentialKind::OAuth && c.expires_at != 0) {
    w.String(iso_time(c.expires_at));
  } else {
    w.Null();
  }
  w.Key("refreshable"); w.Bool(!c.refresh_token.empty());
  w.Key("last_refresh");
  if (c.last_refresh != 0) {
    w.String(iso_time(c.last_refresh));
  } else {
    w.Null();
  }
  w.Key("last_error");
  if (c.last_error.empty()) {
    w.Null();
  } else {
    w.String(c.last_error);
  }
  if (c.disabled) {
    w.Key("disabled_reason"); w.String(c.disabled_reason);
  }
  w.Key("requests"); w.Uint64(c.requests);
  w.Key("failures"); w.Uint64(c.failures);
  w.Key("refreshes"); w.Uint64(c.refreshes);
  w.Key("tokens"); w.Uint64(c.tokens);
  w.Key("fingerprint"); w.String(c.fingerprint);
  w.Key("source"); w.String(c.config.source);
  w.EndObject();
}

std::string TokenPool::entry_json(std::size_t index, std::int64_t now) const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  write_entry(w, *creds_[index], now);
  return buffer.GetString();
}

std::string TokenPool::report() const {
  const std::int64_t now = now_ms();
  std::lock_guard lock(mu_);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartArray();
  for (const auto& c : creds_) {
    if (!c->removed) write_entry(w, *c, now);
  }
  w.EndArray();
  return buffer.GetString();
}

void TokenPool::add_tokens(const Auth& auth, std::int64_t tokens) {
  if (tokens <= 0) return;
  {
    std::lock_guard lock(mu_);
    creds_[auth.index]->tokens += static_cast<std::uint64_t>(tokens);
  }
  mark_dirty(auth.index);
}

// ---------------------------------------------------------------------------
// Operator actions

void TokenPool::manage(const CredentialAction& action, CredentialActionDone done) {
  switch (action.kind) {
    case CredentialAction::Kind::Add:
      return add(action, done);
    case CredentialAction::Kind::Disable:
      return set_disabled(action.label, true, done);
    case CredentialAction::Kind::Enable:
      return set_disabled(action.label, false, done);
    case CredentialAction::Kind::Refresh:
      return refresh_now(action.label, done);
    case CredentialAction::Kind::Remove:
      return remove(action.label, done);
  }
  done(action_error(400, "invalid_request", "unknown credential action"), {});
}

namespace {
std::string unknown_label(const std::string& who, const std::string& label) {
  return who + " has no credential '" + label + "'";
}
}  // namespace

void TokenPool::add(const CredentialAction& action, const CredentialActionDone& done) {
  CredentialConfig cc;
  try {
    cc = parse_credential_secret(action.secret_json);
  } catch (const std::exception& e) {
    return done(action_error(400, "invalid_request", std::string("invalid credential: ") + e.what()), {});
  }
  cc.source = kAdminSource;
  if (!action.label.empty()) cc.label = action.label;
  if (auto problem = label_problem(cc.label); !problem.empty()) {
    return done(action_error(400, "invalid_request", "invalid credential: " + problem), {});
  }
  std::unique_lock admin(admin_mu_);
  auto fresh = make_credential(cc);
  std::optional<Error> refusal;
  {
    std::lock_guard lock(mu_);
    if (cc.label.empty()) {
      for (std::size_t n = 1; cc.label.empty(); ++n) {
        std::string candidate = "admin-" + std::to_string(n);
        if (!find_live(candidate) && !adding_.count(candidate)) cc.label = candidate;
      }
      fresh->config.label = cc.label;
    }
    if (find_live(cc.label) || adding_.count(cc.label)) {
      refusal = action_error(409, "conflict", who_ + " already has a credential '" + cc.label + "'");
    }
    for (const auto& c : creds_) {
      if (!refusal && !c->removed && c->origin == fresh->origin) {
        refusal = action_error(409, "conflict", "this secret is already in the pool as '" + c->config.label + "'");
      }
    }
    if (!refusal) adding_.insert(cc.label);
  }
  if (refusal) {
    admin.unlock();
    return done(std::move(refusal), {});
  }
  auto release = [&] {
    std::lock_guard lock(mu_);
    adding_.erase(cc.label);
  };

  std::string problem, error;
  const bool stored = update_state(
      kAdminKey,
      [&](const std::optional<std::string>& current) {
        problem.clear();
        return edit_definitions(current, &cc, cc.label, problem);
      },
      error);
  if (!stored || !problem.empty()) {
    release();
    admin.unlock();
    const std::string why = !problem.empty() ? problem : error;
    log(LogLevel::Error, "credential '" + cc.label + "' not added: " + why);
    return done(action_error(500, "state_not_saved", "the credential could not be stored: " + why), {});
  }
  // A record left under this label by the same login (e.g. a configured
  // credential moved here) keeps its rotated tokens and counters.
  if (auto record = Record::parse(load_state(state_key(cc.label))); record && record->origin == fresh->origin) {
    std::string note;
    apply_record(*fresh, *record, note);
  }
  std::size_t index = 0;
  {
    std::lock_guard lock(mu_);
    index = creds_.size();
    creds_.push_back(std::move(fresh));
    adding_.erase(cc.label);
  }
  persist(index, Durability::Wait);  // operator actions run off the I/O threads and answer once durable
  admin.unlock();
  const std::int64_t now = now_ms();
  std::string entry;
  std::string fingerprint;
  {
    std::lock_guard lock(mu_);
    entry = entry_json(index, now);
    fingerprint = creds_[index]->fingerprint;
  }
  log(LogLevel::Info, "credential '" + cc.label + "' (" + to_string(cc.kind) + ", " + fingerprint +
                          ") added through the admin API");
  done(std::nullopt, std::move(entry));
}

void TokenPool::set_disabled(const std::string& label, bool disabled, const CredentialActionDone& done) {
  std::size_t index = 0;
  {
    std::unique_lock lock(mu_);
    auto found = find_live(label);
    if (!found) {
      lock.unlock();
      return done(action_error(404, "not_found", unknown_label(who_, label)), {});
    }
    index = *found;
    Credential& c = *creds_[index];
    if (disabled) {
      c.disabled = true;
      c.disabled_reason = "disabled by operator";
    } else {
      c.disabled = false;
      c.disabled_reason.clear();
      c.cooldown_until = 0;
      c.refresh_blocked_until = 0;
      c.last_error.clear();
    }
  }
  persist(index, Durability::Wait);
  log(LogLevel::Info, "credential '" + label + "' " + (disabled ? "disabled" : "enabled") + " by the operator");
  const std::int64_t now = now_ms();
  std::string entry;
  {
    std::lock_guard lock(mu_);
    entry = entry_json(index, now);
  }
  done(std::nullopt, std::move(entry));
}

void TokenPool::refresh_now(const std::string& label, const CredentialActionDone& done) {
  std::optional<Error> refusal;
  std::size_t index = 0;
  std::string access;
  bool begin = false;
  {
    std::lock_guard lock(mu_);
    auto found = find_live(label);
    if (!found) {
      refusal = action_error(404, "not_found", unknown_label(who_, label));
    } else if (creds_[*found]->config.kind != CredentialKind::OAuth) {
      refusal = action_error(409, "conflict", "credential '" + label + "' is an API key: nothing to refresh");
    } else if (creds_[*found]->refresh_token.empty()) {
      refusal = action_error(409, "conflict", "credential '" + label + "' has no refresh token: nothing to refresh");
    } else {
      index = *found;
      Credential& c = *creds_[index];
      access = c.access_token;
      begin = !c.refreshing;  // else this joins the refresh in flight
      if (begin) {
        c.refreshing = true;
        ++refreshes_in_flight_;
      }
      std::weak_ptr<TokenPool> weak = weak_from_this();
      c.waiters.push_back([weak, index, label, done] {
        auto self = weak.lock();
        if (!self) return done(action_error(503, "unavailable", "the provider was removed"), {});
        const std::int64_t now = self->now_ms();
        std::unique_lock relock(self->mu_);
        const Credential& cred = *self->creds_[index];
        if (!cred.refresh_error.empty()) {
          std::string why = "credential '" + label + "': refresh failed: " + cred.refresh_error;
          relock.unlock();
          return done(action_error(502, "refresh_failed", std::move(why)), {});
        }
        std::string entry = self->entry_json(index, now);
        relock.unlock();
        done(std::nullopt, std::move(entry));
      });
    }
  }
  if (refusal) return done(std::move(refusal), {});
  if (begin) {
    log(LogLevel::Info, "credential '" + label + "': refresh asked by the operator");
    run_refresh(index, access);  // the current access token is the one to replace
  }
}

void TokenPool::remove(const std::string& label, const CredentialActionDone& done) {
  std::unique_lock admin(admin_mu_);
  std::optional<Error> refusal;
  std::size_t index = 0;
  {
    std::lock_guard lock(mu_);
    auto found = find_live(label);
    if (!found) {
      refusal = action_error(404, "not_found", unknown_label(who_, label));
    } else if (creds_[*found]->config.source != kAdminSource) {
      refusal = action_error(409, "conflict",
                             "credential '" + label + "' is defined in the config (" + creds_[*found]->config.source +
                                 "); disable it or edit providers.yaml");
    } else {
      index = *found;
      creds_[index]->removed = true;  // no request takes it from now on
    }
  }
  if (refusal) {
    admin.unlock();
    return done(std::move(refusal), {});
  }
  std::string problem, error;
  bool ok = false;
  {
    // update_state() queues under life_mu_ like persist(), and the credential
    // is marked removed already: no write of its record can follow the blanking.
    ok = update_state(
        kAdminKey,
        [&](const std::optional<std::string>& current) {
          problem.clear();
          return edit_definitions(current, nullptr, label, problem);
        },
        error);
    ok = ok && problem.empty();
    if (ok) {
      std::string record_error;
      if (!update_state(state_key(label), [](const std::optional<std::string>&) { return std::string(); },
                        record_error)) {
        log(LogLevel::Warn, "credential '" + label + "': its record could not be blanked: " + record_error);
      }
    }
  }
  if (!ok) {
    {
      std::lock_guard lock(mu_);
      creds_[index]->removed = false;
    }
    admin.unlock();
    const std::string why = !problem.empty() ? problem : error;
    log(LogLevel::Error, "credential '" + label + "' not removed: " + why);
    return done(action_error(500, "state_not_saved", "the removal could not be stored: " + why), {});
  }
  admin.unlock();
  log(LogLevel::Info, "credential '" + label + "' removed through the admin API");
  done(std::nullopt, "{}");
}

// ---------------------------------------------------------------------------
// Redaction

std::string TokenPool::redact(std::string text) const {
  std::lock_guard lock(mu_);
  return redact_locked(std::move(text));
}

std::string TokenPool::redact_locked(std::string text) const {
  auto scrub = [&](const std::string& secret) {
    if (secret.size() < 8) return;
    for (std::size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
    }
  };
  for (const auto& c : creds_) {
    scrub(c->config.api_key);
    scrub(c->config.access_token);
    scrub(c->config.refresh_token);
    scrub(c->access_token);
    scrub(c->refresh_token);
  }
  return text;
}

}  // namespace llmux::claude
