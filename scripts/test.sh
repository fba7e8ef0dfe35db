#!/usr/bin/env bash
# Runs the whole test suite against the local Postgres (127.0.0.1:5432) and MariaDB
# (127.0.0.1:3306), and a private ClickHouse it starts: every test makes its own databases.
# Extra arguments go to nextest, e.g. scripts/test.sh -p key-sync.
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
# usage-stats on new-api's logs in ClickHouse: one private server (Debian's 18.16) for the
# run; each test makes its own database there.
if [ -z "${TEST_CLICKHOUSE_URL:-}" ]; then
  if ! command -v "${CLICKHOUSE_SERVER_BIN:-clickhouse-server}" >/dev/null 2>&1; then
    echo "test: installing Debian's clickhouse-server for the ClickHouse log source" >&2
    apt-get update -qq && apt-get install -y -qq --no-install-recommends clickhouse-server >/dev/null
  fi
  # shellcheck source=lib/clickhouse.sh
  . "$root/scripts/lib/clickhouse.sh"
  ch_dir="$(mktemp -d /tmp/tollgate-clickhouse.XXXXXX)"
  trap 'ch_stop; rm -rf "$ch_dir"' EXIT
  ch_start "$ch_dir"
  export TEST_CLICKHOUSE_URL="http://127.0.0.1:$ch_http_port"
fi
profile=default
[ "${CI:-}" = true ] && profile=ci
cargo nextest run --workspace --locked --profile "$profile" "$@"
