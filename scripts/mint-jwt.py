#!/usr/bin/env python3
"""Mint a Supabase-style HS256 access token for local use: mint-jwt.py <user-uuid> <secret> [ttl-seconds]."""
import base64, hashlib, hmac, json, sys, time

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

sub, secret = sys.argv[1], sys.argv[2]
ttl = int(sys.argv[3]) if len(sys.argv) > 3 else 3600
now = int(time.time())
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"sub": sub, "aud": "authenticated", "role": "authenticated",
                         "iat": now, "exp": now + ttl}).encode())
signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
print(f"{header}.{claims}.{b64(signature)}")
