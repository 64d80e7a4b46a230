"""Records as MongoDB documents: times as BSON dates (UTC), money as whole paise.

A record crosses the store interface with epoch seconds and float rupees (store/base.py); its
document holds `datetime` values (BSON dates, millisecond precision) and `<field>_paise`
integers, so a Mongo user reads dates and exact amounts. FerretDB v1 cannot store Decimal128,
hence integer paise. `upgrade_documents` converts documents written before this layout.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.database import Database

from store.common import (
    MONEY_FIELDS,
    PAISE_SUFFIX,
    TIME_FIELDS,
    money_to_paise,
    money_to_rupees,
    to_paise,
)

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1)
DOCUMENTS_VERSION = 1  # 1: BSON dates and whole paise
UPGRADE_BATCH = 1000


def bson_date(ts: float) -> datetime:
    """Epoch seconds as the naive UTC datetime BSON stores (milliseconds, rounded)."""
    try:
        return EPOCH + timedelta(milliseconds=round(ts * 1000))
    except OverflowError:
        raise ValueError(f"time {ts} is outside the years 1-9999") from None


def epoch_seconds(value: datetime) -> float:
    """A BSON date (naive UTC, or aware) as epoch seconds."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return (value - EPOCH) / timedelta(milliseconds=1) / 1000


def to_document(collection: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A record's fields as the document stores them: dates and whole paise."""
    document = money_to_paise(collection, record)
    for name in TIME_FIELDS.get(collection, ()):
        if isinstance(document.get(name), (int, float)):
            document[name] = bson_date(document[name])
    return document


def from_document(collection: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document's fields as a record's: epoch seconds and float rupees."""
    record = money_to_rupees(collection, document)
    for name in TIME_FIELDS.get(collection, ()):
        if isinstance(record.get(name), datetime):
            record[name] = epoch_seconds(record[name])
    return record


def _upgrades(collection: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The update that brings one document to the current layout ({} when it is there)."""
    sets: dict[str, Any] = {}
    unsets: dict[str, str] = {}
    for name in TIME_FIELDS.get(collection, ()):
        if isinstance(document.get(name), (int, float)):
            sets[name] = bson_date(document[name])
    for name in MONEY_FIELDS.get(collection, ()):
        if name in document:
            value = document[name]
            sets[name + PAISE_SUFFIX] = None if value is None else to_paise(value)
            unsets[name] = ""
    return {**({"$set": sets} if sets else {}), **({"$unset": unsets} if unsets else {})}


def upgrade_documents(db: Database) -> None:
    """Convert documents with epoch-number times or float rupees, in batches; a no-op once done.

    Each update matches the document's old values, so running it twice, or in two processes at
    once, converts every document exactly once.
    """
    marker = db.schema_version.find_one({"_id": "documents"}) or {}
    if marker.get("version", 0) >= DOCUMENTS_VERSION:
        return
    for collection in sorted(set(TIME_FIELDS) | set(MONEY_FIELDS)):
        old = ([{name: {"$type": "number"}} for name in TIME_FIELDS.get(collection, ())]
               + [{name: {"$exists": True}} for name in MONEY_FIELDS.get(collection, ())])
        converted = _upgrade_collection(db, collection, {"$or": old})
        if converted:
            logger.info("MongoDB store: %d %s documents converted to dates and paise",
                        converted, collection)
    db.schema_version.update_one({"_id": "documents"},
                                 {"$set": {"version": DOCUMENTS_VERSION}}, upsert=True)


def _upgrade_collection(db: Database, collection: str, old: dict[str, Any]) -> int:
    """Convert the documents `old` matches; how many were converted."""
    names = [*TIME_FIELDS.get(collection, ()), *MONEY_FIELDS.get(collection, ())]
    converted, batch = 0, []
    for document in db[collection].find(old, {name: 1 for name in names}):
        update = _upgrades(collection, document)
        if update:
            match = {"_id": document["_id"], **{name: document[name] for name in names
                                                 if name in document}}
            batch.append(UpdateOne(match, update))
        if len(batch) >= UPGRADE_BATCH:
            converted += db[collection].bulk_write(batch, ordered=False).modified_count
            batch = []
    if batch:
        converted += db[collection].bulk_write(batch, ordered=False).modified_count
    return converted
