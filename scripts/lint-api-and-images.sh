#!/usr/bin/env bash
# Lints what ships besides the code: the Dockerfiles with hadolint, and the committed
# OpenAPI documents (docs/openapi/*.json, which the services' tests keep equal to what
# they serve) with openapi-spec-validator. The running services' documents are validated
# and fuzzed with schemathesis by scripts/stack-smoke.sh (scripts/smoke/80-fuzz.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-fuzz.sh
.venv-fuzz/bin/hadolint deploy/Dockerfile deploy/localstripe.Dockerfile
.venv-fuzz/bin/openapi-spec-validator docs/openapi/*.json
echo "OK: hadolint clean on the Dockerfiles; docs/openapi/*.json are valid OpenAPI"
