"""Whole executor runs (real run_once, real SDK, sandbox on loopback) while Fyers misbehaves:
whatever the fault, the run ends with a clear status and afterwards the broker's book and
the store's trades agree exactly."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from broker import STATUS_CANCELLED
from executor import LOCK_NAME, run_once
from messages import BROKER_UNAVAILABLE, DEADLINE_PASSED, LOGIN_NEEDED, RATE_LIMITED, Failure
from tests.batch.helpers import calls_to, run_cli
from tests.faults.helpers import (
    CLEAR_FAULTS,
    DONE,
    assert_books_agree,
    fault_when,
    on_call,
    quick_broker,
    run,
)

FAILED, WARNING = ("failed",), ("warning",)
STALL_MS = 30_000  # a broker call that takes this long (the sandbox sleeps before answering)
SHORT_DEADLINE_S = 6.0  # a warm run reaches its first order well before this
SLOW_CALLS_MS = 300  # room to arm a fault while a request is on its way
SHORT_WINDOW_S = 2.0  # Fyers' rate-limit window, scaled down


@dataclass(frozen=True)
class Fault:
    """Faults to arm, when (after n more calls on a path, or before the run when None), and
    the statuses the run may end with."""

    faults: dict[str, Any]
    status: tuple[str, ...]
    when: tuple[str, int] | None = None
    clear_after_s: float | None = None
    error: str = ""  # text the failed run's error must contain
    failure: Failure | None = None  # the sentence a failed run's summary must be


MID_HISTORY = ("/history", 5)  # a cold run fetches 50 symbols' candles: hit it half-way
FAULTS = {
    "429 storm absorbed by retries": Fault({"http_429_next": 3}, DONE, MID_HISTORY),
    "429 storm beyond retries": Fault({"http_429_next": 40}, FAILED, MID_HISTORY,
                                      error="request limit", failure=RATE_LIMITED),
    "5xx burst absorbed by retries": Fault({"http_5xx_next": 3}, DONE, MID_HISTORY),
    "5xx burst beyond retries": Fault({"http_5xx_next": 40}, FAILED, MID_HISTORY,
                                      error="503", failure=BROKER_UNAVAILABLE),
    "2 s latency while ordering": Fault({"latency_ms": 2000}, DONE,
                                        ("/api/v3/orders", 1), clear_after_s=2.5),
    "5xx on the order itself": Fault({"http_5xx_next": 1}, DONE, ("/api/v3/orders", 1)),
    "lost acknowledgements": Fault({"lost_ack_next": 2}, DONE),
    "partial fills": Fault({"partial_fill_next": 2}, WARNING),
    "orders that never fill": Fault({"pending_next_orders": 2}, WARNING),
    "rejected orders": Fault({"reject_next_orders": 1}, WARNING),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_after_a_faulty_run_broker_and_store_agree(fault, run_config, store, sandbox,
                                                   logged_in):
    if fault.when is None:
        sandbox.admin("faults", **fault.faults)
        faulty = run(run_config)
    else:
        path, calls = fault.when
        with fault_when(sandbox, path, calls, fault.clear_after_s, **fault.faults):
            faulty = run(run_config)
    assert faulty["status"] in fault.status, faulty
    assert fault.error in (faulty["error"] or "")
    if fault.failure:
        assert faulty["summary"] == fault.failure.sentence
    sandbox.admin("faults", **CLEAR_FAULTS)
    assert_books_agree(run_config, store, settled=False)  # an unanswered order may wait

    assert run(run_config)["status"] in DONE
    assert store.list_trades(), "the runs bought nothing: the faults met no order"
    assert_books_agree(run_config, store)


def test_orders_that_never_fill_are_cancelled_after_the_timeout(run_config, store, sandbox,
                                                                logged_in, broker):
    sandbox.admin("faults", pending_next_orders=2)
    done = run(run_config)
    assert done["status"] == "warning" and "2 orders not filled in 1 s, cancelled" in \
        done["summary"]
    assert "refused" not in done["summary"] and "rejected" not in done["summary"]
    assert store.list_trades() == []
    orders = store.list_orders()
    assert len(orders) == 2 and {o["status"] for o in orders} == {"unfilled"}
    assert {o.status for o in broker.orders()} == {STATUS_CANCELLED}


def test_a_token_ended_while_a_fill_is_awaited_is_settled_by_the_next_run(
        run_config, store, sandbox, logged_in):
    sandbox.admin("faults", pending_next_orders=1)
    patient = run_config.with_overrides(order_fill_timeout_s=5.0)  # polls long after the expiry
    # orderbook calls: the tag lookup, the order by id, then polls every 0.5 s
    with fault_when(sandbox, "/api/v3/orders", 3, expire_tokens=True):
        stopped = run(patient)
    assert stopped["status"] == "failed" and stopped["summary"] == LOGIN_NEEDED.sentence
    [open_order] = store.list_orders()
    assert open_order["status"] == "placed" and store.list_trades() == []

    sandbox.admin("fill-pending")  # the exchange fills it while no run watches
    settled = run(run_config)  # refreshes the token first
    assert settled["status"] in DONE
    [trade] = [t for t in store.list_trades() if t["order_tag"] == open_order["tag"]]
    assert trade["trade_id"] == open_order["broker_order_id"]
    assert_books_agree(run_config, store)


def test_a_stalled_broker_call_cannot_keep_a_run_past_its_deadline(alerting_config, store,
                                                                   sandbox, logged_in,
                                                                   telegram):
    config = alerting_config.with_overrides(run_deadline_s=SHORT_DEADLINE_S,
                                            order_fill_timeout_s=60.0)
    run_once(config, trigger="manual", dry_run=True, force=True, broker_factory=quick_broker)
    sandbox.admin("faults", pending_next_orders=1)
    # Every call after the first order stalls: its fill is never seen, the second never placed.
    with fault_when(sandbox, "/api/v3/orders/sync", 1, latency_ms=STALL_MS):
        stopped = run(config)
    assert stopped["status"] == "failed" and stopped["summary"] == DEADLINE_PASSED.sentence
    assert "RUN_DEADLINE_S" in stopped["error"]
    assert store.get_run(stopped["run_id"])["status"] == "failed"
    assert store.lock_owner(LOCK_NAME) is None, "the stopped run kept its lock"
    assert calls_to(sandbox, "/api/v3/orders/sync") == 1
    assert any(DEADLINE_PASSED.sentence in text for text in telegram.texts)

    sandbox.admin("faults", **CLEAR_FAULTS)
    sandbox.admin("fill-pending")  # the exchange fills it while no run watches
    assert run(alerting_config)["status"] in DONE  # settles what the stopped run left
    assert_books_agree(config, store)


def test_a_429_on_an_order_waits_for_the_window_then_places_the_rest_once(run_config, store,
                                                                         sandbox, logged_in):
    config = run_config.with_overrides(rate_limit_window_s=SHORT_WINDOW_S)
    run_once(config, trigger="manual", dry_run=True, force=True, broker_factory=quick_broker)
    sandbox.admin("faults", latency_ms=SLOW_CALLS_MS)
    # The executor CLI in a process of its own; this one arms the 429 the first order meets.
    with on_call(sandbox, "/api/v3/orders/sync", 1,
                 lambda done: sandbox.admin("faults", http_429_next=1)):
        result = run_cli(config, "executor.py", "--force")
    sandbox.admin("faults", **CLEAR_FAULTS)
    assert result.returncode == 0 and "failed" not in result.stdout
    # The first placement met the 429 and was placed again; cancels of orders Fyers' price
    # protection left pending share the path, so count the refusal rather than the calls.
    assert sandbox.admin("stats", method="GET")["statuses"].get("429", 0) >= 1
    assert store.search_logs(text="waiting for the rate-limit window").rows
    assert len(store.list_orders()) == 2  # both intents went out
    assert_books_agree(config, store)  # each once
