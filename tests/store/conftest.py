"""The store contract runs on every backend: SQLite, and MongoDB (a real server or mongomock).

Set TEST_MONGO_URI (e.g. mongodb://127.0.0.1:27017/) to run the Mongo half on a real
MongoDB-wire server; each test then gets its own database, dropped afterwards.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import mongomock.collection
import pytest
from pymongo import MongoClient

from store import Store, open_store

MONGO_URI = os.environ.get("TEST_MONGO_URI", "")


def _accept_update_sort(add_update):
    """mongomock 4.3 predates the `sort` pymongo 4.11+ passes for every UpdateOne in a
    bulk_write (store/mongo_documents.py); an update without a sort ignores it anyway."""
    def add_update_ignoring_sort(self, *args, sort=None, **kwargs):
        return add_update(self, *args, **kwargs)
    return add_update_ignoring_sort


mongomock.collection.BulkOperationBuilder.add_update = _accept_update_sort(
    mongomock.collection.BulkOperationBuilder.add_update)
MONGO_KIND = "mongodb-wire" if MONGO_URI else "mongomock"


@dataclass(frozen=True)
class Backend:
    """Where a test's store lives, so a second process can open the same one."""

    kind: str
    url: str
    database: str

    @property
    def shared_across_processes(self) -> bool:
        """mongomock lives inside one Python process; the others are real databases."""
        return self.kind != "mongomock"

    def open(self) -> Store:
        """A new store object on this backend."""
        return open_store(self.url, self.database)


def backends_line() -> str:
    """Which store backends the contract suite runs on."""
    mongo = (f"mongo via a MongoDB-wire server at {MONGO_URI.split('@')[-1]}" if MONGO_URI
             else "mongo via mongomock (set TEST_MONGO_URI for a real server)")
    return f"store backends: sqlite, {mongo}"


def pytest_report_header(config: pytest.Config) -> str:
    """Name the backends in the header of `pytest tests/store`."""
    return backends_line()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the backends after a whole-suite run too, where the header hook is not called."""
    terminalreporter.write_line(backends_line())


@pytest.fixture(params=["sqlite", MONGO_KIND])
def backend(request: pytest.FixtureRequest, tmp_path) -> Backend:
    """Each backend in turn; a real Mongo server gets a fresh database, dropped afterwards."""
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path}/store.db", "")
        return
    database = f"nifty_test_{uuid.uuid4().hex[:12]}"
    yield Backend(request.param, MONGO_URI or "mongomock://", database)
    if MONGO_URI:
        with MongoClient(MONGO_URI, serverSelectionTimeoutMS=3000) as client:
            client.drop_database(database)


@pytest.fixture
def store(backend: Backend) -> Store:
    """An empty store on the backend under test."""
    opened = backend.open()
    yield opened
    opened.close()
