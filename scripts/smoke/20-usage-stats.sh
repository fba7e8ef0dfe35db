# Sourced by scripts/stack-smoke.sh: usage-stats reports the demo traffic for the demo key.
if [ -n "${demo_key:-}" ]; then
  requests=$(curl -fsS http://127.0.0.1:8082/api/usage/token/detail -H "Authorization: Bearer $demo_key" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["summary"]["total_requests"])' || echo 0)
  if [ "${requests:-0}" -lt 12 ]; then
    echo "stack-smoke: usage-stats reports $requests requests for the demo key, expected at least 12" >&2
    fail=1
  fi
fi
