#include "observability/access_log.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include "llmux/json.h"
#include "observability/request_context.h"
#include "services/log.h"

namespace llmux::host {
namespace {

void append_ms(std::string& out, const char* name, std::chrono::microseconds d) {
  char buf[48];
  std::snprintf(buf, sizeof buf, ",\"%s\":%.3f", name, static_cast<double>(d.count()) / 1000.0);
  out.append(buf);
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
      if (queue_.size() == 1) wake_.notify_one();
    }
  }
  if (dropped && on_drop_) on_drop_();
}

void AccessLog::flush() {
  std::unique_lock lock(mutex_);
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
  if (file_ == nullptr) {
    Log::write(LogLevel::Error, "access_log",
               "cannot open " + target_.file.string() + ": " + std::strerror(errno) + "; access log is off");
  }
}

void AccessLog::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || reopen_ || !queue_.empty(); });
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
  out.reserve(512);
  // time: when the request arrived, RFC 3339 UTC with milliseconds.
  auto since_epoch = c.wall_started.time_since_epoch();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char time[40];
  std::size_t n = std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(time + n, sizeof time - n, ".%03dZ", static_cast<int>(ms % 1000));
  out.append("{\"time\":\"").append(time).append("\"");
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
  out.append(",\"status\":").append(std::to_string(c.status));
  append_field(out, "outcome", to_string(c.outcome()));
  out.append(",\"attempts\":[");
  for (std::size_t i = 0; i < c.attempts.size(); ++i) {
    const AttemptRecord& a = c.attempts[i];
    out.append(i ? ",{\"provider\":" : "{\"provider\":");
    json::append_quoted(out, a.provider);
    append_field(out, "outcome", a.outcome);
    out.append(",\"status\":").append(std::to_string(a.status));
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
    out.append(",\"tokens\":{\"input\":").append(std::to_string(c.usage->input_tokens));
    out.append(",\"output\":").append(std::to_string(c.usage->output_tokens));
    out.append(",\"cache_read\":").append(std::to_string(c.usage->cache_read_tokens.value_or(0)));
    out.append(",\"cache_write\":").append(std::to_string(c.usage->cache_creation_tokens.value_or(0)));
    out.push_back('}');
  } else {
    out.append(",\"tokens\":null");
  }
  out.append(",\"bytes_in\":").append(std::to_string(c.bytes_in));
  out.append(",\"bytes_out\":").append(std::to_string(c.bytes_out));
  out.push_back('}');
  return out;
}

}  // namespace llmux::host
