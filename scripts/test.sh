#!/usr/bin/env bash
# Runs the whole test suite against the local Postgres (127.0.0.1:5432) and MariaDB
# (127.0.0.1:3306): every test makes its own databases. Extra arguments go to nextest,
# e.g. scripts/test.sh -p key-sync.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/setup-python.sh"
# The usage page is tested in headless Chromium (Debian's package; no browser download).
if [ -z "${CHROMIUM_BIN:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "test: installing Debian's chromium for the usage page test" >&2
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
profile=default
[ "${CI:-}" = true ] && profile=ci
exec cargo nextest run --workspace --locked --profile "$profile" "$@"
