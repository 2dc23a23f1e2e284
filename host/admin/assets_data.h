// The table cmake/embed_assets.cmake generates at build time (every file under
// host/admin/www/); only assets.cc reads it.
#pragma once

#include <cstddef>

namespace llmux::host::embedded {

struct File {
  const char* path;  // "/ui/app.js": the file's path under www/, with a leading slash
  const unsigned char* raw;
  std::size_t raw_size;
  const unsigned char* gzip;  // gzip -9 -n of raw
  std::size_t gzip_size;
  const char* etag;  // "\"<first 20 hex digits of the SHA-256 of raw>\""
};

extern const File* const kFiles;
extern const std::size_t kFileCount;

}  // namespace llmux::host::embedded
