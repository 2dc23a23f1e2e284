// providers.yaml as the admin panel edits it: shown with its secrets redacted,
// edited text restored (placeholders back to the secrets they stand for),
// validated with positions, and written atomically with a backup.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "llmux/config.h"

namespace llmux::host {

class PluginRegistry;

// Whether a config key (any case) names a secret: admin_key, api_key,
// api_keys, access_token, refresh_token, password, secret, token,
// client_secret, authorization, x-api-key, api-key. Every value under a
// `headers:` map and every client key counts too (see redact_config_text).
bool is_secret_config_key(std::string_view name);

// The file with every secret scalar replaced by "<redacted:xxxxxxxx>" (the
// first 8 hex digits of the secret's SHA-256). Secrets are the values of keys
// named admin_key, api_key, api_keys (each item), access_token, refresh_token,
// password, secret, token, authorization, x-api-key, api-key (any case), the
// key of each client_keys entry, and authorization/x-api-key/api-key headers.
// A value that is exactly a ${VAR} or ${VAR:-default} reference is shown as it
// is. Everything else stays byte for byte (comments, order, layout).
// Throws ConfigError when the text is not YAML, or when a secret's extent in
// the text cannot be told (rather than show it).
std::string redact_config_text(std::string_view yaml_text);

// `edited_text` with each "<redacted:xxxxxxxx>" value (quoted or plain)
// replaced by the secret of `current_text` with that hash (in its original
// spelling, or double-quoted). Throws ConfigError (line, column of the
// placeholder) for an unknown hash ("unknown redacted secret") or a
// placeholder that is only part of a value; YAML syntax errors as the loader.
std::string restore_redacted(std::string_view edited_text, std::string_view current_text,
                             const std::string& source_name = "providers.yaml");

// The outcome of checking a config text; on error, where and what.
struct ConfigCheck {
  bool ok = true;
  std::string message;  // the error without its position
  std::string file;
  int line = 0;    // 1-based, 0 when unknown
  int column = 0;  // 1-based
  std::string path;  // key path, e.g. "providers.openai.options.base_url"; may be empty
};

// Restores placeholders against the file at `source` (its current content),
// then parses the result as the loader does. With `plugins`, also checks that
// each provider's plugin is loaded. Never throws.
ConfigCheck validate_config_text(std::string_view text, const std::filesystem::path& source,
                                 const PluginRegistry* plugins = nullptr);

struct ApplyResult {
  ConfigCheck check;               // !check.ok: nothing was written
  std::filesystem::path backup;    // "<file>.bak", the previous content (when check.ok)
};

// Validates `text` (placeholders restored), copies the current file to
// "<file>.bak" (replacing an older backup, same permissions), then writes the
// new content to a temporary file in the same folder, fsyncs it, renames it
// over the file and fsyncs the folder. The file keeps its permissions. A
// symbolic link is followed: its target is replaced. Throws std::system_error
// when the file system refuses (then the file is unchanged). The caller
// reloads.
ApplyResult apply_config_text(const std::filesystem::path& file, std::string_view text,
                              const PluginRegistry* plugins = nullptr);

// Puts `backup` (apply's "<file>.bak") back as `file`, atomically like apply,
// keeping the file's permissions (a reload refused what apply wrote).
// Throws std::system_error when the file system refuses.
void restore_config_backup(const std::filesystem::path& file, const std::filesystem::path& backup);

// {"ok":true} or {"ok":false,"error":{"message","file","line","column","path"}}
// (line, column null when unknown; path null when empty).
std::string config_check_json(const ConfigCheck& check);

}  // namespace llmux::host
