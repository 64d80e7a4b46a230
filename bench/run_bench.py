"""What the daily strategy run costs in API calls and time, as the schedule meets it.

`python -m bench run` (or `make bench-run`). Against the sandbox with 50 ms injected latency
per call and Fyers' rate limits, all runs dry (decide and log, place nothing), through
executor.run_once as the scheduler calls it:
- cold run: an empty candle cache (a first run);
- same-day rerun: the cache complete (a second run on the same day, for the record);
- next-day run, the figure that matters: the cache one session behind, as the 15:10 run on the
  next trading day finds it (the first day's run, then the sandbox clock moved to the next
  session's 15:10);
- naive scan at its strongest, at the same moment: one batched quotes call and one history call
  per symbol, throttled only to Fyers' own limits (10/s, 200/min, with a 1 % margin),
  no cache.
The next-day run and the naive scan are measured REPEATS times, each on a fresh sandbox (fresh
rate-limit windows) and a copy of the first day's store; min and median are reported, the
ratio from the medians. Goals: the next-day run makes ≤ 2 data calls (history + quotes) and is
≥ 10× faster than the naive scan. That it decides exactly as a cold cache does is a test
(tests/batch/test_next_day_run.py), not a timing.
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

import token_refresh
from broker import FyersBroker, Tokens
from config import Config
from executor import run_once
from fyers_sandbox import FYERS_RATE_LIMITS
from fyers_sandbox.testing import SandboxHandle, start_sandbox
from store import configured_store
from strategy_rules import decide
from universe import nifty50_symbols

LATENCY_MS = 50
FIRST_DAY = "2026-10-01T15:10:00"  # a Thursday session at the scheduled run time
NEXT_DAY = "2026-10-05T15:10:00"  # the next session (Fri 2 Oct is a holiday, then a weekend)
REPEATS = 3
NEXT_DAY_DATA_CALLS_GOAL = 2
SPEEDUP_GOAL = 10.0
NAIVE_HISTORY_DAYS = 60  # enough sessions for the moving average, one history call
# Fyers' own limits, 1 % longer windows: at exactly 10/s loopback jitter already draws 429s, and
# each pauses a client a whole second
NAIVE_WINDOWS = tuple((count, seconds * 1.01) for count, seconds in FYERS_RATE_LIMITS)
TOKEN_KEY = Fernet.generate_key().decode()


@contextmanager
def _market(database: Path, clock: str) -> Iterator[tuple[SandboxHandle, Config, str]]:
    """A sandbox at `clock` with injected latency, a config on the SQLite file `database`
    pointing at it, and a stored login: (sandbox, config, access token)."""
    with start_sandbox(start=clock) as sandbox:
        config = Config.from_mapping({
            "DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "bench-only-secret-key",
            "FYERS_MODE": "sandbox", "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
            "FYERS_SANDBOX_URL": sandbox.url})
        access, refresh = sandbox.login()
        store = configured_store(config)
        try:
            token_refresh.save_tokens(config, store, Tokens(access, refresh, time.time() + 3600),
                                      time.time() + 86400)
        finally:
            store.close()
        sandbox.admin("faults", latency_ms=LATENCY_MS)
        yield sandbox, config, access


def _calls(sandbox: SandboxHandle) -> tuple[int, int]:
    """(API calls, data calls: history + quotes) the sandbox has answered so far."""
    requests = sandbox.admin("stats", method="GET")["requests"]
    api = {path: n for path, n in requests.items() if not path.startswith("/admin")}
    data = sum(n for path, n in api.items() if path.endswith(("/history", "/quotes")))
    return sum(api.values()), data


def _measure(sandbox: SandboxHandle, work: Callable[[], None]) -> dict[str, float]:
    """Wall time and sandbox calls of `work()`."""
    api_before, data_before = _calls(sandbox)
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    api_after, data_after = _calls(sandbox)
    return {"seconds": seconds, "api_calls": api_after - api_before,
            "data_calls": data_after - data_before}


def _strategy_run(config: Config) -> None:
    run = run_once(config, trigger="scheduled", dry_run=True, force=True)
    if run["status"] != "succeeded":
        raise RuntimeError(f"bench run {run['status']}: {run['error']}")


def _naive_scan(config: Config, access_token: str, today: date) -> None:
    """A bot without a cache, at its strongest: one batched quotes call, then a history call
    per symbol, as fast as Fyers' own limits allow."""
    broker = FyersBroker(config, access_token=access_token, rate_limits=NAIVE_WINDOWS)
    ltps = {symbol: quote.ltp for symbol, quote in broker.quotes(nifty50_symbols()).items()}
    closes = {symbol: [candle.close for candle in broker.history(
                  symbol, today - timedelta(days=NAIVE_HISTORY_DAYS), today - timedelta(days=1))]
              for symbol in nifty50_symbols()}
    decide(closes, ltps, {}, config.strategy_params())


def _figure(value: float, unit: str, goal: str = "-", ok: bool | None = None) -> dict[str, Any]:
    return {"value": round(value, 3), "unit": unit, "goal": goal, "ok": ok}


def _summary(samples: list[dict[str, float]]) -> dict[str, float]:
    """Min and median seconds, and the (equal) call counts, of repeated measurements."""
    seconds = [sample["seconds"] for sample in samples]
    return {"seconds": statistics.median(seconds), "min_s": min(seconds),
            "api_calls": max(s["api_calls"] for s in samples),
            "data_calls": max(s["data_calls"] for s in samples)}


def main() -> dict[str, Any]:
    """Run the measurements, print them beside the goals, return the figures."""
    with tempfile.TemporaryDirectory() as folder:
        first_day = Path(folder) / "first-day.db"
        with _market(first_day, FIRST_DAY) as (sandbox, config, _):
            cold = _measure(sandbox, lambda: _strategy_run(config))
            time.sleep(1.0)  # leave the rate budget's one-second window
            rerun = _measure(sandbox, lambda: _strategy_run(config))
        next_days, naives = [], []
        for repeat in range(REPEATS):
            copy = Path(folder) / f"next-day-{repeat}.db"
            shutil.copyfile(first_day, copy)
            with _market(copy, NEXT_DAY) as (sandbox, config, access):
                next_days.append(_measure(sandbox, lambda c=config: _strategy_run(c)))
                time.sleep(1.0)  # leave the rate budget's one-second window
                naives.append(_measure(sandbox, lambda c=config, a=access: _naive_scan(
                    c, a, date.fromisoformat(NEXT_DAY[:10]))))
    next_day, naive = _summary(next_days), _summary(naives)
    speedup = naive["seconds"] / next_day["seconds"]
    print(f"latency {LATENCY_MS} ms per call, Fyers rate limits; dry runs (no orders); "
          f"next day and naive: median (min) of {REPEATS}")
    for name, figures in (("cold run", cold), ("same-day rerun", rerun),
                          ("next-day run", next_day), ("naive scan", naive)):
        spread = f" ({figures['min_s']:.2f})" if "min_s" in figures else ""
        print(f"{name:>14}: {figures['seconds']:6.2f} s{spread:8}  {figures['api_calls']:3.0f} API "
              f"calls  {figures['data_calls']:3.0f} data calls")
    print(f"next-day run data calls: {next_day['data_calls']:.0f} (goal ≤ "
          f"{NEXT_DAY_DATA_CALLS_GOAL}); naive scan / next-day run: {speedup:.1f}× (goal ≥ "
          f"{SPEEDUP_GOAL:.0f}×)")
    return {
        "cold_run_s": _figure(cold["seconds"], "s"),
        "cold_run_data_calls": _figure(cold["data_calls"], "calls"),
        "same_day_rerun_s": _figure(rerun["seconds"], "s"),
        "same_day_rerun_data_calls": _figure(rerun["data_calls"], "calls"),
        "next_day_run_s": _figure(next_day["seconds"], "s"),
        "next_day_run_api_calls": _figure(next_day["api_calls"], "calls"),
        "next_day_run_data_calls": _figure(
            next_day["data_calls"], "calls", f"≤ {NEXT_DAY_DATA_CALLS_GOAL}",
            next_day["data_calls"] <= NEXT_DAY_DATA_CALLS_GOAL),
        "naive_scan_s": _figure(naive["seconds"], "s"),
        "naive_scan_data_calls": _figure(naive["data_calls"], "calls"),
        "naive_vs_next_day": _figure(speedup, "×", f"≥ {SPEEDUP_GOAL:.0f}×",
                                     speedup >= SPEEDUP_GOAL),
    }


if __name__ == "__main__":
    main()
