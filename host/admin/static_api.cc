// GET for the panel's embedded assets (admin/assets.h): every file under
// host/admin/www/ at its own path, /ui and /ui/ as the panel's index.html,
// /docs as docs/index.html, /favicon.ico as the panel's icon (browsers ask for
// it on any page of the server, a JSON answer included: a 404 there would be
// noise in the live log, which shows every request outside the panel). Open access: the assets hold no secret (the data
// behind them needs the admin login).
#include <string>

#include "admin/assets.h"
#include "admin/security_headers.h"
#include "api/registrations.h"

namespace llmux::host {
namespace {

// Does Accept-Encoding allow gzip (named or "*", and not with q=0)?
bool accepts_gzip(std::string_view accept_encoding) {
  while (!accept_encoding.empty()) {
    auto comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    auto semicolon = item.find(';');
    std::string_view coding = item.substr(0, semicolon);
    while (!coding.empty() && coding.front() == ' ') coding.remove_prefix(1);
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    if (coding != "gzip" && coding != "*") continue;
    if (semicolon != std::string_view::npos) {
      std::string_view params = item.substr(semicolon + 1);
      auto q = params.find("q=");
      if (q != std::string_view::npos && params.substr(q + 2).find_first_not_of("0. ") == std::string_view::npos) {
        return false;  // q=0: "not acceptable"
      }
    }
    return true;
  }
  return false;
}

// Does If-None-Match name `etag` (or "*")? Weak comparison, as RFC 9110 asks.
bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.find('*') != std::string_view::npos) return true;
  while (!if_none_match.empty()) {
    auto comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    if_none_match = comma == std::string_view::npos ? std::string_view() : if_none_match.substr(comma + 1);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

const Asset* asset_for(std::string_view path) {
  if (path == "/ui" || path == "/ui/") return find_asset("/ui/index.html");
  if (path == "/docs" || path == "/docs/") return find_asset("/docs/index.html");
  if (path == "/favicon.ico") return find_asset("/ui/favicon.svg");
  return find_asset(path);
}

class StaticAssetsApi final : public InboundApi {
 public:
  std::string_view name() const override { return "panel.assets"; }
  bool traffic() const override { return false; }  // the panel loading itself
  std::vector<std::string> paths() const override {
    std::vector<std::string> paths = {"/ui", "/ui/", "/docs", "/docs/", "/favicon.ico"};
    for (const Asset* asset : all_assets()) paths.emplace_back(asset->path);
    return paths;
  }
  std::string_view method() const override { return "GET"; }
  Access access() const override { return Access::Open; }

  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    const Asset* asset = asset_for(call.request.path());
    if (asset == nullptr) {  // /ui or /docs before their index.html exists
      call.fail(Error::make(404, "invalid_request_error", "Not found.", "not_found"));
      return nullptr;
    }
    const bool html = asset->content_type.substr(0, 9) == "text/html";
    std::string headers(kPanelSecurityHeaders);
    headers.append("ETag: ").append(asset->etag).append("\r\n");
    headers.append(html ? "Cache-Control: no-cache\r\n" : "Cache-Control: public, max-age=3600\r\n");
    headers.append("Vary: Accept-Encoding\r\n");
    if (auto tags = call.request.header("If-None-Match"); tags && etag_matches(*tags, asset->etag)) {
      call.respond(304, asset->content_type, {}, headers);
      return nullptr;
    }
    auto encodings = call.request.header("Accept-Encoding");
    if (encodings && accepts_gzip(*encodings)) {
      headers.append("Content-Encoding: gzip\r\n");
      call.respond(200, asset->content_type, asset->gzip, headers);
    } else {
      call.respond(200, asset->content_type, asset->body, headers);
    }
    return nullptr;
  }
};

}  // namespace

std::unique_ptr<InboundApi> make_static_assets_api() { return std::make_unique<StaticAssetsApi>(); }

}  // namespace llmux::host
