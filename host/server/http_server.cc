#include "server/http_server.h"

#include <pistache/http.h>
#include <pistache/listener.h>
#include <pistache/peer.h>

#include <strings.h>

#include <sstream>
#include <thread>
#include <unordered_map>

#include "api/inbound_api.h"
#include "gateway/exchange.h"
#include "gateway/gateway.h"
#include "server/loop_transport.h"
#include "server/request_gate.h"
#include "services/log.h"

namespace llmux::host {
namespace {

using namespace Pistache;

// Header value by name, whether Pistache parsed it into a typed header or kept it raw.
std::optional<std::string> header_value(const Http::Request& request, std::string_view name) {
  const auto& headers = request.headers();
  const std::string key(name);
  if (auto raw = headers.tryGetRaw(key)) return raw->value();
  if (auto typed = headers.tryGet(key)) {
    std::ostringstream out;
    typed->write(out);
    return out.str();
  }
  return std::nullopt;
}

// The Pistache request as the API layer sees it.
class PistacheRequest final : public InboundRequest {
 public:
  explicit PistacheRequest(const Http::Request& request) : request_(request) {}
  std::string_view method() const override { return Http::methodString(request_.method()); }
  std::string_view path() const override { return request_.resource(); }
  std::optional<std::string> header(std::string_view name) const override { return header_value(request_, name); }
  // Pistache hands query values over as sent: decoded here, once for every API.
  std::optional<std::string> query(std::string_view name) const override {
    auto raw = request_.query().get(std::string(name));
    if (!raw) return std::nullopt;
    return percent_decode(*raw, /*plus_is_space=*/true);
  }
  // Pistache resets the request (and its body) once onRequest returns; an API
  // that keeps the body moves it out before then.
  std::string& body() override { return const_cast<std::string&>(request_.body()); }
  std::string peer_address() const override { return request_.address().host(); }

 private:
  const Http::Request& request_;
};

// Compares a presented key with every configured key in time that depends
// only on the lengths, never on where the bytes differ. Returns the index of
// the matching key, or -1.
int matching_key(std::string_view presented, const std::vector<ClientKey>& keys) {
  int match = -1;
  for (std::size_t k = 0; k < keys.size(); ++k) {
    const std::string& key = keys[k].key;
    unsigned diff = presented.size() == key.size() ? 0u : 1u;
    std::size_t n = std::max(presented.size(), key.size());
    for (std::size_t i = 0; i < n; ++i) {
      unsigned char a = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      unsigned char b = i < key.size() ? static_cast<unsigned char>(key[i]) : 0;
      diff |= static_cast<unsigned>(a ^ b);
    }
    // Branch-free select: keeps the loop's time independent of which key matched.
    int is_match = static_cast<int>(diff == 0);
    match = is_match * static_cast<int>(k) + (1 - is_match) * match;
  }
  return match;
}

std::optional<std::string> presented_key(const InboundRequest& request) {
  if (auto auth = request.header("Authorization")) {
    std::string_view v = *auth;
    if (v.size() > 7 && strncasecmp(v.data(), "Bearer ", 7) == 0) return std::string(v.substr(7));
  }
  if (auto key = request.header("x-api-key")) return *key;
  return std::nullopt;
}

class Handler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Handler)

  Handler(Gateway& gateway, const ApiRegistry& registry) : gateway_(&gateway), registry_(&registry) {}
  Handler(const Handler& other) : Http::Handler(other), gateway_(other.gateway_), registry_(other.registry_) {}
  // A worker's handler behind the RequestGate: a copy of the gate's Pistache
  // part, which ties it to the worker's transport (see request_gate.h).
  Handler(const Http::Handler& gate, Gateway& gateway, const ApiRegistry& registry)
      : Http::Handler(gate), gateway_(&gateway), registry_(&registry) {}

  void onRequest(const Http::Request& request, Http::ResponseWriter writer) override {
    auto peer = writer.getPeer();
    if (!peer) return;
    // Answers can last many minutes: from here Pistache's keep-alive timeout
    // applies, not the header/body timeouts that would write a 408 mid-answer.
    peer->setIdle(true);
    auto channel = std::make_shared<SocketChannel>(peer->fd());
    bool close = false;
    if (auto connection = header_value(request, "Connection")) {
      close = strcasecmp(connection->c_str(), "close") == 0;
    }
    PistacheRequest inbound(request);
    auto context = gateway_->observability().start_request();
    auto traceparent = inbound.header("traceparent");
    context->id = request_id::choose(inbound.header("x-request-id"), traceparent);
    context->traceparent = traceparent && request_id::valid_traceparent(*traceparent)
                               ? std::move(*traceparent)
                               : request_id::make_traceparent(context->id);
    context->method = std::string(inbound.method());
    context->path = request.resource();
    context->bytes_in = request.body().size();
    try {
      dispatch(inbound, peer, channel, context, close);
    } catch (const std::exception& e) {
      Log::write(LogLevel::Error, "http", std::string("internal error: ") + e.what());
      if (!context->finished()) {
        ApiCall call(*gateway_, gateway_->table(), inbound, context, channel, dialect_for_unknown(inbound), close);
        call.fail(Error::upstream(500, "internal error in llmux"), Outcome::UpstreamError);
      }
    }
  }

  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    auto it = in_flight_.find(peer.get());
    if (it == in_flight_.end()) return;
    if (auto channel = it->second.channel.lock()) channel->close();
    if (auto exchange = it->second.exchange.lock()) exchange->cancel();
    auto gone = std::move(it->second.on_gone);
    in_flight_.erase(it);
    if (gone) gone();
  }

 private:
  struct InFlight {
    std::weak_ptr<SocketChannel> channel;
    std::weak_ptr<Exchange> exchange;
    std::function<void()> on_gone;  // ApiCall::on_client_gone
  };

  void dispatch(PistacheRequest& request, const std::shared_ptr<Tcp::Peer>& peer,
                const std::shared_ptr<SocketChannel>& channel, const std::shared_ptr<RequestContext>& context,
                bool close) {
    auto table = gateway_->table();
    const InboundApi* api = registry_->find(request.path(), request.method());
    const Dialect& dialect = api ? api->dialect(request) : dialect_for_unknown(request);
    context->dialect = dialect.api();
    ApiCall call(*gateway_, table, request, context, channel, dialect, close);
    const std::string_view method = request.method();
    if (method == "HEAD") {
      // Clients probe with HEAD (Claude Code: HEAD /). No body may follow the
      // head, or the next response on this connection would be corrupted.
      context->api = api ? std::string(api->name()) : "unknown";
      context->traffic = api == nullptr || api->traffic();
      int status = api && api->method() == "GET" ? 200 : api ? 405 : 404;
      // The admin API's HEAD says no more than its GET would.
      if (status == 200 && api->access() == Access::Panel &&
          !gateway_->admin_auth().check(request, false).allowed()) {
        status = 401;
      }
      std::string head;
      append_response_head(head, {status, "application/json", false, 0, close, answer_headers({}, context->id)});
      context->note_committed(status, false);
      context->note_written(head.size());
      channel->write(std::move(head));
      context->finish(status == 200 ? Outcome::Ok : Outcome::Rejected);
      return;
    }
    if (api == nullptr) {
      call.fail(Error::make(404, "invalid_request_error",
                            "Unknown request URL: " + std::string(method) + " " + std::string(request.path()),
                            "unknown_url"));
      return;
    }
    context->api = std::string(api->name());
    context->traffic = api->traffic();
    AdminAccess admin;
    if (api->access() == Access::Panel) {
      // Before the method and the body: a mutation without its CSRF token is
      // refused whatever else is wrong with it.
      admin = gateway_->admin_auth().check(request, method != "GET");
      call.admin = &admin;
      if (!admin.allowed()) {
        call.fail(*admin.error);
        return;
      }
      context->client = "admin";
    } else if (!authorized(*api, request, table->config(), *context)) {
      auto key = presented_key(request);
      call.fail(Error::make(401, "invalid_request_error",
                            api->access() == Access::Admin && !table->config().admin_key.empty()
                                ? "This endpoint needs the admin key."
                            : key ? "Incorrect API key provided."
                                  : "Missing API key: send 'x-api-key: <key>' or 'Authorization: Bearer <key>'.",
                            "invalid_api_key"));
      return;
    }
    if (method != api->method()) {
      call.fail(Error::make(405, "invalid_request_error",
                            "Method not allowed; use " + std::string(api->method()), "method_not_allowed"));
      return;
    }
    auto exchange = api->serve(call);
    if (exchange || call.on_client_gone) {
      in_flight_[peer.get()] = InFlight{channel, exchange, std::move(call.on_client_gone)};
    }
  }

  // Client keys guard Client APIs; the admin key (else the client keys) guards
  // Admin ones. Sets the context's client label from the key that matched.
  static bool authorized(const InboundApi& api, const InboundRequest& request, const GatewayConfig& config,
                         RequestContext& context) {
    context.client = "-";
    if (api.access() == Access::Open) return true;
    if (api.access() == Access::Admin && !config.admin_key.empty()) {
      auto key = presented_key(request);
      bool ok = key && matching_key(*key, {ClientKey{config.admin_key, "admin"}}) >= 0;
      if (ok) context.client = "admin";
      return ok;
    }
    if (config.client_keys.empty()) return true;
    auto key = presented_key(request);
    int index = key ? matching_key(*key, config.client_keys) : -1;
    if (index < 0) return false;
    context.client = config.client_keys[static_cast<std::size_t>(index)].label;
    return true;
  }

  Gateway* gateway_;
  const ApiRegistry* registry_;
  // Per event-loop thread (Pistache clones the handler per worker, and a
  // peer's requests and disconnect run on its worker): no lock needed.
  std::unordered_map<const Tcp::Peer*, InFlight> in_flight_;
};

}  // namespace

HttpServer::HttpServer(Gateway& gateway, ServerOptions options, const ApiRegistry* registry)
    : gateway_(gateway), options_(std::move(options)), registry_(registry ? registry : &default_registry()) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  // Tcp::Listener is what Http::Endpoint wraps; used directly so every worker
  // gets a LoopTransport (server/loop_transport.h): the upstream transfers of
  // the requests a worker accepts run on that worker's own loop.
  listener_ = std::make_unique<Tcp::Listener>(Address(options_.host, Port(options_.port)));
  unsigned threads = options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  listener_->init(threads, Flags<Tcp::Options>(Tcp::Options::ReuseAddr) | Tcp::Options::NoDelay, "", /*backlog=*/1024);
  // The gate sees each connection's bytes first and answers oversize requests
  // at once; everything else goes on to a Handler per worker.
  auto handler = Http::make_handler<RequestGate>(
      options_.max_body_bytes, [gateway = &gateway_, registry = registry_](const Http::Handler& gate) {
        return std::make_shared<Handler>(gate, *gateway, *registry);
      },
      &gateway_.observability());
  // A backstop only: the RequestGate refuses oversize heads and bodies before
  // Pistache buffers them; the headroom is for the head.
  handler->setMaxRequestSize(options_.max_body_bytes + (256u << 10));
  loops_ = std::make_shared<WorkerLoops>();
  loops_->header_timeout = options_.request_timeout;
  loops_->body_timeout = options_.request_timeout;
  loops_->keepalive_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options_.keepalive_timeout);
  loops_->on_loop = [engine = &gateway_.http()](IoLoop& loop) { engine->attach(loop); };
  listener_->setTransportFactory([handler, loops = loops_] { return std::make_shared<LoopTransport>(handler, loops); });
  listener_->setHandler(handler);
  listener_->bind();
  listener_->runThreaded();
}

void HttpServer::stop() {
  if (!listener_) return;
  listener_->shutdown();
  listener_.reset();  // joins the workers (Pistache's shutdown() only signals them)
  std::vector<std::shared_ptr<IoLoop>> loops;
  {
    std::lock_guard lock(loops_->mutex);
    loops.swap(loops_->loops);
  }
  // Their transfers end (Cancelled) here, on this thread.
  for (auto& loop : loops) gateway_.http().detach(*loop);
}

std::uint16_t HttpServer::port() const { return listener_ ? static_cast<std::uint16_t>(listener_->getPort()) : 0; }

}  // namespace llmux::host
