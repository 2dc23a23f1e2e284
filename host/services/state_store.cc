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
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "services/log.h"

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

std::mutex before_sync_mu;
std::function<void(const std::filesystem::path&)> before_sync_hook;

class ProviderStateStore final : public StateStore {
 public:
  ProviderStateStore(FileStateStore& files, std::string provider, std::shared_ptr<const void> anchor)
      : files_(files), provider_(std::move(provider)), anchor_(std::move(anchor)) {}
  std::optional<std::string> load(std::string_view key) override { return files_.load(provider_, key); }
  bool store(std::string_view key, std::string_view value, std::string* error) override {
    return files_.store(provider_, key, value, error);
  }
  bool update(std::string_view key, const Mutation& mutation, std::string* error) override {
    return files_.update(provider_, key, mutation, error);
  }
  void update_async(std::string_view key, Mutation mutation, Done done) override {
    files_.update_async(provider_, key, std::move(mutation), std::move(done), anchor_);
  }

 private:
  FileStateStore& files_;
  std::string provider_;
  std::shared_ptr<const void> anchor_;
};


std::filesystem::path state_file(const std::filesystem::path& dir, std::string_view provider, std::string_view key) {
  return dir / (escape(provider) + "--" + escape(key) + ".state");
}

std::optional<std::string> read_state(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool write_atomically(const std::filesystem::path& dir, const std::filesystem::path& file, std::string_view value,
                      std::string* error) {
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
  if (ok) {
    std::function<void(const std::filesystem::path&)> hook;
    {
      std::lock_guard lock(before_sync_mu);
      hook = before_sync_hook;
    }
    if (hook) hook(file);
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
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return true;
}

// One read-modify-write under the folder's flock (which orders processes).
bool transact(const std::filesystem::path& dir, std::string_view provider, std::string_view key,
              const StateStore::Mutation& mutation, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    if (error) *error = "cannot create state folder " + dir.string() + ": " + ec.message();
    return false;
  }
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  FolderLock folder_lock(dir);
  const std::filesystem::path file = state_file(dir, provider, key);
  std::optional<std::string> next = mutation(read_state(file));
  if (!next) return true;
  return write_atomically(dir, file, *next, error);
}

struct Job {
  std::shared_ptr<const void> anchor;  // declared first: released after the closures
  std::string provider, key;
  StateStore::Mutation mutation;
  StateStore::Done done;
};

}  // namespace

struct FileStateStore::Core {
  explicit Core(std::filesystem::path folder) : dir(std::move(folder)) {}
  const std::filesystem::path dir;
  std::mutex mu;
  std::condition_variable wake, idle;
  std::deque<Job> queue;
  bool busy = false;  // a job is running
  bool stop = false;
  std::thread::id writer_id;

  void enqueue(Job job) {
    {
      std::lock_guard lock(mu);
      queue.push_back(std::move(job));
    }
    wake.notify_one();
  }

  // The writer thread: jobs one at a time, in order, until stopped and empty.
  static void run(const std::shared_ptr<Core>& core) {
    std::unique_lock lock(core->mu);
    for (;;) {
      core->wake.wait(lock, [&] { return core->stop || !core->queue.empty(); });
      if (core->queue.empty()) break;  // stopping, and everything is written
      Job job = std::move(core->queue.front());
      core->queue.pop_front();
      core->busy = true;
      lock.unlock();
      bool ok = false;
      std::string error;
      try {
        ok = transact(core->dir, job.provider, job.key, job.mutation, &error);
      } catch (const std::exception& e) {
        error = std::string("the update threw: ") + e.what();
      } catch (...) {
        error = "the update threw";
      }
      if (job.done) {
        try {
          job.done(ok, error);
        } catch (...) {
          Log::write(LogLevel::Error, "state", "a state update's completion threw (provider '" + job.provider + "')");
        }
      }
      job = Job{};  // the closures go before the anchor, outside the lock
      lock.lock();
      core->busy = false;
      if (core->queue.empty()) core->idle.notify_all();
    }
  }
};

FileStateStore::FileStateStore(std::filesystem::path dir)
    : dir_(std::move(dir)), core_(std::make_shared<Core>(dir_)) {
  std::thread writer([core = core_] { Core::run(core); });
  core_->writer_id = writer.get_id();
  writer_ = std::move(writer);
}

FileStateStore::~FileStateStore() {
  {
    std::lock_guard lock(core_->mu);
    core_->stop = true;
  }
  core_->wake.notify_all();
  if (writer_.get_id() == std::this_thread::get_id()) {
    writer_.detach();  // let go inside a `done`: the writer drains the rest on its own Core
  } else {
    writer_.join();
  }
}

std::filesystem::path FileStateStore::file_for(std::string_view provider, std::string_view key) const {
  return state_file(dir_, provider, key);
}

std::optional<std::string> FileStateStore::load(std::string_view provider, std::string_view key) {
  return read_state(file_for(provider, key));
}

void FileStateStore::set_before_sync_for_tests(std::function<void(const std::filesystem::path&)> hook) {
  std::lock_guard lock(before_sync_mu);
  before_sync_hook = std::move(hook);
}

void FileStateStore::flush() {
  if (std::this_thread::get_id() == core_->writer_id) return;  // inside a `done`: what came before is done
  std::unique_lock lock(core_->mu);
  core_->idle.wait(lock, [&] { return core_->queue.empty() && !core_->busy; });
}

bool FileStateStore::store(std::string_view provider, std::string_view key, std::string_view value,
                           std::string* error) {
  return update(provider, key, [&](const std::optional<std::string>&) { return std::string(value); }, error);
}

bool FileStateStore::update(std::string_view provider, std::string_view key, const StateStore::Mutation& mutation,
                            std::string* error) {
  // From a `done` the writer cannot wait for itself: the update runs now.
  if (std::this_thread::get_id() == core_->writer_id) return transact(dir_, provider, key, mutation, error);
  struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false;
    bool ok = false;
    std::string error;
  };
  auto outcome = std::make_shared<Outcome>();
  const StateStore::Mutation* caller_mutation = &mutation;  // the caller waits: it outlives the job
  Job job;
  job.provider = std::string(provider);
  job.key = std::string(key);
  job.mutation = [caller_mutation](const std::optional<std::string>& current) { return (*caller_mutation)(current); };
  job.done = [outcome](bool ok, const std::string& why) {
    std::lock_guard lock(outcome->mu);
    outcome->ok = ok;
    outcome->error = why;
    outcome->finished = true;
    outcome->cv.notify_all();
  };
  core_->enqueue(std::move(job));
  std::unique_lock lock(outcome->mu);
  outcome->cv.wait(lock, [&] { return outcome->finished; });
  if (!outcome->ok && error) *error = outcome->error;
  return outcome->ok;
}

void FileStateStore::update_async(std::string_view provider, std::string_view key, StateStore::Mutation mutation,
                                  StateStore::Done done, std::shared_ptr<const void> anchor) {
  Job job;
  job.anchor = std::move(anchor);
  job.provider = std::string(provider);
  job.key = std::string(key);
  job.mutation = std::move(mutation);
  job.done = std::move(done);
  core_->enqueue(std::move(job));
}

std::unique_ptr<StateStore> FileStateStore::for_provider(std::string provider, std::shared_ptr<const void> anchor) {
  return std::make_unique<ProviderStateStore>(*this, std::move(provider), std::move(anchor));
}

}  // namespace llmux::host
