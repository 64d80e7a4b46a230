"""What only a real MongoDB-wire server shows: a server dying mid-run, processes racing for the
run lock, and unique keys under concurrent writers.

Runs when TEST_MONGO_URI names a server (.ci/run starts FerretDB with .ci/mongo-server.sh).
The outage tests stop a private FerretDB of their own, never the shared one.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from config import PROJECT_DIR
from executor import LOCK_NAME
from store import DuplicateKey, Store, StoreError, open_store

MONGO_URI = os.environ.get("TEST_MONGO_URI", "")
SERVER_SCRIPT = PROJECT_DIR / ".ci" / "mongo-server.sh"
SCRIPT_TIMEOUT_S = 120  # the binary is cached by the run that started the shared server
T0 = 1_732_600_000.0
WRITERS = 8

pytestmark = pytest.mark.skipif(
    not MONGO_URI, reason="needs TEST_MONGO_URI, a MongoDB-wire server (.ci/mongo-server.sh)")


def trade(trade_id: str, symbol: str = "NSE:SBIN-EQ") -> dict[str, Any]:
    return {"trade_id": trade_id, "run_id": "run-1", "order_tag": f"TAG{trade_id}",
            "symbol": symbol, "side": "BUY", "qty": 10, "price": 800.0, "ts": T0, "pnl": None,
            "source": "bot"}


def position(qty: int = 10) -> dict[str, Any]:
    return {"qty": qty, "avg_price": 800.0, "last_buy_price": 800.0, "opened_at": T0,
            "updated_at": T0}


def run(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "trigger": "manual", "status": "running", "started_at": T0,
            "finished_at": None, "summary": "", "error": None, "dry_run": False}


def candles(first_day: int, count: int) -> list[dict[str, Any]]:
    """`count` daily candles from day `first_day` of 2020 on (dates need not be trading days)."""
    start = date(2020, 1, 1) + timedelta(days=first_day)
    return [{"date": (start + timedelta(days=i)).isoformat(), "open": 100.0, "high": 101.0,
             "low": 99.0, "close": 100.0 + i, "volume": 1000} for i in range(count)]


# --- a private server that a test may crash ---------------------------------------------------
@dataclass
class PrivateServer:
    """A FerretDB of one test's own, on a fixed port and data directory so it can restart."""

    directory: Path
    port: int

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        """Start it (again, on the same data) through the CI script; it waits until it answers."""
        try:
            done = subprocess.run(["bash", str(SERVER_SCRIPT), "--background", "--dir",
                                   str(self.directory), "--port", str(self.port)],
                                  capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"mongo-server.sh took over {SCRIPT_TIMEOUT_S} s (a first build?"
                               " run `make mongo-server` once)") from exc
        if done.returncode != 0:
            raise RuntimeError(f"mongo-server.sh failed: {done.stderr.strip()}")

    def send_signal(self, signum: int) -> None:
        """Send a signal to the server process (its pid file is written by the script)."""
        os.kill(int((self.directory / "ferretdb.pid").read_text()), signum)

    def crash(self) -> None:
        """Kill it as a crash would, and wait until its port refuses connections."""
        self.send_signal(signal.SIGKILL)
        for _ in range(100):
            if not self.listening():
                return
            time.sleep(0.1)
        raise RuntimeError("the killed FerretDB still accepts connections")

    def listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[PrivateServer]:
    """A running private FerretDB; skipped where the script cannot start one (no Go)."""
    server = PrivateServer(tmp_path / "ferretdb", free_port())
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"no private FerretDB to crash: {exc}")
    yield server
    if server.listening():
        server.send_signal(signal.SIGTERM)


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database name on the shared server, dropped afterwards."""
    name = f"nifty_wire_{uuid.uuid4().hex[:12]}"
    yield name
    with MongoClient(MONGO_URI, serverSelectionTimeoutMS=3000) as client:
        client.drop_database(name)


@pytest.fixture
def wire_store(database: str) -> Iterator[Store]:
    opened = open_store(MONGO_URI, database)
    yield opened
    opened.close()


# --- the server stops mid-run -----------------------------------------------------------------
def test_a_crashed_server_is_a_clear_error_and_the_same_store_reconnects(private_server):
    store = open_store(private_server.uri, "nifty_shop")
    store.create_run(run("before"))
    private_server.crash()
    with pytest.raises(StoreError, match=rf"MongoDB store: .*127\.0\.0\.1:{private_server.port}"):
        store.create_run(run("during"))
    with pytest.raises(StoreError, match="MongoDB store"):
        store.acquire_lock(LOCK_NAME, "during", ttl_s=60)
    private_server.start()
    store.ping()
    assert store.get_run("before")["status"] == "running"
    assert store.get_run("during") is None
    assert store.acquire_lock(LOCK_NAME, "after", ttl_s=60)
    store.close()


def test_a_trade_refused_by_a_dead_server_is_not_half_written_and_can_be_retried(
        private_server):
    store = open_store(private_server.uri, "nifty_shop")
    private_server.crash()
    with pytest.raises(StoreError):
        store.record_trade(trade("t1"), position())
    private_server.start()
    assert store.list_trades() == [] and store.get_positions() == []
    assert store.record_trade(trade("t1"), position()) is True
    assert [p["qty"] for p in store.get_positions()] == [10]
    store.close()


def test_candle_writes_cut_off_by_a_crash_are_whole_after_a_retry(private_server):
    """Whether the crash lands inside a write or between two, retrying the failed one restores
    every batch in full, and the batches acknowledged before it survive."""
    store = open_store(private_server.uri, "nifty_shop")
    batches = {f"NSE:S{i}-EQ": candles(i, 400) for i in range(200)}
    first_done = threading.Event()
    failed: list[str] = []

    def write_until_refused() -> None:
        for symbol, batch in batches.items():
            try:
                store.upsert_candles(symbol, batch)
            except StoreError:
                failed.append(symbol)
                return
            first_done.set()

    writer = threading.Thread(target=write_until_refused)
    writer.start()
    assert first_done.wait(60)
    private_server.crash()
    writer.join(60)
    assert len(failed) == 1, "the writer met no error from the crashed server"
    private_server.start()
    store.upsert_candles(failed[0], batches[failed[0]])
    written = list(batches)[:list(batches).index(failed[0]) + 1]
    for symbol in written:
        assert [c["date"] for c in store.get_candles(symbol)] == [
            c["date"] for c in batches[symbol]]
    assert set(store.last_candle_dates()) == set(written)
    store.close()


# --- processes racing for the run lock --------------------------------------------------------
LOCK_CHILD = """
import sys
from store import open_store
store = open_store(sys.argv[1], sys.argv[2])
print("ready", flush=True)
for line in sys.stdin:
    print(store.acquire_lock(line.strip(), sys.argv[3], ttl_s=60), flush=True)
"""


def test_processes_racing_for_the_run_lock_have_exactly_one_winner(database, wire_store):
    """Each process is connected before the start signal, so every round is a real race."""
    owners = [f"proc{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", LOCK_CHILD, MONGO_URI, database, owner],
                              cwd=PROJECT_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for owner in owners]
    try:
        assert [proc.stdout.readline().strip() for proc in procs] == ["ready"] * len(procs)
        for round_no in range(20):
            name = f"{LOCK_NAME}-{round_no}"
            for proc in procs:
                proc.stdin.write(f"{name}\n")
                proc.stdin.flush()
            won = [proc.stdout.readline().strip() == "True" for proc in procs]
            assert won.count(True) == 1, f"round {round_no}: {won}"
            winner = owners[won.index(True)]
            assert [wire_store.refresh_lock(name, owner, ttl_s=60) for owner in owners] == [
                owner == winner for owner in owners]
    finally:
        for proc in procs:
            proc.stdin.close()
            proc.wait(30)


# --- unique keys under concurrent writers -----------------------------------------------------
def race(attempt: Callable[[str], Any], keys: list[str]) -> dict[str, list[Any]]:
    """WRITERS threads try every key at the same moment; each attempt's result (or the
    exception it raised), per key."""
    barrier = threading.Barrier(WRITERS)

    def writer(_: int) -> list[Any]:
        outcomes = []
        for key in keys:
            barrier.wait(30)
            try:
                outcomes.append(attempt(key))
            except Exception as exc:  # the outcome under test
                outcomes.append(exc)
        return outcomes

    with ThreadPoolExecutor(WRITERS) as pool:
        per_writer = list(pool.map(writer, range(WRITERS)))
    return {key: [outcomes[i] for outcomes in per_writer] for i, key in enumerate(keys)}


KEYS = [f"k{i}" for i in range(5)]


def test_concurrent_inserts_of_a_key_let_exactly_one_through(wire_store):
    users = race(lambda key: wire_store.create_user(key, "hash"), KEYS)
    runs = race(lambda key: wire_store.create_run(run(key)), KEYS)
    trades = race(lambda key: wire_store.record_trade(trade(key, f"NSE:{key}-EQ"), position()),
                  KEYS)
    for outcomes in [*users.values(), *runs.values()]:
        assert outcomes.count(None) == 1
        assert all(isinstance(o, DuplicateKey) for o in outcomes if o is not None), outcomes
    for outcomes in trades.values():
        assert sorted(outcomes, key=str) == [False] * (WRITERS - 1) + [True], outcomes
    assert wire_store.count_users() == len(KEYS)
    assert len(wire_store.list_runs()) == len(KEYS)
    assert len(wire_store.list_trades()) == len(KEYS) == len(wire_store.get_positions())


def test_concurrent_upserts_of_a_key_all_succeed_into_one_record(wire_store):
    def order(tag: str) -> None:
        wire_store.upsert_order({"tag": tag, "run_id": "run-1", "symbol": "NSE:SBIN-EQ",
                                 "side": "BUY", "qty": 10, "status": "placed",
                                 "created_at": T0, "updated_at": time.time()})

    outcomes = {
        **race(order, KEYS),
        **race(lambda key: wire_store.save_token({"client_id": key, "updated_at": T0}),
               [f"app-{key}" for key in KEYS]),
        **race(lambda key: wire_store.set_setting(key, {"v": 1}), [f"set-{key}" for key in KEYS]),
        **race(lambda key: wire_store.upsert_candles(key, candles(0, 30)),
               [f"NSE:{key}-EQ" for key in KEYS]),
        **race(lambda key: wire_store.record_trade(trade(uuid.uuid4().hex, key), position()),
               [f"NSE:P{key}-EQ" for key in KEYS]),
    }
    failures = {key: [o for o in results if isinstance(o, Exception)]
                for key, results in outcomes.items()}
    assert failures == {key: [] for key in outcomes}
    assert len(wire_store.list_orders()) == len(KEYS)
    assert all(wire_store.get_token(f"app-{key}") is not None for key in KEYS)
    assert [len(wire_store.get_candles(f"NSE:{key}-EQ")) for key in KEYS] == [30] * len(KEYS)
    assert [p["symbol"] for p in wire_store.get_positions()] == [f"NSE:P{key}-EQ" for key in KEYS]
