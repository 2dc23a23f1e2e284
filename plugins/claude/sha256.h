// SHA-256 (FIPS 180-4), for fingerprints of secrets: the state store records
// which configured token a state descends from, and /api/tokens shows a short
// prefix, without either ever holding the secret itself.
#pragma once

#include <string>
#include <string_view>

namespace llmux::claude {

// Lower-case hex digest of `data` (64 characters).
std::string sha256_hex(std::string_view data);

}  // namespace llmux::claude
