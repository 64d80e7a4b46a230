"""The executor CLI killed (SIGKILL) at random points of its run, twenty times through a
trading session with buys and sells: after each crash the next run succeeds, and broker and
store agree."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import pytest

from config import PROJECT_DIR, Config
from executor import LOCK_NAME
from tests.batch.helpers import cli_env
from tests.faults.helpers import CLEAR_FAULTS, assert_books_agree, run

CRASHES = 20
SEED = 20261126
MAX_KILL_DELAY_S = 1.0  # a warm run takes about a second; a pending order adds the fill timeout
SESSION_START = "2026-10-01T09:30:00"
STEP_S = 900  # prices move along the session between runs, so held stocks hit the exit target
START_WAIT_S = 60
# Small exit target, more candidates and no daily entry cap (the loop is one trading day):
# most runs both sell and buy.
SETTINGS = {"EXIT_THRESHOLD_PCT": "0.3", "ENTRY_CANDIDATES": "50", "MAX_NEW_ENTRIES_PER_RUN": "2",
            "MAX_NEW_ENTRIES_PER_DAY": "100", "ORDER_FILL_TIMEOUT_S": "1"}
ORDER_FAULTS = ({}, {}, {"pending_next_orders": 1}, {"lost_ack_next": 1})


@pytest.fixture
def crash_config(run_config: Config) -> Config:
    """run_config with SETTINGS, which the CLI child gets through its environment too."""
    parsed = Config.from_mapping(SETTINGS)
    return run_config.with_overrides(**{key.lower(): getattr(parsed, key.lower())
                                        for key in SETTINGS})


def start_and_kill(config: Config, store, run_id: str, delay_s: float) -> None:
    """Start the executor CLI, wait until its run is recorded, SIGKILL it `delay_s` later."""
    child = subprocess.Popen([sys.executable, "executor.py", "--force", "--run-id", run_id],
                             cwd=PROJECT_DIR, env={**os.environ, **cli_env(config), **SETTINGS},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_WAIT_S
        while store.get_run(run_id) is None and child.poll() is None:
            assert time.monotonic() < deadline, "the executor did not start its run"
            time.sleep(0.05)
        time.sleep(delay_s)
    finally:
        child.kill()
        child.wait(timeout=10)


@pytest.mark.slow
def test_killed_twenty_times_the_books_still_agree(crash_config, store, sandbox, logged_in):
    rng = random.Random(SEED)
    sandbox.admin("clock", now=SESSION_START)
    assert run(crash_config)["status"] == "succeeded"  # candles cached, a first book to sell
    for crash in range(CRASHES):
        sandbox.admin("clock", advance_seconds=STEP_S)
        sandbox.admin("faults", **rng.choice(ORDER_FAULTS))
        start_and_kill(crash_config, store, f"crash{crash}", rng.uniform(0, MAX_KILL_DELAY_S))
        sandbox.admin("faults", **CLEAR_FAULTS)
        if rng.random() < 0.5:
            sandbox.admin("fill-pending")  # the exchange fills what waited while no one watched
        store.release_lock(LOCK_NAME, f"crash{crash}")  # what the lock's TTL does later
        after = run(crash_config)
        assert after["status"] == "succeeded", (crash, after)
        assert_books_agree(crash_config, store)
    sides = {trade["side"] for trade in store.list_trades()}
    assert sides == {"BUY", "SELL"}, "the loop never sold: it did not test sells"
    assert {store.get_run(f"crash{n}")["status"] for n in range(CRASHES)} <= {"failed",
                                                                              "succeeded"}
