#!/usr/bin/env bash
# Runs the whole test suite against the local Postgres (127.0.0.1:5432) and MariaDB
# (127.0.0.1:3306): every test makes its own databases. Extra arguments go to nextest,
# e.g. scripts/test.sh -p key-sync.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/setup-python.sh"
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
profile=default
[ "${CI:-}" = true ] && profile=ci
exec cargo nextest run --workspace --locked --profile "$profile" "$@"
