"""Fixtures of the backtest suite: the hand-made scenario written as CSV files, and the web
app's client logged in, for the Backtests pages."""
from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from app import create_app
from tests.backtest.scenario import scenario_closes, write_csv
from tests.web.conftest import PASSWORD, AuthActions


@pytest.fixture
def scenario_dir(tmp_path):
    """The scenario as CSV files, named both ways the loader accepts."""
    folder = tmp_path / "candles"
    folder.mkdir()
    names = {"AAA": "AAA", "BBB": "NSE_BBB-EQ", "CCC": "CCC"}
    for symbol, closes in scenario_closes().items():
        write_csv(folder, names[symbol], closes)
    return folder


@pytest.fixture
def client(config):
    """The web app on `config`'s store, with user alice, not logged in."""
    app = create_app(config)
    app.config["TESTING"] = True
    app.extensions["store"].create_user("alice", generate_password_hash(PASSWORD))
    yield app.test_client()
    app.extensions["store"].close()


@pytest.fixture
def logged_in(client):
    """The client logged in as alice."""
    assert AuthActions(client).login().status_code == 302
    return client
