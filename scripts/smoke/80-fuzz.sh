# Sourced by scripts/stack-smoke.sh: each service's /openapi.json is valid OpenAPI 3, and
# schemathesis, generating requests from it with real credentials (scripts/fuzz/hooks.py),
# meets no 5xx, no undocumented status, no wrong content type and no answer that breaks
# its schema. FUZZ_MAX_EXAMPLES (default 25) sets the cases per operation.
"$root/scripts/setup-fuzz.sh"
fuzz_bin="$root/.venv-fuzz/bin"
fuzz_jwt=$(python3 "$root/scripts/mint-jwt.py" 00000000-0000-4000-8000-000000000001 \
  super-secret-jwt-token-with-at-least-32-characters-long)
export FUZZ_ADMIN_TOKEN="$ADMIN_TOKEN_FOR_SMOKE" FUZZ_JWT="$fuzz_jwt" \
  FUZZ_INTERNAL_TOKEN=local-internal-token FUZZ_API_KEY="${demo_key:-sk-none}" \
  FUZZ_SUPABASE_WEBHOOK_SECRET=local-supabase-webhook-secret \
  FUZZ_ALERT_TOKEN=local-litellm-alert-token \
  FUZZ_WEBHOOK_SIGNING_SECRET=local-litellm-webhook-secret \
  FUZZ_STRIPE_WEBHOOK_SECRET=whsec_local
# key-sync last: its fuzzing revokes and rotates the keys it finds, the demo key among them.
for fuzz_port in 8082 8083 8084 8081; do
  fuzz_doc="$root/.stack/openapi-$fuzz_port.json"
  if ! curl -fsS "http://127.0.0.1:$fuzz_port/openapi.json" -o "$fuzz_doc"; then
    echo "stack-smoke: no /openapi.json on port $fuzz_port" >&2
    fail=1
    continue
  fi
  if ! "$fuzz_bin/openapi-spec-validator" "$fuzz_doc" >/dev/null; then
    "$fuzz_bin/openapi-spec-validator" "$fuzz_doc" >&2 || true
    echo "stack-smoke: port $fuzz_port serves an invalid OpenAPI document" >&2
    fail=1
    continue
  fi
  if ! SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$root/scripts/fuzz" \
    "$fuzz_bin/schemathesis" run "$fuzz_doc" --url "http://127.0.0.1:$fuzz_port" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing --max-examples "${FUZZ_MAX_EXAMPLES:-25}" \
    --seed 15 --workers 1 --no-color --suppress-health-check all --request-timeout 10 \
    >"$root/.stack/logs/fuzz-$fuzz_port.log" 2>&1; then
    tail -n 80 "$root/.stack/logs/fuzz-$fuzz_port.log" >&2
    echo "stack-smoke: schemathesis found problems on port $fuzz_port (.stack/logs/fuzz-$fuzz_port.log)" >&2
    fail=1
  fi
done
