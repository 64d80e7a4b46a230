"""Saved backtests: one folder per run holding trades.csv, equity.csv and summary.json."""
from __future__ import annotations

import csv
import json
import os
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backtesting.engine import EQUITY_COLUMNS, TRADE_COLUMNS, BacktestResult
from backtesting.metrics import SUMMARY_LABELS, drawdown_pct

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
DECIMALS = {"price": 4, "costs": 2, "pnl": 2, "cash": 2, "holdings_value": 2, "equity": 2}


class UnreadableRun(ValueError):
    """A saved run's files are missing, cut short or malformed; the message names the file."""


def backtests_root(data_dir: Path) -> Path:
    """Where `python backtest.py` saves runs by default and the web app lists them."""
    return data_dir / "backtests"


def new_run_dir(root: Path) -> Path:
    """A fresh folder name under `root`: UTC time of the run plus a short random suffix."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return root / f"{stamp}-{os.urandom(3).hex()}"


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
            and all(isinstance(document.get(key, {}), dict) for key in ("params", "settings"))
            and _is_number(document.get("created_at", 0))):
        raise UnreadableRun("summary.json lacks some of a backtest's figures")
    return document


def list_saved(root: Path) -> list[dict[str, Any]]:
    """Every saved run under `root`, newest first: its summary.json plus `id`, or `id`,
    `created_at` (the file's time) and `unreadable` (why) when summary.json cannot be read."""
    runs = []
    for path in root.glob("*/summary.json") if root.is_dir() else []:
        if not SAFE_ID.match(path.parent.name):
            continue
        try:
            runs.append({"id": path.parent.name, **read_summary(path.parent)})
        except UnreadableRun as exc:
            runs.append({"id": path.parent.name, "unreadable": str(exc),
                         "created_at": path.stat().st_mtime})
    return sorted(runs, key=lambda run: run.get("created_at", 0), reverse=True)


def _equity_series(path: Path) -> tuple[list[str], list[float]]:
    """The date and equity columns of an equity.csv."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        dates, equity = [row["date"] for row in rows], [float(row["equity"]) for row in rows]
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UnreadableRun(f"equity.csv cannot be read ({exc})") from None
    if not (equity and equity[0] > 0):  # the drawdown divides by the running peak
        raise UnreadableRun("equity.csv cannot be read (no days, or no capital on the first)")
    return dates, equity


def load_saved(root: Path, run_id: str) -> dict[str, Any] | None:
    """One saved run with its daily equity and drawdown series, or None when there is none.

    Raises UnreadableRun when its files are cut short or malformed.
    """
    folder = root / run_id
    if not SAFE_ID.match(run_id) or not (folder / "summary.json").is_file():
        return None
    document = read_summary(folder)
    dates, equity = _equity_series(folder / "equity.csv")
    return {
        "id": run_id,
        **document,
        "series": {
            "dates": dates,
            "equity": equity,
            "drawdown_pct": [round(value, 2) for value in drawdown_pct(equity)],
        },
    }
