"""Schemathesis hooks for Tollgate's services (loaded through SCHEMATHESIS_HOOKS).

Every generated request gets the credential its operation's `security` names, taken from
the environment: an operator token, a Supabase JWT, the internal token, a real new-api
key, the Supabase webhook secret, the LiteLLM alert token. Webhook bodies that are signed
(billing's limit webhook, Stripe's) are serialised here, so the signature covers exactly
the bytes sent.
"""

import hashlib
import hmac
import json
import os
import time

import schemathesis

BEARER = {
    "admin_token": "FUZZ_ADMIN_TOKEN",
    "supabase_jwt": "FUZZ_JWT",
    "internal_token": "FUZZ_INTERNAL_TOKEN",
    "api_key": "FUZZ_API_KEY",
    "webhook_secret": "FUZZ_SUPABASE_WEBHOOK_SECRET",
}


def _schemes(case):
    requirements = case.operation.definition.raw.get("security") or []
    return [name for requirement in requirements for name in requirement]


def _raw_body(case):
    if isinstance(case.body, bytes):
        return case.body
    if type(case.body).__name__ == "NotSet":  # a case without a body
        return b""
    raw = json.dumps(case.body, separators=(",", ":")).encode()
    case.body = raw
    return raw


@schemathesis.hook
def before_call(context, case, kwargs):
    schemes = _schemes(case)
    if not schemes:
        return
    headers = case.headers if case.headers is not None else {}
    case.headers = headers
    scheme = schemes[0]
    if scheme in BEARER:
        headers["Authorization"] = "Bearer " + os.environ[BEARER[scheme]]
    elif scheme == "alert_token":
        query = case.query if case.query is not None else {}
        query["token"] = os.environ["FUZZ_ALERT_TOKEN"]
        case.query = query
    elif scheme == "webhook_signature":
        secret = os.environ["FUZZ_WEBHOOK_SIGNING_SECRET"].encode()
        mac = hmac.new(secret, _raw_body(case), hashlib.sha256).hexdigest()
        headers["X-Webhook-Signature"] = "sha256=" + mac
    elif scheme == "stripe_signature":
        secret = os.environ["FUZZ_STRIPE_WEBHOOK_SECRET"].encode()
        stamp = str(int(time.time()))
        signed = stamp.encode() + b"." + _raw_body(case)
        mac = hmac.new(secret, signed, hashlib.sha256).hexdigest()
        headers["Stripe-Signature"] = f"t={stamp},v1={mac}"
