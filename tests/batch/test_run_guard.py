"""The run guard on a real SQLite store: the lock outlives its TTL while the run works, a run
that lost its lock or its deadline stops before its next order, and work still busy at the
deadline is given up."""
from __future__ import annotations

import threading
import time

import pytest

from run_guard import DeadlinePassed, LockLost, RunGuard

WAIT_S = 30  # an upper bound for a condition, never a speed requirement


def guard(store, **times: float) -> RunGuard:
    store.acquire_lock("run", "me", 2.0)
    return RunGuard(store, "run", "me", **{"ttl_s": 2.0, "beat_s": 0.1, "deadline_s": 60.0,
                                           **times})


def test_the_keeper_holds_the_lock_long_past_its_ttl(store):
    with guard(store) as keeper:
        time.sleep(5.0)  # 2.5 TTLs: without the keeper the lock would have expired
        assert store.lock_owner("run") == "me"
        assert not store.acquire_lock("run", "other", 60)
        keeper.checkpoint()


def test_a_run_whose_lock_was_taken_stops_at_its_next_checkpoint(store):
    with guard(store) as keeper:
        store.release_lock("run", "me")
        assert store.acquire_lock("run", "other", 60)
        deadline = time.monotonic() + WAIT_S
        with pytest.raises(LockLost):
            while time.monotonic() < deadline:
                keeper.checkpoint()
                time.sleep(0.05)
    assert store.lock_owner("run") == "other"


def test_work_still_busy_at_the_deadline_is_given_up_and_places_nothing_after(store):
    stalled, placed, stopped = threading.Event(), [], threading.Event()

    def work() -> None:
        stalled.wait(WAIT_S)  # a broker call that does not answer
        try:
            keeper.checkpoint()
            placed.append("order")
        finally:
            stopped.set()

    with guard(store, deadline_s=0.5) as keeper, pytest.raises(DeadlinePassed):
        keeper.run(work)
    stalled.set()  # the call answers at last
    assert stopped.wait(WAIT_S) and placed == []


def test_work_done_in_time_returns_its_result_or_raises_its_error(store):
    with guard(store) as keeper:
        assert keeper.run(lambda: 42) == 42
        with pytest.raises(KeyError):
            keeper.run(lambda: {}["missing"])
