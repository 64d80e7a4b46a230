"""Strategy settings live in the store: the web app's first start saves the environment's, the
Strategy page shows and edits what the next run uses, and a run elsewhere reads them."""
from __future__ import annotations

import html
import logging

import pytest

import strategy_settings
from app import close_app, create_app
from store import open_store
from tests.web.conftest import AuthActions

FORM = {"MA_PERIOD": "30", "ENTRY_THRESHOLD_PCT": "1.5", "EXIT_THRESHOLD_PCT": "6.28",
        "AVERAGING_THRESHOLD_PCT": "3.14", "ENTRY_CANDIDATES": "5", "MAX_TRADE_VALUE": "12000",
        "MAX_NEW_ENTRIES_PER_RUN": "1", "MAX_NEW_ENTRIES_PER_DAY": "1", "REBUY_COOLDOWN_DAYS": "5"}


@pytest.fixture
def auth(client) -> AuthActions:
    actions = AuthActions(client)
    actions.login()
    return actions


def saved(db) -> dict:
    return db.get_setting(strategy_settings.STORE_KEY)


def test_the_first_start_saves_the_environments_settings_once(make_app, config):
    first = make_app(config.with_overrides(ma_period=30, max_trade_value=5000.0))
    db = first.extensions["store"]
    assert (saved(db)["ma_period"], saved(db)["max_trade_value"]) == (30, 5000.0)
    close_app(create_app(config))  # a later start with other values changes nothing
    assert saved(db)["ma_period"] == 30
    # a run elsewhere (e.g. a GitHub runner) with no strategy settings in its environment
    assert strategy_settings.for_runs(config, db).ma_period == 30


def test_the_page_shows_what_the_next_run_uses_with_ranges(auth, db):
    db.set_setting(strategy_settings.STORE_KEY, {"ma_period": 44})
    page = auth.client.get("/strategy").get_data(as_text=True)
    assert 'name="MA_PERIOD" type="number" step="1"' in page
    assert 'value="44"' in page and "Allowed: between 2 and 250" in page
    assert 'name="EXIT_THRESHOLD_PCT"' in page and "Allowed: between 0.01 and 100" in page
    assert "Allowed: between 100 and 1,00,00,000" in page  # MAX_TRADE_VALUE, not 1e+07


def test_a_change_is_saved_for_every_run_and_logged_with_who_made_it(auth, app, db):
    response = auth.post("/strategy/settings", "/strategy", **FORM)
    assert response.status_code == 302
    assert saved(db)["ma_period"] == 30 and saved(db)["max_trade_value"] == 12000.0
    page = auth.client.get("/strategy").get_data(as_text=True)
    assert "Saved: MA_PERIOD 20 → 30, ENTRY_THRESHOLD_PCT 0.0 → 1.5, MAX_TRADE_VALUE " \
           "10000.0 → 12000.0. The next run uses them." in page
    flush_logs()
    logged = [row["message"] for row in db.search_logs(text="strategy settings changed").rows]
    assert logged == ["strategy settings changed by alice: MA_PERIOD 20 → 30, "
                      "ENTRY_THRESHOLD_PCT 0.0 → 1.5, MAX_TRADE_VALUE 10000.0 → 12000.0"]


def flush_logs() -> None:
    """Wait until the store log handler has written what was logged (it writes in batches)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


@pytest.mark.parametrize("key,value,message", [
    ("MA_PERIOD", "abc", "MA_PERIOD='abc' is invalid"),
    ("EXIT_THRESHOLD_PCT", "1000", "EXIT_THRESHOLD_PCT='1000' is invalid: must be between 0.01 "
                                   "and 100"),
    ("MAX_TRADE_VALUE", "nan", "MAX_TRADE_VALUE='nan' is invalid: must be a finite number"),
    ("ENTRY_CANDIDATES", " ", "ENTRY_CANDIDATES is empty: enter a value between 1 and 50"),
])
def test_a_bad_value_saves_nothing_and_says_why_beside_the_field(auth, db, key, value, message):
    before = saved(db)
    response = auth.post("/strategy/settings", "/strategy", **{**FORM, key: value})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert message in page and 'class="form-control is-invalid"' in page
    assert f'name="{key}"' in page and f'value="{value}"' in page  # what was typed is kept
    assert 'value="1.5"' in page
    assert saved(db) == before


def test_settings_from_the_environment_are_shown_but_not_editable(make_app, config):
    app = make_app(config.with_overrides(strategy_from_env=True, ma_period=25))
    db = app.extensions["store"]
    assert saved(db) is None
    auth = AuthActions(app.test_client())
    auth.login()
    page = auth.client.get("/strategy").get_data(as_text=True)
    assert "STRATEGY_FROM_ENV is set" in page and "<fieldset disabled>" in page
    assert 'value="25"' in page
    response = auth.post("/strategy/settings", "/strategy", **FORM)
    assert response.status_code == 400 and saved(db) is None


class CountingReads:
    """The app's real store, counting settings reads."""

    def __init__(self, store) -> None:
        self._store, self.reads = store, 0

    def get_setting(self, key, default=None):
        self.reads += 1
        return self._store.get_setting(key, default)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_the_page_reads_the_settings_once(auth, app):
    counting = CountingReads(app.extensions["store"])
    app.extensions["store"] = counting
    assert auth.client.get("/strategy").status_code == 200
    assert counting.reads == 1


def test_a_saved_value_out_of_range_fails_a_run_in_one_line(config, tmp_path):
    store = open_store(config.database_url)
    store.set_setting(strategy_settings.STORE_KEY, {"ma_period": 9999})
    with pytest.raises(ValueError, match="^a strategy setting saved in the store is invalid: "
                                         "MA_PERIOD=.9999. is invalid: must be between 2 and 250"):
        strategy_settings.for_runs(config, store)
    store.close()
