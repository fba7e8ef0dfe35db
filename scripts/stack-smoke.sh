#!/usr/bin/env bash
# Brings the local stack up as a new user would (scripts/stack.sh), checks every service
# answers, sends the stack Ctrl-C (SIGINT) and checks that no process is left behind.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out=$(mktemp)
# Job control gives the stack its own process group, as a terminal would; Ctrl-C is then
# SIGINT to that whole group (a plain background job would start with SIGINT ignored).
set -m
# usage-stats' per-key rate limit off, so the fuzzing (scripts/smoke/80-fuzz.sh) reaches
# the logic behind it rather than 429s.
# `env --default-signal`: a run started in the background (nohup, `&` in a script) inherits
# SIGINT ignored, and a shell cannot trap a signal ignored when it started; a terminal's
# Ctrl-C finds it at its default.
RATE_LIMIT_PER_MIN=0 env --default-signal=INT,QUIT "$root/scripts/stack.sh" >"$out" 2>&1 &
stack=$!
set +m
cleanup() { kill -TERM "$stack" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 1800); do
  grep -q '^stack: ready' "$out" && break
  if ! kill -0 "$stack" 2>/dev/null; then
    echo "stack-smoke: the stack exited before it was ready:" >&2
    cat "$out" >&2
    exit 1
  fi
  sleep 0.2
done
grep -q '^stack: ready' "$out" || { cat "$out" >&2; echo "stack-smoke: not ready in time" >&2; exit 1; }
fail=0
ADMIN_TOKEN_FOR_SMOKE=local-admin-token
check() { # url expected-status
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
  if [ "$got" != "$2" ]; then echo "stack-smoke: $1 answered $got, expected $2" >&2; fail=1; fi
}
for port in 8081 8082 8083 8084; do
  check "http://127.0.0.1:$port/health" 200
  check "http://127.0.0.1:$port/ready" 200
  check "http://127.0.0.1:$port/metrics" 200
done
check http://127.0.0.1:3000/health 200
check http://127.0.0.1:8089/health 200
check http://127.0.0.1:4000/health/liveliness 200
for extra in "$root"/scripts/smoke/*.sh; do
  [ -e "$extra" ] || continue
  # shellcheck source=/dev/null
  source "$extra"
done
kill -INT -- "-$stack"
for _ in $(seq 1 150); do kill -0 "$stack" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$stack" 2>/dev/null; then
  echo "stack-smoke: the stack still runs 30 s after Ctrl-C" >&2
  fail=1
fi
trap - EXIT
for port in 8081 8082 8083 8084 3000 8089 4000 8420; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "stack-smoke: port $port still answers after Ctrl-C" >&2
    fail=1
  fi
done
if pgrep -f "$root/target/[a-z]*/(key-sync|usage-stats|billing|newapi-sim|kms-sim|litellm-sim)|localstripe --port 8420" >/dev/null; then
  echo "stack-smoke: processes left behind:" >&2
  pgrep -af "$root/target/[a-z]*/(key-sync|usage-stats|billing|newapi-sim|kms-sim|litellm-sim)|localstripe --port 8420" >&2
  fail=1
fi
grep -q '^stack: stopped' "$out" || { echo "stack-smoke: no clean stop" >&2; fail=1; }
if grep -q 'exited unexpectedly' "$out"; then
  echo "stack-smoke: Ctrl-C was reported as a crash, not as a deliberate stop" >&2
  fail=1
fi
if [ $fail = 0 ]; then
  echo "stack-smoke: stack came up, every service answered, Ctrl-C left nothing behind"
else
  cat "$out" >&2
fi
rm -f "$out"
exit $fail
