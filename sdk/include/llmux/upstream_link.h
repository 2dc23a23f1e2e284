// Ties one chat call to the HTTP transfer that answers it, so every streaming
// provider behaves the same without writing it again:
//   - the client going away cancels the transfer (the upstream connection closes);
//   - while the client has too much of the answer unread, the transfer is
//     paused, and it is resumed once the client has drained;
//   - HttpClient::start() returns the transfer while its callbacks may already
//     run, so a pause or cancel asked for before attach() is applied by it.
//
//   auto link = UpstreamLink::create(call);            // before start()
//   link->attach(http.start(request, handler));
//   ... in handler.on_body, after emitting a piece's events:
//   link->pause_if_backlogged(*call);
//   ... in handler.on_complete:
//   link->detach();
#pragma once

#include <memory>
#include <mutex>

#include "llmux/http.h"
#include "llmux/provider.h"

namespace llmux {

class UpstreamLink : public std::enable_shared_from_this<UpstreamLink> {
 public:
  // Registers the cancellation with `call`.
  static std::shared_ptr<UpstreamLink> create(const ChatCallPtr& call);

  void attach(std::shared_ptr<HttpTransfer> transfer);
  void pause_if_backlogged(ChatCall& call);
  void detach();  // the transfer completed: later calls do nothing

 private:
  UpstreamLink() = default;
  void cancel();
  void resume();

  std::mutex mutex_;
  std::shared_ptr<HttpTransfer> transfer_;
  bool cancelled_ = false;
  bool paused_ = false;
  bool done_ = false;
};

}  // namespace llmux
