#!/usr/bin/env bash
# Key-sync benchmark: "signup webhook → key usable on the gateway", against the baseline of
# the gateway's bare import, both measured end to end by tools/loadgen.
#
#   scripts/bench/key-sync.sh [--database] [--import-only] [--no-build]
#
# Builds the perf binaries (cargo build --profile perf --bins), drops and recreates two
# databases on the local Postgres (tollgate_bench for key-sync, tollgate_bench_newapi for the
# new-api simulator), runs `key-sync migrate`, starts newapi-sim and key-sync on their own
# ports, waits for /health, then runs, at concurrency 50:
#   1. loadgen import  (baseline): a fixed count after a warm-up, then a sustained run;
#   2. loadgen signup  (key-sync): the same two runs;
# and prints both tables and the overhead (signup p99 / import p99, throughputs).
# Every process it started is stopped on exit (trap), whatever happens.
#
# --database      key-sync in database mode (a stock new-api: it writes the simulator's
#                 users and tokens); the baseline is then `loadgen newapi-insert`, the same
#                 two rows inserted straight into new-api's database in one transaction
#                 (pool of 8, as key-sync's), and the comparison is the webhook step's p99
#                 against it (docs/benchmarks.md)
# --import-only   run the baseline only (key-sync is still started, and its routes probed)
# --no-build      use the perf binaries already in target/perf
#
# Environment overrides (defaults in brackets):
#   BENCH_PG_URL [postgres://postgres@127.0.0.1:5432]   BENCH_KEY_SYNC_PORT [18081]
#   BENCH_NEWAPI_PORT [13000]   BENCH_CONCURRENCY [50]   BENCH_REQUESTS [3000]
#   BENCH_WARMUP [200]   BENCH_SUSTAIN_S [20]   BENCH_KEEP_DB=1 (keep the databases)
#   BENCH_ALLOW_ERRORS=1 (report failed requests instead of stopping at the first failed run)
# Results (JSON lines, tables, service logs): target/bench/key-sync/<UTC timestamp>/.
#
# Exit status: 0 when every run succeeded; 1 on a failed run or set-up step; 3 when key-sync
# does not serve the signup routes yet (the baseline figures are printed first).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

import_only=0
build=1
database=0
for arg in "$@"; do
  case "$arg" in
    --database) database=1 ;;
    --import-only) import_only=1 ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "key-sync bench: unknown argument $arg (try --help)" >&2; exit 1 ;;
  esac
done

pg_url="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
ks_port="${BENCH_KEY_SYNC_PORT:-18081}"
na_port="${BENCH_NEWAPI_PORT:-13000}"
concurrency="${BENCH_CONCURRENCY:-50}"
requests="${BENCH_REQUESTS:-3000}"
warmup="${BENCH_WARMUP:-200}"
sustain_s="${BENCH_SUSTAIN_S:-20}"
ks_db=tollgate_bench
na_db=tollgate_bench_newapi
ks_url="http://127.0.0.1:$ks_port"
na_url="http://127.0.0.1:$na_port"
bin="$root/target/perf"
out="$root/target/bench/key-sync/$(date -u +%Y%m%dT%H%M%SZ)"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { echo "key-sync bench: $*" >&2; exit 1; }

for tool in psql curl jq; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
for port in "$ks_port" "$na_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use (set BENCH_KEY_SYNC_PORT / BENCH_NEWAPI_PORT)"
  fi
done
mkdir -p "$out"

if [ "$build" = 1 ]; then
  say "building the perf binaries (cargo build --profile perf --bins)"
  cargo build --profile perf --bins
fi
for b in key-sync newapi-sim loadgen; do
  [ -x "$bin/$b" ] || die "$bin/$b is missing (build with: cargo build --profile perf --bins)"
done

# Fresh secrets for this run only.
rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; } # 2×$1 hex digits
admin_token="bench-admin-$(rand 16)"
newapi_admin_token="bench-newapi-$(rand 16)"
webhook_secret="bench-webhook-$(rand 16)"
jwt_secret="bench-jwt-$(rand 24)"
key_encryption_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"

cleanup() {
  if [ "${BENCH_KEEP_DB:-0}" != 1 ] && [ "${dbs_created:-0}" = 1 ]; then
    for db in "$ks_db" "$na_db"; do
      psql "$pg_url/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
  fi
  echo "results: $out"
}
# shellcheck source=scripts/lib/supervise.sh
source "$root/scripts/lib/supervise.sh"
sv_init "$out" "key-sync bench" cleanup
sv_unset=(SUPABASE_URL TOLLGATE_CONFIG)

say "recreating databases $ks_db and $na_db on $pg_url"
for db in "$ks_db" "$na_db"; do
  psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
  psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\"" >/dev/null
done
dbs_created=1

# key-sync's environment (docs/contracts.md#environment); SUPABASE_URL is left unset: user JWTs are HS256.
ks_env=(
  PORT="$ks_port"
  DATABASE_URL="$pg_url/$ks_db"
  ADMIN_TOKEN="$admin_token"
  NEWAPI_BASE_URL="$na_url"
  NEWAPI_ADMIN_TOKEN="$newapi_admin_token"
  SUPABASE_WEBHOOK_SECRET="$webhook_secret"
  SUPABASE_JWT_SECRET="$jwt_secret"
  KEY_ENCRYPTION_KEY="$key_encryption_key"
  LOG_FORMAT=json
  RUST_LOG=warn
  # A signup holds a connection twice (insert, then record the push): size the pool to
  # half the concurrency or more (docs/benchmarks.md has the figures with the default 10).
  DB_POOL_SIZE="${DB_POOL_SIZE:-25}"
)
if [ "$database" = 1 ]; then
  # A stock new-api: key-sync writes its users and tokens; users get quota to relay.
  ks_env+=(NEWAPI_SYNC_MODE=database NEWAPI_DATABASE_URL="$pg_url/$na_db" NEWAPI_USER_QUOTA=500000000 NEWAPI_POOL_SIZE="${NEWAPI_POOL_SIZE:-10}")
fi

say "migrating $ks_db (key-sync migrate)"
env -u SUPABASE_URL -u TOLLGATE_CONFIG "${ks_env[@]}" "$bin/key-sync" migrate >"$out/key-sync-migrate.log" 2>&1 ||
  { cat "$out/key-sync-migrate.log" >&2; die "key-sync migrate failed"; }

say "starting newapi-sim on :$na_port and key-sync on :$ks_port (logs in $out)"
sv_start newapi-sim PORT="$na_port" NEWAPI_SIM_DATABASE_URL="$pg_url/$na_db" \
  NEWAPI_ADMIN_TOKEN="$newapi_admin_token" RUST_LOG=warn "$bin/newapi-sim"
sv_start key-sync "${ks_env[@]}" "$bin/key-sync"

sv_wait_http newapi-sim "$na_url/health"
sv_wait_http key-sync "$ks_url/health"

# loadgen <label> <scenario> <loadgen options…>: table to the terminal and $out/<label>.txt,
# the JSON line to $out/<label>.json.
loadgen() {
  local label=$1; shift
  local rc=0
  # Each run starts from tables as autovacuum would keep them (it is off on some machines
  # here): without this, later runs meet the dead rows of earlier ones.
  for db in "$ks_db" "$na_db"; do
    psql "$pg_url/$db" -v ON_ERROR_STOP=1 -qc "VACUUM (ANALYZE)" >/dev/null
  done
  say "loadgen $label"
  local extra=()
  [ "${BENCH_ALLOW_ERRORS:-0}" = 1 ] && extra=(--allow-errors)
  "$bin/loadgen" "$@" "${extra[@]}" --json >"$out/$label.json" 2>"$out/$label.txt" || rc=$?
  cat "$out/$label.txt"
  [ $rc = 0 ] || die "loadgen $label failed (exit $rc); see $out/$label.txt and the service logs"
}
fixed=(--concurrency "$concurrency" --requests "$requests" --warmup "$warmup" --duration-s 600)
sustained=(--concurrency "$concurrency" --requests 100000000 --duration-s "$sustain_s")
import_args=(import --newapi "$na_url" --admin-token "$newapi_admin_token")
if [ "$database" = 1 ]; then
  import_args=(newapi-insert --database-url "$pg_url/$na_db" --pool "${NEWAPI_POOL_SIZE:-10}")
fi
signup_args=(signup --key-sync "$ks_url" --newapi "$na_url"
  --webhook-secret "$webhook_secret" --jwt-secret "$jwt_secret")

loadgen import-fixed "${import_args[@]}" "${fixed[@]}"
loadgen import-sustained "${import_args[@]}" "${sustained[@]}"

row() { # label json-file
  jq -r --arg l "$1" '[$l, .total, .ok, .error_count, .duration_s, .throughput_per_s,
      .latency_ms.p50, .latency_ms.p90, .latency_ms.p95, .latency_ms.p99, .latency_ms.max]
      | map(tostring) | @tsv' "$2"
}
summary() {
  {
    printf 'run\ttotal\tok\terrors\tduration_s\treq/s\tp50_ms\tp90_ms\tp95_ms\tp99_ms\tmax_ms\n'
    for label in "$@"; do row "$label" "$out/$label.json"; done
  } | column -t -s $'\t'
}

# key-sync must serve the signup routes: asked without credentials, an existing route refuses
# (401, or 400/403/422); 404/405 (or no answer) means the route is not there.
probe() { # method path [body]
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1" -H 'content-type: application/json' \
    ${3:+--data "$3"} "$ks_url$2" || true
}
missing=()
check_route() { # method path [body]
  local status
  status=$(probe "$@")
  case "$status" in
    400 | 401 | 403 | 422) ;;
    *) missing+=("$1 $2 (answered ${status:-nothing} without credentials; expected 401)") ;;
  esac
}
check_route POST /webhooks/supabase/users '{}'
check_route GET /v1/keys

if [ "$import_only" = 1 ] || [ ${#missing[@]} -gt 0 ]; then
  say "baseline (import)"
  summary import-fixed import-sustained
  if [ ${#missing[@]} -gt 0 ]; then
    echo "key-sync bench: key-sync at $ks_url lacks the signup routes:" >&2
    printf 'key-sync bench:   %s\n' "${missing[@]}" >&2
    echo "key-sync bench: the signup benchmark cannot run until they exist (baseline above)." >&2
    [ "$import_only" = 1 ] && exit 0
    exit 3
  fi
  exit 0
fi

loadgen signup-fixed "${signup_args[@]}" "${fixed[@]}"
loadgen signup-sustained "${signup_args[@]}" "${sustained[@]}"
if [ "$database" = 1 ]; then
  # The webhook alone, one request per iteration, like the bare insert.
  loadgen webhook-fixed "${signup_args[@]}" --webhook-only "${fixed[@]}"
  loadgen webhook-sustained "${signup_args[@]}" --webhook-only "${sustained[@]}"
fi

say "summary (concurrency $concurrency; fixed: $requests after $warmup warm-up; sustained: ${sustain_s} s)"
if [ "$database" = 1 ]; then
  summary import-fixed signup-fixed webhook-fixed import-sustained signup-sustained webhook-sustained
  echo
  # The webhook alone against the bare insert of the same two rows.
  for kind in fixed sustained; do
    jq -rn --slurpfile i "$out/import-$kind.json" --slurpfile s "$out/webhook-$kind.json" --arg k "$kind" '
      ($i[0].latency_ms.p99) as $bare | ($s[0].latency_ms.p99) as $hook |
      "\($k): webhook alone p99 \($hook) ms vs bare insert p99 \($bare) ms: " +
      (if ($bare // 0) > 0 then ((($hook / $bare) * 100 | round) / 100 | tostring) + "x (target <= 2x)" else "n/a" end)'
  done
else
  summary import-fixed signup-fixed import-sustained signup-sustained
fi
echo
for kind in fixed sustained; do
  jq -rn --slurpfile i "$out/import-$kind.json" --slurpfile s "$out/signup-$kind.json" --arg k "$kind" '
    def ratio(a; b): if (a // 0) > 0 and (b // 0) > 0 then ((b / a) * 100 | round / 100 | tostring) + "x" else "n/a" end;
    ($i[0]) as $imp | ($s[0]) as $sig |
    "\($k): signup/import p99 \(ratio($imp.latency_ms.p99; $sig.latency_ms.p99)) (\($sig.latency_ms.p99) ms vs \($imp.latency_ms.p99) ms), " +
    "p50 \(ratio($imp.latency_ms.p50; $sig.latency_ms.p50)); " +
    "throughput signup \($sig.throughput_per_s)/s vs import \($imp.throughput_per_s)/s (\(ratio($imp.throughput_per_s; $sig.throughput_per_s)))"'
done
