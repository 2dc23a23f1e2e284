// HttpEngine: one thread owns a CURLM handle and every easy handle in it.
//
// Other threads never touch curl. start/cancel/pause/resume push a Command on
// a mutex-protected queue and wake the loop (curl_multi_wakeup); the loop
// drains the queue, runs curl_multi_perform, completes finished transfers,
// enforces our own timeouts and sleeps in curl_multi_poll until the nearest
// deadline. Handlers run on the loop thread, inside curl's callbacks (on_response,
// on_body) or between them (on_complete).
//
// Timeouts (see Transfer::deadline): curl enforces `connect` (TCP + TLS +
// proxy); the loop enforces the rest. `first_byte` runs from the moment the
// request has been sent in full (request line, headers and body) to the first
// byte of the response; while the request body is still going out, `idle`
// bounds a stalled upload. `idle` then bounds every gap between response
// bytes; `total` the whole transfer. Neither first_byte nor idle runs while the
// transfer is paused; both restart at resume. `connect` zero means curl's own
// default (300 s): curl cannot switch its connect timeout off.
//
// Pause: pause() sets a flag the write callback checks before every on_body
// (so a pause from inside on_body is exact; from another thread, one delivery
// already under way may still finish), and the loop then pauses curl's
// receive side so the socket is not read. Before the response head has
// arrived curl is not paused (in 7.88 that kept the request from being sent);
// the write callback pauses it at the first body byte instead.
//
// The engine must not be destroyed from one of its own handlers (the
// destructor joins the loop thread).
#include "http/http_engine.h"

#include <curl/curl.h>
#include <pthread.h>
#include <strings.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "services/log.h"
#include "services/round_scope.h"

#ifndef LLMUX_VERSION
#define LLMUX_VERSION "dev"
#endif

namespace llmux::host {

struct Transfer;
class EngineLoop;

namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();
constexpr auto kPhasePoll = std::chrono::milliseconds(200);  // see EngineLoop::check_deadlines

std::once_flag g_curl_global;

// What the handle returned by start() and the loop share about one transfer.
struct TransferState {
  explicit TransferState(std::uint64_t id) : id(id) {}
  const std::uint64_t id;
  std::atomic<bool> paused{false};
  std::atomic<bool> done{false};
};

struct Command {
  enum class Kind { Start, Cancel, SyncPause } kind;
  std::uint64_t id = 0;
  Transfer* transfer = nullptr;  // Start: owned by the command until the loop takes it
};

// What other threads share with the loop. Handles keep a weak_ptr to it, so a
// handle outliving the engine finds nothing to talk to.
struct Core {
  std::mutex mutex;
  std::vector<Command> commands;
  CURLM* multi = nullptr;  // for curl_multi_wakeup, only under `mutex` while accepting
  bool accepting = true;
  std::atomic<std::size_t> active{0};

  bool post(Command command) {
    std::lock_guard lock(mutex);
    if (!accepting) return false;
    // Commands still queued mean a wake-up is already on its way (the loop
    // takes the whole queue at once): under load most posts skip the syscall.
    bool wake = commands.empty();
    commands.push_back(command);
    if (wake) curl_multi_wakeup(multi);
    return true;
  }
};

class TransferHandle final : public HttpTransfer {
 public:
  TransferHandle(std::weak_ptr<Core> core, std::shared_ptr<TransferState> state)
      : core_(std::move(core)), state_(std::move(state)) {}
  void cancel() override { post(Command::Kind::Cancel); }
  void pause() override {
    state_->paused = true;
    post(Command::Kind::SyncPause);
  }
  void resume() override {
    state_->paused = false;
    post(Command::Kind::SyncPause);
  }

 private:
  void post(Command::Kind kind) {
    if (state_->done) return;
    if (auto core = core_.lock()) core->post({kind, state_->id, nullptr});
  }
  std::weak_ptr<Core> core_;
  std::shared_ptr<TransferState> state_;
};

enum class Phase {
  Connecting,  // until the request head is out (curl's connect timeout applies)
  Sending,     // the request body is going out
  Waiting,     // sent in full, no response byte yet
  Receiving,   // the response has begun
};

}  // namespace

struct Transfer {
  std::shared_ptr<TransferState> state;
  HttpRequest request;  // owns the body curl sends (CURLOPT_POSTFIELDS, no copy)
  std::shared_ptr<HttpHandler> handler;
  EngineLoop* engine = nullptr;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  bool added = false;
  char error[CURL_ERROR_SIZE] = {};

  Clock::time_point started;
  Phase phase = Phase::Connecting;
  Clock::time_point timer_base;  // when the running first_byte/idle interval began
  curl_off_t uploaded = -1;
  bool timer_paused = false;  // the loop's view of state->paused
  bool curl_paused = false;   // curl's receive side is paused

  int status = 0;
  HttpHeaders response_headers;
  bool head_done = false;  // on_response has been called
  std::optional<HttpOutcome> abort;  // a callback stopped the transfer: its outcome

  struct Deadline {
    Clock::time_point at = kNever;
    HttpFailure failure = HttpFailure::None;
  };
  Deadline deadline() const;
};

class EngineLoop {
 public:
  explicit EngineLoop(HttpEngineOptions options);
  void run();

  // Loop thread only.
  void handle(Command& command, bool stopping);
  void start_transfer(std::unique_ptr<Transfer> transfer);
  bool setup(Transfer& transfer, std::string& error);
  void sync_pause(Transfer& transfer);
  void collect_done();
  void check_deadlines();
  void advance_phase(Transfer& transfer, curl_off_t uploaded);
  void note_response_byte(Transfer& transfer);
  void note_deadline(Clock::time_point at) { next_check = std::min(next_check, at); }
  void finish(Transfer& transfer, HttpOutcome outcome);
  HttpOutcome outcome_of(Transfer& transfer, CURLcode code);
  int poll_timeout_ms() const;
  // Easy handles are reused (curl_easy_reset keeps their buffers): a
  // transfer then costs no handle allocation, only its options.
  CURL* take_easy();
  void give_back_easy(CURL* easy);
  std::vector<CURL*> spare_easy;  // loop thread only

  HttpEngineOptions options;
  std::shared_ptr<Core> core;
  CURLM* multi = nullptr;
  std::atomic<std::uint64_t> next_id{1};
  std::unordered_map<std::uint64_t, std::unique_ptr<Transfer>> transfers;  // loop thread only
  Clock::time_point next_check = kNever;  // no deadline can expire before this
  std::thread thread;
};

struct HttpEngine::Impl : EngineLoop {
  using EngineLoop::EngineLoop;
};

namespace {

// Keeps secrets out of messages: request header values and the URL's query.
std::string scrub(std::string message, const HttpRequest& request) {
  auto redact = [&](std::string_view secret) {
    if (secret.size() < 6) return;
    for (std::size_t at; (at = message.find(secret)) != std::string::npos;) {
      message.replace(at, secret.size(), "[redacted]");
    }
  };
  for (const auto& [name, value] : request.headers) {
    redact(value);
    if (auto space = value.find(' '); space != std::string::npos) redact(std::string_view(value).substr(space + 1));
  }
  if (auto query = request.url.find('?'); query != std::string::npos) redact(std::string_view(request.url).substr(query + 1));
  return message;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

bool valid_header(const std::string& name, const std::string& value) {
  auto bad = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
  return !name.empty() && name.find(':') == std::string::npos && std::none_of(name.begin(), name.end(), bad) &&
         std::none_of(value.begin(), value.end(), bad);
}

void log_handler_exception(const char* where, const char* what) {
  Log::write(LogLevel::Error, "http", std::string("a transfer handler threw from ") + where + ": " + what);
}

// ---- curl callbacks (loop thread, inside curl_multi_perform or curl_easy_pause)

size_t on_header(char* data, size_t size, size_t count, void* user);
size_t on_write(char* data, size_t size, size_t count, void* user);
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t uploaded);

}  // namespace

Transfer::Deadline Transfer::deadline() const {
  Deadline best;
  auto consider = [&](Clock::time_point at, HttpFailure failure) {
    if (at < best.at) best = {at, failure};
  };
  const auto& limits = request.timeouts;
  if (limits.total.count() > 0) consider(started + limits.total, HttpFailure::TotalTimeout);
  if (timer_paused) return best;
  switch (phase) {
    case Phase::Connecting: break;
    case Phase::Sending:
      if (limits.idle.count() > 0) consider(timer_base + limits.idle, HttpFailure::IdleTimeout);
      break;
    case Phase::Waiting:
      if (limits.first_byte.count() > 0) consider(timer_base + limits.first_byte, HttpFailure::FirstByteTimeout);
      break;
    case Phase::Receiving:
      if (limits.idle.count() > 0) consider(timer_base + limits.idle, HttpFailure::IdleTimeout);
      break;
  }
  return best;
}

EngineLoop::EngineLoop(HttpEngineOptions options_in) : options(options_in), core(std::make_shared<Core>()) {
  std::call_once(g_curl_global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.max_connections_per_host));
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(options.max_total_connections));
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(options.max_total_connections));
  core->multi = multi;
}

void EngineLoop::run() {
  std::vector<Command> commands;  // reused: no allocation per round
  for (;;) {
    bool stopping;
    {
      // What handlers write to clients during the round leaves when it ends:
      // one send per client per round, however many pieces arrived.
      RoundScope round;
      {
        std::lock_guard lock(core->mutex);
        commands.swap(core->commands);
        stopping = !core->accepting;
      }
      for (auto& command : commands) handle(command, stopping);
      commands.clear();
      if (!stopping) {
        int running = 0;
        curl_multi_perform(multi, &running);
        collect_done();
        check_deadlines();
      }
    }
    if (stopping) break;
    curl_multi_poll(multi, nullptr, 0, poll_timeout_ms(), nullptr);
  }
  // Shutting down: every transfer still here ends as Cancelled.
  while (!transfers.empty()) {
    finish(*transfers.begin()->second, {HttpFailure::Cancelled, "the HTTP engine is shutting down"});
  }
}

CURL* EngineLoop::take_easy() {
  if (spare_easy.empty()) return curl_easy_init();
  CURL* easy = spare_easy.back();
  spare_easy.pop_back();
  return easy;
}

void EngineLoop::give_back_easy(CURL* easy) {
  constexpr std::size_t kMaxSpare = 32;  // enough for a burst; more are freed
  if (spare_easy.size() >= kMaxSpare) {
    curl_easy_cleanup(easy);
    return;
  }
  curl_easy_reset(easy);
  spare_easy.push_back(easy);
}

int EngineLoop::poll_timeout_ms() const {
  constexpr long long kMax = 1000;
  if (next_check == kNever) return static_cast<int>(kMax);
  auto left = next_check - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  // Round up: waking a little early would only spin until the deadline.
  long long rounded = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min(rounded, kMax));
}

void EngineLoop::handle(Command& command, bool stopping) {
  switch (command.kind) {
    case Command::Kind::Start: {
      std::unique_ptr<Transfer> transfer(command.transfer);
      command.transfer = nullptr;
      if (stopping) {
        auto id = transfer->state->id;
        transfers.emplace(id, std::move(transfer));
        finish(*transfers[id], {HttpFailure::Cancelled, "the HTTP engine is shutting down"});
        return;
      }
      start_transfer(std::move(transfer));
      return;
    }
    case Command::Kind::Cancel: {
      auto it = transfers.find(command.id);
      if (it != transfers.end()) finish(*it->second, {HttpFailure::Cancelled, "the transfer was cancelled"});
      return;
    }
    case Command::Kind::SyncPause: {
      auto it = transfers.find(command.id);
      if (it != transfers.end()) sync_pause(*it->second);
      return;
    }
  }
}

void EngineLoop::start_transfer(std::unique_ptr<Transfer> owned) {
  auto id = owned->state->id;
  Transfer& transfer = *transfers.emplace(id, std::move(owned)).first->second;
  transfer.engine = this;
  transfer.started = Clock::now();
  transfer.timer_base = transfer.started;
  std::string error;
  if (!setup(transfer, error)) {
    finish(transfer, {HttpFailure::Other, scrub("the request could not be set up: " + error, transfer.request)});
    return;
  }
  if (CURLMcode code = curl_multi_add_handle(multi, transfer.easy); code != CURLM_OK) {
    finish(transfer, {HttpFailure::Other, std::string("the transfer could not start: ") + curl_multi_strerror(code)});
    return;
  }
  transfer.added = true;
  note_deadline(transfer.deadline().at);
  // Catches the phases a progress callback may not report (see check_deadlines).
  note_deadline(transfer.started + kPhasePoll);
  if (transfer.state->paused) sync_pause(transfer);
}

bool EngineLoop::setup(Transfer& transfer, std::string& error) {
  auto& request = transfer.request;
  CURL* easy = transfer.easy = take_easy();
  if (!easy) {
    error = "curl_easy_init failed";
    return false;
  }
  CURLcode code = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(easy, option, value);
  };
  set(CURLOPT_PRIVATE, static_cast<void*>(&transfer));
  set(CURLOPT_ERRORBUFFER, transfer.error);
  set(CURLOPT_URL, request.url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_TCP_NODELAY, 1L);
  set(CURLOPT_BUFFERSIZE, options.receive_buffer_bytes);
  set(CURLOPT_TCP_KEEPALIVE, 1L);
  set(CURLOPT_TCP_KEEPIDLE, 30L);
  set(CURLOPT_TCP_KEEPINTVL, 15L);
  set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  // Bytes pass through as the upstream sent them (no Accept-Encoding is
  // added, and a Content-Encoding the caller asked for is not decoded).
  set(CURLOPT_HTTP_CONTENT_DECODING, 0L);
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);  // a proxy's CONNECT answer is not the response
  set(CURLOPT_USERAGENT, "llmux/" LLMUX_VERSION);
  if (request.timeouts.connect.count() > 0) set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.timeouts.connect.count()));
  set(CURLOPT_MAXAGE_CONN, static_cast<long>(options.keepalive_idle.count()));
  set(CURLOPT_SSL_VERIFYPEER, request.verify_tls ? 1L : 0L);
  set(CURLOPT_SSL_VERIFYHOST, request.verify_tls ? 2L : 0L);
  if (!request.ca_path.empty()) set(CURLOPT_CAINFO, request.ca_path.c_str());
  // Without CURLOPT_PROXY curl reads http_proxy, https_proxy/HTTPS_PROXY,
  // all_proxy and no_proxy from the environment.
  if (!request.proxy.empty()) set(CURLOPT_PROXY, request.proxy.c_str());

  set(CURLOPT_HEADERFUNCTION, &on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&transfer));
  set(CURLOPT_WRITEFUNCTION, &on_write);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&transfer));
  set(CURLOPT_XFERINFOFUNCTION, &on_progress);
  set(CURLOPT_XFERINFODATA, static_cast<void*>(&transfer));
  set(CURLOPT_NOPROGRESS, 0L);

  const std::string& method = request.method;
  bool sends_body = !request.body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  if (method == "HEAD") {
    set(CURLOPT_NOBODY, 1L);
  } else if (sends_body) {
    set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    set(CURLOPT_POSTFIELDS, request.body.data());
    if (method != "POST") set(CURLOPT_CUSTOMREQUEST, method.c_str());
  } else if (method == "GET") {
    set(CURLOPT_HTTPGET, 1L);
  } else {
    set(CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  bool has_expect = false;
  bool has_content_type = false;
  for (const auto& [name, value] : request.headers) {
    if (!valid_header(name, value)) {
      error = "a request header has an invalid name or a line break in its value";
      return false;
    }
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    transfer.header_list = curl_slist_append(transfer.header_list, line.c_str());
    has_expect = has_expect || strcasecmp(name.c_str(), "expect") == 0;
    has_content_type = has_content_type || strcasecmp(name.c_str(), "content-type") == 0;
  }
  // No "Expect: 100-continue" round trip before large bodies.
  if (!has_expect) transfer.header_list = curl_slist_append(transfer.header_list, "Expect:");
  // curl would otherwise label a body application/x-www-form-urlencoded.
  if (sends_body && !has_content_type) transfer.header_list = curl_slist_append(transfer.header_list, "Content-Type:");
  set(CURLOPT_HTTPHEADER, transfer.header_list);

  if (code != CURLE_OK) {
    error = curl_easy_strerror(code);
    return false;
  }
  return true;
}

void EngineLoop::sync_pause(Transfer& transfer) {
  bool want = transfer.state->paused;
  if (want != transfer.timer_paused) {
    transfer.timer_paused = want;
    if (!want) {
      transfer.timer_base = Clock::now();
      note_deadline(transfer.deadline().at);
    }
  }
  // Before the response has begun, curl is left alone (pausing it that early
  // stalls the request itself in 7.88): on_write returns CURL_WRITEFUNC_PAUSE
  // at the first body byte instead.
  if (!transfer.added || want == transfer.curl_paused || (want && !transfer.head_done)) return;
  transfer.curl_paused = want;
  // Resuming delivers what curl held back right here, through on_write.
  CURLcode code = curl_easy_pause(transfer.easy, want ? CURLPAUSE_RECV : CURLPAUSE_CONT);
  if (transfer.abort) {
    finish(transfer, *transfer.abort);
  } else if (code != CURLE_OK) {
    finish(transfer, {HttpFailure::Other, scrub(std::string("pausing or resuming the transfer failed: ") +
                                                    (transfer.error[0] ? transfer.error : curl_easy_strerror(code)),
                                                transfer.request)});
  }
}

void EngineLoop::collect_done() {
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    Transfer* transfer = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&transfer));
    if (!transfer) continue;
    CURLcode code = message->data.result;
    finish(*transfer, outcome_of(*transfer, code));
  }
}

void EngineLoop::advance_phase(Transfer& transfer, curl_off_t uploaded) {
  auto now = Clock::now();
  if (transfer.phase == Phase::Connecting) {
    // curl stamps PRETRANSFER when the request head has gone out.
    curl_off_t pretransfer = 0;
    curl_easy_getinfo(transfer.easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    if (pretransfer <= 0) return;
    transfer.phase = Phase::Sending;
    transfer.timer_base = now;
  }
  if (transfer.phase != Phase::Sending) return;
  if (uploaded != transfer.uploaded) {
    transfer.uploaded = uploaded;
    transfer.timer_base = now;  // upload progress
  }
  bool body = transfer.request.method != "HEAD";
  if (!body || uploaded >= static_cast<curl_off_t>(transfer.request.body.size())) {
    transfer.phase = Phase::Waiting;
    transfer.timer_base = now;
  }
  note_deadline(transfer.deadline().at);
}

void EngineLoop::note_response_byte(Transfer& transfer) {
  transfer.timer_base = Clock::now();
  if (transfer.phase != Phase::Receiving) {
    transfer.phase = Phase::Receiving;
    note_deadline(transfer.deadline().at);
  }
  // In Receiving the deadline only moves later: next_check stays a lower bound.
}

void EngineLoop::check_deadlines() {
  auto now = Clock::now();
  if (now < next_check) return;
  next_check = kNever;
  std::vector<std::pair<Transfer*, Transfer::Deadline>> expired;
  for (auto& [id, transfer] : transfers) {
    if (transfer->phase == Phase::Connecting || transfer->phase == Phase::Sending) {
      // The progress callback normally moves the phase on; this poll makes
      // sure a first-byte timer starts even if curl did not call it.
      curl_off_t uploaded = 0;
      curl_easy_getinfo(transfer->easy, CURLINFO_SIZE_UPLOAD_T, &uploaded);
      advance_phase(*transfer, uploaded);
      if (transfer->phase == Phase::Connecting || transfer->phase == Phase::Sending) note_deadline(now + kPhasePoll);
    }
    auto deadline = transfer->deadline();
    if (deadline.at <= now) {
      expired.emplace_back(transfer.get(), deadline);
    } else {
      note_deadline(deadline.at);
    }
  }
  for (auto& [transfer, deadline] : expired) {
    const auto& limits = transfer->request.timeouts;
    std::string message;
    switch (deadline.failure) {
      case HttpFailure::TotalTimeout:
        message = "the transfer took longer than the total timeout of " + std::to_string(limits.total.count()) + " ms";
        break;
      case HttpFailure::FirstByteTimeout:
        message = "no response byte within the first-byte timeout of " + std::to_string(limits.first_byte.count()) +
                  " ms after the request was sent";
        break;
      default:
        message = transfer->phase == Phase::Sending
                      ? "the request upload stalled for the idle timeout of " + std::to_string(limits.idle.count()) + " ms"
                      : "no response data for the idle timeout of " + std::to_string(limits.idle.count()) + " ms";
        break;
    }
    finish(*transfer, {deadline.failure, std::move(message)});
  }
}

HttpOutcome EngineLoop::outcome_of(Transfer& transfer, CURLcode code) {
  if (transfer.abort) return *transfer.abort;
  if (code == CURLE_OK) return {};
  std::string detail = transfer.error[0] ? transfer.error : curl_easy_strerror(code);
  auto outcome = [&](HttpFailure failure, std::string sentence) {
    return HttpOutcome{failure, scrub(sentence + " (" + detail + ")", transfer.request)};
  };
  switch (code) {
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0;
      curl_easy_getinfo(transfer.easy, CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno == ECONNREFUSED) return outcome(HttpFailure::ConnectRefused, "connection refused");
      return outcome(HttpFailure::Connect, "could not connect");
    }
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return outcome(HttpFailure::Connect, "could not resolve the host");
    case CURLE_PROXY:
      return outcome(HttpFailure::Connect, "the proxy refused or failed the connection");
    case CURLE_OPERATION_TIMEDOUT:
      if (transfer.phase == Phase::Connecting) {
        return outcome(HttpFailure::Connect, "connect timed out after " +
                                                 std::to_string(transfer.request.timeouts.connect.count()) + " ms");
      }
      return outcome(HttpFailure::Other, "the transfer timed out");
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return outcome(HttpFailure::Connect, "the TLS handshake failed");
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
      return outcome(HttpFailure::Cut, transfer.phase == Phase::Receiving
                                           ? "the connection ended before the response was complete"
                                           : "the connection ended before a response arrived");
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
      return outcome(HttpFailure::Cancelled, "the transfer was stopped");
    default:
      return outcome(HttpFailure::Other, "the transfer failed");
  }
}

void EngineLoop::finish(Transfer& transfer, HttpOutcome outcome) {
  auto id = transfer.state->id;
  auto node = transfers.extract(id);
  if (transfer.easy) {
    if (transfer.added) {
      // Mid-response removal closes the connection; this makes sure of it.
      curl_easy_setopt(transfer.easy, CURLOPT_FORBID_REUSE, outcome.ok() ? 0L : 1L);
      curl_multi_remove_handle(multi, transfer.easy);
    }
    give_back_easy(transfer.easy);
    transfer.easy = nullptr;
  }
  curl_slist_free_all(transfer.header_list);
  transfer.header_list = nullptr;
  transfer.state->done = true;
  core->active.fetch_sub(1);
  auto handler = std::move(transfer.handler);
  if (handler) {
    try {
      handler->on_complete(outcome);
    } catch (const std::exception& e) {
      log_handler_exception("on_complete", e.what());
    } catch (...) {
      log_handler_exception("on_complete", "an unknown exception");
    }
  }
  handler.reset();  // dropped here, on the loop thread
  // `node` (the Transfer) goes here too.
}

namespace {

Transfer& transfer_of(void* user) { return *static_cast<Transfer*>(user); }

size_t on_header(char* data, size_t size, size_t count, void* user) {
  Transfer& transfer = transfer_of(user);
  size_t length = size * count;
  transfer.engine->note_response_byte(transfer);
  if (transfer.head_done) return length;  // trailers of a chunked body
  std::string_view line = trim(std::string_view(data, length));
  if (line.substr(0, 5) == "HTTP/") {
    // A status line starts a header block: an interim (1xx) one or the final one.
    auto space = line.find(' ');
    transfer.status = space == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(space + 1, 3)).c_str());
    transfer.response_headers.clear();
    return length;
  }
  if (line.empty()) {
    if (transfer.status >= 100 && transfer.status < 200) {
      transfer.status = 0;  // interim response: the final one follows
      transfer.response_headers.clear();
      return length;
    }
    transfer.head_done = true;
    try {
      transfer.handler->on_response(transfer.status, transfer.response_headers);
    } catch (const std::exception& e) {
      log_handler_exception("on_response", e.what());
      transfer.abort = HttpOutcome{HttpFailure::Other, std::string("the response handler threw: ") + e.what()};
      return 0;
    } catch (...) {
      log_handler_exception("on_response", "an unknown exception");
      transfer.abort = HttpOutcome{HttpFailure::Other, "the response handler threw"};
      return 0;
    }
    return length;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    transfer.response_headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                           std::string(trim(line.substr(colon + 1))));
  }
  return length;
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  Transfer& transfer = transfer_of(user);
  size_t length = size * count;
  if (transfer.state->paused) {
    // curl keeps these bytes and stops reading until curl_easy_pause(CONT).
    transfer.curl_paused = true;
    transfer.timer_paused = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  transfer.engine->note_response_byte(transfer);
  try {
    if (!transfer.handler->on_body(std::string_view(data, length))) {
      transfer.abort = HttpOutcome{HttpFailure::Cancelled, "the response handler stopped the transfer"};
      return 0;
    }
  } catch (const std::exception& e) {
    log_handler_exception("on_body", e.what());
    transfer.abort = HttpOutcome{HttpFailure::Other, std::string("the body handler threw: ") + e.what()};
    return 0;
  } catch (...) {
    log_handler_exception("on_body", "an unknown exception");
    transfer.abort = HttpOutcome{HttpFailure::Other, "the body handler threw"};
    return 0;
  }
  return length;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t uploaded) {
  Transfer& transfer = transfer_of(user);
  if (transfer.phase == Phase::Connecting || transfer.phase == Phase::Sending) {
    transfer.engine->advance_phase(transfer, uploaded);
  }
  return 0;
}

}  // namespace

// ---- HttpEngine ------------------------------------------------------------

HttpEngine::HttpEngine(HttpEngineOptions options) : impl_(std::make_unique<Impl>(options)) {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
  pthread_setname_np(impl_->thread.native_handle(), "llmux-http");
}

HttpEngine::~HttpEngine() {
  {
    std::lock_guard lock(impl_->core->mutex);
    impl_->core->accepting = false;
    curl_multi_wakeup(impl_->multi);
  }
  impl_->thread.join();
  {
    std::lock_guard lock(impl_->core->mutex);
    impl_->core->multi = nullptr;
    for (auto& command : impl_->core->commands) delete command.transfer;  // none can be left; defensive
    impl_->core->commands.clear();
  }
  for (CURL* easy : impl_->spare_easy) curl_easy_cleanup(easy);
  impl_->spare_easy.clear();
  curl_multi_cleanup(impl_->multi);
}

std::shared_ptr<HttpTransfer> HttpEngine::start(HttpRequest request, std::shared_ptr<HttpHandler> handler) {
  auto state = std::make_shared<TransferState>(impl_->next_id.fetch_add(1));
  auto handle = std::make_shared<TransferHandle>(impl_->core, state);
  auto transfer = std::make_unique<Transfer>();
  transfer->state = state;
  transfer->request = std::move(request);
  transfer->handler = std::move(handler);
  impl_->core->active.fetch_add(1);
  if (impl_->core->post({Command::Kind::Start, state->id, transfer.get()})) {
    transfer.release();  // the loop owns it now
  } else {
    // Only when start() races the destructor.
    state->done = true;
    impl_->core->active.fetch_sub(1);
    if (transfer->handler) transfer->handler->on_complete({HttpFailure::Cancelled, "the HTTP engine is shutting down"});
  }
  return handle;
}

std::size_t HttpEngine::active_transfers() const { return impl_->core->active.load(); }

}  // namespace llmux::host
