"""The one place that picks a store backend from a URL."""
from __future__ import annotations

import sys

from config import Config, sqlite_path
from store.base import ClosedDay, DuplicateKey, LogPage, Store, StoreError, TradeStats

__all__ = ["ClosedDay", "DuplicateKey", "LogPage", "Store", "StoreError", "TradeStats",
           "configured_store", "open_store", "refuse_missing_sqlite"]


def open_store(url: str, mongo_database: str = "nifty_shop") -> Store:
    """`sqlite:///path.db`, `mongodb://…` / `mongodb+srv://…`, or `mongomock://` (tests)."""
    if url.startswith("sqlite:///"):
        from store.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(("mongodb://", "mongodb+srv://", "mongomock://")):
        from store.mongo import MongoStore

        return MongoStore(url, mongo_database)
    raise StoreError(f"unsupported store URL {url.split('://')[0]!r}: use sqlite:/// or mongodb://")


def refuse_missing_sqlite(config: Config, prog: str) -> None:
    """For commands that only read or update a store: one line on stderr and exit status 1 when
    the SQLite file the configuration names does not exist. Opening it would make an empty
    one, and generate new keys beside it, at a mistyped path."""
    if config.store_url.startswith("sqlite:///") and not sqlite_path(config.store_url).exists():
        print(f"{prog}: no database at {sqlite_path(config.store_url)} (DATABASE_URL): check the "
              f"path; the web app creates it on its first start", file=sys.stderr)
        raise SystemExit(1)


def configured_store(config: Config) -> Store:
    """The store the configuration names: MONGO_URI when set, else DATABASE_URL."""
    return open_store(config.store_url, config.mongo_database)
