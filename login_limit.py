"""The per-IP rate limit on forms that check a password or a code (LOGIN_RATE_LIMIT), and a
summary of what it refused: one log line per IP and form a minute, never a row per request,
so a flood cannot flood the logs too."""
from __future__ import annotations

import atexit
import logging
import threading
from collections import Counter

from flask import Flask, current_app, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from views import get_config

logger = logging.getLogger(__name__)

SUMMARY_EVERY_S = 60.0
EXTENSION = "refused_logins"

# flask-limiter logs every refused request at INFO; RefusedLogins summarises them instead.
logging.getLogger("flask-limiter").setLevel(logging.WARNING)


def note_refusal(limit: RequestLimit) -> None:
    """Count a refused request (flask-limiter's on_breach hook)."""
    current_app.extensions[EXTENSION].count(get_remote_address(), request.path)


limiter = Limiter(get_remote_address, storage_uri="memory://", on_breach=note_refusal)


def login_rate_limit() -> str:
    """LOGIN_RATE_LIMIT, for every form that checks a password or a code."""
    return get_config().login_rate_limit


class RefusedLogins:
    """Counts refused attempts per (IP, path); `flush` logs one line per pair and starts over.

    The first refusal after a flush schedules the next one SUMMARY_EVERY_S later on a timer
    thread, so a quiet app runs no thread at all.
    """

    def __init__(self, every_s: float = SUMMARY_EVERY_S) -> None:
        self.every_s = every_s
        self._counts: Counter[tuple[str, str]] = Counter()
        self._guard = threading.Lock()
        self._timer: threading.Timer | None = None
        atexit.register(self.close)

    def count(self, ip: str, path: str) -> None:
        """One more refusal of `path` for `ip`."""
        with self._guard:
            self._counts[ip, path] += 1
            if self._timer is None:
                self._timer = threading.Timer(self.every_s, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Log what was counted since the last flush, one line per IP and path."""
        with self._guard:
            counts, self._counts = self._counts, Counter()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for (ip, path), refused in sorted(counts.items()):
            logger.warning("refused %s POST %s attempts from %s in the last minute "
                           "(over LOGIN_RATE_LIMIT)", f"{refused:,}", path, ip)

    def close(self) -> None:
        """Log what is counted and stop the timer (app closed, or the process exits)."""
        self.flush()
        atexit.unregister(self.close)


def init_login_limit(app: Flask) -> None:
    """Bind the limiter and a refusal summary to `app`."""
    limiter.init_app(app)
    app.extensions[EXTENSION] = RefusedLogins()


def close_login_limit(app: Flask) -> None:
    """Log the refusals `app` counted so far and stop its summary timer."""
    app.extensions[EXTENSION].close()
