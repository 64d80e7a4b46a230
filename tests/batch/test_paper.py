"""Paper trading against the sandbox through the real SDK (docs/paper.md): a week of runs
that never sends an order to Fyers and trades as the backtest engine decides on the same
candles, books that never mix, market hours read from Fyers' time, and crashes that leave no
half-recorded paper trade."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest

import order_outcomes
import paper_mode
import paper_vs_backtest
import token_refresh
from broker import OrderRejected, PaperBroker
from config import PROJECT_DIR, Config
from executor import LOCK_NAME, SKIPPED_BUSY, as_shown, execute, start_background_run
from fyers_sandbox.testing import SandboxHandle
from messages import INTERRUPTED
from tests.batch.conftest import DEMO
from tests.batch.helpers import cli_env, fast_broker
from tests.faults.helpers import assert_books_agree

OTHER_IP = ("10.9.9.9",)  # the sandbox refuses every order, modify and cancel from loopback
# Trading days of one week and the Monday after (Tue 24 Nov 2026 is Guru Nanak Jayanti).
WEEK = ["2026-11-23", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-30", "2026-12-01",
        "2026-12-02"]
# The last minute of the session: the quotes are within a hair of the close the backtest
# decides on, so a difference comes from the simulator's fills, not from the hour; 30 s leave
# a slow machine time to read and decide before the close (after it, nothing is placed).
RUN_TIME = "15:29:30"
ACTIVE = {"entry_candidates": 50, "entry_threshold_pct": 6.0, "max_new_entries_per_run": 2,
          "max_new_entries_per_day": 2, "exit_threshold_pct": 1.5, "averaging_threshold_pct": 0.5}
ACCOUNT_PATHS = ("/orders", "/tradebook", "/holdings", "/positions", "/funds")


@pytest.fixture
def paper_config(run_config: Config) -> Config:
    """run_config trading on paper with rules that buy, average and sell within a week."""
    return run_config.with_overrides(paper_trading=True, **ACTIVE)


def paper_run(config: Config, store: Any, day: str, time_of_day: str = RUN_TIME,
              sandbox: SandboxHandle | None = None) -> dict[str, Any]:
    """One scheduled run with the sandbox clock moved to `day` at `time_of_day`."""
    if sandbox is not None:
        sandbox.admin("clock", now=f"{day}T{time_of_day}")
    return execute(config, store, trigger="scheduled", force=True, run_id=f"run-{day}",
                   broker_factory=fast_broker)


def requests_to_account(sandbox: SandboxHandle) -> dict[str, int]:
    """Requests the sandbox saw on order and account endpoints (place, modify, cancel, the
    books and funds)."""
    seen = sandbox.admin("stats", method="GET")["requests"]
    return {path: n for path, n in seen.items() if any(part in path for part in ACCOUNT_PATHS)}


@pytest.mark.parametrize("sandbox", [{"allowed_ips": OTHER_IP}], indirect=True)
def test_a_paper_week_trades_as_the_backtest_and_never_calls_an_order_endpoint(
        paper_config, store, sandbox, logged_in):
    for day in WEEK:
        run = paper_run(paper_config, store, day, sandbox=sandbox)
        assert run["status"] in ("succeeded", "warning"), run  # warning: not wholly filled
        assert run["summary"].startswith("Paper: ") and run["book"] == "paper"

    assert requests_to_account(sandbox) == {}
    paper = store.for_book("paper")
    reasons = Counter(order["reason"] for order in paper.list_orders()
                      if order["status"] == "traded")
    sides = Counter(trade["side"] for trade in paper.list_trades())
    assert sides["BUY"] and sides["SELL"] and any("average" in r for r in reasons), reasons
    assert store.list_runs() == [] and store.list_trades() == [] and store.get_positions() == []

    comparison = paper_vs_backtest.replay(paper_config, store)
    assert comparison.days == len(WEEK) - 1  # the last day's close is not cached yet
    named = ("slippage", "not filled on paper", "partly filled on paper", "follows from")
    assert [d for d in comparison.differences if not d.reason.startswith(named)] == []
    compared = {f"run-{day}" for day in WEEK[:-1]}
    unfilled = {(order["symbol"], order["side"]) for order in paper.list_orders()
                if order["status"] in ("cancelled_at_broker", "partial")
                and order["run_id"] in compared}
    by_fill = {(f"NSE:{d.symbol}-EQ", d.side) for d in comparison.differences
               if d.reason.startswith(named[1:3])}
    assert by_fill == unfilled
    assert comparison.paper_trades == comparison.matched + len(
        [d for d in comparison.differences if d.backtest == "—"]) > 5
    assert comparison.backtest_trades == comparison.matched + len(
        [d for d in comparison.differences if d.paper == "—"])


@pytest.mark.parametrize("sandbox", [{"allowed_ips": OTHER_IP}], indirect=True)
def test_a_day_without_a_run_and_an_unfilled_order_are_named(paper_config, store, sandbox,
                                                            logged_in):
    for day in WEEK[:2] + WEEK[3:]:  # Wednesday missed
        paper_run(paper_config, store, day, sandbox=sandbox)
    comparison = paper_vs_backtest.replay(paper_config, store)
    missed = [d for d in comparison.differences if d.day == WEEK[2]]
    assert missed and {d.reason for d in missed} == {"the bot did not run that day"}


@pytest.mark.parametrize("sandbox", [{"allowed_ips": OTHER_IP}], indirect=True)
def test_the_replay_keeps_the_paper_account_s_capital_when_paper_capital_changes(
        paper_config, store, sandbox, logged_in):
    """PAPER_CAPITAL only seeds the paper account: a backtest replaying it with a later, smaller
    setting would compare the paper trades with a backtest that could not afford them."""
    for day in WEEK[:3]:
        paper_run(paper_config, store, day, sandbox=sandbox)
    compared = paper_vs_backtest.replay(paper_config, store)
    assert compared.backtest_trades
    later = paper_config.with_overrides(paper_capital=1_000.0)
    assert paper_vs_backtest.replay(later, store) == compared


def test_fills_are_seeded_by_the_order_and_costs_include_the_dp_charge():
    from broker import paper_fills

    fates = [paper_fills.fill_fate(f"NSTAG{n}", 10, 1, 1000.0) for n in range(400)]
    assert fates == [paper_fills.fill_fate(f"NSTAG{n}", 10, 1, 1000.0) for n in range(400)]
    filled = Counter("all" if f.filled_qty == 10 else "part" if f.filled_qty else "none"
                     for f in fates)
    assert filled["all"] > 300 and filled["part"] and filled["none"]
    assert all(1000.0 <= f.price <= 1010.0 for f in fates)  # never beyond the MPP band
    buy, sell, second_sell = (paper_fills.charges("BUY", 100_000, False),
                              paper_fills.charges("SELL", 100_000, True),
                              paper_fills.charges("SELL", 100_000, False))
    assert round(sell - second_sell, 2) == 14.16  # ₹12 DP charge + 18% GST, once a day
    assert buy > second_sell  # stamp duty on the buy only


def test_a_one_share_order_misses_no_more_often_than_a_larger_one():
    """A single share cannot part-fill: where a larger order would fill in part, a 1-share
    order fills in full, so it misses only in the 5% "not filled" band, as a larger one does."""
    from broker import paper_fills

    tags = [f"NSONE{n}" for n in range(2000)]
    larger = {tag: paper_fills.fill_fate(tag, 10, 1, 1000.0).filled_qty for tag in tags}
    single = {tag: paper_fills.fill_fate(tag, 1, 1, 1000.0).filled_qty for tag in tags}
    partly = [tag for tag in tags if 0 < larger[tag] < 10]
    assert partly and {single[tag] for tag in partly} == {1}
    assert {tag for tag in tags if not single[tag]} == {tag for tag in tags if not larger[tag]}
    assert 0.03 < sum(not filled for filled in single.values()) / len(tags) < 0.07


@pytest.mark.parametrize(("price", "step"), [
    (249.99, 0.01), (250.0, 0.05), (1_000.0, 0.05), (1_000.05, 0.10), (5_000.0, 0.10),
    (5_000.5, 0.50), (10_000.0, 0.50), (10_001.0, 1.00), (20_000.0, 1.00), (20_005.0, 5.00)])
def test_nse_s_price_steps_by_band(price, step):
    from broker import paper_fills

    assert paper_fills.tick_size(price) == step


@pytest.mark.parametrize("ltp", [120.37, 249.9, 812.33, 999.9, 3151.90, 4995.0, 5592.50, 9990.0,
                                 12345.60, 19990.0, 25001.0])
def test_fills_land_on_nse_s_price_step_for_their_price(ltp):
    """Across each band, and at its edges where a buy's slippage or limit crosses into the
    next band: every fill is a price NSE can print."""
    from broker import paper_fills

    def on_grid(price: float, step: float) -> bool:
        return abs(price / step - round(price / step)) < 1e-6

    prices = [paper_fills.fill_fate(f"NSTICK{n}", 10, side, ltp).price
              for n in range(200) for side in (1, -1)]
    for price in prices:
        step = paper_fills.tick_size(price)
        assert on_grid(price, step), (ltp, price)
        assert abs(price - ltp) <= ltp * paper_fills.MPP_BAND + step  # within the band
    if ltp < 249:  # the finest step is used, not a coarser one that also fits the grid
        assert not all(on_grid(price, 0.05) for price in prices)


@pytest.mark.parametrize("sandbox", [DEMO], indirect=True)
def test_real_and_paper_books_never_mix(run_config, store, sandbox, logged_in):
    real_config = run_config.with_overrides(**ACTIVE)
    assert paper_run(real_config, store, WEEK[0], sandbox=sandbox)["book"] == "real"
    real_held = store.get_positions()
    assert real_held

    paper_mode.switch(real_config, store, True, "test")
    for day in WEEK[1:3]:
        assert paper_run(real_config, store, day, sandbox=sandbox)["book"] == "paper"
    paper = store.for_book("paper")
    assert store.get_positions() == real_held  # the paper runs sold nothing of the real book
    assert {t["run_id"] for t in paper.list_trades()} <= {f"run-{d}" for d in WEEK[1:3]}
    paper_held = paper.get_positions()
    assert paper_held and requests_to_account(sandbox)["/api/v3/orders/sync"] == len(
        [o for o in store.list_orders() if o["broker_order_id"]])  # only the real run's orders

    paper_mode.switch(real_config, store, False, "test")
    assert paper_run(real_config, store, WEEK[3], sandbox=sandbox)["book"] == "real"
    assert paper.get_positions() == paper_held  # the real run sold nothing of the paper book
    assert all(t["run_id"] in ("run-" + WEEK[0], "run-" + WEEK[3]) for t in store.list_trades())
    manual = [t for t in store.list_trades() + paper.list_trades() if t["source"] == "manual"]
    assert manual == []  # neither book took the other's holdings for sales made by hand


@pytest.mark.parametrize("sandbox", [{"allowed_ips": OTHER_IP}], indirect=True)
def test_market_hours_are_read_from_fyers_time(paper_config, store, sandbox, logged_in):
    """The sandbox's clock, not this machine's, says whether NSE is open: at 16:00 IST on a
    trading day a paper run places nothing and says why, and the simulator itself refuses an
    order as Fyers would; in the session orders fill."""
    closed = paper_run(paper_config, store, WEEK[0], "16:00:00", sandbox)
    assert closed["summary"].startswith("Paper: NSE is closed until Wed 09:15 IST: nothing was "
                                        "placed"), closed
    assert store.for_book("paper").list_orders() == []

    paper = store.for_book("paper")
    broker = token_refresh.stored_broker(paper_config, paper, factory=fast_broker)
    broker.quotes(["NSE:SBIN-EQ"])
    with pytest.raises(OrderRejected, match="market is closed"):
        broker.place_market_order("NSE:SBIN-EQ", 1, 1, "NSHOURS1")

    sandbox.admin("clock", now=f"{WEEK[1]}T11:00:00")
    opened = execute(paper_config, store, trigger="manual", force=True, run_id="in-session",
                     broker_factory=fast_broker)
    assert opened["status"] == "succeeded" and "Bought" in opened["summary"]
    assert requests_to_account(sandbox) == {}


@pytest.mark.parametrize("sandbox", [{"allowed_ips": OTHER_IP}], indirect=True)
def test_a_paper_buy_lowers_the_total_balance_by_its_charges_only(paper_config, store, sandbox,
                                                                  logged_in):
    """The paper Total Balance is the cash plus the holdings at cost, today's fills included:
    a buy moves its value from the cash to the holdings and takes its charges."""
    from broker import paper_fills

    sandbox.admin("clock", now=f"{WEEK[1]}T11:00:00")
    broker = token_refresh.stored_broker(paper_config, store.for_book("paper"), fast_broker)
    ltp = broker.quotes(["NSE:SBIN-EQ"])["NSE:SBIN-EQ"].ltp
    before = broker.funds()
    tag = next(f"NSTOTAL{n}" for n in range(100)
               if paper_fills.fill_fate(f"NSTOTAL{n}", 5, 1, ltp).filled_qty == 5)
    broker.place_market_order("NSE:SBIN-EQ", 5, 1, tag)
    after = broker.funds()
    [fill] = broker.tradebook()
    charges = round(after["Paper charges paid"] - before["Paper charges paid"], 2)
    assert charges > 0
    assert after["Available Balance"] == round(before["Available Balance"] - 5 * fill.price
                                               - charges, 2)
    assert after["Total Balance"] == round(before["Total Balance"] - charges, 2)


@pytest.mark.parametrize("sandbox", [{"allowed_ips": OTHER_IP}], indirect=True)
def test_what_the_simulator_refuses_is_never_called_fyers_refusal(paper_config, store, sandbox,
                                                                  logged_in):
    """With after-market orders on, a paper run at night decides and places, and the simulator,
    which cannot fill at an open it has no price for, refuses: the words name the simulator."""
    config = paper_config.with_overrides(after_market_orders=True)
    run = paper_run(config, store, WEEK[0], "20:00:00", sandbox)
    refused = store.for_book("paper").list_orders()
    assert refused and {order["status"] for order in refused} == {"rejected"}
    assert "rejected by the paper simulator" in run["summary"] and "Fyers" not in run["summary"]
    assert all(order_outcomes.phrase(order).startswith(
        "rejected by the paper simulator: RMS: market is closed (NSE is closed until Wed 09:15 "
        "IST; after-market orders are not simulated on paper)") for order in refused), refused
    assert requests_to_account(sandbox) == {}


# --- crashes ---------------------------------------------------------------------------------
KILLS = 6
SEED = 20261123


@pytest.mark.parametrize("sandbox", [{"allowed_ips": OTHER_IP}], indirect=True)
def test_a_paper_run_killed_mid_way_leaves_no_half_recorded_trade(paper_config, store, sandbox,
                                                                  logged_in):
    config = paper_config.with_overrides(max_new_entries_per_day=50, exit_threshold_pct=0.3)
    rng = random.Random(SEED)
    sandbox.admin("clock", now=f"{WEEK[0]}T09:30:00")
    assert paper_run(config, store, WEEK[0])["status"] == "succeeded"
    env = {**os.environ, **cli_env(config), "PAPER_TRADING": "true", "EXIT_THRESHOLD_PCT": "0.3",
           "ENTRY_CANDIDATES": "50", "MAX_NEW_ENTRIES_PER_RUN": "2",
           "MAX_NEW_ENTRIES_PER_DAY": "50"}
    for kill in range(KILLS):
        sandbox.admin("clock", advance_seconds=900)
        child = subprocess.Popen([sys.executable, "executor.py", "--force", "--run-id",
                                  f"kill{kill}"], cwd=PROJECT_DIR, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while store.for_book("paper").get_run(f"kill{kill}") is None and child.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.8))
        child.kill()
        child.wait(timeout=10)
        store.release_lock(LOCK_NAME, f"kill{kill}")
        after = execute(config, store, trigger="scheduled", force=True,
                        run_id=f"after{kill}", broker_factory=fast_broker)
        assert after["status"] in ("succeeded", "warning"), after
        paper = store.for_book("paper")
        killed = paper.get_run(f"kill{kill}")  # finished, or closed by the next run's start
        assert killed["status"] != "running" and killed["summary"].startswith("Paper: ")
        broker = token_refresh.stored_broker(config, paper, fast_broker)
        assert isinstance(broker, PaperBroker)
        assert_books_agree(config, paper, broker=broker)
    assert requests_to_account(sandbox) == {}
    assert {t["side"] for t in store.for_book("paper").list_trades()} == {"BUY", "SELL"}


def test_a_paper_run_costs_no_more_data_calls_than_a_real_one(run_config, store, logged_in,
                                                              sandbox):
    """A next-day run each, after a first run filled the candle cache: the same data calls
    (one quotes call, no history), and no account call at all on paper."""
    paper_run(run_config, store, WEEK[0], sandbox=sandbox)
    counts = {}
    for on, day in ((False, WEEK[1]), (True, WEEK[2])):
        paper_mode.switch(run_config, store, on, "test")
        before = sandbox.admin("stats", method="GET")["requests"]
        paper_run(run_config, store, day, sandbox=sandbox)
        after = sandbox.admin("stats", method="GET")["requests"]
        counts[on] = {path: after[path] - before.get(path, 0) for path in after
                      if path.startswith(("/data", "/api")) and after[path] > before.get(path, 0)}
    data = {on: {path: n for path, n in seen.items() if path.startswith("/data")}
            for on, seen in counts.items()}
    assert data[True] == data[False] == {"/data/quotes": 1}
    assert [path for path in counts[True] if any(p in path for p in ACCOUNT_PATHS)] == []
    assert sum(counts[True].values()) < sum(counts[False].values())


def test_a_paper_run_that_fails_says_paper_too(paper_config, store, sandbox):
    """However a paper run ends (here: nobody logged in to Fyers today), its summary says it was
    paper, so the owner never reads it as a real run that failed."""
    run = paper_run(paper_config, store, WEEK[0], RUN_TIME, sandbox)
    assert run["status"] == "failed" and run["book"] == "paper"
    assert run["summary"].startswith("Paper: "), run["summary"]


def test_a_paper_run_that_stopped_without_a_word_still_reads_paper(store):
    paper = store.for_book("paper")
    paper.create_run({"run_id": "died", "trigger": "manual", "status": "running",
                      "started_at": time.time(), "finished_at": None, "summary": "",
                      "error": None, "dry_run": False, "book": "paper"})
    [shown] = as_shown(paper, paper.list_runs())
    assert (shown["status"], shown["summary"]) == ("failed", f"Paper: {INTERRUPTED.sentence}")


def test_a_paper_run_skipped_as_busy_says_paper(paper_config, store):
    assert store.acquire_lock(LOCK_NAME, "another-run", 60)
    run = execute(paper_config, store, trigger="manual", run_id="second")
    assert (run["status"], run["book"]) == ("skipped", "paper")
    assert run["summary"] == f"Paper: {SKIPPED_BUSY}"


@pytest.mark.parametrize("sandbox", [{"allowed_ips": OTHER_IP}], indirect=True)
def test_run_now_trades_the_book_it_was_confirmed_in_when_the_mode_switches_at_once(
        run_config, store, sandbox, logged_in, monkeypatch):
    """Going live the moment after "Run now" on paper: the run (its record already in the
    paper book) stays on paper instead of reading the mode again and trading real money."""
    for key, value in cli_env(run_config).items():
        monkeypatch.setenv(key, value)
    paper_mode.switch(run_config, store, True, "test")
    run_id, started = start_background_run(run_config)
    paper_mode.switch(run_config, store, False, "test")  # before the child has started Python
    paper = store.for_book("paper")
    deadline = time.monotonic() + 120
    while (run := paper.get_run(run_id))["status"] == "running":
        assert time.monotonic() < deadline, "the background run did not finish"
        time.sleep(0.2)
    assert started and run["summary"].startswith("Paper: "), run
    assert store.get_run(run_id) is None  # nothing of it in the real book
    assert requests_to_account(sandbox) == {}


@pytest.mark.parametrize("sandbox", [{"allowed_ips": OTHER_IP}], indirect=True)
def test_a_paper_order_lost_overnight_names_the_simulator_and_the_paper_holdings(
        paper_config, store, sandbox, logged_in):
    """An earlier day's paper order still open in the book (its run died after the fill): the
    paper orderbook starts afresh, as Fyers' does, and the words say where its fill went,
    never sending the owner to the Fyers app."""
    paper = store.for_book("paper")
    paper.upsert_order({"tag": "NSlost2", "run_id": "died", "symbol": "NSE:SBIN-EQ",
                        "side": "BUY", "qty": 3, "reason": "entry",
                        "broker_order_id": "P261123000001", "status": "placed", "filled_qty": 0,
                        "traded_price": None, "message": "", "created_at": 1.0,
                        "updated_at": 1.0})
    run = paper_run(paper_config, store, WEEK[1], sandbox=sandbox)
    order = paper.get_order("NSlost2")
    assert order["status"] == order_outcomes.UNKNOWN
    assert order_outcomes.phrase(order) == (
        "not recorded as filled: the paper simulator no longer shows order P261123000001: its "
        "order book starts afresh each day, as Fyers' does; a fill of it stays in the paper "
        "holdings, outside the bot's book (paper)")
    assert order_outcomes.headline(order) == "order unknown to the paper simulator"
    assert "1 order unknown to the paper simulator, not recorded as filled" in run["summary"]
    assert "Fyers app" not in run["summary"]
