"""Web page speed on a big store: seeds 1,000,000 log rows and 100,000 trades into SQLite (in a
child process, so its memory does not count), then times each page through the Flask test
client and reads the app process's RSS. `python -m bench web` or `make bench-web`.

Goals: p95 < 50 ms server time on every page, RSS < 150 MB.
"""
from __future__ import annotations

import multiprocessing
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from cryptography.fernet import Fernet
from werkzeug.security import generate_password_hash

import portfolio
from config import Config
from store import open_store
from universe import nifty50_symbols

LOGS = 1_000_000
TRADES = 100_000
DAYS = 1000  # the history spans this many days back from now
BATCH = 20_000
REQUESTS = 60
WARMUP = 5
P95_GOAL_MS = 50.0
RSS_GOAL_MB = 150.0
WORDS = ("order", "placed", "filled", "cancelled", "quote", "token", "refresh", "bought",
         "sold", "average", "entry", "exit", "candles", "fetched", "reconcile", "holding")
LEVELS = ("DEBUG", "INFO", "INFO", "INFO", "WARNING", "ERROR")


def bench_config(workdir: Path) -> Config:
    """A sandbox-mode config on a SQLite file in `workdir`."""
    return Config.from_mapping({"DATABASE_URL": f"sqlite:///{workdir}/bench.db",
                                "SECRET_KEY": "bench-only-secret-key", "FYERS_MODE": "sandbox",
                                "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()})


def seed(config: Config, now: float) -> None:
    """Bulk-load logs, runs, trades, positions and candles through the store interface."""
    rng = random.Random(7)
    store = open_store(config.store_url)
    symbols = nifty50_symbols()
    runs = [f"run-{day:04d}" for day in range(DAYS)]
    for day, run_id in enumerate(runs):
        started = now - (DAYS - day) * 86400
        store.create_run({"run_id": run_id, "trigger": "scheduled", "status": "succeeded",
                          "started_at": started, "finished_at": started + 40,
                          "summary": "1 buy, 1 sell", "error": None, "dry_run": False})
    for first in range(0, LOGS, BATCH):
        store.insert_logs([{
            "ts": now - DAYS * 86400 + i * DAYS * 86400 / LOGS, "level": rng.choice(LEVELS),
            "logger": "executor", "run_id": runs[i * DAYS // LOGS], "extra": {},
            "message": " ".join(rng.choice(WORDS) for _ in range(6)) + f" {rng.choice(symbols)}",
        } for i in range(first, min(first + BATCH, LOGS))])
    for i in range(TRADES):
        side = "BUY" if i % 2 == 0 else "SELL"
        store.record_trade({
            "trade_id": f"t{i}", "run_id": runs[i * DAYS // TRADES], "order_tag": f"t{i}",
            "symbol": symbols[(i // 2) % len(symbols)], "side": side, "qty": 10,
            "price": 1000 + rng.uniform(-50, 50), "ts": now - DAYS * 86400 + i * 864.0,
            "pnl": rng.uniform(-300, 500) if side == "SELL" else None, "source": "bot"}, None)
    for symbol in symbols:
        store.upsert_candles(symbol, [{"date": portfolio.ist_date(now - d * 86400), "open": 1000,
                                       "high": 1010, "low": 990, "close": 1000 + d,
                                       "volume": 1000} for d in range(1, 30)])
        store.record_trade({"trade_id": f"open-{symbol}", "run_id": runs[-1],
                            "order_tag": f"open-{symbol}", "symbol": symbol, "side": "BUY",
                            "qty": 5, "price": 990.0, "ts": now - 3600, "pnl": None,
                            "source": "bot"},
                           {"symbol": symbol, "qty": 5, "avg_price": 990.0,
                            "last_buy_price": 990.0, "opened_at": now - 3600,
                            "updated_at": now - 3600})
    store.create_user("bench", generate_password_hash("bench"))
    store.close()


def timed_get(client: Any, path: str) -> float:
    """Milliseconds of one request, which must succeed."""
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, path
    return elapsed


def timed_pages(client: Any, paths: list[str]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(first-request ms, steady ms samples) of each path; the first request fills caches."""
    cold: dict[str, float] = {}
    times: dict[str, list[float]] = {}
    for path in paths:
        cold[path] = timed_get(client, path)
        for _ in range(WARMUP):
            timed_get(client, path)
        times[path] = [timed_get(client, path) for _ in range(REQUESTS)]
    return cold, times


def page_paths(client: Any) -> list[str]:
    """Every page, plus the log searches and a deep scroll page users hit."""
    first = client.get("/logs").get_data(as_text=True)
    cursor = first.split('hx-get="/logs/rows?before=', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    return ["/", "/trading", "/strategy", "/strategy/runs/run-0500", "/strategy/run",
            "/strategy/runs/run-0500/live", "/strategy/status?run=run-0500", "/tokens", "/logs",
            "/logs?q=filled", "/logs?q=reconc&level=ERROR", "/logs?from=2026-01-01&to=2026-01-31",
            f"/logs/rows?before={cursor}"]


def main() -> dict[str, Any]:
    """Seed, time every page and report p50/p95 and RSS against the goals."""
    from app import close_app, create_app
    from auth import SESSION_COOKIE, start_session

    with tempfile.TemporaryDirectory() as workdir:
        config, now = bench_config(Path(workdir)), time.time()
        started = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(target=seed, args=(config, now))
        child.start()
        child.join()
        if child.exitcode:
            raise RuntimeError(f"seeding failed with exit code {child.exitcode}")
        print(f"seeded {LOGS:,} logs and {TRADES:,} trades in {time.perf_counter() - started:.0f} s")
        app = create_app(config)
        client = app.test_client()
        with app.app_context():
            client.set_cookie(SESSION_COOKIE, start_session(app.extensions["store"], "bench"))
        cold, times = timed_pages(client, page_paths(client))
        rss_mb = psutil.Process().memory_info().rss / 2**20
        close_app(app)
    figures: dict[str, Any] = {}
    print(f"{'page':45} {'first ms':>8} {'p50 ms':>8} {'p95 ms':>8}   goal p95 < {P95_GOAL_MS:.0f} ms")
    for path, samples in times.items():
        p50, p95 = statistics.median(samples), statistics.quantiles(samples, n=20)[18]
        print(f"{path[:45]:45} {cold[path]:8.1f} {p50:8.1f} {p95:8.1f}   {'met' if p95 < P95_GOAL_MS else 'MISSED'}"
              f" ({p95 / P95_GOAL_MS:.2f}× goal)")
        figures[f"p95_ms {path[:40]}"] = {"value": p95, "unit": "ms", "ok": p95 < P95_GOAL_MS,
                                          "goal": f"< {P95_GOAL_MS:.0f} ms", "p50": p50,
                                          "first_ms": cold[path]}
    print(f"RSS {rss_mb:.0f} MB (goal < {RSS_GOAL_MB:.0f} MB, {rss_mb / RSS_GOAL_MB:.2f}× goal)")
    figures["rss_mb"] = {"value": rss_mb, "unit": "MB", "goal": f"< {RSS_GOAL_MB:.0f} MB",
                         "ok": rss_mb < RSS_GOAL_MB}
    return figures


if __name__ == "__main__":
    main()
