// The OpenAI Embeddings codec. See llmux/codec/embeddings.h.
#include "llmux/codec/embeddings.h"

#include <array>
#include <bit>
#include <charconv>
#include <cmath>

#include "codec_common.h"
#include "llmux/codec/openai.h"

namespace llmux::embeddings {

using namespace llmux::codec;

namespace {

// ---------------------------------------------------------------- request parsing

class RequestParser : public FieldChecker {
 public:
  bool parse(const Value& root, ChatRequest& r) {
    EmbeddingInput& input = r.embedding.emplace();
    bool have_model = false;
    bool have_input = false;
    for (const auto& m : root.GetObject()) {
      const std::string_view name = view_of(m.name);
      const Value& v = m.value;
      bool ok = true;
      if (name == "model") {
        ok = parse_model(v, r.model);
        have_model = true;
      } else if (name == "input") {
        ok = parse_input(v, input);
        have_input = true;
      } else if (name == "encoding_format") {
        ok = parse_encoding_format(v, input.base64);
      } else if (name == "dimensions") {
        ok = parse_dimensions(v, input.dimensions);
      } else if (name == "user") {
        if (!v.IsNull() && !v.IsString()) return type_error("user", "a string", v);
        keep_extra(r.extra, name, v);
      } else {
        keep_extra(r.extra, name, v);
      }
      if (!ok) return false;
    }
    if (!have_model) return missing("model");
    if (!have_input) return missing("input");
    return true;
  }

 private:
  bool parse_input(const Value& v, EmbeddingInput& input) {
    input.texts.clear();
    input.tokens.clear();
    if (v.IsString()) {
      if (v.GetStringLength() == 0) return empty_string("input");
      input.texts.push_back(string_of(v));
      return true;
    }
    if (!v.IsArray()) return type_error("input", "a string or an array", v);
    if (v.Empty()) {
      return fail(Error::invalid_request("Invalid 'input': empty array. Expected an array with minimum length 1.",
                                         "input", "empty_array"));
    }
    if (v.Size() > kMaxInputs) {
      return fail(Error::invalid_request("Invalid 'input': array too long. Expected an array with maximum length " +
                                             std::to_string(kMaxInputs) + ", but got an array with length " +
                                             std::to_string(v.Size()) + " instead.",
                                         "input", "array_above_max_length"));
    }
    const Value& first = v[0];
    if (first.IsString()) {  // a list of texts
      input.texts.reserve(v.Size());
      for (rapidjson::SizeType k = 0; k < v.Size(); ++k) {
        const std::string path = "input[" + std::to_string(k) + "]";
        if (!v[k].IsString()) return type_error(path, "a string", v[k]);
        if (v[k].GetStringLength() == 0) return empty_string(path);
        input.texts.push_back(string_of(v[k]));
      }
      return true;
    }
    if (first.IsNumber()) {  // one token array
      return token_array(v, "input", input.tokens.emplace_back());
    }
    if (first.IsArray()) {  // a list of token arrays
      input.tokens.reserve(v.Size());
      for (rapidjson::SizeType k = 0; k < v.Size(); ++k) {
        const std::string path = "input[" + std::to_string(k) + "]";
        if (!v[k].IsArray()) return type_error(path, "an array of integers", v[k]);
        if (v[k].Empty()) {
          return fail(Error::invalid_request("Invalid '" + path + "': empty array. Expected an array with minimum length 1.",
                                             path, "empty_array"));
        }
        if (!token_array(v[k], path, input.tokens.emplace_back())) return false;
      }
      return true;
    }
    return type_error("input[0]", "a string, an integer or an array of integers", first);
  }

  // Token ids: non-negative integers.
  bool token_array(const Value& v, const std::string& path, std::vector<std::int64_t>& out) {
    out.reserve(v.Size());
    for (rapidjson::SizeType k = 0; k < v.Size(); ++k) {
      const Value& t = v[k];
      if (!t.IsInt64() || t.GetInt64() < 0) {
        const std::string at = path + "[" + std::to_string(k) + "]";
        if (t.IsNumber()) return value_error(at, "Invalid '" + at + "': a token id must be a non-negative integer.");
        return type_error(at, "an integer", t);
      }
      out.push_back(t.GetInt64());
    }
    return true;
  }

  bool empty_string(const std::string& path) {
    return fail(Error::invalid_request("Invalid '" + path + "': empty string. Expected a string with minimum length 1.",
                                       path, "empty_string"));
  }

  bool parse_encoding_format(const Value& v, bool& base64) {
    if (v.IsNull()) return true;
    if (!v.IsString()) return type_error("encoding_format", "a string", v);
    const std::string_view format = view_of(v);
    if (format == "float" || format == "base64") {
      base64 = format == "base64";
      return true;
    }
    return unsupported("encoding_format", format, "is not supported. Supported values are: 'float' and 'base64'.");
  }

  bool parse_dimensions(const Value& v, std::optional<std::int64_t>& dimensions) {
    std::optional<std::int64_t> n;
    if (!optional_int(v, "dimensions", n)) return false;
    if (n && *n < 1) {
      return fail(Error::invalid_request("Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got " +
                                             std::to_string(*n) + " instead.",
                                         "dimensions", "integer_below_min_value"));
    }
    dimensions = n;
    return true;
  }
};

// ---------------------------------------------------------------- rendering

// The shortest text that reads back as the same float32 (JSON has no NaN or
// infinities: those become 0).
void append_float(std::string& out, float f) {
  if (!std::isfinite(f)) {
    out.push_back('0');
    return;
  }
  std::array<char, 32> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), f);
  if (ec != std::errc()) {
    out.push_back('0');
    return;
  }
  out.append(buffer.data(), end);
}

// The modeled members render_request writes itself.
constexpr std::array<std::string_view, 4> kModeled = {"model", "input", "encoding_format", "dimensions"};

}  // namespace

// ---------------------------------------------------------------- requests

std::optional<Error> parse_request(std::string_view body, ChatRequest& out) {
  return parse_client_request<RequestParser>(body, Api::OpenAIEmbeddings, out);
}

std::string render_request(const ChatRequest& request) {
  std::string out = open_request_body(request);
  out.append(",\"input\":[");
  if (request.embedding) {
    const EmbeddingInput& input = *request.embedding;
    if (!input.texts.empty()) {
      for (std::size_t i = 0; i < input.texts.size(); ++i) {
        if (i != 0) out.push_back(',');
        json::append_quoted(out, input.texts[i]);
      }
    } else {
      for (std::size_t i = 0; i < input.tokens.size(); ++i) {
        if (i != 0) out.push_back(',');
        out.push_back('[');
        for (std::size_t k = 0; k < input.tokens[i].size(); ++k) {
          if (k != 0) out.push_back(',');
          append_int(out, input.tokens[i][k]);
        }
        out.push_back(']');
      }
    }
  }
  out.push_back(']');
  if (request.embedding && request.embedding->base64) out.append(",\"encoding_format\":\"base64\"");
  if (request.embedding && request.embedding->dimensions) {
    out.append(",\"dimensions\":");
    append_int(out, *request.embedding->dimensions);
  }
  if (request.source_api == Api::OpenAIEmbeddings) append_extra(out, request.extra, kModeled);
  out.push_back('}');
  return out;
}

// ---------------------------------------------------------------- answers

std::string render_response(const ChatResponse& response, const ResponseMeta& meta, bool base64) {
  if (!response.raw.empty()) return response.raw;
  std::size_t estimate = 128 + meta.model.size();
  for (const auto& vector : response.embeddings) estimate += 48 + vector.size() * (base64 ? 6 : 14);
  std::string out;
  out.reserve(estimate);
  out.append("{\"object\":\"list\",\"data\":[");
  for (std::size_t i = 0; i < response.embeddings.size(); ++i) {
    if (i != 0) out.push_back(',');
    out.append("{\"object\":\"embedding\",\"index\":");
    append_int(out, static_cast<std::int64_t>(i));
    out.append(",\"embedding\":");
    const std::vector<float>& vector = response.embeddings[i];
    if (base64) {
      out.push_back('"');
      out.append(encode_base64(vector));
      out.push_back('"');
    } else {
      out.push_back('[');
      for (std::size_t k = 0; k < vector.size(); ++k) {
        if (k != 0) out.push_back(',');
        append_float(out, vector[k]);
      }
      out.push_back(']');
    }
    out.push_back('}');
  }
  out.append("],\"model\":");
  json::append_quoted(out, meta.model);
  const std::int64_t prompt_tokens = response.usage ? response.usage->input_tokens : 0;
  out.append(",\"usage\":{\"prompt_tokens\":");
  append_int(out, prompt_tokens);
  out.append(",\"total_tokens\":");
  append_int(out, prompt_tokens + (response.usage ? response.usage->output_tokens : 0));
  out.append("}}");
  return out;
}

std::string render_error(const Error& error) { return openai::render_error(error); }

std::optional<Error> parse_response(std::string_view body, std::vector<Event>& out) {
  rapidjson::Document doc;
  if (std::optional<Error> e = parse_upstream_object(body, doc, "embeddings list", false)) return e;
  if (find_set(doc, "error") != nullptr) return openai::parse_error_response(502, body);
  const Value* data = find(doc, "data");
  if (data == nullptr || !data->IsArray()) return Error::upstream(502, "upstream sent an embeddings list without \"data\"");
  std::vector<Event> events;
  events.reserve(data->Size() + 2);
  for (rapidjson::SizeType k = 0; k < data->Size(); ++k) {
    const Value& item = (*data)[k];
    const std::string at = "upstream sent an invalid embedding (data[" + std::to_string(k) + "]): ";
    if (!item.IsObject()) return Error::upstream(502, at + "not an object");
    const std::int64_t index = int_member(item, "index").value_or(k);
    if (index < 0 || index >= static_cast<std::int64_t>(kMaxInputs)) {
      return Error::upstream(502, at + "index " + std::to_string(index) + " out of range");
    }
    const Value* embedding = find_set(item, "embedding");
    std::vector<float> vector;
    if (embedding != nullptr && embedding->IsArray()) {
      vector.reserve(embedding->Size());
      for (const auto& x : embedding->GetArray()) {
        if (!x.IsNumber()) return Error::upstream(502, at + "a vector element is not a number");
        vector.push_back(static_cast<float>(x.GetDouble()));
      }
    } else if (embedding != nullptr && embedding->IsString()) {
      auto decoded = decode_base64(view_of(*embedding));
      if (!decoded) return Error::upstream(502, at + "the vector is not base64 of float32 values");
      vector = std::move(*decoded);
    } else {
      return Error::upstream(502, at + "no \"embedding\" array or base64 string");
    }
    events.push_back(Event::embedding_of(static_cast<int>(index), std::move(vector)));
  }
  if (const Value* usage = find_object(doc, "usage")) {
    Usage u;
    u.input_tokens = int_member(*usage, "prompt_tokens").value_or(0);
    events.push_back(Event::usage_report(u));
  }
  events.push_back(Event::finished(FinishReason::Stop));
  for (Event& event : events) out.push_back(std::move(event));
  return std::nullopt;
}

// ---------------------------------------------------------------- base64

// The float32 values, little-endian, in the SDK's one base64 (codec_common).
std::string encode_base64(std::span<const float> vector) {
  std::string bytes;
  bytes.reserve(vector.size() * 4);
  for (float f : vector) {
    const auto bits = std::bit_cast<std::uint32_t>(f);
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<char>((bits >> shift) & 0xff));
  }
  return base64_encode(bytes);
}

std::optional<std::vector<float>> decode_base64(std::string_view text) {
  std::string bytes;
  if (!base64_decode(text, bytes) || bytes.size() % 4 != 0) return std::nullopt;  // a stray character, or a cut float
  std::vector<float> out;
  out.reserve(bytes.size() / 4);
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    std::uint32_t word = 0;
    for (int b = 0; b < 4; ++b) word |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + b])) << (8 * b);
    out.push_back(std::bit_cast<float>(word));
  }
  return out;
}

}  // namespace llmux::embeddings
