// UpstreamLink: cancellation and backpressure between a call and its transfer,
// including requests that come before the transfer is attached.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "llmux/upstream_link.h"

namespace llmux {
namespace {

struct Transfer final : HttpTransfer {
  int cancels = 0, pauses = 0, resumes = 0;
  void cancel() override { ++cancels; }
  void pause() override { ++pauses; }
  void resume() override { ++resumes; }
};

struct Call final : ChatCall {
  ChatRequest request_;
  bool backlogged = false;
  std::function<void()> cancel_hook;
  std::vector<std::function<void()>> drain_hooks;
  const ChatRequest& request() const override { return request_; }
  void emit(Event) override {}
  bool committed() const override { return false; }
  bool cancelled() const override { return false; }
  void on_cancel(std::function<void()> fn) override { cancel_hook = std::move(fn); }
  bool client_backlogged() const override { return backlogged; }
  void on_client_drained(std::function<void()> fn) override { drain_hooks.push_back(std::move(fn)); }
  void drain() {
    backlogged = false;
    auto hooks = std::move(drain_hooks);
    for (auto& fn : hooks) fn();
  }
};

TEST(UpstreamLink, CancelBeforeAttachCancelsOnAttach) {
  auto call = std::make_shared<Call>();
  auto link = UpstreamLink::create(call);
  call->cancel_hook();
  auto transfer = std::make_shared<Transfer>();
  link->attach(transfer);
  EXPECT_EQ(transfer->cancels, 1);
}

TEST(UpstreamLink, ClientLeavingCancelsTheAttachedTransfer) {
  auto call = std::make_shared<Call>();
  auto link = UpstreamLink::create(call);
  auto transfer = std::make_shared<Transfer>();
  link->attach(transfer);
  call->cancel_hook();
  EXPECT_EQ(transfer->cancels, 1);
}

TEST(UpstreamLink, PausesOnceWhileBackloggedAndResumesOnDrain) {
  auto call = std::make_shared<Call>();
  auto link = UpstreamLink::create(call);
  auto transfer = std::make_shared<Transfer>();
  link->attach(transfer);
  link->pause_if_backlogged(*call);  // not backlogged: nothing
  EXPECT_EQ(transfer->pauses, 0);
  call->backlogged = true;
  link->pause_if_backlogged(*call);
  link->pause_if_backlogged(*call);
  EXPECT_EQ(transfer->pauses, 1);
  EXPECT_EQ(call->drain_hooks.size(), 1u);
  call->drain();
  EXPECT_EQ(transfer->resumes, 1);
}

TEST(UpstreamLink, PauseBeforeAttachIsAppliedOnAttach) {
  auto call = std::make_shared<Call>();
  auto link = UpstreamLink::create(call);
  call->backlogged = true;
  link->pause_if_backlogged(*call);  // callbacks ran before start() returned
  auto transfer = std::make_shared<Transfer>();
  link->attach(transfer);
  EXPECT_EQ(transfer->pauses, 1);
  call->drain();
  EXPECT_EQ(transfer->resumes, 1);
}

TEST(UpstreamLink, NothingReachesADetachedTransfer) {
  auto call = std::make_shared<Call>();
  auto link = UpstreamLink::create(call);
  auto transfer = std::make_shared<Transfer>();
  link->attach(transfer);
  link->detach();
  call->cancel_hook();
  call->backlogged = true;
  link->pause_if_backlogged(*call);
  EXPECT_EQ(transfer->cancels + transfer->pauses, 0);
}

}  // namespace
}  // namespace llmux
