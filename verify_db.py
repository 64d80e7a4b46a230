"""Print what the bot has stored: the latest trades and logs, or one collection.

    python verify_db.py [--collection NAME] [--limit N] [--json]
    python verify_db.py --collection trades --csv      every sale, for the owner's books

Runs, orders, trades and positions are printed for both books, real and paper (docs/paper.md),
each row labelled in a `book` column as the pages name it: "paper", else "sandbox" in sandbox
mode (no real money there), else "real-money" (`--book real|paper` picks one); a log line of a
run says that run's book (with `--book`, lines of the other book's runs are left out). Token values and password
hashes are never printed. Both store backends print the same. Exit status 1 when the store
cannot be reached, 2 when the configuration or an argument is invalid.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from tabulate import tabulate

import cli
import paper_mode
import trade_books
from config import Config, config_or_exit, load_config_or_exit
from portfolio import ist
from store import Store, StoreError, configured_store, refuse_missing_sqlite
from store.base import BOOK_COLLECTIONS, BOOKS

Rows = list[dict[str, Any]]

COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": ("book", "started_at", "run_id", "trigger", "status", "dry_run", "finished_at", "error"),
    "orders": ("book", "created_at", "tag", "symbol", "side", "qty", "status", "filled_qty",
               "traded_price", "broker_order_id", "message"),
    "trades": ("book", "ts", "symbol", "side", "qty", "price", "pnl", "source", "run_id", "trade_id"),
    "logs": ("book", "ts", "level", "logger", "run_id", "message"),
    "positions": ("book", "symbol", "qty", "avg_price", "last_buy_price", "opened_at", "updated_at"),
    "fyers_tokens": ("client_id", "access_token", "refresh_token", "access_expires_at",
                     "refresh_expires_at", "updated_at"),
    "users": ("username", "totp", "failed_logins", "locked_until", "created_at"),
}
DEFAULT_COLLECTIONS = ("trades", "logs")
MESSAGE_WIDTH = 100
MAX_LIMIT = 1_000_000


def _tokens(store: Store, limit: int) -> Rows:
    """Token records with each token replaced by whether one is stored."""
    return [{**token, "access_token": "stored" if token["access_token"] else "-",
             "refresh_token": "stored" if token["refresh_token"] else "-"}
            for token in store.list_tokens()[:limit]]


def _users(store: Store, limit: int) -> Rows:
    """Users without their password hash or TOTP secret."""
    return [{key: value for key, value in user.items()
             if key not in ("password_hash", "totp_secret")} | {"totp": bool(user["totp_secret"])}
            for user in store.list_users()[:limit]]


def _logs(store: Store, limit: int, books: tuple[str, ...] = BOOKS) -> Rows:
    """The newest log lines, each of a run labelled with that run's book, without those of
    runs of a book not in `books` (the logs are shared: a paper run's "filled: BUY …" must not
    read as a real fill)."""
    kept: Rows = []
    book_of: dict[str, str] = {}
    before = None
    while len(kept) < limit:  # page on: lines of the other book's runs are left out
        page = store.search_logs(limit=limit, before=before)
        for run_id in {row["run_id"] for row in page.rows if row.get("run_id")} - set(book_of):
            book_of[run_id] = found[0].book if (found := store.find_run(run_id)) else ""
        kept += [row for row in ({"book": book_of.get(row.get("run_id"), ""), **row}
                                 for row in page.rows) if not row["book"] or row["book"] in books]
        if page.next_before is None:
            break
        before = page.next_before
    return kept[:limit]


def _booked(fetch: Callable[[Store, int], Rows]) -> Callable[..., Rows]:
    """`fetch` run on each book's view of the store, every row labelled with its book."""
    def rows(store: Store, limit: int, books: tuple[str, ...] = BOOKS) -> Rows:
        return [{"book": book, **row} for book in books
                for row in fetch(store.for_book(book), limit)]
    return rows


FETCH: dict[str, Callable[[Store, int], Rows]] = {
    "runs": _booked(lambda store, limit: store.list_runs(limit=limit)),
    "orders": _booked(lambda store, limit: store.list_orders()[:limit]),
    "trades": _booked(lambda store, limit: store.list_trades(limit=limit)),
    "logs": _logs,
    "positions": _booked(lambda store, limit: store.get_positions()[:limit]),
    "fyers_tokens": _tokens,
    "users": _users,
}


def _fetch(name: str, store: Store, limit: int, books: tuple[str, ...]) -> Rows:
    """Up to `limit` rows of collection `name` (per book, for a book's collection)."""
    fetch = FETCH[name]
    return fetch(store, limit, books) if name in (*BOOK_COLLECTIONS, "logs") else \
        fetch(store, limit)


def _labelled(config: Config, rows: Rows) -> Rows:
    """`rows` with their book named as the pages name it (paper_mode.book_label): the real
    book is "sandbox" in sandbox mode, so no row reads as real money there."""
    return [{**row, "book": paper_mode.book_label(config, row["book"])} if row.get("book")
            else row for row in rows]


def _cell(column: str, value: Any) -> Any:
    """A value as a table shows it: times in IST, messages on one short line."""
    if value is None:
        return ""
    if column == "ts" or column.endswith("_at"):
        return ist(value, "%Y-%m-%d %H:%M:%S")
    if column == "message":
        first_line = str(value).splitlines()[0] if value else ""
        return first_line[:MESSAGE_WIDTH]
    return value


def render_table(name: str, rows: Rows) -> str:
    """A titled plain-text table; headers are printed even when there are no rows."""
    columns = COLUMNS[name]
    body = [[_cell(column, row.get(column)) for column in columns] for row in rows]
    return f"== {name}: {len(rows)} rows, times in IST ==\n" + tabulate(body, headers=columns)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.OneLineParser(prog="python verify_db.py",
                               description="Print the latest trades and logs, or one "
                                           "collection, from the configured store.")
    parser.add_argument("--collection", choices=sorted(FETCH),
                        help="show only this collection (default: trades and logs)")
    parser.add_argument("--limit", type=cli.number_type(int, 1, maximum=MAX_LIMIT), default=20,
                        help=f"rows per collection, 1 to {MAX_LIMIT:,} (default 20)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON instead of tables")
    output.add_argument("--csv", action="store_true",
                        help="with --collection trades: every sale as CSV for your books (buy "
                             "date, sell date, holding days, P&L by average cost; IST dates)")
    parser.add_argument("--book", choices=BOOKS,
                        help="runs, orders, trades, positions and the log lines of runs of "
                             "this book only; real is the sandbox's in sandbox mode (default: "
                             "both, each row labelled)")
    args = parser.parse_args(argv)
    if args.csv and args.collection != "trades":
        parser.error("--csv needs --collection trades")
    return args


def main(argv: list[str] | None = None) -> int:
    """Print the chosen collections; 1 with one line on stderr when the store is unreachable."""
    args = parse_args(argv)
    config = load_config_or_exit(resolve_keys=False)
    refuse_missing_sqlite(config, "verify_db")  # before keys are made beside a mistyped path
    config = config_or_exit(config.with_secrets)
    names = [args.collection] if args.collection else list(DEFAULT_COLLECTIONS)
    try:
        store = configured_store(config)
        try:
            books = (args.book,) if args.book else BOOKS
            if args.csv:
                print(trade_books.books_csv({
                    paper_mode.book_label(config, book): store.for_book(book).list_trades()
                    for book in books}), end="")
                return 0
            data = {name: _labelled(config, _fetch(name, store, args.limit, books))
                    for name in names}
        finally:
            store.close()
    except StoreError as exc:
        print(f"verify_db: cannot read the store: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n\n".join(render_table(name, rows) for name, rows in data.items()))
    return 0


if __name__ == "__main__":
    cli.run(main)
