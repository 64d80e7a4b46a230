"""Saved backtests: one folder per run holding trades.csv, equity.csv and summary.json."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from backtesting.engine import EQUITY_COLUMNS, TRADE_COLUMNS, BacktestResult
from backtesting.interrupts import interrupts_deferred
from backtesting.metrics import SUMMARY_LABELS, drawdown_pct

NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
RUN_FOLDER = r"runs/[0-9]{1,6}"  # one combination's folder in a sweep's (sweep.run_folder)
SAFE_ID = re.compile(rf"^{NAME}$")
# A saved run: a folder of its own, or one combination of a saved sweep (`<sweep>/runs/<n>`).
RUN_ID = re.compile(rf"^{NAME}(/{RUN_FOLDER})?$")
# What a backtest writes into its folder, a run's files or a sweep's: the next backtest written
# there replaces them all, so a folder never mixes two (a sweep's runs beside another's grid).
OUTPUTS = ("trades.csv", "equity.csv", "summary.json", "report.html", "sweep.json",
           "sweep.html", "runs")
STAGING_PREFIX = ".backtest-"  # a backtest's own folders in --out while it writes (Staged)
DECIMALS = {"price": 4, "costs": 2, "pnl": 2, "cash": 2, "holdings_value": 2, "equity": 2,
            "buy_and_hold": 2}


class UnreadableRun(ValueError):
    """A saved run's files are missing, cut short or malformed; the message names the file."""


def backtests_root(data_dir: Path) -> Path:
    """Where `python backtest.py` saves runs by default and the web app lists them."""
    return data_dir / "backtests"


def new_run_dir(root: Path) -> Path:
    """A fresh folder name under `root`: UTC time of the run plus a short random suffix."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return root / f"{stamp}-{os.urandom(3).hex()}"


def _outputs_in(out: Path) -> list[tuple[Path, str]]:
    """What `out` holds of what a backtest writes (OUTPUTS): each path and its name as said,
    a folder's with a slash."""
    return [(path, f"{name}/" if path.is_dir() and not path.is_symlink() else name)
            for name in OUTPUTS if (path := out / name).exists() or path.is_symlink()]


def holds_backtest(out: Path) -> bool:
    """Whether `out` holds files by the names a backtest writes (OUTPUTS)."""
    return bool(_outputs_in(out))


def foreign_outputs(out: Path) -> list[str]:
    """The OUTPUTS names in `out` that no backtest wrote (it holds no readable summary.json or
    sweep.json): a backtest must not replace them. [] when there are none, or they are a
    backtest's."""
    present = _outputs_in(out)
    if not present:
        return []
    for read in (read_summary, read_sweep):
        try:
            read(out)
            return []
        except UnreadableRun:
            continue
    return [said for _, said in present]


class Staged:
    """Results written into a fresh folder inside `out` (`folder`), then put in place of what
    an earlier backtest wrote in `out` (`replaced`, a folder's name with a slash) by a rename
    each: a run that fails to write (a full disk) leaves the earlier results as they were, and
    no reader sees a half-written mix. Other files in `out` stay."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        self.folder = out / f"{STAGING_PREFIX}new-{os.urandom(3).hex()}"
        self.folder.mkdir()
        self.replaced: list[str] = []
        self.kept_earlier = False
        self.moved_to: Path | None = None

    def keep_earlier(self, instead: Path | None) -> None:
        """Leave the earlier results in `out` as they are: the commit moves the written ones to
        the new folder `instead`, or drops them (None)."""
        self.kept_earlier, self.moved_to = True, instead

    def commit(self) -> None:
        """Put the written results in place of the earlier ones (or where keep_earlier says)."""
        if self.kept_earlier:
            if self.moved_to is None:
                self.discard()
            else:
                os.rename(self.folder, self.moved_to)
            return
        old = self.out / f"{STAGING_PREFIX}old-{os.urandom(3).hex()}"
        old.mkdir()
        for path, said in _outputs_in(self.out):
            self.replaced.append(said)
            os.rename(path, old / path.name)
        for path in self.folder.iterdir():
            os.rename(path, self.out / path.name)
        self.folder.rmdir()
        shutil.rmtree(old)
        for left in self.out.glob(f"{STAGING_PREFIX}*"):  # by a backtest killed outright
            shutil.rmtree(left, ignore_errors=True)

    def discard(self) -> None:
        """Drop what was written; the earlier results stay (and a folder made for it goes)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.made:
            with suppress(OSError):  # only when nothing else came into it meanwhile
                self.out.rmdir()


@contextmanager
def staged(out: Path) -> Iterator[Staged]:
    """A Staged for `out`, committed when the block ends without an exception, else
    discarded."""
    stage = Staged(out)
    try:
        yield stage
    except BaseException:
        stage.discard()
        raise
    with interrupts_deferred():  # a Ctrl-C between two renames would leave a mix
        stage.commit()


def _fixed(values: Sequence[float | None], places: int) -> list[str]:
    """Numbers with `places` decimals (money to the paisa), None as an empty field."""
    text = f"{{:.{places}f}}".format
    return [text(value) if value is not None else "" for value in values]


def _write_csv(path: Path, header: list[str], columns: list[Sequence[Any]]) -> None:
    """Columns of equal length under `header`, numbers with the decimals of DECIMALS."""
    cells = [_fixed(values, DECIMALS[name]) if name in DECIMALS else values
             for name, values in zip(header, columns, strict=True)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(zip(*cells, strict=True))


def save(out: Path, result: BacktestResult, summary: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write trades.csv, equity.csv and summary.json (figures + parameters) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "trades.csv", TRADE_COLUMNS,
               list(zip(*result.trades, strict=True)) or [()] * len(TRADE_COLUMNS))
    _write_csv(out / "equity.csv", EQUITY_COLUMNS,
               [result.equity[column] for column in EQUITY_COLUMNS])
    document = {"summary": summary, **meta, "created_at": time.time()}
    (out / "summary.json").write_text(json.dumps(document, indent=2, default=str))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_iso_date(value: Any) -> bool:
    """A YYYY-MM-DD date, as the pages read a period's ends (to annualise or not)."""
    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def read_summary(folder: Path) -> dict[str, Any]:
    """A run folder's summary.json: its figures, parameters and creation time.

    Raises UnreadableRun when the file cannot be read or lacks what the pages show.
    """
    try:
        document = json.loads((folder / "summary.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UnreadableRun(f"summary.json cannot be read ({exc})") from None
    summary = document.get("summary") if isinstance(document, dict) else None
    if not (isinstance(summary, dict) and SUMMARY_LABELS.keys() <= summary.keys()
            and all(_is_number(summary[key]) for key in SUMMARY_LABELS
                    if key not in ("start", "end"))
            and _is_iso_date(summary["start"]) and _is_iso_date(summary["end"])
            and all(isinstance(document.get(key, {}), dict) for key in ("params", "settings"))
            and _is_number(document.get("created_at", 0))):
        raise UnreadableRun("summary.json lacks some of a backtest's figures")
    return document


def save_sweep(out: Path, document: dict[str, Any]) -> None:
    """Write a sweep's sweep.json (its grid, every combination's row and run folder, failures)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps({**document, "created_at": time.time()},
                                               indent=2, default=str))


def read_sweep(folder: Path) -> dict[str, Any]:
    """A sweep folder's sweep.json; UnreadableRun when it cannot be read or lacks its rows."""
    try:
        document = json.loads((folder / "sweep.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UnreadableRun(f"sweep.json cannot be read ({exc})") from None
    if not _is_sweep(document):
        raise UnreadableRun("sweep.json lacks some of a sweep's grid, rows or dates")
    return document


def _is_sweep(document: Any) -> bool:
    """Whether a sweep.json holds all the pages show: a grid of numbers, rows of numbers each
    naming its run folder, the period and the time it was saved."""
    if not isinstance(document, dict):
        return False
    axes, rows = document.get("axes"), document.get("rows")
    return (isinstance(axes, dict) and bool(axes)
            and all(isinstance(values, list) and values and all(map(_is_number, values))
                    for values in axes.values())
            and isinstance(rows, list)
            and all(isinstance(row, dict) and axes.keys() <= row.keys()
                    and re.fullmatch(RUN_FOLDER, str(row.get("run")))
                    and all(_is_number(value) for key, value in row.items() if key != "run")
                    for row in rows)
            and _is_iso_date(document.get("start")) and _is_iso_date(document.get("end"))
            and _is_number(document.get("created_at"))
            and all(isinstance(document.get(key, []), list) for key in ("failed", "not_run")))


def _listed(folder: Path, read: Any, kind: str) -> dict[str, Any]:
    """One entry of list_saved: the document `read` gives, or why it cannot be read."""
    try:
        return {"id": folder.name, "kind": kind, **read(folder)}
    except UnreadableRun as exc:
        return {"id": folder.name, "kind": kind, "unreadable": str(exc),
                "created_at": folder.stat().st_mtime}


def list_saved(root: Path) -> list[dict[str, Any]]:
    """Every saved run and sweep under `root`, newest first: its summary.json (or sweep.json)
    plus `id` and `kind`, or `id`, `created_at` (the folder's time) and `unreadable` (why)."""
    runs = []
    for folder in root.iterdir() if root.is_dir() else []:
        if not SAFE_ID.match(folder.name):
            continue
        if (folder / "sweep.json").is_file():
            runs.append(_listed(folder, read_sweep, "sweep"))
        elif (folder / "summary.json").is_file():
            runs.append(_listed(folder, read_summary, "run"))
    return sorted(runs, key=lambda run: run.get("created_at", 0), reverse=True)


def load_sweep(root: Path, sweep_id: str) -> dict[str, Any] | None:
    """A saved sweep's sweep.json with its `id`, or None when `sweep_id` names no sweep."""
    if not SAFE_ID.match(sweep_id) or not (root / sweep_id / "sweep.json").is_file():
        return None
    return {"id": sweep_id, **read_sweep(root / sweep_id)}


def _equity_series(path: Path) -> tuple[list[str], list[float], list[float] | None]:
    """The date, equity and buy-and-hold columns of an equity.csv (None for a run saved before
    buy-and-hold was)."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        dates, equity = [row["date"] for row in rows], [float(row["equity"]) for row in rows]
        held = ([float(row["buy_and_hold"]) for row in rows]
                if rows and rows[0].get("buy_and_hold") else None)
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UnreadableRun(f"equity.csv cannot be read ({exc})") from None
    if not (equity and equity[0] > 0):  # the drawdown divides by the running peak
        raise UnreadableRun("equity.csv cannot be read (no days, or no capital on the first)")
    return dates, equity, held


def read_trades(folder: Path, most: int) -> tuple[list[dict[str, str]], int]:
    """The first `most` rows of a run's trades.csv and how many there are in all."""
    try:
        with (folder / "trades.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableRun(f"trades.csv cannot be read ({exc})") from None
    return rows[:most], len(rows)


def load_saved(root: Path, run_id: str) -> dict[str, Any] | None:
    """One saved run with its daily equity and drawdown series, or None when there is none.

    Raises UnreadableRun when its files are cut short or malformed.
    """
    folder = root / run_id
    if not RUN_ID.match(run_id) or not (folder / "summary.json").is_file():
        return None
    document = read_summary(folder)
    dates, equity, held = _equity_series(folder / "equity.csv")
    return {
        "id": run_id,
        **document,
        "series": {
            "dates": dates,
            "equity": equity,
            "buy_and_hold": held,
            "drawdown_pct": [round(value, 2) for value in drawdown_pct(
                equity, document["summary"]["initial_capital"])],
        },
    }
