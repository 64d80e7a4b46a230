"""Whole executor runs (real run_once, real SDK, sandbox on loopback) while Fyers misbehaves:
whatever the fault, the run ends with a clear status and afterwards the broker's book and
the store's trades agree exactly."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from broker import STATUS_CANCELLED
from executor import LOGIN_NEEDED
from tests.faults.helpers import CLEAR_FAULTS, assert_books_agree, fault_when, run


@dataclass(frozen=True)
class Fault:
    """Faults to arm, when (after n more calls on a path, or before the run when None), and
    the status the run must end with."""

    faults: dict[str, Any]
    status: str
    when: tuple[str, int] | None = None
    clear_after_s: float | None = None
    error: str = ""  # text the failed run's error must contain


MID_HISTORY = ("/history", 5)  # a cold run fetches 50 symbols' candles: hit it half-way
FAULTS = {
    "429 storm absorbed by retries": Fault({"http_429_next": 3}, "succeeded", MID_HISTORY),
    "429 storm beyond retries": Fault({"http_429_next": 40}, "failed", MID_HISTORY,
                                      error="request limit"),
    "5xx burst absorbed by retries": Fault({"http_5xx_next": 3}, "succeeded", MID_HISTORY),
    "5xx burst beyond retries": Fault({"http_5xx_next": 40}, "failed", MID_HISTORY,
                                      error="503"),
    "2 s latency while ordering": Fault({"latency_ms": 2000}, "succeeded",
                                        ("/api/v3/orders", 1), clear_after_s=2.5),
    "5xx on the order itself": Fault({"http_5xx_next": 1}, "succeeded", ("/api/v3/orders", 1)),
    "lost acknowledgements": Fault({"lost_ack_next": 2}, "succeeded"),
    "partial fills": Fault({"partial_fill_next": 2}, "succeeded"),
    "orders that never fill": Fault({"pending_next_orders": 2}, "succeeded"),
    "rejected orders": Fault({"reject_next_orders": 1}, "succeeded"),
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
    assert faulty["status"] == fault.status, faulty
    assert fault.error in (faulty["error"] or "")
    sandbox.admin("faults", **CLEAR_FAULTS)
    assert_books_agree(run_config, store, settled=False)  # an unanswered order may wait

    assert run(run_config)["status"] == "succeeded"
    assert store.list_trades(), "the runs bought nothing: the faults met no order"
    assert_books_agree(run_config, store)


def test_orders_that_never_fill_are_cancelled_after_the_timeout(run_config, store, sandbox,
                                                                logged_in, broker):
    sandbox.admin("faults", pending_next_orders=2)
    done = run(run_config)
    assert done["status"] == "succeeded" and "2 order(s) refused" in done["summary"]
    assert store.list_trades() == []
    orders = store.list_orders()
    assert len(orders) == 2 and {o["status"] for o in orders} == {"cancelled"}
    assert {o.status for o in broker.orders()} == {STATUS_CANCELLED}


def test_a_token_ended_while_a_fill_is_awaited_is_settled_by_the_next_run(
        run_config, store, sandbox, logged_in):
    sandbox.admin("faults", pending_next_orders=1)
    patient = run_config.with_overrides(order_fill_timeout_s=5.0)  # polls long after the expiry
    # orderbook calls: the tag lookup, the order by id, then polls every 0.5 s
    with fault_when(sandbox, "/api/v3/orders", 3, expire_tokens=True):
        stopped = run(patient)
    assert stopped["status"] == "failed" and stopped["summary"] == LOGIN_NEEDED
    [open_order] = store.list_orders()
    assert open_order["status"] == "placed" and store.list_trades() == []

    sandbox.admin("fill-pending")  # the exchange fills it while no run watches
    settled = run(run_config)  # refreshes the token first
    assert settled["status"] == "succeeded"
    [trade] = [t for t in store.list_trades() if t["order_tag"] == open_order["tag"]]
    assert trade["trade_id"] == open_order["broker_order_id"]
    assert_books_agree(run_config, store)
