"""Helpers shared by the batch tests: a fast broker, stored tokens, sandbox request counts."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from typing import Any

import token_refresh
from broker import FyersBroker, Tokens
from config import PROJECT_DIR, Config
from fyers_sandbox.testing import SandboxHandle
from strategy_rules import BookEntry, Intent, decide
from universe import nifty50_symbols

# Relaxed limits on both sides, so a cold run (50 history calls) takes a moment, not 6 s.
FAST_LIMITS = ((1000, 1),)


def fast_broker(config: Config, access_token: str | None = None, **options: Any) -> FyersBroker:
    """The real broker with relaxed client-side rate limits."""
    return FyersBroker(config, access_token=access_token, rate_limits=FAST_LIMITS, **options)


def store_tokens(config: Config, store: Any, sandbox: SandboxHandle,
                 access_expires_at: float | None = None) -> tuple[str, str]:
    """Log in at the sandbox and store the tokens as a completed Fyers login would."""
    access, refresh = sandbox.login()
    expires = time.time() + 3600 if access_expires_at is None else access_expires_at
    token_refresh.save_tokens(config, store, Tokens(access, refresh, expires),
                              time.time() + 86400)
    return access, refresh


def calls_to(sandbox: SandboxHandle, suffix: str) -> int:
    """How many requests the sandbox received on paths ending with `suffix`."""
    requests = sandbox.admin("stats", method="GET")["requests"]
    return sum(count for path, count in requests.items() if path.endswith(suffix))


def expected_intents(broker: FyersBroker, store: Any, config: Config, day: date) -> list[Intent]:
    """What decide() wants from the sandbox's own data: closes of the sessions before `day`
    (fetched here, not from the run's cache), quotes now, and the book in the store."""
    symbols = nifty50_symbols()
    start, end = day - timedelta(days=60), day - timedelta(days=1)
    closes = {s: [c.close for c in broker.history(s, start, end)] for s in symbols}
    ltps = {symbol: quote.ltp for symbol, quote in broker.quotes(symbols).items()}
    book = {p["symbol"]: BookEntry(p["symbol"], p["qty"], p["avg_price"], p["last_buy_price"])
            for p in store.get_positions()}
    return decide(closes, ltps, book, config.strategy_params())


def run_trades(store: Any, run_id: str) -> list[dict[str, Any]]:
    """The trades one run recorded, oldest first."""
    return [t for t in reversed(store.list_trades()) if t["run_id"] == run_id]


def cli_env(config: Config) -> dict[str, str]:
    """Environment keys that make a CLI child process use `config`'s store, sandbox, run
    limits and alerts."""
    return {"DATABASE_URL": config.database_url, "SECRET_KEY": config.secret_key,
            "TOKEN_ENCRYPTION_KEY": config.token_encryption_key, "FYERS_MODE": "sandbox",
            "FYERS_SANDBOX_URL": config.fyers_sandbox_url, "FYERS_PIN": config.fyers_pin,
            "FYERS_SECRET_KEY": config.fyers_secret_key,
            "ORDER_FILL_TIMEOUT_S": str(config.order_fill_timeout_s),
            "RUN_DEADLINE_S": str(config.run_deadline_s),
            "RATE_LIMIT_WINDOW_S": str(config.rate_limit_window_s),
            "MAX_NEW_ENTRIES_PER_RUN": str(config.max_new_entries_per_run),
            "MAX_NEW_ENTRIES_PER_DAY": str(config.max_new_entries_per_day),
            "TELEGRAM_BOT_TOKEN": config.telegram_bot_token,
            "TELEGRAM_CHAT_ID": config.telegram_chat_id,
            "TELEGRAM_API_URL": config.telegram_api_url}


def run_cli(config: Config, script: str, *args: str, timeout: float = 120
            ) -> subprocess.CompletedProcess:
    """Run one of the project's CLIs as the owner would, with `config`'s environment."""
    return subprocess.run([sys.executable, script, *args], cwd=PROJECT_DIR, timeout=timeout,
                          env={**os.environ, **cli_env(config)}, capture_output=True, text=True)
