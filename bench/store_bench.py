"""How fast the log store answers the logs page: SQLite on 1,000,000 rows, Mongo for contrast.

`python -m bench.store_bench` (or `python -m bench store`). Prints the insert rate and the
median latency of a text search, a level+date filter and a keyset page deep in the table,
each against the goal of < 20 ms on SQLite, and the same queries on mongomock (smaller set,
said so) and on TEST_MONGO_URI when set, as ratios to SQLite. Returns the figures.
"""
from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from store import Store, open_store
from store.common import encode_cursor

SQLITE_ROWS = 1_000_000
MONGO_ROWS = 100_000
BATCH = 1_000
GOAL_MS = 20.0
YEAR_S = 365 * 24 * 3600
START_TS = 1_700_000_000.0

LEVELS = (("DEBUG", 8), ("INFO", 70), ("WARNING", 14), ("ERROR", 6), ("CRITICAL", 2))
LOGGERS = ("executor", "live_strategy", "broker", "token_refresh", "views.trading", "auth",
           "alerts", "store.sqlite")
SYMBOLS = ("RELIANCE", "TCS", "HDFCBANK", "INFY", "ICICIBANK", "HINDUNILVR", "SBIN", "BHARTIARTL",
           "ITC", "KOTAKBANK", "LT", "AXISBANK", "ASIANPAINT", "MARUTI", "SUNPHARMA", "TITAN",
           "ULTRACEMCO", "BAJFINANCE", "WIPRO", "NESTLEIND", "ONGC", "NTPC", "POWERGRID", "TATASTEEL")
WORDS = ("order", "placed", "filled", "rejected", "cancelled", "pending", "quote", "price",
         "token", "refresh", "expired", "valid", "holding", "position", "reconcile", "average",
         "down", "exit", "entry", "candidate", "moving", "deviation", "threshold", "skipped",
         "run", "started", "finished", "lock", "acquired", "released", "broker", "timeout",
         "retry", "backoff", "rate", "limit", "history", "candles", "cached", "fetched", "market",
         "closed", "open", "session", "login", "user", "alert", "sent", "telegram", "funds",
         "insufficient", "qty", "buy", "sell", "tag", "status", "traded", "partial", "summary")
SEARCH_TEXT = "rejected ord"  # two words, the last as a prefix, as typed in the search box
COMMON_TEXT = "order"         # one of the most frequent words: the worst case for word search


def log_rows(count: int, seed: int = 7) -> Iterator[list[dict[str, Any]]]:
    """Batches of realistic log rows: chronological over a year, ~12 words, runs of a day."""
    rng = random.Random(seed)
    levels, weights = zip(*LEVELS, strict=True)
    step = YEAR_S / count
    for start in range(0, count, BATCH):
        batch = []
        for i in range(start, min(start + BATCH, count)):
            ts = START_TS + i * step + rng.random() * step
            words = rng.choices(WORDS, k=10) + [f"NSE:{rng.choice(SYMBOLS)}-EQ", str(i % 977)]
            rng.shuffle(words)
            day = int(ts // 86400)
            batch.append({"ts": ts, "level": rng.choices(levels, weights)[0],
                          "logger": rng.choice(LOGGERS), "message": " ".join(words),
                          "run_id": f"run-{day}" if rng.random() < 0.6 else None,
                          "extra": {"attempt": i % 3} if i % 10 == 0 else None})
        yield batch


def fill(store: Store, count: int) -> float:
    """Insert `count` rows in batches; rows per second."""
    started = time.perf_counter()
    for batch in log_rows(count):
        store.insert_logs(batch)
    return count / (time.perf_counter() - started)


def median_ms(query: Callable[[], Any], repeats: int) -> float:
    """Median wall time of `query` in milliseconds, after one warm-up call."""
    query()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        query()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def queries(store: Store) -> dict[str, Callable[[], Any]]:
    """The logs page's queries on a table of rows spread over a year."""
    month_start = START_TS + YEAR_S * 0.5
    deep = store.search_logs(until=START_TS + YEAR_S * 0.1, limit=1).rows[0]
    cursor = encode_cursor(deep["ts"], deep["id"])
    return {
        "text_search": lambda: store.search_logs(text=SEARCH_TEXT, limit=50),
        "common_word_search": lambda: store.search_logs(text=COMMON_TEXT, limit=50),
        "level_date_filter": lambda: store.search_logs(level="ERROR", since=month_start,
                                                       until=month_start + 30 * 86400, limit=50),
        "text_level_date": lambda: store.search_logs(text="rejected", level="ERROR",
                                                     since=month_start,
                                                     until=month_start + 30 * 86400, limit=50),
        "deep_keyset_page": lambda: store.search_logs(before=cursor, limit=50),
        "newest_page": lambda: store.search_logs(limit=50),
    }


def measure(store: Store, repeats: int) -> dict[str, float]:
    """Median ms of every query on a filled store."""
    return {name: median_ms(query, repeats) for name, query in queries(store).items()}


def run_sqlite(folder: Path) -> tuple[float, dict[str, float]]:
    store = open_store(f"sqlite:///{folder}/bench.db")
    try:
        rate = fill(store, SQLITE_ROWS)
        return rate, measure(store, repeats=21)
    finally:
        store.close()


def run_mongo(url: str, database: str) -> tuple[float, dict[str, float]]:
    store = open_store(url, database)
    try:
        rate = fill(store, MONGO_ROWS)
        return rate, measure(store, repeats=5)
    finally:
        store.close()


def report(backend: str, label: str, rate: float, figures: dict[str, float],
           sqlite: dict[str, float] | None) -> dict[str, Any]:
    """Print one backend's figures (against the goal on SQLite, as ratios elsewhere) and
    return them flat, keyed `<backend>_<figure>`."""
    print(f"{label}: insert {rate:,.0f} rows/s")
    out: dict[str, Any] = {f"{backend}_insert_rate": {"value": rate, "unit": "rows/s"}}
    for name, ms in figures.items():
        key = f"{backend}_{name}_ms"
        if sqlite is None:
            ok = ms < GOAL_MS
            print(f"  {name:<20} {ms:8.2f} ms   goal < {GOAL_MS:.0f} ms: {'pass' if ok else 'FAIL'}")
            out[key] = {"value": ms, "unit": "ms", "goal": f"< {GOAL_MS:.0f} ms", "ok": ok}
        else:
            ratio = ms / sqlite[name]
            print(f"  {name:<20} {ms:8.2f} ms   {ratio:7.1f}x SQLite's")
            out[key] = {"value": ms, "unit": "ms"}
            out[f"{backend}_{name}_vs_sqlite"] = round(ratio, 2)
    return out


def main() -> dict[str, Any]:
    """Run every backend available here and return the figures for artifacts/bench.json."""
    results: dict[str, Any] = {"sqlite_rows": SQLITE_ROWS, "mongo_rows": MONGO_ROWS}
    with tempfile.TemporaryDirectory() as folder:
        rate, sqlite = run_sqlite(Path(folder))
    results |= report("sqlite", f"SQLite, {SQLITE_ROWS:,} rows", rate, sqlite, None)
    rate, mock = run_mongo("mongomock://", "bench")
    results |= report("mongomock", f"mongomock (in-memory, pure Python), {MONGO_ROWS:,} rows",
                      rate, mock, sqlite)
    mongo_uri = os.environ.get("TEST_MONGO_URI")
    if mongo_uri:
        database = f"nifty_bench_{uuid.uuid4().hex[:8]}"
        try:
            rate, real = run_mongo(mongo_uri, database)
        finally:
            with MongoClient(mongo_uri, serverSelectionTimeoutMS=3000) as client:
                client.drop_database(database)
        results |= report("mongodb_wire", f"MongoDB-wire server, {MONGO_ROWS:,} rows", rate,
                          real, sqlite)
    return results


if __name__ == "__main__":
    main()
