#!/usr/bin/env bash
# Makes sure the machine's Postgres, MariaDB, Redis and the client tools the scripts use are
# there and running (they are on a fresh machine of this kind; this only repairs a stopped
# one). Redis serves the tests of new-api's token cache (key-sync's revocations).
set -euo pipefail
need=()
command -v psql >/dev/null || need+=(postgresql-client)
command -v mariadb >/dev/null || need+=(mariadb-client)
command -v curl >/dev/null || need+=(curl)
command -v pgrep >/dev/null || need+=(procps)
# promtool lints every service's /metrics in scripts/stack-smoke.sh.
command -v promtool >/dev/null || need+=(prometheus)
# usage-stats' ClickHouse log source: scripts/test.sh starts a private server per run.
command -v clickhouse-server >/dev/null || need+=(clickhouse-server)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
if ! mariadb -h 127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 50); do mariadb -h 127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
fi
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  fi
  redis-server --daemonize yes --save '' --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis_up && break; sleep 0.2; done
fi
pg_isready -h 127.0.0.1 -p 5432
mariadb -h 127.0.0.1 -uroot -e 'SELECT VERSION()' -N
redis_up && echo "redis on 127.0.0.1:6379"
