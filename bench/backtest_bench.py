"""Backtest speed against two independent baselines making the same trades, and its scaling.

`python -m bench.backtest_bench` or `make bench-backtest`. Baselines: a naive pure-Python loop
(bench/naive_backtest.py) and backtrader (bench/backtrader_backtest.py) with its fastest feed.
Candles: synthetic markets of bench/synthetic_market.py written as CSV folders. Every side runs
without costs or slippage and with cash that is never short, so all must make the same
(date, symbol, side, qty) list; the bench checks it. Figures:
- end to end, 60 symbols × 2,500 days: process start → trades.csv written, each command in a
  fresh process, runs interleaved after an untimed round, min and median of REPEATS, warm and
  cold candle cache (backtrader's `csv` feed once), and warm with the rules made free
  (bench/rules_free_backtest.py): the floor no change to decide() can go below;
- sweeps: throughput by worker count over SWEEP_GRID, and a whole `--sweep` of RESEARCH_GRID end
  to end against the naive loop once per combination on the same cores;
- engine only, 60 × 2,500: candles already in memory → trades (backtest: prepare_market +
  simulate; naive: its day loop; backtrader: Cerebro.run on in-memory frames, both pandas feeds);
- scaling: engine-only µs per symbol-day at 60 × 2,500, 200 × 2,500 and 200 × 10,000.
"""
from __future__ import annotations

import argparse
import csv
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from itertools import chain
from pathlib import Path
from typing import Any

from backtesting.costs import NO_COSTS
from backtesting.data import load_csv_dir, load_store
from backtesting.engine import Settings, prepare_market, simulate
from backtesting.sweep import run_folder
from bench import backtrader_backtest, naive_backtest
from bench.synthetic_market import write_market
from store import open_store
from strategy_rules import StrategyParams

PROJECT_DIR = Path(__file__).resolve().parent.parent
HEADLINE = (60, 2_500)  # 60 symbols × 10 years of weekdays
SIZES = [(60, 2_500), (200, 2_500), (200, 10_000)]
SWEEP_GRID = ["entry=0,1", "exit=5,6.28,8,10"]  # 8 combinations, for the worker scaling
# A tuning session's sweep, timed end to end against the naive loop once per combination.
RESEARCH_GRID = ["entry=0,0.5,1,1.5", "exit=5,6.28,8,10", "average=2,3.14,5"]  # 48
RESEARCH_REPEATS = 3  # each round takes ~10 s
SWEEP_GOAL = 0.8  # throughput with N workers ≥ 0.8 × N × one worker's
REPEATS = 5
RULES = StrategyParams(ma_period=20, entry_threshold_pct=0.0, exit_threshold_pct=6.28,
                       averaging_threshold_pct=3.14, entry_candidates=5,
                       max_trade_value=10_000.0, max_new_entries_per_run=1)
# Each rule's option, the same in backtest.py and the baselines.
RULE_OPTIONS = {"ma_period": "--ma-period", "entry_threshold_pct": "--entry",
                "exit_threshold_pct": "--exit", "averaging_threshold_pct": "--average",
                "max_trade_value": "--max-trade-value"}
CAPITAL = "1e12"  # no buy is ever short of cash, so no side skips one
NAIVE_GOAL, BACKTRADER_GOAL, SCALING_GOAL = 2.0, 20.0, 1.2
Trade = tuple[str, str, str, int]


def rule_argv(folder: Path, start: str, end: str, out: Path, rules: StrategyParams = RULES,
              swept: Collection[str] = ()) -> list[str]:
    """The options every command takes for `rules` on `folder`, but those of the rules in
    `swept` (StrategyParams fields a --sweep sets: backtest.py takes a setting once)."""
    return ["--csv", str(folder), "--from", start, "--to", end, "--out", str(out),
            "--capital", CAPITAL,
            *chain.from_iterable((option, str(getattr(rules, field)))
                                 for field, option in RULE_OPTIONS.items() if field not in swept)]


def backtest_command(folder: Path, start: str, end: str, out: Path,
                     swept: Collection[str] = ()) -> list[str]:
    """backtest.py on RULES (but the `swept` ones, as for rule_argv) without costs or slippage,
    writing into the folder `out`."""
    return [sys.executable, "backtest.py", *rule_argv(folder, start, end, out, swept=swept),
            "--costs", "0", "--slippage", "0"]


def baseline_command(program: list[str], folder: Path, start: str, end: str, out: Path,
                     rules: StrategyParams = RULES) -> list[str]:
    """A baseline (`program` after the interpreter) on `rules`, writing the CSV `out`."""
    return [sys.executable, *program, *rule_argv(folder, start, end, out, rules),
            "--candidates", str(rules.entry_candidates),
            "--entries-per-run", str(rules.max_new_entries_per_run)]


def rules_free_command(mode: str, folder: Path, start: str, end: str, work: Path) -> list[str]:
    """backtest.py recording its rules' answers, or replaying them instead of running the
    rules (bench/rules_free_backtest.py), writing into `work`/rules-free."""
    options = backtest_command(folder, start, end, work / "rules-free")[2:]
    return [sys.executable, "-m", "bench.rules_free_backtest", mode, str(work / "answers"),
            "--", *options]


def commands(folder: Path, start: str, end: str, work: Path) -> dict[str, list[str]]:
    """Each side's command line; each writes `work`/<side>.csv or <side>/trades.csv."""
    ours = backtest_command(folder, start, end, work / "backtest")
    return {
        "backtest cold": ours,  # the parsed-candle cache removed before each run
        "backtest": ours,
        "rules free": rules_free_command("replay", folder, start, end, work),
        "naive": baseline_command(["bench/naive_backtest.py"], folder, start, end,
                                  work / "naive.csv"),
        "backtrader": baseline_command(["-m", "bench.backtrader_backtest"], folder, start, end,
                                       work / "backtrader.csv"),
    }


def trades_written(path: Path) -> list[Trade]:
    """(date, symbol, side, qty) of a trades CSV any side wrote."""
    with path.open(newline="") as handle:
        return [(row["date"], row["symbol"], row["side"], int(row["qty"]))
                for row in csv.DictReader(handle)]


def seconds(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one command in a fresh process, from start to exit."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:  # a sweep's progress lines go to stderr too: shown only on failure
        raise RuntimeError(f"{' '.join(command[:2])} exited {done.returncode}: {done.stderr}")
    return elapsed


def command_env(work: Path) -> dict[str, str]:
    """The environment every timed command runs in."""
    # backtest.py reads the two rules it has no option for from the environment. Bytecode is
    # written, as on any machine: the untimed round compiles what a user's first run would.
    env = {**os.environ, "ENTRY_CANDIDATES": str(RULES.entry_candidates),
           "MAX_NEW_ENTRIES_PER_RUN": str(RULES.max_new_entries_per_run),
           "DATABASE_URL": f"sqlite:///{work}/unused.db", "FYERS_MODE": "sandbox"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def end_to_end(folder: Path, start: str, end: str, work: Path) -> tuple[dict[str, list[float]],
                                                                          float, bool]:
    """Wall times per side (REPEATS, interleaved, after one untimed round), backtrader's csv
    feed once, and whether the three trades files agree."""
    env = command_env(work)
    runs = commands(folder, start, end, work)
    seconds(rules_free_command("record", folder, start, end, work), env)
    for command in runs.values():
        seconds(command, env)
    times: dict[str, list[float]] = {side: [] for side in runs}
    for _ in range(REPEATS):
        for side, command in runs.items():
            if side == "backtest cold":
                shutil.rmtree(work / "candle-cache", ignore_errors=True)
            times[side].append(seconds(command, env))
    csv_feed = seconds([*runs["backtrader"], "--feed", "csv"], env)
    same = (trades_written(work / "backtest" / "trades.csv") == trades_written(work / "naive.csv")
            == trades_written(work / "backtrader.csv")
            == trades_written(work / "rules-free" / "trades.csv"))
    return times, csv_feed, same


def sweep_end_to_end(folder: Path, start: str, end: str, work: Path) -> dict[str, Any]:
    """A whole `backtest.py --sweep` of RESEARCH_GRID on every core (process start → sweep.html)
    against the naive loop run once per combination, as many at a time as there are cores
    (its strongest: it has no sweep); medians of RESEARCH_REPEATS, interleaved, and whether
    every combination made the same trades on both sides."""
    from backtest import parse_sweep

    cores, env = os.cpu_count() or 1, command_env(work)
    grid, out = parse_sweep(RESEARCH_GRID), work / "sweep-e2e"
    ours = [*backtest_command(folder, start, end, out, swept=grid[0].keys()), "--sweep",
            *RESEARCH_GRID, "--workers", str(cores)]
    naive = [baseline_command(["bench/naive_backtest.py"], folder, start, end,
                              work / f"naive-{n}.csv", replace(RULES, **overrides))
             for n, overrides in enumerate(grid)]

    def naive_all() -> None:
        with ThreadPoolExecutor(cores) as pool:
            list(pool.map(lambda command: seconds(command, env), naive))

    times: dict[str, list[float]] = {"sweep": [], "naive": []}
    for _ in range(RESEARCH_REPEATS):
        times["sweep"].append(seconds(ours, env))
        times["naive"].append(fastest(naive_all, repeats=1))
    same = all(trades_written(out / run_folder(n) / "trades.csv")
               == trades_written(work / f"naive-{n}.csv") for n in range(len(grid)))
    sweep_s, naive_s = statistics.median(times["sweep"]), statistics.median(times["naive"])
    print(f"sweep of {len(grid)} combinations end to end on {cores} cores (process start → "
          f"sweep.html, each run saved with its report; median of {RESEARCH_REPEATS}, wall): "
          f"{sweep_s:.3f} s; the naive loop once per combination, {cores} at a time: "
          f"{naive_s:.3f} s: {naive_s / sweep_s:.2f}×; same trades in every combination: {same}")
    return {"sweep_end_to_end_seconds": _figure(sweep_s, "s", "-", None),
            "sweep_vs_naive_end_to_end": _figure(naive_s / sweep_s, "x", "reported", None),
            "sweep_same_trades": same}


def fastest(run: Callable[[], Any], repeats: int = REPEATS) -> float:
    """The least wall time of `repeats` calls."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def baseline_args(folder: Path, start: str, end: str) -> argparse.Namespace:
    """The baselines' options for RULES, as their command line would give them."""
    parser = argparse.ArgumentParser()
    naive_backtest.rule_arguments(parser)
    return parser.parse_args([*rule_argv(folder, start, end, Path(os.devnull)), "--candidates",
                              str(RULES.entry_candidates), "--entries-per-run",
                              str(RULES.max_new_entries_per_run)])


def engine_seconds(folder: Path, start: str, end: str) -> tuple[float, float]:
    """Engine-only times of backtest's engine and of the naive loop on `folder`."""
    histories = load_csv_dir(folder)
    settings = Settings(capital=float(CAPITAL), slippage_pct=0.0, costs=NO_COSTS)
    period = (date.fromisoformat(start), date.fromisoformat(end))
    ours = fastest(lambda: simulate(prepare_market(histories, RULES.ma_period), RULES, settings,
                                    *period))
    closes, args = naive_backtest.read_closes(folder), baseline_args(folder, start, end)
    return ours, fastest(lambda: naive_backtest.backtest(closes, args))


def backtrader_engine_seconds(folder: Path, start: str, end: str) -> dict[str, float]:
    """Backtrader's Cerebro.run on in-memory frames, per pandas feed (once: it is slow)."""
    frames, args = backtrader_backtest.read_frames(folder), baseline_args(folder, start, end)
    return {feed: fastest(lambda feed=feed: backtrader_backtest.run(
                backtrader_backtest.feeds(folder, frames, feed), args), repeats=1)
            for feed in ("direct", "pandas")}


def from_store_seconds(folder: Path, start: str, end: str, work: Path) -> float:
    """Reading the SQLite candle cache (backtest.py without --csv) plus the engine."""
    histories = load_csv_dir(folder)
    store = open_store(f"sqlite:///{work}/candles.db")
    try:
        for symbol, history in histories.items():
            store.upsert_candles(symbol, [
                {"date": day, "open": close, "high": close, "low": close, "close": close,
                 "volume": 0} for day, close in zip(history.dates, history.closes, strict=True)])
        settings = Settings(capital=float(CAPITAL), slippage_pct=0.0, costs=NO_COSTS)
        return fastest(lambda: simulate(
            prepare_market(load_store(store, list(histories), date.fromisoformat(start)),
                           RULES.ma_period),
            RULES, settings, date.fromisoformat(start), date.fromisoformat(end)), repeats=1)
    finally:
        store.close()


def _children_cpu() -> float:
    """User + system CPU seconds of this process's ended children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sweep_scaling(folder: Path, start: str, end: str, work: Path) -> dict[str, Any]:
    """Sweep throughput (combinations a second, median of REPEATS) with 1 … cores workers, the
    markets prepared once beforehand as backtest.py does; figures per worker count."""
    from backtest import parse_sweep
    from backtesting import sweep

    grid = parse_sweep(SWEEP_GRID)
    settings = Settings(capital=float(CAPITAL), slippage_pct=0.0, costs=NO_COSTS)
    prepared = sweep.prepare(load_csv_dir(folder), RULES, settings, date.fromisoformat(start),
                             date.fromisoformat(end), grid)
    logging.getLogger("backtesting").setLevel(logging.WARNING)  # no progress lines here
    runs: dict[int, list[float]] = {n: [] for n in range(1, (os.cpu_count() or 1) + 1)}
    cpu: dict[int, list[float]] = {n: [] for n in runs}
    for repeat in range(REPEATS):  # worker counts interleaved: others' load hits each alike
        for workers, rates_seen in runs.items():
            started, used = time.perf_counter(), _children_cpu()
            sweep.run(prepared, grid, work / f"sweep-{workers}-{repeat}", workers=workers)
            rates_seen.append(len(grid) / (time.perf_counter() - started))
            cpu[workers].append((_children_cpu() - used) / len(grid))
    rates = {workers: statistics.median(seen) for workers, seen in runs.items()}
    print(f"sweep of {len(grid)} combinations (each saved with its report), combinations/s "
          f"by workers (median of {REPEATS}, interleaved): "
          + ", ".join(f"{n}: {rate:.2f}" for n, rate in rates.items()))
    print("  workers' CPU seconds per combination (the work a worker count adds, whatever the "
          "load): " + ", ".join(f"{n}: {statistics.median(c):.3f}" for n, c in cpu.items()))
    figures = {}
    for workers, rate in rates.items():
        if workers > 1:
            scale = rate / rates[1]
            print(f"  {workers} workers: {scale:.2f}× one worker's throughput (goal ≥ "
                  f"{SWEEP_GOAL * workers:.1f}×)")
            figures[f"sweep_scaling_{workers}_workers"] = _figure(
                scale, "x", f">= {SWEEP_GOAL * workers:g}x", scale >= SWEEP_GOAL * workers)
    return figures


def _figure(value: float, unit: str, goal: str, ok: bool | None) -> dict[str, Any]:
    return {"value": round(value, 4), "unit": unit, "goal": goal, "ok": ok}


def main() -> dict[str, Any]:
    """Time every side, compare their trades, print the ratios and return the figures."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        markets = {size: (work / f"{size[0]}x{size[1]}",
                          *write_market(work / f"{size[0]}x{size[1]}", *size)) for size in SIZES}
        folder, start, end = markets[HEADLINE]
        times, csv_feed, same = end_to_end(folder, start, end, work)
        trades = len(trades_written(work / "naive.csv"))
        best = {side: statistics.median(values) for side, values in times.items()}
        print(f"{HEADLINE[0]} symbols × {HEADLINE[1]} days ({start} → {end}), {trades} trades, "
              f"same on every side: {same}")
        print("end to end, process start → trades.csv (min / median of "
              f"{REPEATS}, wall):")
        for side, values in times.items():
            print(f"  {side:<13} {min(values):7.3f} s / {statistics.median(values):7.3f} s")
        print(f"  backtrader with its csv feed, once: {csv_feed:.3f} s")
        naive_ratio = best["naive"] / best["backtest"]
        cold_ratio = best["naive"] / best["backtest cold"]
        floor_ratio = best["naive"] / best["rules free"]
        backtrader_ratio = min(best["backtrader"], csv_feed) / best["backtest"]
        print(f"  backtest.py (medians) is {naive_ratio:.2f}× the naive loop's speed with its "
              f"candle cache, {cold_ratio:.2f}× on a cold cache (goal ≥ {NAIVE_GOAL:g}×); "
              f"{backtrader_ratio:.1f}× backtrader's (goal ≥ {BACKTRADER_GOAL:g}×)")
        print(f"  with decide() and its inputs replaced by replaying their answers (rules "
              f"free), warm: {floor_ratio:.2f}× the naive loop, the most any change to the "
              f"rules' cost could give")
        scaling_sweep = sweep_scaling(folder, start, end, work)
        scaling_sweep.update(sweep_end_to_end(folder, start, end, work))

        engine, naive = {}, {}
        for size, (market, first, last) in markets.items():
            engine[size], naive[size] = engine_seconds(market, first, last)
        bt_engine = backtrader_engine_seconds(folder, start, end)
        engine_ratio = min(bt_engine.values()) / engine[HEADLINE]
        print(f"engine only, {HEADLINE[0]} × {HEADLINE[1]}: backtest {engine[HEADLINE]:.3f} s, "
              f"naive loop {naive[HEADLINE]:.3f} s, backtrader "
              + ", ".join(f"{feed} feed {s:.2f} s" for feed, s in bt_engine.items())
              + f": {engine_ratio:.1f}× backtrader (goal ≥ {BACKTRADER_GOAL:g}×)")
        print("engine only, µs per symbol-day (backtest / naive loop):")
        per_unit = {}
        for size in SIZES:
            units = size[0] * size[1]
            per_unit[size] = engine[size] / units * 1e6
            print(f"  {size[0]:>3} × {size[1]:>6}: {per_unit[size]:.3f} / "
                  f"{naive[size] / units * 1e6:.3f}  ({naive[size] / engine[size]:.2f}× faster)")
        scaling = per_unit[SIZES[-1]] / per_unit[HEADLINE]
        print(f"  µs per symbol-day at 200 × 10,000 over 60 × 2,500: {scaling:.2f} "
              f"(goal ≤ {SCALING_GOAL:g}: no worse than linear)")
        from_store = from_store_seconds(folder, start, end, work)
        print(f"engine with reading the SQLite candle cache instead of CSV: {from_store:.3f} s")

    figures.update({
        "end_to_end_seconds": _figure(best["backtest"], "s", "-", None),
        "end_to_end_cold_seconds": _figure(best["backtest cold"], "s", "-", None),
        "vs_naive_end_to_end_cold": _figure(cold_ratio, "x", "reported", None),
        "rules_free_vs_naive_end_to_end": _figure(floor_ratio, "x", "reported", None),
        **scaling_sweep,
        "naive_end_to_end_seconds": _figure(best["naive"], "s", "-", None),
        "backtrader_end_to_end_seconds": _figure(best["backtrader"], "s", "-", None),
        "vs_naive_end_to_end": _figure(naive_ratio, "x", f">= {NAIVE_GOAL:g}x",
                                       naive_ratio >= NAIVE_GOAL),
        "vs_backtrader_end_to_end": _figure(backtrader_ratio, "x", f">= {BACKTRADER_GOAL:g}x",
                                            backtrader_ratio >= BACKTRADER_GOAL),
        "vs_backtrader_engine": _figure(engine_ratio, "x", f">= {BACKTRADER_GOAL:g}x",
                                        engine_ratio >= BACKTRADER_GOAL),
        "vs_naive_engine_200x10000": _figure(naive[SIZES[-1]] / engine[SIZES[-1]], "x", ">= 1x",
                                             naive[SIZES[-1]] >= engine[SIZES[-1]]),
        "scaling_per_symbol_day": _figure(scaling, "x", f"<= {SCALING_GOAL:g}",
                                          scaling <= SCALING_GOAL),
        "from_store_seconds": _figure(from_store, "s", "-", None),
        "same_trades": same,
        "trades": trades,
        "end_to_end_median_seconds": {side: statistics.median(v) for side, v in times.items()},
        "backtrader_csv_feed_seconds": csv_feed,
        "backtrader_engine_seconds": bt_engine,
        "engine_us_per_symbol_day": {f"{s}x{d}": per_unit[(s, d)] for s, d in SIZES},
    })
    return figures


if __name__ == "__main__":
    main()
