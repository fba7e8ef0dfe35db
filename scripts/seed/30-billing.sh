# Sourced by scripts/stack.sh after the usage-stats seed: creates billing's demo organisation
# with a test card (localstripe), syncs it to kms-sim, recharges it by hand, then spends past
# its quota in kms-sim, whose signed limit_exceeded webhook makes billing charge the card on
# its own. Tollgate's database outlives the stack but kms-sim and localstripe start empty, so
# a demo-org left by an earlier run is removed first and the demo starts over.
billing_org=demo-org
billing_auth="Authorization: Bearer $ADMIN_TOKEN"
billing_call() { # method path [json body]: sets billing_status and billing_body
  local args=(-sS -X "$1" "http://127.0.0.1:8083$2" -H "$billing_auth" -w '\n%{http_code}')
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' -d "$3")
  local out
  out=$(curl "${args[@]}") || out=$'\n000'
  billing_status=${out##*$'\n'}
  billing_body=${out%$'\n'*}
}
billing_expect() { # what, then the accepted HTTP statuses; else stops the stack saying why
  local what=$1 s
  shift
  for s in "$@"; do [ "$billing_status" = "$s" ] && return 0; done
  echo "stack: billing demo: $what answered HTTP $billing_status (expected $*): $billing_body" >&2
  echo "stack: see .stack/logs/billing.log" >&2
  return 1
}
billing_json() { # python expression over the last body (d), printed
  python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" <<<"$billing_body"
}

billing_settings='"minimum_balance":100,"target_balance":500,"minimum_recharge_amount":200'
billing_call POST /api/organizations "{\"c_organization_id\":\"$billing_org\",$billing_settings}"
if [ "$billing_status" = 409 ]; then
  # Its Stripe customer and KMS team died with the last localstripe and kms-sim.
  psql "$DATABASE_URL" -qX -1 -v ON_ERROR_STOP=1 >/dev/null <<SQL ||
CREATE TEMP TABLE demo_org ON COMMIT DROP AS
  SELECT id FROM organization_balance_config WHERE c_organization_id = '$billing_org';
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
    { echo "stack: billing demo: could not remove the $billing_org left by an earlier run" >&2; return 1; }
  billing_call POST /api/organizations "{\"c_organization_id\":\"$billing_org\",$billing_settings}"
fi
billing_expect "creating $billing_org" 201

billing_call POST "/api/organizations/$billing_org/payment-method" \
  '{"payment_method_id":"pm_card_visa","set_as_default":true}'
billing_expect "adding pm_card_visa" 200
billing_card=$(billing_json '"%s …%s" % (d["payment_method"]["brand"], d["payment_method"]["last4"])')

billing_call POST "/api/organizations/$billing_org/sync"
billing_expect "syncing $billing_org to kms-sim" 200
billing_team=$(billing_json 'd["organization"]["litellm_team_id"]')

billing_call POST "/api/organizations/$billing_org/recharge" '{"amount":300}'
billing_expect "the manual \$300 recharge" 201
billing_manual_pi=$(billing_json 'd["recharge"]["payment_intent_id"]')
billing_quota_before=$(curl -fsS "http://127.0.0.1:8089/organizations/$billing_org" |
  python3 -c 'import json,sys; print("$%.2f" % json.load(sys.stdin)["quota"])')

# $350 of spend against a $300 quota: kms-sim sends the limit webhook in the background.
billing_usage=$(curl -fsS -X POST "http://127.0.0.1:8089/organizations/$billing_org/usage" \
  -H 'Content-Type: application/json' -d '{"amount":350}' |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("webhook sent" if d["webhook_sent"] else "NO webhook sent")')

# billing answers the webhook once the card is charged and kms-sim has the new quota.
billing_auto=
for _ in $(seq 1 100); do
  billing_call GET "/api/organizations/$billing_org/recharge-history"
  if [ "$billing_status" = 200 ]; then
    billing_auto=$(billing_json 'next(("$%.2f charged to the card, PaymentIntent %s" % (r["amount"], r["payment_intent_id"]) for r in d["items"] if r["triggered_by"] == "webhook" and r["status"] == "succeeded"), "")')
  fi
  [ -n "$billing_auto" ] && break
  sleep 0.1
done

# The key-sync demo user is demo-org's admin: the console with their Supabase token.
billing_call POST "/api/organizations/$billing_org/members" "{\"user_id\":\"$demo_user\",\"role\":\"admin\"}"
billing_expect "adding $demo_user as admin of $billing_org" 201 200

billing_call GET "/api/organizations/$billing_org"
billing_expect "reading $billing_org" 200
billing_figures=$(billing_json '"credited total $%.2f, KMS quota $%.2f" % (d["organization"]["credited_total"], d["organization"]["kms_quota"] or 0)')
billing_kms=$(curl -fsS "http://127.0.0.1:8089/organizations/$billing_org")
billing_kms_figures=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print("quota $%.2f, usage $%.2f" % (d["quota"], d["usage"]))' <<<"$billing_kms")
# Enough usage to pass the quota again ($100 over it).
billing_next=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print("%g" % max(round(d["quota"] - d["usage"] + 100, 2), 1))' <<<"$billing_kms")
billing_call GET "/api/organizations/$billing_org/webhook-events"
billing_actions=$(billing_json '", ".join(e["action"] or e["status"] for e in d["items"]) or "none"')

if [ -n "$billing_auto" ]; then
  billing_outcome="billing recharged by itself: $billing_auto"
else
  billing_outcome="NO automatic recharge within 10 s (see .stack/logs/billing.log and kms-sim's /_sim/webhooks)"
  echo "stack: billing demo: no succeeded automatic recharge of $billing_org within 10 s after" \
    "its usage passed the quota ($billing_usage; webhook events: $billing_actions);" \
    "see .stack/logs/billing.log, .stack/logs/kms-sim.log and" \
    "curl -s http://127.0.0.1:8089/_sim/webhooks" >&2
fi
STACK_NOTES="${STACK_NOTES:-}
  billing demo ($billing_org: minimum balance \$100, target \$500, minimum recharge \$200; card $billing_card)
    manual         \$300 recharge ($billing_manual_pi) → kms-sim quota $billing_quota_before (team $billing_team)
    usage          \$350 added in kms-sim → balance -\$50 → signed limit_exceeded webhook ($billing_usage)
    automatic      $billing_outcome
    now            $billing_figures; kms-sim $billing_kms_figures; webhook events: $billing_actions
    console        http://127.0.0.1:8083/admin#token=$ADMIN_TOKEN&org=$billing_org
    as its admin   http://127.0.0.1:8083/admin#access_token=$demo_jwt   (the demo user, a member of $billing_org only)
    curl -s http://127.0.0.1:8083/api/organizations/$billing_org -H '$billing_auth'
    curl -s http://127.0.0.1:8083/api/organizations/$billing_org/recharge-history -H '$billing_auth'
    curl -s http://127.0.0.1:8083/api/organizations/$billing_org/webhook-events -H '$billing_auth'
    curl -s -X POST http://127.0.0.1:8089/organizations/$billing_org/usage -H 'Content-Type: application/json' \\
      -d '{\"amount\":$billing_next}'   # \$100 past the quota again: another webhook and recharge
    curl -s http://127.0.0.1:8089/_sim/webhooks
    curl -s -X POST http://127.0.0.1:8083/api/organizations/$billing_org/recharge -H '$billing_auth' \\
      -H 'Content-Type: application/json' -d '{\"amount\":100}'
"
