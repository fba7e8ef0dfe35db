#!/usr/bin/env bash
# Installs localstripe (the Stripe fake tests and the local stack use) into the project's
# own virtualenv, .venv/, when it is missing. Idempotent and quiet.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
if [ -x "$venv/bin/localstripe" ]; then
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "setup-python: installing python3-venv" >&2
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
echo "setup-python: creating $venv with localstripe 1.15" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'localstripe==1.15.*'
