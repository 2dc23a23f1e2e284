// The credential pools (the claude plugin's): GET /pool, and the operator's
// actions, carried out by the provider (Provider::manage_credentials).
#include <atomic>

#include "admin/admin_api.h"
#include "api/openai_api.h"
#include "gateway/gateway.h"
#include "llmux/json.h"
#include "routing/route_table.h"

namespace llmux::host {
namespace {

std::shared_ptr<Exchange> pool(ApiCall& call) {
  std::string out = R"({"providers":[)";
  bool first = true;
  for (const ProviderSlot& slot : call.table->slots()) {
    if (!slot.provider) continue;
    std::string report = slot.provider->credentials_report();
    if (report.empty()) continue;
    if (!first) out += ",";
    first = false;
    out += R"({"provider":)";
    json::append_quoted(out, slot.name);
    out += R"(,"plugin":)";
    json::append_quoted(out, slot.plugin);
    out += R"(,"credentials":)" + report + "}";
  }
  out += "]}";
  admin::reply_json(call, 200, out);
  return nullptr;
}

// The provider named by the path, or answers 404 and returns null.
std::shared_ptr<Provider> pool_provider(ApiCall& call) {
  const ProviderSlot* slot = call.table->find_slot(admin::path_segment(call.request.path(), 1));
  if (!slot || !slot->provider) {
    admin::reply_error(call, 404, "not_found", "No running provider by that name.");
    return nullptr;
  }
  return slot->provider;
}

// The answer to one pool action, written once: by the provider's `done`, or,
// when the provider lets go of `done` without calling it (a reload destroyed
// it mid-refresh), by the destructor, so the client never waits for nothing.
class PoolAnswer {
 public:
  PoolAnswer(AnswerContext answer, int ok_status) : answer_(std::move(answer)), ok_status_(ok_status) {}
  ~PoolAnswer() {
    if (!answered_.exchange(true)) {
      error(Error::unavailable("The provider went away (a config reload?) before the action finished; try again."));
    }
  }
  void done(std::optional<Error> failure, const std::string& credential_json) {
    if (answered_.exchange(true)) return;
    if (failure) {
      error(*failure);
    } else {
      admin::reply_later(answer_, ok_status_, ok_status_ == 204 ? std::string_view() : credential_json);
    }
  }

 private:
  void error(const Error& failure) {
    admin::reply_later(answer_, failure.status, openai_dialect().error_body(failure), error_headers(failure));
  }
  AnswerContext answer_;
  int ok_status_;
  std::atomic<bool> answered_{false};
};

// Runs `action` on the provider, on the gateway's BlockingWork (an addition,
// removal, disabling or enabling writes the pool's state and waits for its
// fsync: not on the I/O thread that took the request); the answer follows
// when it is done (a refresh waits for the token endpoint, on another thread).
void run_action(ApiCall& call, const std::shared_ptr<Provider>& provider, CredentialAction action, int ok_status) {
  auto answer = std::make_shared<PoolAnswer>(call.answer_context(), ok_status);
  call.gateway.blocking_work().post([answer, provider, action = std::move(action)]() mutable {
    auto done = [answer](std::optional<Error> error, std::string credential_json) {
      answer->done(std::move(error), credential_json);
    };
    if (!provider->manage_credentials(std::move(action), std::move(done))) {
      answer->done(Error::make(404, "invalid_request_error", "This provider has no credential pool.", "not_found"),
                   {});
    }
  });
}

std::shared_ptr<Exchange> add_credential(ApiCall& call) {
  auto provider = pool_provider(call);
  if (!provider) return nullptr;
  rapidjson::Document doc;
  if (!admin::parse_body(call, doc)) return nullptr;
  CredentialAction action;
  action.kind = CredentialAction::Kind::Add;
  action.label = admin::string_member(doc, "label").value_or("");
  if (auto file = admin::string_member(doc, "credentials_json")) {
    action.secret_json = *file;  // Claude Code's .credentials.json, pasted
  } else {
    // {"api_key"} or {"access_token","refresh_token","expires_at"}: the body less its label.
    doc.RemoveMember("label");
    action.secret_json = json::to_string(doc);
  }
  run_action(call, provider, std::move(action), 201);
  return nullptr;
}

std::shared_ptr<Exchange> credential_action(ApiCall& call) {
  auto provider = pool_provider(call);
  if (!provider) return nullptr;
  CredentialAction action;
  action.label = admin::path_segment(call.request.path(), 3);
  const std::string verb = admin::path_segment(call.request.path(), 4);
  if (verb == "disable") {
    action.kind = CredentialAction::Kind::Disable;
  } else if (verb == "enable") {
    action.kind = CredentialAction::Kind::Enable;
  } else {  // "refresh": the registry routes only the three verbs here
    action.kind = CredentialAction::Kind::Refresh;
  }
  run_action(call, provider, std::move(action), 200);
  return nullptr;
}

std::shared_ptr<Exchange> remove_credential(ApiCall& call) {
  auto provider = pool_provider(call);
  if (!provider) return nullptr;
  CredentialAction action;
  action.kind = CredentialAction::Kind::Remove;
  action.label = admin::path_segment(call.request.path(), 3);
  run_action(call, provider, std::move(action), 204);
  return nullptr;
}

}  // namespace

void add_pool_apis(std::vector<std::unique_ptr<InboundApi>>& apis) {
  apis.push_back(std::make_unique<AdminEndpoint>("admin.pool", "GET", "/pool", pool));
  apis.push_back(
      std::make_unique<AdminEndpoint>("admin.pool_add", "POST", "/pool/{id}/credentials", add_credential));
  for (const char* verb : {"disable", "enable", "refresh"}) {
    apis.push_back(std::make_unique<AdminEndpoint>(std::string("admin.pool_") + verb, "POST",
                                                   std::string("/pool/{id}/credentials/{id}/") + verb,
                                                   credential_action));
  }
  apis.push_back(std::make_unique<AdminEndpoint>("admin.pool_remove", "DELETE", "/pool/{id}/credentials/{id}",
                                                 remove_credential));
}

}  // namespace llmux::host
