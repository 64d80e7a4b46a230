"""How many API calls and how much time a strategy run costs, cold and warm, against a naive scan.

`python -m bench.run_bench` (or `make bench-run`). Against the sandbox with 50 ms injected
latency and Fyers' real rate limits on both sides, it times: a cold run (empty candle cache),
a warm run (cache complete), both via executor.run_once as dry runs so no order changes the
book, a naive sequential scan that asks history + quote per symbol, and, for the record, the
next trading day's run (the cache one session behind: one history call per symbol). Goals: a
warm run makes ≤ 3 data calls (history + quotes) and is ≥ 10× faster than the naive scan.
"""
from __future__ import annotations

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
from fyers_sandbox.testing import SandboxHandle, start_sandbox
from store import configured_store
from strategy_rules import decide
from universe import nifty50_symbols

LATENCY_MS = 50
CLOCK = "2026-10-01T15:45:00"  # a trading day after the close
NEXT_DAY_CLOCK = "2026-10-05T15:45:00"  # the next session (2 Oct is a holiday)
WARM_DATA_CALLS_GOAL = 3
SPEEDUP_GOAL = 10.0
NAIVE_HISTORY_DAYS = 60
TOKEN_KEY = Fernet.generate_key().decode()


@contextmanager
def _market(database_url: str, clock: str) -> Iterator[tuple[SandboxHandle, Config, str]]:
    """A sandbox at `clock` with injected latency, a config on `database_url` pointing at it,
    and a stored login: (sandbox, config, access token)."""
    with start_sandbox(start=clock) as sandbox:
        config = Config.from_mapping({
            "DATABASE_URL": database_url, "SECRET_KEY": "bench-only-secret-key", "FYERS_MODE": "sandbox",
            "TOKEN_ENCRYPTION_KEY": TOKEN_KEY, "FYERS_SANDBOX_URL": sandbox.url})
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
    run = run_once(config, trigger="manual", dry_run=True, force=True)
    if run["status"] != "succeeded":
        raise RuntimeError(f"bench run {run['status']}: {run['error']}")


def _naive_scan(config: Config, access_token: str) -> None:
    """What a bot without a cache or batching does: per symbol, a history and a quote call."""
    broker = FyersBroker(config, access_token=access_token)
    today = date.fromisoformat(CLOCK[:10])
    closes, ltps = {}, {}
    for symbol in nifty50_symbols():
        candles = broker.history(symbol, today - timedelta(days=NAIVE_HISTORY_DAYS),
                                 today - timedelta(days=1))
        closes[symbol] = [candle.close for candle in candles]
        ltps[symbol] = broker.quotes([symbol])[symbol].ltp
    decide(closes, ltps, {}, config.strategy_params())


def _figure(value: float, unit: str, goal: str = "-", ok: bool | None = None) -> dict[str, Any]:
    return {"value": round(value, 3), "unit": unit, "goal": goal, "ok": ok}


def main() -> dict[str, Any]:
    """Run the measurements, print them beside the goals, return the figures."""
    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        with _market(database_url, CLOCK) as (sandbox, config, access):
            cold = _measure(sandbox, lambda: _strategy_run(config))
            warm = _measure(sandbox, lambda: _strategy_run(config))
            naive = _measure(sandbox, lambda: _naive_scan(config, access))
        # A fresh sandbox (a new URL, so fresh rate-limit windows on both sides): the minute
        # budget the naive scan used up would otherwise be what this figure measures.
        with _market(database_url, NEXT_DAY_CLOCK) as (sandbox, config, _):
            next_day = _measure(sandbox, lambda: _strategy_run(config))
    speedup = naive["seconds"] / warm["seconds"]
    print(f"latency {LATENCY_MS} ms per call, Fyers rate limits; dry runs (no orders)")
    for name, figures in (("cold run", cold), ("warm run", warm), ("naive scan", naive),
                          ("next day", next_day)):
        print(f"{name:>10}: {figures['seconds']:7.2f} s  {figures['api_calls']:4d} API calls  "
              f"{figures['data_calls']:4d} data calls")
    print(f"warm run data calls: {warm['data_calls']} (goal ≤ {WARM_DATA_CALLS_GOAL})")
    print(f"naive scan / warm run time: {speedup:.1f}× (goal ≥ {SPEEDUP_GOAL:.0f}×); "
          f"cold run / warm run: {cold['seconds'] / warm['seconds']:.1f}×")
    return {
        "cold_run_s": _figure(cold["seconds"], "s"),
        "cold_run_api_calls": _figure(cold["api_calls"], "calls"),
        "warm_run_s": _figure(warm["seconds"], "s"),
        "warm_run_api_calls": _figure(warm["api_calls"], "calls"),
        "warm_run_data_calls": _figure(warm["data_calls"], "calls", f"≤ {WARM_DATA_CALLS_GOAL}",
                                       warm["data_calls"] <= WARM_DATA_CALLS_GOAL),
        "naive_scan_s": _figure(naive["seconds"], "s"),
        "naive_scan_api_calls": _figure(naive["api_calls"], "calls"),
        "naive_vs_warm": _figure(speedup, "×", f"≥ {SPEEDUP_GOAL:.0f}×", speedup >= SPEEDUP_GOAL),
        "next_day_run_s": _figure(next_day["seconds"], "s"),
        "next_day_run_data_calls": _figure(next_day["data_calls"], "calls"),
    }


if __name__ == "__main__":
    main()
