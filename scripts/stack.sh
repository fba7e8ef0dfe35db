#!/usr/bin/env bash
# The whole Tollgate stack on this machine, on defaults, in one command:
#   scripts/stack.sh
# Builds the binaries, creates and migrates the databases on the local Postgres, starts the
# simulators (new-api, KMS, LiteLLM), localstripe and the three services (billing twice: on
# the KMS, and on the LiteLLM simulator with its own database), waits until all answer,
# prints where everything is, then runs until Ctrl-C, which stops every process it started.
#
# Overrides (environment): STACK_PG_URL (default postgres://postgres@127.0.0.1:5432),
# STACK_NEWAPI_DB=postgres|mysql (where the new-api simulator keeps tokens and logs;
# default postgres), STACK_MYSQL_URL (default mysql://root@127.0.0.1:3306),
# STACK_RELEASE=1 (release build), STACK_KEY_SYNC_MODE=database|import (how key-sync puts
# keys into new-api: straight into the simulator's tables, as with a stock new-api, or
# through the import API of a patched one; default database), STACK_NEWAPI_LOGS=sql|clickhouse
# (where new-api keeps its logs: its database, or a private ClickHouse started here, as
# new-api's LOG_SQL_DSN does; default sql). Logs: .stack/logs/<process>.log.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
state="$root/.stack"
logs="$state/logs"
mkdir -p "$logs"

pg_url="${STACK_PG_URL:-postgres://postgres@127.0.0.1:5432}"
mysql_url="${STACK_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
newapi_db="${STACK_NEWAPI_DB:-postgres}"
key_sync_mode="${STACK_KEY_SYNC_MODE:-database}"
newapi_logs="${STACK_NEWAPI_LOGS:-sql}"
case "$newapi_logs" in
  sql|clickhouse) ;;
  *) echo "stack: STACK_NEWAPI_LOGS must be sql or clickhouse" >&2; exit 2 ;;
esac
case "$key_sync_mode" in
  database|import) ;;
  *) echo "stack: STACK_KEY_SYNC_MODE must be database or import" >&2; exit 2 ;;
esac
profile_dir=debug
build_flags=()
if [ "${STACK_RELEASE:-0}" = 1 ]; then profile_dir=release; build_flags=(--release); fi
bin="$root/target/$profile_dir"

# Demo values for local use only (the same ones docker-compose.yml uses).
export ADMIN_TOKEN=local-admin-token
export NEWAPI_ADMIN_TOKEN=local-newapi-admin-token
export SUPABASE_WEBHOOK_SECRET=local-supabase-webhook-secret
export SUPABASE_JWT_SECRET=super-secret-jwt-token-with-at-least-32-characters-long
export KEY_ENCRYPTION_KEY=dG9sbGdhdGUtbG9jYWwtZGVtby1rZXktMzItYnl0ZXM=
export LITELLM_WEBHOOK_SECRET=local-litellm-webhook-secret
export STRIPE_SECRET_KEY=sk_test_local
export STRIPE_WEBHOOK_SECRET=whsec_local
export LITELLM_MASTER_KEY=sk-local-litellm-master
export LITELLM_ALERT_TOKEN=local-litellm-alert-token
# key-sync serves /internal/* with it; usage-stats calls it for the per-user view.
export INTERNAL_TOKEN=local-internal-token
export LOG_FORMAT=pretty
export RUST_LOG="${RUST_LOG:-info}"

ports=(8081 8082 8083 8084 3000 8089 4000 8420)
for port in "${ports[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "stack: port $port is already in use (another stack running?); stop it first" >&2
    exit 1
  fi
done

step() { printf '\033[1m==>\033[0m %s\n' "$*"; }

step "building the binaries (cargo build --bins ${build_flags[*]:-})"
cargo build --quiet --bins "${build_flags[@]}"

step "installing localstripe into .venv when missing"
"$root/scripts/setup-python.sh"

step "creating databases on $pg_url"
create_pg_db() {
  local exists
  exists=$(psql "$pg_url/postgres" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$1'")
  if [ "$exists" != 1 ]; then psql "$pg_url/postgres" -qc "CREATE DATABASE \"$1\"" >/dev/null; fi
}
create_pg_db tollgate
create_pg_db tollgate_litellm
export DATABASE_URL="$pg_url/tollgate"
litellm_billing_db="$pg_url/tollgate_litellm"
if [ "$newapi_db" = mysql ]; then
  mysql_host=$(echo "$mysql_url" | sed -E 's#mysql://([^@]*@)?([^:/]+).*#\2#')
  mysql_port=$(echo "$mysql_url" | sed -nE 's#.*:([0-9]+)$#\1#p'); mysql_port=${mysql_port:-3306}
  mariadb -h "$mysql_host" -P "$mysql_port" -uroot -e "CREATE DATABASE IF NOT EXISTS tollgate_newapi" 
  newapi_url="$mysql_url/tollgate_newapi"
else
  create_pg_db tollgate_newapi
  newapi_url="$pg_url/tollgate_newapi"
fi
export NEWAPI_DATABASE_URL="$newapi_url"

step "migrating Tollgate's database"
RUST_LOG=warn "$bin/key-sync" migrate >/dev/null
# The second billing (on LiteLLM) keeps its organisations apart.
DATABASE_URL="$litellm_billing_db" RUST_LOG=warn "$bin/billing" migrate >/dev/null

# shellcheck source=scripts/lib/supervise.sh
source "$root/scripts/lib/supervise.sh"
sv_init "$logs" stack
sim_env=()
usage_env=()
logs_where="$newapi_url (logs)"
if [ "$newapi_logs" = clickhouse ]; then
  step "starting ClickHouse for new-api's logs (.stack/clickhouse)"
  command -v "${CLICKHOUSE_SERVER_BIN:-clickhouse-server}" >/dev/null \
    || { echo "stack: STACK_NEWAPI_LOGS=clickhouse needs clickhouse-server (Debian package)" >&2; exit 1; }
  # shellcheck source=scripts/lib/clickhouse.sh
  source "$root/scripts/lib/clickhouse.sh"
  rm -rf "$state/clickhouse"
  ch_render "$state/clickhouse"
  sv_start clickhouse "${CLICKHOUSE_SERVER_BIN:-clickhouse-server}" \
    --config-file="$state/clickhouse/config.xml"
  sv_wait_http clickhouse "http://127.0.0.1:$ch_http_port/ping"
  curl -fsS --data-binary "CREATE DATABASE IF NOT EXISTS newapi_logs" "http://127.0.0.1:$ch_http_port/"
  # new-api writes over its LOG_SQL_DSN (the simulator over HTTP); usage-stats reads as the
  # read-only user, on the HTTP port.
  sim_env=(LOG_SQL_DSN="http://default:@127.0.0.1:$ch_http_port/?database=newapi_logs")
  usage_env=(NEWAPI_LOG_DATABASE_URL="clickhouse://reader:reader-secret@127.0.0.1:$ch_http_port/newapi_logs")
  logs_where="ClickHouse http://127.0.0.1:$ch_http_port (database newapi_logs; users default, reader)"
fi
step "starting simulators, localstripe and services (logs in .stack/logs/)"
sv_start newapi-sim PORT=3000 NEWAPI_SIM_DATABASE_URL="$newapi_url" "${sim_env[@]}" "$bin/newapi-sim"
sv_start kms-sim PORT=8089 KMS_WEBHOOK_URL=http://127.0.0.1:8083/webhooks/litellm/limit-exceeded "$bin/kms-sim"
sv_start litellm-sim PORT=4000 \
  WEBHOOK_URL="http://127.0.0.1:8084/webhooks/litellm/budget?token=$LITELLM_ALERT_TOKEN" "$bin/litellm-sim"
sv_start localstripe "$root/.venv/bin/localstripe" --port 8420 --from-scratch
# Database mode writes new-api's users and tokens (NEWAPI_DATABASE_URL, exported above);
# new users get $1000 of quota (500 000 units per dollar) so the demo key can relay.
sv_start key-sync PORT=8081 NEWAPI_SYNC_MODE="$key_sync_mode" NEWAPI_USER_QUOTA=500000000 \
  NEWAPI_BASE_URL=http://127.0.0.1:3000 SUPABASE_URL=http://127.0.0.1:54321 "$bin/key-sync"
sv_start usage-stats PORT=8082 KEY_SYNC_URL=http://127.0.0.1:8081 "${usage_env[@]}" "$bin/usage-stats"
sv_start billing PORT=8083 KMS_BASE_URL=http://127.0.0.1:8089 STRIPE_API_BASE=http://127.0.0.1:8420 "$bin/billing"
sv_start billing-litellm PORT=8084 DATABASE_URL="$litellm_billing_db" QUOTA_BACKEND=litellm \
  LITELLM_BASE_URL=http://127.0.0.1:4000 STRIPE_API_BASE=http://127.0.0.1:8420 "$bin/billing"

# localstripe wants an API key on every request.
stripe_auth=(-H 'Authorization: Bearer sk_test_local')
sv_wait_http newapi-sim http://127.0.0.1:3000/health
sv_wait_http kms-sim http://127.0.0.1:8089/health
sv_wait_http litellm-sim http://127.0.0.1:4000/health/liveliness
sv_wait_http localstripe http://127.0.0.1:8420/v1/customers "${stripe_auth[@]}"
sv_wait_http key-sync http://127.0.0.1:8081/ready
sv_wait_http usage-stats http://127.0.0.1:8082/ready
sv_wait_http billing http://127.0.0.1:8083/ready
sv_wait_http billing-litellm http://127.0.0.1:8084/ready

# Demo data: each service's seeding step lands here as its features arrive.
for seed in "$root"/scripts/seed/*.sh; do
  [ -e "$seed" ] || continue
  step "seeding: $(basename "$seed" .sh)"
  # shellcheck source=/dev/null
  source "$seed"
done

cat <<TABLE

  Tollgate local stack is up
  ───────────────────────────────────────────────────────────────────────────
  key-sync       http://127.0.0.1:8081   /health /ready /metrics (${key_sync_mode} mode)
  usage-stats    http://127.0.0.1:8082   /health /ready /metrics
  billing        http://127.0.0.1:8083   /health /ready /metrics /admin (quota on kms-sim)
  billing-litellm http://127.0.0.1:8084  the same on litellm-sim (QUOTA_BACKEND=litellm; DB tollgate_litellm)
  newapi-sim     http://127.0.0.1:3000   new-api gateway simulator (${newapi_db})
  kms-sim        http://127.0.0.1:8089   key management service simulator
  litellm-sim    http://127.0.0.1:4000   LiteLLM proxy simulator (master key $LITELLM_MASTER_KEY)
  localstripe    http://127.0.0.1:8420   Stripe fake (any sk_test_ key)
  Postgres       $DATABASE_URL
  new-api DB     $newapi_url
  new-api logs   $logs_where
  admin token    $ADMIN_TOKEN
  logs           .stack/logs/<name>.log
  ───────────────────────────────────────────────────────────────────────────
  Try:
    curl -s http://127.0.0.1:8081/ready
    curl -s http://127.0.0.1:8083/metrics | head
    curl -s -X POST http://127.0.0.1:3000/api/token/import \\
      -H 'Authorization: Bearer $NEWAPI_ADMIN_TOKEN' -H 'Content-Type: application/json' \\
      -d '{"key":"$(printf 'a%.0s' $(seq 1 48))","external_user_id":"demo-user","name":"default","unlimited_quota":true}'
    curl -s http://127.0.0.1:3000/v1/models -H 'Authorization: Bearer sk-$(printf 'a%.0s' $(seq 1 48))'
    curl -s -X POST http://127.0.0.1:8089/organizations/ -H 'Content-Type: application/json' \\
      -d '{"c_organization_id":"scratch-org","quota":100}'
    curl -s -X POST http://127.0.0.1:3000/_sim/faults -H 'Content-Type: application/json' \\
      -d '{"mode":"success_false","path_prefix":"/api/token/import","count":1}'
${STACK_NOTES:-}
  Ctrl-C stops everything.
TABLE
echo "stack: ready"

sv_watch
