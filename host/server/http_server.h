// The HTTP front: a Pistache endpoint whose handler dispatches each request
// to the inbound API registered for its path (api/inbound_api.h). Handlers never wait: a chat request is parsed, routed and
// handed to a provider, and the answer is written later from whatever thread
// the provider emits on (see client_channel.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace Pistache::Tcp {
class Listener;
}

namespace llmux::host {

class Gateway;
class ApiRegistry;
struct WorkerLoops;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = any free port (tests)
  unsigned threads = 0;       // 0 = one per core
  std::size_t max_body_bytes = 32u << 20;
  // How long a connection may stay open after its last request began. Pistache
  // measures it from the request, so it also bounds the longest answer.
  std::chrono::seconds keepalive_timeout{3600};
  // Time allowed to receive a request's headers and body (slow clients get 408).
  std::chrono::milliseconds request_timeout{60000};
};

class HttpServer {
 public:
  // `registry`: the APIs to serve (default: default_registry(), everything).
  HttpServer(Gateway& gateway, ServerOptions options, const ApiRegistry* registry = nullptr);
  ~HttpServer();

  void start();  // binds and serves on background threads; throws on bind failure
  void stop();
  std::uint16_t port() const;

 private:
  Gateway& gateway_;
  ServerOptions options_;
  const ApiRegistry* registry_;
  std::unique_ptr<Pistache::Tcp::Listener> listener_;
  std::shared_ptr<WorkerLoops> loops_;
};

}  // namespace llmux::host
