// The panel's web assets (host/admin/www/: /ui/, /docs/, /openapi.json),
// embedded in the binary at build time, raw and gzip-compressed. Nothing is
// read from disk at run time.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace llmux::host {

struct Asset {
  std::string_view path;          // "/ui/app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;          // the file as it is
  std::string_view gzip;          // gzip -9 -n of body
  std::string_view etag;          // a strong validator, quotes included
};

// The asset at exactly `path`, or null.
const Asset* find_asset(std::string_view path);
// Every asset, sorted by path.
const std::vector<const Asset*>& all_assets();
// The gzip bodies' total size: what a browser downloads for all of them.
std::size_t assets_gzip_bytes();
// The Content-Type for a file name, by its extension.
std::string_view content_type_for(std::string_view path);

}  // namespace llmux::host
