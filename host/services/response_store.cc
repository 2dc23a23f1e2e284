#include "services/response_store.h"

namespace llmux::host {

ResponseStore::ResponseStore(ResponseStoreLimits limits, const Clock* clock) : clock_(clock), limits_(limits) {}

std::chrono::steady_clock::time_point ResponseStore::now() const {
  return clock_ != nullptr ? clock_->now() : std::chrono::steady_clock::now();
}

void ResponseStore::put(const std::string& id, StoredResponse response) {
  const std::size_t size = response.bytes() + id.size();
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(id); it != entries_.end()) erase_locked(it);
  if (size > limits_.max_bytes) return;
  lru_.push_front(id);
  entries_.emplace(id, Entry{std::make_shared<const StoredResponse>(std::move(response)), now() + limits_.ttl,
                             lru_.begin()});
  bytes_ += size;
  evict_locked();
}

std::shared_ptr<const StoredResponse> ResponseStore::get(std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(id));
  if (it == entries_.end()) return nullptr;
  if (it->second.expires <= now()) {
    erase_locked(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.value;
}

bool ResponseStore::erase(std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(id));
  if (it == entries_.end()) return false;
  const bool live = it->second.expires > now();
  erase_locked(it);
  return live;
}

void ResponseStore::set_limits(ResponseStoreLimits limits) {
  std::lock_guard lock(mu_);
  limits_ = limits;
  evict_locked();
}

std::size_t ResponseStore::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::size_t ResponseStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

void ResponseStore::evict_locked() {
  // The least recently used end: expired entries, then whatever the byte
  // bound needs. (An expired entry nearer the front goes when it is read or
  // reaches the end: a bounded cost per put, the byte bound holds regardless.)
  const auto t = now();
  while (!lru_.empty()) {
    auto last = entries_.find(lru_.back());
    if (last->second.expires > t && bytes_ <= limits_.max_bytes) break;
    erase_locked(last);
  }
}

void ResponseStore::erase_locked(std::unordered_map<std::string, Entry>::iterator it) {
  bytes_ -= it->second.value->bytes() + it->first.size();
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

}  // namespace llmux::host
