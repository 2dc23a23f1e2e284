#include "admin/config_editor.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "config/gateway_config.h"
#include "llmux/json.h"
#include "plugins/plugin_registry.h"

namespace llmux::host {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPlaceholderPrefix = "<redacted:";
constexpr std::size_t kHashDigits = 8;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string short_hash(std::string_view secret) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(secret.data(), secret.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 is not available");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < kHashDigits / 2; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

std::string placeholder(std::string_view secret) {
  // Appended piece by piece: GCC 12's -Wrestrict misreads "literal" + string&& at -O3.
  std::string out = "\"";
  out.append(kPlaceholderPrefix).append(short_hash(secret)).append(">\"");
  return out;
}

bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Exactly "${NAME}" or "${NAME:-}": names a secret, is not one. A
// non-empty default may be the secret itself, so it is redacted.
bool is_variable_reference(std::string_view value) {
  if (value.size() < 4 || value.substr(0, 2) != "${" || value.back() != '}') return false;
  std::string_view body = value.substr(2, value.size() - 3);
  if (body.find('}') != std::string_view::npos) return false;  // "${A}x${B}" is two references and text
  std::string_view name = body.substr(0, body.find(":-"));
  if (name.size() != body.size() && name.size() + 2 != body.size()) return false;  // a default value
  if (name.empty() || !is_name_start(name[0])) return false;
  return std::all_of(name.begin(), name.end(), is_name_char);
}

// The hash of a value that is exactly a placeholder, else std::nullopt.
std::optional<std::string> placeholder_hash(std::string_view value) {
  if (value.size() != kPlaceholderPrefix.size() + kHashDigits + 1) return std::nullopt;
  if (value.substr(0, kPlaceholderPrefix.size()) != kPlaceholderPrefix || value.back() != '>') return std::nullopt;
  std::string_view hash = value.substr(kPlaceholderPrefix.size(), kHashDigits);
  if (!std::all_of(hash.begin(), hash.end(), is_hex)) return std::nullopt;
  return std::string(hash);
}

bool contains_placeholder(std::string_view value) {
  for (std::size_t at = value.find(kPlaceholderPrefix); at != std::string_view::npos;
       at = value.find(kPlaceholderPrefix, at + 1)) {
    if (placeholder_hash(value.substr(at, kPlaceholderPrefix.size() + kHashDigits + 1))) return true;
  }
  return false;
}

bool is_secret_key(const std::string& name) { return is_secret_config_key(name); }

SourceMark mark_of(const YAML::Mark& mark, const std::string& source) {
  if (mark.line < 0 || mark.column < 0) return SourceMark{source, 0, 0};
  return SourceMark{source, mark.line + 1, mark.column + 1};
}

YAML::Node load_yaml(std::string_view text, const std::string& source) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw ConfigError(mark_of(e.mark, source), "", e.msg);
  }
}

// Where a scalar is written. For a block scalar (| or >) `end` is the end of
// its header and [body_begin, body_end) its content lines (each with the line
// break before it).
struct ScalarSpan {
  enum class Style { Plain, SingleQuoted, DoubleQuoted, Block };
  Style style = Style::Plain;
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t body_begin = 0;
  std::size_t body_end = 0;
  bool multi_line() const { return style == Style::Block || body_end > body_begin; }
};

bool at_line_break(std::string_view text, std::size_t i) { return i >= text.size() || text[i] == '\n' || text[i] == '\r'; }

std::size_t line_end(std::string_view text, std::size_t i) {
  std::size_t end = text.find('\n', i);
  if (end == std::string_view::npos) return text.size();
  return (end > i && text[end - 1] == '\r') ? end - 1 : end;
}

// One line of a plain scalar from `i`: where its text ends (trailing blanks cut).
std::size_t plain_line_end(std::string_view text, std::size_t i, bool in_flow) {
  std::size_t end = i;
  while (!at_line_break(text, end)) {
    char c = text[end];
    if (c == '#' && end > i && (text[end - 1] == ' ' || text[end - 1] == '\t')) break;
    if (in_flow && (c == ',' || c == '[' || c == ']' || c == '{' || c == '}')) break;
    ++end;
  }
  while (end > i && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  return end;
}

std::size_t indentation_at(std::string_view text, std::size_t line_start) {
  std::size_t i = line_start;
  while (i < text.size() && text[i] == ' ') ++i;
  return i - line_start;
}

// Finds the text of `node` (a scalar) from its mark; std::nullopt when the
// text there does not read as that scalar.
std::optional<ScalarSpan> locate_scalar(std::string_view text, const YAML::Node& node, bool in_flow) {
  int mark = node.Mark().pos;
  if (mark < 0 || static_cast<std::size_t>(mark) >= text.size()) return std::nullopt;
  std::size_t i = static_cast<std::size_t>(mark);
  // Anchors and tags come first: skip them (and the blanks after them).
  while (i < text.size() && (text[i] == '&' || text[i] == '!')) {
    while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') ++i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  }
  if (i >= text.size()) return std::nullopt;
  ScalarSpan span;
  span.begin = i;
  const std::string& value = node.Scalar();
  char first = text[i];
  if (first == '"') {
    span.style = ScalarSpan::Style::DoubleQuoted;
    std::size_t j = i + 1;
    while (j < text.size() && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
    if (j >= text.size()) return std::nullopt;
    span.end = j + 1;
  } else if (first == '\'') {
    span.style = ScalarSpan::Style::SingleQuoted;
    std::size_t j = i + 1;
    while (j < text.size()) {
      if (text[j] == '\'') {
        if (j + 1 < text.size() && text[j + 1] == '\'') {
          j += 2;
          continue;
        }
        break;
      }
      ++j;
    }
    if (j >= text.size()) return std::nullopt;
    span.end = j + 1;
  } else if (first == '|' || first == '>') {
    span.style = ScalarSpan::Style::Block;
    std::size_t j = i + 1;
    while (j < text.size() && (text[j] == '+' || text[j] == '-' || (text[j] >= '0' && text[j] <= '9'))) ++j;
    span.end = j;
    // Content: the lines indented like the first non-blank one (or deeper),
    // and blank lines between them.
    std::size_t header_end = text.find('\n', j);
    if (header_end == std::string_view::npos) return std::nullopt;
    span.body_begin = header_end;
    span.body_end = header_end;
    std::size_t content_indent = 0;
    std::size_t line = header_end + 1;
    while (line < text.size()) {
      std::size_t end = line_end(text, line);
      std::size_t indent = indentation_at(text, line);
      bool blank = line + indent >= end;
      if (!blank) {
        if (content_indent == 0) content_indent = indent;
        if (indent < content_indent || indent == 0) break;
        span.body_end = end;
      }
      std::size_t next = text.find('\n', line);
      if (next == std::string_view::npos) break;
      line = next + 1;
    }
    if (span.body_end == span.body_begin) return std::nullopt;
  } else {
    span.style = ScalarSpan::Style::Plain;
    span.end = plain_line_end(text, i, in_flow);
    std::string folded(text.substr(i, span.end - i));
    if (folded == value) return span;
    // A plain scalar over several lines: line breaks fold to spaces (a blank
    // line to a line break).
    std::size_t line = text.find('\n', span.end);
    int blank_lines = 0;
    while (line != std::string_view::npos && folded.size() < value.size()) {
      ++line;
      std::size_t start = line;
      while (start < text.size() && (text[start] == ' ' || text[start] == '\t')) ++start;
      if (at_line_break(text, start)) {
        ++blank_lines;
      } else {
        if (text[start] == '#') return std::nullopt;
        std::size_t end = plain_line_end(text, start, in_flow);
        folded += blank_lines > 0 ? std::string(static_cast<std::size_t>(blank_lines), '\n') : std::string(" ");
        folded.append(text.substr(start, end - start));
        blank_lines = 0;
        span.body_begin = span.end;  // marks the scalar as spanning lines
        span.end = end;
        span.body_end = end;
        if (folded == value) return span;
      }
      line = text.find('\n', line);
    }
    return std::nullopt;
  }
  return span;
}

struct FoundScalar {
  YAML::Node node;
  std::string path;
  bool in_flow = false;
  bool secret = false;  // it sits where a secret goes
};

// The last map key of a path ("providers.a.options.api_keys[1]" -> "api_keys"):
// a restored secret must go back under a key of the same name.
std::string last_key(std::string_view path) {
  while (!path.empty() && path.back() == ']') path = path.substr(0, path.rfind('['));
  auto dot = path.rfind('.');
  return lower(dot == std::string_view::npos ? path : path.substr(dot + 1));
}

// "scheme://user:password@host...": the credentials ride in the URL.
bool has_userinfo(std::string_view value) {
  auto scheme = value.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view rest = value.substr(scheme + 3);
  auto at = rest.find('@');
  return at != std::string_view::npos && rest.substr(0, at).find('/') == std::string_view::npos;
}

// Walks the document and collects the scalars `wanted` picks (secret or not
// by where they sit).
class ScalarWalker {
 public:
  // Secrets only (redaction), or every scalar (finding placeholders).
  explicit ScalarWalker(bool secrets_only) : secrets_only_(secrets_only) {}

  std::vector<FoundScalar> walk(const YAML::Node& root) {
    visit(root, "", Context{});
    return std::move(found_);
  }

 private:
  struct Context {
    bool secret = false;       // every scalar below is a secret
    bool headers = false;      // the map of HTTP headers
    bool client_keys = false;  // the client_keys list
    bool client_key_entry = false;
    bool flow = false;
  };

  void visit(const YAML::Node& node, const std::string& path, Context context) {
    if (++depth_ > 64) {
      --depth_;
      return;  // an alias cycle; nothing in a config nests this deep
    }
    switch (node.Type()) {
      case YAML::NodeType::Scalar: {
        const bool secret = context.secret || has_userinfo(node.Scalar());
        if (!secrets_only_ || secret) found_.push_back({node, path, context.flow, secret});
        break;
      }
      case YAML::NodeType::Sequence: {
        Context inner;
        inner.secret = context.secret;
        inner.flow = context.flow || node.Style() == YAML::EmitterStyle::Flow;
        std::size_t index = 0;
        for (const YAML::Node& item : node) {
          Context item_context = inner;
          if (context.client_keys) {
            if (item.IsScalar()) item_context.secret = true;
            item_context.client_key_entry = item.IsMap();
          }
          visit(item, path + "[" + std::to_string(index++) + "]", item_context);
        }
        break;
      }
      case YAML::NodeType::Map: {
        bool flow = context.flow || node.Style() == YAML::EmitterStyle::Flow;
        for (auto it = node.begin(); it != node.end(); ++it) {
          const YAML::Node key = it->first;
          const YAML::Node value = it->second;
          std::string name = key.IsScalar() ? key.Scalar() : std::string();
          std::string lowered = lower(name);
          Context inner;
          inner.flow = flow;
          // Every header value counts: vendors name their key headers freely.
          inner.secret = context.secret || is_secret_key(lowered) || context.headers ||
                         (context.client_key_entry && lowered == "key") ||
                         (lowered == "client_keys" && value.IsScalar());
          inner.headers = lowered == "headers";
          inner.client_keys = lowered == "client_keys";
          visit(value, path.empty() ? name : path + "." + name, inner);
        }
        break;
      }
      default:
        break;
    }
    --depth_;
  }

  bool secrets_only_;
  int depth_ = 0;
  std::vector<FoundScalar> found_;
};

struct Splice {
  std::size_t begin;
  std::size_t end;
  std::string text;
};

std::string apply_splices(std::string_view text, std::vector<Splice> splices) {
  std::sort(splices.begin(), splices.end(), [](const Splice& a, const Splice& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  for (const Splice& splice : splices) {
    if (splice.begin < at) continue;  // the same node twice (an alias): done already
    out.append(text.substr(at, splice.begin - at));
    out += splice.text;
    at = splice.end;
  }
  out.append(text.substr(at));
  return out;
}

void add_replacement(std::vector<Splice>& splices, const ScalarSpan& span, std::string replacement) {
  splices.push_back({span.begin, span.end, std::move(replacement)});
  if (span.style == ScalarSpan::Style::Block) splices.push_back({span.body_begin, span.body_end, ""});
}

// A secret of the current file, as restore puts it back.
struct KnownSecret {
  std::string value;
  std::string key;       // the map key it sits under (last_key)
  std::string spelling;  // its text in the file when on one line (quotes included), else empty
  bool in_flow = false;
  bool plain = false;
};

std::map<std::string, KnownSecret> secrets_of(std::string_view text, const std::string& source) {
  std::map<std::string, KnownSecret> secrets;
  YAML::Node root = load_yaml(text, source);
  for (const FoundScalar& found : ScalarWalker(true).walk(root)) {
    const std::string& value = found.node.Scalar();
    if (value.empty() || is_variable_reference(value)) continue;
    KnownSecret secret{value, last_key(found.path), {}, found.in_flow, false};
    if (auto span = locate_scalar(text, found.node, found.in_flow); span && !span->multi_line()) {
      secret.spelling = std::string(text.substr(span->begin, span->end - span->begin));
      secret.plain = span->style == ScalarSpan::Style::Plain;
    }
    secrets.emplace(short_hash(value), std::move(secret));
  }
  return secrets;
}

std::string double_quoted(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::system_error(errno, std::generic_category(), "cannot read " + file.string());
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Restores and parses; returns the restored text. Throws ConfigError.
std::string check_text(std::string_view text, const fs::path& source, const PluginRegistry* plugins) {
  std::string current;
  std::error_code ignored;
  if (fs::exists(source, ignored)) current = read_file(source);
  std::string restored = restore_redacted(text, current, source.string());
  GatewayConfig config = parse_gateway_config(restored, source);
  if (plugins) {
    for (const ProviderDecl& decl : config.providers) {
      if (plugins->find(decl.plugin)) continue;
      SourceMark mark = decl.mark;
      ConfigNode root = parse_yaml_tree(restored, source.string());
      const ConfigNode* providers = root.find("providers");
      const ConfigNode* provider = providers ? providers->find(decl.name) : nullptr;
      const ConfigNode* plugin = provider && provider->is_map() ? provider->find("plugin") : nullptr;
      if (plugin) mark = plugin->mark();
      throw ConfigError(mark, "providers." + decl.name + ".plugin", "plugin '" + decl.plugin + "' is not loaded");
    }
  }
  return restored;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

[[noreturn]] void fail(const std::string& what, const fs::path& file) {
  throw std::system_error(errno, std::generic_category(), what + " " + file.string());
}

void fsync_folder(const fs::path& folder) {
  FileDescriptor dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) fail("cannot open the folder", folder);
  if (::fsync(dir.get()) != 0) fail("cannot sync the folder", folder);
}

// Replaces `file` by `content` in one step: a reader sees the old file or the
// new one, never a part. Mode (and owner, when allowed) as given.
void write_atomically(const fs::path& file, std::string_view content, const struct stat* like) {
  fs::path folder = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  std::string name = ".";
  name.append(file.filename().string()).append(".tmp-XXXXXX");
  std::string temp = (folder / name).string();
  FileDescriptor fd(::mkstemp(temp.data()));
  if (fd.get() < 0) fail("cannot create a temporary file beside", file);
  auto cleanup_and_fail = [&](const std::string& what) {
    int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    fail(what, file);
  };
  mode_t mode = like ? (like->st_mode & 07777) : 0600;
  if (::fchmod(fd.get(), mode) != 0) cleanup_and_fail("cannot set the mode of");
  if (like && (like->st_uid != ::geteuid() || like->st_gid != ::getegid())) {
    [[maybe_unused]] int ignored = ::fchown(fd.get(), like->st_uid, like->st_gid);  // best effort (needs privilege)
  }
  std::size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) cleanup_and_fail("cannot write");
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) cleanup_and_fail("cannot sync");
  if (::close(fd.release()) != 0) cleanup_and_fail("cannot write");
  if (::rename(temp.c_str(), file.c_str()) != 0) cleanup_and_fail("cannot replace");
  fsync_folder(folder);
}

}  // namespace

bool is_secret_config_key(std::string_view name) {
  static const char* const kNames[] = {"admin_key",    "api_key",       "api_keys", "access_token", "refresh_token",
                                       "password",     "secret",        "token",    "authorization", "x-api-key",
                                       "api-key",      "client_secret"};
  const std::string lowered = lower(name);
  return std::any_of(std::begin(kNames), std::end(kNames), [&](const char* secret) { return lowered == secret; });
}

std::string redact_config_text(std::string_view yaml_text) {
  const std::string source = "providers.yaml";
  YAML::Node root = load_yaml(yaml_text, source);
  std::vector<Splice> splices;
  std::vector<std::string> secrets;
  for (const FoundScalar& found : ScalarWalker(true).walk(root)) {
    const std::string& value = found.node.Scalar();
    if (value.empty() || is_variable_reference(value)) continue;
    auto span = locate_scalar(yaml_text, found.node, found.in_flow);
    if (!span) throw ConfigError(mark_of(found.node.Mark(), source), found.path, "cannot redact this secret's text");
    add_replacement(splices, *span, placeholder(value));
    secrets.push_back(value);
  }
  std::string out = apply_splices(yaml_text, std::move(splices));
  // A safety net for a misread extent: the text shown must not hold a secret.
  for (const std::string& secret : secrets) {
    if (secret.size() >= 6 && out.find(secret) != std::string::npos) {
      throw ConfigError(SourceMark{source, 0, 0}, "", "cannot redact the file's secrets");
    }
  }
  return out;
}

std::string restore_redacted(std::string_view edited_text, std::string_view current_text,
                             const std::string& source_name) {
  if (edited_text.find(kPlaceholderPrefix) == std::string_view::npos) return std::string(edited_text);
  YAML::Node root = load_yaml(edited_text, source_name);
  std::optional<std::map<std::string, KnownSecret>> known;  // read only when needed
  std::vector<Splice> splices;
  for (const FoundScalar& found : ScalarWalker(false).walk(root)) {
    const std::string& value = found.node.Scalar();
    if (value.find(kPlaceholderPrefix) == std::string::npos) continue;
    SourceMark mark = mark_of(found.node.Mark(), source_name);
    auto hash = placeholder_hash(value);
    if (!hash) {
      if (!contains_placeholder(value)) continue;
      throw ConfigError(mark, found.path, "a redacted secret must be the whole value (write the secret in full)");
    }
    if (!known) {
      try {
        known = secrets_of(current_text, source_name);
      } catch (const ConfigError&) {
        known.emplace();  // the current file is unreadable: no secret is known
      }
    }
    auto secret = known->find(*hash);
    if (secret == known->end()) {
      throw ConfigError(mark, found.path, "unknown redacted secret <redacted:" + *hash + ">");
    }
    // A secret goes back only where a secret of its kind goes: put anywhere
    // else (a model name, a URL, a number) it would be echoed by the API or
    // by an error message, or sent somewhere it was never meant to go.
    const bool secret_position = found.secret || has_userinfo(secret->second.value);  // a URL with credentials
    if (!secret_position || last_key(found.path) != secret->second.key) {
      throw ConfigError(mark, found.path,
                        "<redacted:" + *hash + "> stands for the secret of a '" + secret->second.key +
                            "' key and can only be used under one");
    }
    auto span = locate_scalar(edited_text, found.node, found.in_flow);
    if (!span) throw ConfigError(mark, found.path, "cannot place the redacted secret here");
    const KnownSecret& original = secret->second;
    // Its own spelling when it reads the same here; else double-quoted.
    bool keep_spelling = !original.spelling.empty() && (!original.plain || original.in_flow == found.in_flow ||
                                                        !found.in_flow);
    add_replacement(splices, *span, keep_spelling ? original.spelling : double_quoted(original.value));
  }
  return apply_splices(edited_text, std::move(splices));
}

namespace {

ConfigCheck check_of(const ConfigError& error, const fs::path& source) {
  ConfigCheck check{false, error.detail(), error.mark().file, error.mark().line, error.mark().column, error.path()};
  if (check.file.empty()) check.file = source.string();
  return check;
}

}  // namespace

ConfigCheck validate_config_text(std::string_view text, const fs::path& source, const PluginRegistry* plugins) {
  ConfigCheck check;
  try {
    check_text(text, source, plugins);
  } catch (const ConfigError& e) {
    check = check_of(e, source);
  } catch (const std::exception& e) {
    check = ConfigCheck{false, e.what(), source.string(), 0, 0, {}};
  }
  return check;
}

ApplyResult apply_config_text(const fs::path& file, std::string_view text, const PluginRegistry* plugins) {
  ApplyResult result;
  std::string restored;
  try {
    restored = check_text(text, file, plugins);
  } catch (const ConfigError& e) {
    result.check = check_of(e, file);
    return result;
  }
  std::error_code error;
  fs::path target = fs::is_symlink(file, error) ? fs::canonical(file) : file;
  struct stat current {};
  if (::stat(target.c_str(), &current) == 0) {
    result.backup = fs::path(target.string() + ".bak");
    write_atomically(result.backup, read_file(target), &current);
    write_atomically(target, restored, &current);
  } else if (errno == ENOENT) {
    write_atomically(target, restored, nullptr);
  } else {
    fail("cannot read", target);
  }
  return result;
}

void restore_config_backup(const fs::path& file, const fs::path& backup) {
  std::error_code error;
  fs::path target = fs::is_symlink(file, error) ? fs::canonical(file) : file;
  struct stat current {};
  if (::stat(target.c_str(), &current) != 0) fail("cannot read", target);
  std::ifstream in(backup, std::ios::binary);
  if (!in) fail("cannot read", backup);
  write_atomically(target, read_file(backup), &current);
}

std::string config_check_json(const ConfigCheck& check) {
  if (check.ok) return R"({"ok":true})";
  std::string out = R"({"ok":false,"error":{"message":)";
  json::append_quoted(out, check.message);
  out += R"(,"file":)";
  json::append_quoted(out, check.file);
  out += R"(,"line":)";
  out += check.line > 0 ? std::to_string(check.line) : "null";
  out += R"(,"column":)";
  out += check.column > 0 ? std::to_string(check.column) : "null";
  out += R"(,"path":)";
  if (check.path.empty()) {
    out += "null";
  } else {
    json::append_quoted(out, check.path);
  }
  return out + "}}";
}

}  // namespace llmux::host
