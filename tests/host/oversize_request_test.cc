// Regression tests for "a body over max_body gets Pistache's plain-text 413, a
// 40 MB body gets no answer while llmux spins a core and /healthz stops
// answering": an oversize request, announced by Content-Length or chunked,
// gets the API's JSON 413 at once, its connection is closed without reading
// the rest, and other clients never notice. Over real loopback sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

#include "llmux/json.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* kConfig = R"(
providers:
  mock:
    plugin: mock
routes:
  mock: [mock]
)";

constexpr std::size_t k40MB = 40u << 20;
const std::string kChunkedHead =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: llmux\r\nTransfer-Encoding: chunked\r\n\r\n";

std::uint16_t port_of(const TestGateway& gw) {
  std::string url = gw.url("/");  // http://127.0.0.1:PORT/
  auto colon = url.rfind(':');
  return static_cast<std::uint16_t>(std::stoi(url.substr(colon + 1)));
}

struct RawResponse {
  int status = 0;  // 0: no complete response before the deadline
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One client connection on a raw socket: the test decides every byte sent.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval timeout{5, 0};  // a send never blocks a test for longer
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  // False once the server stopped taking bytes (reset, closed, or 5 s without room).
  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // One response (head and Content-Length body), or status 0 at the deadline.
  RawResponse read_response(milliseconds timeout = milliseconds(5000)) {
    const auto deadline = Clock::now() + timeout;
    RawResponse response;
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_some(deadline)) return response;
    }
    std::string head = buffer_.substr(0, head_end);
    std::size_t line_end = head.find("\r\n");
    std::size_t length = 0;
    for (std::size_t pos = line_end; pos != std::string::npos && pos < head.size();) {
      std::size_t next = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(value.begin());
        response.headers[name] = value;
      }
      pos = next;
    }
    if (auto it = response.headers.find("content-length"); it != response.headers.end()) {
      length = std::stoul(it->second);
    }
    while (buffer_.size() < head_end + 4 + length) {
      if (!read_some(deadline)) return response;
    }
    response.body = buffer_.substr(head_end + 4, length);
    buffer_.erase(0, head_end + 4 + length);
    response.status = std::stoi(head.substr(9, 3));  // "HTTP/1.1 413 ..."
    return response;
  }

  // True when the server ended the connection (EOF or reset) before the deadline.
  bool closed_by_server(milliseconds timeout = milliseconds(5000)) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const auto before = buffer_.size();
      if (!read_some(deadline)) return ended_;
      if (buffer_.size() > before + (1u << 20)) return false;  // the server keeps sending
    }
  }

 private:
  // Reads what arrives before the deadline; false on timeout or end of stream.
  bool read_some(Clock::time_point deadline) {
    if (ended_) return false;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      ended_ = true;  // EOF, or a reset after the server shut the socket down
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  bool connected_ = false;
  bool ended_ = false;
  std::string buffer_;
};

std::string chat_head(std::size_t content_length, const std::string& extra = {}) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: llmux\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(content_length) + "\r\n\r\n";
}

std::string hex_chunk(const std::string& data) {
  char line[32];
  std::snprintf(line, sizeof line, "%zx\r\n", data.size());
  return line + data + "\r\n";
}

// A chat body of exactly `size` bytes.
std::string chat_body_of_size(std::size_t size) {
  std::string body = chat_body("mock", "");
  return chat_body("mock", std::string(size - body.size(), 'a'));
}

TEST(OversizeRequest, OversizeContentLengthGetsJson413AtOnce) {
  TestGateway gw(kConfig);  // max_body: the default 32 MiB
  RawClient client(port_of(gw));
  ASSERT_TRUE(client.connected());
  const auto start = Clock::now();
  // Only the head: the answer may not wait for a body that never comes.
  ASSERT_TRUE(client.send_all(chat_head(k40MB, "x-request-id: client-req-42\r\n")));
  RawResponse r = client.read_response(milliseconds(2000));
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  std::cout << "[ timing ] 413 for a 40 MB Content-Length after " << elapsed.count() << " us\n";
  ASSERT_EQ(r.status, 413);
  EXPECT_LT(elapsed, milliseconds(1000));
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_EQ(r.header("x-request-id"), "client-req-42");
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["error"]["type"].GetString(), "invalid_request_error");
  EXPECT_STREQ(doc["error"]["code"].GetString(), "request_too_large");
  EXPECT_TRUE(doc["error"]["param"].IsNull());
  EXPECT_THAT(doc["error"]["message"].GetString(), HasSubstr("41943040 bytes"));
  EXPECT_THAT(doc["error"]["message"].GetString(), HasSubstr("33554432 bytes"));
  EXPECT_TRUE(client.closed_by_server(milliseconds(2000)));
  // The server goes on serving, and counted the refusal like any other request.
  HttpClient other;
  EXPECT_EQ(other.get(gw.url("/healthz")).status, 200);
  EXPECT_THAT(other.get(gw.url("/metrics")).body,
              HasSubstr(R"(llmux_requests_total{api="openai.chat",provider="none",route="none",status="413"} 1)"));
}

TEST(OversizeRequest, OversizeChunkedBodyGetsJson413) {
  TestGateway gw(std::string("max_body: 1MiB\n") + kConfig);
  RawClient client(port_of(gw));
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all(kChunkedHead));
  // 64 KiB chunks, one after another, as a streaming client sends them: the
  // 17th chunk-size line takes the total past 1 MiB.
  const std::string piece = hex_chunk(std::string(64u << 10, 'a'));
  std::size_t sent = 0;
  while (sent < k40MB && client.send_all(piece)) sent += piece.size();
  RawResponse r = client.read_response(milliseconds(2000));
  ASSERT_EQ(r.status, 413) << "sent " << sent;
  EXPECT_LT(sent, k40MB / 4);  // refused long before the end: the rest was never read
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_THAT(r.header("x-request-id"), ::testing::MatchesRegex("[0-9a-f]{32}"));
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["error"]["code"].GetString(), "request_too_large");
  EXPECT_THAT(doc["error"]["message"].GetString(), HasSubstr("announce 1114112 bytes"));
  EXPECT_TRUE(client.closed_by_server(milliseconds(2000)));
}

TEST(OversizeRequest, AnthropicPathGetsAnthropic413) {
  TestGateway gw(kConfig);
  RawClient client(port_of(gw));
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all("POST /v1/messages?beta=true HTTP/1.1\r\nHost: llmux\r\nanthropic-version: 2023-06-01\r\n"
                              "Content-Type: application/json\r\nContent-Length: " +
                              std::to_string(k40MB) + "\r\n\r\n"));
  RawResponse r = client.read_response(milliseconds(2000));
  ASSERT_EQ(r.status, 413);
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_THAT(r.header("x-request-id"), ::testing::MatchesRegex("[0-9a-f]{32}"));  // none sent: one generated
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["type"].GetString(), "error");
  EXPECT_STREQ(doc["error"]["type"].GetString(), "request_too_large");
  EXPECT_THAT(doc["error"]["message"].GetString(), HasSubstr("41943040 bytes"));
  EXPECT_TRUE(client.closed_by_server(milliseconds(2000)));
}

TEST(OversizeRequest, HealthzAnswersWhileA40MBBodyIsRejected) {
  // One event loop for everyone: whatever the big bodies cost, /healthz pays it too.
  host::ServerOptions options;
  options.threads = 1;
  TestGateway gw(kConfig, options);
  const auto port = port_of(gw);
  std::atomic<int> streaming{2};
  RawResponse announced, chunked;
  std::size_t announced_sent = 0, chunked_sent = 0;  // bytes each got out before its refusal
  // A client that announces 40 MB and sends it all without waiting for an answer.
  std::thread announcer([&] {
    RawClient client(port);
    if (client.send_all(chat_head(k40MB))) {
      const std::string piece(64u << 10, 'a');
      while (announced_sent < k40MB && client.send_all(piece)) announced_sent += piece.size();
    }
    announced = client.read_response(milliseconds(5000));
    --streaming;
  });
  // A client streaming 64 MB in chunks: the first 32 MiB are taken (and parsed
  // by Pistache), the chunk that passes max_body is refused.
  std::thread chunker([&] {
    RawClient client(port);
    if (client.send_all(kChunkedHead)) {
      const std::string piece = hex_chunk(std::string(64u << 10, 'c'));
      while (chunked_sent < 2 * k40MB && client.send_all(piece)) chunked_sent += piece.size();
    }
    chunked = client.read_response(milliseconds(5000));
    --streaming;
  });
  HttpClient health;
  int answered = 0;
  auto slowest = milliseconds(0);
  const auto give_up = Clock::now() + std::chrono::seconds(20);
  while ((streaming > 0 || answered < 5) && Clock::now() < give_up) {
    const auto start = Clock::now();
    auto r = health.get(gw.url("/healthz"), with_timeout(milliseconds(5000)));
    slowest = std::max(slowest, std::chrono::duration_cast<milliseconds>(Clock::now() - start));
    ASSERT_EQ(r.status, 200) << r.error;
    ++answered;
  }
  announcer.join();
  chunker.join();
  std::cout << "[ timing ] /healthz answered " << answered << " times, slowest " << slowest.count()
            << " ms; the 40 MB sender got " << announced_sent << " bytes out, the chunked one " << chunked_sent
            << "\n";
  EXPECT_EQ(announced.status, 413);
  EXPECT_EQ(chunked.status, 413);
  EXPECT_THAT(chunked.body, HasSubstr("request_too_large"));
  EXPECT_LT(announced_sent, k40MB / 4);
  EXPECT_LT(chunked_sent, 2 * k40MB);
  EXPECT_LT(slowest, milliseconds(2000));
}

TEST(OversizeRequest, BodyRightUnderTheLimitIsServedAndOneByteMoreIsRefused) {
  TestGateway gw(std::string("max_body: 64KiB\n") + kConfig);
  HttpClient client;
  auto fine = client.post(gw.url("/v1/chat/completions"), chat_body_of_size(64u << 10));
  EXPECT_EQ(fine.status, 200) << fine.body;
  auto over = client.post(gw.url("/v1/chat/completions"), chat_body_of_size((64u << 10) + 1));
  EXPECT_EQ(over.status, 413);
  EXPECT_EQ(over.header("connection"), "close");
  EXPECT_STREQ(parse(over.body)["error"]["code"].GetString(), "request_too_large");
  auto again = client.post(gw.url("/v1/chat/completions"), chat_body_of_size(64u << 10));
  EXPECT_EQ(again.status, 200);
}

TEST(OversizeRequest, KeepAliveServesNormalRequestsOneAfterAnotherOnOneConnection) {
  TestGateway gw(std::string("max_body: 64KiB\n") + kConfig);
  RawClient client(port_of(gw));
  ASSERT_TRUE(client.connected());
  const std::string body = chat_body("mock", "first");
  ASSERT_TRUE(client.send_all(chat_head(body.size()) + body));
  auto first = client.read_response();
  ASSERT_EQ(first.status, 200);
  EXPECT_THAT(first.body, HasSubstr("first"));
  // A chunked body on the same connection, its chunks close to the limit in total.
  const std::string second_body = chat_body_of_size(60u << 10);
  std::string chunked = kChunkedHead;
  for (std::size_t at = 0; at < second_body.size(); at += 1000) chunked += hex_chunk(second_body.substr(at, 1000));
  chunked += "0\r\n\r\n";
  ASSERT_TRUE(client.send_all(chunked));
  auto second = client.read_response();
  ASSERT_EQ(second.status, 200) << second.body;
  ASSERT_TRUE(client.send_all("GET /healthz HTTP/1.1\r\nHost: llmux\r\n\r\n"));
  auto third = client.read_response();
  EXPECT_EQ(third.status, 200);
  EXPECT_EQ(third.body, R"({"status":"ok"})");
}

TEST(OversizeRequest, HeadOver64KiBGetsJson431) {
  TestGateway gw(kConfig);
  RawClient client(port_of(gw));
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all("GET /v1/models HTTP/1.1\r\nHost: llmux\r\nX-Padding: " + std::string(70u << 10, 'p') +
                              "\r\n\r\n"));
  RawResponse r = client.read_response(milliseconds(2000));
  ASSERT_EQ(r.status, 431);
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_STREQ(parse(r.body)["error"]["code"].GetString(), "request_headers_too_large");
  EXPECT_TRUE(client.closed_by_server(milliseconds(2000)));
}

TEST(OversizeRequest, ChunkedBodySplitInsideAChunksClosingCRLFIsServed) {
  // Pistache's chunk parser spun its event loop forever when a read ended
  // between the CR and the LF after a chunk's data.
  host::ServerOptions options;
  options.threads = 1;
  TestGateway gw(kConfig, options);
  RawClient client(port_of(gw));
  ASSERT_TRUE(client.connected());
  const std::string chunk = hex_chunk(chat_body("mock", "split"));
  ASSERT_TRUE(client.send_all(kChunkedHead + chunk.substr(0, chunk.size() - 1)));  // up to the CR
  // A pause so the server reads the two parts apart (not a wait for a result).
  std::this_thread::sleep_for(milliseconds(100));
  ASSERT_TRUE(client.send_all("\n0\r\n\r\n"));
  auto r = client.read_response(milliseconds(3000));
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("split"));
  HttpClient health;
  EXPECT_EQ(health.get(gw.url("/healthz"), with_timeout(milliseconds(2000))).status, 200);
}

}  // namespace
}  // namespace llmux::test
