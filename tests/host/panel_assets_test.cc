// The panel's embedded assets (host/admin/assets.h) and their serving
// (host/admin/static_api.cc): the download budget, the strict-CSP rules the
// HTML keeps, gzip bodies that match the raw ones, and the answers over a real
// loopback server (ETag/304, gzip negotiation, cache rules, open access).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "admin/assets.h"
#include "admin/security_headers.h"
#include "api/inbound_api.h"
#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::size_t kGzipBudgetBytes = 250 * 1024;

const host::Asset& asset(std::string_view path) {
  const host::Asset* found = host::find_asset(path);
  if (found == nullptr) throw std::runtime_error("no embedded asset " + std::string(path));
  return *found;
}

std::uint32_t little_endian_u32(std::string_view bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)]);
  return value;
}

TEST(PanelAssets, TheWholePanelFitsTheGzipBudget) {
  std::size_t total = 0;
  for (const host::Asset* a : host::all_assets()) total += a->gzip.size();
  EXPECT_EQ(host::assets_gzip_bytes(), total);
  EXPECT_LE(total, kGzipBudgetBytes) << "the panel's assets weigh " << total << " bytes gzipped";
  RecordProperty("gzip_bytes", static_cast<int>(total));
}

TEST(PanelAssets, ThePanelTheDocsAndTheirLibrariesAreEmbedded) {
  for (const char* path : {"/ui/index.html", "/ui/app.js", "/ui/lib.js", "/ui/app.css", "/ui/vendor/preact.mjs",
                           "/ui/vendor/preact-hooks.mjs", "/ui/vendor/htm.mjs", "/ui/vendor/uPlot.iife.min.js",
                           "/ui/vendor/LICENSE.preact", "/ui/vendor/LICENSE.htm", "/ui/vendor/LICENSE.uplot",
                           "/docs/index.html", "/docs/docs.js"}) {
    EXPECT_NE(host::find_asset(path), nullptr) << path;
  }
  EXPECT_EQ(host::find_asset("/ui/"), nullptr);  // the aliases are the API's business, not the table's
  EXPECT_EQ(host::find_asset("/ui/app"), nullptr);
  // Sorted and unique: find_asset's binary search relies on it.
  const auto& all = host::all_assets();
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1]->path, all[i]->path);
}

TEST(PanelAssets, GzipBodiesAreReproducibleAndMatchTheRawSize) {
  for (const host::Asset* a : host::all_assets()) {
    SCOPED_TRACE(std::string(a->path));
    ASSERT_GE(a->gzip.size(), 18u);
    EXPECT_EQ(static_cast<unsigned char>(a->gzip[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(a->gzip[1]), 0x8b);
    EXPECT_EQ(a->gzip[3] & 0x08, 0) << "gzip -n stores no file name";
    EXPECT_EQ(little_endian_u32(a->gzip, 4), 0u) << "gzip -n stores no time stamp";
    EXPECT_EQ(little_endian_u32(a->gzip, a->gzip.size() - 4), a->body.size()) << "ISIZE is the raw size";
    EXPECT_THAT(std::string(a->etag), ::testing::MatchesRegex("\"[0-9a-f]{20}\""));
  }
  EXPECT_NE(asset("/ui/app.js").etag, asset("/ui/lib.js").etag);
}

TEST(PanelAssets, HtmlHasNoInlineScriptOrStyle) {
  const std::regex script_tag(R"(<script\b([^>]*)>)", std::regex::icase);
  const std::regex event_attribute(R"(\son[a-z]+\s*=)", std::regex::icase);
  const std::regex style_attribute(R"(\sstyle\s*=)", std::regex::icase);
  int pages = 0;
  for (const host::Asset* a : host::all_assets()) {
    if (a->content_type.substr(0, 9) != "text/html") continue;
    ++pages;
    SCOPED_TRACE(std::string(a->path));
    const std::string page(a->body);
    int scripts = 0;
    for (auto it = std::sregex_iterator(page.begin(), page.end(), script_tag); it != std::sregex_iterator(); ++it) {
      ++scripts;
      EXPECT_THAT((*it)[1].str(), HasSubstr("src=")) << "inline script: " << it->str();
    }
    EXPECT_GE(scripts, 1);
    EXPECT_FALSE(std::regex_search(page, event_attribute)) << "an on*= handler attribute";
    EXPECT_FALSE(std::regex_search(page, style_attribute)) << "a style attribute";
    EXPECT_THAT(page, Not(HasSubstr("<style")));
    EXPECT_THAT(page, Not(HasSubstr("javascript:")));
    EXPECT_THAT(page, Not(HasSubstr("//cdn"))) << "everything is served by llmux itself";
  }
  EXPECT_EQ(pages, 2);  // the panel and /docs
}

TEST(PanelAssets, ThePanelsOwnScriptsNeverWriteMarkup) {
  for (const host::Asset* a : host::all_assets()) {
    if (a->content_type.substr(0, 15) != "text/javascript" || a->path.find("/vendor/") != std::string_view::npos) {
      continue;
    }
    SCOPED_TRACE(std::string(a->path));
    const std::string code(a->body);
    EXPECT_THAT(code, Not(HasSubstr("innerHTML")));
    EXPECT_THAT(code, Not(HasSubstr("dangerouslySetInnerHTML")));
    EXPECT_THAT(code, Not(HasSubstr("eval(")));
    EXPECT_THAT(code, Not(HasSubstr(" style=")));
    EXPECT_THAT(code, Not(HasSubstr("localStorage"))) << "the CSRF token stays in memory";
  }
}

TEST(PanelAssets, ContentTypesFollowTheExtension) {
  EXPECT_EQ(host::content_type_for("/ui/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(host::content_type_for("/ui/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(host::content_type_for("/ui/vendor/preact.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(host::content_type_for("/ui/app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(host::content_type_for("/openapi.json"), "application/json");
  EXPECT_EQ(host::content_type_for("/ui/favicon.svg"), "image/svg+xml");
  EXPECT_EQ(host::content_type_for("/ui/vendor/LICENSE.uplot"), "text/plain; charset=utf-8");
  EXPECT_EQ(host::content_type_for("/ui/blob"), "application/octet-stream");
}

TEST(PanelAssets, TheRegistryAnswersEveryAssetPath) {
  const host::ApiRegistry& registry = host::default_registry();
  for (const host::Asset* a : host::all_assets()) {
    const host::InboundApi* api = registry.find(a->path, "GET");
    ASSERT_NE(api, nullptr) << a->path;
    EXPECT_EQ(api->name(), "panel.assets");
    EXPECT_EQ(api->access(), host::Access::Open);
  }
  for (const char* alias : {"/ui", "/ui/", "/docs"}) {
    ASSERT_NE(registry.find(alias, "GET"), nullptr) << alias;
    EXPECT_EQ(registry.find(alias, "GET")->name(), "panel.assets");
  }
}

// Keys everywhere: the assets are served without any.
const char* kConfig = R"(
client_keys: [k-client-0001]
admin_key: k-admin-0001
providers:
  mock:
    plugin: mock
routes:
  mock: [mock]
)";

class PanelServing : public ::testing::Test {
 protected:
  TestGateway gw{kConfig};
  HttpClient http;
};

void expect_security_headers(const HttpResponse& r) {
  EXPECT_THAT(r.header("content-security-policy"), HasSubstr("script-src 'self'; style-src 'self'"));
  EXPECT_EQ(r.header("x-frame-options"), "DENY");
  EXPECT_EQ(r.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(r.header("referrer-policy"), "no-referrer");
}

TEST_F(PanelServing, UiAndUiSlashServeThePanelsIndexWithoutAKey) {
  const host::Asset& index = asset("/ui/index.html");
  for (const char* path : {"/ui", "/ui/", "/ui/index.html"}) {
    SCOPED_TRACE(path);
    HttpResponse r = http.get(gw.url(path));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, index.body);
    EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
    EXPECT_EQ(r.header("cache-control"), "no-cache");
    EXPECT_EQ(r.header("etag"), index.etag);
    EXPECT_EQ(r.header("content-encoding"), "");
    expect_security_headers(r);
  }
}

TEST_F(PanelServing, DocsServesTheDocsPage) {
  HttpResponse r = http.get(gw.url("/docs"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, asset("/docs/index.html").body);
  expect_security_headers(r);
}

TEST_F(PanelServing, GzipWhenTheClientAcceptsIt) {
  const host::Asset& app = asset("/ui/app.js");
  HttpResponse r = http.get(gw.url("/ui/app.js"), with_header("Accept-Encoding: br, gzip;q=0.8"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-encoding"), "gzip");
  EXPECT_EQ(r.header("vary"), "Accept-Encoding");
  EXPECT_EQ(r.body, app.gzip);
  EXPECT_EQ(r.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(r.header("cache-control"), "public, max-age=3600");
  expect_security_headers(r);

  for (const char* refusal : {"Accept-Encoding: gzip;q=0", "Accept-Encoding: br", "Accept-Encoding: identity"}) {
    SCOPED_TRACE(refusal);
    HttpResponse raw = http.get(gw.url("/ui/app.js"), with_header(refusal));
    ASSERT_EQ(raw.status, 200);
    EXPECT_EQ(raw.header("content-encoding"), "");
    EXPECT_EQ(raw.body, app.body);
  }
}

TEST_F(PanelServing, AMatchingETagAnswers304WithoutABody) {
  const host::Asset& css = asset("/ui/app.css");
  HttpResponse r = http.get(gw.url("/ui/app.css"), with_header("If-None-Match: \"0000\", " + std::string(css.etag)));
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("etag"), css.etag);
  HttpResponse stale = http.get(gw.url("/ui/app.css"), with_header("If-None-Match: \"0000\""));
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body, css.body);
}

TEST_F(PanelServing, UnknownFilesAreNotFoundAndOnlyGetIsAllowed) {
  EXPECT_EQ(http.get(gw.url("/ui/nope.js")).status, 404);
  EXPECT_EQ(http.get(gw.url("/ui/vendor")).status, 404);
  EXPECT_EQ(http.post(gw.url("/ui/app.js"), "{}").status, 405);
}

}  // namespace
}  // namespace llmux::test
