// The admin API over real loopback sockets (docs/admin-api.md): login,
// sessions, CSRF, refusals, and every endpoint's answer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "admin/admin_auth.h"
#include "api/inbound_api.h"
#include "gateway/gateway.h"
#include "observability/request_history.h"
#include "support/fake_anthropic.h"
#include "support/fake_upstream.h"
#include "support/held_writes.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/test_gateway.h"
#include "llmux/json.h"
#include "llmux/plugin_abi.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char* kConfig = R"(
client_keys: [{key: k-client-0001, label: alice}]
admin_key: k-admin-secret-0001
providers:
  mock:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
routes:
  "gpt-*":
    chain: [mock]
    models: [gpt-4o]
  mock: [mock]
aliases:
  gpt-4: gpt-4o
)";

const std::string kApi = "/admin/api/v1";
const std::string kAdminBearer = "Authorization: Bearer k-admin-secret-0001";

// A logged-in browser: the session cookie and the CSRF token.
struct Login {
  std::string cookie;  // "llmux_session=..."
  std::string csrf;
  RequestOptions reads() const {
    RequestOptions o;
    o.headers = {"Cookie: " + cookie};
    return o;
  }
  RequestOptions writes() const {
    RequestOptions o;
    o.headers = {"Cookie: " + cookie, "X-CSRF-Token: " + csrf, "Content-Type: application/json"};
    return o;
  }
};

Login log_in(HttpClient& client, TestGateway& gw, const std::string& key = "k-admin-secret-0001") {
  auto r = client.post(gw.url(kApi + "/login"), R"({"key":")" + key + R"("})",
                       with_header("Content-Type: application/json"));
  EXPECT_EQ(r.status, 200) << r.body;
  Login login;
  std::string set_cookie = r.header("set-cookie");
  login.cookie = set_cookie.substr(0, set_cookie.find(';'));
  auto doc = parse(r.body);
  if (doc.IsObject() && doc.HasMember("csrf_token")) login.csrf = doc["csrf_token"].GetString();
  return login;
}

std::string error_code(const HttpResponse& r) {
  auto doc = parse(r.body);
  if (!doc.IsObject() || !doc.HasMember("error")) return "(no error object: " + r.body + ")";
  return doc["error"]["code"].GetString();
}

// A request is recorded when it ends, which may be just after its client got
// the last byte: wait (bounded) until the history holds `count` requests.
void wait_for_history(TestGateway& gw, std::size_t count) {
  auto& history = gw.gateway().observability().history();
  for (int i = 0; i < 1000 && history.size() < count; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_GE(history.size(), count);
}

TEST(AdminApi, EveryEndpointNeedsCredentials) {
  TestGateway gw(kConfig);
  HttpClient client;
  for (const char* path : {"/overview", "/routes", "/providers", "/pool", "/requests", "/usage", "/config",
                           "/plugins", "/session"}) {
    auto r = client.get(gw.url(kApi + path));
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(error_code(r), "admin_auth_required") << path;
    EXPECT_THAT(r.header("content-security-policy"), HasSubstr("script-src 'self'")) << path;
    EXPECT_EQ(r.header("x-frame-options"), "DENY");
    EXPECT_EQ(r.header("x-content-type-options"), "nosniff");
  }
  // A client key is not the admin key.
  EXPECT_EQ(client.get(gw.url(kApi + "/routes"), with_header("Authorization: Bearer k-client-0001")).status, 401);
  EXPECT_EQ(client.get(gw.url(kApi + "/routes"), with_header("Cookie: llmux_session=forged.value")).status, 401);
}

// Every Panel API in the registry, with its {id} segments filled in.
std::vector<std::pair<std::string, std::string>> panel_endpoints() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& api : host::default_registry().apis()) {
    if (api->access() != host::Access::Panel) continue;
    for (std::string path : api->paths()) {
      for (auto at = path.find("{id}"); at != std::string::npos; at = path.find("{id}")) path.replace(at, 4, "x");
      out.emplace_back(std::string(api->method()), path);
    }
  }
  return out;
}

TEST(AdminApi, EveryRegisteredAdminEndpointRefusesWithoutCredentialsAndEveryMutationWithoutCsrf) {
  TestGateway gw(kConfig);
  HttpClient client;
  Login login = log_in(client, gw);
  auto endpoints = panel_endpoints();
  ASSERT_GE(endpoints.size(), 23u);  // the registry has them: the loop tests something
  for (const auto& [method, path] : endpoints) {
    auto anonymous = client.request(method, gw.url(path), "{}", {});
    EXPECT_EQ(anonymous.status, 401) << method << " " << path;
    if (method == "GET") continue;
    // A session without the token, a body that is not even JSON: 403 first.
    auto no_csrf = client.request(method, gw.url(path), "{broken", login.reads());
    EXPECT_EQ(no_csrf.status, 403) << method << " " << path;
    EXPECT_EQ(error_code(no_csrf), "csrf_token_invalid") << method << " " << path;
  }
}

TEST(AdminApi, LoginSetsAStrictHttpOnlyCookieAndTheKeyIsNeverEchoed) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto wrong = client.post(gw.url(kApi + "/login"), R"({"key":"nope"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.header("set-cookie"), "");
  auto r = client.post(gw.url(kApi + "/login"), R"({"key":"k-admin-secret-0001"})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string cookie = r.header("set-cookie");
  EXPECT_THAT(cookie, HasSubstr("llmux_session="));
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Strict"));
  EXPECT_THAT(cookie, HasSubstr("Path=/"));
  EXPECT_THAT(cookie, ::testing::ContainsRegex("Max-Age=4(3200|319[0-9])"));  // 12 h
  EXPECT_THAT(cookie, Not(HasSubstr("Secure")));
  EXPECT_THAT(r.body, Not(HasSubstr("k-admin-secret-0001")));
  EXPECT_THAT(cookie, Not(HasSubstr("k-admin-secret-0001")));
  // Behind a TLS terminator the cookie is Secure.
  auto tls = client.post(gw.url(kApi + "/login"), R"({"key":"k-admin-secret-0001"})",
                         with_header("X-Forwarded-Proto: https"));
  EXPECT_THAT(tls.header("set-cookie"), HasSubstr("; Secure"));
}

TEST(AdminApi, ASessionReadsAndItsMutationsNeedTheCsrfTokenBeforeAnythingElse) {
  TestGateway gw(kConfig);
  HttpClient client;
  Login login = log_in(client, gw);
  ASSERT_FALSE(login.csrf.empty());
  EXPECT_EQ(client.get(gw.url(kApi + "/routes"), login.reads()).status, 200);
  auto session = client.get(gw.url(kApi + "/session"), login.reads());
  EXPECT_THAT(session.body, HasSubstr(R"("via":"session")"));
  EXPECT_THAT(session.body, HasSubstr(login.csrf));

  // No token: 403, even with a body that would be a 400.
  auto no_token = client.post(gw.url(kApi + "/config/validate"), "{not json", login.reads());
  EXPECT_EQ(no_token.status, 403);
  EXPECT_EQ(error_code(no_token), "csrf_token_invalid");
  RequestOptions wrong = login.reads();
  wrong.headers.push_back("X-CSRF-Token: " + std::string(login.csrf.size(), 'a'));
  EXPECT_EQ(client.post(gw.url(kApi + "/providers/mock/reset"), "", wrong).status, 403);
  // With it, the body is looked at.
  EXPECT_EQ(client.post(gw.url(kApi + "/config/validate"), "{not json", login.writes()).status, 400);
  EXPECT_EQ(client.post(gw.url(kApi + "/providers/mock/reset"), "", login.writes()).status, 200);
}

TEST(AdminApi, CrossSiteRequestsAreRefusedEvenWithTheToken) {
  TestGateway gw(kConfig);
  HttpClient client;
  Login login = log_in(client, gw);
  RequestOptions evil = login.writes();
  evil.headers.push_back("Origin: http://evil.example");
  auto r = client.post(gw.url(kApi + "/providers/mock/reset"), "", evil);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(error_code(r), "csrf_token_invalid");
  RequestOptions fetch_site = login.writes();
  fetch_site.headers.push_back("Sec-Fetch-Site: cross-site");
  EXPECT_EQ(client.post(gw.url(kApi + "/providers/mock/reset"), "", fetch_site).status, 403);
  // A same-origin request passes.
  RequestOptions same = login.writes();
  std::string origin = gw.url("/");
  origin.pop_back();
  same.headers.push_back("Origin: " + origin);
  EXPECT_EQ(client.post(gw.url(kApi + "/providers/mock/reset"), "", same).status, 200);
  // Login CSRF: a cross-site form cannot log the browser in.
  auto cross_login = client.post(gw.url(kApi + "/login"), R"({"key":"k-admin-secret-0001"})",
                                 with_header("Origin: http://evil.example"));
  EXPECT_EQ(cross_login.status, 403);
  EXPECT_EQ(cross_login.header("set-cookie"), "");
}

TEST(AdminApi, TheBearerKeyNeedsNoCsrfToken) {
  TestGateway gw(kConfig);
  HttpClient client;
  EXPECT_EQ(client.get(gw.url(kApi + "/routes"), with_header(kAdminBearer)).status, 200);
  EXPECT_EQ(client.post(gw.url(kApi + "/providers/mock/reset"), "", with_header(kAdminBearer)).status, 200);
  EXPECT_EQ(client.get(gw.url(kApi + "/routes"), with_header("Authorization: Bearer wrong")).status, 401);
}

TEST(AdminApi, LogoutRevokesTheSessionOnTheServer) {
  TestGateway gw(kConfig);
  HttpClient client;
  Login login = log_in(client, gw);
  EXPECT_EQ(client.post(gw.url(kApi + "/logout"), "", login.reads()).status, 403);  // a mutation: CSRF
  auto out = client.post(gw.url(kApi + "/logout"), "", login.writes());
  EXPECT_EQ(out.status, 204);
  EXPECT_THAT(out.header("set-cookie"), HasSubstr("Max-Age=0"));
  // The browser could keep the cookie: the server forgot it.
  EXPECT_EQ(client.get(gw.url(kApi + "/routes"), login.reads()).status, 401);
}

TEST(AdminApi, TenFailedLoginsFromOneAddressGet429WithRetryAfter) {
  TestGateway gw(kConfig);
  HttpClient client;
  for (int i = 0; i < host::AdminAuth::kMaxFailedLogins; ++i) {
    EXPECT_EQ(client.post(gw.url(kApi + "/login"), R"({"key":"guess"})").status, 401) << i;
  }
  auto r = client.post(gw.url(kApi + "/login"), R"({"key":"k-admin-secret-0001"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(error_code(r), "too_many_login_attempts");
  int retry_after = std::stoi(r.header("retry-after"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  // Regression (security review): the Bearer key is no way around the limit,
  // and from a limited address even the right one gets 429 (a 200 would tell).
  EXPECT_EQ(client.get(gw.url(kApi + "/routes"), with_header(kAdminBearer)).status, 429);
}

TEST(AdminApi, WithoutAnAdminKeyItIsOpenOnLoopbackWithCsrfForMutations) {
  TestGateway gw(R"(
providers:
  mock: {plugin: mock}
routes:
  mock: [mock]
)");
  HttpClient client;
  EXPECT_EQ(client.get(gw.url(kApi + "/routes")).status, 200);
  auto no_token = client.post(gw.url(kApi + "/providers/mock/reset"), "");
  EXPECT_EQ(no_token.status, 403);
  auto session = client.get(gw.url(kApi + "/session"));
  ASSERT_EQ(session.status, 200);
  EXPECT_THAT(session.body, HasSubstr(R"("via":"open")"));
  Login login;
  login.cookie = session.header("set-cookie").substr(0, session.header("set-cookie").find(';'));
  login.csrf = parse(session.body)["csrf_token"].GetString();
  EXPECT_EQ(client.post(gw.url(kApi + "/providers/mock/reset"), "", login.writes()).status, 200);
  // DNS rebinding: another site's name pointing at 127.0.0.1 gets nothing.
  for (const char* host : {"evil.example:8080", "127.evil.example:8080"}) {
    auto rebound = client.get(gw.url(kApi + "/routes"), with_header(std::string("Host: ") + host));
    EXPECT_EQ(rebound.status, 403) << host;
    EXPECT_EQ(error_code(rebound), "admin_disabled") << host;
  }
  // Beyond loopback without a key: refused.
  gw.gateway().admin_auth().set_loopback_listener(false);
  auto refused = client.get(gw.url(kApi + "/routes"));
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(error_code(refused), "admin_disabled");
}

TEST(AdminApi, ChangingTheAdminKeyEndsEverySession) {
  TestGateway gw(kConfig);
  HttpClient client;
  Login login = log_in(client, gw);
  std::string changed = kConfig;
  changed.replace(changed.find("k-admin-secret-0001"), 19, "k-admin-secret-0002");
  ASSERT_TRUE(gw.rewrite_and_reload(changed));
  EXPECT_EQ(client.get(gw.url(kApi + "/routes"), login.reads()).status, 401);
}

TEST(AdminApi, RootRedirectsBrowsersToThePanelAndKeepsJsonForScripts) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto browser = client.get(gw.url("/"), with_header("Accept: text/html,application/xhtml+xml,*/*;q=0.8"));
  EXPECT_EQ(browser.status, 302);
  EXPECT_EQ(browser.header("location"), "/ui/");
  for (const char* accept : {"*/*", "application/json", "application/json, text/html;q=0.5"}) {
    auto r = client.get(gw.url("/"), with_header(std::string("Accept: ") + accept));
    EXPECT_EQ(r.status, 200) << accept;
    EXPECT_EQ(r.body, R"({"name":"llmux","status":"ok"})");
  }
  EXPECT_EQ(client.get(gw.url("/")).body, R"({"name":"llmux","status":"ok"})");
}

// Browsers ask any page's server for /favicon.ico (a refused form post shown as
// a page, /v1/models opened in a tab): it is the panel's icon, not a 404 in the
// live log.
TEST(AdminApi, FaviconIsThePanelsIconAndNotTraffic) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto icon = client.get(gw.url("/favicon.ico"));
  EXPECT_EQ(icon.status, 200);
  EXPECT_EQ(icon.header("content-type"), client.get(gw.url("/ui/favicon.svg")).header("content-type"));
  EXPECT_THAT(icon.body, HasSubstr("<svg"));
  auto history = parse(client.get(gw.url(kApi + "/requests"), with_header(kAdminBearer)).body);
  EXPECT_EQ(history["requests"].Size(), 0u);
}

TEST(AdminApi, RoutesAndTheResolverShowAliasesRoutesAndChains) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto routes = parse(client.get(gw.url(kApi + "/routes"), with_header(kAdminBearer)).body);
  ASSERT_TRUE(routes.IsObject());
  EXPECT_STREQ(routes["routes"][0]["pattern"].GetString(), "gpt-*");
  EXPECT_STREQ(routes["routes"][0]["chain"][0]["provider"].GetString(), "mock");
  EXPECT_STREQ(routes["routes"][0]["models"][0].GetString(), "gpt-4o");
  EXPECT_STREQ(routes["aliases"][0]["target"].GetString(), "gpt-4o");

  auto resolved = client.get(gw.url(kApi + "/routes/resolve?model=gpt-4"), with_header(kAdminBearer));
  ASSERT_EQ(resolved.status, 200) << resolved.body;
  auto doc = parse(resolved.body);
  EXPECT_STREQ(doc["resolved"].GetString(), "gpt-4o");
  EXPECT_EQ(doc["aliases"].Size(), 2u);
  EXPECT_STREQ(doc["route"].GetString(), "gpt-*");
  EXPECT_STREQ(doc["chain"][0]["provider"].GetString(), "mock");
  EXPECT_STREQ(doc["chain"][0]["state"].GetString(), "up");
  auto unknown = client.get(gw.url(kApi + "/routes/resolve?model=llama-9"), with_header(kAdminBearer));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(error_code(unknown), "model_not_found");
  EXPECT_EQ(client.get(gw.url(kApi + "/routes/resolve"), with_header(kAdminBearer)).status, 400);
}

// Regression (review): query values came percent-encoded as sent (Pistache
// does not decode them); the panel writes them with URLSearchParams.
TEST(AdminApi, QueryValuesArePercentDecoded) {
  TestGateway gw(R"(
admin_key: k-admin-secret-0001
providers:
  mock: {plugin: mock}
routes:
  "meta/*": [mock]
)");
  HttpClient client;
  auto resolved = client.get(gw.url(kApi + "/routes/resolve?model=meta%2Fllama+3"), with_header(kAdminBearer));
  ASSERT_EQ(resolved.status, 200) << resolved.body;
  EXPECT_STREQ(parse(resolved.body)["model"].GetString(), "meta/llama 3");
}

// Regression (review): a provider without a pool answered 404 and then, when
// it dropped the action's callback, a second answer on the same connection.
TEST(AdminApi, APoolActionOnAProviderWithoutAPoolIsOne404) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto r = client.post(gw.url(kApi + "/pool/mock/credentials"), R"({"api_key":"x"})", with_header(kAdminBearer));
  EXPECT_EQ(r.status, 404);
  // The same connection (keep-alive) answers the next request cleanly.
  auto next = client.get(gw.url(kApi + "/routes"), with_header(kAdminBearer));
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.connects, 0);
  EXPECT_TRUE(parse(next.body).IsObject());
}

TEST(AdminApi, ProvidersShowStateAndKeysRedactedToTheirLastFourCharacters) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    exchange.respond(500, {{"Content-Type", "application/json"}}, R"({"error":{"message":"boom"}})");
  });
  TestGateway gw(R"(
admin_key: k-admin-secret-0001
providers:
  broken:
    plugin: openai
    options: {base_url: ")" + upstream.url() + R"(/v1", api_key: sk-test-0123456789abcdefWXYZ}
    retry: {attempts: 0}
    cooldown: {after_failures: 1, period: 10m}
  mock: {plugin: mock}
routes:
  "gpt-*": [broken, mock]
)");
  HttpClient client;
  EXPECT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi")).status, 200);  // mock answered
  auto r = client.get(gw.url(kApi + "/providers"), with_header(kAdminBearer));
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, Not(HasSubstr("sk-test-0123456789abcdef")));
  auto doc = parse(r.body);
  const auto& broken = doc["providers"][0];
  EXPECT_STREQ(broken["name"].GetString(), "broken");
  EXPECT_STREQ(broken["state"].GetString(), "cooldown");
  EXPECT_STREQ(broken["keys"][0].GetString(), "\u2026WXYZ");
  EXPECT_TRUE(broken["cooldown_until"].IsString());
  EXPECT_GE(broken["recent_errors"].Size(), 1u);
  EXPECT_EQ(broken["recent_errors"][0]["status"].GetInt(), 500);

  auto reset = client.post(gw.url(kApi + "/providers/broken/reset"), "", with_header(kAdminBearer));
  ASSERT_EQ(reset.status, 200) << reset.body;
  EXPECT_STREQ(parse(reset.body)["state"].GetString(), "up");
  EXPECT_EQ(client.post(gw.url(kApi + "/providers/nope/reset"), "", with_header(kAdminBearer)).status, 404);
}

TEST(AdminApi, PluginsListTheLoadedOnesWithTheirAbi) {
  TestGateway gw(kConfig);
  HttpClient client;
  auto doc = parse(client.get(gw.url(kApi + "/plugins"), with_header(kAdminBearer)).body);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["abi"].GetInt(), static_cast<int>(LLMUX_ABI_VERSION));
  bool mock = false;
  for (const auto& plugin : doc["plugins"].GetArray()) {
    mock = mock || std::string(plugin["name"].GetString()) == "mock";
    EXPECT_EQ(plugin["abi"].GetInt(), static_cast<int>(LLMUX_ABI_VERSION));
  }
  EXPECT_TRUE(mock);
  EXPECT_TRUE(doc["refused"].IsArray());
}

TEST(AdminApi, RequestsArePagedNewestFirstWithBoundsAndDetails) {
  TestGateway gw(kConfig);
  HttpClient client;
  RequestOptions as_alice = with_header("Authorization: Bearer k-client-0001");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hello " + std::to_string(i)),
                         as_alice);
    ASSERT_EQ(r.status, 200);
    ids.push_back(r.header("x-request-id"));
  }
  wait_for_history(gw, 5);
  // Admin calls are not traffic: they stay out of the live log.
  auto first = parse(client.get(gw.url(kApi + "/requests?limit=2"), with_header(kAdminBearer)).body);
  ASSERT_EQ(first["requests"].Size(), 2u);
  EXPECT_EQ(first["requests"][0]["id"].GetString(), ids[4]);
  EXPECT_EQ(first["requests"][1]["id"].GetString(), ids[3]);
  EXPECT_STREQ(first["requests"][0]["client"].GetString(), "alice");
  EXPECT_STREQ(first["requests"][0]["provider"].GetString(), "mock");
  ASSERT_TRUE(first["next_cursor"].IsString());
  auto second = parse(client.get(gw.url(kApi + "/requests?limit=2&cursor=" +
                                             std::string(first["next_cursor"].GetString())),
                                      with_header(kAdminBearer))
                               .body);
  EXPECT_EQ(second["requests"][0]["id"].GetString(), ids[2]);
  // Bounds: a huge limit is clamped, a bad cursor or limit is a 400.
  auto all = parse(client.get(gw.url(kApi + "/requests?limit=100000"), with_header(kAdminBearer)).body);
  EXPECT_EQ(all["requests"].Size(), 5u);
  EXPECT_EQ(client.get(gw.url(kApi + "/requests?cursor=zzz"), with_header(kAdminBearer)).status, 400);
  EXPECT_EQ(client.get(gw.url(kApi + "/requests?limit=x"), with_header(kAdminBearer)).status, 400);
  EXPECT_EQ(client.get(gw.url(kApi + "/requests?status=weird"), with_header(kAdminBearer)).status, 400);
  auto filtered = parse(client.get(gw.url(kApi + "/requests?status=4xx"), with_header(kAdminBearer)).body);
  EXPECT_EQ(filtered["requests"].Size(), 0u);

  auto detail = client.get(gw.url(kApi + "/requests/" + ids[0]), with_header(kAdminBearer));
  ASSERT_EQ(detail.status, 200);
  auto d = parse(detail.body);
  EXPECT_STREQ(d["attempts"][0]["provider"].GetString(), "mock");
  EXPECT_STREQ(d["attempts"][0]["outcome"].GetString(), "ok");
  EXPECT_THAT(detail.body, Not(HasSubstr("hello 0")));  // no prompt text is kept
  EXPECT_EQ(client.get(gw.url(kApi + "/requests/unknown-id"), with_header(kAdminBearer)).status, 404);
}

TEST(AdminApi, TheLiveFeedSendsEachFinishedRequest) {
  TestGateway gw(kConfig);
  std::atomic<bool> seen{false};
  std::string request_id;
  std::thread feed([&] {
    HttpClient listener;
    RequestOptions options = with_header(kAdminBearer);
    options.timeout = std::chrono::milliseconds(10000);
    std::string received;
    options.on_data = [&](const std::string& piece) {
      received += piece;
      if (received.find("event: request") != std::string::npos && received.find("\n\n", received.find("event: request")) != std::string::npos) {
        seen = true;
        return false;
      }
      return true;
    };
    listener.get(gw.url(kApi + "/events"), options);
  });
  // Requests until the feed has seen one (it subscribes asynchronously to this thread).
  HttpClient client;
  for (int i = 0; i < 200 && !seen; ++i) {
    client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"),
                with_header("Authorization: Bearer k-client-0001"));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  feed.join();
  EXPECT_TRUE(seen);
}

// Regression (security review): a feed whose client left must end then, not
// at its next write (up to 15 s later), or short-lived clients fill the 32 places.
TEST(AdminApi, ALiveFeedEndsWhenItsClientLeaves) {
  TestGateway gw(kConfig);
  auto& history = gw.gateway().observability().history();
  for (int i = 0; i < 40; ++i) {
    HttpClient listener;
    RequestOptions options = with_header(kAdminBearer);
    options.on_data = [](const std::string& piece) { return piece.find(": connected") == std::string::npos; };
    listener.get(gw.url(kApi + "/events"), options);  // returns once it saw the head, then disconnects
  }
  // The disconnects are processed on the server's event loops: wait for them (bounded).
  for (int i = 0; i < 500 && history.subscriber_count() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(history.subscriber_count(), 0u);
}

TEST(AdminApi, UsageComesAsJsonAndAsCsv) {
  TestGateway gw(kConfig);
  HttpClient client;
  ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"),
                        with_header("Authorization: Bearer k-client-0001"))
                .status,
            200);
  wait_for_history(gw, 1);
  auto json = parse(client.get(gw.url(kApi + "/usage?period=hour"), with_header(kAdminBearer)).body);
  ASSERT_EQ(json["rows"].Size(), 1u);
  EXPECT_STREQ(json["rows"][0]["model"].GetString(), "gpt-4o");
  EXPECT_STREQ(json["rows"][0]["client"].GetString(), "alice");
  EXPECT_EQ(json["rows"][0]["requests"].GetInt(), 1);
  auto csv = client.get(gw.url(kApi + "/usage?period=day&format=csv"), with_header(kAdminBearer));
  EXPECT_EQ(csv.status, 200);
  EXPECT_THAT(csv.header("content-type"), HasSubstr("text/csv"));
  EXPECT_THAT(csv.header("content-disposition"), HasSubstr("llmux-usage-day.csv"));
  EXPECT_THAT(csv.body, HasSubstr("start,model,provider,client,requests,errors,input_tokens,output_tokens"));
  EXPECT_THAT(csv.body, HasSubstr(",gpt-4o,mock,alice,1,0,"));
  EXPECT_EQ(client.get(gw.url(kApi + "/usage?period=week"), with_header(kAdminBearer)).status, 400);
}

TEST(AdminApi, ThePlaygroundAnswersAsTheRealApisDo) {
  TestGateway gw(kConfig);
  HttpClient client;
  RequestOptions options = with_header(kAdminBearer);
  auto openai = client.post(gw.url(kApi + "/playground"),
                            R"({"api":"openai","body":{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}})",
                            options);
  ASSERT_EQ(openai.status, 200) << openai.body;
  EXPECT_THAT(openai.header("content-type"), HasSubstr("text/event-stream"));
  EXPECT_THAT(openai.body, HasSubstr("\"object\":\"chat.completion.chunk\""));
  EXPECT_THAT(openai.body, HasSubstr("data: [DONE]"));
  auto anthropic = client.post(gw.url(kApi + "/playground"),
                               R"({"api":"anthropic","body":{"model":"gpt-4o","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}})",
                               options);
  ASSERT_EQ(anthropic.status, 200) << anthropic.body;
  EXPECT_THAT(anthropic.body, HasSubstr("event: message_start"));
  EXPECT_THAT(anthropic.body, HasSubstr("event: message_stop"));
  EXPECT_EQ(client.post(gw.url(kApi + "/playground"), R"({"api":"gemini","body":{}})", options).status, 400);
}

TEST(AdminApi, TheOverviewShowsUptimeConfigAndTheLastHour) {
  TestGateway gw(kConfig);
  HttpClient client;
  ASSERT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"),
                        with_header("Authorization: Bearer k-client-0001"))
                .status,
            200);
  wait_for_history(gw, 1);
  auto r = client.get(gw.url(kApi + "/overview"), with_header(kAdminBearer));
  ASSERT_EQ(r.status, 200);
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["version"].GetString(), LLMUX_VERSION);
  EXPECT_GE(doc["uptime_s"].GetInt64(), 0);
  EXPECT_EQ(doc["config"]["file"].GetString(), gw.config_path().string());
  EXPECT_TRUE(doc["config"]["last_reload"]["ok"].GetBool());
  EXPECT_EQ(doc["stats"]["step_s"].GetInt(), 10);
  EXPECT_EQ(doc["stats"]["t"].Size(), doc["stats"]["total"]["requests"].Size());
  int total = 0;
  for (const auto& n : doc["stats"]["total"]["requests"].GetArray()) total += n.IsNull() ? 0 : n.GetInt();
  EXPECT_EQ(total, 1);  // the chat; admin calls are not traffic
  EXPECT_TRUE(doc["stats"]["providers"].HasMember("mock"));
}

TEST(AdminApi, TheConfigIsShownWithSecretsRedactedAndValidatedWithItsPosition) {
  TestGateway gw(kConfig);
  HttpClient client;
  Login login = log_in(client, gw);
  auto r = client.get(gw.url(kApi + "/config"), login.reads());
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = parse(r.body);
  std::string text = doc["text"].GetString();
  EXPECT_THAT(r.body, Not(HasSubstr("k-admin-secret-0001")));
  EXPECT_THAT(r.body, Not(HasSubstr("k-client-0001")));
  EXPECT_THAT(text, HasSubstr("<redacted:"));
  EXPECT_THAT(text, HasSubstr("\"gpt-*\":"));  // the rest byte for byte

  // The redacted text validates as it is (placeholders stand for the secrets).
  std::string body = "{\"text\":";
  json::append_quoted(body, text);
  body += "}";
  auto ok = client.post(gw.url(kApi + "/config/validate"), body, login.writes());
  EXPECT_EQ(ok.status, 200) << ok.body;
  // A broken edit: 422 with line and column; the running table keeps serving.
  std::string broken = text + "routes:\n  oops: [\n";
  body = "{\"text\":";
  json::append_quoted(body, broken);
  body += "}";
  auto bad = client.post(gw.url(kApi + "/config/validate"), body, login.writes());
  ASSERT_EQ(bad.status, 422) << bad.body;
  auto error = parse(bad.body);
  EXPECT_FALSE(error["ok"].GetBool());
  EXPECT_GT(error["error"]["line"].GetInt(), 10);
  EXPECT_GT(error["error"]["column"].GetInt(), 0);
  auto applied_bad = client.post(gw.url(kApi + "/config/apply"), body, login.writes());
  EXPECT_EQ(applied_bad.status, 422);
  EXPECT_EQ(client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"),
                        with_header("Authorization: Bearer k-client-0001"))
                .status,
            200);
}

TEST(AdminApi, ApplyWritesTheFileKeepsABackupAndReloads) {
  TestGateway gw(kConfig);
  HttpClient client;
  Login login = log_in(client, gw);
  const std::string before = client.get(gw.url(kApi + "/config"), login.reads()).body;
  std::string text = parse(before)["text"].GetString();
  ASSERT_EQ(client.get(gw.url(kApi + "/routes/resolve?model=llama-3"), login.reads()).status, 404);
  text.replace(text.find("routes:\n"), 8, "routes:\n  \"llama-*\": [mock]\n");
  std::string body = "{\"text\":";
  json::append_quoted(body, text);
  body += "}";
  auto r = client.post(gw.url(kApi + "/config/apply"), body, login.writes());
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = parse(r.body);
  EXPECT_TRUE(doc["ok"].GetBool());
  std::filesystem::path backup = doc["backup"].GetString();
  EXPECT_TRUE(std::filesystem::exists(backup));
  std::ifstream file(gw.config_path());
  std::string written((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_THAT(written, HasSubstr("\"llama-*\": [mock]"));
  EXPECT_THAT(written, HasSubstr("k-admin-secret-0001"));  // the secret came back from its placeholder
  EXPECT_THAT(written, Not(HasSubstr("<redacted:")));
  EXPECT_EQ(client.get(gw.url(kApi + "/routes/resolve?model=llama-3"), login.reads()).status, 200);
  // Regression (browser tests): the file watcher saw a change that apply had
  // already loaded and reloaded it again (two generations per apply).
  EXPECT_FALSE(gw.gateway().config_changed_on_disk());
  EXPECT_EQ(doc["generation"].GetUint64(), gw.gateway().generation());
  // The session survived the reload (same admin key).
  EXPECT_EQ(client.post(gw.url(kApi + "/config/reload"), "", login.writes()).status, 200);
}

// ---------------------------------------------------------------------------
// Admin actions that wait for the disk run off the I/O threads (issue 14)

// The mock, and a claude provider whose credential "a" has `key`: a state
// record that remembers another key makes the provider rewrite it when it
// starts (a write HeldWrites can hold).
std::string pool_config(const FakeAnthropic& fake, const std::string& key, const std::filesystem::path& state) {
  return "admin_key: k-admin-secret-0001\nstate_dir: " + state.string() + R"(
providers:
  mock:
    plugin: mock
  claude:
    plugin: claude
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      base_url: )" + fake.base_url() + R"(
      token_url: )" + fake.token_url() + R"(
      credentials:
        - {label: a, api_key: )" + key + R"(}
routes:
  mock: [mock]
  "claude-*": [claude]
)";
}

host::ServerOptions one_io_thread() {
  host::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  return options;
}

// Regression: /config/reload and /config/apply rebuilt the providers on the
// I/O thread that took the request, so a reload that waits (a provider
// writing its state, a plugin loading) held every connection of that thread.
TEST(AdminApi, AReloadOrApplyThatWaitsForTheDiskHoldsNoOtherRequest) {
  FakeAnthropic fake;
  const std::string first = "sk-ant-api-reload-first-00001", second = "sk-ant-api-reload-second-0002";
  TempDir state;
  std::filesystem::create_directories(state.path());
  state.write("claude--credential-a.state", R"({"v":1,"origin":"0123456789abcdef","generation":1})");
  TestGateway gw(pool_config(fake, first, state.path()), one_io_thread());
  HttpClient client;
  RequestOptions admin = with_header(kAdminBearer);

  auto check_others_are_served = [&](HeldWrites& held) {
    ASSERT_TRUE(held.wait_held()) << "the new provider writes its record";
    HttpClient other;
    auto answer = other.post(gw.url("/v1/chat/completions"), chat_body("mock", "while reloading"));
    EXPECT_EQ(answer.status, 200) << answer.body;
    EXPECT_EQ(other.get(gw.url(kApi + "/overview"), admin).status, 200);
    EXPECT_TRUE(held.holding()) << "answered while the reload was still waiting for the disk";
    held.release();
  };
  {
    HeldWrites held("credential-a");
    std::ofstream(gw.config_path()) << gw.config_text(pool_config(fake, second, state.path()));
    auto reload = std::async(std::launch::async,
                             [&] { return client.post(gw.url(kApi + "/config/reload"), "", admin); });
    check_others_are_served(held);
    auto reloaded = reload.get();
    EXPECT_EQ(reloaded.status, 200) << reloaded.body;
  }
  {
    HeldWrites held("credential-a");
    std::string body = R"({"text":)";
    json::append_quoted(body, gw.config_text(pool_config(fake, first, state.path())));
    body += "}";
    HttpClient applier;
    RequestOptions writes = with_header(kAdminBearer);
    writes.headers.push_back("Content-Type: application/json");
    auto apply = std::async(std::launch::async,
                            [&] { return applier.post(gw.url(kApi + "/config/apply"), body, writes); });
    check_others_are_served(held);
    auto applied = apply.get();
    EXPECT_EQ(applied.status, 200) << applied.body;
  }
}

// Regression: a pool action (here an addition, which stores the list of
// added credentials and waits for its fsync) ran on the I/O thread.
TEST(AdminApi, APoolActionThatWaitsForTheDiskHoldsNoOtherRequest) {
  FakeAnthropic fake;
  TempDir state;
  TestGateway gw(pool_config(fake, "sk-ant-api-pool-first-000001", state.path()), one_io_thread());
  HeldWrites held("admin-credentials");
  HttpClient client;
  auto add = std::async(std::launch::async, [&] {
    return client.post(gw.url(kApi + "/pool/claude/credentials"),
                       R"({"label":"added","api_key":"sk-ant-api-added-held-0002"})", with_header(kAdminBearer));
  });
  ASSERT_TRUE(held.wait_held());
  HttpClient other;
  EXPECT_EQ(other.post(gw.url("/v1/chat/completions"), chat_body("mock", "while adding")).status, 200);
  EXPECT_EQ(other.get(gw.url(kApi + "/pool"), with_header(kAdminBearer)).status, 200);
  EXPECT_TRUE(held.holding()) << "answered while the addition was still waiting for the disk";
  held.release();
  auto added = add.get();
  EXPECT_EQ(added.status, 201) << added.body;
}

TEST(AdminApi, ThePoolTakesACredentialAndNeverShowsItsSecret) {
  FakeAnthropic fake;
  fake.allow("sk-ant-api-existing-0001");
  fake.allow("sk-ant-api-added-by-admin-0002");
  TestGateway gw(R"(
admin_key: k-admin-secret-0001
providers:
  claude:
    plugin: claude
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      base_url: )" + fake.base_url() + R"(
      token_url: )" + fake.token_url() + R"(
      credentials:
        - {label: existing, api_key: sk-ant-api-existing-0001}
routes:
  "claude-*": [claude]
)");
  HttpClient client;
  RequestOptions admin = with_header(kAdminBearer);
  auto added = client.post(gw.url(kApi + "/pool/claude/credentials"),
                           R"({"label":"added","api_key":"sk-ant-api-added-by-admin-0002"})", admin);
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_THAT(added.body, Not(HasSubstr("sk-ant-api-added")));
  EXPECT_STREQ(parse(added.body)["label"].GetString(), "added");
  auto pool = client.get(gw.url(kApi + "/pool"), admin);
  EXPECT_THAT(pool.body, Not(HasSubstr("sk-ant-api")));
  auto doc = parse(pool.body);
  EXPECT_EQ(doc["providers"][0]["credentials"].Size(), 2u);
  EXPECT_EQ(client.post(gw.url(kApi + "/pool/claude/credentials"), R"({"label":"added","api_key":"x"})", admin)
                .status,
            409);
  EXPECT_EQ(client.post(gw.url(kApi + "/pool/claude/credentials/existing/disable"), "", admin).status, 200);
  EXPECT_EQ(client.post(gw.url(kApi + "/pool/claude/credentials/nope/disable"), "", admin).status, 404);
  EXPECT_EQ(client.request("DELETE", gw.url(kApi + "/pool/claude/credentials/existing"), "", admin).status, 409);
  EXPECT_EQ(client.request("DELETE", gw.url(kApi + "/pool/claude/credentials/added"), "", admin).status, 204);
  // Regression: a label the panel writes with encodeURIComponent is decoded.
  ASSERT_EQ(client.post(gw.url(kApi + "/pool/claude/credentials"), R"({"label":"team key é","api_key":"sk-ant-x-0003"})",
                        admin)
                .status,
            201);
  auto disabled = client.post(gw.url(kApi + "/pool/claude/credentials/team%20key%20%C3%A9/disable"), "", admin);
  EXPECT_EQ(disabled.status, 200) << disabled.body;
  EXPECT_EQ(client.post(gw.url(kApi + "/pool/nope/credentials"), R"({"api_key":"x"})", admin).status, 404);
}

}  // namespace
}  // namespace llmux::test

namespace llmux::test {
namespace {

// Time for AdminAuth, moved by the test.
class ManualClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return steady; }
  std::chrono::system_clock::time_point wall_now() const override { return wall; }
  void advance(std::chrono::seconds by) {
    steady += by;
    wall += by;
  }
  std::chrono::steady_clock::time_point steady{std::chrono::hours(1000)};
  std::chrono::system_clock::time_point wall{std::chrono::hours(490000)};
};

// A request with only the headers a test gives it.
class HeaderRequest final : public host::InboundRequest {
 public:
  explicit HeaderRequest(std::map<std::string, std::string> headers) : headers_(std::move(headers)) {}
  std::string_view method() const override { return "GET"; }
  std::string_view path() const override { return "/admin/api/v1/routes"; }
  std::optional<std::string> header(std::string_view name) const override {
    auto it = headers_.find(std::string(name));
    if (it == headers_.end()) return std::nullopt;
    return it->second;
  }
  std::string& body() override { return body_; }

 private:
  std::map<std::string, std::string> headers_;
  std::string body_;
};

TEST(AdminAuth, SessionsExpireOnTheServerAfterTheirTtl) {
  ManualClock clock;
  host::AdminAuth auth(&clock);
  auth.configure({"k-admin", std::chrono::hours(12)});
  host::AdminSession session;
  ASSERT_FALSE(auth.login("k-admin", "10.0.0.1", session).has_value());
  HeaderRequest with_cookie({{"Cookie", "a=b; llmux_session=" + session.cookie}});
  EXPECT_TRUE(auth.check(with_cookie, false).allowed());
  clock.advance(std::chrono::hours(12) - std::chrono::seconds(1));
  EXPECT_TRUE(auth.check(with_cookie, false).allowed());
  clock.advance(std::chrono::seconds(1));
  auto expired = auth.check(with_cookie, false);
  ASSERT_FALSE(expired.allowed());
  EXPECT_EQ(expired.error->status, 401);
}

TEST(AdminAuth, FailedLoginsAreCountedPerAddressForOneMinute) {
  ManualClock clock;
  host::AdminAuth auth(&clock);
  auth.configure({"k-admin", std::chrono::hours(12)});
  host::AdminSession session;
  for (int i = 0; i < host::AdminAuth::kMaxFailedLogins; ++i) {
    EXPECT_EQ(auth.login("guess", "10.0.0.1", session)->status, 401);
    clock.advance(std::chrono::seconds(1));
  }
  auto limited = auth.login("k-admin", "10.0.0.1", session);
  ASSERT_TRUE(limited.has_value());
  EXPECT_EQ(limited->status, 429);
  ASSERT_TRUE(limited->retry_after.has_value());
  EXPECT_EQ(*limited->retry_after, std::chrono::seconds(50));  // the first failure leaves the window then
  EXPECT_FALSE(auth.login("k-admin", "10.0.0.2", session).has_value());  // another address is not limited
  clock.advance(std::chrono::seconds(50));
  EXPECT_FALSE(auth.login("k-admin", "10.0.0.1", session).has_value());
}

TEST(AdminAuth, KeysAndTokensAreComparedInConstantTimeShape) {
  EXPECT_TRUE(host::constant_time_equal("abc", "abc"));
  EXPECT_FALSE(host::constant_time_equal("abc", "abd"));
  EXPECT_FALSE(host::constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(host::constant_time_equal("", "a"));
  EXPECT_TRUE(host::is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(host::is_loopback_host("localhost"));
  EXPECT_TRUE(host::is_loopback_host("::1"));
  EXPECT_FALSE(host::is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(host::is_loopback_host("192.168.1.2"));
  // Regression (security review): names that merely start like a loopback address.
  EXPECT_FALSE(host::is_loopback_host("127.evil.example"));
  EXPECT_FALSE(host::is_loopback_host("127.0.0.1.nip.io"));
  EXPECT_TRUE(host::is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(host::is_loopback_host("[::1]"));
  EXPECT_FALSE(host::is_loopback_host("[::2]"));
}

}  // namespace
}  // namespace llmux::test
