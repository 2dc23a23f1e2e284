// The admin API's building blocks (docs/admin-api.md): one InboundApi per
// endpoint, made from a handler, and the small helpers every handler uses.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/json.h"  // rapidjson as llmux configures it

#include "api/inbound_api.h"
#include "gateway/answer_writer.h"

namespace llmux::host {

inline constexpr std::string_view kAdminPrefix = "/admin/api/v1";

// A handler answers through the call now, or later through its answer
// context; it may return an Exchange the transport cancels when the client leaves.
using AdminHandler = std::function<std::shared_ptr<Exchange>(ApiCall& call)>;

class AdminEndpoint final : public InboundApi {
 public:
  // `path` is under kAdminPrefix ("/overview"); `access` is Panel but for login.
  AdminEndpoint(std::string name, std::string method, std::string path, AdminHandler handler,
                Access access = Access::Panel)
      : name_(std::move(name)), method_(std::move(method)), path_(std::move(path)), handler_(std::move(handler)),
        access_(access) {}
  std::string_view name() const override { return name_; }
  std::vector<std::string> paths() const override { return {std::string(kAdminPrefix) + path_}; }
  std::string_view method() const override { return method_; }
  Access access() const override { return access_; }
  bool traffic() const override { return false; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override { return handler_(call); }

 private:
  std::string name_, method_, path_;
  AdminHandler handler_;
  Access access_;
};

namespace admin {

// Segment `index` of the path after kAdminPrefix ("/pool/a/credentials" -> 0:"pool", 1:"a").
std::string path_segment(std::string_view path, std::size_t index);
// "2026-12-03T15:04:05Z"
std::string rfc3339(std::chrono::system_clock::time_point at);
void reply_json(ApiCall& call, int status, std::string_view body, std::string_view extra_headers = {});
void reply_error(ApiCall& call, int status, std::string code, std::string message);
// The body as a JSON object, or answers 400 and returns false.
bool parse_body(ApiCall& call, rapidjson::Document& doc);
// A string member, or nullopt.
std::optional<std::string> string_member(const rapidjson::Value& object, const char* name);

// A whole JSON answer written later (after an asynchronous step), from any thread.
void reply_later(const AnswerContext& answer, int status, std::string_view body, std::string_view extra_headers = {});

}  // namespace admin

// Every admin endpoint (admin_api.cc and the files it names).
std::vector<std::unique_ptr<InboundApi>> make_admin_apis();
// Per area (one file each).
void add_session_apis(std::vector<std::unique_ptr<InboundApi>>& apis);    // admin_session_api.cc
void add_gateway_apis(std::vector<std::unique_ptr<InboundApi>>& apis);    // admin_gateway_api.cc
void add_config_apis(std::vector<std::unique_ptr<InboundApi>>& apis);     // admin_config_api.cc
void add_pool_apis(std::vector<std::unique_ptr<InboundApi>>& apis);       // admin_pool_api.cc
void add_activity_apis(std::vector<std::unique_ptr<InboundApi>>& apis);   // admin_activity_api.cc
void add_playground_api(std::vector<std::unique_ptr<InboundApi>>& apis);  // admin_playground_api.cc

}  // namespace llmux::host
