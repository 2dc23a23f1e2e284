// The bench's bare Pistache handler: the least a Pistache server can do per
// request, with the options llmux uses: Pistache accepts, reads and parses the
// request, and the handler answers fixed bytes. Its req/s is the ceiling for
// any server built on Pistache on this machine.
//   pistache-bare PORT THREADS ANSWER_JSON_FILE ANSWER_SSE_FILE [writer]
// A path containing "/sse/" or a body with "stream":true gets the SSE bytes.
// The answer goes out the way llmux sends it (one send() of the whole
// response on the connection's socket); with "writer" it goes through
// Pistache's own ResponseWriter::send instead (much slower: its write queue
// and timer machinery).
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>

#include <sys/socket.h>

#include <csignal>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

using namespace Pistache;

namespace {

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string g_json;
std::string g_sse;
std::string g_json_response;  // whole HTTP responses for the raw path
std::string g_sse_response;
bool g_writer = false;

std::string whole_response(const std::string& type, const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: keep-alive\r\n\r\n" + body;
}

class Bare final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Bare)
  void onRequest(const Http::Request& request, Http::ResponseWriter writer) override {
    bool sse = request.resource().find("/sse/") != std::string::npos ||
               request.body().find("\"stream\":true") != std::string::npos;
    if (!g_writer) {
      auto peer = writer.getPeer();
      if (!peer) return;
      const std::string& out = sse ? g_sse_response : g_json_response;
      std::size_t sent = 0;
      while (sent < out.size()) {  // loopback takes a few KB at once; a full buffer just spins
        ssize_t n = ::send(peer->fd(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          return;
        }
        sent += static_cast<std::size_t>(n);
      }
      return;
    }
    writer.headers().add<Http::Header::Connection>(Http::ConnectionControl::KeepAlive);
    static const auto json_type = Http::Mime::MediaType::fromString("application/json");
    static const auto sse_type = Http::Mime::MediaType::fromString("text/event-stream");
    writer.send(Http::Code::Ok, sse ? g_sse : g_json, sse ? sse_type : json_type);
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::cerr << "usage: pistache-bare PORT THREADS ANSWER_JSON_FILE ANSWER_SSE_FILE [writer]\n";
    return 2;
  }
  g_json = read_file(argv[3]);
  g_sse = read_file(argv[4]);
  g_json_response = whole_response("application/json", g_json);
  g_sse_response = whole_response("text/event-stream", g_sse);
  g_writer = argc == 6 && std::string(argv[5]) == "writer";
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Http::Endpoint endpoint(Address(Ipv4::loopback(), Port(static_cast<uint16_t>(std::atoi(argv[1])))));
  endpoint.init(Http::Endpoint::options()
                    .threads(std::atoi(argv[2]))
                    .flags(Tcp::Options::ReuseAddr | Tcp::Options::NoDelay)
                    .backlog(1024)
                    .maxRequestSize(1u << 20));
  endpoint.setHandler(Http::make_handler<Bare>());
  endpoint.serveThreaded();
  int sig = 0;
  sigwait(&signals, &sig);
  endpoint.shutdown();
  return 0;
}
