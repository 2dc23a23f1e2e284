// The embedded state store: a folder of small files, one per (provider, key),
// each replaced atomically. See llmux::StateStore for the contract.
//
// Every update (the read-modify-write under the folder's flock, the temp file,
// its fsync, the rename) runs on the store's own writer thread, one at a time
// and in the order asked for, so a provider answering on an I/O thread hands
// its write over (update_async) instead of waiting for the disk there. The
// synchronous `update` queues too and waits, which keeps the order between
// the two. The destructor finishes what is queued: a clean shutdown loses no
// write; kill -9 loses only writes not yet done (each file stays whole).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "llmux/host_services.h"

namespace llmux::host {

class FileStateStore {
 public:
  explicit FileStateStore(std::filesystem::path dir);
  ~FileStateStore();  // finishes the queued updates, then stops the writer
  FileStateStore(const FileStateStore&) = delete;
  FileStateStore& operator=(const FileStateStore&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  // The file that holds `key` of `provider` (names are escaped to stay inside dir).
  std::filesystem::path file_for(std::string_view provider, std::string_view key) const;

  // What is durable now (a queued update is not seen until it is done).
  std::optional<std::string> load(std::string_view provider, std::string_view key);
  // Queued behind the updates already asked for; returns once done.
  bool store(std::string_view provider, std::string_view key, std::string_view value, std::string* error);
  bool update(std::string_view provider, std::string_view key, const StateStore::Mutation& mutation,
              std::string* error);
  // Queued; `done` runs on the writer thread afterwards. `anchor` is kept
  // until both closures are destroyed (the plugin library they live in).
  void update_async(std::string_view provider, std::string_view key, StateStore::Mutation mutation,
                    StateStore::Done done, std::shared_ptr<const void> anchor = nullptr);
  // Returns once every update asked for before it is done.
  void flush();

  // The StateStore a provider sees: its own namespace of this store. Its
  // queued updates keep `anchor` (the provider's plugin library) alive.
  std::unique_ptr<StateStore> for_provider(std::string provider, std::shared_ptr<const void> anchor = nullptr);

  // Tests only: runs on the writer thread before each fsync of a state file
  // (to make a write slow or hold it); empty to remove. Process-wide.
  static void set_before_sync_for_tests(std::function<void(const std::filesystem::path& file)> hook);

 private:
  struct Core;  // shared with the writer thread, which may outlive this object by a moment
  std::filesystem::path dir_;
  std::shared_ptr<Core> core_;
  std::thread writer_;
};

}  // namespace llmux::host
