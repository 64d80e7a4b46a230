"""Runs under Fyers' 2026 rules, through the real SDK against the sandbox: a re-run after a
crash with either tag form, a day of MPP orders whose fills the store records exactly, an IP
Fyers does not know, and quick runs that share one rate budget without a single 429."""
from __future__ import annotations

import pytest

from broker import REGISTER_IP
from executor import run_once
from fyers_sandbox import FYERS_RATE_LIMITS
from live_strategy import run_live
from order_flow import order_tag
from order_outcomes import phrase
from tests.batch.conftest import DEMO, FYERS_2026, START
from tests.batch.helpers import calls_to, expected_intents, fast_broker, run_cli, run_trades
from tests.faults.helpers import assert_books_agree

DAY = START[:10]


@pytest.mark.parametrize("bare", [False, True], ids=["tags-prefixed", "tags-bare"])
def test_a_rerun_after_a_crash_never_places_a_second_order(run_config, store, broker, sandbox,
                                                           bare):
    from datetime import date

    [intent] = expected_intents(broker, store, run_config, date.fromisoformat(DAY))
    tag = order_tag("crashed", intent.symbol, intent.side)
    broker.place_market_order(intent.symbol, intent.qty, 1, tag)  # then the run was killed
    sandbox.admin("faults", bare_tags=bare)

    run_live(run_config, store, broker, run_id="crashed")

    assert len(broker.orders(tag=tag)) == 1 and calls_to(sandbox, "/orders/sync") == 1
    [trade] = run_trades(store, "crashed")
    assert trade["order_tag"] == tag and store.get_order(tag)["status"] == "traded"


@pytest.mark.parametrize("sandbox", [FYERS_2026], indirect=True)
def test_a_day_of_mpp_orders_is_recorded_exactly_as_the_broker_filled_it(run_config, store,
                                                                         sandbox, broker):
    config = run_config.with_overrides(max_new_entries_per_run=4, max_new_entries_per_day=16,
                                       entry_candidates=50, exit_threshold_pct=0.3,
                                       order_fill_timeout_s=1.0)
    sandbox.admin("clock", now=f"{DAY}T09:45:00")
    for number in range(4):
        run_live(config, store, broker, run_id=f"mpp{number}")
        assert_books_agree(config, store)  # trades = the tradebook's fills of our orders
        sandbox.admin("clock", advance_seconds=1800)
    statuses = {order["status"] for order in store.list_orders()}
    assert {"traded", "partial", "unfilled"} <= statuses, statuses


@pytest.mark.parametrize("sandbox", [{**DEMO, "allowed_ips": ("203.0.113.9",)}], indirect=True)
def test_a_machine_fyers_does_not_know_fails_the_run_and_records_nothing(run_config, store,
                                                                        logged_in):
    run = run_once(run_config, trigger="scheduled", force=True, broker_factory=fast_broker)
    assert run["status"] == "failed" and REGISTER_IP in run["error"]
    assert "Traceback" not in run["error"]
    assert store.list_trades() == [] and store.get_positions() == []
    [order] = store.list_orders()  # refused before Fyers took it: never "waiting at Fyers"
    assert phrase(order).startswith("not placed: Fyers refused the request")


def test_an_order_whose_cancel_fyers_refuses_reads_still_open_until_a_run_settles_it(
        run_config, store, sandbox, logged_in):
    """Fyers left the order open and answered the bot's cancel after the fill timeout with a
    429: the run must not say nothing was bought (part may have filled), nor record a part a
    later fill would add to."""
    def refusing_cancels(config, access_token=None, **options):
        broker = fast_broker(config, access_token, **options)
        cancel = broker.cancel_order

        def refused(order_id):
            sandbox.admin("faults", http_429_next=1)  # Fyers' answer to the cancel request
            return cancel(order_id)

        broker.cancel_order = refused
        return broker

    sandbox.admin("faults", pending_next_orders=1)
    run = run_once(run_config, trigger="manual", force=True, broker_factory=refusing_cancels)

    assert run["status"] == "warning"
    assert "1 order still open at Fyers after the bot tried to cancel it" in run["summary"]
    assert run["summary"].startswith("Nothing recorded as bought or sold yet;")
    [order] = store.list_orders()
    assert phrase(order) == (f"waiting at Fyers: 0 of {order['qty']} filled so far; the bot "
                             f"could not cancel the rest, the next run settles it")
    assert store.list_trades() == []

    sandbox.admin("fill-pending")  # Fyers fills the rest while no run watches
    run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)
    assert phrase(store.get_order(order["tag"])) == "filled"
    assert sum(trade["qty"] for trade in store.list_trades()) == order["qty"]


def test_a_cancel_the_exchange_confirms_a_moment_later_is_a_cancel_not_an_open_order(
        run_config, store, sandbox, logged_in):
    """Fyers accepts the bot's cancel after the fill timeout and shows the order in transit
    for two more reads: the order was not filled, and the run does not say it is still open."""
    sandbox.admin("faults", pending_next_orders=1, slow_cancel_next=1)
    run = run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)

    [order] = store.list_orders()
    assert phrase(order) == f"not filled in {run_config.order_fill_timeout_s:g} s, cancelled"
    assert "still open" not in run["summary"] and store.list_trades() == []


def test_a_cancel_fyers_never_confirms_reads_still_open_and_says_so(run_config, store, sandbox,
                                                                   logged_in):
    sandbox.admin("faults", pending_next_orders=1, slow_cancel_next=1, slow_cancel_reads=10_000)
    run = run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)

    assert "1 order still open at Fyers after the bot tried to cancel it" in run["summary"]
    [order] = store.list_orders()
    assert phrase(order) == (f"waiting at Fyers: 0 of {order['qty']} filled so far; Fyers had "
                             f"not confirmed the bot's cancel of the rest, the next run settles it")


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", [{"rate_limits": FYERS_RATE_LIMITS}], indirect=True)
def test_four_quick_runs_after_the_clock_moved_never_draw_a_429(run_config, store, sandbox,
                                                                logged_in):
    """Each run is its own process (as "Run now" starts it) and, a session having been missed
    since the last one, fetches history for 50 symbols: together more than Fyers' 200 calls a
    minute, so they must share a budget."""
    sessions = ["2026-10-05", "2026-10-07", "2026-10-09", "2026-10-13"]
    for day in sessions:
        sandbox.admin("clock", now=f"{day}T15:45:00")
        result = run_cli(run_config, "executor.py", "--force", "--dry-run", timeout=240)
        assert result.returncode == 0, result.stdout + result.stderr
    stats = sandbox.admin("stats", method="GET")
    assert calls_to(sandbox, "/history") >= 4 * 50
    assert "429" not in stats["statuses"]
