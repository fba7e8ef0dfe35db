#!/usr/bin/env bash
# Billing's safety-net poller over many organisations (issue 12): how long one pass takes
# and how many database transactions it costs, on a stock LiteLLM proxy (litellm-sim).
#
#   scripts/bench/billing-poller.sh [--no-build]
#
# Builds the perf binaries (cargo build --profile perf -p billing -p litellm-sim), recreates
# the database tg_bench_poller on the local Postgres, runs `billing migrate`, starts
# litellm-sim and localstripe, then sets up (not measured):
#   - BENCH_REAL_ORGS organisations through billing's org API (created, pm_card_visa saved,
#     synced: their LiteLLM team created with max_budget 0), minimum balance $0, target $500,
#     minimum recharge $200; each then spends $1 in litellm-sim, so each needs a recharge;
#   - the rest up to BENCH_ORGS organisations written straight into the database (a card and
#     a team named, minimum balance $0: covered while nothing is spent), and their teams
#     created in litellm-sim over its API (max_budget 0, spend 0).
# billing then runs with POLL_INTERVAL_SECS=BENCH_INTERVAL and nothing else to do (no
# webhooks; reconcile hourly; no alerts). Two passes are measured:
#   1. the first pass: every organisation's spend read from LiteLLM, BENCH_REAL_ORGS
#      recharged (a Stripe charge on localstripe and a max_budget raise each);
#   2. the next pass: every organisation covered, nothing charged (the steady state).
# For each: organisations, usage reads, recharges, wall time (from billing_poller_runs),
# the database transactions billing committed meanwhile (pg_stat_database.xact_commit of
# tg_bench_poller, read from another database so reading it costs nothing there; read 11 s
# after each pass, because an idle backend reports its counts up to 10 s late; billing does
# nothing else meanwhile) and litellm-sim's /team/info calls (its /_sim/stats). Every process it started is stopped and
# the database dropped on exit.
#
# --no-build   use the perf binaries already in target/perf
#
# Environment overrides (defaults in brackets): BENCH_PG_URL
# [postgres://postgres@127.0.0.1:5432], BENCH_ORGS [10000], BENCH_REAL_ORGS [50],
# BENCH_INTERVAL [20] (seconds between passes, at least 15), BENCH_BILLING_PORT [18084],
# BENCH_LITELLM_PORT [18090], BENCH_STRIPE_PORT [18421], BENCH_KEEP_DB=1 (keep the database).
# Results (summary, logs): target/bench/billing-poller/<UTC timestamp>/.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "poller bench: unknown argument $arg (try --help)" >&2; exit 1 ;;
  esac
done

pg_url="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
orgs="${BENCH_ORGS:-10000}"
real="${BENCH_REAL_ORGS:-50}"
interval="${BENCH_INTERVAL:-20}"
billing_port="${BENCH_BILLING_PORT:-18084}"
litellm_port="${BENCH_LITELLM_PORT:-18090}"
stripe_port="${BENCH_STRIPE_PORT:-18421}"
db=tg_bench_poller
billing_url="http://127.0.0.1:$billing_port"
litellm_url="http://127.0.0.1:$litellm_port"
stripe_url="http://127.0.0.1:$stripe_port"
bin="$root/target/perf"
out="$root/target/bench/billing-poller/$(date -u +%Y%m%dT%H%M%SZ)"
say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { echo "poller bench: $*" >&2; exit 1; }
[ "$real" -le "$orgs" ] || die "BENCH_REAL_ORGS ($real) exceeds BENCH_ORGS ($orgs)"
[ "$interval" -ge 15 ] || die "BENCH_INTERVAL must be at least 15 (counts are read 11 s after a pass)"
for port in "$billing_port" "$litellm_port" "$stripe_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is already in use"; fi
done
mkdir -p "$out"
if [ "$build" = 1 ]; then
  say "building the perf binaries (cargo build --profile perf -p billing -p litellm-sim)"
  cargo build --profile perf -p billing -p litellm-sim
fi
for b in billing litellm-sim; do [ -x "$bin/$b" ] || die "$bin/$b is missing"; done
[ -x "$root/.venv/bin/localstripe" ] || "$root/scripts/setup-python.sh"

rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
admin_token="bench-admin-$(rand 16)"
master_key="sk-bench-$(rand 16)"
stripe_key="sk_test_bench$(rand 8)"

cleanup() {
  if [ "${BENCH_KEEP_DB:-0}" != 1 ] && [ "${db_created:-0}" = 1 ]; then
    psql "$pg_url/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  echo "results: $out"
}
# shellcheck source=scripts/lib/supervise.sh
source "$root/scripts/lib/supervise.sh"
sv_init "$out" "billing poller bench" cleanup
sv_unset=(TOLLGATE_CONFIG ALERT_WEBHOOK_URL STRIPE_WEBHOOK_SECRET)

say "recreating database $db"
psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\"" >/dev/null
db_created=1
billing_env=(PORT="$billing_port" HOST=127.0.0.1 DATABASE_URL="$pg_url/$db" ADMIN_TOKEN="$admin_token"
  QUOTA_BACKEND=litellm LITELLM_BASE_URL="$litellm_url" LITELLM_MASTER_KEY="$master_key"
  LITELLM_WEBHOOK_SECRET="bench-$(rand 8)" STRIPE_SECRET_KEY="$stripe_key" STRIPE_API_BASE="$stripe_url"
  RECONCILE_INTERVAL_SECS=3600 LOG_FORMAT=json RUST_LOG=warn,billing::poller=info)
env -u TOLLGATE_CONFIG "${billing_env[@]}" "$bin/billing" migrate >"$out/migrate.log" 2>&1 ||
  { cat "$out/migrate.log" >&2; die "billing migrate failed"; }

sv_start litellm-sim PORT="$litellm_port" LITELLM_MASTER_KEY="$master_key" RUST_LOG=warn "$bin/litellm-sim"
sv_start localstripe "$root/.venv/bin/localstripe" --port "$stripe_port" --from-scratch
sv_start billing "${billing_env[@]}" POLL_INTERVAL_SECS=0 "$bin/billing"
sv_wait_http litellm-sim "$litellm_url/health/liveliness"
sv_wait_http localstripe "$stripe_url/v1/customers" -H "Authorization: Bearer $stripe_key"
sv_wait_http billing "$billing_url/ready"

say "setup: $real organisations through the org API, $((orgs - real)) written to the database"
python3 - "$billing_url" "$admin_token" "$litellm_url" "$master_key" "$real" "$orgs" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
billing, admin, litellm, master, real, total = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
def post(url, body, token):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
def real_org(i):
    org = f"poll-real-{i}"
    post(f"{billing}/api/organizations", {"c_organization_id": org, "minimum_balance": 0,
        "target_balance": 500, "minimum_recharge_amount": 200}, admin)
    post(f"{billing}/api/organizations/{org}/payment-method", {"payment_method_id": "pm_card_visa"}, admin)
    post(f"{billing}/api/organizations/{org}/sync", {}, admin)
    post(f"{litellm}/_sim/teams/{org}/spend", {"amount": 1}, master)
def team(i):
    post(f"{litellm}/team/new", {"team_id": f"poll-team-{i}", "max_budget": 0}, master)
with ThreadPoolExecutor(8) as pool:
    list(pool.map(real_org, range(real)))
with ThreadPoolExecutor(16) as pool:
    list(pool.map(team, range(total - real)))
PY
psql "$pg_url/$db" -v ON_ERROR_STOP=1 -q <<SQL
INSERT INTO organization_balance_config (c_organization_id, stripe_customer_id, litellm_team_id,
    minimum_balance_cents, target_balance_cents, minimum_recharge_amount_cents,
    default_payment_method_id, payment_method_brand, payment_method_last4, kms_quota_cents, kms_synced_at)
SELECT 'poll-org-' || i, 'cus_poll_' || i, 'poll-team-' || i, 0, 50000, 20000,
    'pm_poll_' || i, 'visa', '4242', 0, now()
FROM generate_series(0, $((orgs - real - 1))) AS i;
VACUUM (ANALYZE);
SQL
count=$(psql "$pg_url/$db" -Atqc "SELECT count(*) FROM organization_balance_config")
[ "$count" = "$orgs" ] || die "set up $count organisations, not $orgs"

say "restarting billing with POLL_INTERVAL_SECS=$interval"
sv_stop billing
xacts() { psql "$pg_url/postgres" -Atqc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$db'"; }
info_calls() { curl -fsS "$litellm_url/_sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("/team/info", 0))'; }
sv_start billing "${billing_env[@]}" POLL_INTERVAL_SECS="$interval" "$bin/billing"
sv_wait_http billing "$billing_url/ready"
settle=11
sleep "$settle"
x0=$(xacts); c0=$(info_calls)
passes() { grep -c '"poller pass"' "$out/billing.log" || true; }
wait_pass() { # n: wait until n passes are logged
  for _ in $(seq 1 $((interval * 40 + 1200))); do
    [ "$(passes)" -ge "$1" ] && return 0
    sleep 0.1
  done
  die "no poller pass $1 within the wait (see $out/billing.log)"
}
say "pass 1 (after ${interval} s)"
wait_pass 1; sleep "$settle"; x1=$(xacts); c1=$(info_calls)
say "pass 2 (${interval} s after pass 1 started)"
wait_pass 2; sleep "$settle"; x2=$(xacts); c2=$(info_calls)
[ "$(passes)" = 2 ] || die "pass 3 started before the counts were read (raise BENCH_INTERVAL)"

psql "$pg_url/$db" -At -F $'\t' -c "SELECT organizations, usage_read, recharges, unreachable, failed,
    round(extract(epoch FROM finished_at - started_at)::numeric, 3) FROM billing_poller_runs ORDER BY id" \
  >"$out/runs.tsv"
recharged=$(psql "$pg_url/$db" -Atqc "SELECT count(*) FROM recharge_records WHERE triggered_by = 'poller' AND status = 'succeeded'")
{
  printf 'pass\torganisations\tusage reads\trecharges\tunreachable\tfailed\twall s\tdb transactions\tper 1000 orgs\tLiteLLM /team/info calls\n'
  awk -F '\t' -v x0="$x0" -v x1="$x1" -v x2="$x2" -v c0="$c0" -v c1="$c1" -v c2="$c2" 'NR <= 2 {
    dx = (NR == 1) ? x1 - x0 : x2 - x1; dc = (NR == 1) ? c1 - c0 : c2 - c1
    printf "%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%.1f\t%d\n", NR, $1, $2, $3, $4, $5, $6, dx, dx / ($1 > 0 ? $1 : 1) * 1000, dc
  }' "$out/runs.tsv"
} | column -t -s $'\t' | tee "$out/summary.txt"
echo "succeeded poller recharges in the database: $recharged (expected $real)" | tee -a "$out/summary.txt"
[ "$recharged" = "$real" ] || die "the first pass did not recharge every organisation that needed it"
