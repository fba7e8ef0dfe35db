#!/usr/bin/env bash
# usage-stats on new-api's logs in ClickHouse (issue 13): the cold-cache mix of issue 10
# against usage-stats reading ClickHouse, beside the same queries sent straight to
# ClickHouse (loadgen usage-mix --clickhouse: usage-stats' own query code, without
# usage-stats), and beside usage-stats on Postgres with the same data.
#
#   scripts/bench/usage-stats-clickhouse.sh [--no-build] [--no-postgres]
#
# 1. newapi-datagen loads a Postgres new-api database (tg_bench_ch): BENCH_ROWS logs over
#    BENCH_DAYS days, BENCH_TOKENS tokens, one heavy token with BENCH_HEAVY_ROWS logs
#    (fixed seed); its logs are copied into a private ClickHouse (scripts/lib/clickhouse.sh,
#    server zone Asia/Shanghai) as new-api keeps them there (id 0, a request_id each);
# 2. usage-stats with NEWAPI_LOG_DATABASE_URL on ClickHouse (as the read-only user), then
#    for two key lists ("spread": every token in a scattered order; "heaviest": tokens
#    1..1000, the heaviest most requested) loadgen usage-mix (Zipf 1, random unaligned
#    1-90-day ranges, a zone mix, /detail, /chart day and hour, /logs; every request
#    distinct) at BENCH_CONCURRENCY for BENCH_COLD_DURATION_S, usage-stats' RSS sampled;
# 3. the same runs with --clickhouse (the queries straight to ClickHouse);
# 4. unless --no-postgres: usage-stats on the Postgres copy (its own ingest; the backfill is
#    timed), the same runs.
# Prints a table and the ratios. Every process it started is stopped and the databases are
# dropped on exit (BENCH_KEEP_DB=1 keeps the Postgres ones).
#
# Environment overrides (defaults in brackets): BENCH_PG_URL [postgres://postgres@127.0.0.1:5432]
#   BENCH_ROWS [10000000]   BENCH_TOKENS [1000]   BENCH_HEAVY_ROWS [1000000]   BENCH_DAYS [90]
#   BENCH_USAGE_PORT [18083]   BENCH_CONCURRENCY [32]   BENCH_COLD_DURATION_S [30]
#   BENCH_COLD_WARMUP [500]   BENCH_POOL_SIZE [32]   BENCH_BACKFILL_TIMEOUT_S [3600]
#   BENCH_BIN_DIR [target/perf]
# On ClickHouse every request is a scan of its range (the table is sorted by time, not by
# token), so its runs allow 60 s per request and record errors instead of stopping.
# Results: target/bench/usage-stats-clickhouse/<UTC timestamp>/.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

build=1
with_pg=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --no-postgres) with_pg=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "clickhouse bench: unknown argument $1 (try --help)" >&2; exit 1 ;;
  esac
  shift
done

pg_url="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
rows="${BENCH_ROWS:-10000000}"
tokens="${BENCH_TOKENS:-1000}"
heavy_rows="${BENCH_HEAVY_ROWS:-1000000}"
days="${BENCH_DAYS:-90}"
us_port="${BENCH_USAGE_PORT:-18083}"
concurrency="${BENCH_CONCURRENCY:-32}"
cold_duration_s="${BENCH_COLD_DURATION_S:-30}"
cold_warmup="${BENCH_COLD_WARMUP:-500}"
pool_size="${BENCH_POOL_SIZE:-32}"
backfill_timeout_s="${BENCH_BACKFILL_TIMEOUT_S:-3600}"
bin="${BENCH_BIN_DIR:-$root/target/perf}"
na_db=tg_bench_ch
tg_db=tg_bench_ch_tollgate
us_url="http://127.0.0.1:$us_port"
out="$root/target/bench/usage-stats-clickhouse/$(date -u +%Y%m%dT%H%M%SZ)"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { echo "clickhouse bench: $*" >&2; exit 1; }
pg_q() { psql "$1" -v ON_ERROR_STOP=1 -qAtc "$2"; }

for tool in psql curl jq python3; do command -v "$tool" >/dev/null || die "$tool is required"; done
command -v "${CLICKHOUSE_SERVER_BIN:-clickhouse-server}" >/dev/null || die "clickhouse-server is required"
if (exec 3<>"/dev/tcp/127.0.0.1/$us_port") 2>/dev/null; then die "port $us_port is in use"; fi
mkdir -p "$out"

if [ "$build" = 1 ]; then
  say "building the perf binaries (usage-stats, loadgen, newapi-datagen)"
  cargo build --profile perf -p usage-stats -p loadgen -p newapi-datagen
fi
for b in usage-stats loadgen newapi-datagen; do
  [ -x "$bin/$b" ] || die "$bin/$b is missing (cargo build --profile perf -p $b)"
done

cleanup() {
  if [ "${BENCH_KEEP_DB:-0}" != 1 ]; then
    for db in "$na_db" "$tg_db"; do
      psql "$pg_url/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$out/clickhouse/data"
  echo "results: $out"
}
# shellcheck source=scripts/lib/supervise.sh
source "$root/scripts/lib/supervise.sh"
# shellcheck source=scripts/lib/clickhouse.sh
source "$root/scripts/lib/clickhouse.sh"
sv_init "$out" "clickhouse bench" cleanup
sv_unset=(TOLLGATE_CONFIG NEWAPI_LOG_DATABASE_URL)

loadgen() { # label, loadgen options
  local label=$1 rc=0; shift
  say "loadgen $label"
  "$bin/loadgen" "$@" --json >"$out/$label.json" 2>"$out/$label.txt" || rc=$?
  cat "$out/$label.txt"
  [ $rc = 0 ] || die "loadgen $label failed (exit $rc); see $out/$label.txt"
}
rss_pid=
rss_watch() { ( while kill -0 "$1" 2>/dev/null; do ps -o rss= -p "$1" >>"$2" || true; sleep 0.2; done ) & rss_pid=$!; }
rss_stop() { [ -n "$rss_pid" ] && kill "$rss_pid" 2>/dev/null; wait "$rss_pid" 2>/dev/null || true; rss_pid=; }
rss_max() { sort -n "$1" | tail -n 1 | tr -d ' '; }

# 1. Data.
na_url="$pg_url/$na_db"
say "loading $rows logs ($tokens tokens, heavy $heavy_rows over $days days) into $na_db"
pg_q "$pg_url/postgres" "DROP DATABASE IF EXISTS \"$na_db\" WITH (FORCE)" >/dev/null
pg_q "$pg_url/postgres" "CREATE DATABASE \"$na_db\"" >/dev/null
"$bin/newapi-datagen" --url "$na_url" --create-tables --truncate --rows "$rows" --tokens "$tokens" \
  --heavy-token-rows "$heavy_rows" --days "$days" --seed 1 >"$out/datagen.json" 2>"$out/datagen.log" ||
  { tail -n 20 "$out/datagen.log" >&2; die "newapi-datagen failed"; }
cat "$out/datagen.json"
say "starting ClickHouse and copying the logs into it"
ch_render "$out/clickhouse"
sv_start clickhouse "${CLICKHOUSE_SERVER_BIN:-clickhouse-server}" --config-file="$out/clickhouse/config.xml"
sv_wait_http clickhouse "http://127.0.0.1:$ch_http_port/ping"
ch="http://127.0.0.1:$ch_http_port/"
curl -fsS --data-binary "CREATE DATABASE newapi_logs" "$ch"
"$bin/newapi-datagen" --print-clickhouse-ddl >"$out/clickhouse-ddl.sql"
curl -fsS --data-binary @"$out/clickhouse-ddl.sql" "$ch?database=newapi_logs"
copy_started=$(date +%s.%N)
psql "$na_url" -v ON_ERROR_STOP=1 -qAt -c "COPY (SELECT 0, user_id, created_at, type, COALESCE(content, ''),
    COALESCE(username, ''), COALESCE(token_name, ''), COALESCE(model_name, ''), quota,
    prompt_tokens, completion_tokens, use_time, CASE WHEN is_stream THEN 1 ELSE 0 END,
    COALESCE(channel_id, 0), token_id, COALESCE(\"group\", ''), COALESCE(ip, ''),
    COALESCE(NULLIF(request_id, ''), id::text), '', COALESCE(other, '') FROM logs) TO STDOUT" |
  curl -fsS -X POST -T - \
    "$ch?database=newapi_logs&query=INSERT%20INTO%20logs%20FORMAT%20TabSeparated"
copied=$(curl -fsS --data-binary "SELECT count() FROM logs" "$ch?database=newapi_logs")
echo "copied $copied rows in $(jq -n "($(date +%s.%N) - $copy_started) | . * 10 | round / 10") s"
[ "$copied" = "$(pg_q "$na_url" 'SELECT count(*) FROM logs')" ] || die "the copy lost rows"

# Key lists (and their token ids, for the direct runs), most requested first.
pg_q "$na_url" 'SELECT id, key FROM tokens ORDER BY id' | tr '|' '\t' >"$out/tokens.tsv"
for list in spread heaviest; do
  if [ "$list" = spread ]; then
    ids=$(for k in $(seq 1 1000); do echo $(((k * 7919) % tokens + 1)); done)
  else
    ids=$(seq 1 1000)
  fi
  echo "$ids" >"$out/ids-$list.txt"
  awk -F '\t' 'NR == FNR { key[$1] = $2; next } ($1 in key) { print key[$1] }' \
    "$out/tokens.tsv" "$out/ids-$list.txt" >"$out/keys-$list.txt"
done
first=$(jq -r .start "$out/datagen.json")
last=$(jq -r .end "$out/datagen.json")

# cold <label> <usage-stats name> [extra loadgen options]: both key lists.
cold() {
  local label=$1 name=$2 list pid=""; shift 2
  [ -n "$name" ] && pid=$(sv_pid "$name")
  for list in spread heaviest; do
    : >"$out/rss-$label-$list.txt"
    [ -n "$pid" ] && rss_watch "$pid" "$out/rss-$label-$list.txt"
    loadgen "$label-$list" usage-mix --url "$us_url" --keys-file "$out/keys-$list.txt" \
      --first "$first" --last "$last" --seed 1 --concurrency "$concurrency" --requests 100000000 \
      --warmup "$cold_warmup" --duration-s "$cold_duration_s" "$@"
    rss_stop
    [ -n "$pid" ] && echo "RSS under load: max $(rss_max "$out/rss-$label-$list.txt") KiB" | tee -a "$out/rss.txt"
  done
}

pg_q "$pg_url/postgres" "DROP DATABASE IF EXISTS \"$tg_db\" WITH (FORCE)" >/dev/null
pg_q "$pg_url/postgres" "CREATE DATABASE \"$tg_db\"" >/dev/null
DATABASE_URL="$pg_url/$tg_db" ADMIN_TOKEN=bench-admin NEWAPI_DATABASE_URL="$na_url" RUST_LOG=warn \
  "$bin/usage-stats" migrate >/dev/null
common=(DATABASE_URL="$pg_url/$tg_db" ADMIN_TOKEN=bench-admin PORT="$us_port"
  NEWAPI_DATABASE_URL="$na_url" NEWAPI_POOL_SIZE="$pool_size" RATE_LIMIT_PER_MIN=0
  LOG_FORMAT=json RUST_LOG=warn)

# 2. usage-stats on ClickHouse.
say "usage-stats on ClickHouse"
sv_start usage-stats-ch "${common[@]}" \
  NEWAPI_LOG_DATABASE_URL="clickhouse://reader:reader-secret@127.0.0.1:$ch_http_port/newapi_logs" \
  CLICKHOUSE_TIMEOUT_MS=60000 "$bin/usage-stats"
sv_wait_http usage-stats-ch "$us_url/ready"
cold ch usage-stats-ch --timeout-s 60 --allow-errors
sv_stop usage-stats-ch

# 3. The same queries straight to ClickHouse.
say "the same queries straight to ClickHouse"
for list in spread heaviest; do
  loadgen "direct-$list" usage-mix --url "$us_url" --keys-file "$out/keys-$list.txt" \
    --token-ids-file "$out/ids-$list.txt" \
    --clickhouse "clickhouse://reader:reader-secret@127.0.0.1:$ch_http_port/newapi_logs" \
    --first "$first" --last "$last" --seed 1 --concurrency "$concurrency" --requests 100000000 \
    --warmup "$cold_warmup" --duration-s "$cold_duration_s" --timeout-s 60 --allow-errors
done

# 4. usage-stats on the Postgres copy.
if [ "$with_pg" = 1 ]; then
  sv_stop clickhouse
  say "usage-stats on Postgres: backfill of $rows logs"
  started=$(date +%s)
  sv_start usage-stats-pg "${common[@]}" INGEST_BATCH=50000 RESULT_CACHE_MB=512 "$bin/usage-stats"
  sv_wait_http usage-stats-pg "$us_url/ready"
  max_id=$(pg_q "$na_url" 'SELECT max(id) FROM logs')
  while :; do
    seen=$(pg_q "$pg_url/$tg_db" 'SELECT COALESCE(max(max_seen_id), 0) FROM usage_ingest_state')
    [ "$seen" -ge "$max_id" ] && break
    [ $(( $(date +%s) - started )) -lt "$backfill_timeout_s" ] || die "backfill did not finish"
    sv_check_alive
    sleep 5
  done
  backfill_s=$(( $(date +%s) - started ))
  echo "backfill: ${backfill_s} s, $(( rows / (backfill_s > 0 ? backfill_s : 1) )) logs/s" | tee "$out/backfill.txt"
  cold pg usage-stats-pg
fi

row() {
  jq -r --arg l "$1" '[$l, .total, .ok, .error_count, .throughput_per_s, .latency_ms.p50,
    .latency_ms.p95, .latency_ms.p99, .latency_ms.max] | map(tostring) | @tsv' "$out/$1.json"
}
{
  printf 'run\ttotal\tok\terrors\treq/s\tp50_ms\tp95_ms\tp99_ms\tmax_ms\n'
  for l in ch-spread ch-heaviest direct-spread direct-heaviest; do row "$l"; done
  if [ "$with_pg" = 1 ]; then for l in pg-spread pg-heaviest; do row "$l"; done; fi
} | column -t -s $'\t' | tee "$out/summary.txt"
for list in spread heaviest; do
  jq -rn --slurpfile c "$out/ch-$list.json" --slurpfile d "$out/direct-$list.json" --arg l "$list" '
    "\($l): usage-stats on ClickHouse p95 \($c[0].latency_ms.p95) ms at \($c[0].throughput_per_s)/s; " +
    "straight to ClickHouse p95 \($d[0].latency_ms.p95) ms at \($d[0].throughput_per_s)/s; " +
    "overhead p95 x\(($c[0].latency_ms.p95 / $d[0].latency_ms.p95) * 100 | round / 100), " +
    "throughput x\(($d[0].throughput_per_s / $c[0].throughput_per_s) * 100 | round / 100)"' | tee -a "$out/summary.txt"
done
