# Sourced by scripts/stack-smoke.sh: the demo key the stack printed works on the gateway.
demo_key=$(sed -nE 's/^ +demo key +(sk-[0-9A-Za-z]{48}) .*/\1/p' "$out" | head -n 1)
if [ -z "$demo_key" ]; then
  echo "stack-smoke: the stack printed no demo key" >&2
  fail=1
else
  check_auth() {
    local got
    got=$(curl -s -o /dev/null -w '%{http_code}' "$1" -H "Authorization: Bearer $2" || true)
    if [ "$got" != 200 ]; then echo "stack-smoke: $1 with the demo key answered $got" >&2; fail=1; fi
  }
  check_auth http://127.0.0.1:3000/v1/models "$demo_key"
  check_auth http://127.0.0.1:8081/admin/keys "$ADMIN_TOKEN_FOR_SMOKE"
fi
