#include "admin/admin_api.h"

#include <ctime>

#include "llmux/json.h"

namespace llmux::host {
namespace admin {

std::string path_segment(std::string_view path, std::size_t index) {
  if (path.substr(0, kAdminPrefix.size()) == kAdminPrefix) path.remove_prefix(kAdminPrefix.size());
  std::size_t at = 0;
  for (std::size_t i = 0;; ++i) {
    if (at >= path.size() || path[at] != '/') return {};
    auto end = path.find('/', at + 1);
    if (i == index) {
      return percent_decode(path.substr(at + 1, end == std::string_view::npos ? end : end - at - 1));
    }
    if (end == std::string_view::npos) return {};
    at = end;
  }
}

std::string rfc3339(std::chrono::system_clock::time_point at) {
  std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

void reply_json(ApiCall& call, int status, std::string_view body, std::string_view extra_headers) {
  call.respond(status, "application/json", body, extra_headers);
}

void reply_error(ApiCall& call, int status, std::string code, std::string message) {
  call.fail(Error::make(status, "invalid_request_error", std::move(message), std::move(code)));
}

bool parse_body(ApiCall& call, rapidjson::Document& doc) {
  const std::string& body = call.request.body();
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    reply_error(call, 400, "invalid_request", "The body must be a JSON object.");
    return false;
  }
  return true;
}

std::optional<std::string> string_member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

void reply_later(const AnswerContext& answer, int status, std::string_view body, std::string_view extra_headers) {
  respond_whole(answer, status, "application/json", body, extra_headers, status < 400 ? Outcome::Ok : Outcome::Rejected,
                /*panel=*/true);
}

}  // namespace admin

std::vector<std::unique_ptr<InboundApi>> make_admin_apis() {
  std::vector<std::unique_ptr<InboundApi>> apis;
  add_session_apis(apis);
  add_gateway_apis(apis);
  add_config_apis(apis);
  add_pool_apis(apis);
  add_activity_apis(apis);
  add_playground_api(apis);
  return apis;
}

}  // namespace llmux::host
