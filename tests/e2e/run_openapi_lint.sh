#!/usr/bin/env bash
# End-to-end: host/admin/www/openapi.json is a valid OpenAPI 3.1 document, as
# @apidevtools/swagger-parser (pinned in tests/e2e/openapi) validates it: the
# 3.1 meta-schema and every $ref. Fails with the validator's message.
#
#   run_openapi_lint.sh BUILD_DIR SOURCE_DIR
#
# What llmux serves at GET /openapi.json is this file byte for byte
# (tests/host/openapi_test.cc, OpenApiDocument.ServedDocumentIsTheSourceFile),
# so validating the file validates the served document.
#
# The npm packages are installed once into BUILD_DIR/e2e/openapi (again only
# when package-lock.json changes); when that cannot be done the test fails, it
# is never skipped.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi

source "$(dirname "$0")/lib.sh"
e2e_bounded 300 "$0" "$@"

BUILD_DIR=$(realpath "$1")
SOURCE_DIR=$(realpath "$2")
TEST_SRC=$SOURCE_DIR/tests/e2e/openapi
CACHE=$BUILD_DIR/e2e/openapi
DOCUMENT=$SOURCE_DIR/host/admin/www/openapi.json

[[ -f "$DOCUMENT" ]] || e2e_fail "no OpenAPI document at $DOCUMENT"

e2e_npm_install "$TEST_SRC" "$CACHE" @apidevtools/swagger-parser
have=$E2E_NPM_VERSION
cp "$TEST_SRC/validate.mjs" "$CACHE/"  # beside node_modules, so the import resolves

e2e_log "@apidevtools/swagger-parser@$have on node $(node --version)"
if (cd "$CACHE" && node ./validate.mjs "$DOCUMENT"); then
  e2e_log "openapi lint: PASS"
else
  e2e_fail "openapi lint: $DOCUMENT is not a valid OpenAPI 3.1 document (see above)"
fi
