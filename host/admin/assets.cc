#include "admin/assets.h"

#include <algorithm>
#include <array>
#include <utility>

#include "admin/assets_data.h"

namespace llmux::host {
namespace {

std::string_view bytes(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

struct Catalogue {
  std::vector<Asset> assets;
  std::vector<const Asset*> pointers;
  std::size_t gzip_bytes = 0;
};

const Catalogue& catalogue() {
  static const Catalogue built = [] {
    Catalogue c;
    c.assets.reserve(embedded::kFileCount);
    for (std::size_t i = 0; i < embedded::kFileCount; ++i) {
      const embedded::File& file = embedded::kFiles[i];
      c.assets.push_back({file.path, content_type_for(file.path), bytes(file.raw, file.raw_size),
                          bytes(file.gzip, file.gzip_size), file.etag});
      c.gzip_bytes += file.gzip_size;
    }
    std::sort(c.assets.begin(), c.assets.end(), [](const Asset& a, const Asset& b) { return a.path < b.path; });
    for (const Asset& asset : c.assets) c.pointers.push_back(&asset);
    return c;
  }();
  return built;
}

}  // namespace

std::string_view content_type_for(std::string_view path) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},
  }};
  for (const auto& [extension, type] : kTypes) {
    if (path.size() >= extension.size() && path.substr(path.size() - extension.size()) == extension) return type;
  }
  // LICENSE.preact and the like are text; anything else unknown is served as bytes.
  if (path.find("/LICENSE") != std::string_view::npos) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

const Asset* find_asset(std::string_view path) {
  const auto& assets = catalogue().pointers;
  auto it = std::lower_bound(assets.begin(), assets.end(), path,
                             [](const Asset* asset, std::string_view p) { return asset->path < p; });
  return it != assets.end() && (*it)->path == path ? *it : nullptr;
}

const std::vector<const Asset*>& all_assets() { return catalogue().pointers; }

std::size_t assets_gzip_bytes() { return catalogue().gzip_bytes; }

}  // namespace llmux::host
