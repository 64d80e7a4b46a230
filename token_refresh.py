"""Fyers tokens: status, refresh with the refresh token, the auth-code exchange, encrypted storage.

CLI: `python token_refresh.py status | refresh | login-url | exchange AUTH_CODE`.
Tokens are stored Fernet-encrypted in `fyers_tokens` and registered with the log redaction
filter whenever they are in memory. What Fyers last said of the stored access token (a refusal
seen by a run or a page) is kept beside it, so every page and process shows the same state.
Every login, refresh and refusal writes a line to the `tokens` logger, never a token.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cli
import encryption
from broker import (
    AuthFailed,
    BrokerError,
    BrokerUnavailable,
    FyersBroker,
    PaperBroker,
    TokenExpired,
    Tokens,
)
from config import Config, config_or_exit, load_config_or_exit
from messages import KEY_DIFFERS, LOGIN_NEEDED
from next_run import automatic_runs
from portfolio import ist_short
from redaction import redact, register_secret
from store import Store, StoreError, refuse_missing_sqlite
from store.log_handler import logged_store
from trading_calendar import next_run_at

logger = logging.getLogger("tokens")  # named for the part, also when run as a CLI

SANDBOX_PIN = "0000"  # the sandbox takes any 4 digits unless its options set a PIN
KEY_MISMATCH = ("The stored Fyers tokens cannot be decrypted: this machine's "
                "TOKEN_ENCRYPTION_KEY differs from the one that stored them (two hosts sharing a "
                "store must set the same TOKEN_ENCRYPTION_KEY), or log in to Fyers again here.")


class TokenKeyMismatch(RuntimeError):
    """The stored tokens were encrypted with another TOKEN_ENCRYPTION_KEY: the run stops and the
    owner sets the same key on both hosts (a refresh or login cannot help this machine)."""

    failure = KEY_DIFFERS


class RefreshFailed(AuthFailed):
    """The access token could not be refreshed: the owner must log in. The message (the run's
    error, the CLI, the logs) has it all; `why` says it in a few plain words for a page, and
    `detail` is what Fyers answered, when it was asked."""

    def __init__(self, why: str, detail: str = "", message: str = "") -> None:
        super().__init__(message or f"{why}: {LOGIN_NEEDED.todo}.")
        self.why, self.detail = why, detail


LOG_IN = "log in to Fyers"
# A login `login-url` started: its state, which the web app's callback accepts for 15 minutes.
CLI_LOGIN_KEY, CLI_LOGIN_TTL_S = "fyers_cli_login", 15 * 60
DAILY_LOGIN_NOTE = ("since April 2026 Fyers requires a login with 2FA once per trading day, "
                    "so a refresh is often refused")
REFUSAL_KEY = "fyers_refusal"  # settings key prefix; one refusal per Fyers app
LOGIN_NEEDED_STATES = frozenset({"MISSING", "UNREADABLE", "EXPIRED", "REFUSED"})
STATE_LABELS = {"MISSING": "LOGIN NEEDED · no token", "EXPIRED": "LOGIN NEEDED · expired",
                "REFUSED": "LOGIN NEEDED · refused by Fyers", "UNREADABLE": "KEY DIFFERS"}


@dataclass(frozen=True)
class TokenStatus:
    """Whether the stored access token will carry the next scheduled run, in one sentence."""

    state: str  # "VALID" | "EXPIRING" | "EXPIRED" | "REFUSED" | "MISSING" | "UNREADABLE"
    access_expires_at: float | None
    refresh_expires_at: float | None
    message: str
    valid_for_next_run: bool
    refused_at: float | None = None  # when Fyers refused this token (state REFUSED)

    def usable_at(self, now: float) -> bool:
        """True when the access token has not reached its expiry at `now` (VALID or EXPIRING,
        or REFUSED early: the run asks Fyers once more before giving up on it)."""
        return self.access_expires_at is not None and self.access_expires_at > now

    @property
    def login_needed(self) -> bool:
        """Nothing can reach Fyers until the owner logs in again (or fixes the key)."""
        return self.state in LOGIN_NEEDED_STATES

    @property
    def label(self) -> str:
        """The state in the owner's words, e.g. 'LOGIN NEEDED · refused by Fyers'."""
        return STATE_LABELS.get(self.state, self.state)


def _decrypt(config: Config, value: str | None) -> str | None:
    """The plain token, registered for redaction; None when absent or undecryptable."""
    plain = encryption.decrypt(config, value) if value else None
    register_secret(plain)
    return plain


def _stored(config: Config, store: Store) -> dict[str, Any] | None:
    return store.get_token(config.client_id)


def save_tokens(config: Config, store: Store, tokens: Tokens, refresh_expires_at: float) -> None:
    """Encrypt and upsert the token record for this app."""
    register_secret(tokens.access_token)
    register_secret(tokens.refresh_token)
    store.save_token({
        "client_id": config.client_id,
        "access_token": encryption.encrypt(config, tokens.access_token),
        "refresh_token": encryption.encrypt(config, tokens.refresh_token),
        "access_expires_at": tokens.access_expires_at,
        "refresh_expires_at": refresh_expires_at,
        "updated_at": time.time(),
    })


def load_access_token(config: Config, store: Store) -> str | None:
    """The decrypted access token, or None when none is stored."""
    record = _stored(config, store)
    return _decrypt(config, record.get("access_token")) if record else None


def stored_broker(config: Config, store: Store, factory: Callable[..., FyersBroker] = FyersBroker,
                  **options: Any) -> FyersBroker | None:
    """A broker on the stored access token that spends the app's rate budget kept in `store`
    (`factory` and `options` as FyersBroker takes them), a PaperBroker around it when `store` is
    the paper book's; None when no token is stored."""
    token = load_access_token(config, store)
    if token is None:
        return None
    broker = factory(config, access_token=token, store=store, **options)
    # The one place paper trading is chosen: a store seen through the paper book gets a broker
    # whose orders are simulated (docs/paper.md); everything else stays the real broker's.
    return PaperBroker(broker, store, config.paper_capital) if store.book == "paper" else broker


def _token_id(access_token: str) -> str:
    """A short one-way digest naming an access token, so a refusal sticks to that token only."""
    return hashlib.sha256(access_token.encode()).hexdigest()[:16]


def _refusal_key(config: Config) -> str:
    return f"{REFUSAL_KEY}:{config.client_id}"


def _refusal_of(config: Config, store: Store, access_token: str) -> dict[str, Any] | None:
    """The refusal Fyers gave this very access token, if any (a newer login has none)."""
    refusal = store.get_setting(_refusal_key(config))
    return refusal if refusal and refusal.get("token") == _token_id(access_token) else None


@contextmanager
def fyers_verdict(config: Config, store: Store, access_token: str, during: str
                  ) -> Iterator[None]:
    """Keep what Fyers says of `access_token` in the block: TokenExpired (re-raised) marks it
    refused for every page and process at once; a block that ends well clears a refusal."""
    try:
        yield
    except TokenExpired as exc:
        store.set_setting(_refusal_key(config), {"token": _token_id(access_token),
                                                 "at": time.time(), "during": during,
                                                 "reason": str(exc)})
        logger.warning("Fyers refused the access token during %s: %s; a new Fyers login is "
                       "needed", during, exc)
        raise
    if _refusal_of(config, store, access_token):
        store.set_setting(_refusal_key(config), None)
        logger.info("Fyers accepted the access token again during %s", during)


def ask_fyers(config: Config, store: Store) -> bool | None:
    """Whether Fyers accepts the stored access token now (one cheap call, kept as its verdict);
    None when no token is stored or Fyers could not be asked."""
    broker = stored_broker(config, store, attempts=1)
    if broker is None:
        return None
    try:
        with fyers_verdict(config, store, broker.access_token, "a check from the Tokens page"):
            broker.profile()
    except TokenExpired:
        return False
    except BrokerError as exc:
        logger.warning("could not ask Fyers about the access token: %s", exc)
        return None
    return True


def _status_message(state: str, access: float | None, next_run: float | None,
                    refusal: dict[str, Any] | None, log_in: str) -> str:
    if state == "UNREADABLE":
        return KEY_MISMATCH
    if state == "MISSING":
        return f"No Fyers token is stored: {log_in}."
    if state == "EXPIRED":
        return f"Token expired at {ist_short(access)}: {log_in}."
    if state == "REFUSED":
        return (f"Fyers refused the token at {ist_short(refusal['at'])} ({refusal['during']}): "
                f"{refusal['reason']}. {log_in[0].upper()}{log_in[1:]}.")
    if next_run is None:
        return f"Token valid until {ist_short(access)}."
    if state == "EXPIRING":
        return (f"Token valid until {ist_short(access)}, which is before the next run at "
                f"{ist_short(next_run)}: log in to Fyers before then.")
    return f"Token valid until {ist_short(access)}, covering the next run at {ist_short(next_run)}."


def token_status(config: Config, store: Store, now: float | None = None, *,
                 runs_automatically: bool = True, log_in: str = LOG_IN) -> TokenStatus:
    """MISSING / UNREADABLE / EXPIRED / REFUSED (by Fyers, before its expiry) / EXPIRING (ends
    before the next scheduled run) / VALID. Pages say whether runs start by themselves; when
    they do not, a usable token is VALID and no run is named. `log_in` is what the message asks
    for when a login is needed (the Tokens page points at its button)."""
    now = time.time() if now is None else now
    record = _stored(config, store) or {}
    access = record.get("access_expires_at") if record.get("access_token") else None
    refresh = record.get("refresh_expires_at")
    next_run = next_run_at(config, now) if runs_automatically else None
    plain = _decrypt(config, record["access_token"]) if access is not None else None
    refusal = _refusal_of(config, store, plain) if plain else None
    if access is None:
        state = "MISSING"
    elif plain is None:
        state = "UNREADABLE"
    elif access <= now:
        state = "EXPIRED"
    elif refusal:
        state = "REFUSED"
    elif next_run is not None and access <= next_run:
        state = "EXPIRING"
    else:
        state = "VALID"
    return TokenStatus(state, access, refresh,
                       _status_message(state, access, next_run, refusal, log_in),
                       state == "VALID", refusal["at"] if refusal else None)


def refresh_tokens(config: Config, store: Store) -> TokenStatus:
    """Get a new access token with the stored refresh token; RefreshFailed says why it could
    not (other BrokerErrors: Fyers could not be asked)."""
    record = _stored(config, store)
    refresh_token = _decrypt(config, record.get("refresh_token")) if record else None
    refresh_expires_at = (record or {}).get("refresh_expires_at") or 0.0
    if not refresh_token or refresh_expires_at <= time.time():
        logger.warning("Fyers token refresh not tried: no valid refresh token is stored")
        raise RefreshFailed("No valid refresh token is stored")
    if not config.fyers_pin and not config.is_sandbox:
        logger.warning("Fyers token refresh not tried: FYERS_PIN is not set")
        raise RefreshFailed("FYERS_PIN is not set, so the token cannot be refreshed")
    try:
        pin = config.fyers_pin or SANDBOX_PIN
        tokens = FyersBroker(config, store=store).refresh_access_token(refresh_token, pin)
    except AuthFailed as exc:
        logger.warning("Fyers refused the token refresh: %s", exc)
        raise RefreshFailed("Fyers refused to refresh the login", str(exc),
                            f"Fyers refused the token refresh ({exc}); {DAILY_LOGIN_NOTE}: "
                            f"{LOGIN_NEEDED.todo}.") from exc
    if tokens.refresh_token != refresh_token:
        refresh_expires_at = time.time() + config.refresh_token_validity
    save_tokens(config, store, tokens, refresh_expires_at)
    logger.info("Fyers token refreshed: valid until %s", ist_short(tokens.access_expires_at))
    return token_status(config, store)


def login_url(config: Config, state: str) -> str:
    """The Fyers login page that redirects back to FYERS_REDIRECT_URI with an auth code."""
    url = FyersBroker(config).login_url(state)
    logger.info("Fyers login started: the owner is sent to the Fyers login page")
    return url


def start_cli_login(config: Config, store: Store) -> str:
    """The login URL `login-url` prints, its state kept in the store for CLI_LOGIN_TTL_S: when
    FYERS_REDIRECT_URI is the web app's callback, Fyers sends the browser there, and the app
    finishes this login as its own (take_cli_login)."""
    state = secrets.token_urlsafe(16)
    store.set_setting(CLI_LOGIN_KEY, {"state": state, "at": time.time()})
    return login_url(config, state)


def take_cli_login(store: Store, state: str) -> bool:
    """Whether `state` is that of a login `login-url` started in the last CLI_LOGIN_TTL_S; a
    state is good for one callback. Without a login started, nothing is written."""
    if store.get_setting(CLI_LOGIN_KEY) is None:
        return False

    def change(started: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
        ours = bool(started and time.time() - started["at"] < CLI_LOGIN_TTL_S
                    and secrets.compare_digest(state.encode(), started["state"].encode()))
        return (None if ours else started), ours
    return store.modify_setting(CLI_LOGIN_KEY, change)


def exchange_auth_code(config: Config, store: Store, auth_code: str) -> TokenStatus:
    """Trade the auth code from the login redirect for tokens and store them."""
    try:
        tokens = FyersBroker(config, store=store).exchange_auth_code(auth_code.strip())
    except BrokerUnavailable as exc:  # not a refusal: Fyers never answered
        logger.warning("Fyers could not be reached for the login (auth code exchange): %s", exc)
        raise
    except BrokerError as exc:
        logger.warning("Fyers refused the login (auth code exchange): %s", exc)
        raise
    save_tokens(config, store, tokens, time.time() + config.refresh_token_validity)
    logger.info("Fyers login done: new access token valid until %s",
                ist_short(tokens.access_expires_at))
    return token_status(config, store)


def _command(config: Config, store: Store, args: argparse.Namespace) -> int:
    """Run one CLI command. `exchange` exits 0 once Fyers accepted the login, even when the
    token ends before the next run (it says so); `status` and `refresh` exit 0 when the token
    carries the next run. Only a refresh that just worked names the refresh token's end: under
    Fyers' daily 2FA nothing else suggests a refresh will happen."""
    if args.command == "login-url":
        print(start_cli_login(config, store))
        print(f"Open it and log in. Fyers then sends the browser to {config.fyers_redirect_uri}: "
              f"if that is this web app, it finishes the login (log in to the app if asked); "
              f"else copy the auth_code=… value from the address bar and run "
              f"`python token_refresh.py exchange AUTH_CODE`.", file=sys.stderr)
        return 0
    if args.command == "exchange":
        exchange_auth_code(config, store, args.auth_code)
    elif args.command == "refresh":
        refresh_tokens(config, store)
    # judged as the pages judge it: against the next run only when runs start by themselves
    now = time.time()
    status = token_status(config, store, now,
                          runs_automatically=automatic_runs(config, store, now).at is not None)
    if args.command == "exchange":
        print(f"Fyers accepted the login. {status.state}: {status.message}")
        print(f"Log in again each trading day: {DAILY_LOGIN_NOTE}.")
        return 0
    print(f"{status.state}: {status.message}")
    if args.command == "refresh" and status.refresh_expires_at:
        print(f"Refresh token valid until {ist_short(status.refresh_expires_at)}.")
    return 0 if status.valid_for_next_run else 1


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; a refused refresh or code is one clear line and exit status 1."""
    parser = cli.OneLineParser(prog="python token_refresh.py", description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="show whether the token covers the next run")
    commands.add_parser("refresh", help="get a new access token with the refresh token")
    commands.add_parser("login-url", help="print the Fyers login URL")
    exchange = commands.add_parser("exchange", help="store tokens for an auth code")
    exchange.add_argument("auth_code")
    args = parser.parse_args(argv)
    config = load_config_or_exit(resolve_keys=False)
    refuse_missing_sqlite(config, "token_refresh")  # before keys are made beside it
    config = config_or_exit(config.with_secrets)
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
    cli.run(main)
