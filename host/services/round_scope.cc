#include "services/round_scope.h"

#include <exception>
#include <string>
#include <vector>

#include "services/log.h"

namespace llmux::host {
namespace {

struct ThreadRound {
  int depth = 0;
  std::vector<std::shared_ptr<Deferred>> items;  // capacity kept across rounds: no allocation per round
  std::vector<std::shared_ptr<Deferred>> running;
};

thread_local ThreadRound t_round;

}  // namespace

RoundScope::RoundScope() { ++t_round.depth; }

RoundScope::~RoundScope() {
  ThreadRound& round = t_round;
  if (round.depth > 1) {
    --round.depth;
    return;
  }
  // Still active while the items run: what they defer joins the next pass.
  while (!round.items.empty()) {
    round.running.swap(round.items);
    for (auto& item : round.running) {
      run_logging_exceptions("http", "a deferred write", [&] { item->run_deferred(); });
    }
    round.running.clear();
  }
  round.depth = 0;
}

bool RoundScope::active() noexcept { return t_round.depth > 0; }

void RoundScope::defer(std::shared_ptr<Deferred> item) { t_round.items.push_back(std::move(item)); }

}  // namespace llmux::host
