#include "llmux/upstream_link.h"

namespace llmux {

std::shared_ptr<UpstreamLink> UpstreamLink::create(const ChatCallPtr& call) {
  std::shared_ptr<UpstreamLink> link(new UpstreamLink());
  std::weak_ptr<UpstreamLink> weak = link;
  call->on_cancel([weak] {
    if (auto self = weak.lock()) self->cancel();
  });
  return link;
}

void UpstreamLink::attach(std::shared_ptr<HttpTransfer> transfer) {
  if (!transfer) return;
  bool cancel = false;
  bool pause = false;
  {
    std::lock_guard lock(mutex_);
    if (done_) return;
    transfer_ = transfer;
    cancel = cancelled_;
    pause = paused_;
  }
  if (cancel) {
    transfer->cancel();
  } else if (pause) {
    transfer->pause();
  }
}

void UpstreamLink::pause_if_backlogged(ChatCall& call) {
  if (!call.client_backlogged()) return;
  std::shared_ptr<HttpTransfer> transfer;
  {
    std::lock_guard lock(mutex_);
    if (paused_ || done_ || cancelled_) return;
    paused_ = true;
    transfer = transfer_;  // null before attach(), which then pauses
  }
  if (transfer) transfer->pause();
  std::weak_ptr<UpstreamLink> weak = weak_from_this();
  call.on_client_drained([weak] {
    if (auto self = weak.lock()) self->resume();
  });
}

void UpstreamLink::resume() {
  std::shared_ptr<HttpTransfer> transfer;
  {
    std::lock_guard lock(mutex_);
    if (!paused_) return;
    paused_ = false;
    transfer = transfer_;
  }
  if (transfer) transfer->resume();
}

void UpstreamLink::cancel() {
  std::shared_ptr<HttpTransfer> transfer;
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    transfer = transfer_;
  }
  if (transfer) transfer->cancel();
}

void UpstreamLink::detach() {
  std::lock_guard lock(mutex_);
  done_ = true;
  transfer_.reset();
}

}  // namespace llmux
