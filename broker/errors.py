"""The broker's exceptions, and which one a Fyers reply stands for (`error_for`).

Each exception's docstring says what the bot does when it is raised; docs/fyers.md lists the
codes behind them, and which of them Fyers documents.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from config import IST

TOKEN_CODES = frozenset({-8, -15, -16, -17})
AUTH_CODES = frozenset({-437, -501})
INVALID_CODES = frozenset({-50, -51, -300})
IP_NOT_ALLOWED_CODE = -392  # the sandbox's choice; Fyers documents none (docs/fyers.md)
IP_REFUSAL = re.compile(r"static ip|whitelist|ip address|not allowed from", re.IGNORECASE)
REGISTER_IP = "register this machine's static IP with your Fyers app"
DAY_BLOCK_HINT = re.compile(r"block", re.IGNORECASE)
TOKEN_LIKE = re.compile(r"[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")  # a JWT echoed in a message


class BrokerError(RuntimeError):
    """Base of every broker failure."""


class TokenExpired(BrokerError):
    """The access token is expired or invalid (-8, -15, -16, -17): stop the run and ask the
    owner to log in (or refresh first)."""


class AuthFailed(BrokerError):
    """An auth code or refresh token was refused (-437, -501, daily login required): the
    owner must complete the Fyers login again."""


class RateLimited(BrokerError):
    """Fyers answered 429 / -429 even after waiting for its window, or the shared budget
    has no room within the caller's patience: stop this call, try again after `retry_after`."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class DailyLimitBlocked(RateLimited):
    """Fyers blocked this app's API calls for the rest of the IST day (more than three
    per-minute breaches): every process stops calling until the next day; the run fails."""


class OrderRejected(BrokerError):
    """Fyers refused an order (-99, status 5) as it was placed: the order is recorded as
    rejected with this message ("rejected by Fyers: …"), and the run goes on."""


class IPNotAllowed(BrokerError):
    """Fyers refused an order because this machine's IP is not the static IP registered
    with the app: not an OrderRejected; the run fails loudly, nothing is recorded as traded."""


class UnexpectedReply(BrokerError):
    """Fyers answered with something it does not document (HTML instead of JSON, an unknown
    code, a missing field): nothing of it is used or recorded; the call fails."""


class InvalidRequest(BrokerError):
    """Bad parameters or symbol (-50, -300): a bug or bad config; the run fails."""


class BrokerUnavailable(BrokerError):
    """Network error or 5xx after retries: the run fails and can be retried."""


def error_for(call: str, body: dict[str, Any]) -> BrokerError | None:
    """The exception a Fyers reply stands for, or None when it succeeded."""
    if body.get("s") in ("ok", "no_data"):
        return None
    try:
        code = int(body.get("code", 0))
    except (TypeError, ValueError):
        code = 0
    text = TOKEN_LIKE.sub("<token>", str(body.get("message") or "error"))
    message = f"Fyers {call}: {text} (code {code})"
    if body.get("s") != "error":
        return UnexpectedReply(f"Fyers {call}: a reply with status {body.get('s')!r}")
    if code in TOKEN_CODES:
        return TokenExpired(message)
    if code in (-429, 429):
        return RateLimited(message)
    if code in AUTH_CODES:
        return AuthFailed(message)
    if code == IP_NOT_ALLOWED_CODE or IP_REFUSAL.search(text):
        return IPNotAllowed(f"Fyers refused the order because this machine's IP is not the "
                            f"static IP registered for the app: {REGISTER_IP} ({message})")
    if code in INVALID_CODES:
        return InvalidRequest(message)
    if code == -99 or code >= 500:
        return BrokerUnavailable(message)
    return UnexpectedReply(f"{message}: a code Fyers does not document")


def blocked_message(until: float) -> str:
    return ("Fyers has blocked this app's API calls for the rest of the day (the per-minute "
            "limit was exceeded more than 3 times); the bot makes no Fyers call until "
            f"{datetime.fromtimestamp(until, IST):%d %b %H:%M} IST")
