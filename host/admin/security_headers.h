// The headers every answer of the panel, /docs and the admin API carries: no
// inline script, no framing, no sniffing, no referrer (docs/admin-api.md).
#pragma once

#include <string_view>

namespace llmux::host {

inline constexpr std::string_view kPanelSecurityHeaders =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n"
    "X-Frame-Options: DENY\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n";

}  // namespace llmux::host
