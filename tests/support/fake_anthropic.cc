#include "support/fake_anthropic.h"

#include <thread>

#include "llmux/json.h"

namespace llmux::test {

namespace {

std::string quoted(std::string_view text) {
  std::string out;
  json::append_quoted(out, text);
  return out;
}

std::string event(std::string_view name, std::string_view data) {
  std::string out = "event: ";
  out += name;
  out += "\ndata: ";
  out += data;
  out += "\n\n";
  return out;
}

std::string message_start(const std::string& model) {
  return event("message_start",
               R"({"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message",)"
               R"("role":"assistant","model":)" + quoted(model) +
                   R"(,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,)"
                   R"("cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,)"
                   R"("service_tier":"standard"}}})");
}

std::string stream_end(const std::string& stop_reason, int output_tokens) {
  return event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":")" + stop_reason +
                                    R"(","stop_sequence":null},"usage":{"output_tokens":)" +
                                    std::to_string(output_tokens) + "}}") +
         event("message_stop", R"({"type":"message_stop"})");
}

const FakeHeaders kSseHeaders = {{"Content-Type", "text/event-stream; charset=utf-8"},
                                 {"Cache-Control", "no-cache"},
                                 {"request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"},
                                 {"anthropic-organization-id", "00000000-0000-0000-0000-000000000000"}};
const FakeHeaders kJsonHeaders = {{"Content-Type", "application/json"},
                                  {"request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"}};

}  // namespace

FakeAnthropic::FakeAnthropic() {
  upstream_.set_handler([this](const FakeRequest& request, FakeExchange& exchange) { handle(request, exchange); });
}

void FakeAnthropic::allow(const std::string& token) {
  std::lock_guard lock(mu_);
  valid_.insert(token);
}

void FakeAnthropic::revoke(const std::string& token) {
  std::lock_guard lock(mu_);
  valid_.erase(token);
}

void FakeAnthropic::add_refresh_token(const std::string& refresh_token) {
  std::lock_guard lock(mu_);
  refresh_chain_[refresh_token] = refresh_token;
  chain_head_[refresh_token] = refresh_token;
}

void FakeAnthropic::revoke_refresh_token(const std::string& refresh_token) {
  std::lock_guard lock(mu_);
  revoked_refresh_.insert(refresh_token);
}

void FakeAnthropic::fail_refresh(const std::string& refresh_token, int status, int times) {
  std::lock_guard lock(mu_);
  refresh_failures_[refresh_token] = {status, times};
}

void FakeAnthropic::rate_limit(const std::string& token, int times, int retry_after_seconds) {
  std::lock_guard lock(mu_);
  rate_limits_[token] = {times, retry_after_seconds};
}

void FakeAnthropic::overload(const std::string& token, int times) {
  std::lock_guard lock(mu_);
  overloads_[token] = times;
}

void FakeAnthropic::set_tool_call(std::string name, std::string input_json) {
  std::lock_guard lock(mu_);
  tool_name_ = std::move(name);
  tool_input_ = std::move(input_json);
}

std::string FakeAnthropic::credential_of(const FakeRequest& request) {
  if (request.has_header("x-api-key")) return request.header("x-api-key");
  std::string auth = request.header("authorization");
  if (auth.rfind("Bearer ", 0) == 0) return auth.substr(7);
  return {};
}

std::string FakeAnthropic::current_refresh(const std::string& first_refresh_token) const {
  std::lock_guard lock(mu_);
  auto it = chain_head_.find(first_refresh_token);
  return it == chain_head_.end() ? std::string() : it->second;
}

namespace {
std::vector<FakeRequest> with_path(const FakeUpstream& upstream, std::string_view path) {
  std::vector<FakeRequest> out;
  for (auto& r : upstream.requests()) {
    std::string_view p = r.path;
    p = p.substr(0, p.find('?'));
    if (p == path) out.push_back(std::move(r));
  }
  return out;
}
}  // namespace

std::vector<FakeRequest> FakeAnthropic::messages() const { return with_path(upstream_, "/v1/messages"); }
std::vector<FakeRequest> FakeAnthropic::token_requests() const { return with_path(upstream_, "/v1/oauth/token"); }
std::vector<FakeRequest> FakeAnthropic::count_requests() const {
  return with_path(upstream_, "/v1/messages/count_tokens");
}

std::string FakeAnthropic::error_json(const std::string& type, const std::string& message) {
  return R"({"type":"error","error":{"type":)" + quoted(type) + R"(,"message":)" + quoted(message) +
         R"(},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"})";
}

std::string FakeAnthropic::message_json(const std::string& text, const std::string& model) {
  return R"({"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":)" + quoted(model) +
         R"(,"content":[{"type":"text","text":)" + quoted(text) +
         R"(}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,)"
         R"("cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":6,"service_tier":"standard"}})";
}

std::string FakeAnthropic::text_stream(const std::vector<std::string>& pieces, const std::string& model) {
  std::string out = message_start(model);
  out += event("content_block_start",
               R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  out += event("ping", R"({"type": "ping"})");
  for (const auto& piece : pieces) {
    out += event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)" +
                                            quoted(piece) + "}}");
  }
  out += event("content_block_stop", R"({"type":"content_block_stop","index":0})");
  out += stream_end("end_turn", 6);
  return out;
}

std::string FakeAnthropic::tool_stream(const std::string& name, const std::vector<std::string>& input_pieces,
                                       const std::string& model) {
  std::string out = message_start(model);
  out += event("content_block_start",
               R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  out += event("content_block_delta",
               R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me check."}})");
  out += event("content_block_stop", R"({"type":"content_block_stop","index":0})");
  out += event("content_block_start",
               R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use",)"
               R"("id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":)" + quoted(name) + R"(,"input":{}}})");
  for (const auto& piece : input_pieces) {
    out += event("content_block_delta",
                 R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":)" +
                     quoted(piece) + "}}");
  }
  out += event("content_block_stop", R"({"type":"content_block_stop","index":1})");
  out += stream_end("tool_use", 40);
  return out;
}

void FakeAnthropic::handle_token(const FakeRequest& request, FakeExchange& exchange) {
  rapidjson::Document doc;
  doc.Parse(request.body.data(), request.body.size());
  auto member = [&](const char* name) -> std::string {
    if (!doc.IsObject()) return {};
    auto it = doc.FindMember(name);
    return it != doc.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
  };
  if (doc.HasParseError() || member("grant_type") != "refresh_token" || member("client_id").empty()) {
    exchange.respond(400, kJsonHeaders, R"({"error":"invalid_request","error_description":"Invalid request format"})");
    return;
  }
  if (refresh_delay_.count() > 0) exchange.sleep(refresh_delay_);
  const std::string token = member("refresh_token");
  std::string body;
  int status = 200;
  {
    std::lock_guard lock(mu_);
    if (auto f = refresh_failures_.find(token); f != refresh_failures_.end() && f->second.second != 0) {
      if (f->second.second > 0) --f->second.second;
      status = f->second.first;
      body = status >= 500 ? R"({"error":"server_error","error_description":"temporarily unavailable"})"
                           : R"({"error":"invalid_grant","error_description":"Refresh token not found or invalid"})";
    } else if (!refresh_chain_.count(token) || revoked_refresh_.count(token)) {
      status = 400;
      body = R"({"error":"invalid_grant","error_description":"Refresh token not found or invalid"})";
    } else {
      ++issued_;
      const std::string head = refresh_chain_[token];
      std::string access = "sk-ant-oat01-fake-" + std::to_string(issued_) + "-" + head;
      std::string next = token;
      if (rotate_) {
        next = "sk-ant-ort01-fake-" + std::to_string(issued_) + "-" + head;
        refresh_chain_.erase(token);  // spent
        refresh_chain_[next] = head;
        chain_head_[head] = next;
      }
      valid_.insert(access);
      body = R"({"token_type":"Bearer","access_token":)" + quoted(access) + R"(,"expires_in":)" +
             std::to_string(expires_in_) + R"(,"refresh_token":)" + quoted(next) +
             R"(,"scope":"user:inference user:profile","organization":{"uuid":"00000000"},"account":{"uuid":"1"}})";
      grants_.fetch_add(1);
    }
  }
  exchange.respond(status, kJsonHeaders, body);
}

void FakeAnthropic::handle(const FakeRequest& request, FakeExchange& exchange) {
  std::string path = request.path.substr(0, request.path.find('?'));
  if (request.method == "POST" && path == "/v1/oauth/token") return handle_token(request, exchange);
  if (request.method != "POST" || (path != "/v1/messages" && path != "/v1/messages/count_tokens")) {
    exchange.respond(404, kJsonHeaders, error_json("not_found_error", "Not found"));
    return;
  }
  if (request.header("anthropic-version").empty()) {
    exchange.respond(400, kJsonHeaders, error_json("invalid_request_error", "anthropic-version: header is required"));
    return;
  }
  const std::string credential = credential_of(request);
  const bool bearer = !request.has_header("x-api-key");
  Hook hook;
  std::string text, tool_name, tool_input;
  {
    std::lock_guard lock(mu_);
    if (credential.empty() || !valid_.count(credential)) {
      exchange.respond(401, kJsonHeaders,
                       error_json("authentication_error", bearer ? "Invalid bearer token" : "invalid x-api-key"));
      return;
    }
    if (bearer && request.header("anthropic-beta").find("oauth-2025-04-20") == std::string::npos) {
      exchange.respond(401, kJsonHeaders,
                       error_json("authentication_error", "OAuth authentication is currently not supported."));
      return;
    }
    if (auto it = rate_limits_.find(credential); it != rate_limits_.end() && it->second.first > 0) {
      --it->second.first;
      FakeHeaders headers = kJsonHeaders;
      headers.emplace_back("retry-after", std::to_string(it->second.second));
      exchange.respond(429, headers,
                       error_json("rate_limit_error", "This request would exceed your account's rate limit."));
      return;
    }
    if (auto it = overloads_.find(credential); it != overloads_.end() && it->second > 0) {
      --it->second;
      exchange.respond(529, kJsonHeaders, error_json("overloaded_error", "Overloaded"));
      return;
    }
    hook = hook_;
    text = text_;
    tool_name = tool_name_;
    tool_input = tool_input_;
  }
  if (path == "/v1/messages/count_tokens") {
    exchange.respond(200, kJsonHeaders, R"({"input_tokens":)" + std::to_string(request.body.size() / 4) + "}");
    return;
  }
  if (hook && hook(request, exchange)) return;
  rapidjson::Document doc;
  doc.Parse(request.body.data(), request.body.size());
  bool stream = false;
  std::string model = "claude-test-4";
  if (!doc.HasParseError() && doc.IsObject()) {
    if (auto it = doc.FindMember("stream"); it != doc.MemberEnd() && it->value.IsBool()) stream = it->value.GetBool();
    if (auto it = doc.FindMember("model"); it != doc.MemberEnd() && it->value.IsString()) model = it->value.GetString();
  } else {
    exchange.respond(400, kJsonHeaders, error_json("invalid_request_error", "invalid JSON body"));
    return;
  }
  if (!stream) {
    exchange.respond(200, kJsonHeaders, message_json(text, model));
    return;
  }
  exchange.begin_chunked(200, kSseHeaders);
  if (!tool_name.empty()) {
    std::string half = tool_input.substr(0, tool_input.size() / 2);
    exchange.chunk(tool_stream(tool_name, {half, tool_input.substr(half.size())}, model));
  } else {
    // Two network pieces: the head, then the rest.
    std::string all = text_stream({text.substr(0, text.size() / 2), text.substr(text.size() / 2)}, model);
    std::size_t cut = all.find("event: content_block_delta");
    exchange.chunk(all.substr(0, cut));
    exchange.chunk(all.substr(cut));
  }
  exchange.end_chunked();
}

}  // namespace llmux::test
