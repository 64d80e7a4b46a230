"""`backtest.py --sweep`: every combination of some strategy knobs, in parallel, ranked and saved.

The markets (candles aligned, deviations computed: once per MA length) are prepared before any
worker starts; the local engine forks its workers so they share them, and the cluster engine
(backtesting/cluster.py) sends them to each worker once. In a worker, the combinations with the
same entry rules share the days' entry shortlists the market keeps (Market.entry_shortlists).
Each combination's run is saved as `runs/<n>/` of the sweep's folder, which sweep.json
describes: written as `runs/<n>.partial/` and renamed once complete, so a run folder is whole or
absent. A sweep stopped by Ctrl-C or by a lost cluster keeps what finished and names the rest in
sweep.json as not run. Imported only for a sweep.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from backtesting import html_report, results
from backtesting.data import SymbolHistory
from backtesting.engine import BacktestResult, Market, Settings, prepare_market, simulate
from backtesting.forkpool import Done, run_forked
from backtesting.interrupts import interrupts_deferred
from backtesting.metrics import figure, summarize
from backtesting.progress import Progress
from backtesting.sweep_keys import sweep_key
from strategy_rules import StrategyParams

logger = logging.getLogger(__name__)

RANKING_COLUMNS = ["cagr_pct", "total_return_pct", "max_drawdown_pct", "win_rate_pct", "trades",
                   "final_equity", "peak_capital_used", "skipped_buys"]
# The printed table's columns and their headers: short, in the words of the summary's labels
# ("trades" counts fills, buys and sells, as the summary's "Fills (buys and sells)" says).
TABLE_COLUMNS = {"cagr_pct": "CAGR %", "max_drawdown_pct": "max drawdown %",
                 "win_rate_pct": "win rate %", "trades": "fills", "final_equity": "final equity",
                 "peak_capital_used": "peak cost", "skipped_buys": "buys skipped"}


INTERRUPTED = "interrupted"  # sweep.json's `stopped` after Ctrl-C


class ClusterUnavailable(RuntimeError):
    """The cluster extra is not installed or the cluster cannot be reached; the message says
    which."""


class ClusterLost(RuntimeError):
    """The cluster's scheduler went away during the sweep; the message names it."""


@dataclass(frozen=True)
class Sweep:
    """What every combination shares: the markets by MA length, the rules it varies, the money
    side and the period."""

    markets: dict[int, Market]
    base: StrategyParams
    settings: Settings
    start: date
    end: date

    def run(self, overrides: dict[str, Any]) -> tuple[BacktestResult, dict[str, Any]]:
        """One combination's result and summary."""
        params = replace(self.base, **overrides)
        result = simulate(self.markets[params.ma_period], params, self.settings, self.start,
                          self.end)
        return result, summarize(result, self.settings.capital)


def prepare(histories: dict[str, SymbolHistory], base: StrategyParams, settings: Settings,
            start: date, end: date, grid: list[dict[str, Any]]) -> Sweep:
    """The sweep's shared part, with a market for each MA length of the grid. DataError when
    [start, end] has no candles: every combination's simulate() would refuse it, so it is
    said once, as for a single run, before a worker starts or a file is written."""
    periods = {overrides.get("ma_period", base.ma_period) for overrides in grid}
    markets = {period: prepare_market(histories, period) for period in sorted(periods)}
    next(iter(markets.values())).period(start, end)  # every market has the same days
    return Sweep(markets, base, settings, start, end)


def run_folder(index: int) -> str:
    """Where combination `index` is saved, relative to the sweep's folder."""
    return f"runs/{index:04d}"


def partial_folder(folder: Path) -> Path:
    """Where run folder `folder` is written before it is complete (commit_run names it)."""
    return folder.with_name(f"{folder.name}.partial")


def row_of(overrides: dict[str, Any], summary: dict[str, Any], index: int) -> dict[str, Any]:
    """A combination's row: its parameters, its figures and its run folder."""
    return {**overrides, **{column: summary[column] for column in RANKING_COLUMNS},
            "run": run_folder(index)}


def save_run(out: Path, sweep: Sweep, overrides: dict[str, Any], result: BacktestResult,
             summary: dict[str, Any]) -> None:
    """One combination's files, as a single run saves them, plus its report.html, into run
    folder `out`'s partial folder (commit_run gives it the name `out`)."""
    folder = partial_folder(out)
    if folder.is_dir():  # left by a sweep into the same folder that was killed
        shutil.rmtree(folder)
    meta = {"params": asdict(replace(sweep.base, **overrides)),
            "settings": asdict(sweep.settings)}
    results.save(folder, result, summary, meta)
    html_report.write(folder / "report.html", html_report.run_html(
        summary, meta["params"], result.equity, result.trades, meta["settings"]))


def commit_run(folder: Path) -> None:
    """Give a saved run its folder's name in one rename (a run an earlier sweep saved there is
    replaced), so the folder is never seen half written."""
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    os.rename(partial_folder(folder), folder)


class LocalTask:
    """One combination in a forked worker: run, save its partial folder, return its row."""

    def __init__(self, sweep: Sweep, out: Path) -> None:
        self.sweep, self.out = sweep, out

    def __call__(self, item: tuple[int, dict[str, Any]]) -> dict[str, Any]:
        index, overrides = item
        result, summary = self.sweep.run(overrides)
        save_run(self.out / run_folder(index), self.sweep, overrides, result, summary)
        return row_of(overrides, summary, index)


def run_local(sweep: Sweep, grid: list[dict[str, Any]], out: Path, workers: int,
              done: Done) -> None:
    """Every combination on `workers` forked processes sharing `sweep`'s markets."""
    run_forked(LocalTask(sweep, out), list(enumerate(grid)), workers, done)


def describe(overrides: dict[str, Any], names: Mapping[str, str]) -> str:
    """A combination as the command line names it, e.g. 'entry=1.0, ma=20': `names` maps each
    field to its --sweep key (a field without one keeps its own name)."""
    return ", ".join(f"{names.get(field, field)}={value}" for field, value in overrides.items())


Runner = Callable[[Sweep, list[dict[str, Any]], Path, Done], None]


def run(sweep: Sweep, grid: list[dict[str, Any]], out: Path, *, workers: int | None = None,
        runner: Runner | None = None, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every combination of `grid` on `workers` forked processes, or through `runner` (the
    cluster's), saved under `out` with sweep.json and sweep.html; returns the sweep's document
    (rows in grid order, failed combinations named as describe() does with `names`).

    Ctrl-C (KeyboardInterrupt) or a lost cluster (ClusterLost) stops it: what finished is saved
    all the same, the other combinations are listed as `not_run`, and the
    document's `stopped` says why (INTERRUPTED or the lost cluster's message); else it is None."""
    rows: list[dict[str, Any] | None] = [None] * len(grid)
    failed: list[dict[str, Any]] = []
    ended: set[int] = set()
    progress = Progress(len(grid), "combinations")

    def done(index: int, row: dict[str, Any] | None, error: str | None) -> None:
        ended.add(index)
        if error is None:
            try:
                with interrupts_deferred():  # the folder renamed and its row kept, or neither
                    commit_run(out / run_folder(index))
                    rows[index] = row
            except OSError as exc:
                error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            failed.append({"combination": describe(grid[index], names or {}), "error": error})
        progress.step()

    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stopped = None
    progress.show()
    try:
        if runner is not None:
            runner(sweep, grid, out, done)
        else:
            run_local(sweep, grid, out, workers or os.cpu_count() or 1, done)
    except KeyboardInterrupt:
        stopped = INTERRUPTED
    except ClusterLost as exc:
        stopped = str(exc)
    except BaseException:  # ClusterUnavailable (the cluster cannot take it), a bug
        with interrupts_deferred():
            _remove_partial(out, rows)
            if made and not ended:  # nothing of it to keep: no folder left behind
                shutil.rmtree(out, ignore_errors=True)
        raise
    # A Ctrl-C from here on is too late to stop anything: what there is gets written.
    with suppress(KeyboardInterrupt), interrupts_deferred():
        progress.end()
        _remove_partial(out, rows)
        not_run = [describe(overrides, names or {})
                   for index, overrides in enumerate(grid) if index not in ended]
        document = {
            "axes": axes_of(grid), "start": sweep.start.isoformat(),
            "end": sweep.end.isoformat(), "params": asdict(sweep.base),
            "settings": asdict(sweep.settings),
            "rows": [row for row in rows if row is not None], "failed": failed,
            "not_run": not_run, "stopped": stopped,
        }
        results.save_sweep(out, document)
        html_report.write(out / "sweep.html", html_report.sweep_html(document))
    return document


def _remove_partial(out: Path, rows: list[dict[str, Any] | None]) -> None:
    """The partial folders of the combinations without a row (failed, stopped mid-way)."""
    for index, row in enumerate(rows):
        if row is None:
            shutil.rmtree(partial_folder(out / run_folder(index)), ignore_errors=True)


def axes_of(grid: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Each swept parameter with its values in the order given."""
    axes: dict[str, list[Any]] = {}
    for overrides in grid:
        for name, value in overrides.items():
            if value not in axes.setdefault(name, []):
                axes[name].append(value)
    return axes


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best CAGR first, then the smallest drawdown."""
    return sorted(rows, key=lambda row: (-row["cagr_pct"], row["max_drawdown_pct"]))


def format_table(document: dict[str, Any]) -> str:
    """A sweep's ranked rows as a plain-text table with a header, each figure as sweep.html
    shows it (amounts grouped as the app's pages group them; '—' for a CAGR under a year or a
    win rate without a closed trade)."""
    from tabulate import tabulate

    axes, period = list(document["axes"]), {"start": document["start"], "end": document["end"]}
    return tabulate([{**{sweep_key(name): row[name] for name in axes},
                      **{header: figure({**row, **period}, column).text
                         for column, header in TABLE_COLUMNS.items()},
                      "run": row["run"]}
                     for row in ranked(document["rows"])], headers="keys", disable_numparse=True,
                    colalign=["right"] * (len(axes) + len(TABLE_COLUMNS)) + ["left"])
