"""The executor CLI killed (SIGKILL) at random points of its run, twenty times through a
trading session with buys and sells: after each crash the next run succeeds, and broker and
store agree; and the Strategy page does not keep showing a killed run as running."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import pytest

from config import PROJECT_DIR, Config
from executor import LOCK_NAME
from messages import INTERRUPTED
from tests.batch.helpers import cli_env
from tests.faults.helpers import CLEAR_FAULTS, DONE, assert_books_agree, run
from tests.web.conftest import AuthActions

CRASHES = 20
SEED = 20261126
MAX_KILL_DELAY_S = 1.0  # a warm run takes about a second; a pending order adds the fill timeout
SESSION_START = "2026-10-01T09:30:00"
STEP_S = 900  # prices move along the session between runs, so held stocks hit the exit target
START_WAIT_S = 60
# Small exit target, more candidates and no daily entry cap (the loop is one trading day):
# most runs both sell and buy.
SETTINGS = {"EXIT_THRESHOLD_PCT": "0.3", "ENTRY_CANDIDATES": "50", "MAX_NEW_ENTRIES_PER_RUN": "2",
            "MAX_NEW_ENTRIES_PER_DAY": "50", "ORDER_FILL_TIMEOUT_S": "1"}
ORDER_FAULTS = ({}, {}, {"pending_next_orders": 1}, {"lost_ack_next": 1})


@pytest.fixture
def crash_config(run_config: Config) -> Config:
    """run_config with SETTINGS, which the CLI child gets through its environment too."""
    parsed = Config.from_mapping(SETTINGS)
    return run_config.with_overrides(**{key.lower(): getattr(parsed, key.lower())
                                        for key in SETTINGS})


def start_and_kill(config: Config, store, run_id: str, delay_s: float,
                   started=lambda store, run_id: store.get_run(run_id) is not None,
                   while_running=lambda: None) -> None:
    """Start the executor CLI, wait until `started` (its run is recorded), call
    `while_running`, and SIGKILL it `delay_s` later."""
    child = subprocess.Popen([sys.executable, "executor.py", "--force", "--run-id", run_id],
                             cwd=PROJECT_DIR, env={**os.environ, **SETTINGS, **cli_env(config)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_WAIT_S
        while not started(store, run_id) and child.poll() is None:
            assert time.monotonic() < deadline, "the executor did not start its run"
            time.sleep(0.05)
        while_running()
        time.sleep(delay_s)
    finally:
        child.kill()
        child.wait(timeout=10)


@pytest.mark.slow
def test_killed_twenty_times_the_books_still_agree(crash_config, store, sandbox, logged_in):
    rng = random.Random(SEED)
    sandbox.admin("clock", now=SESSION_START)
    assert run(crash_config)["status"] in DONE  # candles cached, a first book to sell
    for crash in range(CRASHES):
        sandbox.admin("clock", advance_seconds=STEP_S)
        sandbox.admin("faults", **rng.choice(ORDER_FAULTS))
        start_and_kill(crash_config, store, f"crash{crash}", rng.uniform(0, MAX_KILL_DELAY_S))
        sandbox.admin("faults", **CLEAR_FAULTS)
        if rng.random() < 0.5:
            sandbox.admin("fill-pending")  # the exchange fills what waited while no one watched
        store.release_lock(LOCK_NAME, f"crash{crash}")  # what the lock's TTL does later
        after = run(crash_config)
        assert after["status"] in DONE, (crash, after)
        assert_books_agree(crash_config, store)
    sides = {trade["side"] for trade in store.list_trades()}
    assert sides == {"BUY", "SELL"}, "the loop never sold: it did not test sells"
    assert {store.get_run(f"crash{n}")["status"] for n in range(CRASHES)} <= {"failed", *DONE}


def test_the_strategy_page_does_not_stay_running_after_a_kill(make_app, crash_config, store,
                                                              sandbox, logged_in):
    client = make_app(crash_config).test_client()
    assert AuthActions(client).login().status_code == 302
    sandbox.admin("faults", pending_next_orders=1)  # the run waits on its order: kill it then
    seen_running = []
    start_and_kill(crash_config.with_overrides(order_fill_timeout_s=120), store, "killed", 0,
                   started=lambda store, run_id: store.list_orders(run_id=run_id),
                   while_running=lambda: seen_running.append(client.get("/strategy").text))
    assert "Running…" in seen_running[0]
    store.release_lock(LOCK_NAME, "killed")  # what the lock's TTL does a minute later

    page = client.get("/strategy").text
    assert ">Run now</button>" in page and "Running…" not in page and "disabled" not in page
    assert INTERRUPTED.sentence in page
    area = client.get("/strategy/status?run=killed").text  # the page's last poll
    assert "status-failed" in area and INTERRUPTED.sentence in area and "hx-trigger" not in area
    run_page = client.get("/strategy/runs/killed").text
    assert INTERRUPTED.sentence in run_page and "step-failed" in run_page
