"""Blueprints of the web app, one per page, plus the accessors they share."""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

from cachetools import TTLCache
from flask import current_app, g, has_request_context

import paper_mode
from config import Config
from store.base import Store

KEPT_S = 60
_kept_lock = threading.Lock()
T = TypeVar("T")


def get_store() -> Store:
    """The store opened once by create_app for this app, seen through the book in use (the
    paper book while paper trading is on: paper_mode.py), decided once per request."""
    if has_request_context() and "book_store" in g:
        return g.book_store
    store = paper_mode.book_store(get_config(), current_app.extensions["store"])
    if has_request_context():
        g.book_store = store
    return store


def is_paper() -> bool:
    """Whether the pages show the paper book (the banner, titles and cards say so)."""
    return get_store().book == "paper"


def get_config() -> Config:
    """The Config this app was built with."""
    return current_app.extensions["nifty_config"]


def kept_until_next_trade(name: str, compute: Callable[[], T], *key: Hashable) -> T:
    """compute()'s answer, kept by this process until a trade newer than all before it is
    recorded, `key` changes or KEPT_S pass: for what reads many trades and changes only with a
    new one. (A trade recorded late with an older time shows within KEPT_S.)"""
    newest = get_store().list_trades(limit=1)
    full_key = (name, (newest[0]["trade_id"], newest[0]["ts"]) if newest else None, *key)
    cache = current_app.extensions.setdefault("kept_until_next_trade", TTLCache(8, KEPT_S))
    with _kept_lock:
        if full_key in cache:
            return cache[full_key]
    value = compute()
    with _kept_lock:
        cache[full_key] = value
    return value
