// A thousand slow streams at once through a live llmux (two I/O threads, the
// openai plugin) to a FakeUpstream, over real sockets, with random (seeded)
// client aborts and upstream cuts:
//   - every stream that was not aborted ends well-formed: valid chunks then
//     `data: [DONE]`, or, when the upstream cut it, exactly one in-band error
//     event then `[DONE]`;
//   - a client abort closes the upstream connection within a second;
//   - afterwards the process's descriptors are back to their baseline and its
//     resident memory is bounded.
// The client is one epoll loop (not a thread per stream). LLMUX_STRESS_STREAMS
// lowers the count (the sanitizer runs), LLMUX_STRESS_SEED replays a draw.
#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "llmux/json.h"
#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/openai_wire.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kContentChunks = 8;   // per full stream
constexpr int kCutAfter = 3;        // content chunks before an upstream cut
constexpr auto kChunkGap = 100ms;   // between two chunks of one stream
constexpr auto kAbortCap = 10s;     // an aborted stream's upstream gives up after this

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;  // slower, and memory use says nothing (shadow, quarantine)
#else
constexpr bool kSanitized = false;
#endif

int env_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  return text && *text ? std::atoi(text) : fallback;
}

std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

std::size_t resident_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// Four descriptors a stream (client, accepted, upstream, fake upstream) and room.
void raise_descriptor_limit(rlim_t needed) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur >= needed) return;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << limit.rlim_max << " < " << needed;
  }
  limit.rlim_cur = needed;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0) << std::strerror(errno);
}

enum class Plan { Full, Cut, Abort };

const char* plan_name(Plan plan) {
  switch (plan) {
    case Plan::Full: return "full";
    case Plan::Cut: return "cut";
    case Plan::Abort: return "abort";
  }
  return "?";
}

// The fake upstream reads the plan from the user text: "stream-<n> plan-<name> ".
void serve_stream(const FakeRequest& request, FakeExchange& exchange) {
  const bool cut = request.body.find("plan-cut ") != std::string::npos;
  const bool abort = request.body.find("plan-abort ") != std::string::npos;
  // Connection: close: the engine keeps no pooled connection after the run
  // (the descriptor count must come back to the baseline).
  if (!exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}, {"Connection", "close"}})) return;
  if (!exchange.chunk(kRoleChunk)) return;
  if (abort) {
    // Streams until the client's abort reaches here (the connection closes).
    const auto give_up = Clock::now() + kAbortCap;
    for (int k = 0; Clock::now() < give_up; ++k) {
      if (!exchange.sleep(kChunkGap) || !exchange.chunk(content_chunk("a" + std::to_string(k) + " "))) return;
    }
    exchange.close();
    return;
  }
  for (int k = 0; k < kContentChunks; ++k) {
    if (cut && k == kCutAfter) {
      exchange.close();  // mid-body: the chunked framing never ends
      return;
    }
    if (!exchange.sleep(kChunkGap) || !exchange.chunk(content_chunk("w" + std::to_string(k) + " "))) return;
  }
  exchange.chunk(finish_chunk("stop"));
  exchange.chunk("data: [DONE]\n\n");
  exchange.end_chunked();
  exchange.close();
}

std::string expected_text(int chunks) {
  std::string out;
  for (int k = 0; k < chunks; ++k) out += "w" + std::to_string(k) + " ";
  return out;
}

// One client stream: a non-blocking socket driven by the epoll loop below.
struct Stream {
  int id = 0;
  Plan plan = Plan::Full;
  int abort_after_events = 0;  // Abort: data events received before hanging up
  int fd = -1;
  std::string out;
  std::size_t sent = 0;
  std::string raw;  // the response bytes as received
  // Parsed as they come: the head, then the de-chunked body.
  bool head_done = false;
  int status = 0;
  bool chunked = false;
  std::size_t body_from = 0;  // offset in raw of the undecoded body
  std::string body;
  bool body_complete = false;
  bool finished = false;
  std::string failure;  // transport trouble seen by the client
  std::optional<Clock::time_point> aborted_at;
};

// Decodes what arrived: the head once whole, then chunks; sets body_complete
// at the terminating chunk.
void decode(Stream& s) {
  if (!s.head_done) {
    const auto end = s.raw.find("\r\n\r\n");
    if (end == std::string::npos) return;
    s.head_done = true;
    s.body_from = end + 4;
    std::string head = s.raw.substr(0, end);
    if (head.size() > 12) s.status = std::atoi(head.c_str() + 9);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    s.chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
  }
  if (!s.chunked) {
    s.body += s.raw.substr(s.body_from);
    s.body_from = s.raw.size();
    return;
  }
  while (!s.body_complete) {
    const auto line_end = s.raw.find("\r\n", s.body_from);
    if (line_end == std::string::npos) return;
    const std::size_t size = std::strtoull(s.raw.c_str() + s.body_from, nullptr, 16);
    if (size == 0) {
      s.body_complete = true;
      return;
    }
    if (s.raw.size() < line_end + 2 + size + 2) return;
    s.body.append(s.raw, line_end + 2, size);
    s.body_from = line_end + 2 + size + 2;
  }
}

int data_events(const std::string& body) {
  int n = 0;
  for (std::size_t at = body.find("data: "); at != std::string::npos; at = body.find("data: ", at + 6)) ++n;
  return n;
}

std::string request_text(std::uint16_t port, const Stream& s) {
  const std::string body = chat_body("gpt-test", "stream-" + std::to_string(s.id) + " plan-" + plan_name(s.plan) + " ",
                                     true);
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Runs every stream to its end (or its abort) on one epoll loop; connections
// open in batches so the listen backlog never overflows.
void run_clients(std::vector<Stream>& streams, std::uint16_t port, Clock::time_point deadline) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  std::size_t next = 0, open = 0;
  constexpr std::size_t kBatch = 100;
  auto finish = [&](Stream& s, std::string failure = {}) {
    if (s.finished) return;
    s.finished = true;
    if (!failure.empty() && s.failure.empty()) s.failure = std::move(failure);
    ::epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
    ::close(s.fd);
    s.fd = -1;
    --open;
  };
  auto want = [&](Stream& s, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = static_cast<std::uint32_t>(s.id);
    ::epoll_ctl(ep, EPOLL_CTL_MOD, s.fd, &ev);
  };
  std::vector<epoll_event> ready(256);
  while ((next < streams.size() || open > 0) && Clock::now() < deadline) {
    for (std::size_t started = 0; next < streams.size() && started < kBatch; ++started, ++next) {
      Stream& s = streams[next];
      s.out = request_text(port, s);
      s.fd = connect_to(port);
      ++open;
      if (s.fd < 0) {
        s.finished = true;
        s.failure = std::string("connect: ") + std::strerror(errno);
        --open;
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.u32 = static_cast<std::uint32_t>(s.id);
      ::epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev);
    }
    const int n = ::epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), next < streams.size() ? 10 : 200);
    for (int i = 0; i < n; ++i) {
      Stream& s = streams[ready[i].data.u32];
      if (s.finished) continue;
      if (s.sent < s.out.size()) {
        const ssize_t w = ::send(s.fd, s.out.data() + s.sent, s.out.size() - s.sent, MSG_NOSIGNAL);
        if (w < 0) {
          if (errno != EAGAIN && errno != EINTR) finish(s, std::string("send: ") + std::strerror(errno));
          continue;
        }
        s.sent += static_cast<std::size_t>(w);
        if (s.sent == s.out.size()) want(s, EPOLLIN | EPOLLRDHUP);
        continue;
      }
      char buffer[16384];
      for (;;) {
        const ssize_t r = ::recv(s.fd, buffer, sizeof buffer, 0);
        if (r > 0) {
          s.raw.append(buffer, static_cast<std::size_t>(r));
          continue;
        }
        if (r == 0) {
          decode(s);
          finish(s, s.body_complete ? std::string() : std::string("closed before the end of the answer"));
        } else if (errno != EAGAIN && errno != EINTR) {
          finish(s, std::string("recv: ") + std::strerror(errno));
        }
        break;
      }
      if (s.finished) continue;
      decode(s);
      if (s.plan == Plan::Abort && data_events(s.body) >= s.abort_after_events) {
        s.aborted_at = Clock::now();
        finish(s);
      } else if (s.body_complete) {
        finish(s);
      }
    }
  }
  for (auto& s : streams) {
    if (!s.finished) finish(s, "still open at the deadline");
  }
  ::close(ep);
}

// The stream's SSE payloads are valid: JSON chunks, then [DONE]; returns why not.
std::string check_stream(const Stream& s) {
  if (!s.failure.empty()) return s.failure;
  if (s.status != 200) return "status " + std::to_string(s.status);
  auto data = sse_data(s.body);
  if (data.empty() || data.back() != "[DONE]") return "does not end with [DONE]";
  int errors = 0;
  for (std::size_t i = 0; i + 1 < data.size(); ++i) {
    rapidjson::Document doc;
    doc.Parse(data[i].c_str(), data[i].size());
    if (doc.HasParseError() || !doc.IsObject()) return "a data line is not JSON: " + data[i].substr(0, 200);
    if (doc.HasMember("error")) {
      ++errors;
      if (i + 2 != data.size()) return "an error event that is not the last before [DONE]";
    }
  }
  const std::string text = sse_content(s.body);
  if (s.plan == Plan::Full) {
    if (errors != 0) return "an error event in a full stream";
    if (text != expected_text(kContentChunks)) return "text '" + text + "'";
    if (s.body.find("\"finish_reason\":\"stop\"") == std::string::npos) return "no finish_reason stop";
  } else {
    if (errors != 1) return std::to_string(errors) + " error events in a cut stream";
    if (text != expected_text(kCutAfter)) return "text before the cut '" + text + "'";
  }
  return {};
}

TEST(StreamStress, AThousandSlowStreamsWithAbortsAndCutsEndWellAndLeakNothing) {
  const int count = env_int("LLMUX_STRESS_STREAMS", kSanitized ? 250 : 1000);
  const unsigned seed = static_cast<unsigned>(env_int("LLMUX_STRESS_SEED", 14));
  SCOPED_TRACE("LLMUX_STRESS_SEED=" + std::to_string(seed) + " LLMUX_STRESS_STREAMS=" + std::to_string(count));
  raise_descriptor_limit(static_cast<rlim_t>(count) * 4 + 512);
  if (testing::Test::IsSkipped()) return;

  auto upstream_owner = std::make_unique<FakeUpstream>(serve_stream);
  FakeUpstream& upstream = *upstream_owner;
  host::ServerOptions options;
  options.port = 0;
  options.threads = 2;
  // A short request history: the ring keeps its entries by design (2,000 by
  // default), which would hide a leak of a few KB per stream.
  TestGateway gw("admin: {history: 16}\nproviders:\n  up:\n    plugin: openai\n    retry: {attempts: 0}\n"
                 "    cooldown: {after_failures: 0}\n    options:\n      base_url: " +
                     upstream.url("/v1") + "\n      api_key: sk-stress-test-key-000001\n      models: [gpt-test]\n"
                     "routes:\n  gpt-test: [up]\n",
                 options);
  const auto port = static_cast<std::uint16_t>(std::stoi(gw.url("").substr(gw.url("").rfind(':') + 1)));

  // Warm up (threads, lazily made pools), then the baseline.
  {
    std::vector<Stream> warm(4);
    for (int i = 0; i < 4; ++i) warm[i].id = i;
    run_clients(warm, port, Clock::now() + 10s);
    for (const auto& s : warm) ASSERT_EQ(check_stream(s), "") << "warm-up stream " << s.id;
  }
  // The warm-up's sockets close a moment after its answers: wait for a steady count.
  std::size_t baseline_fds = open_descriptors();
  for (auto settle = Clock::now() + 3s; Clock::now() < settle;) {
    std::this_thread::sleep_for(100ms);
    const std::size_t now = open_descriptors();
    if (now == baseline_fds) break;
    baseline_fds = now;
  }
  const std::size_t baseline_kb = resident_kb();
  const std::size_t warm_requests = upstream.request_count();

  std::mt19937 random(seed);
  std::uniform_int_distribution<int> pick(0, 99), events(2, 5);
  std::vector<Stream> streams(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    Stream& s = streams[static_cast<std::size_t>(i)];
    s.id = i;
    const int p = pick(random);
    s.plan = p < 15 ? Plan::Abort : p < 30 ? Plan::Cut : Plan::Full;
    s.abort_after_events = events(random);  // the role chunk and at least one content chunk
  }

  const auto started = Clock::now();
  std::atomic<std::size_t> peak_kb{baseline_kb};
  std::atomic<bool> running{true};
  std::thread sampler([&] {
    while (running) {
      peak_kb = std::max(peak_kb.load(), resident_kb());
      std::this_thread::sleep_for(50ms);
    }
  });
  run_clients(streams, port, started + 15s);
  running = false;
  sampler.join();
  const auto elapsed = Clock::now() - started;

  int full = 0, cut = 0, aborted = 0, bad = 0;
  for (const auto& s : streams) {
    if (s.plan == Plan::Abort) {
      if (s.aborted_at) {
        ++aborted;
      } else {
        ADD_FAILURE() << "stream " << s.id << " (abort) ended before its abort: " << s.failure;
        ++bad;
      }
      continue;
    }
    const std::string problem = check_stream(s);
    if (!problem.empty()) {
      if (++bad <= 10) ADD_FAILURE() << "stream " << s.id << " (" << plan_name(s.plan) << "): " << problem << "\n"
                                     << s.body.substr(0, 600);
      continue;
    }
    (s.plan == Plan::Full ? full : cut)++;
  }
  EXPECT_EQ(bad, 0);

  // Each abort closed its upstream connection within a second.
  std::map<int, std::size_t> connection_of;  // stream id -> upstream connection
  for (const auto& request : upstream.requests()) {
    const auto at = request.body.find("stream-");
    if (at != std::string::npos) connection_of[std::atoi(request.body.c_str() + at + 7)] = request.connection;
  }
  EXPECT_EQ(upstream.request_count() - warm_requests, static_cast<std::size_t>(count)) << "one upstream request each";
  std::chrono::milliseconds slowest_close{0};
  int late = 0;
  for (const auto& s : streams) {
    if (s.plan != Plan::Abort || !s.aborted_at) continue;
    auto found = connection_of.find(s.id);
    if (found == connection_of.end()) {
      ADD_FAILURE() << "stream " << s.id << " never reached the upstream";
      continue;
    }
    auto closed = upstream.wait_for_client_close(found->second, 2s);
    if (!closed) {
      if (++late <= 10) ADD_FAILURE() << "stream " << s.id << ": the upstream connection stayed open after the abort";
      continue;
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(*closed - *s.aborted_at);
    slowest_close = std::max(slowest_close, took);
    if (took > 1s && ++late <= 10) ADD_FAILURE() << "stream " << s.id << ": upstream closed " << took.count()
                                                   << " ms after the client's abort";
  }

  // Descriptors back to the baseline (sockets close a moment after their
  // stream ends), memory bounded.
  std::size_t fds = open_descriptors();
  for (auto settle = Clock::now() + 5s; fds > baseline_fds + 8 && Clock::now() < settle;) {
    std::this_thread::sleep_for(50ms);
    fds = open_descriptors();
  }
  EXPECT_LE(fds, baseline_fds + 8) << "baseline " << baseline_fds;

  // Still serving.
  std::vector<Stream> after(1);
  run_clients(after, port, Clock::now() + 10s);
  EXPECT_EQ(check_stream(after[0]), "");

  // Memory: the fake upstream's thousand threads (a stack each) go with it;
  // what llmux keeps after the streams is what is left over the baseline,
  // once the allocator has returned its free pages.
  upstream_owner.reset();
  std::vector<Stream>().swap(streams);  // the test's own copies of every answer
  connection_of.clear();
  ::malloc_trim(0);
  const std::size_t final_kb = resident_kb();
  std::printf("[ stress ] %d streams (%d full, %d cut, %d aborted) in %lld ms; slowest abort->upstream close %lld ms; "
              "fds %zu -> %zu; RSS %zu KB -> peak %zu KB -> %zu KB after\n",
              count, full, cut, aborted,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()),
              static_cast<long long>(slowest_close.count()), baseline_fds, fds, baseline_kb, peak_kb.load(), final_kb);
  EXPECT_LT(elapsed, 15s);
  if (!kSanitized) {
    EXPECT_LT(peak_kb - baseline_kb, std::size_t{512} * 1024) << "peak RSS growth";
    EXPECT_LT(final_kb > baseline_kb ? final_kb - baseline_kb : 0, std::size_t{16} * 1024) << "RSS left after the run";
  }
}

}  // namespace
}  // namespace llmux::test
