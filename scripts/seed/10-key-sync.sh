# Sourced by scripts/stack.sh once everything answers: signs up a demo user through the
# Supabase webhook, reads the user's key with a user JWT, and checks it on the gateway.
# The databases outlive the stack: when an earlier run's user revoked or rotated every key
# (or the stack smoke's fuzzing did), the demo user gets a new one named "demo".
demo_user=00000000-0000-4000-8000-000000000001
signup=$(curl -fsS -X POST http://127.0.0.1:8081/webhooks/supabase/users \
  -H "Authorization: Bearer $SUPABASE_WEBHOOK_SECRET" -H 'Content-Type: application/json' \
  -d "{\"type\":\"INSERT\",\"table\":\"users\",\"schema\":\"auth\",\"record\":{\"id\":\"$demo_user\",\"email\":\"demo@tollgate.local\"},\"old_record\":null}")
demo_jwt=$(python3 "$root/scripts/mint-jwt.py" "$demo_user" "$SUPABASE_JWT_SECRET")
demo_key=$(curl -fsS http://127.0.0.1:8081/v1/keys -H "Authorization: Bearer $demo_jwt" |
  python3 -c 'import json,sys; print(next((k["key"] for k in json.load(sys.stdin)["keys"] if k["status"] == "active" and k["key"]), ""))')
if [ -z "$demo_key" ]; then
  demo_key=$(curl -fsS -X POST http://127.0.0.1:8081/v1/keys -H "Authorization: Bearer $demo_jwt" \
    -H 'Content-Type: application/json' -d '{"name":"demo"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
fi
models=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:3000/v1/models -H "Authorization: Bearer $demo_key")
STACK_NOTES="${STACK_NOTES:-}
  key-sync demo (signed up through the webhook: $signup)
    demo user      $demo_user
    demo key       $demo_key   (GET /v1/models on newapi-sim: $models)
    user JWT       $demo_jwt
    curl -s http://127.0.0.1:8081/v1/keys -H 'Authorization: Bearer $demo_jwt'
    curl -s http://127.0.0.1:3000/v1/models -H 'Authorization: Bearer $demo_key'
    curl -s http://127.0.0.1:8081/admin/keys -H 'Authorization: Bearer $ADMIN_TOKEN'
    rotate it:  curl -s -X POST http://127.0.0.1:8081/v1/keys/<id>/rotate -H 'Authorization: Bearer $demo_jwt'
    revoke it:  curl -s -X DELETE http://127.0.0.1:8081/v1/keys/<id> -H 'Authorization: Bearer $demo_jwt'
"
export DEMO_KEY="$demo_key"
export DEMO_JWT="$demo_jwt"
