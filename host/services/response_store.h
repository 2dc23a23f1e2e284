// Stored Responses (POST /v1/responses with store, previous_response_id,
// GET/DELETE /v1/responses/{id}, .../input_items): what a conversation needs
// to continue by id, whichever provider answers the next turn.
//
// In memory, bounded twice: an entry lives `ttl` after it was stored, and the
// whole store holds at most `max_bytes` (least recently used entries go
// first). A restart forgets them (clients that need more send the history;
// Codex does, with store: false). Times come from the SDK's Clock so tests
// drive expiry instead of sleeping.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "llmux/host_services.h"

namespace llmux::host {

struct StoredResponse {
  std::string response_json;  // the response object, as GET returns it
  std::string input_json;     // JSON array: every input item it answered (history included)
  std::string output_json;    // JSON array: its output items
  std::size_t bytes() const { return response_json.size() + input_json.size() + output_json.size(); }
};

struct ResponseStoreLimits {
  std::chrono::seconds ttl{std::chrono::hours(1)};
  std::size_t max_bytes = 64u << 20;
};

class ResponseStore {
 public:
  // `clock` null: the steady clock.
  explicit ResponseStore(ResponseStoreLimits limits = {}, const Clock* clock = nullptr);

  // Replaces an entry with the same id. One larger than max_bytes is not kept.
  void put(const std::string& id, StoredResponse response);
  std::shared_ptr<const StoredResponse> get(std::string_view id);  // null when unknown or expired
  bool erase(std::string_view id);
  // New limits apply from now on (a config reload); entries over them go.
  void set_limits(ResponseStoreLimits limits);

  std::size_t size() const;
  std::size_t bytes() const;

 private:
  struct Entry {
    std::shared_ptr<const StoredResponse> value;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator lru;  // position in lru_ (front: most recent)
  };
  std::chrono::steady_clock::time_point now() const;
  void evict_locked();
  void erase_locked(std::unordered_map<std::string, Entry>::iterator it);

  const Clock* clock_;
  mutable std::mutex mu_;
  ResponseStoreLimits limits_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;
  std::size_t bytes_ = 0;
};

}  // namespace llmux::host
