// HttpEngine: libcurl multi handles, one per event loop, each driven by its
// loop's own epoll through curl_multi_socket_action.
//
// A transfer runs on the loop of the thread that started it: a provider
// called from a Pistache worker (the request's own thread) gets its upstream
// socket registered in that worker's epoll (server/loop_transport.h), so a
// request is served from the client's socket to the upstream and back on one
// thread, with no hand-off and no wake-up. Transfers started elsewhere (plugin
// timers, tests, the engine without a server) run on the engine's own loop
// thread (server/epoll_loop.h). Each loop has its own connection pool.
//
// curl is told about ready sockets one at a time (socket_action) and tells us
// which sockets to watch and when its next timeout is due (a timerfd per loop),
// so the cost of a round follows the ready sockets, not the open transfers.
//
// Commands on a transfer (cancel, pause, resume) and starts are never run
// inside the caller's stack: on the transfer's own loop they are deferred to
// the end of the round (IoLoop::defer), from other threads they are posted.
// Handlers therefore run on the loop thread, inside curl's callbacks
// (on_response, on_body) or between them (on_complete), never re-entered from
// a call the handler's own code made.
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
#include "http/http_engine.h"

#include <curl/curl.h>
#include <strings.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/epoll_loop.h"
#include "services/log.h"

#ifndef LLMUX_VERSION
#define LLMUX_VERSION "dev"
#endif

namespace llmux::host {

struct Transfer;
class LoopEngine;

namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();
constexpr auto kPhasePoll = std::chrono::milliseconds(200);  // see LoopEngine::check_deadlines

std::once_flag g_curl_global;

// What the handle returned by start() and the loop share about one transfer.
struct TransferState {
  explicit TransferState(std::uint64_t id) : id(id) {}
  const std::uint64_t id;
  std::atomic<bool> paused{false};
  std::atomic<bool> done{false};
};

enum class Command { Cancel, SyncPause };

enum class Phase {
  Connecting,  // until the request head is out (curl's connect timeout applies)
  Sending,     // the request body is going out
  Waiting,     // sent in full, no response byte yet
  Receiving,   // the response has begun
};

}  // namespace

// How handles reach a transfer's loop. `home` never changes; `engine` is
// cleared (under `mutex`) when the loop is detached, after its thread ended.
struct LoopLink {
  LoopLink(IoLoop& home, LoopEngine& engine) : home(home), engine(&engine) {}
  IoLoop& home;
  std::mutex mutex;
  LoopEngine* engine;

  // Runs `fn(engine)` on the loop: deferred when called on the loop's own
  // thread, posted otherwise; dropped once the loop is gone.
  template <typename Fn>
  void run(Fn fn) {
    if (home.in_loop_thread()) {
      LoopEngine* here = engine;  // the loop runs on this thread: it is attached
      home.defer([here, fn] { fn(*here); });
      return;
    }
    std::lock_guard lock(mutex);
    if (!engine) return;
    LoopEngine* there = engine;
    home.post([there, fn] { fn(*there); });
  }
};

struct Transfer {
  std::shared_ptr<TransferState> state;
  HttpRequest request;  // owns the body curl sends (CURLOPT_POSTFIELDS, no copy)
  std::shared_ptr<HttpHandler> handler;
  LoopEngine* engine = nullptr;
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

// What every loop of one engine shares.
struct EngineShared {
  explicit EngineShared(HttpEngineOptions options) : options(options) {}
  const HttpEngineOptions options;
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::size_t> active{0};
};

// One loop's curl multi handle and the transfers on it. Loop thread only,
// except attach (before the loop runs) and detach (after it ended).
class LoopEngine final : public IoWatcher {
 public:
  LoopEngine(IoLoop& loop, std::shared_ptr<EngineShared> shared, const HttpEngine* owner);
  ~LoopEngine() override;

  bool open();    // the timer descriptor; on the loop thread or before it runs
  void close();   // ends every transfer (Cancelled); after the loop thread ended

  void start_transfer(std::unique_ptr<Transfer> transfer);
  void command(std::uint64_t id, Command command);

  void on_io(int fd, unsigned events) override;

  // curl callbacks (socket / timer) and the per-transfer ones.
  void watch_socket(curl_socket_t fd, int what);
  void curl_timer(long timeout_ms);
  void advance_phase(Transfer& transfer, curl_off_t uploaded);
  void note_response_byte(Transfer& transfer);

  IoLoop& loop;
  const std::shared_ptr<EngineShared> shared;
  const HttpEngine* const owner;
  std::shared_ptr<LoopLink> link;

 private:
  // After anything that ran curl: completes finished transfers, enforces our
  // timeouts and re-arms the timer.
  void after_curl();
  void drive(curl_socket_t fd, int mask);
  bool setup(Transfer& transfer, std::string& error);
  void sync_pause(Transfer& transfer);
  void collect_done();
  void check_deadlines();
  void note_deadline(Clock::time_point at) { next_check = std::min(next_check, at); }
  void arm_timer();
  void finish(Transfer& transfer, HttpOutcome outcome);
  HttpOutcome outcome_of(Transfer& transfer, CURLcode code);
  // Easy handles are reused (curl_easy_reset keeps their buffers): a
  // transfer then costs no handle allocation, only its options.
  CURL* take_easy();
  void give_back_easy(CURL* easy);

  CURLM* multi = nullptr;
  int timer_fd = -1;
  bool closing = false;
  std::vector<CURL*> spare_easy;
  std::unordered_map<std::uint64_t, std::unique_ptr<Transfer>> transfers;
  Clock::time_point next_check = kNever;  // none of our deadlines can expire before this
  Clock::time_point curl_due = kNever;    // curl's next timeout
  Clock::time_point armed = kNever;       // what the timer descriptor is set to
};

struct HttpEngine::Impl {
  explicit Impl(HttpEngineOptions options) : shared(std::make_shared<EngineShared>(options)) {}
  std::shared_ptr<EngineShared> shared;
  std::mutex mutex;  // guards `loops`
  std::unordered_map<IoLoop*, std::unique_ptr<LoopEngine>> loops;
  std::unique_ptr<EpollLoop> own_loop;  // transfers started away from any attached loop
  LoopEngine* own = nullptr;
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

// ---- curl's transfer callbacks (loop thread, inside curl_multi_socket_action or curl_easy_pause)

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

namespace {

class TransferHandle final : public HttpTransfer {
 public:
  TransferHandle(std::shared_ptr<LoopLink> link, std::shared_ptr<TransferState> state)
      : link_(std::move(link)), state_(std::move(state)) {}
  void cancel() override { send(Command::Cancel); }
  void pause() override {
    state_->paused = true;
    send(Command::SyncPause);
  }
  void resume() override {
    state_->paused = false;
    send(Command::SyncPause);
  }

 private:
  void send(Command command) {
    if (state_->done) return;
    link_->run([id = state_->id, command](LoopEngine& engine) { engine.command(id, command); });
  }
  std::shared_ptr<LoopLink> link_;
  std::shared_ptr<TransferState> state_;
};

// ---- curl's multi callbacks (loop thread, inside curl)

int on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) {
  static_cast<LoopEngine*>(user)->watch_socket(fd, what);
  return 0;
}

int on_timer(CURLM*, long timeout_ms, void* user) {
  static_cast<LoopEngine*>(user)->curl_timer(timeout_ms);
  return 0;
}

}  // namespace

LoopEngine::LoopEngine(IoLoop& loop_in, std::shared_ptr<EngineShared> shared_in, const HttpEngine* owner_in)
    : loop(loop_in), shared(std::move(shared_in)), owner(owner_in) {
  std::call_once(g_curl_global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  multi = curl_multi_init();
  const auto& options = shared->options;
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.max_connections_per_host));
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(options.max_total_connections));
  std::size_t cache = options.max_idle_connections;
  if (options.max_total_connections > 0) cache = std::min(cache, options.max_total_connections);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(cache));
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &on_socket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, static_cast<void*>(this));
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &on_timer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, static_cast<void*>(this));
  link = std::make_shared<LoopLink>(loop, *this);
}

LoopEngine::~LoopEngine() {
  for (CURL* easy : spare_easy) curl_easy_cleanup(easy);
  // Closes the pooled connections; their sockets leave the loop's poller
  // through on_socket(REMOVE) first.
  curl_multi_cleanup(multi);
  if (timer_fd >= 0) {
    loop.unwatch(timer_fd);
    ::close(timer_fd);
  }
}

bool LoopEngine::open() {
  timer_fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  return timer_fd >= 0 && loop.watch(timer_fd, IoLoop::kRead, this);
}

void LoopEngine::close() {
  {
    std::lock_guard lock(link->mutex);
    link->engine = nullptr;  // handles stop reaching this loop
  }
  closing = true;
  loop.stop();  // what was posted before runs now (starts end as Cancelled)
  while (!transfers.empty()) {
    finish(*transfers.begin()->second, {HttpFailure::Cancelled, "the HTTP engine is shutting down"});
  }
}

void LoopEngine::watch_socket(curl_socket_t fd, int what) {
  if (what == CURL_POLL_REMOVE) {
    loop.unwatch(fd);
    return;
  }
  unsigned interest = 0;
  if (what & CURL_POLL_IN) interest |= IoLoop::kRead;
  if (what & CURL_POLL_OUT) interest |= IoLoop::kWrite;
  if (!loop.watch(fd, interest, this)) {
    Log::write(LogLevel::Error, "http", "an upstream socket could not be watched; its transfer will time out");
  }
}

void LoopEngine::curl_timer(long timeout_ms) {
  curl_due = timeout_ms < 0 ? kNever : Clock::now() + std::chrono::milliseconds(timeout_ms);
}

void LoopEngine::on_io(int fd, unsigned events) {
  if (fd == timer_fd) {
    std::uint64_t expirations;
    [[maybe_unused]] auto n = ::read(timer_fd, &expirations, sizeof expirations);
    armed = kNever;
    if (curl_due <= Clock::now()) {
      drive(CURL_SOCKET_TIMEOUT, 0);
    } else {
      after_curl();  // our own deadlines
    }
    return;
  }
  int mask = 0;
  if (events & IoLoop::kRead) mask |= CURL_CSELECT_IN;
  if (events & IoLoop::kWrite) mask |= CURL_CSELECT_OUT;
  if (events & IoLoop::kError) mask |= CURL_CSELECT_ERR;
  drive(fd, mask);
}

void LoopEngine::drive(curl_socket_t fd, int mask) {
  const auto due_before = curl_due;
  int running = 0;
  curl_multi_socket_action(multi, fd, mask, &running);
  if (fd == CURL_SOCKET_TIMEOUT && curl_due == due_before && curl_due <= Clock::now()) {
    // curl found nothing due yet (its clock rounds differently) and will not
    // call the timer callback again for the same expiry: look again shortly.
    curl_due = Clock::now() + std::chrono::milliseconds(1);
  }
  after_curl();
}

void LoopEngine::after_curl() {
  collect_done();
  check_deadlines();
  arm_timer();
}

void LoopEngine::arm_timer() {
  const auto due = std::min(curl_due, next_check);
  if (due == kNever) return;  // a stale earlier expiry only wakes the loop once for nothing
  const auto now = Clock::now();
  if (armed <= due && armed > now) return;  // already set to fire no later
  auto wait = std::max<Clock::duration>(due - now, std::chrono::microseconds(1));
  itimerspec spec{};
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
  spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  ::timerfd_settime(timer_fd, 0, &spec, nullptr);
  armed = now + wait;
}

CURL* LoopEngine::take_easy() {
  if (spare_easy.empty()) return curl_easy_init();
  CURL* easy = spare_easy.back();
  spare_easy.pop_back();
  return easy;
}

void LoopEngine::give_back_easy(CURL* easy) {
  constexpr std::size_t kMaxSpare = 32;  // enough for a burst; more are freed
  if (spare_easy.size() >= kMaxSpare) {
    curl_easy_cleanup(easy);
    return;
  }
  curl_easy_reset(easy);
  spare_easy.push_back(easy);
}

void LoopEngine::command(std::uint64_t id, Command command) {
  auto it = transfers.find(id);
  if (it == transfers.end()) return;
  if (command == Command::Cancel) {
    finish(*it->second, {HttpFailure::Cancelled, "the transfer was cancelled"});
  } else {
    sync_pause(*it->second);
  }
  after_curl();
}

void LoopEngine::start_transfer(std::unique_ptr<Transfer> owned) {
  auto id = owned->state->id;
  Transfer& transfer = *transfers.emplace(id, std::move(owned)).first->second;
  transfer.engine = this;
  transfer.started = Clock::now();
  transfer.timer_base = transfer.started;
  if (closing) {
    finish(transfer, {HttpFailure::Cancelled, "the HTTP engine is shutting down"});
    return;
  }
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
  // curl asked for a timeout of 0 when the handle was added: run it now, so
  // the request leaves in this round (on a kept-alive connection, right here).
  drive(CURL_SOCKET_TIMEOUT, 0);
}

bool LoopEngine::setup(Transfer& transfer, std::string& error) {
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
  set(CURLOPT_BUFFERSIZE, shared->options.receive_buffer_bytes);
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
  set(CURLOPT_MAXAGE_CONN, static_cast<long>(shared->options.keepalive_idle.count()));
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

void LoopEngine::sync_pause(Transfer& transfer) {
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

void LoopEngine::collect_done() {
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

void LoopEngine::advance_phase(Transfer& transfer, curl_off_t uploaded) {
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

void LoopEngine::note_response_byte(Transfer& transfer) {
  transfer.timer_base = Clock::now();
  if (transfer.phase != Phase::Receiving) {
    transfer.phase = Phase::Receiving;
    note_deadline(transfer.deadline().at);
  }
  // In Receiving the deadline only moves later: next_check stays a lower bound.
}

void LoopEngine::check_deadlines() {
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

HttpOutcome LoopEngine::outcome_of(Transfer& transfer, CURLcode code) {
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

void LoopEngine::finish(Transfer& transfer, HttpOutcome outcome) {
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
  shared->active.fetch_sub(1);
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
  impl_->own_loop = std::make_unique<EpollLoop>("llmux-http");
  attach(*impl_->own_loop);
  impl_->own = impl_->loops.at(impl_->own_loop.get()).get();
  impl_->own_loop->start();
}

HttpEngine::~HttpEngine() {
  // The own loop's thread ends first; its transfers end as Cancelled here.
  auto own_loop = std::move(impl_->own_loop);
  own_loop->halt();
  detach(*own_loop);
  std::lock_guard lock(impl_->mutex);
  if (!impl_->loops.empty()) {
    // A server still running on an attached loop: its engine state is left
    // alone rather than freed under it.
    Log::write(LogLevel::Error, "http", "the HTTP engine was destroyed before the server that uses it");
    for (auto& [loop, engine] : impl_->loops) engine.release();
  }
}

void HttpEngine::attach(IoLoop& loop) {
  auto engine = std::make_unique<LoopEngine>(loop, impl_->shared, this);
  if (!engine->open()) {
    Log::write(LogLevel::Error, "http", "an event loop could not get a timer; its transfers use the shared loop");
    return;
  }
  loop.engine_slot = engine.get();
  std::lock_guard lock(impl_->mutex);
  impl_->loops[&loop] = std::move(engine);
}

void HttpEngine::detach(IoLoop& loop) {
  std::unique_ptr<LoopEngine> engine;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->loops.find(&loop);
    if (it == impl_->loops.end()) {
      loop.stop();
      return;
    }
    engine = std::move(it->second);
    impl_->loops.erase(it);
  }
  engine->close();
  loop.engine_slot = nullptr;
}

std::shared_ptr<HttpTransfer> HttpEngine::start(HttpRequest request, std::shared_ptr<HttpHandler> handler) {
  auto state = std::make_shared<TransferState>(impl_->shared->next_id.fetch_add(1));
  auto transfer = std::make_unique<Transfer>();
  transfer->state = state;
  transfer->request = std::move(request);
  transfer->handler = std::move(handler);
  impl_->shared->active.fetch_add(1);

  // On an attached loop's thread (the request's own worker), the transfer
  // stays on it; anywhere else it goes to the engine's own loop.
  IoLoop* here = IoLoop::current();
  auto* engine = here ? static_cast<LoopEngine*>(here->engine_slot) : nullptr;
  if (engine && engine->owner == this) {
    here->defer([engine, raw = transfer.release()] { engine->start_transfer(std::unique_ptr<Transfer>(raw)); });
    return std::make_shared<TransferHandle>(engine->link, state);
  }
  LoopEngine* own = impl_->own;
  Transfer* raw = transfer.get();
  if (own->loop.post([own, raw] { own->start_transfer(std::unique_ptr<Transfer>(raw)); })) {
    transfer.release();  // the loop owns it now
  } else {
    // Only when start() races the destructor.
    state->done = true;
    impl_->shared->active.fetch_sub(1);
    if (transfer->handler) transfer->handler->on_complete({HttpFailure::Cancelled, "the HTTP engine is shutting down"});
  }
  return std::make_shared<TransferHandle>(own->link, state);
}

std::size_t HttpEngine::active_transfers() const { return impl_->shared->active.load(); }

std::uint64_t HttpEngine::transfers_started() const { return impl_->shared->next_id.load() - 1; }

}  // namespace llmux::host
