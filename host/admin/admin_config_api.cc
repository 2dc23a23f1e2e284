// GET /overview and the config: GET /config (secrets redacted), POST
// /config/validate, /config/apply (atomic write, backup, reload) and
// /config/reload.
#include <fstream>
#include <sstream>

#include "admin/admin_api.h"
#include "admin/config_editor.h"
#include "api/openai_api.h"
#include "gateway/gateway.h"
#include "llmux/json.h"
#include "llmux/plugin_abi.h"
#include "observability/request_history.h"
#include "routing/route_table.h"
#include "services/log.h"

namespace llmux::host {
namespace {

void append_last_reload(std::string& out, const Gateway& gateway) {
  auto last = gateway.last_reload();
  if (!last) {
    out += "null";
    return;
  }
  out += R"({"at":)";
  json::append_quoted(out, admin::rfc3339(last->at));
  out += last->ok ? R"(,"ok":true,"error":null})" : R"(,"ok":false,"error":)";
  if (!last->ok) {
    json::append_quoted(out, last->error);
    out += "}";
  }
}

std::shared_ptr<Exchange> overview(ApiCall& call) {
  Gateway& gateway = call.gateway;
  const auto now = std::chrono::system_clock::now();
  std::string out = R"({"version":)";
  json::append_quoted(out, LLMUX_VERSION);
  out += R"(,"abi":)" + std::to_string(LLMUX_ABI_VERSION);
  out += R"(,"started_at":)";
  json::append_quoted(out, admin::rfc3339(gateway.started_at()));
  out += R"(,"uptime_s":)" +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - gateway.started_at()).count());
  out += R"(,"config":{"file":)";
  json::append_quoted(out, call.table->config().source.string());
  out += R"(,"generation":)" + std::to_string(gateway.generation()) + R"(,"last_reload":)";
  append_last_reload(out, gateway);
  Metrics& metrics = gateway.observability().metrics();
  out += R"(},"now":{"active_requests":)" + std::to_string(static_cast<long long>(metrics.active_requests())) +
         R"(,"active_streams":)" + std::to_string(static_cast<long long>(metrics.active_streams())) + "}";
  out += R"(,"stats":)" + gateway.observability().history().stats_json() + "}";
  admin::reply_json(call, 200, out);
  return nullptr;
}

std::optional<std::string> read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The file reads and writes, the reloads (which load plugins and start
// providers) and their fsyncs run on the gateway's BlockingWork, never on the
// I/O thread that took the request: it keeps serving its other connections,
// and the answer follows through reply_later.

void fail_later(const AnswerContext& answer, int status, std::string code, std::string message) {
  admin::reply_later(answer, status,
                     openai_dialect().error_body(Error::make(status, "invalid_request_error", std::move(message),
                                                             std::move(code))));
}

void config_now(Gateway& gateway, const AnswerContext& answer) {
  const std::filesystem::path& file = gateway.options().config_path;
  auto text = read_file(file);
  if (!text) return fail_later(answer, 500, "config_unreadable", "Cannot read " + file.string() + ".");
  std::string redacted;
  try {
    redacted = redact_config_text(*text);
  } catch (const std::exception& e) {
    // The file on disk is broken (the running table came from an older one):
    // nothing of it is shown rather than a secret by mistake.
    return fail_later(answer, 409, "config_invalid",
                      std::string("The file on disk does not parse, so it is not shown: ") + e.what());
  }
  std::string out = R"({"file":)";
  json::append_quoted(out, file.string());
  out += R"(,"text":)";
  json::append_quoted(out, redacted);
  out += R"(,"generation":)" + std::to_string(gateway.generation()) + R"(,"last_reload":)";
  append_last_reload(out, gateway);
  out += "}";
  admin::reply_later(answer, 200, out);
}

std::shared_ptr<Exchange> config(ApiCall& call) {
  Gateway& gateway = call.gateway;
  gateway.blocking_work().post([&gateway, answer = call.answer_context()] { config_now(gateway, answer); });
  return nullptr;
}

// The edited text of a validate or apply body, or answers 400.
std::optional<std::string> edited_text(ApiCall& call) {
  rapidjson::Document doc;
  if (!admin::parse_body(call, doc)) return std::nullopt;
  auto text = admin::string_member(doc, "text");
  if (!text) admin::reply_error(call, 400, "invalid_request", R"(Send {"text": "<the providers.yaml text>"}.)");
  return text;
}

std::shared_ptr<Exchange> validate(ApiCall& call) {
  auto text = edited_text(call);
  if (!text) return nullptr;
  Gateway& gateway = call.gateway;
  gateway.blocking_work().post([&gateway, answer = call.answer_context(), text = std::move(*text)] {
    ConfigCheck check = validate_config_text(text, gateway.options().config_path, &gateway.plugins());
    admin::reply_later(answer, check.ok ? 200 : 422, config_check_json(check));
  });
  return nullptr;
}

// {"ok":true,"generation":N[,"backup":"..."]} after a successful reload, else
// the reload's error as a 422.
void reply_reloaded(Gateway& gateway, const AnswerContext& answer, bool reloaded, const std::string& backup) {
  if (!reloaded) {
    ConfigCheck check;
    check.ok = false;
    auto last = gateway.last_reload();
    check.message = last ? last->error : "reload failed";
    if (last && last->config_error) {
      check.message = last->config_error->detail();
      check.file = last->config_error->mark().file;
      check.line = last->config_error->mark().line;
      check.column = last->config_error->mark().column;
      check.path = last->config_error->path();
    }
    admin::reply_later(answer, 422, config_check_json(check));
    return;
  }
  std::string out = R"({"ok":true,"generation":)" + std::to_string(gateway.generation());
  if (!backup.empty()) {
    out += R"(,"backup":)";
    json::append_quoted(out, backup);
  }
  admin::reply_later(answer, 200, out + "}");
}

// Applies run one at a time (BlockingWork runs its jobs in order): two would
// race for the file and its backup (and the restore of a refused one could
// bring back the wrong file).
void apply_now(Gateway& gateway, const AnswerContext& answer, const std::string& text) {
  ApplyResult result;
  try {
    result = apply_config_text(gateway.options().config_path, text, &gateway.plugins());
  } catch (const std::exception& e) {
    return fail_later(answer, 500, "config_write_failed", std::string("The file was not changed: ") + e.what());
  }
  if (!result.check.ok) return admin::reply_later(answer, 422, config_check_json(result.check));
  if (gateway.reload()) {
    Log::write(LogLevel::Info, "admin",
               "config applied from the admin API; previous file kept as " + result.backup.string());
    return reply_reloaded(gateway, answer, true, result.backup.string());
  }
  // The text parsed but a provider refused its options: put the previous file
  // back, so what is on disk is what serves.
  if (result.backup.empty()) {
    Log::write(LogLevel::Warn, "admin", "config from the admin API refused at reload; there was no previous file");
  } else {
    try {
      restore_config_backup(gateway.options().config_path, result.backup);
      Log::write(LogLevel::Warn, "admin", "config from the admin API refused at reload; the previous file is back");
    } catch (const std::exception& e) {
      Log::write(LogLevel::Error, "admin",
                 std::string("config from the admin API refused at reload, and the previous file could not be put "
                             "back (it is in ") +
                     result.backup.string() + "): " + e.what());
    }
  }
  reply_reloaded(gateway, answer, false, {});
}

std::shared_ptr<Exchange> apply(ApiCall& call) {
  auto text = edited_text(call);
  if (!text) return nullptr;
  Gateway& gateway = call.gateway;
  gateway.blocking_work().post([&gateway, answer = call.answer_context(), text = std::move(*text)] {
    apply_now(gateway, answer, text);
  });
  return nullptr;
}

std::shared_ptr<Exchange> reload(ApiCall& call) {
  Gateway& gateway = call.gateway;
  gateway.blocking_work().post(
      [&gateway, answer = call.answer_context()] { reply_reloaded(gateway, answer, gateway.reload(), {}); });
  return nullptr;
}

}  // namespace

void add_config_apis(std::vector<std::unique_ptr<InboundApi>>& apis) {
  apis.push_back(std::make_unique<AdminEndpoint>("admin.overview", "GET", "/overview", overview));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.config", "GET", "/config", config));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.config_validate", "POST", "/config/validate", validate));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.config_apply", "POST", "/config/apply", apply));
  apis.push_back(std::make_unique<AdminEndpoint>("admin.config_reload", "POST", "/config/reload", reload));
}

}  // namespace llmux::host
