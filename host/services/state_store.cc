// Atomic replace: write a temp file in the same folder, fsync it, rename it
// over the old one, fsync the folder. A reader (or a restart after kill -9)
// sees the old or the new content, never a torn one. Files are 0600 in a 0700
// folder: they hold refresh tokens.
#include "services/state_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace llmux::host {
namespace {

std::string escape(std::string_view name) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (!out.empty() && out[0] != '.') return out;
  std::string guarded(1, '%');  // never "", ".", ".." or hidden
  guarded += out;
  return guarded;
}

std::string errno_text(const std::string& what, const std::filesystem::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

// Holds an exclusive flock on the folder's lock file for one update.
class FolderLock {
 public:
  explicit FolderLock(const std::filesystem::path& dir) {
    fd_ = ::open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~FolderLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

class ProviderStateStore final : public StateStore {
 public:
  ProviderStateStore(FileStateStore& files, std::string provider) : files_(files), provider_(std::move(provider)) {}
  std::optional<std::string> load(std::string_view key) override { return files_.load(provider_, key); }
  bool store(std::string_view key, std::string_view value, std::string* error) override {
    return files_.store(provider_, key, value, error);
  }
  bool update(std::string_view key, const Mutation& mutation, std::string* error) override {
    return files_.update(provider_, key, mutation, error);
  }

 private:
  FileStateStore& files_;
  std::string provider_;
};

}  // namespace

std::filesystem::path FileStateStore::file_for(std::string_view provider, std::string_view key) const {
  return dir_ / (escape(provider) + "--" + escape(key) + ".state");
}

std::optional<std::string> FileStateStore::load(std::string_view provider, std::string_view key) {
  std::ifstream in(file_for(provider, key), std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool FileStateStore::store(std::string_view provider, std::string_view key, std::string_view value,
                           std::string* error) {
  return update(provider, key, [&](const std::optional<std::string>&) { return std::string(value); }, error);
}

bool FileStateStore::update(std::string_view provider, std::string_view key, const StateStore::Mutation& mutation,
                            std::string* error) {
  std::lock_guard lock(mu_);
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    if (error) *error = "cannot create state folder " + dir_.string() + ": " + ec.message();
    return false;
  }
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, ec);
  FolderLock folder_lock(dir_);
  std::optional<std::string> next = mutation(load(provider, key));
  if (!next) return true;
  return write_atomically(file_for(provider, key), *next, error);
}

bool FileStateStore::write_atomically(const std::filesystem::path& file, std::string_view value, std::string* error) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path temp =
      file.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (error) *error = errno_text("cannot create", temp);
    return false;
  }
  const char* data = value.data();
  std::size_t left = value.size();
  bool ok = true;
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;
      break;
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  if (!ok || ::fsync(fd) != 0) {
    if (error) *error = errno_text("cannot write", temp);
    ::close(fd);
    ::unlink(temp.c_str());
    return false;
  }
  ::close(fd);
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    if (error) *error = errno_text("cannot replace", file);
    ::unlink(temp.c_str());
    return false;
  }
  // The rename itself must survive a power cut: sync the folder entry.
  const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return true;
}

std::unique_ptr<StateStore> FileStateStore::for_provider(std::string provider) {
  return std::make_unique<ProviderStateStore>(*this, std::move(provider));
}

}  // namespace llmux::host
