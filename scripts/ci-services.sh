#!/usr/bin/env bash
# Makes sure the machine's Postgres, MariaDB and the client tools the scripts use are there
# and running (they are on a fresh machine of this kind; this only repairs a stopped one).
set -euo pipefail
need=()
command -v psql >/dev/null || need+=(postgresql-client)
command -v mariadb >/dev/null || need+=(mariadb-client)
command -v curl >/dev/null || need+=(curl)
command -v pgrep >/dev/null || need+=(procps)
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
pg_isready -h 127.0.0.1 -p 5432
mariadb -h 127.0.0.1 -uroot -e 'SELECT VERSION()' -N
