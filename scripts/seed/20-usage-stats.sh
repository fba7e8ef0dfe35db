# Sourced by scripts/stack.sh after the key-sync seed: sends demo traffic through the
# new-api simulator with the demo key (each chat completion writes a consume log), then
# shows the key's usage as usage-stats reports it.
demo_models=(gpt-4o-mini gpt-4o)
for i in $(seq 1 12); do
  model=${demo_models[$((i % ${#demo_models[@]}))]}
  curl -fsS -o /dev/null http://127.0.0.1:3000/v1/chat/completions \
    -H "Authorization: Bearer $DEMO_KEY" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"demo request $i: say hello\"}]}" ||
    echo "stack: demo completion $i failed" >&2
done
# Ingest runs every 250 ms; give it a moment before reading the figures.
sleep 1
demo_usage=$(curl -fsS http://127.0.0.1:8082/api/usage/token/detail -H "Authorization: Bearer $DEMO_KEY" |
  python3 -c "import json,sys; s=json.load(sys.stdin)['data']['summary']; print('%d requests, %d quota (USD %s)' % (s['total_requests'], s['total_quota'], s['total_quota_usd']))")
STACK_NOTES="${STACK_NOTES:-}
  usage-stats demo (12 chat completions sent through newapi-sim with the demo key: $demo_usage)
    usage page     http://127.0.0.1:8082/usage#key=$DEMO_KEY
    curl -s http://127.0.0.1:8082/api/usage/token/ -H 'Authorization: Bearer $DEMO_KEY'
    curl -s 'http://127.0.0.1:8082/api/usage/token/detail?tz=%2B08:00' -H 'Authorization: Bearer $DEMO_KEY'
    curl -s 'http://127.0.0.1:8082/api/usage/token/chart?granularity=hour' -H 'Authorization: Bearer $DEMO_KEY'
    curl -s 'http://127.0.0.1:8082/api/usage/token/logs?page=1&page_size=5' -H 'Authorization: Bearer $DEMO_KEY'
    curl -s 'http://127.0.0.1:8082/api/usage/token/logs.csv?tz=Asia/Kathmandu' -H 'Authorization: Bearer $DEMO_KEY'
    curl -s 'http://127.0.0.1:8082/api/usage/user/detail?tz=America/New_York' -H 'Authorization: Bearer $DEMO_JWT'
"
