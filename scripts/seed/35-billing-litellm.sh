# Sourced by scripts/stack.sh after the KMS billing demo: the same story on a stock LiteLLM
# proxy (litellm-sim, billing-litellm on 8084). demo-team gets a card and its LiteLLM team
# (max_budget = the credited total), a $300 manual recharge, then spends past its budget in
# litellm-sim; the request after that is rejected and LiteLLM's own unsigned budget alert
# (WEBHOOK_URL with the token) makes billing charge the card and raise max_budget. Uses
# billing_call/billing_expect/billing_json from 30-billing.sh, pointed at 8084.
lt_org=demo-team
lt_base=http://127.0.0.1:8084
lt_call() { # method path [json body]: sets billing_status and billing_body
  local args=(-sS -X "$1" "$lt_base$2" -H "$billing_auth" -w '\n%{http_code}')
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' -d "$3")
  local out
  out=$(curl "${args[@]}") || out=$'\n000'
  billing_status=${out##*$'\n'}
  billing_body=${out%$'\n'*}
}
lt_spend() { # dollars: one request of the team's key in litellm-sim; prints served/rejected
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:4000/_sim/teams/$lt_org/spend" \
    -H 'Content-Type: application/json' -d "{\"amount\":$1}")
  case "$code" in 200) echo served ;; 422) echo rejected ;; *) echo "HTTP $code" ;; esac
}

lt_call POST /api/organizations "{\"c_organization_id\":\"$lt_org\",$billing_settings}"
if [ "$billing_status" = 409 ]; then
  # Its Stripe customer and LiteLLM team died with the last localstripe and litellm-sim.
  psql "$litellm_billing_db" -qX -1 -v ON_ERROR_STOP=1 >/dev/null <<SQL ||
CREATE TEMP TABLE demo_org ON COMMIT DROP AS
  SELECT id FROM organization_balance_config WHERE c_organization_id = '$lt_org';
DELETE FROM credit_ledger WHERE organization_id IN (SELECT id FROM demo_org);
DELETE FROM billing_alerts WHERE organization_id IN (SELECT id FROM demo_org);
DELETE FROM organization_members WHERE organization_id IN (SELECT id FROM demo_org);
DELETE FROM organization_usage_readings WHERE organization_id IN (SELECT id FROM demo_org);
DELETE FROM organization_audit WHERE organization_id IN (SELECT id FROM demo_org);
DELETE FROM webhook_events WHERE organization_id IN (SELECT id FROM demo_org)
  OR recharge_id IN (SELECT id FROM recharge_records WHERE organization_id IN (SELECT id FROM demo_org));
DELETE FROM recharge_records WHERE organization_id IN (SELECT id FROM demo_org);
DELETE FROM organization_balance_config WHERE id IN (SELECT id FROM demo_org);
SQL
    { echo "stack: billing-litellm demo: could not remove the $lt_org left by an earlier run" >&2; return 1; }
  lt_call POST /api/organizations "{\"c_organization_id\":\"$lt_org\",$billing_settings}"
fi
billing_expect "creating $lt_org on billing-litellm" 201
lt_call POST "/api/organizations/$lt_org/payment-method" \
  '{"payment_method_id":"pm_card_visa","set_as_default":true}'
billing_expect "adding pm_card_visa to $lt_org" 200
lt_call POST "/api/organizations/$lt_org/sync"
billing_expect "creating $lt_org's LiteLLM team" 200
lt_call POST "/api/organizations/$lt_org/recharge" '{"amount":300}'
billing_expect "the manual \$300 recharge of $lt_org" 201

# $350 of requests against a $300 budget: served (LiteLLM checks the budget before each
# request); the next one is rejected and LiteLLM sends its budget_crossed alert.
lt_first=$(lt_spend 350)
lt_second=$(lt_spend 1)
lt_auto=
for _ in $(seq 1 100); do
  lt_call GET "/api/organizations/$lt_org/recharge-history"
  if [ "$billing_status" = 200 ]; then
    lt_auto=$(billing_json 'next(("$%.2f charged to the card, PaymentIntent %s" % (r["amount"], r["payment_intent_id"]) for r in d["items"] if r["triggered_by"] == "litellm_alert" and r["status"] == "succeeded"), "")')
  fi
  [ -n "$lt_auto" ] && break
  sleep 0.1
done
lt_budget=$(curl -fsS "http://127.0.0.1:4000/team/info?team_id=$lt_org" -H "Authorization: Bearer $LITELLM_MASTER_KEY" |
  python3 -c 'import json,sys; t=json.load(sys.stdin)["team_info"]; print("max_budget $%.2f, spend $%.2f, budget_duration %s" % (t["max_budget"], t["spend"], t["budget_duration"]))')
if [ -n "$lt_auto" ]; then
  lt_outcome="billing recharged by itself: $lt_auto"
else
  lt_outcome="NO automatic recharge within 10 s (see .stack/logs/billing-litellm.log and litellm-sim's /_sim/alerts)"
  echo "stack: billing-litellm demo: no succeeded recharge of $lt_org within 10 s after LiteLLM" \
    "rejected a request ($lt_first, then $lt_second); see .stack/logs/billing-litellm.log and" \
    "curl -s http://127.0.0.1:4000/_sim/alerts" >&2
fi
STACK_NOTES="${STACK_NOTES:-}
  billing on LiteLLM ($lt_org on billing-litellm, same settings; LiteLLM team $lt_org)
    requests       \$350 ($lt_first) then \$1 ($lt_second: over budget → LiteLLM's budget_crossed alert)
    automatic      $lt_outcome
    now            litellm-sim team: $lt_budget
    console        http://127.0.0.1:8084/admin#token=$ADMIN_TOKEN&org=$lt_org
    curl -s -X POST http://127.0.0.1:4000/_sim/teams/$lt_org/spend -H 'Content-Type: application/json' -d '{\"amount\":700}'
    curl -s http://127.0.0.1:4000/_sim/alerts
    (the poller reads every team's spend each minute and tops up those below their minimum)
"
