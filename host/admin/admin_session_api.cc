// POST /login, POST /logout, GET /session: the panel's session (admin_auth.h).
#include <strings.h>

#include "admin/admin_api.h"
#include "admin/admin_auth.h"
#include "gateway/gateway.h"
#include "llmux/json.h"

namespace llmux::host {
namespace {

// The cookie gets Secure when the browser reached llmux over TLS (a TLS
// terminator in front of it says so).
bool over_tls(const InboundRequest& request) {
  auto proto = request.header("X-Forwarded-Proto");
  return proto && strcasecmp(proto->c_str(), "https") == 0;
}

std::string session_json(const char* via, const AdminSession* session) {
  std::string out = R"({"authenticated":true,"via":)";
  json::append_quoted(out, via);
  if (session) {
    out += R"(,"csrf_token":)";
    json::append_quoted(out, session->csrf_token);
    out += R"(,"expires_at":)";
    json::append_quoted(out, admin::rfc3339(session->expires_at));
  }
  return out + "}";
}

std::shared_ptr<Exchange> login(ApiCall& call) {
  AdminAuth& auth = call.gateway.admin_auth();
  AdminAccess verdict = auth.check(call.request, /*mutation=*/false);
  call.admin = &verdict;  // the panel's headers (and no-store: the answer holds the CSRF token)
  // Login CSRF: a cross-site page must not log the browser into its session.
  // Checked before the body, like every other mutation.
  if (is_cross_site(call.request)) {
    admin::reply_error(call, 403, "csrf_token_invalid", "Cross-site requests to the admin API are refused.");
    return nullptr;
  }
  if (verdict.error && verdict.error->code == "admin_disabled") {  // beyond loopback without a key; rebinding
    call.fail(*verdict.error);
    return nullptr;
  }
  rapidjson::Document doc;
  if (!admin::parse_body(call, doc)) return nullptr;
  auto key = admin::string_member(doc, "key");
  if (!key) {
    admin::reply_error(call, 400, "invalid_request", "Send {\"key\": \"<admin_key>\"}.");
    return nullptr;
  }
  AdminSession session;
  if (auto error = auth.login(*key, call.request.peer_address(), session)) {
    call.fail(*error);
    return nullptr;
  }
  std::string body = R"({"csrf_token":)";
  json::append_quoted(body, session.csrf_token);
  body += R"(,"expires_at":)";
  json::append_quoted(body, admin::rfc3339(session.expires_at));
  body += "}";
  admin::reply_json(call, 200, body, auth.set_cookie_header(&session, over_tls(call.request)));
  return nullptr;
}

std::shared_ptr<Exchange> logout(ApiCall& call) {
  AdminAuth& auth = call.gateway.admin_auth();
  if (call.admin->session) auth.logout(call.admin->session->cookie);
  call.respond(204, "application/json", "", auth.set_cookie_header(nullptr, over_tls(call.request)));
  return nullptr;
}

std::shared_ptr<Exchange> session(ApiCall& call) {
  const AdminAccess& access = *call.admin;
  if (access.via == AdminAccess::Via::Bearer) {
    admin::reply_json(call, 200, session_json("bearer", nullptr));
  } else if (access.session) {
    admin::reply_json(call, 200, session_json(to_string(access.via), &*access.session));
  } else {
    // Open mode (no admin_key, loopback): a session without a login, so that
    // mutations still carry a CSRF token.
    AdminAuth& auth = call.gateway.admin_auth();
    if (is_cross_site(call.request)) {  // another site's page must not churn the open sessions
      admin::reply_error(call, 403, "csrf_token_invalid", "Cross-site requests to the admin API are refused.");
      return nullptr;
    }
    AdminSession made = auth.open_session();
    admin::reply_json(call, 200, session_json("open", &made), auth.set_cookie_header(&made, over_tls(call.request)));
  }
  return nullptr;
}

}  // namespace

void add_session_apis(std::vector<std::unique_ptr<InboundApi>>& apis) {
  apis.push_back(std::make_unique<AdminEndpoint>("admin.login", "POST", "/login", login, Access::Open));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.logout", "POST", "/logout", logout));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.session", "GET", "/session", session));
}

}  // namespace llmux::host
