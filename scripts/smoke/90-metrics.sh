# Sourced by scripts/stack-smoke.sh, last: after the other smoke files' traffic, each
# service's /metrics must pass Prometheus' own linter (`promtool check metrics`, Debian's
# `prometheus` package; .ci/run installs it through scripts/ci-services.sh).
if command -v promtool >/dev/null 2>&1; then
  for port in 8081 8082 8083 8084; do
    exposition=$(curl -fsS "http://127.0.0.1:$port/metrics" || true)
    if [ -z "$exposition" ]; then
      echo "stack-smoke: :$port/metrics is empty" >&2
      fail=1
      continue
    fi
    # promtool prints one line per problem and exits non-zero on any of them.
    if ! problems=$(printf '%s\n' "$exposition" | promtool check metrics 2>&1); then
      echo "stack-smoke: promtool check metrics on :$port/metrics:" >&2
      printf '%s\n' "$problems" >&2
      fail=1
    fi
  done
else
  echo "stack-smoke: promtool not installed (apt-get install prometheus); /metrics not linted" >&2
  [ "${CI:-}" = true ] && fail=1
fi
