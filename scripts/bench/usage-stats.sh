#!/usr/bin/env bash
# Usage-stats benchmark (issue 4): `/api/usage/token/detail` over 30 days for a heavy token,
# against the seed's plan (tools/seed-plan: GROUP BY over raw new-api logs per request), on
# the same generated data, for MariaDB and Postgres, both measured by tools/loadgen.
#
#   scripts/bench/usage-stats.sh [--no-build] [--backend mysql|postgres]... [--only cold]
#
# Builds the perf binaries (cargo build --profile perf --bins), then for each backend:
#   1. drops and recreates the new-api database tg_bench_usage and loads it with
#      newapi-datagen (10 M logs, 10 000 tokens, one heavy token with 1 M logs over 90 days,
#      fixed seed);
#   2. drops and recreates Tollgate's database tg_bench_usage_tollgate (local Postgres), runs
#      `usage-stats migrate`, starts usage-stats and waits until its ingest has caught up
#      (usage_ingest_state.max_seen_id = MAX(logs.id)): that is the backfill time;
#   3. loadgen get on /detail?start=<end-30d>&end=<end> with the heavy token's key: a fixed
#      count after a warm-up, then a sustained run; then a sustained run while a writer
#      commits BENCH_WRITE_PER_S consume logs per second for the heavy token inside the range
#      (each one changes the answer, so the result cache is invalidated several times a
#      second); then usage-stats restarted with RESULT_CACHE_MB=0 and one more
#      sustained run (every request computed);
#   4. starts seed-plan on the same new-api database, times one request alone, then (unless
#      that took over BENCH_SEED_MAX_ALONE_S) runs one loadgen get on the same URL, bounded
#      by count and time (the seed plan is slow);
#   5. the cold-cache runs (issue 10), for two key lists: "spread" (1 000 tokens spread over
#      the ids, none of the heaviest) and "heaviest" (tokens 1..1000, the heaviest most
#      requested): loadgen usage-mix at BENCH_CONCURRENCY (Zipf 1 over the keys, random
#      unaligned 1–90-day ranges, a zone mix, /detail, /chart day and hour, /logs; every
#      request distinct) while usage-stats' RSS is sampled; then BENCH_ALONE_REQUESTS /detail
#      requests one at a time (UTC), the same ones on usage-stats and on seed-plan (a
#      seed-plan request over BENCH_SEED_ALONE_TIMEOUT_S counts as a timeout);
#      (before them, on the fresh process: a CSV export of all the heavy token's logs, about
#      1 M rows, with usage-stats' RSS sampled);
# and prints a table per backend and the ratios (p95, throughput). Every process it started
# is stopped and the bench databases are dropped on exit (trap), whatever happens.
#
# --no-build   use the perf binaries already in target/perf
# BENCH_REUSE=1 (with BENCH_KEEP_DB=1 on the run before) keeps a loaded new-api database and
#              its Tollgate database when they exist: no reload, only the catch-up of new ids
# --backend B  run only this backend (repeatable; default: mysql then postgres)
# --only cold  after loading and the backfill, run only steps 5 and 6
#
# Environment overrides (defaults in brackets):
#   BENCH_MYSQL_URL [mysql://root@127.0.0.1:3306]   BENCH_PG_URL [postgres://postgres@127.0.0.1:5432]
#   BENCH_ROWS [10000000]   BENCH_TOKENS [10000]   BENCH_HEAVY_ROWS [1120000]   BENCH_DAYS [90]
#   BENCH_USAGE_PORT [18082]   BENCH_SEED_PORT [18090]   BENCH_CONCURRENCY [32]
#   BENCH_REQUESTS [5000]   BENCH_WARMUP [200]   BENCH_SUSTAIN_S [20]
#   BENCH_SEED_REQUESTS [5000]   BENCH_SEED_WARMUP [0]   BENCH_SEED_DURATION_S [30]
#   BENCH_SEED_TIMEOUT_S [600]   BENCH_SEED_MAX_ALONE_S [5] (slower alone: no loaded seed run)
#   BENCH_COLD_DURATION_S [30]   BENCH_COLD_WARMUP [500]   BENCH_ALONE_REQUESTS [100]
#   BENCH_SEED_ALONE_TIMEOUT_S [5]   BENCH_INGEST_BATCH [50000]   BENCH_RESULT_CACHE_MB [512]
#   BENCH_WRITE_PER_S [10]   BENCH_BACKFILL_TIMEOUT_S [1800]   BENCH_POOL_SIZE [32]   BENCH_KEEP_DB=1 (keep the databases)
# Results (JSON lines, tables, service logs): target/bench/usage-stats/<UTC timestamp>/.
#
# Exit status: 0 when every run succeeded; 1 on a failed run or set-up step.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

build=1
only=all
backends=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --backend)
      shift
      case "${1:-}" in mysql | postgres) backends+=("$1") ;; *) echo "usage-stats bench: --backend mysql|postgres" >&2; exit 1 ;; esac
      ;;
    --only)
      shift
      case "${1:-}" in cold) only=cold ;; *) echo "usage-stats bench: --only cold" >&2; exit 1 ;; esac
      ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage-stats bench: unknown argument $1 (try --help)" >&2; exit 1 ;;
  esac
  shift
done
[ ${#backends[@]} -gt 0 ] || backends=(mysql postgres)

mysql_url="${BENCH_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
pg_url="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
rows="${BENCH_ROWS:-10000000}"
tokens="${BENCH_TOKENS:-10000}"
heavy_rows="${BENCH_HEAVY_ROWS:-1120000}"
days="${BENCH_DAYS:-90}"
us_port="${BENCH_USAGE_PORT:-18082}"
sp_port="${BENCH_SEED_PORT:-18090}"
concurrency="${BENCH_CONCURRENCY:-32}"
requests="${BENCH_REQUESTS:-5000}"
warmup="${BENCH_WARMUP:-200}"
sustain_s="${BENCH_SUSTAIN_S:-20}"
seed_requests="${BENCH_SEED_REQUESTS:-5000}"
seed_warmup="${BENCH_SEED_WARMUP:-0}"
seed_timeout_s="${BENCH_SEED_TIMEOUT_S:-600}"
seed_max_alone_s="${BENCH_SEED_MAX_ALONE_S:-5}"
seed_duration_s="${BENCH_SEED_DURATION_S:-30}"
backfill_timeout_s="${BENCH_BACKFILL_TIMEOUT_S:-1800}"
pool_size="${BENCH_POOL_SIZE:-32}"
write_per_s="${BENCH_WRITE_PER_S:-10}"
cold_duration_s="${BENCH_COLD_DURATION_S:-30}"
cold_warmup="${BENCH_COLD_WARMUP:-500}"
alone_requests="${BENCH_ALONE_REQUESTS:-100}"
seed_alone_timeout_s="${BENCH_SEED_ALONE_TIMEOUT_S:-5}"
ingest_batch="${BENCH_INGEST_BATCH:-50000}"
result_cache_mb="${BENCH_RESULT_CACHE_MB:-512}"
na_db=tg_bench_usage
tg_db_prefix=tg_bench_usage_tollgate
datasets="$root/target/bench/usage-stats"
us_url="http://127.0.0.1:$us_port"
sp_url="http://127.0.0.1:$sp_port"
bin="$root/target/perf"
out="$root/target/bench/usage-stats/$(date -u +%Y%m%dT%H%M%SZ)"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { echo "usage-stats bench: $*" >&2; exit 1; }

for tool in psql mysql curl jq; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
for url in "$mysql_url" "$pg_url"; do
  case "$url" in
    *://*@127.0.0.1:* | *://127.0.0.1:*) ;;
    *) die "only 127.0.0.1 databases are allowed ($url)" ;;
  esac
done
for port in "$us_port" "$sp_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use (set BENCH_USAGE_PORT / BENCH_SEED_PORT)"
  fi
done
mkdir -p "$out"

if [ "$build" = 1 ]; then
  say "building the perf binaries (cargo build --profile perf --bins)"
  cargo build --profile perf --bins
fi
for b in usage-stats seed-plan newapi-datagen loadgen; do
  [ -x "$bin/$b" ] || die "$bin/$b is missing (build with: cargo build --profile perf --bins)"
done

# mysql://user[:pass]@host:port → client options (no password in the bench URLs by default).
my_host=$(sed -E 's|^mysql://([^@]*@)?([^:/]+).*|\2|' <<<"$mysql_url")
my_port=$(sed -E 's|^mysql://([^@]*@)?[^:/]+:([0-9]+).*|\2|' <<<"$mysql_url")
my_user=$(sed -E 's|^mysql://([^:@]+).*@.*|\1|; t; s|.*|root|' <<<"$mysql_url")
mysql_q() { mysql --protocol=TCP -h "$my_host" -P "$my_port" -u "$my_user" -N -B "$@"; }
pg_q() { psql "$1" -v ON_ERROR_STOP=1 -qAtc "$2"; }

admin_token="bench-admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

drop_dbs() {
  mysql_q -e "DROP DATABASE IF EXISTS \`$na_db\`" >/dev/null 2>&1 || true
  for db in "$na_db" "${tg_db_prefix}_mysql" "${tg_db_prefix}_postgres"; do
    psql "$pg_url/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
cleanup() {
  writer_stop
  if [ "${BENCH_KEEP_DB:-0}" != 1 ] && [ "${dbs_touched:-0}" = 1 ]; then
    say "dropping the bench databases"
    drop_dbs
  fi
  echo "results: $out"
}
# shellcheck source=scripts/lib/supervise.sh
source "$root/scripts/lib/supervise.sh"
sv_init "$out" "usage-stats bench" cleanup
sv_unset=(TOLLGATE_CONFIG NEWAPI_LOG_DATABASE_URL)

# A background writer: one client fed one INSERT every 1/BENCH_WRITE_PER_S s until
# writer_stop (or exit). Rows are marked by their content.
writer_pid=
writer_start() { # backend na_url token_id created_at
  local grp='"group"' client
  [ "$1" = mysql ] && grp='`group`'
  local sql="INSERT INTO logs (user_id, created_at, type, content, username, token_name, model_name, quota, prompt_tokens, completion_tokens, use_time, is_stream, channel_id, token_id, $grp) VALUES (1, $4, 2, 'bench write', 'bench', 'bench', 'bench-model', 1000, 10, 20, 1, false, 1, $3, 'default');"
  local pause
  pause=$(jq -n "1 / $write_per_s")
  rm -f "$out/writer.stop"
  if [ "$1" = mysql ]; then client=(mysql_q -D "$na_db"); else client=(psql "$2" -qX); fi
  ( while [ ! -e "$out/writer.stop" ]; do echo "$sql"; sleep "$pause"; done | "${client[@]}" >"$out/writer.log" 2>&1 ) &
  writer_pid=$!
}
writer_stop() {
  [ -n "$writer_pid" ] || return 0
  touch "$out/writer.stop"
  wait "$writer_pid" 2>/dev/null || true
  writer_pid=
}
count_writes() { # backend na_url
  if [ "$1" = mysql ]; then
    mysql_q -D "$na_db" -e "SELECT COUNT(*) FROM logs WHERE content = 'bench write'"
  else
    pg_q "$2" "SELECT COUNT(*) FROM logs WHERE content = 'bench write'"
  fi
}

# loadgen <label> <loadgen options…>: table to the terminal and $out/<label>.txt, the JSON
# line to $out/<label>.json.
loadgen() {
  local label=$1; shift
  local rc=0
  say "loadgen $label"
  "$bin/loadgen" "$@" --json >"$out/$label.json" 2>"$out/$label.txt" || rc=$?
  cat "$out/$label.txt"
  [ $rc = 0 ] || die "loadgen $label failed (exit $rc); see $out/$label.txt and the service logs"
}
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
ratios() { # backend kind (usage-stats' fixed or sustained run, against the one seed-plan run)
  jq -rn --slurpfile u "$out/$1-usage-$2.json" --slurpfile s "$out/$1-seed.json" --arg k "$1 $2" '
    def r(a; b): if (a // 0) > 0 and (b // 0) > 0 then ((a / b) * 10 | round / 10 | tostring) + "x" else "n/a" end;
    ($u[0]) as $us | ($s[0]) as $sp |
    "\($k): p95 usage-stats \($us.latency_ms.p95) ms vs seed plan \($sp.latency_ms.p95) ms (seed/usage \(r($sp.latency_ms.p95; $us.latency_ms.p95))); " +
    "throughput \($us.throughput_per_s)/s vs \($sp.throughput_per_s)/s (usage/seed \(r($us.throughput_per_s; $sp.throughput_per_s)))"'
}

# rss_watch <pid> <file>: sample the RSS (KiB) every 0.2 s into <file> until rss_stop.
rss_pid=
rss_watch() {
  ( while kill -0 "$1" 2>/dev/null; do ps -o rss= -p "$1" >>"$2" || true; sleep 0.2; done ) &
  rss_pid=$!
}
rss_stop() { [ -n "$rss_pid" ] && kill "$rss_pid" 2>/dev/null; wait "$rss_pid" 2>/dev/null || true; rss_pid=; }
rss_now() { ps -o rss= -p "$1" | tr -d ' '; }
rss_max() { sort -n "$1" | tail -n 1 | tr -d ' '; }

# keys_file <backend> <na_url> <spread|heaviest> <file>: 1 000 keys, most requested first.
# spread: token ids (k × 7919 mod tokens) + 1 for k = 1..1000 (7919 is prime: distinct ids
# over the whole id range, the heaviest ones mostly absent); heaviest: ids 1..1000 (the
# generator's Zipf makes id 1 the heaviest, then 2, …).
keys_file() {
  local all="$out/$1-tokens.tsv"
  if [ "$1" = mysql ]; then
    mysql_q -D "$na_db" -e 'SELECT id, `key` FROM tokens' >"$all"
  else
    pg_q "$2" 'SELECT id, key FROM tokens' | tr '|' '\t' >"$all"
  fi
  local ids
  if [ "$3" = spread ]; then
    ids=$(for k in $(seq 1 1000); do echo $(((k * 7919) % tokens + 1)); done)
  else
    ids=$(seq 1 1000)
  fi
  awk -F '\t' 'NR == FNR { key[$1] = $2; next } ($1 in key) { print key[$1] }' "$all" <(echo "$ids") >"$4"
  [ "$(wc -l <"$4")" = 1000 ] || die "expected 1000 keys in $4"
}

# cold_runs <backend> <na_url> <first> <end> <heavy key>
cold_runs() {
  local backend=$1 na_url=$2 first=$3 end=$4 key=$5 pid list
  pid=$(sv_pid "$backend-usage-stats")
  echo "usage-stats RSS after the backfill: $(rss_now "$pid") KiB" | tee "$out/$backend-rss-idle.txt"
  # First, while the process is fresh: the rise is then the export's own.
  say "[$backend] CSV export of all the heavy token's logs"
  : >"$out/$backend-rss-csv.txt"
  local before lines
  before=$(rss_now "$pid")
  rss_watch "$pid" "$out/$backend-rss-csv.txt"
  lines=$(curl -fsS --max-time 600 -H "Authorization: Bearer sk-$key" \
    "$us_url/api/usage/token/logs.csv?start=$first&end=$end" -w '' | wc -l)
  rss_stop
  jq -nc --argjson rows $((lines - 1)) --argjson before "$before" \
    --argjson max "$(rss_max "$out/$backend-rss-csv.txt")" \
    '{csv_rows: $rows, rss_before_kib: $before, rss_max_kib: $max, rise_mib: (($max - $before) / 1024 * 10 | round / 10)}' |
    tee "$out/$backend-csv.json"
  for list in spread heaviest; do
    keys_file "$backend" "$na_url" "$list" "$out/$backend-keys-$list.txt"
    say "[$backend] cold cache, $list keys: usage-mix at concurrency $concurrency for ${cold_duration_s} s"
    : >"$out/$backend-rss-cold-$list.txt"
    rss_watch "$pid" "$out/$backend-rss-cold-$list.txt"
    loadgen "$backend-cold-$list" usage-mix --url "$us_url" --keys-file "$out/$backend-keys-$list.txt" \
      --first "$first" --last "$end" --seed 1 --concurrency "$concurrency" --requests 100000000 \
      --warmup "$cold_warmup" --duration-s "$cold_duration_s"
    rss_stop
    echo "usage-stats RSS under load ($list): max $(rss_max "$out/$backend-rss-cold-$list.txt") KiB"
    say "[$backend] one at a time, $list keys: $alone_requests /detail requests (UTC) on usage-stats"
    loadgen "$backend-alone-$list" usage-mix --url "$us_url" --keys-file "$out/$backend-keys-$list.txt" \
      --first "$first" --last "$end" --seed 2 --mix detail=1 --zones UTC=1 --concurrency 1 \
      --requests "$alone_requests" --duration-s 600
  done
  sv_start "$backend-seed-plan-alone" PORT="$sp_port" NEWAPI_DATABASE_URL="$na_url" \
    NEWAPI_POOL_SIZE=4 "$bin/seed-plan"
  sv_wait_http seed-plan "$sp_url/health"
  for list in spread heaviest; do
    say "[$backend] one at a time, $list keys: the same requests on seed-plan (timeout ${seed_alone_timeout_s} s)"
    local rc=0
    "$bin/loadgen" usage-mix --url "$sp_url" --keys-file "$out/$backend-keys-$list.txt" \
      --first "$first" --last "$end" --seed 2 --mix detail=1 --zones UTC=1 --concurrency 1 \
      --requests "$alone_requests" --duration-s 3000 --timeout-s "$seed_alone_timeout_s" \
      --allow-errors --json >"$out/$backend-seed-alone-$list.json" 2>"$out/$backend-seed-alone-$list.txt" || rc=$?
    cat "$out/$backend-seed-alone-$list.txt"
    [ $rc = 0 ] || die "loadgen on seed-plan failed (exit $rc)"
  done
  sv_stop "$backend-seed-plan-alone"

  cold_summary "$backend" | tee "$out/$backend-cold-summary.txt"
}

# The cold runs' table, and the one-at-a-time p95 ratio (seed-plan timeouts count as the
# timeout: with more than 5 % of them, the seed p95 is at least the timeout).
cold_summary() {
  local b=$1 list
  echo "[$b] cold cache and one at a time:"
  summary "$b-cold-spread" "$b-cold-heaviest" "$b-alone-spread" "$b-alone-heaviest"
  for list in spread heaviest; do
    jq -rn --slurpfile u "$out/$b-alone-$list.json" --slurpfile s "$out/$b-seed-alone-$list.json" \
      --argjson t "$seed_alone_timeout_s" --arg l "$list" '
      ($u[0]) as $us | ($s[0]) as $sp |
      (if ($sp.error_count / $sp.total) > 0.05 then ($t * 1000) else $sp.latency_ms.p95 end) as $seed95 |
      "\($l): one at a time p95 usage-stats \($us.latency_ms.p95) ms, seed-plan \(if ($sp.error_count / $sp.total) > 0.05 then ">= " else "" end)\($seed95) ms (\($sp.error_count) of \($sp.total) timed out): \($seed95 / $us.latency_ms.p95 | round)x"'
  done
  for list in spread heaviest; do
    echo "RSS under the $list cold run: max $(rss_max "$out/$b-rss-cold-$list.txt") KiB"
  done
  jq -r '"CSV: \(.csv_rows) rows, RSS \(.rss_before_kib) KiB before, max \(.rss_max_kib) KiB (+\(.rise_mib) MiB)"' "$out/$b-csv.json"
}

bench_backend() { # mysql|postgres
  local backend=$1 na_url tg_db="${tg_db_prefix}_$backend" dataset="$datasets/$backend-dataset.json"
  if [ "$backend" = mysql ]; then na_url="$mysql_url/$na_db"; else na_url="$pg_url/$na_db"; fi
  dbs_touched=1
  local loaded=0
  if [ "${BENCH_REUSE:-0}" = 1 ] && [ -f "$dataset" ]; then
    if [ "$backend" = mysql ]; then
      mysql_q -D "$na_db" -e "SELECT 1 FROM logs LIMIT 1" >/dev/null 2>&1 && loaded=1
    else
      pg_q "$na_url" "SELECT 1 FROM logs LIMIT 1" >/dev/null 2>&1 && loaded=1
    fi
  fi
  if [ $loaded = 1 ]; then
    say "[$backend] reusing the loaded $na_db ($dataset)"
    cp "$dataset" "$out/$backend-datagen.json"
  else
    say "[$backend] recreating $na_db and $tg_db"
    if [ "$backend" = mysql ]; then
      mysql_q -e "DROP DATABASE IF EXISTS \`$na_db\`; CREATE DATABASE \`$na_db\`" >/dev/null
    else
      pg_q "$pg_url/postgres" "DROP DATABASE IF EXISTS \"$na_db\" WITH (FORCE)" >/dev/null
      pg_q "$pg_url/postgres" "CREATE DATABASE \"$na_db\"" >/dev/null
    fi
    pg_q "$pg_url/postgres" "DROP DATABASE IF EXISTS \"$tg_db\" WITH (FORCE)" >/dev/null
    say "[$backend] loading $rows logs, $tokens tokens, heavy token $heavy_rows logs over $days days"
    "$bin/newapi-datagen" --url "$na_url" --create-tables --truncate --rows "$rows" \
      --tokens "$tokens" --heavy-token-rows "$heavy_rows" --days "$days" --seed 1 \
      >"$out/$backend-datagen.json" 2>"$out/$backend-datagen.log" ||
      { tail -n 20 "$out/$backend-datagen.log" >&2; die "newapi-datagen failed"; }
    cp "$out/$backend-datagen.json" "$dataset"
  fi
  if [ -z "$(pg_q "$pg_url/postgres" "SELECT 1 FROM pg_database WHERE datname = '$tg_db'")" ]; then
    pg_q "$pg_url/postgres" "CREATE DATABASE \"$tg_db\"" >/dev/null
  fi
  cat "$out/$backend-datagen.json"
  local key end start max_id heavy_id
  key=$(jq -r .heavy_token_key "$out/$backend-datagen.json")
  heavy_id=$(jq -r .heavy_token_id "$out/$backend-datagen.json")
  end=$(jq -r .end "$out/$backend-datagen.json")
  start=$((end - 30 * 86400))
  if [ "$backend" = mysql ]; then
    max_id=$(mysql_q -D "$na_db" -e "SELECT MAX(id) FROM logs")
  else
    max_id=$(pg_q "$na_url" "SELECT MAX(id) FROM logs")
  fi

  local us_env=(
    PORT="$us_port"
    DATABASE_URL="$pg_url/$tg_db"
    ADMIN_TOKEN="$admin_token"
    NEWAPI_DATABASE_URL="$na_url"
    LOG_FORMAT=json
    RUST_LOG=warn
    RATE_LIMIT_PER_MIN=0
    DB_POOL_SIZE="$pool_size"
    NEWAPI_POOL_SIZE="$pool_size"
    INGEST_BATCH="$ingest_batch"
    RESULT_CACHE_MB="$result_cache_mb"
  )
  say "[$backend] usage-stats migrate, then backfill of $max_id log ids"
  env -u TOLLGATE_CONFIG "${us_env[@]}" "$bin/usage-stats" migrate >"$out/$backend-usage-migrate.log" 2>&1 ||
    { cat "$out/$backend-usage-migrate.log" >&2; die "usage-stats migrate failed"; }
  local t0 seen=0 elapsed
  t0=$(date +%s.%N)
  sv_start "$backend-usage-stats" "${us_env[@]}" "$bin/usage-stats"
  sv_wait_http usage-stats "$us_url/health"
  while :; do
    seen=$(pg_q "$pg_url/$tg_db" "SELECT COALESCE(MAX(max_seen_id), 0) FROM usage_ingest_state")
    [ "$seen" -ge "$max_id" ] && break
    sv_check_alive
    elapsed=$(jq -n "$(date +%s.%N) - $t0 | floor")
    [ "$elapsed" -lt "$backfill_timeout_s" ] || die "ingest not caught up after ${backfill_timeout_s} s ($seen of $max_id)"
    sleep 0.5
  done
  elapsed=$(jq -n "($(date +%s.%N) - $t0) * 10 | round / 10")
  jq -nc --arg b "$backend" --argjson ids "$max_id" --argjson s "$elapsed" \
    '{backend: $b, log_ids: $ids, seconds: $s, rows_per_s: ($ids / $s | round)}' | tee "$out/$backend-backfill.json"
  # What autovacuum does on its own a little later (it is off on some machines, e.g. these
  # test machines): visibility map and planner statistics for the freshly written tables.
  # Without it every page and log index read is a heap visit, and plans are guesses.
  say "[$backend] VACUUM (ANALYZE) of Tollgate's usage tables"
  pg_q "$pg_url/$tg_db" "VACUUM (ANALYZE) usage_log_index, usage_quarter, usage_hour, usage_day, usage_token_version" >/dev/null

  local q="/api/usage/token/detail?start=$start&end=$end"
  local auth="Authorization: Bearer sk-$key"
  local first
  first=$(jq -r .start "$out/$backend-datagen.json")
  cold_runs "$backend" "$na_url" "$first" "$end" "$key"
  if [ "$only" = cold ]; then
    sv_stop_all
    [ "${BENCH_KEEP_DB:-0}" = 1 ] || drop_dbs
    return 0
  fi
  curl -fsS --max-time 10 -H "$auth" "$us_url$q" >"$out/$backend-usage-sample.json" ||
    die "usage-stats /detail failed"
  jq -c '.data.summary' "$out/$backend-usage-sample.json"
  loadgen "$backend-usage-fixed" get --url "$us_url$q" --header "$auth" \
    --concurrency "$concurrency" --requests "$requests" --warmup "$warmup" --duration-s 120
  loadgen "$backend-usage-sustained" get --url "$us_url$q" --header "$auth" \
    --concurrency "$concurrency" --requests 100000000 --duration-s "$sustain_s"

  # Live writes: consume logs for the heavy token two days before `end` (inside a day rollup
  # of the range, so every ingested one changes the answer).
  say "[$backend] sustained run while $write_per_s consume logs/s are written for the heavy token"
  local before after
  before=$(count_writes "$backend" "$na_url")
  writer_start "$backend" "$na_url" "$heavy_id" $((end - 2 * 86400))
  loadgen "$backend-usage-writes" get --url "$us_url$q" --header "$auth" \
    --concurrency "$concurrency" --requests 100000000 --duration-s "$sustain_s"
  writer_stop
  after=$(count_writes "$backend" "$na_url")
  jq -nc --argjson n $((after - before)) --argjson s "$sustain_s" \
    '{written: $n, per_s: ($n / $s * 10 | round / 10)}' | tee "$out/$backend-writes.json"
  sv_stop_all

  say "[$backend] usage-stats with RESULT_CACHE_MB=0 (every request computed)"
  sv_start "$backend-usage-stats-nocache" "${us_env[@]}" RESULT_CACHE_MB=0 "$bin/usage-stats"
  sv_wait_http usage-stats "$us_url/health"
  loadgen "$backend-usage-nocache" get --url "$us_url$q" --header "$auth" \
    --concurrency "$concurrency" --requests 100000000 --warmup "$warmup" --duration-s "$sustain_s"
  sv_stop_all

  say "[$backend] seed-plan (GROUP BY over raw logs per request)"
  sv_start "$backend-seed-plan" PORT="$sp_port" NEWAPI_DATABASE_URL="$na_url" \
    NEWAPI_POOL_SIZE="$pool_size" "$bin/seed-plan"
  sv_wait_http seed-plan "$sp_url/health"
  # One request alone first (its time is the plan's unloaded latency), then the loaded run:
  # no warm-up, no request started after the time limit, and a generous per-request timeout
  # (at 32 concurrent, every request waits for the others' scans).
  local curl_rc=0
  curl -fsS --max-time "$seed_timeout_s" -w '%{time_total}\n' -o "$out/$backend-seed-sample.json" \
    -H "$auth" "$sp_url$q" >"$out/$backend-seed-alone.txt" || curl_rc=$?
  if [ $curl_rc = 28 ]; then
    # Timed out: record the limit as a lower bound of the plan's latency.
    echo "seed-plan: no answer within $seed_timeout_s s (recorded as $seed_timeout_s s, a lower bound)"
    echo "$seed_timeout_s" >"$out/$backend-seed-alone.txt"
    echo '{"data":{"summary":"timed out"}}' >"$out/$backend-seed-sample.json"
  elif [ $curl_rc != 0 ]; then
    die "seed-plan /detail failed (curl exit $curl_rc)"
  fi
  echo "seed-plan alone: $(cat "$out/$backend-seed-alone.txt") s"
  jq -c '.data.summary' "$out/$backend-seed-sample.json"
  local alone
  alone=$(cat "$out/$backend-seed-alone.txt")
  if jq -en "$alone > $seed_max_alone_s" >/dev/null; then
    # 32 such requests at once would take minutes each: record the lone request instead
    # (its latency, and 1/latency as the throughput of one client; generous to the plan).
    echo "seed-plan: one request alone took $alone s (> $seed_max_alone_s s): no loaded run"
    jq -nc --argjson t "$alone" '{total: 1, ok: 1, error_count: 0, duration_s: $t,
      throughput_per_s: (1 / $t * 1000 | round / 1000), alone: true,
      latency_ms: {p50: ($t * 1000), p90: ($t * 1000), p95: ($t * 1000), p99: ($t * 1000), max: ($t * 1000)}}' \
      >"$out/$backend-seed.json"
  else
    loadgen "$backend-seed" get --url "$sp_url$q" --header "$auth" --timeout-s "$seed_timeout_s" \
      --concurrency "$concurrency" --requests "$seed_requests" --warmup "$seed_warmup" \
      --duration-s "$seed_duration_s"
  fi
  sv_stop_all

  if [ "${BENCH_KEEP_DB:-0}" != 1 ]; then
    drop_dbs
  fi
}

for backend in "${backends[@]}"; do
  bench_backend "$backend"
done

if [ "$only" = cold ]; then
  for backend in "${backends[@]}"; do
    echo
    jq -r '"\(.backend) backfill: \(.log_ids) log ids in \(.seconds) s (\(.rows_per_s) rows/s)"' "$out/$backend-backfill.json"
    cat "$out/$backend-cold-summary.txt"
  done | tee "$out/summary.txt"
  exit 0
fi
say "summary (concurrency $concurrency; usage-stats: $requests after $warmup warm-up, then ${sustain_s} s;" \
  "seed plan: one run, at most $seed_requests or ${seed_duration_s} s after $seed_warmup warm-up)"
for backend in "${backends[@]}"; do
  echo
  jq -r '"\(.backend) backfill: \(.log_ids) log ids in \(.seconds) s (\(.rows_per_s) rows/s)"' "$out/$backend-backfill.json"
  summary "$backend-usage-fixed" "$backend-usage-sustained" "$backend-usage-writes" \
    "$backend-usage-nocache" "$backend-seed"
  jq -r '"writes during the writes run: \(.written) (\(.per_s)/s)"' "$out/$backend-writes.json"
  for kind in fixed sustained; do ratios "$backend" "$kind"; done
done | tee "$out/summary.txt"
