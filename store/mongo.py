"""The networked store: MongoDB (Atlas, a replica set, FerretDB v1) through pymongo.

Only operators FerretDB v1 understands are used; small aggregations run in Python.
`mongomock://` URLs (tests) use mongomock, imported only then: each store object opened
on one is its own empty in-memory database.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

import india_time
from store.base import (
    BOOK_COLLECTIONS,
    BOOKS,
    ClosedDay,
    DuplicateKey,
    LogPage,
    Store,
    StoreError,
    T,
)
from store.common import (
    by_symbol,
    checked,
    closed_days,
    complete,
    decode_cursor,
    level_number,
    page_cursor,
    search_terms,
    stored_level,
    unsearchable,
)
from store.mongo_documents import (
    bson_date,
    epoch_seconds,
    from_document,
    to_document,
    upgrade_documents,
)

logger = logging.getLogger(__name__)

SERVER_SELECTION_TIMEOUT_MS = 3000
RECENT_CANDLE_DAYS = 14
SETTING_LOCK_TTL_S = 5.0  # a writer that died holding it delays the others this long at most
LOGIN_LOCK_TTL_S = 10.0
SHORT_LOCK_POLL_S = 0.005
DUPLICATE_KEY_CODE = 11000
_NO_ID = {"_id": 0}
_UNIQUE_KEYS: dict[str, list[str]] = {
    "users": ["username"], "sessions": ["token_hash"], "login_steps": ["token_hash"],
    "fyers_tokens": ["client_id"],
    "runs": ["run_id"], "orders": ["tag"], "trades": ["trade_id"], "positions": ["symbol"],
    "candles": ["symbol", "date"], "locks": ["name"], "settings": ["key"],
}
_INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    "sessions": [[("username", ASCENDING), ("created_at", ASCENDING)]],
    "login_steps": [[("username", ASCENDING)]],
    "runs": [[("started_at", DESCENDING)]],
    "logs": [[("ts", DESCENDING), ("_id", DESCENDING)],
             [("levelno", ASCENDING), ("ts", DESCENDING)],
             [("run_id", ASCENDING), ("ts", DESCENDING)]],
    "orders": [[("created_at", DESCENDING)], [("run_id", ASCENDING)]],
    "trades": [[("ts", DESCENDING)], [("symbol", ASCENDING), ("ts", DESCENDING)]],
}

F = TypeVar("F", bound=Callable[..., Any])


def _mapped(method: F) -> F:
    """Turn pymongo errors raised by `method` into the store's own."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DuplicateKeyError as exc:
            raise DuplicateKey(str(exc.details or exc)) from exc
        except PyMongoError as exc:
            raise StoreError(f"MongoDB store: {_short(exc)}") from exc
    return wrapper  # type: ignore[return-value]


def _short(exc: PyMongoError) -> str:
    """pymongo's message without the topology dump it appends to connection errors."""
    return str(exc).split(", Timeout:")[0].split(", Topology Description:")[0]


def _word_pattern(word: str, prefix: bool) -> str:
    """A regex for one search word: the whole word, or a word starting with it.

    Boundaries go only beside ASCII letters/digits, where every server's `\\b` agrees.
    """
    pattern = re.escape(word)
    if word[0].isascii():
        pattern = r"\b" + pattern
    if not prefix and word[-1].isascii():
        pattern += r"\b"
    return pattern


def _position_doc(trade: dict[str, Any], position: dict[str, Any] | None
                  ) -> dict[str, Any] | None:
    """The stored position after `trade`, marked with the trade it reflects; None = closed."""
    if position is None:
        return None
    symbol = trade["symbol"]
    return {**to_document("positions", complete("positions", {**position, "symbol": symbol})),
            "last_trade_id": trade["trade_id"]}


def _upsert_one(collection: Collection, query: dict[str, Any], update: dict[str, Any]) -> None:
    """update_one with upsert; a writer that loses the race to insert the key updates instead.

    MongoDB 4.2+ retries that race itself; FerretDB v1 reports it as a duplicate key.
    """
    try:
        collection.update_one(query, update, upsert=True)
    except DuplicateKeyError:
        collection.update_one(query, update, upsert=True)


def _unlocked(username: str, now: float) -> dict[str, Any]:
    """The query for a user who is not locked at `now`."""
    return {"username": username,
            "$or": [{"locked_until": None}, {"locked_until": {"$lte": bson_date(now)}}]}


def _client(url: str, connect: bool = True) -> MongoClient:
    """A client for the URL; mongomock's in-memory one for `mongomock://`."""
    if url.startswith("mongomock://"):
        import mongomock

        return mongomock.MongoClient()
    return MongoClient(url, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
                       connectTimeoutMS=SERVER_SELECTION_TIMEOUT_MS, connect=connect)


class _Link:
    """The client and database a store shares with its book views (close() replaces both)."""

    def __init__(self, client: MongoClient, database: str) -> None:
        self.client = client
        self.db = client[database]


class MongoStore(Store):
    """Store on a MongoDB-wire server; indexes and unique keys created at open."""

    def __init__(self, url: str, database: str) -> None:
        self._url = url
        try:
            self._link = _Link(_client(url), database)
        except (PyMongoError, ValueError) as exc:  # pymongo reports some bad URLs as ValueError
            raise StoreError(f"MongoDB store: bad URL: {exc}") from exc
        try:
            self.ping()
            self._create_indexes()
            self._upgrade_documents()
        except StoreError:
            self._client.close()
            raise

    @property
    def _client(self) -> MongoClient:
        return self._link.client

    @property
    def _db(self) -> Any:
        return self._link.db

    def _coll(self, collection: str) -> Collection:
        """The stored collection of `collection` in this store's book (paper_trades, …)."""
        return self._db[self.collection(collection)]

    @_mapped
    def _create_indexes(self) -> None:
        """Unique keys and the indexes the queries use, for both books; a no-op when they
        exist."""
        for book in BOOKS:
            view = self.for_book(book)
            for collection, key in _UNIQUE_KEYS.items():
                if book == "real" or collection in BOOK_COLLECTIONS:
                    view._coll(collection).create_index([(name, ASCENDING) for name in key],
                                                        unique=True)
            for collection, indexes in _INDEXES.items():
                for index in indexes:
                    if book == "real" or collection in BOOK_COLLECTIONS:
                        view._coll(collection).create_index(index)

    @_mapped
    def _upgrade_documents(self) -> None:
        """Bring documents written by older versions to today's layout (mongo_documents.py)."""
        upgrade_documents(self._db)

    def _find(self, collection: str, query: dict[str, Any], sort: list[tuple[str, int]],
              limit: int = 0, projection: dict[str, int] = _NO_ID) -> list[dict[str, Any]]:
        """Complete records matching `query`, in `sort` order."""
        cursor = self._coll(collection).find(query, projection).sort(sort).limit(limit)
        return [complete(collection, from_document(collection, doc)) for doc in cursor]

    def _get(self, collection: str, query: dict[str, Any]) -> dict[str, Any] | None:
        doc = self._coll(collection).find_one(query, _NO_ID)
        return complete(collection, from_document(collection, doc)) if doc is not None else None

    def _set(self, collection: str, query: dict[str, Any], fields: dict[str, Any]) -> bool:
        """Set fields on the matching document; False when there is none."""
        if not fields:
            return self._coll(collection).find_one(query) is not None
        result = self._coll(collection).update_one(
            query, {"$set": to_document(collection, checked(collection, fields))})
        return result.matched_count > 0

    def _upsert(self, collection: str, query: dict[str, Any], fields: dict[str, Any]) -> None:
        """Insert, or set the given fields of the document matching `query`."""
        _upsert_one(self._coll(collection), query,
                    {"$set": to_document(collection, checked(collection, fields))})

    def _insert(self, collection: str, record: dict[str, Any]) -> None:
        """Insert one record with every field of its collection; DuplicateKeyError when taken."""
        self._coll(collection).insert_one(to_document(collection, complete(collection, record)))

    # --- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        """Close the client's connections; a later call reconnects, as the SQLite store does
        (the log writer may still flush at exit after a CLI closed the store)."""
        closed = self._client
        if isinstance(closed, MongoClient):  # a closed pymongo client refuses every call
            self._link.client = _client(self._url, connect=False)
            self._link.db = self._link.client[self._db.name]
        closed.close()

    @_mapped
    def ping(self) -> None:
        """Raise StoreError when the server cannot be reached."""
        self._client.admin.command("ping")

    # --- users ------------------------------------------------------------------------
    @_mapped
    def create_user(self, username: str, password_hash: str) -> None:
        """Insert a user; DuplicateKey when the name is taken."""
        self._insert("users", {"username": username, "password_hash": password_hash,
                               "failed_logins": 0, "created_at": time.time()})

    @_mapped
    def get_user(self, username: str) -> dict[str, Any] | None:
        """The user, or None."""
        return self._get("users", {"username": username})

    @_mapped
    def update_user(self, username: str, **fields: Any) -> bool:
        """Set fields on a user; False when no such user."""
        return self._set("users", {"username": username}, fields)

    @contextmanager
    def _short_lock(self, name: str, ttl_s: float) -> Iterator[None]:
        """Hold the store lock `name` for one short read-change-write.

        FerretDB v1 applies even a single document's update without isolation (two concurrent
        $inc may count one; a compare-and-set update filter is not atomic), and it has no
        multi-document transactions. Taking a free lock is an insert, which the lock's unique
        name makes atomic on every server; a holder that crashed frees it after `ttl_s`.
        """
        owner = secrets.token_hex(8)
        deadline = time.monotonic() + 2 * ttl_s
        while not self.acquire_lock(name, owner, ttl_s):
            if time.monotonic() > deadline:
                raise StoreError(f"MongoDB store: the lock {name} stays taken")
            time.sleep(SHORT_LOCK_POLL_S)
        try:
            yield
        finally:
            self.release_lock(name, owner)

    @_mapped
    def record_login_failure(self, username: str, now: float, max_failures: int,
                             locked_until: float) -> bool:
        """Count one failure of an unlocked user ($inc on one document, under the login lock);
        the one reaching the limit locks and restarts the count."""
        with self._short_lock(f"login:{username}", LOGIN_LOCK_TTL_S):
            counted = self._db.users.find_one_and_update(  # no projection: FerretDB v1 has none
                _unlocked(username, now), {"$inc": {"failed_logins": 1}},
                return_document=ReturnDocument.AFTER)
            if counted is None or counted["failed_logins"] < max_failures:
                return False
            self._db.users.update_one({"username": username}, {"$set": {
                "failed_logins": 0, "locked_until": bson_date(locked_until)}})
        return True

    @_mapped
    def clear_login_failures(self, username: str, now: float) -> bool:
        """Reset the failure count of an unlocked user; False when locked or unknown."""
        with self._short_lock(f"login:{username}", LOGIN_LOCK_TTL_S):
            result = self._db.users.update_one(_unlocked(username, now), {"$set": {
                "failed_logins": 0, "locked_until": None}})
        return result.matched_count > 0

    @_mapped
    def claim_totp_step(self, username: str, step: int) -> bool:
        """Record a TOTP time step as used when later than the last one (under the login
        lock, which FerretDB v1 needs for the check and the write to be one)."""
        with self._short_lock(f"login:{username}", LOGIN_LOCK_TTL_S):
            result = self._db.users.update_one(
                {"username": username,
                 "$or": [{"totp_last_step": None}, {"totp_last_step": {"$lt": step}}]},
                {"$set": {"totp_last_step": step}})
        return result.matched_count > 0

    @_mapped
    def count_users(self) -> int:
        """How many users exist."""
        return self._db.users.count_documents({})

    @_mapped
    def list_users(self) -> list[dict[str, Any]]:
        """Every user, by name."""
        return self._find("users", {}, [("username", ASCENDING)])

    # --- sessions ---------------------------------------------------------------------
    @_mapped
    def create_session(self, session: dict[str, Any]) -> None:
        """Insert a session; DuplicateKey on the same token_hash."""
        self._insert("sessions", session)

    @_mapped
    def get_session(self, token_hash: str) -> dict[str, Any] | None:
        """The session, or None."""
        return self._get("sessions", {"token_hash": token_hash})

    @_mapped
    def touch_session(self, token_hash: str, last_seen: float) -> None:
        """Record activity on a session."""
        self._set("sessions", {"token_hash": token_hash}, {"last_seen": last_seen})

    @_mapped
    def delete_session(self, token_hash: str) -> None:
        """End a session (no error when it is gone already)."""
        self._db.sessions.delete_one({"token_hash": token_hash})

    @_mapped
    def list_sessions(self, username: str) -> list[dict[str, Any]]:
        """A user's sessions, oldest first."""
        return self._find("sessions", {"username": username},
                          [("created_at", ASCENDING), ("token_hash", ASCENDING)])

    # --- login_steps ------------------------------------------------------------------
    @_mapped
    def create_login_step(self, step: dict[str, Any]) -> None:
        """Insert a pending login step; DuplicateKey on the same token_hash."""
        self._insert("login_steps", step)

    @_mapped
    def get_login_step(self, token_hash: str) -> dict[str, Any] | None:
        """The pending login step, or None."""
        return self._get("login_steps", {"token_hash": token_hash})

    @_mapped
    def delete_login_steps(self, username: str) -> None:
        """End every pending login step of a user."""
        self._db.login_steps.delete_many({"username": username})

    # --- fyers_tokens -----------------------------------------------------------------
    @_mapped
    def save_token(self, token: dict[str, Any]) -> None:
        """Upsert keyed by client_id."""
        self._upsert("fyers_tokens", {"client_id": token["client_id"]}, token)

    @_mapped
    def get_token(self, client_id: str) -> dict[str, Any] | None:
        """The token record of an app, or None."""
        return self._get("fyers_tokens", {"client_id": client_id})

    @_mapped
    def list_tokens(self) -> list[dict[str, Any]]:
        """Every app's token record, by client_id."""
        return self._find("fyers_tokens", {}, [("client_id", ASCENDING)])

    # --- runs -------------------------------------------------------------------------
    @_mapped
    def create_run(self, run: dict[str, Any]) -> None:
        """Insert; DuplicateKey on the same run_id."""
        self._insert("runs", run)

    @_mapped
    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set fields on a run."""
        self._set("runs", {"run_id": run_id}, fields)

    @_mapped
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run, or None."""
        return self._get("runs", {"run_id": run_id})

    @_mapped
    def list_runs(self, limit: int = 50, before: float | None = None) -> list[dict[str, Any]]:
        """Newest first by started_at; `before` = started_at of the last row seen."""
        query = {"started_at": {"$lt": bson_date(before)}} if before is not None else {}
        return self._find("runs", query, [("started_at", DESCENDING)], limit)

    # --- logs -------------------------------------------------------------------------
    @_mapped
    def insert_logs(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append log rows in one batch; ObjectIds are the ids."""
        docs = []
        for row in rows:
            doc = to_document("logs", complete("logs", row))
            del doc["id"]
            doc["level"], doc["levelno"] = stored_level(row["level"])
            docs.append(doc)
        if docs:
            self._db.logs.insert_many(docs, ordered=True)

    @_mapped
    def search_logs(self, *, text: str | None = None, level: str | None = None,
                    since: float | None = None, until: float | None = None,
                    run_id: str | None = None, before: str | None = None,
                    limit: int = 50) -> LogPage:
        """Newest first, filtered; see Store.search_logs."""
        clauses: list[dict[str, Any]] = []
        if before is not None:
            ts, row_id = decode_cursor(before)
            try:
                oid = ObjectId(row_id)
            except InvalidId as exc:
                raise ValueError(f"malformed log cursor {before!r}") from exc
            at = bson_date(ts)
            clauses.append({"$or": [{"ts": {"$lt": at}}, {"ts": at, "_id": {"$lt": oid}}]})
        if unsearchable(text):
            return LogPage([], None)
        if since is not None:
            clauses.append({"ts": {"$gte": bson_date(since)}})
        if until is not None:
            clauses.append({"ts": {"$lt": bson_date(until)}})
        if run_id is not None:
            clauses.append({"run_id": run_id})
        if level is not None:
            clauses.append({"levelno": {"$gte": level_number(level)}})
        clauses += [{"message": {"$regex": _word_pattern(word, prefix), "$options": "i"}}
                    for word, prefix in search_terms(text)]
        cursor = (self._db.logs.find({"$and": clauses} if clauses else {})
                  .sort([("ts", DESCENDING), ("_id", DESCENDING)]).limit(limit + 1))
        rows = [{**complete("logs", from_document("logs", {k: v for k, v in doc.items()
                                                          if k not in ("_id", "levelno")})),
                 "id": str(doc["_id"])}
                for doc in cursor]
        return LogPage(rows=rows[:limit], next_before=page_cursor(rows, limit))

    @_mapped
    def count_logs(self) -> int:
        """How many log rows exist (from collection metadata: fast on a big collection)."""
        return self._db.logs.estimated_document_count()

    @_mapped
    def delete_logs_before(self, ts: float, limit: int) -> int:
        """Remove up to `limit` of the oldest rows before `ts`, found along the ts index."""
        oldest = self._db.logs.find({"ts": {"$lt": bson_date(ts)}}, {"_id": 1}).sort(
            [("ts", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        ids = [doc["_id"] for doc in oldest]
        return self._db.logs.delete_many({"_id": {"$in": ids}}).deleted_count if ids else 0

    # --- orders -----------------------------------------------------------------------
    @_mapped
    def upsert_order(self, order: dict[str, Any]) -> None:
        """Insert or update keyed by tag."""
        self._upsert("orders", {"tag": order["tag"]}, order)

    @_mapped
    def get_order(self, tag: str) -> dict[str, Any] | None:
        """The order with this tag, or None."""
        return self._get("orders", {"tag": tag})

    @_mapped
    def list_orders(self, *, run_id: str | None = None, since: float | None = None,
                    statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Newest first by created_at."""
        query: dict[str, Any] = {}
        if run_id is not None:
            query["run_id"] = run_id
        if since is not None:
            query["created_at"] = {"$gte": bson_date(since)}
        if statuses is not None:
            query["status"] = {"$in": list(statuses)}
        return self._find("orders", query, [("created_at", DESCENDING), ("tag", DESCENDING)])

    # --- trades and positions ---------------------------------------------------------
    @_mapped
    def record_trade(self, trade: dict[str, Any], position: dict[str, Any] | None) -> bool:
        """Insert the trade, then set or remove its symbol's position.

        Without multi-document transactions (FerretDB v1, standalone servers) this is two
        writes, trade first. The position remembers the trade it reflects, so when a crash
        fell between the writes, recording the same trade again completes the position
        instead of leaving it stale (a stale position would later look like a manual sale).
        """
        doc = _position_doc(trade, position)  # a bad position must refuse the trade too
        try:
            self._insert("trades", trade)
        except DuplicateKeyError:
            self._complete_interrupted_trade(trade, doc)
            return False
        self._apply_position(trade["symbol"], doc)
        return True

    def _apply_position(self, symbol: str, doc: dict[str, Any] | None) -> None:
        if doc is None:
            self._coll("positions").delete_one({"symbol": symbol})
        else:
            _upsert_one(self._coll("positions"), {"symbol": symbol}, {"$set": doc})

    def _complete_interrupted_trade(self, trade: dict[str, Any], doc: dict[str, Any] | None
                                    ) -> None:
        """Apply the position when the stored trade is the symbol's newest and the position
        does not reflect it yet; otherwise the duplicate changes nothing."""
        symbol, trade_id = trade["symbol"], trade["trade_id"]
        current = self._coll("positions").find_one({"symbol": symbol}, {"last_trade_id": 1})
        if current is None and doc is None:
            return
        if current is not None and current.get("last_trade_id") == trade_id:
            return
        stored = self._coll("trades").find_one({"trade_id": trade_id}, {"ts": 1})
        if self._coll("trades").find_one({"symbol": symbol, "ts": {"$gt": stored["ts"]}}) is not None:
            return
        logger.warning("trade %s was stored without its position update: completing it", trade_id)
        self._apply_position(symbol, doc)

    @_mapped
    def list_trades(self, *, since: float | None = None, until: float | None = None,
                    symbol: str | None = None, limit: int | None = None
                    ) -> list[dict[str, Any]]:
        """Newest first by ts; `until` exclusive."""
        query: dict[str, Any] = {}
        bounds = {op: bson_date(value) for op, value in (("$gte", since), ("$lt", until))
                  if value is not None}
        if bounds:
            query["ts"] = bounds
        if symbol is not None:
            query["symbol"] = symbol
        return self._find("trades", query, [("ts", DESCENDING), ("trade_id", DESCENDING)],
                          limit or 0)

    def _closed_trades(self) -> list[tuple[float, int]]:
        """(ts, pnl in whole paise) of every closed trade, oldest first."""
        cursor = self._coll("trades").find({"side": "SELL", "pnl_paise": {"$ne": None}},
                                      {"_id": 0, "ts": 1, "pnl_paise": 1}).sort("ts", ASCENDING)
        return [(epoch_seconds(doc["ts"]), doc["pnl_paise"]) for doc in cursor]

    @_mapped
    def closed_trade_days(self) -> list[ClosedDay]:
        """Closed trades summed per IST day in whole paise, ascending."""
        return closed_days(self._closed_trades())

    @_mapped
    def get_positions(self) -> list[dict[str, Any]]:
        """Open positions ordered by symbol."""
        return self._find("positions", {}, [("symbol", ASCENDING)],
                          projection={**_NO_ID, "last_trade_id": 0})

    # --- candles ----------------------------------------------------------------------
    @_mapped
    def upsert_candles_of(self, candles: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        """Replace daily candles keyed by (symbol, date): delete those dates, insert anew.

        Two bulk commands instead of one upsert per candle (years of history are thousands of
        candles); a writer racing with the same candles only meets duplicate keys, ignored.
        """
        docs = [complete("candles", {**candle, "symbol": symbol})
                for symbol, rows in candles.items() for candle in rows]
        if not docs:
            return
        self._db.candles.delete_many({"$or": [
            {"symbol": symbol, "date": {"$in": [candle["date"] for candle in rows]}}
            for symbol, rows in candles.items() if rows]})
        try:
            self._db.candles.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(error["code"] != DUPLICATE_KEY_CODE for error in exc.details["writeErrors"]):
                raise

    @_mapped
    def candles_of(self, symbols: Sequence[str], since: str = "",
                   until: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """symbol → its candles from `since` to `until`, ascending: one find along the
        (symbol, date) index."""
        dates = {"$gte": since} if until is None else {"$gte": since, "$lte": until}
        return by_symbol(self._find("candles", {"symbol": {"$in": list(symbols)}, "date": dates},
                                    [("symbol", ASCENDING), ("date", ASCENDING)]))

    @_mapped
    def last_candle_dates(self) -> dict[str, str]:
        """{symbol: newest cached date}: one indexed lookup per symbol."""
        newest = {}
        for symbol in self._db.candles.distinct("symbol"):
            doc = self._db.candles.find_one({"symbol": symbol}, {"_id": 0, "date": 1},
                                            sort=[("date", DESCENDING)])
            newest[symbol] = doc["date"]
        return newest

    @_mapped
    def latest_candles(self, symbols: Sequence[str]) -> dict[str, dict[str, Any]]:
        """{symbol: newest cached candle}. FerretDB v1 has no $max in $group, so one find reads
        the candles of the last RECENT_CANDLE_DAYS (runs refresh them every trading day), and
        only a symbol whose newest candle is older is looked up on its own."""
        wanted = list(dict.fromkeys(symbols))
        since = (india_time.day_of(time.time()) - timedelta(days=RECENT_CANDLE_DAYS)).isoformat()
        newest: dict[str, dict[str, Any]] = {}
        for candle in self._find("candles", {"symbol": {"$in": wanted}, "date": {"$gte": since}},
                                 [("symbol", ASCENDING), ("date", DESCENDING)]):
            newest.setdefault(candle["symbol"], candle)
        for symbol in (s for s in wanted if s not in newest):
            older = self._find("candles", {"symbol": symbol}, [("date", DESCENDING)], limit=1)
            newest.update((candle["symbol"], candle) for candle in older)
        return newest

    # --- locks ------------------------------------------------------------------------
    @_mapped
    def acquire_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the lock when free, expired or already ours; the unique name makes a racing
        upsert fail instead of taking a held lock."""
        now = time.time()
        try:
            self._db.locks.find_one_and_update(
                {"name": name, "$or": [{"expires_at": {"$lte": bson_date(now)}},
                                       {"owner": owner}]},
                {"$set": {"owner": owner, "expires_at": bson_date(now + ttl_s)}}, upsert=True)
        except DuplicateKeyError:
            return False
        return True

    @_mapped
    def release_lock(self, name: str, owner: str) -> None:
        """Release only when `owner` holds it."""
        self._db.locks.delete_one({"name": name, "owner": owner})

    @_mapped
    def refresh_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        """Extend a lock `owner` still holds; False when another took it or it is gone."""
        result = self._db.locks.update_one({"name": name, "owner": owner},
                                           {"$set": {"expires_at": bson_date(time.time() + ttl_s)}})
        return result.matched_count > 0

    @_mapped
    def lock_owner(self, name: str) -> str | None:
        """Who holds the lock now; None when it is free or expired."""
        doc = self._db.locks.find_one({"name": name, "expires_at": {"$gt": bson_date(time.time())}},
                                      {"_id": 0, "owner": 1})
        return doc["owner"] if doc is not None else None

    # --- settings ---------------------------------------------------------------------
    @_mapped
    def get_setting(self, key: str, default: Any = None) -> Any:
        """The stored value, or `default`."""
        doc = self._db.settings.find_one({"key": key}, {"_id": 0, "value": 1})
        return doc["value"] if doc is not None else default

    @_mapped
    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-able value under `key` (as JSON would give it back, like SQLite)."""
        _upsert_one(self._db.settings, {"key": key},
                    {"$set": {"value": json.loads(json.dumps(value))}})

    @_mapped
    def modify_setting(self, key: str, change: Callable[[Any], tuple[Any, T]]) -> T:
        """Read, change and write under the setting's short lock (see `_short_lock`)."""
        with self._short_lock(f"setting:{key}", SETTING_LOCK_TTL_S):
            doc = self._db.settings.find_one({"key": key}, {"_id": 0, "value": 1})
            value, result = change(doc["value"] if doc is not None else None)
            self.set_setting(key, value)
            return result
