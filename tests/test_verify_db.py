"""verify_db.py as its user runs it: tables or JSON of what is stored, never a secret."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import trade_books
from cli import EXIT_BROKEN_PIPE
from config import PROJECT_DIR
from store import open_store

T0 = 1_732_600_000.0  # 2024-11-26 11:16:40 IST


def run_cli(*args: str, env: dict[str, str], stdout: int = subprocess.PIPE
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(Path(PROJECT_DIR, "verify_db.py")), *args],
                          env={"PATH": "/usr/bin:/bin", **env}, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=60, cwd=PROJECT_DIR)


@pytest.fixture
def db_env(tmp_path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path}/shop.db"}


@pytest.fixture
def filled(db_env) -> dict[str, str]:
    """A store with a trade, logs, a token and a user in it."""
    store = open_store(db_env["DATABASE_URL"])
    store.record_trade({"trade_id": "T1", "run_id": "run-1", "order_tag": "R1SBINB",
                        "symbol": "NSE:SBIN-EQ", "side": "BUY", "qty": 12, "price": 801.5,
                        "ts": T0, "pnl": None, "source": "bot"},
                       {"qty": 12, "avg_price": 801.5, "last_buy_price": 801.5,
                        "opened_at": T0, "updated_at": T0})
    store.insert_logs([{"ts": T0 + i, "level": "INFO", "logger": "executor",
                        "message": f"step {i}\nsecond line", "run_id": "run-1", "extra": None}
                       for i in range(3)])
    store.save_token({"client_id": "XB1-100", "access_token": "gAAAA-encrypted-access",
                      "refresh_token": "gAAAA-encrypted-refresh", "access_expires_at": T0})
    store.create_user("owner", "scrypt:32768:8:1$salt$hashhashhash")
    store.update_user("owner", totp_secret="JBSWY3DPEHPK3PXP")
    store.close()
    return db_env


def test_a_database_that_does_not_exist_is_not_made(tmp_path):
    """A mistyped DATABASE_URL: no empty database, and no new keys beside it."""
    typo = tmp_path / "dta" / "shop.db"
    result = run_cli(env={"DATABASE_URL": f"sqlite:///{typo}"})
    assert (result.returncode, result.stderr) == (
        1, f"verify_db: no database at {typo} (DATABASE_URL): check the path; the web app "
           f"creates it on its first start\n")
    assert not typo.parent.exists()


def test_an_empty_database_prints_empty_tables_with_headers(db_env):
    open_store(db_env["DATABASE_URL"]).close()  # as the web app's first start makes it
    result = run_cli(env=db_env)
    assert result.returncode == 0, result.stderr
    assert "== trades: 0 rows" in result.stdout and "== logs: 0 rows" in result.stdout
    for header in ("symbol", "side", "qty", "price", "level", "message"):
        assert header in result.stdout


def test_default_shows_latest_trades_and_logs_in_ist(filled):
    result = run_cli("--limit", "2", env=filled)
    assert result.returncode == 0, result.stderr
    assert "2024-11-26 11:16:40" in result.stdout and "NSE:SBIN-EQ" in result.stdout
    assert "step 2" in result.stdout and "step 1" in result.stdout
    assert "step 0" not in result.stdout and "second line" not in result.stdout


def test_a_listing_cut_short_by_head_ends_quietly(filled, closed_pipe):
    result = run_cli(env=filled, stdout=closed_pipe)
    assert (result.returncode, result.stderr) == (EXIT_BROKEN_PIPE, "")


def test_json_output(filled):
    result = run_cli("--json", "--collection", "trades", env=filled)
    data = json.loads(result.stdout)
    assert list(data) == ["trades"]
    assert data["trades"][0]["trade_id"] == "T1" and data["trades"][0]["ts"] == T0


@pytest.mark.parametrize("args", [["--collection", "fyers_tokens"], ["--collection", "users"],
                                  ["--collection", "fyers_tokens", "--json"],
                                  ["--collection", "users", "--json"]])
def test_tokens_and_password_hashes_are_never_printed(filled, args):
    result = run_cli(*args, env=filled)
    assert result.returncode == 0, result.stderr
    assert "XB1-100" in result.stdout or "owner" in result.stdout
    for secret in ("encrypted-access", "encrypted-refresh", "hashhashhash", "JBSWY3DPEHPK3PXP"):
        assert secret not in result.stdout


@pytest.mark.parametrize("collection", ["runs", "orders", "positions"])
def test_every_collection_prints(filled, collection):
    result = run_cli("--collection", collection, env=filled)
    assert result.returncode == 0, result.stderr
    assert f"== {collection}:" in result.stdout


def test_an_unwritable_sqlite_path_exits_1_with_one_line(tmp_path):
    (tmp_path / "blocked").write_text("a file, not a folder")
    keys = {"SECRET_KEY": "s", "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    result = run_cli(env={"DATABASE_URL": f"sqlite:///{tmp_path}/blocked/shop.db", **keys})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "blocked" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_key_file_that_cannot_be_read_exits_2_with_one_line(tmp_path):
    open_store(f"sqlite:///{tmp_path}/data/shop.db").close()
    (tmp_path / "data" / ".secret_key").mkdir()  # where the key file should be
    result = run_cli(env={"DATABASE_URL": f"sqlite:///{tmp_path}/data/shop.db"})
    assert result.returncode == 2
    assert result.stderr == (f"config error: cannot read the key file {tmp_path}/data/"
                             ".secret_key: Is a directory\n")


def test_an_unreachable_mongodb_exits_1_with_one_line():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(env={"MONGO_URI": f"mongodb://127.0.0.1:{port}/"})
    assert result.returncode == 1
    assert result.stderr.startswith("verify_db: cannot read the store")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_an_unknown_collection_is_refused(db_env):
    result = run_cli("--collection", "passwords", env=db_env)
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.parametrize("limit", ["999999999999999999999", "0", "-3", "lots"])
def test_a_bad_limit_is_one_line(db_env, limit):
    result = run_cli("--limit", limit, env=db_env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"python verify_db.py: error: argument --limit: {limit!r} is "
                                    "not a whole number from 1 to 1000000 (see --help)")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def sell(trade_id: str, ts: float, qty: int, price: float, pnl: float) -> dict:
    return {"trade_id": trade_id, "run_id": "run-2", "order_tag": None, "symbol": "NSE:SBIN-EQ",
            "side": "SELL", "qty": qty, "price": price, "ts": ts, "pnl": pnl, "source": "bot"}


LIVE = {"FYERS_MODE": "live", "FYERS_CLIENT_ID": "AB12CD34EF-100", "FYERS_SECRET_KEY": "s3cr3t"}


@pytest.mark.parametrize(("mode", "book"), [({}, "sandbox"), (LIVE, "real-money")])
def test_trades_as_csv_for_the_books(filled, mode, book):
    """The book other than paper is named as the pages name its runs: the sandbox's in
    sandbox mode (no real money there), real money in live mode."""
    store = open_store(filled["DATABASE_URL"])
    store.record_trade(sell("S1", T0 + 40 * 86400, 12, 850.25, 585.0), None)
    store.close()
    result = run_cli("--collection", "trades", "--csv", env={**filled, **mode})
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "book,symbol,qty,buy_date,sell_date,holding_days,avg_buy_price,sell_price,buy_value,"
        "sell_value,pnl,source,trade_id\n"
        f"{book},NSE:SBIN-EQ,12,2024-11-26,2025-01-05,40,801.50,850.25,9618.00,10203.00,585.00,"
        "bot,S1\n")


def test_paper_rows_are_labelled_in_tables_and_csv(filled):
    """A paper trade of the same symbol is printed as paper, never merged into the real book."""
    paper = open_store(filled["DATABASE_URL"]).for_book("paper")
    paper.record_trade({**sell("P261126000001", T0, 5, 810.0, None), "side": "BUY", "pnl": None},
                       {"qty": 5, "avg_price": 810.0, "last_buy_price": 810.0, "opened_at": T0,
                        "updated_at": T0})
    paper.record_trade(sell("P261127000002", T0 + 86400, 5, 820.0, 50.0), None)
    paper.close()
    table = run_cli("--collection", "trades", env=filled)
    assert table.returncode == 0, table.stderr
    lines = [line.split() for line in table.stdout.splitlines()[3:]]
    assert sorted((line[0], line[-1]) for line in lines) == [
        ("paper", "P261126000001"), ("paper", "P261127000002"), ("sandbox", "T1")]
    only_real = run_cli("--collection", "positions", "--book", "real", env=filled).stdout
    assert "sandbox" in only_real and "paper" not in only_real
    rows = run_cli("--collection", "trades", "--csv", env=filled).stdout.splitlines()
    assert rows[1:] == ["paper,NSE:SBIN-EQ,5,2024-11-26,2024-11-27,1,810.00,820.00,4050.00,"
                        "4100.00,50.00,bot,P261127000002"]


def test_csv_needs_the_trades_collection(db_env):
    result = run_cli("--csv", env=db_env)
    assert result.returncode == 2 and result.stderr == (
        "python verify_db.py: error: --csv needs --collection trades (see --help)\n")


def test_both_backends_print_the_same(tmp_path):
    """The same records, stored by SQLite and by MongoDB (dates and paise), print alike."""
    import verify_db

    sqlite = open_store(f"sqlite:///{tmp_path}/shop.db")
    mongo = open_store(os.environ.get("TEST_MONGO_URI") or "mongomock://",
                       f"nifty_verify_{uuid.uuid4().hex[:12]}")
    try:
        for store in (sqlite, mongo):
            store.record_trade({"trade_id": "T1", "run_id": "run-1", "order_tag": "R1",
                                "symbol": "NSE:SBIN-EQ", "side": "BUY", "qty": 3,
                                "price": 1675.8699999999997, "ts": T0 + 0.25, "pnl": None,
                                "source": "bot"},
                               {"qty": 3, "avg_price": 1675.87, "last_buy_price": 1675.87,
                                "opened_at": T0, "updated_at": T0})
            store.record_trade(sell("S1", T0 + 86400, 3, 1700.1, 72.69), None)
            store.create_run({"run_id": "run-1", "trigger": "scheduled", "status": "succeeded",
                              "started_at": T0, "finished_at": T0 + 12.5, "dry_run": False})
            store.insert_logs([{"ts": T0 + 1, "level": "INFO", "logger": "executor",
                                "message": "bought", "run_id": "run-1", "extra": None}])
        printed = [[verify_db.render_table(name, verify_db.FETCH[name](store, 20))
                    for name in ("trades", "runs", "logs", "positions")]
                   + [trade_books.sales_csv(store.list_trades())] for store in (sqlite, mongo)]
        assert printed[0] == printed[1]
        assert "1675.87" in printed[0][0] and "1675.8699" not in printed[0][0]
    finally:
        sqlite.close()
        if os.environ.get("TEST_MONGO_URI"):
            mongo._client.drop_database(mongo._db.name)
        mongo.close()


def test_log_lines_of_a_run_say_its_book(tmp_path):
    """The logs are shared by the books: a paper run's "filled: BUY …" says paper."""
    import verify_db

    store = open_store(f"sqlite:///{tmp_path}/shop.db")
    try:
        for book, run_id in (("real", "run-real"), ("paper", "run-paper")):
            store.for_book(book).create_run({"run_id": run_id, "trigger": "manual",
                                             "status": "succeeded", "started_at": T0,
                                             "finished_at": T0 + 1, "dry_run": False})
        store.insert_logs([{"ts": T0 + n, "level": "INFO", "logger": "executor",
                            "message": message, "run_id": run_id, "extra": None}
                           for n, (run_id, message) in enumerate((
                               ("run-real", "filled: BUY 5 NSE:SBIN-EQ"),
                               ("run-paper", "filled: BUY 24 NSE:COALINDIA-EQ"),
                               (None, "web app started")))])
        booked = {row["message"]: row["book"] for row in verify_db.FETCH["logs"](store, 20)}
        assert booked == {"filled: BUY 5 NSE:SBIN-EQ": "real",
                          "filled: BUY 24 NSE:COALINDIA-EQ": "paper", "web app started": ""}
        paper_only = verify_db.FETCH["logs"](store, 20, ("paper",))  # --book paper
        assert [row["message"] for row in paper_only] == ["web app started",
                                                          "filled: BUY 24 NSE:COALINDIA-EQ"]
        # --limit counts the lines shown: the other book's are skipped, not counted
        store.insert_logs([{"ts": T0 + 10 + n, "level": "INFO", "logger": "executor",
                            "message": f"real line {n}", "run_id": "run-real", "extra": None}
                           for n in range(5)])
        assert [row["message"] for row in verify_db.FETCH["logs"](store, 2, ("paper",))] == [
            "web app started", "filled: BUY 24 NSE:COALINDIA-EQ"]
    finally:
        store.close()
