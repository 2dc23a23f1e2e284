// What the gateway did lately, from the request history (observability/
// request_history.h): GET /requests, GET /requests/{id}, GET /events (live,
// server-sent events), GET /usage (JSON or CSV).
#include <atomic>
#include <cstdlib>

#include "admin/admin_api.h"
#include "admin/security_headers.h"
#include "gateway/gateway.h"
#include "observability/request_history.h"

namespace llmux::host {
namespace {

std::shared_ptr<Exchange> requests(ApiCall& call) {
  RequestFilter filter;
  filter.model = call.request.query("model").value_or("");
  filter.provider = call.request.query("provider").value_or("");
  filter.client = call.request.query("client").value_or("");
  filter.status = call.request.query("status").value_or("");
  if (!RequestFilter::valid_status(filter.status)) {
    admin::reply_error(call, 400, "invalid_request", "status is an HTTP status (200), a class (4xx) or 'error'.");
    return nullptr;
  }
  int limit = 50;
  if (auto text = call.request.query("limit")) {
    char* end = nullptr;
    long value = std::strtol(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0') {
      admin::reply_error(call, 400, "invalid_request", "limit is a number (1..200).");
      return nullptr;
    }
    limit = static_cast<int>(std::clamp<long>(value, 1, RequestHistory::kMaxPageSize));
  }
  auto page = call.gateway.observability().history().requests_json(filter, limit,
                                                                  call.request.query("cursor").value_or(""));
  if (!page) {
    admin::reply_error(call, 400, "invalid_request", "Unknown cursor: use the next_cursor of a previous page.");
    return nullptr;
  }
  admin::reply_json(call, 200, *page);
  return nullptr;
}

std::shared_ptr<Exchange> request_detail(ApiCall& call) {
  auto detail = call.gateway.observability().history().request_json(admin::path_segment(call.request.path(), 1));
  if (!detail) {
    admin::reply_error(call, 404, "not_found", "No such request among those kept (admin.history).");
    return nullptr;
  }
  admin::reply_json(call, 200, *detail);
  return nullptr;
}

// One GET /events client: a chunked text/event-stream that gets every
// finished request, and a comment every 15 s. It ends when the transport
// says the client left (ApiCall::on_client_gone), when a write fails, or when
// the client stops reading: the subscription goes, the keep-alive stops.
class LiveFeed : public std::enable_shared_from_this<LiveFeed> {
 public:
  static constexpr std::chrono::seconds kKeepAlive{15};

  LiveFeed(Gateway& gateway, AnswerContext answer) : gateway_(gateway), answer_(std::move(answer)) {}

  // Subscribes, then writes the head (an event may already be on its way
  // once subscribed: it waits in pending_ until the head is out); false when
  // too many listen already.
  bool start() {
    std::weak_ptr<LiveFeed> weak = weak_from_this();
    auto subscription = gateway_.observability().history().subscribe([weak](const std::string& summary) {
      if (auto self = weak.lock()) self->send("event: request\ndata: " + summary + "\n\n");
    });
    if (!subscription) return false;
    std::string head;
    std::string headers = answer_headers({}, answer_.request->id);
    headers.append(kPanelSecurityHeaders).append("Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n");
    append_response_head(head, {200, "text/event-stream", true, 0, answer_.close_connection, headers});
    answer_.request->note_committed(200, false);
    append_chunk(head, ": connected\n\n");
    bool written = false;
    {
      // Under the lock: no event can overtake the head.
      std::lock_guard lock(mutex_);
      subscription_ = std::move(subscription);
      head += pending_;  // events that came between subscribing and now
      pending_.clear();
      head_sent_ = true;
      answer_.request->note_written(head.size());
      written = answer_.channel->write(std::move(head));
    }
    if (!written) {
      stop();
      return true;
    }
    schedule_keep_alive();
    return true;
  }

  void stop() {
    if (stopped_.exchange(true)) return;
    std::unique_ptr<RequestHistory::Subscription> subscription;
    {
      std::lock_guard lock(mutex_);
      subscription = std::move(subscription_);
    }
    subscription.reset();  // may run inside the listener: the history allows it
    answer_.request->finish(Outcome::ClientAbort);
  }

 private:
  void send(std::string_view frame) {
    if (stopped_.load()) return;
    // A client that does not read is not buffered for without end: it is let go.
    if (answer_.channel->pending_bytes() > kClientBacklogBytes) {
      stop();
      return;
    }
    std::string chunk;
    append_chunk(chunk, frame);
    bool written = true;
    {
      std::lock_guard lock(mutex_);
      if (!head_sent_) {  // start() writes it after the head
        if (pending_.size() < kClientBacklogBytes) pending_ += chunk;
        return;
      }
      answer_.request->note_written(chunk.size());
      written = answer_.channel->write(std::move(chunk));
    }
    if (!written) stop();
  }

  void schedule_keep_alive() {
    // The timer holds the feed: the keep-alive's failed write is what ends a
    // feed whose client left while nothing happened.
    gateway_.timers().schedule(kKeepAlive, [self = shared_from_this()] {
      if (self->stopped_.load()) return;
      self->send(": keep-alive\n\n");
      if (!self->stopped_.load()) self->schedule_keep_alive();
    });
  }

  Gateway& gateway_;
  AnswerContext answer_;
  std::mutex mutex_;
  std::unique_ptr<RequestHistory::Subscription> subscription_;  // under mutex_
  bool head_sent_ = false;  // under mutex_
  std::string pending_;     // under mutex_: events before the head
  std::atomic<bool> stopped_{false};
};

std::shared_ptr<Exchange> events(ApiCall& call) {
  auto feed = std::make_shared<LiveFeed>(call.gateway, call.answer_context());
  call.on_client_gone = [weak = std::weak_ptr<LiveFeed>(feed)] {
    if (auto live = weak.lock()) live->stop();
  };
  if (!feed->start()) {
    call.fail(Error::make(429, "rate_limit_error", "Too many live feeds are open; close one (a panel tab).",
                          "too_many_listeners"));
  }
  return nullptr;
}

std::shared_ptr<Exchange> usage(ApiCall& call) {
  const std::string period_text = call.request.query("period").value_or("hour");
  const std::string format = call.request.query("format").value_or("json");
  if ((period_text != "hour" && period_text != "day") || (format != "json" && format != "csv")) {
    admin::reply_error(call, 400, "invalid_request", "period is hour or day; format is json or csv.");
    return nullptr;
  }
  const UsagePeriod period = period_text == "day" ? UsagePeriod::Day : UsagePeriod::Hour;
  const RequestHistory& history = call.gateway.observability().history();
  if (format == "csv") {
    call.respond(200, "text/csv; charset=utf-8", history.usage_csv(period),
                 "Content-Disposition: attachment; filename=\"llmux-usage-" + period_text + ".csv\"\r\n");
  } else {
    admin::reply_json(call, 200, history.usage_json(period));
  }
  return nullptr;
}

}  // namespace

void add_activity_apis(std::vector<std::unique_ptr<InboundApi>>& apis) {
  apis.push_back(std::make_unique<AdminEndpoint>("admin.requests", "GET", "/requests", requests));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.request", "GET", "/requests/{id}", request_detail));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.events", "GET", "/events", events));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.usage", "GET", "/usage", usage));
}

}  // namespace llmux::host
