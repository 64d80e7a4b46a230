"""A run outside NSE's session, or one the close overtakes, places nothing and says why; the
session is read from Fyers' clock (the time on its replies), not this machine's; an order Fyers no
longer knows is closed in words, with nothing recorded as filled. Real SDK, sandbox on
loopback (Fyers' 2026 rules), real SQLite."""
from __future__ import annotations

import itertools
import logging

import pytest

import executor
import live_strategy
from broker import SIDE_BUY
from fyers_sandbox.testing import start_sandbox
from live_strategy import run_live
from market_hours import FyersClock
from order_outcomes import phrase
from tests.batch.conftest import FYERS_2026, START
from tests.batch.helpers import FAST_LIMITS, calls_to, fast_broker, run_cli, store_tokens

SATURDAY_NIGHT = "2026-11-28T22:00:00"
CLOSED = "NSE is closed until Mon 09:15 IST: nothing was placed"
FYERS_RULES = pytest.mark.parametrize("sandbox", [FYERS_2026], indirect=True)


@FYERS_RULES
def test_a_saturday_forced_run_places_nothing_and_says_nse_is_closed(run_config, store,
                                                                     sandbox, logged_in):
    sandbox.admin("clock", now=SATURDAY_NIGHT)
    result = run_cli(run_config, "executor.py", "--force")
    assert result.returncode == 0, result.stderr
    assert f"succeeded with warnings: {CLOSED}; would buy " in result.stdout
    assert calls_to(sandbox, "/orders/sync") == 0  # not one order call reached Fyers
    assert store.list_orders() == [] and store.list_trades() == []
    [run] = store.list_runs()
    assert run["summary"].startswith(f"{CLOSED}; would buy ")
    steps = {step["name"]: step["detail"] for step in run["steps"]}
    assert steps["orders"] == steps["fills"] == \
        "NSE is closed until Mon 09:15 IST: nothing was placed"


@FYERS_RULES
def test_a_run_that_finds_nse_closed_is_amber_even_with_nothing_to_place(run_config, store,
                                                                        sandbox, logged_in):
    sandbox.admin("clock", now=SATURDAY_NIGHT)
    nothing_to_buy = run_config.with_overrides(entry_threshold_pct=50.0)
    run = executor.run_once(nothing_to_buy, trigger="manual", force=True,
                            broker_factory=fast_broker)
    assert run["summary"].startswith(f"{CLOSED} (") and "would buy" not in run["summary"]
    assert run["status"] == "warning"


@FYERS_RULES
def test_a_run_started_a_second_before_the_close_places_nothing_after_it(
        run_config, store, sandbox, broker, monkeypatch, caplog):
    """Fyers' time is 15:29:59 when the quotes are read; every later reading of the session is
    0.6 s on: open when the run decides, closed when its order would go."""
    sandbox.admin("clock", now="2026-10-01T15:29:59")
    ticks, read = itertools.count(step=0.6), FyersClock.from_quotes

    def stepping(quotes, **_clocks):
        return read(quotes, monotonic=lambda: next(ticks))

    monkeypatch.setattr(live_strategy.FyersClock, "from_quotes", stepping)
    with caplog.at_level(logging.WARNING):
        result = run_live(run_config, store, broker, run_id="late")
    assert result.intents and result.held_back == result.intents
    assert calls_to(sandbox, "/orders/sync") == 0
    assert store.list_orders() == [] and store.list_trades() == []  # nothing half-recorded
    # 1 Oct 2026 is a Thursday and 2 Oct (Gandhi Jayanti) a holiday
    assert result.summary.startswith(
        "NSE is closed until Mon 09:15 IST: nothing was placed; would buy ")
    assert any(record.getMessage().startswith("NSE is closed until Mon 09:15 IST: BUY ")
               and record.getMessage().endswith(" not placed") for record in caplog.records)


def test_fyers_clock_wins_over_a_machine_clock_months_off(run_config, store, sandbox, broker,
                                                          caplog):
    """The sandbox's clock (Fyers') is in a session months away from this machine's: the run
    trades (demo fills: the point is the clock), and says the machine's clock is off."""
    with caplog.at_level(logging.WARNING):
        result = run_live(run_config, store, broker, run_id="skew")
    assert result.fills and not result.closed
    assert "days ahead of Fyers' (the time on its replies): market hours follow Fyers" in caplog.text
    sandbox.admin("clock", now=SATURDAY_NIGHT)  # and the other way: closed whatever this says
    result = run_live(run_config, store, broker, run_id="skew2")
    assert result.closed == "NSE is closed until Mon 09:15 IST" and not result.fills


@FYERS_RULES
def test_after_market_orders_wait_for_the_open_when_opted_in(run_config, store, sandbox,
                                                             logged_in):
    sandbox.admin("clock", now=SATURDAY_NIGHT)
    config = run_config.with_overrides(after_market_orders=True)
    run = executor.run_once(config, trigger="manual", force=True, broker_factory=fast_broker)
    assert run["status"] == "succeeded", run["summary"]
    assert "1 order waiting at Fyers for the open" in run["summary"]
    [order] = store.list_orders()
    assert order["status"] == "placed" and store.list_trades() == []
    assert phrase(order) == "waiting at Fyers: waits for the open (NSE is closed until Mon " \
                            "09:15 IST)"
    sandbox.admin("clock", now="2026-11-30T09:20:00")  # Monday: the AMO filled at the open
    run = executor.run_once(config, trigger="manual", force=True, broker_factory=fast_broker)
    assert store.get_order(order["tag"])["status"] == "traded"
    assert store.list_trades()[-1]["order_tag"] == order["tag"]


@FYERS_RULES
def test_an_order_id_fyers_no_longer_knows_is_closed_in_words(run_config, store, sandbox,
                                                              broker, caplog):
    """An order placed on a sandbox that then restarted without its state: Fyers' book no
    longer has it. The next run closes it saying so and records no fill."""
    sandbox.admin("faults", pending_next_orders=1)
    placed = broker.place_market_order("NSE:SBIN-EQ", 3, SIDE_BUY, "NSlost1")
    store.upsert_order({"tag": "NSlost1", "run_id": "earlier", "symbol": "NSE:SBIN-EQ",
                        "side": "BUY", "qty": 3, "reason": "entry",
                        "broker_order_id": placed.order_id, "status": "placed", "filled_qty": 0,
                        "traded_price": None, "message": "", "created_at": 1.0,
                        "updated_at": 1.0})
    with start_sandbox(rate_limits=FAST_LIMITS, start=START) as restarted:
        config = run_config.with_overrides(fyers_sandbox_url=restarted.url)
        store_tokens(config, store, restarted)
        with caplog.at_level(logging.WARNING):
            run = executor.run_once(config, trigger="manual", force=True,
                                    broker_factory=fast_broker)
    order = store.get_order("NSlost1")
    assert order["status"] == "unknown" and order["filled_qty"] == 0
    assert phrase(order) == (f"not recorded as filled: Fyers no longer shows order "
                             f"{placed.order_id} in today's order book; check the Fyers app's "
                             f"orders")
    assert not [t for t in store.list_trades() if t["order_tag"] == "NSlost1"]
    assert run["status"] == "warning"
    assert "1 order unknown to Fyers, not recorded as filled" in run["summary"]
    assert "reject" not in run["summary"] and "refus" not in run["summary"]


def close_passes_once_placed(sandbox):
    """A monotonic clock for the run's reading of Fyers' time: before the close until an order
    reaches the sandbox, a minute on from then; Fyers' own clock passes the close at that
    moment too, as it would while the run waits."""
    placed = []

    def monotonic() -> float:
        if not placed and calls_to(sandbox, "/orders/sync"):
            sandbox.admin("clock", now="2026-10-01T15:30:30")
            placed.append(True)
        return 60.0 if placed else 0.0

    return monotonic


@FYERS_RULES
def test_a_day_order_open_at_the_close_expires_and_does_not_wait_for_the_open(
        run_config, store, sandbox, logged_in, monkeypatch):
    """Even with after-market orders on, an order placed during the session is a DAY order:
    open at the close, Fyers expires it; it is not left to wait for the open."""
    sandbox.admin("clock", now="2026-10-01T15:29:50")
    sandbox.admin("faults", pending_next_orders=1)
    ticks, read = close_passes_once_placed(sandbox), FyersClock.from_quotes
    monkeypatch.setattr(live_strategy.FyersClock, "from_quotes",
                        lambda quotes, **_clocks: read(quotes, monotonic=ticks))
    config = run_config.with_overrides(after_market_orders=True)
    run = executor.run_once(config, trigger="manual", force=True, broker_factory=fast_broker)
    [order] = store.list_orders()
    assert order["status"] == "expired" and store.list_trades() == []
    assert phrase(order) == "expired at the close"
    assert run["status"] == "warning"
    assert "1 order expired at the close" in run["summary"]
    assert "for the open" not in run["summary"]
