// The OpenAPI document (host/admin/www/openapi.json) against the front door:
// every API default_registry() serves is documented with its method, every
// documented operation is served (no documentation of endpoints that do not
// exist), every operation has a 2xx and an error answer, path parameters are
// declared, and every $ref resolves. (tests/e2e/run_openapi_lint.sh validates
// the document against the OpenAPI 3.1 meta-schema.)
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/pointer.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "api/inbound_api.h"

namespace llmux::test {
namespace {

constexpr const char* kDocumentPath = LLMUX_SOURCE_DIR "/host/admin/www/openapi.json";

// Documented operations whose API is not registered on this branch yet (the
// admin API and the panel's assets come from other branches). Tolerated only
// under /admin/api/v1/ and for /ui/, /docs, /openapi.json; an entry whose API
// is registered now fails the test so that it is removed from here.
const std::vector<std::string> kDocumentedButNotYetRegistered = {
    "get /openapi.json",
    "get /docs",
    "get /ui/",
    "post /admin/api/v1/login",
    "post /admin/api/v1/logout",
    "get /admin/api/v1/session",
    "get /admin/api/v1/overview",
    "get /admin/api/v1/routes",
    "get /admin/api/v1/routes/resolve",
    "get /admin/api/v1/providers",
    "post /admin/api/v1/providers/{name}/reset",
    "get /admin/api/v1/pool",
    "post /admin/api/v1/pool/{provider}/credentials",
    "post /admin/api/v1/pool/{provider}/credentials/{label}/disable",
    "post /admin/api/v1/pool/{provider}/credentials/{label}/enable",
    "post /admin/api/v1/pool/{provider}/credentials/{label}/refresh",
    "delete /admin/api/v1/pool/{provider}/credentials/{label}",
    "get /admin/api/v1/requests",
    "get /admin/api/v1/requests/{id}",
    "get /admin/api/v1/events",
    "get /admin/api/v1/usage",
    "get /admin/api/v1/config",
    "post /admin/api/v1/config/validate",
    "post /admin/api/v1/config/apply",
    "post /admin/api/v1/config/reload",
    "get /admin/api/v1/plugins",
    "post /admin/api/v1/playground",
};

bool may_be_unregistered(std::string_view path) {
  return path.starts_with("/admin/api/v1/") || path == "/ui/" || path == "/docs" || path == "/openapi.json";
}

constexpr const char* kMethods[] = {"get", "put", "post", "delete", "patch", "head", "options", "trace"};

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

bool is_template(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// A registered path ("{id}" stands for any one segment) against a documented
// one ("{response_id}" names that segment): the same segments, templates
// matching templates.
bool same_path(std::string_view registered, std::string_view documented) {
  auto a = segments(registered), b = segments(documented);
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "{id}" ? !is_template(b[i]) : a[i] != b[i]) return false;
  }
  return true;
}

class OpenApiDocument : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(kDocumentPath, std::ios::binary);
    ASSERT_TRUE(in) << "cannot read " << kDocumentPath;
    std::stringstream text;
    text << in.rdbuf();
    text_ = text.str();
    document_.Parse(text_.c_str(), text_.size());
    ASSERT_FALSE(document_.HasParseError()) << kDocumentPath << ": " << rapidjson::GetParseError_En(
                                                   document_.GetParseError())
                                            << " at offset " << document_.GetErrorOffset();
  }

  void SetUp() override {
    ASSERT_TRUE(document_.IsObject());
    ASSERT_TRUE(document_.HasMember("paths") && document_["paths"].IsObject());
  }

  const rapidjson::Value& paths() const { return document_["paths"]; }

  // Follows a local "$ref" (if any) to the object it names; null when it does not resolve.
  static const rapidjson::Value* resolve(const rapidjson::Value& value) {
    const rapidjson::Value* at = &value;
    for (int hops = 0; hops < 8 && at->IsObject() && at->HasMember("$ref"); ++hops) {
      const rapidjson::Value& ref = (*at)["$ref"];
      if (!ref.IsString()) return nullptr;
      rapidjson::Pointer pointer(ref.GetString(), ref.GetStringLength());
      if (!pointer.IsValid()) return nullptr;
      at = pointer.Get(document_);
      if (at == nullptr) return nullptr;
    }
    return at;
  }

  // Every operation: "method path" -> the operation object.
  std::vector<std::pair<std::string, const rapidjson::Value*>> operations() const {
    std::vector<std::pair<std::string, const rapidjson::Value*>> out;
    for (const auto& item : paths().GetObject()) {
      for (const char* method : kMethods) {
        if (item.value.HasMember(method)) {
          out.emplace_back(std::string(method) + " " + item.name.GetString(), &item.value[method]);
        }
      }
    }
    return out;
  }

  static inline std::string text_;
  static inline rapidjson::Document document_;
};

TEST_F(OpenApiDocument, IsOpenApi31ServedFromTheRoot) {
  ASSERT_TRUE(document_.HasMember("openapi") && document_["openapi"].IsString());
  EXPECT_TRUE(std::string_view(document_["openapi"].GetString()).starts_with("3.1."));
  ASSERT_TRUE(document_.HasMember("servers") && document_["servers"].IsArray());
  ASSERT_EQ(document_["servers"].Size(), 1u);
  EXPECT_STREQ(document_["servers"][0]["url"].GetString(), "/");
  ASSERT_TRUE(document_["info"].HasMember("version"));
  EXPECT_STRNE(document_["info"]["version"].GetString(), "");
}

TEST_F(OpenApiDocument, EveryRegisteredApiIsDocumentedWithItsMethod) {
  std::size_t checked = 0;
  for (const auto& api : host::default_registry().apis()) {
    const std::string method = lowercase(api->method());
    for (const std::string& path : api->paths()) {
      bool documented = false;
      for (const auto& item : paths().GetObject()) {
        documented = documented || (same_path(path, item.name.GetString()) && item.value.HasMember(method.c_str()));
      }
      EXPECT_TRUE(documented) << "API '" << api->name() << "' serves " << api->method() << " " << path
                              << " but openapi.json has no '" << method << "' operation for it";
      ++checked;
    }
  }
  EXPECT_GE(checked, 15u);  // the registry is not empty: the test looked at something
}

TEST_F(OpenApiDocument, EveryDocumentedOperationIsRegistered) {
  std::set<std::string> tolerated(kDocumentedButNotYetRegistered.begin(), kDocumentedButNotYetRegistered.end());
  for (const std::string& entry : tolerated) {
    const std::string path = entry.substr(entry.find(' ') + 1);
    EXPECT_TRUE(may_be_unregistered(path))
        << "kDocumentedButNotYetRegistered may only hold /admin/api/v1/..., /ui/, /docs and /openapi.json: " << entry;
  }
  std::set<std::string> still_unregistered;
  for (const auto& [operation, object] : operations()) {
    const std::string method = operation.substr(0, operation.find(' '));
    const std::string path = operation.substr(operation.find(' ') + 1);
    bool registered = false;
    for (const auto& api : host::default_registry().apis()) {
      if (lowercase(api->method()) != method) continue;
      for (const std::string& served : api->paths()) registered = registered || same_path(served, path);
    }
    if (registered) {
      EXPECT_FALSE(tolerated.contains(operation))
          << operation << " is registered now: remove it from kDocumentedButNotYetRegistered";
    } else if (tolerated.contains(operation)) {
      still_unregistered.insert(operation);
    } else {
      ADD_FAILURE() << "openapi.json documents " << operation << " but no registered API serves it";
    }
  }
  std::set<std::string> documented;
  for (const auto& [operation, object] : operations()) documented.insert(operation);
  for (const std::string& entry : tolerated) {
    EXPECT_TRUE(documented.contains(entry)) << entry << " is in kDocumentedButNotYetRegistered but not documented";
  }
  if (!still_unregistered.empty()) {
    std::cout << "[ openapi  ] documented but not yet registered (" << still_unregistered.size() << "):\n";
    for (const std::string& entry : still_unregistered) std::cout << "               " << entry << "\n";
  }
}

TEST_F(OpenApiDocument, EveryOperationHasASuccessAndAnErrorAnswer) {
  const auto all = operations();
  ASSERT_FALSE(all.empty());
  for (const auto& [operation, object] : all) {
    ASSERT_TRUE(object->IsObject() && object->HasMember("responses")) << operation;
    bool success = false, error = false;
    for (const auto& response : (*object)["responses"].GetObject()) {
      const std::string_view code = response.name.GetString();
      success = success || code.starts_with('2');
      error = error || code.starts_with('4') || code.starts_with('5') || code == "default";
    }
    EXPECT_TRUE(success) << operation << " has no 2xx answer";
    EXPECT_TRUE(error) << operation << " has no error answer";
    EXPECT_TRUE(object->HasMember("tags") && (*object)["tags"].IsArray() && !(*object)["tags"].Empty()) << operation;
  }
}

TEST_F(OpenApiDocument, EveryPathTemplateHasItsParameter) {
  for (const auto& [operation, object] : operations()) {
    const std::string path = operation.substr(operation.find(' ') + 1);
    std::set<std::string> declared;
    // Parameters of the operation and of its path item.
    for (const rapidjson::Value* owner : {object, &paths()[path.c_str()]}) {
      if (!owner->HasMember("parameters")) continue;
      for (const auto& parameter : (*owner)["parameters"].GetArray()) {
        const rapidjson::Value* p = resolve(parameter);
        ASSERT_NE(p, nullptr) << operation;
        if (std::string_view((*p)["in"].GetString()) == "path") declared.insert((*p)["name"].GetString());
      }
    }
    std::set<std::string> templated;
    for (std::string_view segment : segments(path)) {
      if (is_template(segment)) templated.emplace(segment.substr(1, segment.size() - 2));
    }
    EXPECT_EQ(declared, templated) << operation << ": path parameters and path templates differ";
  }
}

TEST_F(OpenApiDocument, EveryRefResolvesAndOperationIdsAreUnique) {
  std::vector<std::string> unresolved;
  std::size_t refs = 0;
  auto walk = [&](auto& self, const rapidjson::Value& value) -> void {
    if (value.IsArray()) {
      for (const auto& element : value.GetArray()) self(self, element);
      return;
    }
    if (!value.IsObject()) return;
    if (value.HasMember("$ref")) {
      ++refs;
      const rapidjson::Value& ref = value["$ref"];
      const std::string text = ref.IsString() ? ref.GetString() : "(not a string)";
      if (!text.starts_with("#/") || resolve(value) == nullptr) unresolved.push_back(text);
    }
    for (const auto& member : value.GetObject()) self(self, member.value);
  };
  walk(walk, document_);
  EXPECT_GT(refs, 50u);
  EXPECT_TRUE(unresolved.empty()) << "unresolved $ref: " << ::testing::PrintToString(unresolved);

  std::set<std::string> ids;
  for (const auto& [operation, object] : operations()) {
    ASSERT_TRUE(object->HasMember("operationId")) << operation;
    EXPECT_TRUE(ids.insert((*object)["operationId"].GetString()).second)
        << operation << ": operationId " << (*object)["operationId"].GetString() << " is used twice";
  }
}

}  // namespace
}  // namespace llmux::test
