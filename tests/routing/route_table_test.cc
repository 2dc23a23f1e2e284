// RouteTable: alias replacement, exact/wildcard/default precedence, served models.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/gateway_config.h"
#include "routing/route_table.h"

namespace llmux::host {
namespace {

// A provider that only lists models; routing never calls chat().
class FakeProvider : public Provider {
 public:
  explicit FakeProvider(std::vector<std::string> ids) : ids_(std::move(ids)) {}
  std::vector<ModelInfo> models() const override {
    std::vector<ModelInfo> out;
    for (const auto& id : ids_) out.push_back(ModelInfo{id, "fake"});
    return out;
  }
  void chat(ChatCallPtr) override {}

 private:
  std::vector<std::string> ids_;
};

class ThrowingProvider : public FakeProvider {
 public:
  ThrowingProvider() : FakeProvider({}) {}
  std::vector<ModelInfo> models() const override { throw std::runtime_error("down"); }
};

ProviderSlot make_slot(const std::string& name, std::shared_ptr<Provider> provider, const std::string& state) {
  ProviderSlot slot;
  slot.name = name;
  slot.plugin = "fake";
  slot.provider = std::move(provider);
  slot.state = state;
  return slot;
}

ProviderSlot ready_slot(const std::string& name, std::vector<std::string> models = {}) {
  return make_slot(name, std::make_shared<FakeProvider>(std::move(models)), "ready");
}

ProviderSlot unready_slot(const std::string& name) {
  return make_slot(name, nullptr, "not configured: OPENAI_API_KEY is not set");
}

// Slots named after every declared provider, all ready, no models.
std::vector<ProviderSlot> slots_for(const GatewayConfig& config) {
  std::vector<ProviderSlot> slots;
  for (const auto& p : config.providers) slots.push_back(ready_slot(p.name));
  return slots;
}

RouteTable table(const std::string& yaml) {
  GatewayConfig config = parse_gateway_config(yaml, "rt.yaml");
  auto slots = slots_for(config);
  return RouteTable(std::move(config), std::move(slots));
}

const char* kProviders =
    "providers:\n"
    "  a: {plugin: fake}\n"
    "  b: {plugin: fake}\n"
    "  c: {plugin: fake}\n";

std::vector<std::string> chain_names(const Resolution& r) {
  std::vector<std::string> out;
  for (const auto& step : r.chain) out.push_back(step.slot ? step.slot->name : "<null>");
  return out;
}

// ------------------------------------------------------------------ wildcards

TEST(Wildcard, Match) {
  EXPECT_TRUE(wildcard_match("gpt-4o", "gpt-4o"));
  EXPECT_FALSE(wildcard_match("gpt-4o", "gpt-4o-mini"));
  EXPECT_TRUE(wildcard_match("gpt-*", "gpt-4o"));
  EXPECT_TRUE(wildcard_match("gpt-*", "gpt-"));
  EXPECT_FALSE(wildcard_match("gpt-*", "gpt"));
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_TRUE(wildcard_match("*", "anything"));
  EXPECT_TRUE(wildcard_match("**", "x"));
  EXPECT_TRUE(wildcard_match("", ""));
  EXPECT_FALSE(wildcard_match("", "x"));
  EXPECT_FALSE(wildcard_match("x", ""));
  EXPECT_TRUE(wildcard_match("?", "x"));
  EXPECT_FALSE(wildcard_match("?", ""));
  EXPECT_FALSE(wildcard_match("?", "xy"));
  EXPECT_TRUE(wildcard_match("gpt-4?", "gpt-4o"));
  EXPECT_FALSE(wildcard_match("gpt-4?", "gpt-4"));
  EXPECT_TRUE(wildcard_match("*-mini", "gpt-4o-mini"));
  EXPECT_FALSE(wildcard_match("*-mini", "gpt-4o-mini-2024"));
  EXPECT_TRUE(wildcard_match("claude-*-sonnet-*", "claude-3-5-sonnet-20241022"));
  EXPECT_FALSE(wildcard_match("claude-*-sonnet-*", "claude-3-5-haiku-20241022"));
  EXPECT_TRUE(wildcard_match("a*b*c", "abc"));
  EXPECT_TRUE(wildcard_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(wildcard_match("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(wildcard_match("*a?", "bananas"));  // backtracking past earlier 'a's
  EXPECT_FALSE(wildcard_match("*a?", "banana"));
  EXPECT_TRUE(wildcard_match("*?*", "x"));
  EXPECT_FALSE(wildcard_match("*?*?", "x"));
  EXPECT_FALSE(wildcard_match("GPT-*", "gpt-4o"));  // case matters
}

TEST(Wildcard, NoBlowupOnPathologicalPatterns) {
  std::string name(5000, 'a');
  std::string pattern;
  for (int i = 0; i < 50; ++i) pattern += "*a";
  pattern += "*b";
  EXPECT_FALSE(wildcard_match(pattern, name));  // finishes quickly (no exponential backtracking)
  EXPECT_TRUE(wildcard_match(pattern, name + "b"));
}

TEST(Wildcard, LiteralLengthAndIsWildcard) {
  EXPECT_EQ(literal_length("gpt-4o"), 6u);
  EXPECT_EQ(literal_length("gpt-*"), 4u);
  EXPECT_EQ(literal_length("gpt-4?-*"), 6u);
  EXPECT_EQ(literal_length("*"), 0u);
  EXPECT_EQ(literal_length(""), 0u);
  EXPECT_TRUE(is_wildcard("gpt-*"));
  EXPECT_TRUE(is_wildcard("gpt-4?"));
  EXPECT_FALSE(is_wildcard("gpt-4o"));
  EXPECT_FALSE(is_wildcard(""));
}

// ------------------------------------------------------------------ precedence

TEST(RouteTable, ExactBeatsWildcard) {
  RouteTable t = table(std::string(kProviders) +
                       "routes:\n"
                       "  \"gpt-*\": a\n"
                       "  gpt-4o: b\n");
  auto r = t.resolve("gpt-4o");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->matched_route, "gpt-4o");
  EXPECT_EQ(chain_names(*r), (std::vector<std::string>{"b"}));
  r = t.resolve("gpt-4o-mini");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->matched_route, "gpt-*");
  EXPECT_EQ(r->requested, "gpt-4o-mini");
  EXPECT_EQ(r->resolved, "gpt-4o-mini");
  EXPECT_EQ(chain_names(*r), (std::vector<std::string>{"a"}));
}

TEST(RouteTable, LongerLiteralWildcardWins) {
  RouteTable t = table(std::string(kProviders) +
                       "routes:\n"
                       "  \"*\": a\n"
                       "  \"gpt-*\": b\n"
                       "  \"gpt-4o*\": c\n");
  EXPECT_EQ(t.resolve("gpt-4o-mini")->matched_route, "gpt-4o*");
  EXPECT_EQ(t.resolve("gpt-3.5")->matched_route, "gpt-*");
  EXPECT_EQ(t.resolve("claude")->matched_route, "*");
}

TEST(RouteTable, WildcardTieGoesToFirstInFile) {
  RouteTable t = table(std::string(kProviders) +
                       "routes:\n"
                       "  \"gpt-*\": b\n"
                       "  \"*-mini\": a\n");
  // "*-mini" has 5 literal characters, "gpt-*" 4: the later but longer one wins.
  EXPECT_EQ(t.resolve("gpt-mini")->matched_route, "*-mini");
  EXPECT_EQ(t.resolve("gpt-x")->matched_route, "gpt-*");

  RouteTable tie = table(std::string(kProviders) +
                         "routes:\n"
                         "  \"gpt-*\": a\n"
                         "  \"*t-4o\": b\n");
  auto r = tie.resolve("gpt-4o");  // both have 4 literal characters
  ASSERT_TRUE(r);
  EXPECT_EQ(r->matched_route, "gpt-*");
  RouteTable tie_reversed = table(std::string(kProviders) +
                                  "routes:\n"
                                  "  \"*t-4o\": b\n"
                                  "  \"gpt-*\": a\n");
  EXPECT_EQ(tie_reversed.resolve("gpt-4o")->matched_route, "*t-4o");
}

TEST(RouteTable, AliasToExactRoute) {
  RouteTable t = table(std::string(kProviders) +
                       "routes:\n"
                       "  gpt-4o-mini: [a, b]\n"
                       "  \"gpt-*\": c\n"
                       "aliases:\n"
                       "  fast: gpt-4o-mini\n");
  auto r = t.resolve("fast");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->requested, "fast");
  EXPECT_EQ(r->resolved, "gpt-4o-mini");
  EXPECT_EQ(r->matched_route, "gpt-4o-mini");
  EXPECT_EQ(chain_names(*r), (std::vector<std::string>{"a", "b"}));
  // upstream_model defaults to the alias target, not the alias name.
  EXPECT_EQ(r->chain[0].upstream_model, "gpt-4o-mini");
  EXPECT_EQ(r->chain[1].upstream_model, "gpt-4o-mini");
}

TEST(RouteTable, AliasToWildcardMatchedNameAndMultipleHops) {
  RouteTable t = table(std::string(kProviders) +
                       "routes:\n"
                       "  \"claude-*\": b\n"
                       "aliases:\n"
                       "  smart: claude-sonnet-4\n"
                       "  best: smart\n");
  auto r = t.resolve("best");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->requested, "best");
  EXPECT_EQ(r->resolved, "claude-sonnet-4");
  EXPECT_EQ(r->matched_route, "claude-*");
  ASSERT_EQ(r->chain.size(), 1u);
  EXPECT_EQ(r->chain[0].upstream_model, "claude-sonnet-4");
}

TEST(RouteTable, AliasWinsOverWildcardMatchingItsName) {
  RouteTable t = table(std::string(kProviders) +
                       "routes:\n"
                       "  \"fa*\": a\n"
                       "  gpt-4o: b\n"
                       "aliases:\n"
                       "  fast: gpt-4o\n");
  EXPECT_EQ(t.resolve("fast")->matched_route, "gpt-4o");
  EXPECT_EQ(t.resolve("fancy")->matched_route, "fa*");
}

TEST(RouteTable, DefaultChainAndUnknown) {
  RouteTable with_default = table(std::string(kProviders) +
                                  "routes:\n"
                                  "  gpt-4o: a\n"
                                  "default: [c, {provider: b, model: fallback-model}]\n");
  auto r = with_default.resolve("mystery");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->matched_route, "default");
  EXPECT_EQ(chain_names(*r), (std::vector<std::string>{"c", "b"}));
  EXPECT_EQ(r->chain[0].upstream_model, "mystery");
  EXPECT_EQ(r->chain[1].upstream_model, "fallback-model");

  RouteTable without = table(std::string(kProviders) + "routes:\n  gpt-4o: a\n");
  EXPECT_FALSE(without.resolve("mystery").has_value());
  EXPECT_FALSE(without.resolve("").has_value());
  EXPECT_FALSE(without.resolve("gpt-4").has_value());
}

TEST(RouteTable, PerStepModelRename) {
  RouteTable t = table(std::string(kProviders) +
                       "routes:\n"
                       "  gpt-4o:\n"
                       "    - a\n"
                       "    - {provider: b, model: llama3.1:70b}\n"
                       "    - provider: c\n"
                       "      model: gpt-4o-2024-08-06\n");
  auto r = t.resolve("gpt-4o");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->chain.size(), 3u);
  EXPECT_EQ(r->chain[0].upstream_model, "gpt-4o");
  EXPECT_EQ(r->chain[1].upstream_model, "llama3.1:70b");
  EXPECT_EQ(r->chain[2].upstream_model, "gpt-4o-2024-08-06");
  // Slot pointers point into the table's slots.
  EXPECT_EQ(r->chain[1].slot, t.find_slot("b"));
}

TEST(RouteTable, ChainIncludesSlotsThatAreNotReady) {
  GatewayConfig config =
      parse_gateway_config(std::string(kProviders) + "routes:\n  m: [a, b]\n", "rt.yaml");
  std::vector<ProviderSlot> slots{unready_slot("a"), ready_slot("b"), ready_slot("c")};
  RouteTable t(std::move(config), std::move(slots));
  auto r = t.resolve("m");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->chain.size(), 2u);
  ASSERT_NE(r->chain[0].slot, nullptr);
  EXPECT_FALSE(r->chain[0].slot->ready());
  EXPECT_EQ(r->chain[0].slot->state, "not configured: OPENAI_API_KEY is not set");
  EXPECT_TRUE(r->chain[1].slot->ready());
}

TEST(RouteTable, FindSlotAndMissingSlot) {
  RouteTable t = table(kProviders);
  ASSERT_NE(t.find_slot("b"), nullptr);
  EXPECT_EQ(t.find_slot("b")->name, "b");
  EXPECT_EQ(t.find_slot("zzz"), nullptr);
  EXPECT_EQ(t.slots().size(), 3u);
  EXPECT_EQ(t.config().providers.size(), 3u);

  GatewayConfig config = parse_gateway_config(kProviders, "rt.yaml");
  std::vector<ProviderSlot> slots{ready_slot("a")};
  EXPECT_THROW(RouteTable(std::move(config), std::move(slots)), std::invalid_argument);
}

// ------------------------------------------------------------------ served models

TEST(RouteTable, ServedModels) {
  GatewayConfig config = parse_gateway_config(std::string(kProviders) +
                                                  "routes:\n"
                                                  "  gpt-4o: a\n"
                                                  "  \"gpt-*\": a\n"
                                                  "  \"claude-*\": b\n"
                                                  "  local-model: c\n"
                                                  "aliases:\n"
                                                  "  fast: gpt-4o-mini\n"
                                                  "  smart: claude-sonnet-4\n"
                                                  "default: c\n",
                                              "rt.yaml");
  std::vector<ProviderSlot> slots{
      ready_slot("a", {"gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo", "text-embedding-3", "whisper-1"}),
      ready_slot("b", {"claude-sonnet-4", "claude-haiku", "gpt-4o-mini"}),
      unready_slot("c"),
  };
  RouteTable t(std::move(config), std::move(slots));
  // text-embedding-3 and whisper-1 only reach the default chain: not listed.
  EXPECT_EQ(t.served_models(),
            (std::vector<std::string>{"claude-haiku", "claude-sonnet-4", "fast", "gpt-3.5-turbo", "gpt-4o",
                                      "gpt-4o-mini", "local-model", "smart"}));
}

TEST(RouteTable, ServedModelsSkipsUnreadyAndFailingProviders) {
  GatewayConfig config = parse_gateway_config(std::string(kProviders) + "routes:\n  \"*\": a\n", "rt.yaml");
  std::vector<ProviderSlot> slots{
      make_slot("a", std::make_shared<ThrowingProvider>(), "ready"),
      make_slot("b", nullptr, "unavailable: plugin not found"),
      ready_slot("c", {"z-model", "a-model", "z-model"}),
  };
  RouteTable t(std::move(config), std::move(slots));
  EXPECT_EQ(t.served_models(), (std::vector<std::string>{"a-model", "z-model"}));
}

TEST(RouteTable, FullExampleResolves) {
  GatewayConfig config = load_gateway_config(std::string(LLMUX_SOURCE_DIR) + "/tests/routing/fixtures/full.yaml");
  std::vector<ProviderSlot> slots;
  for (const auto& p : config.providers) {
    slots.push_back(p.name == "openai" ? ready_slot(p.name, {"gpt-4o", "gpt-4.1", "dall-e-3"})
                                       : ready_slot(p.name));
  }
  RouteTable t(std::move(config), std::move(slots));
  auto r = t.resolve("default-model");  // default-model -> smart -> claude-sonnet-4
  ASSERT_TRUE(r);
  EXPECT_EQ(r->resolved, "claude-sonnet-4");
  EXPECT_EQ(r->matched_route, "claude-sonnet-4");
  EXPECT_EQ(chain_names(*r), (std::vector<std::string>{"anthropic", "openai"}));
  EXPECT_EQ(r->chain[0].upstream_model, "claude-sonnet-4");
  EXPECT_EQ(r->chain[1].upstream_model, "gpt-4o");
  EXPECT_EQ(t.resolve("llama3.2")->matched_route, "llama*");
  EXPECT_EQ(t.resolve("mistral-large")->matched_route, "default");
  EXPECT_EQ(t.served_models(),
            (std::vector<std::string>{"claude-sonnet-4", "default-model", "fast", "gpt-4.1", "gpt-4o",
                                      "gpt-4o-mini", "mock-echo", "smart"}));
}

}  // namespace
}  // namespace llmux::host
