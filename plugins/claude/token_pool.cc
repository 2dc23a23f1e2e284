// The token pool. Durable state, one record per credential label:
//
//   {"v":1,"origin":"<sha256 prefix of the configured secret>","generation":N,
//    "access_token":..,"refresh_token":..,"expires_at":<unix ms>,
//    "cooldown_until":<unix ms>,"disabled":bool,"disabled_reason":..,
//    "last_error":..,"requests":N,"failures":N,"refreshes":N}
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
#include <ctime>

#include "llmux/json.h"
#include "sha256.h"

namespace llmux::claude {

namespace {

constexpr std::size_t kMaxTokenBody = 64 * 1024;


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
  std::uint64_t last_used = 0;  // use sequence (least recently used)

  bool refreshing = false;
  std::vector<std::function<void()>> waiters;
  bool dirty = false;
};

struct TokenPool::Record {
  std::string origin;
  std::uint64_t generation = 0;
  std::string access_token, refresh_token;
  std::int64_t expires_at = 0, cooldown_until = 0;
  bool disabled = false;
  std::string disabled_reason, last_error;
  std::uint64_t requests = 0, failures = 0, refreshes = 0;

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
      return r;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
};

TokenPool::TokenPool(std::string provider_name, ClaudeConfig config, HostServices& host)
    : name_(std::move(provider_name)), config_(std::move(config)), who_("claude provider '" + name_ + "'"),
      host_(&host) {
  for (const auto& cc : config_.credentials) {
    auto c = std::make_unique<Credential>();
    c->config = cc;
    const std::string digest = sha256_hex(cc.secret());
    c->origin = digest.substr(0, 16);
    c->fingerprint = "sha256:" + digest.substr(0, 8);
    c->access_token = cc.kind == CredentialKind::OAuth ? cc.access_token : std::string();
    c->refresh_token = cc.refresh_token;
    c->expires_at = cc.expires_at_ms;
    creds_.push_back(std::move(c));
  }
}

TokenPool::~TokenPool() = default;

std::shared_ptr<Ticket> TokenPool::ticket() const {
  auto t = std::make_shared<Ticket>();
  t->tried.assign(creds_.size(), false);
  return t;
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
  return r;
}

std::optional<TokenPool::Record> TokenPool::load_record(std::size_t index) {
  std::string key = state_key(creds_[index]->config.label);
  std::lock_guard lock(life_mu_);
  if (!alive_) return std::nullopt;
  return Record::parse(host_->state().load(key));
}

void TokenPool::persist(std::size_t index) {
  Record record;
  std::string key;
  {
    std::lock_guard lock(mu_);
    record = record_of(index);
    creds_[index]->dirty = false;
    key = state_key(creds_[index]->config.label);
  }
  std::string error;
  bool ok = true;
  {
    std::lock_guard lock(life_mu_);
    if (!alive_) return;
    ok = host_->state().update(
        key,
        [&record](const std::optional<std::string>& current) -> std::optional<std::string> {
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
        },
        &error);
  }
  if (!ok) log(LogLevel::Error, "credential '" + creds_[index]->config.label + "': state not saved: " + error);
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
  for (std::size_t i : dirty) persist(i);
}

void TokenPool::start() {
  for (std::size_t i = 0; i < creds_.size(); ++i) {
    auto stored = load_record(i);
    std::string note;
    bool write = false;
    {
      std::lock_guard lock(mu_);
      Credential& c = *creds_[i];
      if (stored) {
        const bool same_login = stored->origin == c.origin ||
                                (c.config.kind == CredentialKind::OAuth && !c.config.refresh_token.empty() &&
                                 stored->refresh_token == c.config.refresh_token);
        if (same_login) {
          if (c.config.kind == CredentialKind::OAuth && (!stored->access_token.empty() || !stored->refresh_token.empty())) {
            c.access_token = stored->access_token;
            c.refresh_token = stored->refresh_token;
            c.expires_at = stored->expires_at;
          }
          c.generation = stored->generation;
          c.cooldown_until = stored->cooldown_until;
          c.disabled = stored->disabled;
          c.disabled_reason = stored->disabled_reason;
          c.last_error = stored->last_error;
          write = stored->origin != c.origin;  // record the config's secret as the new origin
          if (c.disabled) note = "disabled since an earlier run: " + c.disabled_reason;
        } else {
          note = "the configured secret changed: its saved state is replaced";
          c.generation = stored->generation + 1;  // the config's tokens win over the old login's
          write = true;
        }
        c.requests = stored->requests;
        c.failures = stored->failures;
        c.refreshes = stored->refreshes;
      }
    }
    if (write) persist(i);
    if (!note.empty()) log(LogLevel::Info, "credential '" + creds_[i]->config.label + "': " + note);
  }
  for (const auto& skipped : config_.skipped) log(LogLevel::Warn, skipped);
}

void TokenPool::shutdown() {
  flush_dirty();
  if (http_thread_.load() != std::this_thread::get_id()) {
    // A refresh in flight may bring a rotated refresh token: wait for it (not
    // on the HTTP thread, which would deliver it: bounded by refresh_timeout).
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
  if (c.disabled || c.cooldown_until > now) return false;
  return has_valid_access(c, now) || can_refresh(c, now);
}

std::optional<std::size_t> TokenPool::choose(const Ticket& ticket, std::int64_t now) {
  const std::size_t n = creds_.size();
  std::optional<std::size_t> best;
  if (config_.selection == Selection::RoundRobin) {
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t i = (cursor_ + k) % n;
      if (ticket.tried[i] || !usable(*creds_[i], now)) continue;
      cursor_ = i + 1;
      return i;
    }
    return std::nullopt;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (ticket.tried[i] || !usable(*creds_[i], now)) continue;
    if (!best || creds_[i]->last_used < creds_[*best]->last_used) best = i;
  }
  return best;
}

std::string TokenPool::describe_unusable(std::int64_t now) const {
  std::string out;
  for (const auto& c : creds_) {
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
    if (c->disabled) continue;
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
  ticket->tried[*index] = true;
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
  if (!c.disabled && c.cooldown_until <= now && has_valid_access(c, now)) {
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

void TokenPool::note_http_thread() { http_thread_.store(std::this_thread::get_id()); }

void TokenPool::reauthenticate(const Auth& failed, const std::string& why,
                               std::function<void(std::optional<Auth>)> done) {
  const std::int64_t now = now_ms();
  std::unique_lock lock(mu_);
  Credential& c = *creds_[failed.index];
  if (c.config.kind != CredentialKind::OAuth || c.disabled) {
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
    if (!cred.disabled && cred.access_token != failed.token && self->has_valid_access(cred, at)) {
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
          adopted = true;
        }
      }
      if (adopted) {
        log(LogLevel::Info, "credential '" + creds_[index]->config.label +
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
      c.refresh_blocked_until = 0;
      c.cooldown_until = 0;
      message = "refreshed";
      if (!refresh.empty()) message += " (refresh token rotated)";
      if (expires_in >= 0) message += "; expires in " + std::to_string(expires_in) + "s";
    } else if (permanent) {
      c.disabled = true;
      c.disabled_reason = "refresh rejected: " + why;
      c.last_error = c.disabled_reason;
      ++c.failures;
      level = LogLevel::Warn;
      message = "disabled: " + c.disabled_reason;
    } else {
      c.refresh_blocked_until = now + config_.cooldown.count();
      c.last_error = "refresh failed: " + why;
      ++c.failures;
      // Still usable until its access token expires; otherwise it rests.
      if (!has_valid_access(c, now)) c.cooldown_until = std::max(c.cooldown_until, c.refresh_blocked_until);
      level = LogLevel::Warn;
      message = c.last_error + "; next try in " + seconds_text(config_.cooldown.count());
    }
  }
  persist(index);  // a rotated refresh token is durable before anyone uses the new access token
  log(level, "credential '" + label + "': " + message);
  finish_refresh(index);
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
  persist(auth.index);
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
  persist(auth.index);
  log(LogLevel::Warn, "credential '" + auth.label + "' disabled: " + reason +
                          " (fix its secret in the config; the others keep serving)");
}

// ---------------------------------------------------------------------------
// Report and redaction

std::string TokenPool::report() const {
  const std::int64_t now = now_ms();
  std::lock_guard lock(mu_);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartArray();
  for (const auto& c : creds_) {
    w.StartObject();
    w.Key("label"); w.String(c->config.label);
    w.Key("kind"); w.String(to_string(c->config.kind));
    const char* state = "active";
    if (c->disabled) {
      state = "disabled";
    } else if (c->refreshing) {
      state = "refreshing";
    } else if (c->cooldown_until > now) {
      state = "cooldown";
    } else if (!has_valid_access(*c, now) && !can_refresh(*c, now)) {
      state = "expired";
    }
    w.Key("state"); w.String(state);
    w.Key("cooldown_until");
    if (c->cooldown_until > now) {
      w.String(iso_time(c->cooldown_until));
    } else {
      w.Null();
    }
    w.Key("expires_at");
    if (c->config.kind == CredentialKind::OAuth && c->expires_at != 0) {
      w.String(iso_time(c->expires_at));
    } else {
      w.Null();
    }
    w.Key("refreshable"); w.Bool(!c->refresh_token.empty());
    w.Key("last_error");
    if (c->last_error.empty()) {
      w.Null();
    } else {
      w.String(c->last_error);
    }
    if (c->disabled) {
      w.Key("disabled_reason"); w.String(c->disabled_reason);
    }
    w.Key("requests"); w.Uint64(c->requests);
    w.Key("failures"); w.Uint64(c->failures);
    w.Key("refreshes"); w.Uint64(c->refreshes);
    w.Key("fingerprint"); w.String(c->fingerprint);
    w.Key("source"); w.String(c->config.source);
    w.EndObject();
  }
  w.EndArray();
  return buffer.GetString();
}

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
