#include "server/http_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>

#include <strings.h>

#include <chrono>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "api/anthropic_api.h"
#include "api/openai_api.h"
#include "api/status_api.h"
#include "gateway/exchange.h"
#include "gateway/gateway.h"
#include "gateway/token_count.h"
#include "llmux/codec/anthropic.h"
#include "llmux/codec/openai.h"
#include "server/request_gate.h"
#include "services/log.h"

namespace llmux::host {
namespace {

using namespace Pistache;

// Header value by name, whether Pistache parsed it into a typed header or kept it raw.
std::optional<std::string> header_value(const Http::Request& request, const std::string& name) {
  const auto& headers = request.headers();
  if (auto raw = headers.tryGetRaw(name)) return raw->value();
  if (auto typed = headers.tryGet(name)) {
    std::ostringstream out;
    typed->write(out);
    return out.str();
  }
  return std::nullopt;
}

// Compares a presented key with every configured key in time that depends
// only on the lengths, never on where the bytes differ.
bool key_matches(std::string_view presented, const std::vector<std::string>& keys) {
  unsigned match = 0;
  for (const auto& key : keys) {
    unsigned diff = presented.size() == key.size() ? 0u : 1u;
    std::size_t n = std::max(presented.size(), key.size());
    for (std::size_t i = 0; i < n; ++i) {
      unsigned char a = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      unsigned char b = i < key.size() ? static_cast<unsigned char>(key[i]) : 0;
      diff |= static_cast<unsigned>(a ^ b);
    }
    match |= static_cast<unsigned>(diff == 0);
  }
  return match != 0;
}

std::optional<std::string> presented_key(const Http::Request& request) {
  if (auto auth = header_value(request, "Authorization")) {
    std::string_view v = *auth;
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
      return std::string(v.substr(7));
    }
  }
  if (auto key = header_value(request, "x-api-key")) return *key;
  return std::nullopt;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Handler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Handler)

  explicit Handler(Gateway& gateway) : gateway_(&gateway) {}
  Handler(const Handler& other) : Http::Handler(other), gateway_(other.gateway_) {}
  // A worker's handler behind the RequestGate: a copy of the gate's Pistache
  // part, which ties it to the worker's transport (see request_gate.h).
  Handler(const Http::Handler& gate, Gateway& gateway) : Http::Handler(gate), gateway_(&gateway) {}

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
    try {
      route(request, peer, channel, close);
    } catch (const std::exception& e) {
      Log::write(LogLevel::Error, "http", std::string("internal error: ") + e.what());
      channel->write(openai_error_response(Error::upstream(500, "internal error in llmux"), close));
    }
  }

  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    auto it = in_flight_.find(peer.get());
    if (it == in_flight_.end()) return;
    if (auto channel = it->second.channel.lock()) channel->close();
    if (auto exchange = it->second.exchange.lock()) exchange->cancel();
    in_flight_.erase(it);
  }

 private:
  struct InFlight {
    std::weak_ptr<SocketChannel> channel;
    std::weak_ptr<Exchange> exchange;
  };

  // The inbound API a path belongs to decides the shape of its errors.
  enum class Api { OpenAI, Anthropic };

  static std::string error_response(Api api, const Error& error, bool close) {
    return api == Api::Anthropic ? anthropic_error_response(error, close) : openai_error_response(error, close);
  }

  void route(const Http::Request& request, const std::shared_ptr<Tcp::Peer>& peer,
             const std::shared_ptr<SocketChannel>& channel, bool close) {
    const std::string& path = request.resource();  // without the query (?beta=true)
    auto method = request.method();
    if (method == Http::Method::Head) {
      // Clients probe with HEAD (Claude Code: HEAD /). No body may follow the
      // head, or the next response on this connection would be corrupted.
      bool known = path == "/" || path == "/healthz";
      std::string head;
      append_response_head(head, {known ? 200 : 404, "application/json", false, 0, close, {}});
      channel->write(std::move(head));
      return;
    }
    if (path == "/healthz") {
      channel->write(make_response(200, "application/json", R"({"status":"ok"})", {}, close));
      return;
    }
    if (path == "/") {
      channel->write(make_response(200, "application/json", R"({"name":"llmux","status":"ok"})", {}, close));
      return;
    }
    if (path == "/status" || path == "/api/tokens") {
      admin(request, channel, close, path == "/status");
      return;
    }
    enum class Endpoint { Unknown, Chat, Models, Messages, CountTokens };
    Endpoint endpoint = Endpoint::Unknown;
    if (path == "/v1/chat/completions" || path == "/chat/completions") endpoint = Endpoint::Chat;
    if (path == "/v1/models" || path == "/models") endpoint = Endpoint::Models;
    if (path == "/v1/messages") endpoint = Endpoint::Messages;
    if (path == "/v1/messages/count_tokens") endpoint = Endpoint::CountTokens;
    const bool anthropic_client = header_value(request, "anthropic-version").has_value();
    const Api api = endpoint == Endpoint::Messages || endpoint == Endpoint::CountTokens ||
                            (endpoint == Endpoint::Unknown && (anthropic_client || path.rfind("/v1/messages", 0) == 0))
                        ? Api::Anthropic
                        : Api::OpenAI;
    if (endpoint == Endpoint::Unknown) {
      channel->write(error_response(
          api,
          Error::make(404, api == Api::Anthropic ? "not_found_error" : "invalid_request_error",
                      "Unknown request URL: " + std::string(Http::methodString(method)) + " " + path, "unknown_url"),
          close));
      return;
    }
    auto table = gateway_->table();
    const auto& config = table->config();
    if (!config.client_keys.empty()) {
      auto key = presented_key(request);
      if (!key || !key_matches(*key, config.client_keys)) {
        channel->write(error_response(
            api,
            Error::make(401, api == Api::Anthropic ? "authentication_error" : "invalid_request_error",
                        key ? "Incorrect API key provided."
                            : "Missing API key: send 'x-api-key: <key>' or 'Authorization: Bearer <key>'.",
                        "invalid_api_key"),
            close));
        return;
      }
    }
    if (endpoint == Endpoint::Models) {
      if (method != Http::Method::Get) return method_not_allowed(channel, api, "GET", close);
      std::vector<ServedModel> list;
      for (auto& name : table->served_models()) {
        auto resolution = table->resolve(name);
        std::string owner = resolution && !resolution->chain.empty() ? resolution->chain.front().slot->name : "llmux";
        list.push_back({std::move(name), std::move(owner)});
      }
      std::string body = anthropic_client ? anthropic_model_list(list, unix_now()) : openai_model_list(list, unix_now());
      channel->write(make_response(200, "application/json", body, {}, close));
      return;
    }
    if (method != Http::Method::Post) return method_not_allowed(channel, api, "POST", close);
    const std::string& body = request.body();
    if (body.size() > config.max_body_bytes) {
      channel->write(error_response(
          api,
          Error::make(413, api == Api::Anthropic ? "request_too_large" : "invalid_request_error",
                      "Request body is " + std::to_string(body.size()) + " bytes; the limit is " +
                          std::to_string(config.max_body_bytes) + " bytes (max_body in providers.yaml).",
                      "request_too_large"),
          close));
      return;
    }
    ChatRequest chat;
    auto error = api == Api::Anthropic ? anthropic::parse_messages_request(body, chat)
                                       : openai::parse_chat_request(body, chat);
    if (error) {
      channel->write(error_response(api, *error, close));
      return;
    }
    auto resolution = table->resolve(chat.model);
    if (!resolution) {
      std::string served;
      for (const auto& name : table->served_models()) served += (served.empty() ? "" : ", ") + name;
      channel->write(error_response(
          api,
          Error::make(404, api == Api::Anthropic ? "not_found_error" : "invalid_request_error",
                      "The model '" + chat.model + "' does not exist or is not served by this gateway. Served models: " +
                          (served.empty() ? "(none)" : served) + ".",
                      "model_not_found", "model"),
          close));
      return;
    }
    if (api == Api::Anthropic) {
      for (const char* name : {"anthropic-beta", "anthropic-version"}) {
        if (auto value = header_value(request, name)) chat.client_headers.emplace_back(name, std::move(*value));
      }
    }
    // The parser resets this request as soon as onRequest returns: take the body.
    chat.original_body = std::make_shared<const std::string>(std::move(const_cast<std::string&>(body)));
    if (endpoint == Endpoint::CountTokens) {
      // The header x-llmux-token-count says whether the provider counted or llmux estimated.
      count_input_tokens(gateway_->health(), table, *resolution, std::move(chat),
                         [channel, close](std::int64_t tokens, bool exact) {
                           std::string body = R"({"input_tokens":)" + std::to_string(tokens) + "}";
                           channel->write(make_response(
                               200, "application/json", body,
                               exact ? "x-llmux-token-count: exact\r\n" : "x-llmux-token-count: estimate\r\n", close));
                         });
      return;
    }
    std::unique_ptr<AnswerWriter> writer;
    if (api == Api::Anthropic) {
      anthropic::MessageMeta meta{new_message_id(), chat.model, anthropic::estimate_input_tokens(chat)};
      AnswerContext context{channel, meta.id, close};
      writer = make_anthropic_writer(std::move(context), std::move(meta), chat.stream);
    } else {
      openai::ResponseMeta meta{new_completion_id(), chat.model, unix_now()};
      AnswerContext context{channel, meta.id, close};
      writer = make_openai_writer(std::move(context), std::move(meta), chat.stream, chat.include_usage);
    }
    auto exchange = std::make_shared<Exchange>(Exchange::Services{gateway_->timers(), gateway_->health()},
                                               std::move(table), std::move(*resolution), std::move(chat),
                                               std::move(writer), channel);
    in_flight_[peer.get()] = InFlight{channel, exchange};
    exchange->start();
  }

  // Operations endpoints take the admin key when one is configured, else a
  // client key when those are configured, else nothing.
  void admin(const Http::Request& request, const std::shared_ptr<SocketChannel>& channel, bool close, bool status) {
    auto table = gateway_->table();
    const auto& config = table->config();
    std::vector<std::string> admin;
    if (!config.admin_key.empty()) {
      admin.push_back(config.admin_key);
    } else {
      admin = config.client_keys;
    }
    if (!admin.empty()) {
      auto key = presented_key(request);
      if (!key || !key_matches(*key, admin)) {
        channel->write(openai_error_response(
            Error::make(401, "invalid_request_error", "This endpoint needs the admin key.", "invalid_api_key"), close));
        return;
      }
    }
    if (request.method() != Http::Method::Get) return method_not_allowed(channel, Api::OpenAI, "GET", close);
    std::string body = status ? render_status(*gateway_) : render_credentials(*table);
    channel->write(make_response(200, "application/json", body, {}, close));
  }

  void method_not_allowed(const std::shared_ptr<SocketChannel>& channel, Api api, const char* allowed, bool close) {
    channel->write(error_response(
        api,
        Error::make(405, "invalid_request_error", std::string("Method not allowed; use ") + allowed,
                    "method_not_allowed"),
        close));
  }

  Gateway* gateway_;
  // Per event-loop thread (Pistache clones the handler per worker, and a
  // peer's requests and disconnect run on its worker): no lock needed.
  std::unordered_map<const Tcp::Peer*, InFlight> in_flight_;
};

}  // namespace

HttpServer::HttpServer(Gateway& gateway, ServerOptions options) : gateway_(gateway), options_(std::move(options)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  Address address(options_.host, Port(options_.port));
  endpoint_ = std::make_unique<Http::Endpoint>(address);
  unsigned threads = options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  auto opts = Http::Endpoint::options()
                  .threads(static_cast<int>(threads))
                  .flags(Tcp::Options::ReuseAddr | Tcp::Options::NoDelay)
                  .backlog(1024)
                  // A backstop only: the RequestGate refuses oversize heads and
                  // bodies before Pistache buffers them; the headroom is for the head.
                  .maxRequestSize(options_.max_body_bytes + (256u << 10))
                  .headerTimeout(options_.request_timeout)
                  .bodyTimeout(options_.request_timeout)
                  .keepaliveTimeout(options_.keepalive_timeout);
  endpoint_->init(opts);
  // The gate sees each connection's bytes first and answers oversize requests
  // at once; everything else goes on to a Handler per worker.
  endpoint_->setHandler(Http::make_handler<RequestGate>(
      options_.max_body_bytes,
      [gateway = &gateway_](const Http::Handler& gate) { return std::make_shared<Handler>(gate, *gateway); }));
  endpoint_->serveThreaded();
}

void HttpServer::stop() {
  if (endpoint_) {
    endpoint_->shutdown();
    endpoint_.reset();
  }
}

std::uint16_t HttpServer::port() const { return endpoint_ ? static_cast<std::uint16_t>(endpoint_->getPort()) : 0; }

}  // namespace llmux::host
