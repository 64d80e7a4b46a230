"""What the broker adapter costs on loopback, and how close its limiter runs to the limits.

`python -m bench broker`. Against a sandbox on 127.0.0.1 it times: one small read (profile),
quotes for the NIFTY 50 in one call, ten years of daily history for one symbol (10 calls),
and a burst of 300 reads under limits scaled in time (the real 10/s + 200/min windows with the
minute shortened to 4 s on the server, the broker's margin kept). Goals: the burst draws no
429 and reaches ≥ 85 % of the rate the broker's own limits allow; the limiter's own overhead on an
unthrottled call stays under 1 ms. Returns the figures.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from broker import FyersBroker
from config import Config
from fyers_sandbox.testing import SESSION_MORNING, SandboxHandle, start_sandbox
from rate_budget import MemoryHolder, RateBudget
from universe import nifty50_symbols

UNTHROTTLED = ((100_000, 1),)
SCALED_SANDBOX_LIMITS = ((50, 1), (150, 4))
SCALED_CLIENT_LIMITS = ((45, 1), (135, 4))
BURST = 300
RATE_GOAL = 0.85
LIMITER_OVERHEAD_GOAL_MS = 1.0


def _broker(folder: Path, sandbox: SandboxHandle, limits: tuple) -> FyersBroker:
    config = Config.from_mapping({
        "DATABASE_URL": f"sqlite:///{folder}/bench.db", "SECRET_KEY": "bench-only-secret-key",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(), "FYERS_MODE": "sandbox",
        "FYERS_SANDBOX_URL": sandbox.url})
    access, _ = sandbox.login()
    return FyersBroker(config, access, rate_limits=limits, attempts=1)


def _median_ms(call: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _figure(value: float, unit: str, goal: str | None = None, ok: bool | None = None) -> dict:
    return {"value": value, "unit": unit, "goal": goal or "-", "ok": ok}


def _latencies(folder: Path) -> dict[str, dict]:
    """Median wall time of typical calls with no throttling on either side."""
    with start_sandbox(rate_limits=UNTHROTTLED, start=SESSION_MORNING) as sandbox:
        broker = _broker(folder, sandbox, UNTHROTTLED)
        symbols = nifty50_symbols()
        profile_ms = _median_ms(broker.profile, 50)
        quotes_ms = _median_ms(lambda: broker.quotes(symbols), 10)
        before = broker.call_count
        history_ms = _median_ms(
            lambda: broker.history("NSE:SBIN-EQ", date(2016, 11, 25), date(2026, 11, 25)), 3)
        history_calls = (broker.call_count - before) // 3
    budget = RateBudget(MemoryHolder(), "bench", UNTHROTTLED)
    overhead_ms = _median_ms(lambda: budget.take(time.time()), 2000)
    print(f"profile {profile_ms:.2f} ms, quotes(50) {quotes_ms:.2f} ms, "
          f"10y history {history_ms:.1f} ms in {history_calls} calls, "
          f"limiter overhead {overhead_ms * 1000:.1f} µs per call")
    return {"profile_ms": _figure(profile_ms, "ms"),
            "quotes50_ms": _figure(quotes_ms, "ms"),
            "history10y_ms": _figure(history_ms, "ms"),
            "history10y_calls": _figure(history_calls, "calls"),
            "limiter_overhead_ms": _figure(overhead_ms, "ms", f"< {LIMITER_OVERHEAD_GOAL_MS}",
                                           overhead_ms < LIMITER_OVERHEAD_GOAL_MS)}


def _allowed_seconds(calls: int, limits: tuple) -> float:
    """The least time `calls` requests can take under moving windows `limits` (greedy)."""
    times: list[float] = []
    for _ in range(calls):
        start = times[-1] if times else 0.0
        for count, seconds in limits:
            if len(times) >= count:
                start = max(start, times[-count] + seconds)
        times.append(start)
    return times[-1]


def _burst(folder: Path) -> dict[str, dict]:
    """A 300-call burst against scaled limits: 429s seen and share of the allowed rate."""
    with start_sandbox(rate_limits=SCALED_SANDBOX_LIMITS, start=SESSION_MORNING) as sandbox:
        broker = _broker(folder, sandbox, SCALED_CLIENT_LIMITS)
        started = time.perf_counter()
        for _ in range(BURST):
            broker.profile()
        elapsed = time.perf_counter() - started
        statuses = sandbox.admin("stats", method="GET")["statuses"]
    rejected = statuses.get("429", 0)
    ratio = _allowed_seconds(BURST, SCALED_CLIENT_LIMITS) / elapsed
    server_ratio = _allowed_seconds(BURST, SCALED_SANDBOX_LIMITS) / elapsed
    print(f"burst of {BURST}: {elapsed:.1f} s, {rejected} × 429, {ratio:.2f} of the broker's "
          f"budget, {server_ratio:.2f} of the rate the server allows")
    return {"burst_429": _figure(rejected, "replies", "0", rejected == 0),
            "burst_rate_ratio": _figure(ratio, "x budget", f">= {RATE_GOAL}", ratio >= RATE_GOAL),
            "burst_server_ratio": _figure(server_ratio, "x server limit")}


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        return {**_latencies(Path(folder)), **_burst(Path(folder))}


if __name__ == "__main__":
    main()
