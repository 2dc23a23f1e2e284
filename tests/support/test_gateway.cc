#include "support/test_gateway.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>

#include "llmux/json.h"

namespace llmux::test {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("llmux-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write(const std::string& name, const std::string& text) const {
  auto file = path_ / name;
  // Write then rename so a watcher never sees half a file.
  auto tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, file);
  return file;
}

std::filesystem::path plugin_dir() { return LLMUX_TEST_PLUGIN_DIR; }

std::filesystem::path fixture_plugin_dir() {
#ifdef LLMUX_TEST_FIXTURE_PLUGIN_DIR
  return LLMUX_TEST_FIXTURE_PLUGIN_DIR;
#else
  return {};
#endif
}

PluginDir::PluginDir(std::initializer_list<std::filesystem::path> files) {
  for (const auto& file : files) std::filesystem::create_symlink(file, dir_.path() / file.filename());
}

TestGateway::TestGateway(const std::string& yaml, host::ServerOptions options, std::filesystem::path plugins)
    : plugins_(std::move(plugins)) {
  config_path_ = dir_.write("providers.yaml", config_text(yaml));
  gateway_ = std::make_unique<host::Gateway>(host::GatewayOptions{config_path_, std::nullopt});
  gateway_->load();
  options.host = "127.0.0.1";
  options.port = 0;
  options.max_body_bytes = gateway_->table()->config().max_body_bytes;  // as main.cc does
  if (options.threads == 0) options.threads = 2;
  server_ = std::make_unique<host::HttpServer>(*gateway_, options);
  server_->start();
}

TestGateway::~TestGateway() {
  server_.reset();
  gateway_.reset();
}

std::string TestGateway::config_text(const std::string& yaml) const {
  return "plugins_dir: " + plugins_.string() + "\n" + yaml;
}

bool TestGateway::rewrite_and_reload(const std::string& yaml) {
  dir_.write("providers.yaml", config_text(yaml));
  return gateway_->reload();
}

std::string TestGateway::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
}

std::string indent(const std::string& lines, int spaces) {
  std::string out, pad(spaces, ' ');
  std::size_t start = 0;
  while (start < lines.size()) {
    std::size_t end = lines.find('\n', start);
    if (end == std::string::npos) end = lines.size();
    if (end > start) out += pad + lines.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

std::string chat_body(const std::string& model, const std::string& user_text, bool stream,
                      const std::string& extra_members) {
  std::string body = R"({"model":)";
  json::append_quoted(body, model);
  body += R"(,"messages":[{"role":"user","content":)";
  json::append_quoted(body, user_text);
  body += "}]";
  if (stream) body += R"(,"stream":true)";
  if (!extra_members.empty()) body += "," + extra_members;
  body += "}";
  return body;
}

}  // namespace llmux::test
