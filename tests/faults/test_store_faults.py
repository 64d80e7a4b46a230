"""The store when its disk or server fails: a clear StoreError, never a half-written record,
and every CLI says so in one line with a non-zero exit."""
from __future__ import annotations

import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import PROJECT_DIR
from store import StoreError, open_store
from store.sqlite import SQLiteStore

SMALL_DISK_BYTES = 512 * 1024
SBIN = "NSE:SBIN-EQ"
CLIS = (["executor.py", "--force"], ["token_refresh.py", "status"], ["verify_db.py"],
        ["run_prod.py", "--port", "0"])


def bought(store, trade_id: str = "B1") -> None:
    """Record a buy of 10 SBIN: a trade and an open position."""
    store.record_trade({"trade_id": trade_id, "run_id": "r1", "order_tag": trade_id,
                        "symbol": SBIN, "side": "BUY", "qty": 10, "price": 800.0,
                        "ts": time.time(), "pnl": None, "source": "bot"},
                       {"qty": 10, "avg_price": 800.0, "last_buy_price": 800.0,
                        "opened_at": time.time(), "updated_at": time.time()})


def sell_all(store, run_id: str = "r2") -> bool:
    """Record the sale of the whole SBIN position: a trade, and the position removed."""
    return store.record_trade({"trade_id": "S1", "run_id": run_id, "order_tag": "S1",
                               "symbol": SBIN, "side": "SELL", "qty": 10, "price": 850.0,
                               "ts": time.time(), "pnl": 500.0, "source": "bot"}, None)


def assert_sale_not_recorded(store) -> None:
    """The refused sale left no trace: the buy alone, the position whole."""
    assert [t["trade_id"] for t in store.list_trades()] == ["B1"]
    assert [(p["symbol"], p["qty"]) for p in store.get_positions()] == [(SBIN, 10)]


def test_a_file_locked_by_another_writer_refuses_the_trade_whole(tmp_path):
    path = tmp_path / "shop.db"
    store = SQLiteStore(path, busy_timeout_s=0.2)
    bought(store)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # held past the busy timeout
    try:
        with pytest.raises(StoreError, match=rf"{path.name}.*locked"):
            sell_all(store)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert_sale_not_recorded(store)
    assert sell_all(store) and store.get_positions() == []
    store.close()


def _mount_tmpfs(folder: Path) -> bool:
    """Mount a tmpfs of SMALL_DISK_BYTES on `folder` when this user may (root, mount works)."""
    if os.geteuid() != 0:
        return False
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK_BYTES}", "tmpfs",
                              str(folder)], capture_output=True)
    return mounted.returncode == 0


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A folder with about 512 KB of room: a tiny tmpfs when one can be mounted, else this
    process's file-size limit (RLIMIT_FSIZE) lowered for the test."""
    folder = tmp_path / "small"
    folder.mkdir()
    if _mount_tmpfs(folder):
        try:
            yield folder
        finally:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (SMALL_DISK_BYTES, hard))
    try:
        yield folder
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def fill_with_logs(store) -> StoreError:
    """Append batches of long log rows until the disk is full; the error raised then."""
    row = {"level": "INFO", "logger": "filler", "run_id": None, "extra": None,
           "message": "a long log line " * 100}
    for _ in range(10_000):
        try:
            store.insert_logs([{**row, "ts": time.time()}] * 20)
        except StoreError as exc:
            return exc
    pytest.fail(f"the logs fitted on a {SMALL_DISK_BYTES}-byte disk")


def test_a_full_disk_refuses_the_trade_whole_with_a_clear_error(small_disk):
    url = f"sqlite:///{small_disk}/shop.db"
    store = open_store(url)
    bought(store)
    full = fill_with_logs(store)
    assert "shop.db" in str(full) and re.search("full|I/O", str(full))
    # A sale bigger than the room left: both statements run, then COMMIT cannot be written.
    with pytest.raises(StoreError, match="full|I/O"):
        sell_all(store, run_id="r" * (SMALL_DISK_BYTES // 2))
    assert_sale_not_recorded(store)
    reopened = open_store(url)  # what is on the disk, not in this connection's cache
    assert_sale_not_recorded(reopened)
    reopened.close()
    store.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_mongodb_is_one_line_from_every_cli(config):
    url = f"mongodb://127.0.0.1:{_closed_port()}/"
    with pytest.raises(StoreError, match="MongoDB store.*Connection refused"):
        open_store(url)
    env = {**os.environ, "MONGO_URI": url, "SECRET_KEY": config.secret_key,
           "TOKEN_ENCRYPTION_KEY": config.token_encryption_key}
    children = [subprocess.Popen([sys.executable, *cli], cwd=PROJECT_DIR, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for cli in CLIS]
    for cli, child in zip(CLIS, children, strict=True):
        out, err = child.communicate(timeout=60)
        assert child.returncode == 1, (cli, out, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (cli, err)
        assert "MongoDB store" in err, (cli, err)
