#include "observability/access_log.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include "llmux/json.h"
#include "observability/request_context.h"
#include "services/log.h"

namespace llmux::host {
namespace {

void append_int(std::string& out, std::int64_t value) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  out.append(buf, end);
}

// Milliseconds with three decimals from integer microseconds (no printf).
void append_ms(std::string& out, const char* name, std::chrono::microseconds d) {
  std::int64_t us = std::max<std::int64_t>(0, d.count());
  out.append(",\"").append(name).append("\":");
  append_int(out, us / 1000);
  char frac[4] = {'.', static_cast<char>('0' + us / 100 % 10), static_cast<char>('0' + us / 10 % 10),
                  static_cast<char>('0' + us % 10)};
  out.append(frac, 4);
}

// "2026-12-03T10:25:04" for a second, cached per thread: strftime once a second.
void append_time(std::string& out, std::chrono::system_clock::time_point when) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  const std::int64_t second = ms / 1000;
  thread_local std::int64_t cached_second = -1;
  thread_local char cached[24];
  if (second != cached_second) {
    std::time_t t = static_cast<std::time_t>(second);
    std::tm utc{};
    gmtime_r(&t, &utc);
    std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &utc);
    cached_second = second;
  }
  const int milli = static_cast<int>(ms % 1000);
  char frac[6] = {'.', static_cast<char>('0' + milli / 100), static_cast<char>('0' + milli / 10 % 10),
                  static_cast<char>('0' + milli % 10), 'Z', '"'};
  out.append("{\"time\":\"").append(cached).append(frac, 6);
}

void append_field(std::string& out, const char* name, std::string_view value, std::size_t max = 256) {
  out.append(",\"").append(name).append("\":");
  json::append_quoted(out, value.substr(0, max));
}

}  // namespace

AccessLog::AccessLog(std::function<void()> on_drop) : on_drop_(std::move(on_drop)), thread_([this] { run(); }) {}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (file_ != nullptr) std::fclose(file_);
}

void AccessLog::configure(const AccessLogTarget& target) {
  std::lock_guard lock(mutex_);
  if (target == target_ && (target.kind != AccessLogTarget::Kind::File || file_ != nullptr)) return;
  target_ = target;
  enabled_.store(target.kind != AccessLogTarget::Kind::Off, std::memory_order_release);
  reopen_ = true;
  wake_.notify_all();
}

void AccessLog::reopen() {
  std::lock_guard lock(mutex_);
  reopen_ = true;
  wake_.notify_all();
}

bool AccessLog::enabled() const { return enabled_.load(std::memory_order_acquire); }

void AccessLog::record(const RequestContext& context) {
  if (!enabled()) return;
  std::string line = format(context);
  line.push_back('\n');
  bool dropped = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kMaxQueued) {
      dropped = true;
    } else {
      queue_.push_back(std::move(line));
      // The first line of a batch starts the writer's kMaxDelay wait; many lines end it early.
      if (queue_.size() == 1 || queue_.size() == kWakeAt) wake_.notify_one();
    }
  }
  if (dropped && on_drop_) on_drop_();
}

void AccessLog::flush() {
  std::unique_lock lock(mutex_);
  flush_ = true;
  wake_.notify_all();
  idle_.wait(lock, [&] { return (queue_.empty() && !writing_ && !reopen_) || stop_; });
}

// Runs on the log thread, under the lock.
void AccessLog::open_locked() {
  reopen_ = false;
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
  }
  if (target_.kind != AccessLogTarget::Kind::File) return;
  file_ = std::fopen(target_.file.c_str(), "ae");
  // One write(2) per batch rather than per 4 KiB: the batch is flushed whole.
  if (file_ != nullptr) std::setvbuf(file_, nullptr, _IOFBF, 1u << 20);
  if (file_ == nullptr) {
    Log::write(LogLevel::Error, "access_log",
               "cannot open " + target_.file.string() + ": " + std::strerror(errno) + "; access log is off");
  }
}

void AccessLog::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    // Lines wait up to kMaxDelay unless many queue up, a flush or a reopen asks.
    if (queue_.empty()) {
      wake_.wait(lock, [&] { return stop_ || reopen_ || flush_ || !queue_.empty(); });
    }
    wake_.wait_for(lock, kMaxDelay, [&] { return stop_ || reopen_ || flush_ || queue_.size() >= kWakeAt; });
    flush_ = false;
    if (reopen_) open_locked();
    std::deque<std::string> batch;
    batch.swap(queue_);
    std::FILE* out = target_.kind == AccessLogTarget::Kind::Stderr ? stderr : file_;
    if (!batch.empty()) {
      writing_ = true;
      lock.unlock();
      if (out != nullptr) {
        for (const std::string& line : batch) std::fwrite(line.data(), 1, line.size(), out);
        std::fflush(out);
      }
      lock.lock();
      writing_ = false;
    }
    if (queue_.empty() && !reopen_) idle_.notify_all();
    if (stop_ && queue_.empty()) return;
  }
}

std::string AccessLog::format(const RequestContext& c) {
  std::string out;
  out.reserve(1024);  // a typical line is ~500 bytes: one allocation
  // time: when the request arrived, RFC 3339 UTC with milliseconds.
  append_time(out, c.wall_started);
  append_field(out, "id", c.id);
  append_field(out, "client", c.client);
  append_field(out, "api", c.api);
  append_field(out, "method", c.method, 16);
  append_field(out, "path", c.path);
  append_field(out, "model", c.model_requested);
  append_field(out, "model_answered", c.model_answered);
  append_field(out, "route", c.route);
  append_field(out, "provider", c.provider);
  out.append(",\"stream\":").append(c.stream ? "true" : "false");
  out.append(",\"status\":");
  append_int(out, c.status);
  append_field(out, "outcome", to_string(c.outcome()));
  out.append(",\"attempts\":[");
  for (std::size_t i = 0; i < c.attempts.size(); ++i) {
    const AttemptRecord& a = c.attempts[i];
    out.append(i ? ",{\"provider\":" : "{\"provider\":");
    json::append_quoted(out, a.provider);
    append_field(out, "outcome", a.outcome);
    out.append(",\"status\":");
    append_int(out, a.status);
    append_ms(out, "ms", a.duration);
    out.push_back('}');
  }
  out.push_back(']');
  if (c.first_byte) {
    append_ms(out, "ttfb_ms", std::chrono::duration_cast<std::chrono::microseconds>(*c.first_byte - c.started));
  }
  if (c.first_token) {
    append_ms(out, "ttft_ms", std::chrono::duration_cast<std::chrono::microseconds>(*c.first_token - c.started));
  }
  append_ms(out, "duration_ms", c.duration());
  if (c.usage) {
    out.append(",\"tokens\":{\"input\":");
    append_int(out, c.usage->input_tokens);
    out.append(",\"output\":");
    append_int(out, c.usage->output_tokens);
    out.append(",\"cache_read\":");
    append_int(out, c.usage->cache_read_tokens.value_or(0));
    out.append(",\"cache_write\":");
    append_int(out, c.usage->cache_creation_tokens.value_or(0));
    out.push_back('}');
  } else {
    out.append(",\"tokens\":null");
  }
  out.append(",\"bytes_in\":");
  append_int(out, static_cast<std::int64_t>(c.bytes_in));
  out.append(",\"bytes_out\":");
  append_int(out, static_cast<std::int64_t>(c.bytes_out));
  if (!c.warnings.empty()) {
    out.append(",\"warnings\":[");
    for (std::size_t i = 0; i < c.warnings.size() && i < 8; ++i) {
      if (i) out.push_back(',');
      json::append_quoted(out, std::string_view(c.warnings[i]).substr(0, 256));
    }
    out.push_back(']');
  }
  out.push_back('}');
  return out;
}

}  // namespace llmux::host
