// The embedded state store: a folder of small files, one per (provider, key),
// each replaced atomically. See llmux::StateStore for the contract.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "llmux/host_services.h"

namespace llmux::host {

class FileStateStore {
 public:
  explicit FileStateStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  const std::filesystem::path& dir() const { return dir_; }
  // The file that holds `key` of `provider` (names are escaped to stay inside dir).
  std::filesystem::path file_for(std::string_view provider, std::string_view key) const;

  std::optional<std::string> load(std::string_view provider, std::string_view key);
  bool store(std::string_view provider, std::string_view key, std::string_view value, std::string* error);
  bool update(std::string_view provider, std::string_view key, const StateStore::Mutation& mutation,
              std::string* error);

  // The StateStore a provider sees: its own namespace of this store.
  std::unique_ptr<StateStore> for_provider(std::string provider);

 private:
  bool write_atomically(const std::filesystem::path& file, std::string_view value, std::string* error);
  std::filesystem::path dir_;
  std::mutex mu_;  // one writer at a time in this process; flock orders processes
};

}  // namespace llmux::host
