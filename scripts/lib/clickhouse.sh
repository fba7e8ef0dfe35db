# shellcheck shell=bash
# A private ClickHouse server for a test run or the local stack, from deploy/clickhouse/*.xml
# (the same files tollgate_testkit::clickhouse renders): a directory of its own, 127.0.0.1,
# free ports, users `default` (writes, as new-api) and `reader` (readonly = 2). Source it:
#
#   ch_render <dir>  pick free ports and render the configuration into <dir> (sets
#                    ch_http_port, ch_tcp_port); start it yourself, e.g. with the supervisor:
#                    clickhouse-server --config-file=<dir>/config.xml
#   ch_start <dir>   ch_render, then start clickhouse-server in the background and wait for
#                    /ping (30 s); sets ch_pid
#   ch_stop          stop what ch_start started (the directory stays; remove it yourself)

ch_http_port=
ch_tcp_port=
ch_pid=

ch__free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ch_render() { # dir
  local dir=$1 root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  ch_http_port=$(ch__free_port)
  ch_tcp_port=$(ch__free_port)
  mkdir -p "$dir"
  for f in config.xml users.xml; do
    sed -e "s#@DIR@#$dir#g" -e "s#@HTTP_PORT@#$ch_http_port#g" -e "s#@TCP_PORT@#$ch_tcp_port#g" \
      "$root/deploy/clickhouse/$f" >"$dir/$f"
  done
}

ch_start() { # dir
  local dir=$1
  ch_render "$dir"
  "${CLICKHOUSE_SERVER_BIN:-clickhouse-server}" --config-file="$dir/config.xml" \
    >"$dir/stdout.log" 2>&1 &
  ch_pid=$!
  for _ in $(seq 1 150); do
    if curl -fsS "http://127.0.0.1:$ch_http_port/ping" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$ch_pid" 2>/dev/null; then
      echo "clickhouse-server exited; its logs are in $dir" >&2
      tail -n 20 "$dir/error.log" "$dir/stdout.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
  echo "clickhouse-server did not answer on $ch_http_port within 30 s" >&2
  return 1
}

ch_stop() {
  if [ -n "$ch_pid" ] && kill -0 "$ch_pid" 2>/dev/null; then
    kill "$ch_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$ch_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$ch_pid" 2>/dev/null || true
  fi
  ch_pid=
}
