#!/usr/bin/env bash
# Soak: mixed load on key-sync, usage-stats and billing at once for 10 minutes, with faults
# switched on and off in the simulators, then checks that nothing was lost or doubled.
#
#   scripts/soak.sh [--no-build]
#
# Builds the perf binaries, recreates two databases on the local Postgres (tollgate_soak
# for the three services, tollgate_soak_newapi for the new-api simulator), starts newapi-sim,
# kms-sim, localstripe, key-sync (import mode, so new-api's HTTP faults reach it),
# usage-stats and billing (on the KMS), and runs 30-second slots until the time is up. Each
# slot runs, at once (tools/loadgen, closed loop, low concurrency: a steady load, not a
# throughput test):
#   - signup:        Supabase signup webhook → the user's key from GET /v1/keys → the key
#                    works on the gateway (key-sync), 4 workers;
#   - limit-webhook: a signed KMS limit event per fresh organisation → Stripe charge → KMS
#                    quota raise (billing), 2 workers, up to 200 organisations set up per slot;
#   - relay:         chat completions through newapi-sim with 2 keys (new consume logs);
#   - usage:         /detail, /chart (hourly, Asia/Kathmandu) and /logs of those keys
#                    (usage-stats), 4 workers.
# Every other slot has faults on: new-api's key import (POST /api/token/import) and the
# KMS's quota raise (PUT /organizations/…/quota) answer 503, drop the connection or wait 3 s
# past the client's timeout, in turn. Meanwhile each service's RSS is sampled every 5 s.
#
# Then, faults off, it waits for the retries to settle and checks:
#   - no 5xx from a Tollgate service in a slot without faults; in a slot with faults, only
#     503s (a documented "try again"), never a 500;
#   - RSS flat after warm-up: each service's last-minute mean within 10 % of its mean in
#     the minute after the warm-up (SOAK_WARMUP_S, 120 s);
#   - keys: every signed-up user has exactly one key, every key is on the gateway exactly
#     once (new-api's tokens, by key hash) and none is pending;
#   - charges: every organisation that got an event has exactly one recharge; every one
#     ended delivered (the KMS quota equals billing's) or, when the KMS stayed down past the
#     retries, refunded in full; one succeeded PaymentIntent each, of the charged amount;
#   - usage: for every relay key, usage-stats' totals equal SQL over new-api's logs, and
#     the logs count equals the relay requests that succeeded.
#
# Environment overrides: SOAK_DURATION_S [600], SOAK_SLOT_S [30], SOAK_WARMUP_S [120],
# SOAK_RESULT_CACHE_MB [1] (usage-stats' RESULT_CACHE_MB),
# SOAK_ANSWER_CACHE_MB [0] (billing's WEBHOOK_ANSWER_CACHE_MB),
# SOAK_PG_URL [postgres://postgres@127.0.0.1:5432], SOAK_PORT_BASE [29000] (ports base+1…+6),
# SOAK_BIN_DIR [target/perf] (e.g. target/debug with --no-build for a quick try),
# SOAK_KEEP_DB=1. Results: target/soak/<UTC timestamp>/ (summary.txt, per-slot loadgen
# JSON, rss.tsv, every process's log). Exit status 0 when every check holds.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak: unknown argument $arg (try --help)" >&2; exit 1 ;;
  esac
done

duration_s="${SOAK_DURATION_S:-600}"
slot_s="${SOAK_SLOT_S:-30}"
warmup_s="${SOAK_WARMUP_S:-120}"
result_cache_mb="${SOAK_RESULT_CACHE_MB:-1}"
answer_cache_mb="${SOAK_ANSWER_CACHE_MB:-0}"
pg_url="${SOAK_PG_URL:-postgres://postgres@127.0.0.1:5432}"
base="${SOAK_PORT_BASE:-29000}"
ks_port=$((base + 1)); us_port=$((base + 2)); billing_port=$((base + 3))
na_port=$((base + 4)); kms_port=$((base + 5)); stripe_port=$((base + 6))
ks_url="http://127.0.0.1:$ks_port"; us_url="http://127.0.0.1:$us_port"
billing_url="http://127.0.0.1:$billing_port"; na_url="http://127.0.0.1:$na_port"
kms_url="http://127.0.0.1:$kms_port"; stripe_url="http://127.0.0.1:$stripe_port"
tg_db=tollgate_soak
na_db=tollgate_soak_newapi
bin="${SOAK_BIN_DIR:-$root/target/perf}"
out="$root/target/soak/$(date -u +%Y%m%dT%H%M%SZ)"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { echo "soak: $*" >&2; exit 1; }

for tool in psql curl jq python3; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
for port in "$ks_port" "$us_port" "$billing_port" "$na_port" "$kms_port" "$stripe_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use (set SOAK_PORT_BASE)"
  fi
done
mkdir -p "$out"

if [ "$build" = 1 ]; then
  say "building the perf binaries (cargo build --profile perf --bins)"
  cargo build --profile perf --bins --locked
fi
for b in key-sync usage-stats billing newapi-sim kms-sim loadgen; do
  [ -x "$bin/$b" ] || die "$bin/$b is missing (build with: cargo build --profile perf --bins)"
done
"$root/scripts/setup-python.sh"

rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
export ADMIN_TOKEN="soak-admin-$(rand 16)"
export NEWAPI_ADMIN_TOKEN="soak-newapi-$(rand 16)"
export SUPABASE_WEBHOOK_SECRET="soak-webhook-$(rand 16)"
export SUPABASE_JWT_SECRET="soak-jwt-$(rand 24)"
export KEY_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
export LITELLM_WEBHOOK_SECRET="soak-kms-$(rand 16)"
export STRIPE_SECRET_KEY="sk_test_soak$(rand 8)"
export INTERNAL_TOKEN="soak-internal-$(rand 16)"
export LOG_FORMAT=json RUST_LOG=warn
export DATABASE_URL="$pg_url/$tg_db"

cleanup() {
  if [ "${SOAK_KEEP_DB:-0}" != 1 ] && [ "${dbs_created:-0}" = 1 ]; then
    for db in "$tg_db" "$na_db"; do
      psql "$pg_url/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
  fi
  echo "results: $out"
}
# shellcheck source=scripts/lib/supervise.sh
source "$root/scripts/lib/supervise.sh"
sv_init "$out" soak cleanup
sv_unset=(TOLLGATE_CONFIG SUPABASE_URL STRIPE_WEBHOOK_SECRET KMS_WEBHOOK_URL NEWAPI_LOG_DATABASE_URL)

say "recreating databases $tg_db and $na_db on $pg_url"
for db in "$tg_db" "$na_db"; do
  psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
  psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\"" >/dev/null
done
dbs_created=1
env -u TOLLGATE_CONFIG "$bin/key-sync" migrate >"$out/migrate.log" 2>&1 ||
  { cat "$out/migrate.log" >&2; die "migrate failed"; }

say "starting the simulators, localstripe and the three services (logs in $out)"
sv_start newapi-sim PORT="$na_port" NEWAPI_SIM_DATABASE_URL="$pg_url/$na_db" "$bin/newapi-sim"
sv_start kms-sim PORT="$kms_port" "$bin/kms-sim"
sv_start localstripe "$root/.venv/bin/localstripe" --port "$stripe_port" --from-scratch
sv_wait_http newapi-sim "$na_url/health"
# Retries back off to at most 20 s (default 5 min), so the wait after the load covers one.
sv_start key-sync PORT="$ks_port" NEWAPI_SYNC_MODE=import NEWAPI_BASE_URL="$na_url" \
  NEWAPI_TIMEOUT_MS=2000 SYNC_BACKOFF_CAP_MS=20000 "$bin/key-sync"
# The result cache is bounded (RESULT_CACHE_MB); a small bound fills during the warm-up, so
# growth after it is not the cache filling up to its bound.
sv_start usage-stats PORT="$us_port" NEWAPI_DATABASE_URL="$pg_url/$na_db" RATE_LIMIT_PER_MIN=0 \
  RESULT_CACHE_MB="$result_cache_mb" "$bin/usage-stats"
# Its answer cache off for the same reason (bounded by WEBHOOK_ANSWER_CACHE_MB; every event
# here is new, so it would only fill); reconcile often, so refunds' quota re-asserts land.
sv_start billing PORT="$billing_port" KMS_BASE_URL="$kms_url" KMS_TIMEOUT_MS=2000 \
  STRIPE_API_BASE="$stripe_url" POLL_INTERVAL_SECS=0 RECONCILE_INTERVAL_SECS=5 \
  RECONCILE_GRACE_SECS=5 WEBHOOK_ANSWER_CACHE_MB="$answer_cache_mb" "$bin/billing"
sv_wait_http kms-sim "$kms_url/health"
sv_wait_http localstripe "$stripe_url/v1/customers" -H "Authorization: Bearer $STRIPE_SECRET_KEY"
sv_wait_http key-sync "$ks_url/ready"
sv_wait_http usage-stats "$us_url/ready"
sv_wait_http billing "$billing_url/ready"

say "relay keys: two users signed up through key-sync, their keys read with their JWTs"
relay_keys=()
for i in 1 2; do
  user="00000000-0000-4000-8000-00000000000$i"
  curl -fsS -o /dev/null -X POST "$ks_url/webhooks/supabase/users" \
    -H "Authorization: Bearer $SUPABASE_WEBHOOK_SECRET" -H 'Content-Type: application/json' \
    -d "{\"type\":\"INSERT\",\"table\":\"users\",\"schema\":\"auth\",\"record\":{\"id\":\"$user\",\"email\":\"relay$i@soak.local\"},\"old_record\":null}" ||
    die "signup of relay user $i failed"
  jwt=$(python3 "$root/scripts/mint-jwt.py" "$user" "$SUPABASE_JWT_SECRET")
  key=$(curl -fsS "$ks_url/v1/keys" -H "Authorization: Bearer $jwt" | jq -er '.keys[0].key') ||
    die "no key for relay user $i"
  for _ in $(seq 1 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$na_url/v1/models" -H "Authorization: Bearer $key")" = 200 ] && break
    sleep 0.2
  done
  relay_keys+=("$key")
done
printf '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"soak: say hello"}]}' >"$out/relay-body.json"

# RSS sampler: "t key-sync usage-stats billing" in KiB every 5 s.
rss_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sample_rss() {
  local ks us bl
  ks=$(sv_pid key-sync); us=$(sv_pid usage-stats); bl=$(sv_pid billing)
  while :; do
    printf '%s\t%s\t%s\t%s\n' "$(date +%s)" "$(rss_of "$ks")" "$(rss_of "$us")" "$(rss_of "$bl")"
    sleep 5
  done
}
sample_rss >"$out/rss.tsv" &
sampler_pid=$!

fault_kinds=(
  '{"mode":"error","status":503}'
  '{"mode":"drop"}'
  '{"mode":"delay","delay_ms":3000}'
)
faults_on() { # kind index
  local kind=${fault_kinds[$1]}
  curl -fsS -o /dev/null -X POST "$na_url/_sim/faults" -H 'Content-Type: application/json' \
    -d "$(jq -c '. + {path_prefix: "/api/token/import"}' <<<"$kind")"
  curl -fsS -o /dev/null -X POST "$kms_url/_sim/faults" -H 'Content-Type: application/json' \
    -d "$(jq -c '. + {path_prefix: "/organizations/", method: "PUT"}' <<<"$kind")"
}
faults_off() {
  curl -fsS -o /dev/null -X DELETE "$na_url/_sim/faults"
  curl -fsS -o /dev/null -X DELETE "$kms_url/_sim/faults"
}

slot_pids=()
lg() { # label, then loadgen arguments: in the background, JSON to $out/<label>.json
  local label=$1; shift
  { "$bin/loadgen" "$@" --json --allow-errors >"$out/$label.json" 2>"$out/$label.txt" ||
    echo "soak: loadgen $label failed (see $out/$label.txt)" >&2; } &
  slot_pids+=($!)
}

say "soak: $duration_s s in slots of $slot_s s, faults on in every other slot"
started=$(date +%s)
slot=0
: >"$out/slots.tsv"
while [ $(($(date +%s) - started)) -lt "$duration_s" ]; do
  faulted=$((slot % 2))
  kind=-
  if [ "$faulted" = 1 ]; then
    kind=$(((slot / 2) % ${#fault_kinds[@]}))
    faults_on "$kind"
  fi
  printf '%s\t%s\t%s\t%s\n' "$slot" "$(date +%s)" "$faulted" "$kind" >>"$out/slots.tsv"
  echo "slot $slot at $(($(date +%s) - started)) s: faults $([ "$faulted" = 1 ] && echo "on (${fault_kinds[$kind]})" || echo off)"
  lg "slot$slot-signup" signup --key-sync "$ks_url" --newapi "$na_url" \
    --webhook-secret "$SUPABASE_WEBHOOK_SECRET" --jwt-secret "$SUPABASE_JWT_SECRET" \
    --concurrency 4 --requests 100000 --duration-s "$slot_s"
  lg "slot$slot-recharge" limit-webhook --url "$billing_url" --admin-token "$ADMIN_TOKEN" \
    --webhook-secret "$LITELLM_WEBHOOK_SECRET" --org-prefix "soak-s$slot" --orgs 200 \
    --setup-concurrency 4 --concurrency 2 --requests 200 --duration-s "$slot_s"
  for i in 0 1; do
    lg "slot$slot-relay$i" post --url "$na_url/v1/chat/completions" \
      --header "Authorization: Bearer ${relay_keys[$i]}" --header 'Content-Type: application/json' \
      --body-file "$out/relay-body.json" --concurrency 1 --requests 100000 --duration-s "$slot_s"
  done
  lg "slot$slot-usage" get \
    --url "$us_url/api/usage/token/detail" \
    --url "$us_url/api/usage/token/chart?granularity=hour&tz=Asia/Kathmandu&start=$((started - 86400))" \
    --url "$us_url/api/usage/token/logs?page=1&page_size=50" \
    --header "Authorization: Bearer ${relay_keys[$((slot % 2))]}" \
    --concurrency 4 --requests 1000000 --duration-s "$slot_s"
  for pid in "${slot_pids[@]}"; do wait "$pid" || true; done
  slot_pids=()
  [ "$faulted" = 1 ] && faults_off
  sv_check_alive
  slot=$((slot + 1))
done
soak_end=$(date +%s)
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true

say "faults off; waiting for key-sync's retries and billing's reconcile (and quota re-asserts) to settle"
q() { psql "$1" -v ON_ERROR_STOP=1 -qAtc "$2"; }
for _ in $(seq 1 120); do
  pending_keys=$(q "$DATABASE_URL" "SELECT count(*) FROM api_keys WHERE NOT newapi_synced")
  open_recharges=$(q "$DATABASE_URL" "SELECT (SELECT count(*) FROM recharge_records WHERE status IN ('pending', 'charged'))
    + (SELECT count(*) FROM organization_balance_config WHERE kms_reassert_after IS NOT NULL)")
  [ "$pending_keys" = 0 ] && [ "$open_recharges" = 0 ] && break
  sleep 1
done
sleep 2 # usage-stats ingests every 250 ms

say "checks"
python3 "$root/scripts/soak_check.py" "$out" "$DATABASE_URL" "$pg_url/$na_db" "$us_url" "$kms_url" \
  "$stripe_url" "$STRIPE_SECRET_KEY" "$started" "$soak_end" "$warmup_s" "${relay_keys[@]}" |
  tee "$out/summary.txt"
status=${PIPESTATUS[0]}
[ "$status" = 0 ] || die "a check failed (see $out/summary.txt)"
say "every check held"
