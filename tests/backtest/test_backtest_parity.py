"""The engine's shortcuts change nothing: it trades as decide() does when handed every symbol and
the whole book each day, and as the two independent baselines of the bench (a naive loop and
backtrader) do on the same candles."""
from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backtest
from backtesting import sweep
from backtesting.costs import NO_COSTS
from backtesting.data import SymbolHistory
from backtesting.engine import Settings, deviations
from bench import backtrader_backtest, naive_backtest
from bench.synthetic_market import weekdays, write_market
from config import PROJECT_DIR
from strategy_rules import BookEntry, StrategyParams, decide, moving_average
from tests.backtest.scenario import PARAMS

UNLIMITED = Settings(capital=1e12, slippage_pct=0.0, costs=NO_COSTS)
Trade = tuple[str, str, str, int]


def uneven_market(seed: int, symbols: int = 14, days: int = 260) -> dict[str, SymbolHistory]:
    """Random walks that start on different days and skip some, with two symbols sharing one
    series (their deviations tie exactly) and some priced above a trade's value."""
    rng = random.Random(seed)
    calendar = weekdays(days)
    histories = {}
    for number in range(symbols):
        price, dates, closes = rng.choice([80.0, 400.0, 1500.0]), [], []
        for day in calendar[rng.randrange(40):]:
            price = round(price * (1 + rng.gauss(0, 0.025)), 2)
            if rng.random() > 0.03:
                dates.append(day)
                closes.append(price)
        histories[f"NSE:S{number:02d}-EQ"] = SymbolHistory(dates, closes)
    histories["NSE:TWIN-EQ"] = histories["NSE:S03-EQ"]
    return histories


def decide_on_everything(histories: dict[str, SymbolHistory], params: StrategyParams,
                         start: str, end: str) -> list[Trade]:
    """The plain day loop: every symbol's closes and the whole book to decide(), each day."""
    places = {symbol: {day: k for k, day in enumerate(h.dates)} for symbol, h in histories.items()}
    book: dict[str, BookEntry] = {}
    trades = []
    for day in sorted(set().union(*(h.dates for h in histories.values()))):
        if not start <= day <= end:
            continue
        closes, ltps = {}, {}
        for symbol, history in histories.items():
            k = places[symbol].get(day)
            if k is not None:
                closes[symbol], ltps[symbol] = history.closes[:k], history.closes[k]
        for intent in decide(closes, ltps, book, params):
            trades.append((day, intent.symbol, intent.side, intent.qty))
            held = book.pop(intent.symbol, None)
            if intent.side == "BUY":
                qty = intent.qty + (held.qty if held else 0)
                cost = intent.qty * intent.price + (held.qty * held.avg_price if held else 0.0)
                book[intent.symbol] = BookEntry(intent.symbol, qty, cost / qty, intent.price)
    return trades


def engine_trades(histories: dict[str, SymbolHistory], params: StrategyParams, start: str,
                  end: str) -> list[Trade]:
    result, _ = backtest.run_backtest(histories, params, UNLIMITED, date.fromisoformat(start),
                                      date.fromisoformat(end))
    return [(t.date, t.symbol, t.side, t.qty) for t in result.trades]


@pytest.mark.parametrize(("seed", "changes"), [
    (1, {}),
    (2, {"ma_period": 3, "entry_candidates": 1}),
    (3, {"ma_period": 10, "entry_threshold_pct": 1.5, "entry_candidates": 3,
         "max_new_entries_per_run": 2}),
    (4, {"entry_threshold_pct": 0.0, "exit_threshold_pct": 3.0, "averaging_threshold_pct": 1.0,
         "entry_candidates": 6, "max_new_entries_per_run": 3}),
])
def test_engine_trades_as_decide_on_every_symbol_and_the_whole_book(seed, changes):
    histories, params = uneven_market(seed), replace(PARAMS, **changes)
    expected = decide_on_everything(histories, params, "1990-03-01", "1990-12-31")
    assert len(expected) > 50
    assert {trade[2] for trade in expected} == {"BUY", "SELL"}
    assert engine_trades(histories, params, "1990-03-01", "1990-12-31") == expected


def test_a_sweeps_runs_sharing_one_market_each_trade_as_decide_does():
    # A sweep prepares each market once and its runs share what the entry rules make of it,
    # in whatever order they come; each must still trade as decide() alone would.
    histories = uneven_market(5)
    grid = [{"entry_threshold_pct": entry, "entry_candidates": candidates, "exit_threshold_pct":
             exit_pct} for entry in (1.5, 0.0) for candidates in (3, 1) for exit_pct in (3.0, 5.0)]
    shared = sweep.prepare(histories, PARAMS, UNLIMITED, date(1990, 3, 1), date(1990, 12, 31),
                           grid)
    for overrides in grid + grid[::-1]:
        result, _ = shared.run(overrides)
        assert [(t.date, t.symbol, t.side, t.qty) for t in result.trades] == decide_on_everything(
            histories, replace(PARAMS, **overrides), "1990-03-01", "1990-12-31"), overrides


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.05, max_value=1e6), min_size=2, max_size=60),
       st.integers(min_value=1, max_value=20))
def test_deviations_are_within_their_bound_of_decides(closes, period):
    devs, error = deviations(closes, period)
    for k in range(period, len(closes)):
        ma = moving_average(closes[:k], period)
        exact = (closes[k] - ma) / ma
        if exact < 0.5:  # the bound covers the deviations that can matter for an entry
            assert abs(devs[k] - exact) <= error


def naive_argv(folder: Path, out: Path, start: str, end: str) -> list[str]:
    """The naive loop's command line for the scenario's rules with cash that is never short."""
    return ["--csv", str(folder), "--from", start, "--to", end, "--out", str(out),
            "--capital", "1e12", "--ma-period", str(PARAMS.ma_period),
            "--entry", str(PARAMS.entry_threshold_pct), "--exit", str(PARAMS.exit_threshold_pct),
            "--average", str(PARAMS.averaging_threshold_pct),
            "--max-trade-value", str(PARAMS.max_trade_value),
            "--candidates", str(PARAMS.entry_candidates),
            "--entries-per-run", str(PARAMS.max_new_entries_per_run)]


def fills_of(path: Path) -> list[Trade]:
    with path.open(newline="") as handle:
        return [(row["date"], row["symbol"], row["side"], int(row["qty"]))
                for row in csv.DictReader(handle)]


def test_engine_naive_loop_and_backtrader_agree(tmp_path, config):
    folder = tmp_path / "market"
    write_market(folder, symbols=8, days=300, seed=11)
    start, end = "1990-02-01", "1991-02-28"
    argv = naive_argv(folder, tmp_path / "naive.csv", start, end)
    parser = argparse.ArgumentParser()
    naive_backtest.rule_arguments(parser)

    assert backtest.main(["--csv", str(folder), "--from", start, "--to", end, "--capital",
                          "1e12", "--costs", "0", "--slippage", "0", "--ma-period", "5",
                          "--entry", "2", "--exit", "5", "--average", "3",
                          "--max-trade-value", "1000", "--out", str(tmp_path / "ours")],
                         config.with_overrides(entry_candidates=PARAMS.entry_candidates,
                                               max_new_entries_per_run=1)) == 0
    assert naive_backtest.main(argv) == 0
    frames = backtrader_backtest.read_frames(folder)
    theirs = backtrader_backtest.run(backtrader_backtest.feeds(folder, frames, "direct"),
                                     parser.parse_args(argv))

    ours = fills_of(tmp_path / "ours" / "trades.csv")
    assert len(ours) > 30
    assert ours == fills_of(tmp_path / "naive.csv") == [fill[:4] for fill in theirs]


def test_the_rules_free_bench_run_makes_the_trades_decide_made(tmp_path):
    """make bench-backtest's floor replays decide()'s answers instead of running the rules: it
    stands for the real run only while it trades as that run does."""
    folder = tmp_path / "market"
    write_market(folder, symbols=8, days=300, seed=11)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/unused.db",
           "FYERS_MODE": "sandbox", "ENTRY_CANDIDATES": "3", "MAX_NEW_ENTRIES_PER_RUN": "1"}
    options = ["--csv", str(folder), "--from", "1990-02-01", "--to", "1991-02-28",
               "--capital", "1e12", "--costs", "0", "--slippage", "0", "--ma-period", "5"]
    for mode in ("record", "replay"):
        subprocess.run([sys.executable, "-m", "bench.rules_free_backtest", mode,
                        str(tmp_path / "answers"), "--", *options, "--out", str(tmp_path / mode)],
                       cwd=PROJECT_DIR, env=env, check=True, capture_output=True)

    recorded = fills_of(tmp_path / "record" / "trades.csv")
    assert len(recorded) > 30
    assert fills_of(tmp_path / "replay" / "trades.csv") == recorded
