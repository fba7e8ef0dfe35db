#!/usr/bin/env bash
# Billing benchmark (issues 5 and 12): "limit event → auto_recharged" against localstripe and
# the quota backend's simulator (the KMS, or a stock LiteLLM proxy), and the replay of an
# event already answered, both measured by tools/loadgen.
#
#   scripts/bench/billing.sh [--no-build]
#
# Builds the perf binaries (cargo build --profile perf -p billing -p kms-sim -p loadgen),
# drops and recreates the database tg_bench_billing on the local Postgres, runs `billing
# migrate`, starts kms-sim, localstripe (.venv, --from-scratch; installed by
# scripts/setup-python.sh when missing) and billing on their own ports, waits until they
# answer, then runs:
#   1. recharges: loadgen limit-webhook. Setup (not measured): one organisation per
#      iteration is created, given pm_card_visa and synced to the KMS. Measured: each
#      iteration sends one signed limit event (fresh x-webhook-id, usage 520 over 500) for a
#      fresh organisation and expects 200 with action auto_recharged. That is a Stripe charge
#      on localstripe and a quota raise on kms-sim, every time;
#   2. localstripe alone: BENCH_STRIPE_PROBES charges (PaymentIntent, confirm=true), one at
#      a time, straight to localstripe, to show what one charge costs it at the size its
#      store has reached;
#   3. replay: one more organisation; the event `bench-replay` is sent once with curl (it is
#      answered auto_recharged), then loadgen post sends the same signed body and headers
#      again and again (billing answers from its cache of answered events);
# and prints a summary table against the targets (recharge p95 ≤ 1 s; replay ≥ 2000 req/s),
# the CPU each process used during each measured phase, and billing's mean Stripe charge
# time. It checks in the database that every recharge succeeded and that the replays
# charged nothing. Every process it started is stopped and the database is dropped on exit
# (trap), whatever happens.
#
# --no-build   use the perf binaries already in target/perf
#
# Environment overrides (defaults in brackets):
#   BENCH_BACKEND [kms]: kms (kms-sim) or litellm (litellm-sim, QUOTA_BACKEND=litellm)
#   BENCH_TRIGGER [limit]: limit (signed limit_exceeded events) or alert (LiteLLM's unsigned
#     budget_crossed alert to /webhooks/litellm/budget?token=…; needs BENCH_BACKEND=litellm)
#   BENCH_PG_URL [postgres://postgres@127.0.0.1:5432]   BENCH_BILLING_PORT [18083]
#   BENCH_KMS_PORT [18089]   BENCH_STRIPE_PORT [18420]
#   BENCH_RECHARGE_CONCURRENCY [4]   BENCH_RECHARGES [400]   BENCH_RECHARGE_WARMUP [20]
#   BENCH_SETUP_CONCURRENCY [8]   BENCH_REPLAY_CONCURRENCY [32]
#   BENCH_REPLAY_REQUESTS [50000]   BENCH_REPLAY_WARMUP [2000]   BENCH_STRIPE_PROBES [20]
#   BENCH_LOCALSTRIPE_PERSIST [1]: 0 starts localstripe with its store kept in memory only
#     (stock localstripe pickles its whole store to /tmp/localstripe.pickle on every write,
#     so each write costs time in proportion to everything created so far): a diagnostic
#     run, to see billing without that cost; the issue's figures are with the default
#   DB_POOL_SIZE [16] (billing's pool)   BENCH_KEEP_DB=1 (keep the database)
# Results (JSON lines, tables, CPU samples, service logs): target/bench/billing/<UTC timestamp>/.
#
# Exit status: 0 when every run and check succeeded (a missed target is reported, not an
# error); 1 on a failed request, run, check or set-up step.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "billing bench: unknown argument $arg (try --help)" >&2; exit 1 ;;
  esac
done

pg_url="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
backend="${BENCH_BACKEND:-kms}"
trigger="${BENCH_TRIGGER:-limit}"
case "$backend/$trigger" in
  kms/limit | litellm/limit | litellm/alert) ;;
  *) echo "billing bench: BENCH_BACKEND=$backend with BENCH_TRIGGER=$trigger is not a run (kms/limit, litellm/limit, litellm/alert)" >&2; exit 1 ;;
esac
quota_sim=kms-sim
[ "$backend" = litellm ] && quota_sim=litellm-sim
billing_port="${BENCH_BILLING_PORT:-18083}"
kms_port="${BENCH_KMS_PORT:-18089}"
stripe_port="${BENCH_STRIPE_PORT:-18420}"
recharge_concurrency="${BENCH_RECHARGE_CONCURRENCY:-4}"
recharges="${BENCH_RECHARGES:-400}"
recharge_warmup="${BENCH_RECHARGE_WARMUP:-20}"
setup_concurrency="${BENCH_SETUP_CONCURRENCY:-8}"
replay_concurrency="${BENCH_REPLAY_CONCURRENCY:-32}"
replay_requests="${BENCH_REPLAY_REQUESTS:-50000}"
replay_warmup="${BENCH_REPLAY_WARMUP:-2000}"
stripe_probes="${BENCH_STRIPE_PROBES:-20}"
stripe_persist="${BENCH_LOCALSTRIPE_PERSIST:-1}"
pool_size="${DB_POOL_SIZE:-16}"
db=tg_bench_billing
billing_url="http://127.0.0.1:$billing_port"
kms_url="http://127.0.0.1:$kms_port"
stripe_url="http://127.0.0.1:$stripe_port"
bin="$root/target/perf"
localstripe="$root/.venv/bin/localstripe"
out="$root/target/bench/billing/$(date -u +%Y%m%dT%H%M%SZ)-$backend-$trigger"
# Targets (issue 5).
target_p95_ms=1000
target_replay_rps=2000

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { echo "billing bench: $*" >&2; exit 1; }

for tool in psql curl jq openssl column awk; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
for port in "$billing_port" "$kms_port" "$stripe_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use (set BENCH_BILLING_PORT / BENCH_KMS_PORT / BENCH_STRIPE_PORT)"
  fi
done
mkdir -p "$out"

if [ "$build" = 1 ]; then
  say "building the perf binaries (cargo build --profile perf -p billing -p kms-sim -p litellm-sim -p loadgen)"
  cargo build --profile perf -p billing -p kms-sim -p litellm-sim -p loadgen
fi
for b in billing "$quota_sim" loadgen; do
  [ -x "$bin/$b" ] || die "$bin/$b is missing (build with: cargo build --profile perf -p $b)"
done
if [ ! -x "$localstripe" ]; then
  say "installing localstripe into .venv (scripts/setup-python.sh)"
  "$root/scripts/setup-python.sh"
fi

# Fresh secrets for this run only.
rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; } # 2×$1 hex digits
admin_token="bench-admin-$(rand 16)"
webhook_secret="bench-litellm-$(rand 16)"
stripe_key="sk_test_bench$(rand 8)"
litellm_key="sk-bench-$(rand 16)"
alert_token="bench-alert-$(rand 16)"
org_prefix="bench-$(rand 4)"

sampler_pid=
cleanup() {
  if [ -n "$sampler_pid" ]; then
    kill -TERM "$sampler_pid" 2>/dev/null || true
    wait "$sampler_pid" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP_DB:-0}" != 1 ] && [ "${db_created:-0}" = 1 ]; then
    psql "$pg_url/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  echo "results: $out"
}
# shellcheck source=scripts/lib/supervise.sh
source "$root/scripts/lib/supervise.sh"
sv_init "$out" "billing bench" cleanup
sv_unset=(TOLLGATE_CONFIG STRIPE_WEBHOOK_SECRET KMS_WEBHOOK_URL)

say "recreating database $db on $pg_url"
psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\"" >/dev/null
db_created=1

# billing's environment (no STRIPE_WEBHOOK_SECRET: that route is not benchmarked).
billing_env=(
  PORT="$billing_port"
  HOST=127.0.0.1
  DATABASE_URL="$pg_url/$db"
  ADMIN_TOKEN="$admin_token"
  LITELLM_WEBHOOK_SECRET="$webhook_secret"
  STRIPE_SECRET_KEY="$stripe_key"
  STRIPE_API_BASE="$stripe_url"
  DB_POOL_SIZE="$pool_size"
  LOG_FORMAT=json
  RUST_LOG=warn
)

if [ "$backend" = litellm ]; then
  billing_env+=(QUOTA_BACKEND=litellm LITELLM_BASE_URL="$kms_url" LITELLM_MASTER_KEY="$litellm_key"
    LITELLM_ALERT_TOKEN="$alert_token" POLL_INTERVAL_SECS=0)
else
  billing_env+=(KMS_BASE_URL="$kms_url" POLL_INTERVAL_SECS=0)
fi

say "migrating $db (billing migrate)"
env -u TOLLGATE_CONFIG -u STRIPE_WEBHOOK_SECRET "${billing_env[@]}" "$bin/billing" migrate \
  >"$out/billing-migrate.log" 2>&1 ||
  { cat "$out/billing-migrate.log" >&2; die "billing migrate failed"; }

say "starting $quota_sim on :$kms_port, localstripe on :$stripe_port, billing on :$billing_port (logs in $out)"
# The simulator sends no webhooks or alerts of its own here: loadgen sends them.
if [ "$backend" = litellm ]; then
  sv_start litellm-sim PORT="$kms_port" LITELLM_MASTER_KEY="$litellm_key" RUST_LOG=warn "$bin/litellm-sim"
else
  sv_start kms-sim PORT="$kms_port" LITELLM_WEBHOOK_SECRET="$webhook_secret" RUST_LOG=warn "$bin/kms-sim"
fi
if [ "$stripe_persist" = 0 ]; then
  # Stock localstripe, with Store.dump_to_disk made a no-op (diagnostic only).
  sv_start localstripe "$root/.venv/bin/python" -c 'import sys
from localstripe import resources
resources.Store.dump_to_disk = lambda self: None
from localstripe.server import start
sys.argv[0] = "localstripe"
start()' --port "$stripe_port" --from-scratch
else
  sv_start localstripe "$localstripe" --port "$stripe_port" --from-scratch
fi
sv_start billing "${billing_env[@]}" "$bin/billing"

if [ "$backend" = litellm ]; then
  sv_wait_http litellm-sim "$kms_url/health/liveliness"
else
  sv_wait_http kms-sim "$kms_url/health"
fi
sv_wait_http localstripe "$stripe_url/v1/customers" -H "Authorization: Bearer $stripe_key"
sv_wait_http billing "$billing_url/ready"

# CPU sampler: every 0.2 s, one line "t machine_busy billing quota-sim localstripe postgres":
# t from /proc/uptime (s), the rest cumulative clock ticks; postgres is every process named
# postgres on the machine. One awk per sample, to stay out of the measurement's way.
clk_tck=$(getconf CLK_TCK)
uptime_s() { awk '{print $1}' /proc/uptime; }
sample_cpu() {
  local billing_pid kms_pid stripe_pid
  billing_pid=$(sv_pid billing); kms_pid=$(sv_pid "$quota_sim"); stripe_pid=$(sv_pid localstripe)
  while :; do
    # shellcheck disable=SC2046 # one word per postgres pid
    awk -v b="/proc/$billing_pid/stat" -v k="/proc/$kms_pid/stat" -v s="/proc/$stripe_pid/stat" '
      FILENAME == "/proc/uptime" { t = $1; next }
      FILENAME == "/proc/stat" { if ($1 == "cpu") busy = $2 + $3 + $4 + $7 + $8 + $9; next }
      FILENAME == b { cb = $14 + $15; next }
      FILENAME == k { ck = $14 + $15; next }
      FILENAME == s { cs = $14 + $15; next }
      { cp += $14 + $15 }
      END { printf "%s %d %d %d %d %d\n", t, busy, cb, ck, cs, cp }' \
      /proc/uptime /proc/stat "/proc/$billing_pid/stat" "/proc/$kms_pid/stat" "/proc/$stripe_pid/stat" \
      $(pgrep -x postgres | sed 's#.*#/proc/&/stat#') 2>/dev/null || true
    sleep 0.2
  done
}
sample_cpu >"$out/cpu-samples.txt" &
sampler_pid=$!

# cpu_during <label> <end (uptime s)> <seconds>: CPU (% of one core) of each process over
# the measured phase that ended at <end> and lasted <seconds>, from the samples.
cpu_during() {
  awk -v end="$2" -v secs="$3" -v hz="$clk_tck" -v label="$1" '
    BEGIN { start = end - secs }
    $1 >= start && !have_first { for (i = 1; i <= 6; i++) first[i] = $i; have_first = 1 }
    $1 <= end { for (i = 1; i <= 6; i++) last[i] = $i }
    END {
      dt = last[1] - first[1]
      if (!have_first || dt <= 0) { print label "\tn/a (phase too short to sample)"; exit }
      printf "%s\t%.0f%%\t%.0f%%\t%.0f%%\t%.0f%%\t%.0f%%\t%.1f s\n", label,
        (last[2]-first[2])/hz/dt*100, (last[3]-first[3])/hz/dt*100, (last[4]-first[4])/hz/dt*100,
        (last[5]-first[5])/hz/dt*100, (last[6]-first[6])/hz/dt*100, dt
    }' "$out/cpu-samples.txt"
}

# Prometheus: the value of a metric line (0 when absent).
metric() { # name (with labels, as printed)
  { curl -fsS --max-time 5 "$billing_url/metrics" || true; } |
    awk -v m="$1" '$1 == m {print $2; found=1} END {if (!found) print 0}'
}

# loadgen <label> <loadgen options…>: table to the terminal and $out/<label>.txt, the JSON
# line to $out/<label>.json; $out/<label>.end holds the time (uptime s) at which it ended.
loadgen() {
  local label=$1; shift
  local rc=0
  say "loadgen $label"
  "$bin/loadgen" "$@" --json >"$out/$label.json" 2>"$out/$label.txt" || rc=$?
  uptime_s >"$out/$label.end"
  cat "$out/$label.txt"
  [ $rc = 0 ] || die "loadgen $label failed (exit $rc); see $out/$label.txt and the service logs"
}

charge_sum_0=$(metric billing_charge_seconds_sum)
charge_count_0=$(metric billing_charge_seconds_count)

# 1. Recharges: one fresh organisation per iteration.
alert_flag=()
[ "$trigger" = alert ] && alert_flag=(--alert-token "$alert_token")
loadgen recharge limit-webhook --url "$billing_url" --admin-token "$admin_token" \
  --webhook-secret "$webhook_secret" --org-prefix "$org_prefix" \
  --setup-concurrency "$setup_concurrency" --concurrency "$recharge_concurrency" \
  --requests "$recharges" --warmup "$recharge_warmup" --duration-s 900 --timeout-s 30 \
  ${alert_flag[@]+"${alert_flag[@]}"}

charge_sum_1=$(metric billing_charge_seconds_sum)
charge_count_1=$(metric billing_charge_seconds_count)

# 2. localstripe alone: one charge at a time, straight to it, at its current store size.
stripe_api() { # path, then curl's form arguments → body; dies unless 2xx
  curl -fsS --max-time 30 -u "$stripe_key:" "$stripe_url$1" "${@:2}" || die "localstripe POST $1 failed"
}
if [ "$stripe_probes" -gt 0 ]; then
  say "probing localstripe alone: $stripe_probes charges, one at a time"
  probe_customer=$(stripe_api /v1/customers -d description=bench-probe | jq -er .id)
  probe_pm=$(stripe_api /v1/payment_methods/pm_card_visa/attach -d customer="$probe_customer" | jq -er .id)
  for _ in $(seq 1 "$stripe_probes"); do
    curl -sS --max-time 30 -o /dev/null -w '%{http_code} %{time_total}\n' -u "$stripe_key:" \
      -d amount=20000 -d currency=usd -d customer="$probe_customer" -d payment_method="$probe_pm" \
      -d confirm=true -d off_session=true "$stripe_url/v1/payment_intents"
  done >"$out/stripe-probe.txt"
  awk '$1 != 200 {bad++} END {exit bad > 0}' "$out/stripe-probe.txt" ||
    die "a localstripe probe charge failed (see $out/stripe-probe.txt)"
  awk '{print $2 * 1000}' "$out/stripe-probe.txt" | sort -n | awk '{v[NR] = $1} END {
    printf "localstripe alone, one charge at a time after the recharge run: median %.1f ms, min %.1f ms, max %.1f ms (%d charges)\n",
      v[int((NR + 1) / 2)], v[1], v[NR], NR }' >"$out/stripe-probe-summary.txt"
  cat "$out/stripe-probe-summary.txt"
fi

# 3. Replay: one event answered once, then sent again and again.
admin() { # method path [json body] → body on stdout; dies unless 2xx
  local answer status
  answer=$(curl -sS --max-time 30 -X "$1" -H "Authorization: Bearer $admin_token" \
    -H 'content-type: application/json' ${3:+--data "$3"} -w '\n%{http_code}' "$billing_url$2") ||
    die "$1 $2: no answer"
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  case "$status" in 2??) printf '%s' "$answer" ;; *) die "$1 $2 answered $status: $answer" ;; esac
}
replay_org="$org_prefix-replay"
say "replay: setting up organisation $replay_org and answering event bench-replay once"
admin POST /api/organizations "{\"c_organization_id\":\"$replay_org\",\"minimum_balance\":100,\"target_balance\":500,\"minimum_recharge_amount\":200}" >/dev/null
admin POST "/api/organizations/$replay_org/payment-method" '{"payment_method_id":"pm_card_visa","set_as_default":true}' >/dev/null
team=$(admin POST "/api/organizations/$replay_org/sync" | jq -er '.organization.litellm_team_id') ||
  die "sync of $replay_org returned no organization.litellm_team_id"
printf '{"event_type":"limit_exceeded","team_id":"%s","current_usage":520,"current_limit":500,"exceeded_by":20,"timestamp":"%s"}' \
  "$team" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$out/replay-body.json"
signature="sha256=$(openssl dgst -sha256 -hmac "$webhook_secret" <"$out/replay-body.json" | awk '{print $NF}')"
replay_headers=(--header "content-type: application/json"
  --header "x-webhook-signature: $signature" --header "x-webhook-id: bench-replay")
send_replay() { # → "<status> <seconds>" on the first line, the body after
  curl -sS --max-time 30 -X POST -H 'content-type: application/json' \
    -H "x-webhook-signature: $signature" -H 'x-webhook-id: bench-replay' \
    --data-binary "@$out/replay-body.json" -w '\n%{http_code} %{time_total}' \
    "$billing_url/webhooks/litellm/limit-exceeded"
}
first=$(send_replay) || die "the first delivery of bench-replay got no answer"
first_body=${first%$'\n'*}
read -r first_status first_s <<<"${first##*$'\n'}"
echo "$first_body" >"$out/replay-first-answer.json"
[ "$first_status" = 200 ] && [ "$(jq -r .action <<<"$first_body")" = auto_recharged ] ||
  die "the first delivery of bench-replay answered $first_status: $first_body"
second=$(send_replay) || die "the second delivery of bench-replay got no answer"
[ "${second%$'\n'*}" = "$first_body" ] ||
  die "a replay of bench-replay answered differently: ${second%$'\n'*} (first: $first_body)"
echo "first delivery: 200 auto_recharged in $(awk -v s="$first_s" 'BEGIN{printf "%.1f", s*1000}') ms"

loadgen replay post --url "$billing_url/webhooks/litellm/limit-exceeded" \
  --body-file "$out/replay-body.json" "${replay_headers[@]}" --expect-status 200 \
  --concurrency "$replay_concurrency" --requests "$replay_requests" --warmup "$replay_warmup" \
  --duration-s 600

# Checks: every recharge succeeded, once per organisation; the replays charged nothing.
say "checking the recharges in $db"
psql "$pg_url/$db" -At -F $'\t' -v ON_ERROR_STOP=1 -c \
  "SELECT status, count(*) FROM recharge_records GROUP BY status ORDER BY status" >"$out/recharges.tsv"
sed 's/^/  /' "$out/recharges.tsv"
expected=$((recharges + recharge_warmup + 1))
succeeded=$(awk -F '\t' '$1 == "succeeded" {print $2}' "$out/recharges.tsv")
total=$(awk -F '\t' '{n += $2} END {print n + 0}' "$out/recharges.tsv")
replay_charges=$(psql "$pg_url/$db" -Atqc \
  "SELECT count(*) FROM recharge_records WHERE c_organization_id = '$replay_org'")
check_failed=0
if [ "${succeeded:-0}" != "$expected" ] || [ "$total" != "$expected" ]; then
  echo "billing bench: expected $expected succeeded recharges (recharge run incl. warm-up, plus the replay's first delivery); found ${succeeded:-0} succeeded of $total" >&2
  check_failed=1
fi
if [ "$replay_charges" != 1 ]; then
  echo "billing bench: the replayed event made $replay_charges recharges (expected 1)" >&2
  check_failed=1
fi

row() { # label json-file
  jq -r --arg l "$1" '[$l, .concurrency, .total, .ok, .error_count, .throughput_per_s,
      .latency_ms.p50, .latency_ms.p90, .latency_ms.p95, .latency_ms.p99, .latency_ms.max]
      | map(tostring) | @tsv' "$2"
}
say "summary"
{
  printf 'run\tconcurrency\ttotal\tok\terrors\treq/s\tp50_ms\tp90_ms\tp95_ms\tp99_ms\tmax_ms\n'
  row recharge "$out/recharge.json"
  row replay "$out/replay.json"
} | column -t -s $'\t' | tee "$out/summary.txt"
echo
grep '^setup' "$out/recharge.txt" || true
{
  printf 'cpu (%% of a core)\tmachine (of 200%%)\tbilling\t%s\tlocalstripe\tpostgres\tsampled\n' "$quota_sim"
  cpu_during recharge "$(cat "$out/recharge.end")" "$(jq .duration_s "$out/recharge.json")"
  cpu_during replay "$(cat "$out/replay.end")" "$(jq .duration_s "$out/replay.json")"
} | column -t -s $'\t' | tee "$out/cpu.txt"
awk -v s0="$charge_sum_0" -v s1="$charge_sum_1" -v c0="$charge_count_0" -v c1="$charge_count_1" 'BEGIN {
  if (c1 - c0 > 0) printf "billing Stripe charge calls during the recharge run (warm-up included): %d, mean %.1f ms\n", c1 - c0, (s1 - s0) / (c1 - c0) * 1000
}' | tee -a "$out/summary.txt"
[ ! -s "$out/stripe-probe-summary.txt" ] || tee -a "$out/summary.txt" <"$out/stripe-probe-summary.txt"
[ "$stripe_persist" != 0 ] || echo "localstripe ran with its store in memory only (BENCH_LOCALSTRIPE_PERSIST=0): diagnostic figures" | tee -a "$out/summary.txt"
echo

p95=$(jq '.latency_ms.p95 // 1e9' "$out/recharge.json")
rps=$(jq '.throughput_per_s' "$out/replay.json")
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN{exit !(a <= b)}'; then echo met; else echo MISSED; fi; }
{
  echo "target: recharge p95 ≤ $target_p95_ms ms: $(verdict "$p95" "$target_p95_ms") (p95 $p95 ms at concurrency $recharge_concurrency)"
  echo "target: replay ≥ $target_replay_rps req/s: $(verdict "$target_replay_rps" "$rps") ($rps req/s at concurrency $replay_concurrency)"
} | tee -a "$out/summary.txt"

[ "$check_failed" = 0 ] || die "the database checks failed (see above)"
