"""Backtest the live strategy on daily candles: the very decide() of strategy_rules.py, day by day.

Data: `--csv DIR` (see backtesting/data.py for file naming), else the store's candle cache;
`--fyers` first fills the cache's gaps through the broker (sandbox or live, per FYERS_MODE), as
does a cache with no candle in the period. Writes trades.csv, equity.csv, summary.json and
report.html into --out (default data/backtests/<id>/, listed on the web app's Backtests page),
replacing the files of any backtest written there before, and prints the summary.
`--sweep entry=0,1,2 exit=5,6.28,8` runs every combination on --workers processes (default
every core) or a Dask cluster (--engine dask), saves each as runs/<n>/ with sweep.json and a
sweep.html heat map, and prints them ranked. Stopped by Ctrl-C (exit status 130) or a lost
cluster (2), a sweep saves what finished and lists the rest as not run, replacing no earlier
backtest (what finished goes beside it).
Exit status: 0 done, 1 no usable candles or a failed sweep combination, 2 bad arguments,
results that cannot be written or a cluster that cannot be reached, 141 output cut short
(`| head`; the files are saved).
Strategy options default to the environment and .env, not to settings saved on the Strategy page.
"""
from __future__ import annotations

import argparse
import errno
import itertools
import logging
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import cli
from backtesting import results
from backtesting.candle_cache import load_csv_dir_cached
from backtesting.costs import NO_COSTS, DeliveryCosts
from backtesting.data import DataError, SymbolHistory
from backtesting.engine import BacktestResult, Market, Settings, prepare_market, simulate
from backtesting.metrics import figure_rows, summarize
from backtesting.sweep_keys import OPTIONS, SWEEP_KEYS
from config import Config, ConfigError, config_or_exit, load_config_or_exit, parse_setting
from strategy_rules import StrategyParams

logger = logging.getLogger(__name__)


class Given(argparse.Action):
    """Stores an option's value as argparse's default action does, and notes in `given`
    (dest → the option) that the user gave it: a default is no conflict, a value given is."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.given = {**namespace.given, self.dest: option_string}


# ₹1 lakh crore: past it the figures lose their paise (a float holds about 16 digits).
CAPITAL = cli.number_type(float, 0, inclusive=False, maximum=1e12)
POSITIVE_INT = cli.number_type(int, 1)
# A fill 10 % worse than the close is far past any NIFTY 50 stock's spread; more says nothing
# about the strategy (and from 100 % on, a sale fills at no price or a negative one).
SLIPPAGE_PCT = cli.number_type(float, 0, maximum=10)
SWEEP_ONLY = ("workers", "engine", "cluster")  # the dests of the options only a sweep uses


def setting_type(name: str) -> Callable[[str], Any]:
    """An argparse type: strategy setting `name` parsed and range-checked as in .env and in
    --sweep, so one run accepts no value a sweep would refuse."""
    def parse(raw: str) -> Any:
        try:
            return parse_setting(name, raw)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse

def writable_dir(raw: str) -> Path:
    """An argparse type: a folder results can be written into, or created in. It is created
    only when they are written, so a command refused later (a bad --sweep, no candles) leaves
    no folder behind."""
    if not raw:  # Path("") is the current folder: a slip, not a choice
        raise argparse.ArgumentTypeError("no folder given; leave --out out for a new folder "
                                         "under data/backtests/")
    path = Path(raw)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{raw} is a file, not a folder")
    nearest = next(folder for folder in (path, *path.parents) if folder.exists())
    if not nearest.is_dir():  # a file on the way, as mkdir would say
        raise argparse.ArgumentTypeError(f"cannot create {raw}: {os.strerror(errno.ENOTDIR)}")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write into {nearest}")
    return path


def results_dir(config: Config, out: Path | None) -> Path:
    """Where a run or sweep writes: `out`, else a new folder under data/backtests/."""
    return out if out is not None else results.new_run_dir(results.backtests_root(config.data_dir))


def refuse_foreign_out(out: Path | None) -> None:
    """Exit status 2, before any work, when --out holds files by a backtest's names that no
    backtest wrote: the results would replace them."""
    if out is not None and out.is_dir() and (foreign := results.foreign_outputs(out)):
        print(f"backtest: {out} holds {', '.join(foreign)}, which no backtest wrote (it has no "
              f"readable summary.json or sweep.json), and the results would replace them: "
              f"choose another --out", file=sys.stderr)
        raise SystemExit(2)


def stopped_folder(out: Path) -> Path:
    """Where a stopped sweep saves what finished when `out` holds an earlier backtest: a new
    folder beside it, e.g. `out`-stopped-20261207T031500-3fa2 (UTC time, a random end)."""
    return out.with_name(f"{out.name}-stopped-{datetime.now(UTC):%Y%m%dT%H%M%S}-"
                         f"{os.urandom(2).hex()}")


def note_unlisted(config: Config, out: Path | None) -> None:
    """A note on stderr when --out is under data/backtests/ where the Backtests page does not
    list it: deeper than a folder, or named with other characters than it allows."""
    if out is None:
        return
    root, resolved = results.backtests_root(config.data_dir).resolve(), out.resolve()
    if root not in resolved.parents and resolved != root:
        return
    if resolved.parent != root or not results.SAFE_ID.match(out.name):
        print(f"backtest: note: the Backtests page will not list {out}: it lists the folders "
              f"right inside {root} named with letters, digits, '.', '_' and '-' (starting with "
              f"a letter or digit)", file=sys.stderr)


def kept_note(out: Path | None) -> str:
    """What a failed write says of `out`'s earlier backtest: kept, when there is one."""
    return (" (the earlier backtest there is kept)"
            if out is not None and results.holds_backtest(out) else "")


def note_replaced(out: Path, replaced: list[str]) -> None:
    """Say on stderr which files of an earlier backtest in `out` the results replaced."""
    if replaced:
        print(f"backtest: replaced the earlier backtest in {out}: {', '.join(replaced)}",
              file=sys.stderr)


def warmup_start(start: date, ma_period: int) -> date:
    """A calendar date early enough to hold `ma_period` trading days before `start`."""
    return start - timedelta(days=2 * ma_period + 14)


def load_histories(config: Config, *, csv_dir: Path | None, fetch: bool, since: date,
                   until: date, start: date | None = None) -> dict[str, SymbolHistory]:
    """Closes from `since` (the warm-up's start) on, from the CSV folder, else the store's
    cache (filled through the broker first when `fetch` is set or the cache has nothing for
    the period, `start` (default `since`) to `until`)."""
    if csv_dir is not None:
        return load_csv_dir_cached(csv_dir, config.data_dir / "candle-cache")[0]
    # Imported here: a CSV backtest starts without the store, the broker SDK and the calendar.
    from backtesting.store_source import load_cached

    return load_cached(config, fetch=fetch, since=since, start=start or since, until=until)


def note_short_warmup(market: Market, start: date, end: date) -> None:
    """One line on stderr when [start, end] begins before any symbol has MA_PERIOD earlier
    closes: whatever the rules, nothing can be bought until one has. DataError when the period
    has no candles."""
    first_day, ready = market.period(start, end).start, market.first_entry_day()
    if ready is None:
        print(f"backtest: note: no symbol has more than {market.ma_period} closes, so no entry "
              f"is possible (give earlier candles, or a shorter MA)", file=sys.stderr)
    elif ready > first_day:
        print(f"backtest: note: no symbol has {market.ma_period} closes before "
              f"{market.dates[ready]}, so no entry is possible before then (start --from later, "
              f"or give earlier candles)", file=sys.stderr)


def run_backtest(histories: dict[str, SymbolHistory], params: StrategyParams, settings: Settings,
                 start: date, end: date) -> tuple[BacktestResult, dict[str, Any]]:
    """Simulate [start, end] and summarize it, noting a period that starts before the MA can."""
    market = prepare_market(histories, params.ma_period)
    note_short_warmup(market, start, end)
    result = simulate(market, params, settings, start, end)
    return result, summarize(result, settings.capital)


def sweep_values(name: str, values: str) -> dict[Any, list[str]]:
    """The values of one --sweep item parsed as setting `name`, in the order first given, each
    with the texts that gave it (`1,1.0` are one value, given twice)."""
    texts: dict[Any, list[str]] = {}
    for text in filter(None, map(str.strip, values.split(","))):
        texts.setdefault(parse_setting(name, text), []).append(text)
    return texts


def parse_sweep(items: list[str]) -> list[dict[str, Any]]:
    """`["entry=0,1", "exit=5,8"]` → every combination as StrategyParams field overrides, each
    value within its setting's range; ValueError names a bad item (or an empty grid). A value
    given twice is run once, as stderr says: running it again would only repeat a result."""
    if not items:
        return []
    axes: dict[str, list[Any]] = {}
    repeats = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or key not in SWEEP_KEYS:
            raise ValueError(f"bad --sweep item {item!r}: use KEY=V1,V2 with KEY one of "
                             f"{', '.join(SWEEP_KEYS)}")
        name = SWEEP_KEYS[key]
        if name in axes:
            raise ValueError(f"bad --sweep item {item!r}: {key} is given twice")
        try:
            by_value = sweep_values(name, values)
        except ConfigError as exc:
            raise ValueError(f"bad --sweep item {item!r}: {exc}") from None
        if not by_value:
            raise ValueError(f"bad --sweep item {item!r}: no values, so the grid is empty")
        axes[name] = list(by_value)
        repeats += [f"{key}: {texts[0]} given "
                    f"{'twice' if len(texts) == 2 else f'{len(texts)} times'}"
                    for texts in by_value.values() if len(texts) > 1]
    for repeat in repeats:  # told once the whole grid is known to be good
        print(f"backtest: {repeat}; run once", file=sys.stderr)
    return [dict(zip(axes, combination, strict=True))
            for combination in itertools.product(*axes.values())]


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as an aligned two-column table, each figure as report.html shows it."""
    rows = figure_rows(summary)
    width = max(len(row.label) for row in rows)
    return "\n".join(f"{row.label:<{width}}  {row.text}" + (f" ({row.note})" if row.note else "")
                     for row in rows)


def iso_date(raw: str) -> date:
    """An argparse type: a calendar date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def build_parser(config: Config) -> argparse.ArgumentParser:
    """The CLI; strategy options default to the environment's (not the Strategy page's)."""
    parser = cli.OneLineParser(prog="python backtest.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(given={})  # the options given, filled in by the Given action
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--csv", type=Path, metavar="DIR",
                        help="one CSV per symbol, named NSE_RELIANCE-EQ.csv or RELIANCE.csv, "
                             "columns date,open,high,low,close,volume")
    source.add_argument("--fyers", action="store_true",
                        help="fill the candle cache's gaps through the broker first")
    parser.add_argument("--from", dest="start", type=iso_date, required=True,
                        metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=iso_date, required=True,
                        metavar="YYYY-MM-DD")
    parser.add_argument("--capital", type=CAPITAL, default=Settings.capital,
                        help="starting cash, ₹ (default %(default).0f)")
    parser.add_argument("--slippage", type=SLIPPAGE_PCT, default=Settings.slippage_pct,
                        metavar="PCT",
                        help="fill price worse than the close by this %%, 0 to 10 "
                             "(default %(default)s)")
    parser.add_argument("--costs", type=int, choices=(0, 1), default=1,
                        help="1: Indian delivery charges (backtesting/costs.py); 0: none")
    parser.add_argument("--out", type=writable_dir, metavar="DIR",
                        help="where to write the CSVs, replacing an earlier backtest's files "
                             "there (default: data/backtests/<id>/)")
    # Each strategy option's dest is the setting it overrides, which --sweep may not set too.
    parser.add_argument(OPTIONS["ma_period"], dest="ma_period", action=Given,
                        type=setting_type("ma_period"), default=config.ma_period, metavar="N",
                        help="MA length in daily closes (MA_PERIOD, now %(default)s)")
    parser.add_argument(OPTIONS["entry_threshold_pct"], dest="entry_threshold_pct", action=Given,
                        type=setting_type("entry_threshold_pct"),
                        default=config.entry_threshold_pct, metavar="PCT",
                        help="buy this %% below the MA (ENTRY_THRESHOLD_PCT, now %(default)s)")
    parser.add_argument(OPTIONS["exit_threshold_pct"], dest="exit_threshold_pct", action=Given,
                        type=setting_type("exit_threshold_pct"),
                        default=config.exit_threshold_pct, metavar="PCT",
                        help="sell this %% up (EXIT_THRESHOLD_PCT, now %(default)s)")
    parser.add_argument(OPTIONS["averaging_threshold_pct"], dest="averaging_threshold_pct",
                        action=Given,
                        type=setting_type("averaging_threshold_pct"),
                        default=config.averaging_threshold_pct, metavar="PCT",
                        help="average down this %% below the last buy "
                             "(AVERAGING_THRESHOLD_PCT, now %(default)s)")
    parser.add_argument(OPTIONS["max_trade_value"], dest="max_trade_value", action=Given,
                        type=setting_type("max_trade_value"),
                        default=config.max_trade_value, metavar="X",
                        help="₹ per buy (MAX_TRADE_VALUE, now %(default)s)")
    parser.add_argument("--sweep", nargs="+", action="extend", metavar="KEY=V,V",
                        help=f"grid over {', '.join(SWEEP_KEYS)}, e.g. entry=0,1,2 exit=5,6.28,8")
    parser.add_argument("--workers", action=Given, type=POSITIVE_INT, metavar="N",
                        help=f"sweep processes on this machine, with the local engine or a local "
                             f"Dask cluster (default: every core, here {os.cpu_count()})")
    parser.add_argument("--engine", action=Given, choices=("local", "dask"), default="local",
                        help="sweep on this machine's cores, or on a Dask cluster")
    parser.add_argument("--cluster", action=Given, default=config.dask_scheduler_address,
                        metavar="ADDRESS",
                        help="with --engine dask: the scheduler, e.g. tcp://scheduler-host:8786 "
                             "(DASK_SCHEDULER_ADDRESS; none: a local cluster)")
    return parser


def write_report(out: Path, result: BacktestResult, summary: dict[str, Any],
                 meta: dict[str, Any]) -> None:
    """report.html beside the CSVs: the figures, parameters, charts and trades for a browser."""
    from backtesting import html_report  # imported here: only a run that draws loads it

    html_report.write(out / "report.html", html_report.run_html(
        summary, meta["params"], result.equity, result.trades, meta["settings"]))


def run_sweep(config: Config, args: argparse.Namespace, histories: dict[str, SymbolHistory],
              params: StrategyParams, settings: Settings, grid: list[dict[str, Any]]) -> int:
    """Run, save and print a sweep; 2 when the cluster cannot be reached or is lost, 1 when a
    combination failed (named on stderr; the others are saved), 130 when Ctrl-C stopped it
    (what finished is saved), else 0. DataError, before anything starts, when the period has
    no candles."""
    # Imported here: its process pool, HTML and table printer would slow every single run.
    from backtesting import sweep
    from backtesting.cluster import dask_runner
    from backtesting.interrupts import termination_as_interrupt

    prepared = sweep.prepare(histories, params, settings, args.start, args.end, grid)
    for market in prepared.markets.values():  # one note per MA length that starts too late
        note_short_warmup(market, args.start, args.end)
    note_more_workers_than_cores(args)
    try:
        # The cluster is reached before --out is made: one that cannot be leaves no new
        # folder. The sweep is written beside an earlier backtest's files and replaces them
        # once written; one stopped (Ctrl-C, kill, a lost cluster) replaces nothing.
        out = results_dir(config, args.out)
        with (termination_as_interrupt(),
              dask_runner(args.cluster, args.workers or os.cpu_count() or 1)
              if args.engine == "dask" else nullcontext() as runner,
              results.staged(out) as stage):
            document = sweep.run(prepared, grid, stage.folder, workers=args.workers,
                                 runner=runner,
                                 names={field: key for key, field in SWEEP_KEYS.items()})
            if document["stopped"] and results.holds_backtest(out):
                stage.keep_earlier(stopped_folder(out) if document["rows"] else None)
    except OSError as exc:
        print(f"backtest: cannot write the sweep into {args.out or 'data/backtests/'}: "
              f"{exc.strerror or exc}{kept_note(args.out)}", file=sys.stderr)
        return 2
    except sweep.ClusterUnavailable as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    note_replaced(out, stage.replaced)
    if stage.kept_earlier:
        print(f"backtest: the earlier backtest in {out} is kept: a stopped sweep replaces "
              f"nothing", file=sys.stderr)
        out = stage.moved_to or out
    return report_sweep(document, len(grid), out, kept_earlier=stage.kept_earlier)


def note_more_workers_than_cores(args: argparse.Namespace) -> None:
    """A note on stderr when --workers asks this machine for more processes than it has
    cores: the extra ones only take turns, so the sweep is no faster for them."""
    cores = os.cpu_count() or 1
    if args.workers and args.workers > cores and not (args.engine == "dask" and args.cluster):
        print(f"backtest: note: --workers {args.workers} on {cores} core"
              f"{'s' if cores != 1 else ''}: the workers take turns on them, so the sweep "
              f"runs no faster than with --workers {cores}", file=sys.stderr)


def report_sweep(document: dict[str, Any], combinations: int, out: Path,
                 kept_earlier: bool) -> int:
    """Print a saved sweep's table, or why it stopped, and its failed combinations; the exit
    status of run_sweep."""
    from backtesting import sweep

    stopped = document["stopped"]
    if not stopped:
        if document["rows"]:
            print(sweep.format_table(document) + "\n")
        runs = len(document["rows"])
        print(f"Saved {runs} run{'s' if runs != 1 else ''}, sweep.json and sweep.html to {out}")
    for failed in document["failed"]:  # one line each; those a stop left are told as one
        print(f"backtest: combination {failed['combination']} failed: "
              f"{failed['error'].splitlines()[0]}", file=sys.stderr)
    saved = (f"{len(document['rows'])} of {combinations} combinations saved in {out}"
             if document["rows"] or not kept_earlier
             else f"none of {combinations} combinations finished")
    if stopped == sweep.INTERRUPTED:
        print(f"backtest: interrupted: {saved}", file=sys.stderr)
        return cli.EXIT_INTERRUPTED
    if stopped:  # the cluster was lost
        print(f"backtest: {stopped}; {saved}", file=sys.stderr)
        return 2
    return 1 if document["failed"] else 0


def params_from_args(config: Config, args: argparse.Namespace) -> StrategyParams:
    """The configured strategy with the command line's overrides."""
    return replace(config.strategy_params(), ma_period=args.ma_period,
                   entry_threshold_pct=args.entry_threshold_pct,
                   exit_threshold_pct=args.exit_threshold_pct,
                   averaging_threshold_pct=args.averaging_threshold_pct,
                   max_trade_value=args.max_trade_value)


def refuse_ignored_options(parser: argparse.ArgumentParser, args: argparse.Namespace,
                           grid: list[dict[str, Any]]) -> None:
    """A usage error for an option the command would ignore: one only a sweep uses, without
    --sweep, --cluster without --engine dask, or a strategy option whose setting --sweep sets
    too; and for --out in the --csv folder, whose next read would take the results for
    candles."""
    for dest in SWEEP_ONLY:
        if dest in args.given and not args.sweep:
            parser.error(f"{args.given[dest]} needs --sweep: a single run has no use for it")
    if "cluster" in args.given and args.engine != "dask":
        parser.error("--cluster needs --engine dask: a local sweep uses this machine's cores")
    if args.csv and args.out and args.out.resolve() == args.csv.resolve():
        parser.error("--out is the --csv folder: its next read would take trades.csv and "
                     "equity.csv for symbols' candles; choose another folder")
    for key, field in SWEEP_KEYS.items():
        if field in args.given and grid and field in grid[0]:
            parser.error(f"{field.upper()} is given twice, by {args.given[field]} and by "
                         f"--sweep {key}=…; give it once")


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    """Parse, load candles, run (or sweep), print and save; the exit status of the docstring."""
    # A CSV backtest needs no key: only the store's candle cache (and the broker) read them.
    config = config or load_config_or_exit(resolve_keys=False)
    parser = build_parser(config)
    args = parser.parse_args(argv)
    if args.start > args.end:
        parser.error(f"--from {args.start} is after --to {args.end}")
    if args.engine == "dask" and args.cluster and args.workers:
        parser.error("--workers sets this machine's processes; a --cluster has its own workers")
    if args.csv is None:
        config = config_or_exit(config.with_secrets)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Off a terminal, the count of a sweep or a candle fetch is the only sign of progress.
    logging.getLogger("backtesting").setLevel(logging.INFO)
    params = params_from_args(config, args)
    settings = Settings(args.capital, args.slippage, DeliveryCosts() if args.costs else NO_COSTS)
    try:
        grid = parse_sweep(args.sweep or [])
    except ValueError as exc:
        parser.error(str(exc))
    refuse_ignored_options(parser, args, grid)
    refuse_foreign_out(args.out)
    note_unlisted(config, args.out)
    longest_ma = max([params.ma_period] + [overrides.get("ma_period", 0) for overrides in grid])
    try:
        histories = load_histories(config, csv_dir=args.csv, fetch=args.fyers, start=args.start,
                                   since=warmup_start(args.start, longest_ma), until=args.end)
        if grid:
            return run_sweep(config, args, histories, params, settings, grid)
        result, summary = run_backtest(histories, params, settings, args.start, args.end)
    except DataError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 1
    out = results_dir(config, args.out)
    try:
        with results.staged(out) as stage:
            meta = {"params": asdict(params), "settings": asdict(settings)}
            results.save(stage.folder, result, summary, meta)
            write_report(stage.folder, result, summary, meta)
    except OSError as exc:
        print(f"backtest: cannot write the results into {out}: {exc.strerror or exc}"
              f"{kept_note(out)}", file=sys.stderr)
        return 2
    note_replaced(out, stage.replaced)
    print(format_summary(summary))
    print(f"\nSaved trades.csv, equity.csv, summary.json and report.html to {out}")
    return 0


if __name__ == "__main__":
    cli.run(main)
