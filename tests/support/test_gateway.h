// An llmux gateway and server running in the test process on a free loopback
// port, configured from YAML text written to a temporary directory.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "gateway/gateway.h"
#include "server/http_server.h"

namespace llmux::test {

// A fresh temporary directory, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

// The directory holding the in-tree plugins (llmux-mock.so).
std::filesystem::path plugin_dir();
// The directory holding the test fixture plugins (llmux-fixture.so, refused files).
std::filesystem::path fixture_plugin_dir();

// A plugins folder of its own for one test: symlinks to the given plugin files
// (never copies over a shared folder: rewriting a .so another test process has
// mapped crashes that process).
class PluginDir {
 public:
  explicit PluginDir(std::initializer_list<std::filesystem::path> files);
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  TempDir dir_;
};

class TestGateway {
 public:
  // `yaml` is a providers.yaml body without plugins_dir and listen (added here).
  explicit TestGateway(const std::string& yaml, host::ServerOptions options = {},
                       std::filesystem::path plugins = plugin_dir());
  ~TestGateway();

  std::string url(const std::string& path) const;
  host::Gateway& gateway() { return *gateway_; }
  const std::filesystem::path& config_path() const { return config_path_; }
  // Rewrites the config file (same plugins dir) and reloads explicitly.
  bool rewrite_and_reload(const std::string& yaml);
  std::string config_text(const std::string& yaml) const;

 private:
  TempDir dir_;
  std::filesystem::path plugins_;
  std::filesystem::path config_path_;
  std::unique_ptr<host::Gateway> gateway_;
  std::unique_ptr<host::HttpServer> server_;
};

// `lines` with `spaces` blanks before each non-empty line (to nest YAML).
std::string indent(const std::string& lines, int spaces);

// A chat request body.
std::string chat_body(const std::string& model, const std::string& user_text, bool stream = false,
                      const std::string& extra_members = {});

}  // namespace llmux::test
