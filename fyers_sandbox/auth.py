"""Fyers v3 login: the auth-code page, validate-authcode, validate-refresh-token, and the
access check every API call goes through. Access tokens are HS256 JWTs with an `exp` claim.

An access token lives until the next 06:00 IST after it was issued, as the tokens in Fyers'
docs do (the admin TTL override replaces that for tests). Token lifetimes run on real time, not
the sandbox's market clock, so advancing the clock to see holdings settle does not log anyone
out; `expire_tokens` and short TTLs test expiry. Since April 2026 Fyers wants a 2FA login every
trading day, so validate-refresh-token is refused unless `allow_refresh` (or `demo`) is set.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, redirect, render_template_string, request
from flask.typing import ResponseReturnValue

from fyers_sandbox.core import Sandbox, fail, ok, sandbox
from fyers_sandbox.market import IST

bp = Blueprint("auth", __name__, url_prefix="/api/v3")

AUTH_CODE_TTL_S = 300
ACCESS_TOKEN_ENDS_HOUR_IST = 6
REFRESH_REFUSED = ("Refresh token sessions are not supported: complete the login with 2FA "
                   "once every trading day")
APPROVE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fyers sandbox login</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}
button{width:100%;padding:1rem;font-size:1.2rem;border:0;border-radius:.5rem;
background:#1565c0;color:#fff}</style></head>
<body><h1>Fyers sandbox</h1>
<p>App <b>{{ client_id }}</b> asks to trade on your sandbox account.</p>
<form method="post">
<input type="hidden" name="client_id" value="{{ client_id }}">
<input type="hidden" name="redirect_uri" value="{{ redirect_uri }}">
<input type="hidden" name="state" value="{{ state }}">
<button type="submit">Approve</button></form></body></html>"""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(signing_input: str, key: str) -> str:
    return _b64(hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest())


def encode_jwt(claims: dict, key: str) -> str:
    """An HS256 JWT of `claims`."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_signature(f'{header}.{payload}', key)}"


def decode_jwt(token: str, key: str) -> dict | None:
    """The claims of a JWT signed with `key`, or None when malformed or forged."""
    parts = token.split(".")
    if len(parts) != 3 or not hmac.compare_digest(_signature(f"{parts[0]}.{parts[1]}", key),
                                                  parts[2]):
        return None
    try:
        return json.loads(_unb64(parts[1]))
    except ValueError:
        return None


def app_id_hash(client_id: str, secret: str) -> str:
    """sha256('client_id:secret') in hex, as Fyers expects in appIdHash."""
    return hashlib.sha256(f"{client_id}:{secret}".encode()).hexdigest()


def access_expiry(box: Sandbox, now: float) -> int:
    """When a token issued at `now` (real time) expires: the admin TTL when one is set, else
    the next 06:00 IST."""
    if box.state.access_ttl_s is not None:
        return int(now + box.state.access_ttl_s)
    issued = datetime.fromtimestamp(now, IST)
    ends = issued.replace(hour=ACCESS_TOKEN_ENDS_HOUR_IST, minute=0, second=0, microsecond=0)
    if ends <= issued:
        ends += timedelta(days=1)
    return int(ends.timestamp())


def new_access_token(box: Sandbox) -> str:
    """A signed access token living until `access_expiry`."""
    now = time.time()
    claims = {"sub": box.options.client_id, "iat": now, "exp": access_expiry(box, now),
              "jti": secrets.token_hex(8)}
    return encode_jwt(claims, box.state.signing_key)


def issue_tokens(box: Sandbox) -> dict[str, str]:
    """A fresh access token and a refresh token living `refresh_ttl_s` seconds (expired
    refresh tokens and auth codes are dropped on the way, so the state file stays small)."""
    refresh_token = secrets.token_urlsafe(32)
    now = time.time()
    with box.state.lock:
        state = box.state
        state.refresh_tokens = {t: exp for t, exp in state.refresh_tokens.items() if exp > now}
        state.auth_codes = {c: exp for c, exp in state.auth_codes.items() if exp > now}
        state.refresh_tokens[refresh_token] = now + state.refresh_ttl_s
    return {"access_token": new_access_token(box), "refresh_token": refresh_token}


def check_access(box: Sandbox, header: str) -> ResponseReturnValue | None:
    """None when the `client_id:access_token` header is valid, else the Fyers error reply."""
    client_id, _, token = header.partition(":")
    if client_id != box.options.client_id or not token:
        return fail(-16, "Could not authenticate the user", 401)
    claims = decode_jwt(token, box.state.signing_key)
    if claims is None:
        return fail(-15, "Invalid token", 401)
    if claims.get("exp", 0) <= time.time() or claims.get("iat", 0) < box.state.tokens_valid_after:
        return fail(-8, "Your token has expired. Please generate a token", 401)
    return None


@bp.get("/generate-authcode")
def approve_page() -> ResponseReturnValue:
    """The phone-friendly page where the owner approves the app."""
    args = request.args
    if args.get("client_id") != sandbox().options.client_id or not args.get("redirect_uri"):
        return fail(-16, "Invalid client_id or redirect_uri", 400)
    return render_template_string(APPROVE_PAGE, client_id=args["client_id"],
                                  redirect_uri=args["redirect_uri"], state=args.get("state", ""))


@bp.post("/generate-authcode")
def approve() -> ResponseReturnValue:
    """Issue an auth code and send the browser back to the app's redirect_uri."""
    box = sandbox()
    form = request.form
    if form.get("client_id") != box.options.client_id or not form.get("redirect_uri"):
        return fail(-16, "Invalid client_id or redirect_uri", 400)
    # A signed JWT, as Fyers' auth codes are ("eyJ…"): never taken for an option on a command
    # line, as a random code starting with "-" was.
    expires = time.time() + AUTH_CODE_TTL_S
    code = encode_jwt({"sub": box.options.client_id, "exp": expires,
                       "jti": secrets.token_hex(8)}, box.state.signing_key)
    with box.state.lock:
        box.state.auth_codes[code] = expires
    parts = urlsplit(form["redirect_uri"])
    query = urlencode({"s": "ok", "code": "200", "auth_code": code, "state": form.get("state", "")})
    joined = f"{parts.query}&{query}" if parts.query else query
    return redirect(urlunsplit(parts._replace(query=joined)), 302)


def _bad_app(box: Sandbox, body: dict) -> bool:
    return body.get("appIdHash") != app_id_hash(box.options.client_id, box.options.secret_key)


@bp.post("/validate-authcode")
def validate_authcode() -> ResponseReturnValue:
    """Exchange a one-time auth code for tokens."""
    box = sandbox()
    body = request.get_json(silent=True) or {}
    if body.get("grant_type") != "authorization_code" or _bad_app(box, body):
        return fail(-437, "Invalid appIdHash or grant_type")
    with box.state.lock:
        expires = box.state.auth_codes.pop(str(body.get("code")), 0)
    if expires <= time.time():
        return fail(-437, "Invalid auth code")
    return ok(**issue_tokens(box))


def _pin_ok(box: Sandbox, pin: object) -> bool:
    pin = str(pin or "")
    return pin == box.options.pin if box.options.pin else (len(pin) == 4 and pin.isdigit())


@bp.post("/validate-refresh-token")
def validate_refresh_token() -> ResponseReturnValue:
    """A new access token for a valid refresh token and PIN, when refresh is allowed at all."""
    box = sandbox()
    body = request.get_json(silent=True) or {}
    if not box.refresh_allowed:
        return fail(-501, REFRESH_REFUSED)
    if body.get("grant_type") != "refresh_token" or _bad_app(box, body):
        return fail(-437, "Invalid appIdHash or grant_type")
    if box.state.refresh_tokens.get(str(body.get("refresh_token")), 0) <= time.time():
        return fail(-501, "Invalid refresh token")
    if not _pin_ok(box, body.get("pin")):
        return fail(-501, "Invalid PIN")
    return ok(access_token=new_access_token(box))
