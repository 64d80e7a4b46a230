"""Blueprints of the web app, one per page, plus the accessors they share."""
from __future__ import annotations

from flask import current_app

from config import Config
from store.base import Store


def get_store() -> Store:
    """The store opened once by create_app for this app."""
    return current_app.extensions["store"]


def get_config() -> Config:
    """The Config this app was built with."""
    return current_app.extensions["nifty_config"]
