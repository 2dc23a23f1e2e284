// A child process for tests: fork/exec with arguments, environment and working
// directory; stdout and stderr captured to files; wait with a timeout; signals.
// The child is killed (SIGKILL) and reaped when the object dies, and also when
// the test process dies (PR_SET_PDEATHSIG), so a failing test leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/test_gateway.h"

namespace llmux::test {

struct ProcessOptions {
  std::vector<std::string> args;  // without argv[0]
  // Changes to the inherited environment: a value sets the variable, nullopt removes it.
  std::map<std::string, std::optional<std::string>> env;
  std::filesystem::path cwd;  // empty: inherit
};

// How a child ended.
struct ExitStatus {
  bool exited = false;  // normal exit (code is valid); otherwise killed by `signal`
  int code = -1;
  int signal = 0;
  std::string describe() const;
};

class Process {
 public:
  Process(const std::filesystem::path& binary, ProcessOptions options);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // Still running (not yet reaped)?
  bool running();
  // Waits up to `timeout` for the child to end; nullopt when it is still running.
  std::optional<ExitStatus> wait(std::chrono::milliseconds timeout);
  void signal(int signal_number);
  // SIGKILL and reap (no-op when already reaped).
  void kill();

  // Everything the child has written so far.
  std::string out() const;
  std::string err() const;
  // Polls stderr until it contains `text`; false on timeout or when the child
  // ended without writing it.
  bool wait_for_stderr(const std::string& text, std::chrono::milliseconds timeout);
  // Runs to completion (bounded by `timeout`, killed after it).
  static ExitStatus run(const std::filesystem::path& binary, ProcessOptions options, std::string* out,
                        std::string* err, std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  TempDir dir_;  // the capture files
  std::filesystem::path out_path_;
  std::filesystem::path err_path_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

// A loopback TCP port that was free a moment ago (bind 127.0.0.1:0, read, close).
std::uint16_t free_port();

}  // namespace llmux::test
