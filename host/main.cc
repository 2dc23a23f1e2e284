// llmux: an LLM gateway. See README.md.
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/inbound_api.h"
#include "config/gateway_config.h"
#include "admin/admin_auth.h"
#include "gateway/gateway.h"
#include "server/http_server.h"
#include "services/log.h"

namespace {

using namespace llmux;
using namespace llmux::host;

constexpr const char* kUsage = R"(usage: llmux [options]

  --config PATH        routing table (default: $LLMUX_CONFIG, else ./providers.yaml)
  --listen HOST:PORT   listen address (overrides 'listen' in the config)
  --plugins DIR        plugins directory (overrides 'plugins_dir' in the config)
  --check-config       validate the config, print plugins, providers and routes, exit
                       (non-zero when the config is invalid)
  --log-level LEVEL    debug, info (default), warn or error
  --version            print the version and exit
  --help               print this help and exit

The config is reloaded on SIGHUP and when the file changes; a broken file is
rejected and the previous table keeps serving. SIGUSR1 reopens the access log
file (after log rotation).
)";

struct Args {
  std::string config;
  std::optional<std::string> listen;
  std::optional<std::string> plugins;
  bool check_config = false;
  LogLevel log_level = LogLevel::Info;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "llmux: " << message << "\n\n" << kUsage;
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args args;
  if (const char* env = std::getenv("LLMUX_CONFIG"); env && *env) args.config = env;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> std::string {
      auto eq = arg.find('=');
      if (eq != std::string::npos) return arg.substr(eq + 1);
      if (i + 1 >= argc) usage_error(std::string(name) + " needs a value");
      return argv[++i];
    };
    auto is = [&](const char* name) { return arg == name || arg.rfind(std::string(name) + "=", 0) == 0; };
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--version") {
      std::cout << "llmux " << LLMUX_VERSION << "\n";
      std::exit(0);
    } else if (arg == "--check-config") {
      args.check_config = true;
    } else if (is("--config")) {
      args.config = value("--config");
    } else if (is("--listen")) {
      args.listen = value("--listen");
    } else if (is("--plugins")) {
      args.plugins = value("--plugins");
    } else if (is("--log-level")) {
      std::string level = value("--log-level");
      if (level == "debug") args.log_level = LogLevel::Debug;
      else if (level == "info") args.log_level = LogLevel::Info;
      else if (level == "warn") args.log_level = LogLevel::Warn;
      else if (level == "error") args.log_level = LogLevel::Error;
      else usage_error("unknown log level '" + level + "'");
    } else {
      usage_error("unknown option '" + arg + "'");
    }
  }
  if (args.config.empty()) args.config = "providers.yaml";
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  Log::set_min_level(args.log_level);
  // A bad --listen is a usage error like any other: reported before the config
  // is read (and by --check-config too), not after plugins are loaded.
  std::string listen_host;
  std::uint16_t listen_port = 0;
  if (args.listen && !split_listen(*args.listen, listen_host, listen_port)) {
    usage_error("--listen expects HOST:PORT, got '" + *args.listen + "'");
  }

  // Signals are taken by one thread (sigwait), so block them before any other
  // thread starts. SIGPIPE: a client that vanished must not kill the process.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  GatewayOptions options{args.config, std::nullopt};
  if (args.plugins) options.plugins_dir = *args.plugins;
  Gateway gateway(options);
  try {
    gateway.load();
  } catch (const std::exception& e) {
    std::cerr << "llmux: invalid config: " << e.what() << "\n";
    return 1;
  }

  if (args.check_config) {
    std::cout << gateway.describe();
    std::cout << "config OK\n";
    return 0;
  }

  const auto& config = gateway.table()->config();
  ServerOptions server_options;
  server_options.host = config.listen_host;
  server_options.port = config.listen_port;
  server_options.threads = config.threads;
  server_options.max_body_bytes = config.max_body_bytes;
  if (args.listen) {
    server_options.host = listen_host;
    server_options.port = listen_port;
  }
  gateway.admin_auth().set_loopback_listener(is_loopback_host(server_options.host));
  HttpServer server(gateway, server_options);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << "llmux: cannot listen on " << server_options.host << ":" << server_options.port << ": " << e.what()
              << "\n";
    return 1;
  }
  Log::write(LogLevel::Info, "llmux",
             std::string("llmux ") + LLMUX_VERSION + " listening on http://" + server_options.host + ":" +
                 std::to_string(server.port()) + " (config " + args.config + ")");
  if (config.admin_key.empty() && !is_loopback_host(server_options.host)) {
    Log::write(LogLevel::Warn, "admin",
               "the panel and the admin API are off: llmux listens beyond loopback and no admin_key is set");
  } else {
    Log::write(LogLevel::Info, "admin",
               "panel on http://" + server_options.host + ":" + std::to_string(server.port()) + "/ui/" +
                   (config.admin_key.empty() ? " (open: loopback, no admin_key)" : ""));
  }
  // /metrics (and /healthz) on a port of their own, when the config asks.
  std::unique_ptr<HttpServer> metrics_server;
  if (!config.metrics.listen_host.empty()) {
    ServerOptions metrics_options;
    metrics_options.host = config.metrics.listen_host;
    metrics_options.port = config.metrics.listen_port;
    metrics_options.threads = 1;
    metrics_options.max_body_bytes = 64u << 10;
    metrics_server = std::make_unique<HttpServer>(gateway, metrics_options, &metrics_registry());
    try {
      metrics_server->start();
    } catch (const std::exception& e) {
      std::cerr << "llmux: cannot listen on " << metrics_options.host << ":" << metrics_options.port
                << " (metrics.listen): " << e.what() << "\n";
      return 1;
    }
    Log::write(LogLevel::Info, "llmux",
               "metrics on http://" + metrics_options.host + ":" + std::to_string(metrics_server->port()) + "/metrics");
  }

  std::mutex mutex;
  std::condition_variable stop_cv;
  bool stopping = false;

  // Reload when the file changes on disk (polled: survives editors that
  // replace the file by rename, and config files on any filesystem).
  std::thread watcher([&] {
    std::unique_lock lock(mutex);
    for (unsigned tick = 1; !stop_cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping; }); ++tick) {
      // Housekeeping: every 10 s, give back what a burst freed (services/idle_trim.h).
      if (tick % 20 == 0) gateway.idle_trim().check();
      // Against what the gateway read last, not what this thread saw: a
      // change an admin apply (or SIGHUP) already loaded is not loaded again.
      if (!gateway.config_changed_on_disk()) continue;
      lock.unlock();
      Log::write(LogLevel::Info, "config", args.config + " changed on disk; reloading");
      gateway.reload();
      lock.lock();
    }
  });

  int signal_number = 0;
  while (sigwait(&signals, &signal_number) == 0) {
    if (signal_number == SIGUSR1) {
      Log::write(LogLevel::Info, "access_log", "SIGUSR1: reopening the access log");
      gateway.observability().access_log().reopen();
      continue;
    }
    if (signal_number == SIGHUP) {
      Log::write(LogLevel::Info, "config", "SIGHUP: reloading " + args.config);
      gateway.reload();
      continue;
    }
    break;
  }
  Log::write(LogLevel::Info, "llmux", std::string("stopping (") + strsignal(signal_number) + ")");
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  stop_cv.notify_all();
  watcher.join();
  if (metrics_server) metrics_server->stop();
  server.stop();
  gateway.observability().access_log().flush();
  return 0;
}
