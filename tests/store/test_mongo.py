"""What only the MongoDB store promises: an unreachable server is a clear StoreError."""
from __future__ import annotations

import socket

import pytest

from store import StoreError, open_store


def test_an_unreachable_server_is_a_store_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError, match="MongoDB"):
        open_store(f"mongodb://127.0.0.1:{port}/?connectTimeoutMS=200", "nifty_test")


def test_a_malformed_url_is_a_store_error():
    with pytest.raises(StoreError):
        open_store("mongodb://user@:bad:port/", "nifty_test")
