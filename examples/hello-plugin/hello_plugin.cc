// hello: the smallest useful llmux provider plugin.
//
// Every chat is answered with "<greeting> from the hello plugin, <last user
// text>!", as a stream of events: Role, a couple of TextDelta chunks, Usage,
// Finish(Stop). The host renders those events as an OpenAI (or any other
// supported) answer, streamed or not; the plugin never sees HTTP.
//
// providers.yaml:
//   providers:
//     hello:
//       plugin: hello
//       options:
//         greeting: Hello   # optional, default "Hello"
//         models: [hello]   # optional, what GET /v1/models lists
//   routes:
//     hello: [hello]
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llmux/plugin_abi.h"  // LLMUX_DECLARE_PLUGIN; includes provider.h

namespace hello {

struct Options {
  std::string greeting = "Hello";
  std::vector<std::string> models{"hello"};

  // Reads the provider's `options` map. Errors are llmux::ConfigError with the
  // file position and key path, e.g.
  //   providers.yaml:9:7: providers.hello.options: unknown key 'greting'; did you mean 'greeting'?
  static Options parse(const llmux::ConfigNode& node) {
    Options o;
    node.check_keys({"greeting", "models"});  // reject typos instead of ignoring them
    o.greeting = node.get_string("greeting", o.greeting);
    if (o.greeting.empty()) throw llmux::ConfigError(*node.find("greeting"), "must not be empty");
    if (node.find("models") != nullptr) {
      o.models = node.get_string_list("models");
      if (o.models.empty()) throw llmux::ConfigError(*node.find("models"), "must list at least one model");
    }
    return o;
  }
};

// Rough token count for the Usage event: about four characters per token.
std::int64_t tokens_for(std::size_t bytes) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>((bytes + 3) / 4));
}

class HelloProvider final : public llmux::Provider {
 public:
  HelloProvider(std::string name, Options options, llmux::HostServices& host)
      : name_(std::move(name)), options_(std::move(options)), host_(host) {}

  std::vector<llmux::ModelInfo> models() const override {
    std::vector<llmux::ModelInfo> out;
    for (const auto& id : options_.models) out.push_back({id, "llmux-hello"});
    return out;
  }

  // Must return quickly and must not throw. This provider has nothing to wait
  // for, so it emits everything right here; a provider that talks to a
  // network service would keep `call` (a shared_ptr) and emit later, from any
  // thread, one event at a time.
  void chat(llmux::ChatCallPtr call) override {
    try {
      const llmux::ChatRequest& request = call->request();
      std::string who = request.last_user_text();
      if (who.empty()) who = "world";
      host_.logger().debug("provider " + name_ + ": answering model '" + request.model + "'");

      // Split the answer into a couple of chunks to show streaming.
      const std::vector<std::string> chunks = {options_.greeting + " from the hello plugin, ", who + "!"};

      // Order contract: Role? (TextDelta | ReasoningDelta | ToolCallDelta)* Usage? (Finish | Error).
      // Stop as soon as the client is gone: cancelled() turns true, and no
      // terminal event is needed after a cancellation.
      if (call->cancelled()) return;
      call->emit(llmux::Event::role());
      std::size_t output_bytes = 0;
      for (const auto& chunk : chunks) {
        if (call->cancelled()) return;
        output_bytes += chunk.size();
        call->emit(llmux::Event::text_delta(chunk));
      }
      std::size_t input_bytes = 0;
      for (const auto& message : request.messages) input_bytes += message.text().size();
      llmux::Usage usage;
      usage.input_tokens = tokens_for(input_bytes);
      usage.output_tokens = tokens_for(output_bytes);
      if (call->cancelled()) return;
      call->emit(llmux::Event::usage_report(usage));
      call->emit(llmux::Event::finished(llmux::FinishReason::Stop));
    } catch (const std::exception& e) {
      // Failures travel as an Error event (the client gets an HTTP error or an
      // error in the stream), never as an exception across the plugin boundary.
      if (!call->cancelled()) {
        llmux::Error error;
        error.status = 500;
        error.message = std::string("hello: ") + e.what();
        call->emit(llmux::Event::failed(std::move(error)));
      }
    }
  }

 private:
  std::string name_;
  Options options_;
  llmux::HostServices& host_;
};

class HelloPlugin final : public llmux::Plugin {
 public:
  std::string name() const override { return "hello"; }
  std::string version() const override { return "1.0.0"; }
  std::shared_ptr<llmux::Provider> create_provider(const llmux::ProviderSpec& spec) override {
    return std::make_shared<HelloProvider>(spec.name, Options::parse(spec.options), spec.host);
  }
};

}  // namespace hello

// Exports llmux_plugin_abi() and llmux_plugin_create(): the only symbols the
// host looks up.
LLMUX_DECLARE_PLUGIN(hello::HelloPlugin)
