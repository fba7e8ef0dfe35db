# Sourced by scripts/stack-smoke.sh: usage-stats reports the demo traffic for the demo key.
if [ -n "${demo_key:-}" ]; then
  requests=$(curl -fsS http://127.0.0.1:8082/api/usage/token/detail -H "Authorization: Bearer $demo_key" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["summary"]["total_requests"])' || echo 0)
  if [ "${requests:-0}" -lt 12 ]; then
    echo "stack-smoke: usage-stats reports $requests requests for the demo key, expected at least 12" >&2
    fail=1
  fi
fi
# The signed-in demo user sees the same traffic over all their keys (usage-stats asks
# key-sync which keys they have).
demo_jwt=$(sed -nE 's/^ +user JWT +([A-Za-z0-9._-]+)$/\1/p' "$out" | head -n 1)
if [ -n "$demo_jwt" ]; then
  user_requests=$(curl -fsS 'http://127.0.0.1:8082/api/usage/user/detail?tz=Europe/London' -H "Authorization: Bearer $demo_jwt" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["summary"]["total_requests"])' || echo 0)
  if [ "${user_requests:-0}" -lt 12 ]; then
    echo "stack-smoke: the user view reports $user_requests requests for the demo user, expected at least 12" >&2
    fail=1
  fi
else
  echo "stack-smoke: the stack printed no user JWT" >&2
  fail=1
fi
