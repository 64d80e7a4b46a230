"""Fyers tokens: status, refresh with the refresh token, the auth-code exchange, encrypted storage.

CLI: `python token_refresh.py status | refresh | login-url | exchange AUTH_CODE`.
Tokens are stored Fernet-encrypted in `fyers_tokens` and registered with the log redaction
filter whenever they are in memory.
"""
from __future__ import annotations

import argparse
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from broker import AuthFailed, BrokerError, FyersBroker, Tokens
from config import IST, Config, load_config_or_exit
from messages import KEY_DIFFERS, LOGIN_NEEDED
from store import Store, StoreError
from store.log_handler import logged_store, redact, register_secret
from trading_calendar import next_run_at

SANDBOX_PIN = "0000"  # the sandbox takes any 4 digits unless started with --pin
KEY_MISMATCH = ("The stored Fyers tokens cannot be decrypted: this machine's "
                "TOKEN_ENCRYPTION_KEY differs from the one that stored them (two hosts sharing a "
                "store must set the same TOKEN_ENCRYPTION_KEY), or log in to Fyers again here.")


class TokenKeyMismatch(RuntimeError):
    """The stored tokens were encrypted with another TOKEN_ENCRYPTION_KEY: the run stops and the
    owner sets the same key on both hosts (a refresh or login cannot help this machine)."""

    failure = KEY_DIFFERS


DAILY_LOGIN_NOTE = ("since April 2026 Fyers requires a login with 2FA once per trading day, "
                    "so a refresh is often refused")


@dataclass(frozen=True)
class TokenStatus:
    """Whether the stored access token will carry the next scheduled run, in one sentence."""

    state: str  # "VALID" | "EXPIRING" | "EXPIRED" | "MISSING" | "UNREADABLE"
    access_expires_at: float | None
    refresh_expires_at: float | None
    message: str
    valid_for_next_run: bool

    def usable_at(self, now: float) -> bool:
        """True when the access token can still be used at `now` (VALID or EXPIRING)."""
        return self.access_expires_at is not None and self.access_expires_at > now


def ist_text(ts: float) -> str:
    """'26 Nov 09:00 IST' for an epoch time."""
    return datetime.fromtimestamp(ts, IST).strftime("%d %b %H:%M IST")


def _fernet(config: Config) -> Fernet:
    return Fernet(config.secret("token_encryption_key").encode())


def _decrypt(config: Config, value: str | None) -> str | None:
    """The plain token, registered for redaction; None when absent or undecryptable."""
    if not value:
        return None
    try:
        plain = _fernet(config).decrypt(value.encode()).decode()
    except InvalidToken:
        return None
    register_secret(plain)
    return plain


def _stored(config: Config, store: Store) -> dict[str, Any] | None:
    return store.get_token(config.client_id)


def save_tokens(config: Config, store: Store, tokens: Tokens, refresh_expires_at: float) -> None:
    """Encrypt and upsert the token record for this app."""
    register_secret(tokens.access_token)
    register_secret(tokens.refresh_token)
    fernet = _fernet(config)
    store.save_token({
        "client_id": config.client_id,
        "access_token": fernet.encrypt(tokens.access_token.encode()).decode(),
        "refresh_token": fernet.encrypt(tokens.refresh_token.encode()).decode(),
        "access_expires_at": tokens.access_expires_at,
        "refresh_expires_at": refresh_expires_at,
        "updated_at": time.time(),
    })


def load_access_token(config: Config, store: Store) -> str | None:
    """The decrypted access token, or None when none is stored."""
    record = _stored(config, store)
    return _decrypt(config, record.get("access_token")) if record else None


def _status_message(state: str, access: float | None, next_run: float) -> str:
    if state == "UNREADABLE":
        return KEY_MISMATCH
    if state == "MISSING":
        return f"No Fyers token is stored: {LOGIN_NEEDED.todo}."
    if state == "EXPIRED":
        return f"Token expired at {ist_text(access)}: log in to Fyers."
    if state == "EXPIRING":
        return (f"Token valid until {ist_text(access)}, which is before the next run at "
                f"{ist_text(next_run)}: log in to Fyers before then.")
    return f"Token valid until {ist_text(access)}, covering the next run at {ist_text(next_run)}."


def token_status(config: Config, store: Store, now: float | None = None) -> TokenStatus:
    """VALID / EXPIRING (expires before the next scheduled run) / EXPIRED / MISSING."""
    now = time.time() if now is None else now
    record = _stored(config, store) or {}
    access = record.get("access_expires_at") if record.get("access_token") else None
    refresh = record.get("refresh_expires_at")
    next_run = next_run_at(config, now)
    if access is None:
        state = "MISSING"
    elif _decrypt(config, record["access_token"]) is None:
        state = "UNREADABLE"
    elif access <= now:
        state = "EXPIRED"
    elif access <= next_run:
        state = "EXPIRING"
    else:
        state = "VALID"
    return TokenStatus(state, access, refresh, _status_message(state, access, next_run),
                       state == "VALID")


def refresh_tokens(config: Config, store: Store) -> TokenStatus:
    """Get a new access token with the stored refresh token; AuthFailed says why it could not."""
    record = _stored(config, store)
    refresh_token = _decrypt(config, record.get("refresh_token")) if record else None
    refresh_expires_at = (record or {}).get("refresh_expires_at") or 0.0
    if not refresh_token or refresh_expires_at <= time.time():
        raise AuthFailed(f"No valid refresh token is stored: {LOGIN_NEEDED.todo}.")
    if not config.fyers_pin and not config.is_sandbox:
        raise AuthFailed(f"FYERS_PIN is not set, so the token cannot be refreshed: {LOGIN_NEEDED.todo}.")
    try:
        pin = config.fyers_pin or SANDBOX_PIN
        tokens = FyersBroker(config, store=store).refresh_access_token(refresh_token, pin)
    except AuthFailed as exc:
        raise AuthFailed(f"Fyers refused the token refresh ({exc}); {DAILY_LOGIN_NOTE}: "
                         f"{LOGIN_NEEDED.todo}.") from exc
    if tokens.refresh_token != refresh_token:
        refresh_expires_at = time.time() + config.refresh_token_validity
    save_tokens(config, store, tokens, refresh_expires_at)
    return token_status(config, store)


def login_url(config: Config, state: str) -> str:
    """The Fyers login page that redirects back to FYERS_REDIRECT_URI with an auth code."""
    return FyersBroker(config).login_url(state)


def exchange_auth_code(config: Config, store: Store, auth_code: str) -> TokenStatus:
    """Trade the auth code from the login redirect for tokens and store them."""
    tokens = FyersBroker(config, store=store).exchange_auth_code(auth_code.strip())
    save_tokens(config, store, tokens, time.time() + config.refresh_token_validity)
    return token_status(config, store)


def _command(config: Config, store: Store, args: argparse.Namespace) -> int:
    """Run one CLI command; the exit status is 0 when the token carries the next run."""
    if args.command == "login-url":
        print(login_url(config, secrets.token_urlsafe(16)))
        return 0
    if args.command == "refresh":
        status = refresh_tokens(config, store)
    elif args.command == "exchange":
        status = exchange_auth_code(config, store, args.auth_code)
    else:
        status = token_status(config, store)
    print(f"{status.state}: {status.message}")
    if status.refresh_expires_at:
        print(f"Refresh token valid until {ist_text(status.refresh_expires_at)}.")
    return 0 if status.valid_for_next_run else 1


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; a refused refresh or code is one clear line and exit status 1."""
    parser = argparse.ArgumentParser(prog="python token_refresh.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="show whether the token covers the next run")
    commands.add_parser("refresh", help="get a new access token with the refresh token")
    commands.add_parser("login-url", help="print the Fyers login URL")
    exchange = commands.add_parser("exchange", help="store tokens for an auth code")
    exchange.add_argument("auth_code")
    args = parser.parse_args(argv)
    config = load_config_or_exit()
    try:
        with logged_store(config) as store:
            return _command(config, store, args)
    except AuthFailed as exc:
        print(f"login needed: {redact(str(exc))}", file=sys.stderr)
        return 1
    except (BrokerError, StoreError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1

if __name__ == "__main__":
    sys.exit(main())
