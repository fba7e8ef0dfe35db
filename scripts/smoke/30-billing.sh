# Sourced by scripts/stack-smoke.sh: kms-sim's limit webhook made billing recharge the demo
# organisation by itself, and kms-sim's quota is the total billing credited.
billing_smoke() { # url: the JSON body, or nothing when the call fails
  curl -fsS "$1" -H "Authorization: Bearer $ADMIN_TOKEN_FOR_SMOKE" || true
}
auto_recharges=$(billing_smoke http://127.0.0.1:8083/api/organizations/demo-org/recharge-history |
  python3 -c 'import json,sys; print(sum(r["triggered_by"] == "webhook" and r["status"] == "succeeded" for r in json.load(sys.stdin)["items"]))' ||
  echo 0)
if [ "${auto_recharges:-0}" -lt 1 ]; then
  echo "stack-smoke: billing shows no succeeded webhook-triggered recharge of demo-org" >&2
  fail=1
fi
credited_cents=$(billing_smoke http://127.0.0.1:8083/api/organizations/demo-org |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["organization"]["credited_total"] * 100))' ||
  echo none)
kms_quota_cents=$(curl -fsS http://127.0.0.1:8089/organizations/demo-org |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["quota"] * 100))' || echo none)
if [ "$credited_cents" = none ] || [ "$credited_cents" != "$kms_quota_cents" ]; then
  echo "stack-smoke: demo-org's kms-sim quota ($kms_quota_cents cents) is not billing's credited total ($credited_cents cents)" >&2
  fail=1
fi
