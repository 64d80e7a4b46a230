"""Keeping secrets out of every log line, alert and page: JWTs, values of secret-named keys,
and every secret value the process has seen (registered when a token is decrypted or a
channel is configured) are masked."""
from __future__ import annotations

import logging
import re
import threading

MASK = "[REDACTED]"

_SECRET_NAME = (r"(?:[a-z0-9]+[_-])*"
                r"(?:access_token|refresh_token|secret|pin|password|passwd|appidhash)"
                r"(?:[_-][a-z0-9]+)*")
_SECRET_KEY = re.compile(_SECRET_NAME, re.IGNORECASE)
_KEYED_VALUE = re.compile(
    rf"""(?<![a-z0-9_-])(?P<key>{_SECRET_NAME}["']?\s*[:=]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|[^\s,;&)}\]]+)""", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
_MIN_SECRET_LENGTH = 4
_secrets: set[str] = set()
_secrets_pattern: re.Pattern[str] | None = None
_secrets_guard = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears in a log message from now on."""
    global _secrets_pattern
    if not value or len(value.strip()) < _MIN_SECRET_LENGTH:
        return
    with _secrets_guard:
        _secrets.add(value.strip())
        longest_first = sorted(_secrets, key=len, reverse=True)
        _secrets_pattern = re.compile("|".join(map(re.escape, longest_first)))


def is_secret_name(name: str) -> bool:
    """True for a field or key name whose value is a secret (access_token, FYERS_PIN, ...)."""
    return _SECRET_KEY.fullmatch(name) is not None


def _mask_keyed(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['key']}{quote}{MASK}{quote}"


def redact(text: str) -> str:
    """The text with JWTs, values of secret-named keys and registered secrets masked."""
    text = _JWT.sub(MASK, text)
    text = _KEYED_VALUE.sub(_mask_keyed, text)
    pattern = _secrets_pattern
    return pattern.sub(MASK, text) if pattern is not None else text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, traceback and stack before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place (idempotent); never drops it."""
        try:
            record.msg, record.args = redact(record.getMessage()), None
        except (TypeError, ValueError):  # bad %-args: leave it for the handler to report
            return True
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
