#!/usr/bin/env python3
"""The checks of scripts/soak.sh, run after the load stopped and the retries settled.

soak_check.py <out dir> <tollgate db url> <new-api db url> <usage-stats url> <kms url>
              <stripe url> <stripe key> <soak start> <soak end> <warm-up s> <relay key>...

Prints one line per check (OK or FAIL and the figures) and a summary table; exits 1 when a
check fails. Reads the per-slot loadgen JSON and rss.tsv that soak.sh wrote in <out dir>.
"""
import base64
import glob
import json
import os
import re
import subprocess
import sys
import urllib.request

(out, tg_db, na_db, us_url, kms_url, stripe_url, stripe_key, started, ended, warmup,
 *relay_keys) = sys.argv[1:]
started, ended, warmup = int(started), int(ended), int(warmup)
failures = []


def check(ok, what, detail):
    print(f"{'OK  ' if ok else 'FAIL'} {what}: {detail}")
    if not ok:
        failures.append(what)


def sql(db, query):
    result = subprocess.run(["psql", db, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\t", "-c", query],
                            check=True, capture_output=True, text=True)
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def get_json(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def report(path):
    try:
        with open(path) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


# --- 1. No 5xx from a Tollgate service beyond the injected faults ---------------------
slots = []
with open(os.path.join(out, "slots.tsv")) as f:
    for line in f:
        slot, _, faulted, kind = line.split()
        slots.append((int(slot), faulted == "1", kind))

FIVE = re.compile(r"(?:^|\.)status_(5\d\d)$")
# Which runs and steps are Tollgate's answers (the rest are new-api's, i.e. the simulator's).
TOLLGATE = {"signup": ("webhook.", "keys."), "recharge": ("",), "usage": ("",)}
totals = {"signup": [0, 0], "recharge": [0, 0], "usage": [0, 0], "relay": [0, 0]}
bad_5xx, faulted_5xx, missing = [], {}, []
other_errors = {}
for slot, faulted, _ in slots:
    for run in ("signup", "recharge", "usage", "relay0", "relay1"):
        r = report(os.path.join(out, f"slot{slot}-{run}.json"))
        if r is None:
            missing.append(f"slot{slot}-{run}")
            continue
        name = "relay" if run.startswith("relay") else run
        totals[name][0] += r["total"]
        totals[name][1] += r["ok"]
        for kind, n in r["errors"].items():
            m = FIVE.search(kind)
            ours = name in TOLLGATE and any(kind.startswith(p) for p in TOLLGATE[name])
            if m and ours:
                if not faulted or m.group(1) != "503":
                    bad_5xx.append(f"slot {slot} ({'faults on' if faulted else 'no faults'}) {run}: {kind} x{n}")
                else:
                    faulted_5xx[kind] = faulted_5xx.get(kind, 0) + n
            else:
                key = f"{run if name != 'relay' else 'relay'} {kind} ({'faults on' if faulted else 'no faults'})"
                other_errors[key] = other_errors.get(key, 0) + n
check(not missing, "every loadgen run reported", f"{len(slots)} slots" + (f"; missing {missing}" if missing else ""))
check(not bad_5xx, "no 5xx from key-sync, usage-stats or billing without faults, only 503 with them",
      "; ".join(bad_5xx) or f"503s in slots with faults: {faulted_5xx or 'none'}")
print("     other failed iterations (not 5xx from Tollgate):",
      json.dumps(other_errors, sort_keys=True) if other_errors else "none")

# --- 2. RSS flat after warm-up --------------------------------------------------------
rows = []
with open(os.path.join(out, "rss.tsv")) as f:
    for line in f:
        t, *rss = line.split()
        rows.append((int(t), [int(v) for v in rss]))


def mean_in(lo, hi, i):
    values = [rss[i] for t, rss in rows if lo <= t < hi and rss[i] > 0]
    return sum(values) / len(values) if values else 0


for i, service in enumerate(("key-sync", "usage-stats", "billing")):
    base = mean_in(started + warmup, started + warmup + 60, i)
    last = mean_in(ended - 60, ended, i)
    growth = (last / base - 1) * 100 if base else float("inf")
    peak = max((rss[i] for _, rss in rows), default=0)
    check(base > 0 and growth < 10, f"{service} RSS flat after warm-up",
          f"{base / 1024:.1f} MiB after warm-up, {last / 1024:.1f} MiB in the last minute "
          f"({growth:+.1f} %), peak {peak / 1024:.1f} MiB")

# --- 3. Keys: none lost, none doubled --------------------------------------------------
(users, keys, pending, max_per_user), = sql(tg_db, """
    SELECT count(DISTINCT user_id), count(*), count(*) FILTER (WHERE NOT newapi_synced),
           COALESCE(max(n), 0)
    FROM api_keys, LATERAL (SELECT count(*) AS n FROM api_keys k WHERE k.user_id = api_keys.user_id) c""")
users, keys, pending, max_per_user = int(users), int(keys), int(pending), int(max_per_user)
signups_sent, signups_ok = totals["signup"]
# Each iteration signs up a new user; one whose webhook answer was lost may still exist.
check(signups_ok + 2 <= users <= signups_sent + 2 and max_per_user == 1 and keys == users,
      "every signed-up user has exactly one key",
      f"{users} users ({signups_ok} of {signups_sent} signup iterations succeeded end to end, "
      f"plus 2 relay users), {keys} keys, at most {max_per_user} per user")
check(pending == 0, "no key left unsynced after the retries", f"{pending} pending")
ours = sorted(h for (h,) in sql(tg_db, "SELECT encode(key_hash, 'hex') FROM api_keys"))
theirs = sorted(h for (h,) in sql(na_db, "SELECT encode(sha256(convert_to(key, 'UTF8')), 'hex') FROM tokens"))
check(ours == theirs, "every key is on the gateway exactly once",
      f"{len(ours)} keys in Tollgate, {len(theirs)} tokens in new-api, "
      f"{len(set(theirs))} distinct, {len(set(ours) - set(theirs))} missing, "
      f"{len(set(theirs) - set(ours))} unknown")

# --- 4. Charges: one per event, delivered, no double charge --------------------------
records = sql(tg_db, """
    SELECT r.c_organization_id, r.status, r.payment_intent_id, r.amount_cents + r.fee_cents,
           r.refund_id, o.kms_quota_cents
    FROM recharge_records r JOIN organization_balance_config o ON o.id = r.organization_id""")
per_org = {}
statuses = {}
for org, status, *_ in records:
    per_org[org] = per_org.get(org, 0) + 1
    statuses[status] = statuses.get(status, 0) + 1
events_sent, events_ok = totals["recharge"]
check(events_ok <= len(records) <= events_sent and max(per_org.values(), default=1) == 1,
      "one recharge per organisation that got an event",
      f"{len(records)} recharges for {events_sent} events sent ({events_ok} answered auto_recharged), "
      f"at most {max(per_org.values(), default=0)} per organisation")
# succeeded: charged and the quota delivered; refunded: charged, the KMS stayed down past
# the retry budget, the money went back (docs/billing-design.md). Nothing in between.
check(set(statuses) <= {"succeeded", "refunded"}, "every recharge ended delivered or refunded",
      json.dumps(statuses, sort_keys=True))
auth = {"Authorization": "Basic " + base64.b64encode(f"{stripe_key}:".encode()).decode()}
listed = get_json(f"{stripe_url}/v1/payment_intents?limit=1000000", auth)["data"]
stripe_ok = {pi["id"]: pi["amount"] for pi in listed if pi["status"] == "succeeded"}
refunds = {r["id"]: r for r in get_json(f"{stripe_url}/v1/refunds?limit=1000000", auth)["data"]}
intents = [pi for _, _, pi, _, _, _ in records if pi]
wrong_amount = [pi for _, _, pi, total, _, _ in records if stripe_ok.get(pi) != int(total)]
check(len(set(intents)) == len(intents) == len(records) == len(stripe_ok) and not wrong_amount,
      "one succeeded PaymentIntent per recharge, of its amount, none more",
      f"{len(records)} recharges, {len(set(intents))} distinct intents, {len(stripe_ok)} succeeded "
      f"intents in localstripe, {len(wrong_amount)} missing or of another amount")
bad_refunds = [pi for _, status, pi, total, refund, _ in records if status == "refunded" and not (
    refund in refunds and refunds[refund]["payment_intent"] == pi
    and refunds[refund]["amount"] == int(total) and refunds[refund]["status"] == "succeeded")]
status_of = {pi: status for _, status, pi, _, _, _ in records}
per_intent = {}
for r in refunds.values():
    per_intent.setdefault(r["payment_intent"], []).append(r["id"])
extra = [f"{pi} ({status_of.get(pi)}): {ids}" for pi, ids in per_intent.items()
         if len(ids) > 1 or status_of.get(pi) != "refunded"]
check(not bad_refunds and not extra and len(refunds) == statuses.get("refunded", 0),
      "every refunded recharge was refunded in full, once; no other refund",
      f"{statuses.get('refunded', 0)} refunded recharges, {len(refunds)} refunds in localstripe, "
      f"{len(bad_refunds)} without a matching full refund"
      + (f"; extra: {extra[:5]}" if extra else ""))
kms_wrong = []
for org, *_, quota_cents in records:
    kms = get_json(f"{kms_url}/organizations/{org}")
    if round(float(kms["quota"]) * 100) != int(quota_cents):
        kms_wrong.append(f"{org}: KMS {kms['quota']}, billing {int(quota_cents) / 100}")
check(not kms_wrong, "the KMS quota of every organisation with a recharge equals billing's",
      f"{len(records)} organisations compared" + (f"; {kms_wrong[:5]}" if kms_wrong else ""))

# --- 5. Usage figures equal SQL over new-api's logs ------------------------------------
relay_ok = {}
for slot, _, _ in slots:
    for i in range(len(relay_keys)):
        r = report(os.path.join(out, f"slot{slot}-relay{i}.json"))
        relay_ok[i] = relay_ok.get(i, 0) + (r["ok"] if r else 0)
for i, key in enumerate(relay_keys):
    bare = key[3:] if key.startswith("sk-") else key
    (token_id,), = sql(na_db, f"SELECT id FROM tokens WHERE key = '{bare}'")
    (count, quota, tokens), = sql(na_db, f"""
        SELECT count(*), COALESCE(sum(quota), 0), COALESCE(sum(prompt_tokens + completion_tokens), 0)
        FROM logs WHERE token_id = {int(token_id)} AND type = 2""")
    summary = get_json(f"{us_url}/api/usage/token/detail?start={started - 3600}",
                       {"Authorization": f"Bearer {key}"})["data"]["summary"]
    theirs = (summary["total_requests"], summary["total_quota"], summary["total_tokens"])
    check(theirs == (int(count), int(quota), int(tokens)) and int(count) == relay_ok[i],
          f"relay key {i}: usage-stats equals SQL over the logs, and every relay request is one log",
          f"usage-stats {theirs}, SQL {(int(count), int(quota), int(tokens))}, "
          f"relay requests that succeeded {relay_ok[i]}")

print()
print(f"load over {ended - started} s in {len(slots)} slots of which {sum(1 for s in slots if s[1])} with faults:")
for name, (sent, ok) in totals.items():
    print(f"  {name:9s} {sent:7d} iterations, {ok:7d} ok ({sent / max(ended - started, 1):.1f}/s)")
print("RESULT:", "every check held" if not failures else f"{len(failures)} check(s) failed: {failures}")
sys.exit(1 if failures else 0)
