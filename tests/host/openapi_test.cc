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
#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

constexpr const char* kDocumentPath = LLMUX_SOURCE_DIR "/host/admin/www/openapi.json";

// The panel's asset files (/ui/app.js, ...) are one API documented by its
// entry points; every other registered path must be in the document.
bool documented_as_entry_point(const host::InboundApi& api, std::string_view path) {
  return api.name() == "panel.assets" && path != "/ui/" && path != "/docs" && path != "/openapi.json";
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
  EXPECT_STREQ(document_["info"]["version"].GetString(), LLMUX_VERSION);  // the version that serves it
}

TEST_F(OpenApiDocument, EveryRegisteredApiIsDocumentedWithItsMethod) {
  std::size_t checked = 0;
  for (const auto& api : host::default_registry().apis()) {
    const std::string method = lowercase(api->method());
    for (const std::string& path : api->paths()) {
      if (documented_as_entry_point(*api, path)) continue;
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
  std::size_t checked = 0;
  for (const auto& [operation, object] : operations()) {
    const std::string method = operation.substr(0, operation.find(' '));
    const std::string path = operation.substr(operation.find(' ') + 1);
    bool registered = false;
    for (const auto& api : host::default_registry().apis()) {
      if (lowercase(api->method()) != method) continue;
      for (const std::string& served : api->paths()) registered = registered || same_path(served, path);
    }
    EXPECT_TRUE(registered) << "openapi.json documents " << operation << " but no registered API serves it";
    ++checked;
  }
  EXPECT_GE(checked, 40u);
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

TEST(OpenApiDocumentServed, ServedDocumentIsTheSourceFile) {
  std::ifstream in(kDocumentPath, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TestGateway gw("providers:\n  mock: {plugin: mock}\nroutes:\n  mock: [mock]\n");
  HttpClient client;
  auto r = client.get(gw.url("/openapi.json"));  // public: no key
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").substr(0, 16), "application/json");
  EXPECT_EQ(r.body, file);
  auto docs = client.get(gw.url("/docs"));
  EXPECT_EQ(docs.status, 200);
  EXPECT_EQ(docs.header("content-type").substr(0, 9), "text/html");
}

}  // namespace
}  // namespace llmux::test
