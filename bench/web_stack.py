"""The web app as a user meets it, for the page, load and Lighthouse benchmarks: a store seeded
with history, the Fyers sandbox (quotes for the live prices), and run_prod.py (waitress) as a
real process on loopback, logged in through the real form.
"""
from __future__ import annotations

import multiprocessing
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil
import requests
from cryptography.fernet import Fernet
from werkzeug.security import generate_password_hash

import india_time
import token_refresh
from broker import Tokens
from config import PROJECT_DIR, Config
from devstack import free_port, wait_for_http
from fyers_sandbox.testing import SESSION_MORNING, SandboxHandle, start_sandbox
from store import open_store
from store.common import encode_cursor
from universe import nifty50_symbols

USER, PASSWORD = "bench", "bench-password"
DAYS = 1000  # the seeded history spans this many days back from now
BATCH = 20_000
WORDS = ("order", "placed", "filled", "cancelled", "quote", "token", "refresh", "bought",
         "sold", "average", "entry", "exit", "candles", "fetched", "reconcile", "holding")
LEVELS = ("DEBUG", "INFO", "INFO", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Site:
    """A seeded workdir: its SQLite file, the settings every app process on it gets, and the
    counts it was seeded with."""

    workdir: Path
    env: dict[str, str]
    logs: int
    trades: int

    @property
    def database(self) -> Path:
        return self.workdir / "nifty_shop.db"


def seed(database_url: str, now: float, logs: int, trades: int) -> None:
    """Bulk-load runs, logs, trades, an open position in every symbol, their candles and the
    bench user through the store interface."""
    rng = random.Random(7)
    store = open_store(database_url)
    symbols = nifty50_symbols()
    runs = [f"run-{day:04d}" for day in range(DAYS)]
    for day, run_id in enumerate(runs):
        started = now - (DAYS - day) * 86400
        store.create_run({"run_id": run_id, "trigger": "scheduled", "status": "succeeded",
                          "started_at": started, "finished_at": started + 40,
                          "summary": "1 buy, 1 sell", "error": None, "dry_run": False})
    for first in range(0, logs, BATCH):
        store.insert_logs([{
            "ts": now - DAYS * 86400 + i * DAYS * 86400 / logs, "level": rng.choice(LEVELS),
            "logger": "executor", "run_id": runs[i * DAYS // logs], "extra": {},
            "message": " ".join(rng.choice(WORDS) for _ in range(6)) + f" {rng.choice(symbols)}",
        } for i in range(first, min(first + BATCH, logs))])
    for i in range(trades):
        side = "BUY" if i % 2 == 0 else "SELL"
        store.record_trade({
            "trade_id": f"t{i}", "run_id": runs[i * DAYS // trades], "order_tag": f"t{i}",
            "symbol": symbols[(i // 2) % len(symbols)], "side": side, "qty": 10,
            "price": 1000 + rng.uniform(-50, 50), "ts": now - DAYS * 86400 + i * DAYS * 86400 / trades,
            "pnl": rng.uniform(-300, 500) if side == "SELL" else None, "source": "bot"}, None)
    store.upsert_candles_of({symbol: [
        {"date": india_time.date_of(now - d * 86400), "open": 1000, "high": 1010, "low": 990,
         "close": 1000 + d, "volume": 1000} for d in range(1, 30)] for symbol in symbols})
    for symbol in symbols:
        store.record_trade({"trade_id": f"open-{symbol}", "run_id": runs[-1],
                            "order_tag": f"open-{symbol}", "symbol": symbol, "side": "BUY",
                            "qty": 5, "price": 990.0, "ts": now - 3600, "pnl": None,
                            "source": "bot"},
                           {"symbol": symbol, "qty": 5, "avg_price": 990.0,
                            "last_buy_price": 990.0, "opened_at": now - 3600,
                            "updated_at": now - 3600})
    store.create_user(USER, generate_password_hash(PASSWORD))
    store.close()


def seed_user(database_url: str, *_counts: float) -> None:
    """Only the bench user: the store a first start leaves."""
    store = open_store(database_url)
    store.create_user(USER, generate_password_hash(PASSWORD))
    store.close()


@contextmanager
def seeded_site(workdir: Path, logs: int, trades: int, users: int = 1,
                seed_store: bool = True) -> Iterator[Site]:
    """A workdir seeded in a child process (so its memory never counts), with the sandbox
    running and a Fyers login stored, so pages show live prices; `users` sessions may coexist.
    Without `seed_store` the store holds only the bench user (and the login)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
        "DATABASE_URL": f"sqlite:///{workdir}/nifty_shop.db", "SECRET_KEY": "bench-secret-key",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(), "FYERS_MODE": "sandbox",
        "MAX_SESSIONS_PER_USER": str(users + 1), "LOGIN_RATE_LIMIT": "1000 per minute",
    }
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(
        target=seed if seed_store else seed_user, args=(env["DATABASE_URL"], time.time(), logs,
                                                        trades))
    child.start()
    child.join()
    if child.exitcode:
        raise RuntimeError(f"seeding failed with exit code {child.exitcode}")
    print(f"seeded {logs:,} logs and {trades:,} trades in {time.perf_counter() - started:.0f} s",
          flush=True)
    with start_sandbox(start=SESSION_MORNING) as sandbox:
        env["FYERS_SANDBOX_URL"] = sandbox.url
        store_login(Config.from_mapping(env), sandbox)
        yield Site(workdir, env, logs, trades)


def store_login(config: Config, sandbox: SandboxHandle) -> None:
    """A Fyers login valid for a day, as the daily login leaves it."""
    access, refresh = sandbox.login()
    store = open_store(config.store_url)
    try:
        token_refresh.save_tokens(config, store, Tokens(access, refresh, time.time() + 86400),
                                  time.time() + 86400)
    finally:
        store.close()


@dataclass
class App:
    """run_prod.py (waitress) serving `site` on a loopback port."""

    url: str
    process: subprocess.Popen

    @property
    def memory(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def peak_rss_mb(self) -> float:
        """The process's highest resident memory so far (Linux's VmHWM)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def rss_mb(self) -> float:
        return self.memory.memory_info().rss / 2**20


@contextmanager
def running_app(site: Site, threads: int = 8) -> Iterator[App]:
    """run_prod.py on `site`, as `make run` starts it; stopped on exit."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "run_prod.py", "--host", "127.0.0.1", "--port", str(port),
         "--threads", str(threads)],
        cwd=PROJECT_DIR, env=site.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/login", process)
        yield App(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def logged_in(app_url: str) -> requests.Session:
    """A browser session of the bench user, logged in through the form (CSRF token read)."""
    session = requests.Session()
    form = session.get(f"{app_url}/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = session.post(f"{app_url}/login", timeout=10, data={
        "csrf_token": token, "username": USER, "password": PASSWORD})
    if response.status_code != 200 or "/login" in response.url:
        raise RuntimeError("the bench user could not log in")
    return session


def deep_cursor(site: Site, share: float) -> str:
    """The logs page's `before` cursor of the row `share` of the way down the newest-first
    table: what infinite scroll sends after that many rows."""
    with sqlite3.connect(site.database) as conn:
        ts, row_id = conn.execute("SELECT ts, id FROM logs ORDER BY id DESC LIMIT 1 OFFSET ?",
                                  (int(site.logs * share),)).fetchone()
    return encode_cursor(ts, row_id)


def page_paths(site: Site) -> dict[str, str]:
    """{label: path} of every page a user opens, the log searches and filters, and infinite
    scroll at 50 % and 90 % of the log table."""
    paths = {path: path for path in (
        "/", "/trading", "/strategy", "/strategy/runs/run-0500", "/strategy/run",
        "/strategy/runs/run-0500/live", "/strategy/status?run=run-0500", "/tokens", "/account",
        "/backtests", "/logs", "/logs?q=filled", "/logs?q=reconc&level=ERROR",
        "/logs?from=2026-01-01&to=2026-01-31")}
    for share in (0.5, 0.9):
        before = quote(deep_cursor(site, share))
        paths[f"/logs/rows at {share:.0%}"] = f"/logs/rows?before={before}"
        paths[f"/logs/rows?q=filled at {share:.0%}"] = f"/logs/rows?q=filled&before={before}"
    return paths
