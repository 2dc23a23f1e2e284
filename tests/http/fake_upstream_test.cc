// The fake upstream itself, driven by raw sockets: framing, keep-alive,
// request bodies, and the record of client closes.
#include "support/fake_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace llmux::test {
namespace {

using namespace std::chrono_literals;

// A raw loopback client: exact bytes out, whatever comes back.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawClient() { close(); }
  bool connected() const { return connected_; }
  void send(std::string_view bytes) { ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size())); }
  // Reads until `text` has arrived (or EOF / timeout); returns everything read so far.
  std::string read_until(std::string_view text, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (received_.find(text) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char data[65536];
      ssize_t got = ::recv(fd_, data, sizeof data, 0);
      if (got <= 0) {
        eof_ = true;
        break;
      }
      received_.append(data, static_cast<std::size_t>(got));
    }
    return received_;
  }
  bool eof() const { return eof_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string received_;
};

TEST(FakeUpstream, RespondsAndKeepsTheConnection) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    exchange.respond(200, {{"Content-Type", "text/plain"}}, "you said " + request.body);
  });
  RawClient client(upstream.port());
  ASSERT_TRUE(client.connected());
  client.send("POST /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Key: Value\r\nContent-Length: 5\r\n\r\nhello");
  auto first = client.read_until("you said hello");
  EXPECT_NE(first.find("HTTP/1.1 200 OK\r\n"), std::string::npos);
  EXPECT_NE(first.find("Content-Length: 14\r\n"), std::string::npos);
  client.send("POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_NE(client.read_until("you said abcde").find("you said abcde"), std::string::npos);
  ASSERT_TRUE(upstream.wait_for_requests(2, 2s));
  auto requests = upstream.requests();
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/a?x=1");
  EXPECT_EQ(requests[0].header("x-key"), "Value");
  EXPECT_TRUE(requests[0].has_header("X-KEY"));
  EXPECT_FALSE(requests[0].has_header("x-missing"));
  EXPECT_EQ(requests[1].body, "abcde");
  EXPECT_EQ(upstream.connection_count(), 1u);
  client.close();
  EXPECT_TRUE(upstream.wait_for_client_close(0, 2s));
}

TEST(FakeUpstream, ChunkedAndStreamFraming) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path == "/chunked") {
      exchange.begin_chunked(200);
      exchange.chunk("hello ");
      exchange.chunk("world");
      exchange.end_chunked();
    } else {
      exchange.begin_stream(200, {{"Content-Type", "text/event-stream"}});
      exchange.chunk(openai_sse({openai_text_chunk("a\"b")}));
    }
  });
  RawClient client(upstream.port());
  client.send("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n");
  auto chunked = client.read_until("0\r\n\r\n");
  EXPECT_NE(chunked.find("Transfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"), std::string::npos);
  client.send("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
  auto all = client.read_until("never", 5s);
  EXPECT_TRUE(client.eof());
  EXPECT_NE(all.find("Connection: close\r\n\r\ndata: {"), std::string::npos);
  EXPECT_NE(all.find(R"("delta":{"content":"a\"b"})"), std::string::npos);
  EXPECT_NE(all.find("\n\ndata: [DONE]\n\n"), std::string::npos);
  EXPECT_TRUE(upstream.connections().at(0).server_closed);
}

TEST(FakeUpstream, RecordsWhenTheClientLeavesMidStream) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    while (exchange.chunk("tick") && exchange.sleep(50ms)) {
    }
  });
  RawClient client(upstream.port());
  client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  client.read_until("tick");
  auto left_at = FakeClock::now();
  client.close();
  auto seen = upstream.wait_for_client_close(0, 2s);
  ASSERT_TRUE(seen);
  EXPECT_LT(*seen - left_at, 200ms);
}

TEST(FakeUpstream, StallsUntilTheClientCloses) {
  std::atomic<bool> saw_close{false};
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
    saw_close = exchange.stall_until_client_closes(5s);
  });
  RawClient client(upstream.port());
  client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(upstream.wait_for_requests(1, 2s));
  client.close();
  EXPECT_TRUE(upstream.wait_for_client_close(0, 2s));
  for (int i = 0; i < 200 && !saw_close; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(saw_close);
}

TEST(FakeUpstream, CloseCutsAndNoHandlerIs500) {
  FakeUpstream upstream;
  {
    RawClient client(upstream.port());
    client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_NE(client.read_until("no handler").find("HTTP/1.1 500"), std::string::npos);
  }
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.send_raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    exchange.close();
    EXPECT_FALSE(exchange.send_raw("more"));
  });
  RawClient client(upstream.port());
  client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  client.read_until("never");
  EXPECT_TRUE(client.eof());
}

TEST(FakeUpstream, DestructorEndsSleepingHandlers) {
  auto started = FakeClock::now();
  {
    FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { exchange.sleep(60s); });
    RawClient client(upstream.port());
    client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_TRUE(upstream.wait_for_requests(1, 2s));
  }
  EXPECT_LT(FakeClock::now() - started, 5s);
}

}  // namespace
}  // namespace llmux::test
