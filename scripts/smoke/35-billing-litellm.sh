# Sourced by scripts/stack-smoke.sh: LiteLLM's own budget alert made billing-litellm
# recharge demo-team by itself, and the team's max_budget is the total billing credited.
lt_auto=$(billing_smoke http://127.0.0.1:8084/api/organizations/demo-team/recharge-history |
  python3 -c 'import json,sys; print(sum(r["triggered_by"] == "litellm_alert" and r["status"] == "succeeded" for r in json.load(sys.stdin)["items"]))' ||
  echo 0)
if [ "${lt_auto:-0}" -lt 1 ]; then
  echo "stack-smoke: billing-litellm shows no succeeded alert-triggered recharge of demo-team" >&2
  fail=1
fi
lt_credited=$(billing_smoke http://127.0.0.1:8084/api/organizations/demo-team |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["organization"]["credited_total"] * 100))' ||
  echo none)
lt_budget=$(curl -fsS "http://127.0.0.1:4000/team/info?team_id=demo-team" \
  -H 'Authorization: Bearer sk-local-litellm-master' |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["team_info"]["max_budget"] * 100))' || echo none)
if [ "$lt_credited" = none ] || [ "$lt_credited" != "$lt_budget" ]; then
  echo "stack-smoke: demo-team's LiteLLM max_budget ($lt_budget cents) is not billing-litellm's credited total ($lt_credited cents)" >&2
  fail=1
fi
