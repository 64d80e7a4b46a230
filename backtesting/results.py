"""Saved backtests: one folder per run holding trades.csv, equity.csv and summary.json."""
from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from backtesting.engine import TRADE_COLUMNS, BacktestResult
from backtesting.metrics import drawdown_pct

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def backtests_root(data_dir: Path) -> Path:
    """Where `python backtest.py` saves runs by default and the web app lists them."""
    return data_dir / "backtests"


def new_run_dir(root: Path) -> Path:
    """A fresh folder name under `root`: UTC time of the run plus a short random suffix."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return root / f"{stamp}-{secrets.token_hex(3)}"


def save(out: Path, result: BacktestResult, summary: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write trades.csv, equity.csv and summary.json (figures + parameters) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    trades = pd.DataFrame(result.trades, columns=TRADE_COLUMNS)
    trades.round({"price": 4, "costs": 2, "pnl": 2}).to_csv(out / "trades.csv", index=False)
    result.equity.round(2).to_csv(out / "equity.csv", index=False)
    document = {"summary": summary, **meta, "created_at": time.time()}
    (out / "summary.json").write_text(json.dumps(document, indent=2, default=str))


def list_saved(root: Path) -> list[dict[str, Any]]:
    """Every saved run under `root` as its summary.json plus `id`, newest first."""
    runs = []
    for path in root.glob("*/summary.json") if root.is_dir() else []:
        if SAFE_ID.match(path.parent.name):
            runs.append({"id": path.parent.name, **json.loads(path.read_text())})
    return sorted(runs, key=lambda run: run.get("created_at", 0), reverse=True)


def load_saved(root: Path, run_id: str) -> dict[str, Any] | None:
    """One saved run with its daily equity and drawdown series, or None when there is none."""
    folder = root / run_id
    if not SAFE_ID.match(run_id) or not (folder / "summary.json").is_file():
        return None
    equity = pd.read_csv(folder / "equity.csv")
    return {
        "id": run_id,
        **json.loads((folder / "summary.json").read_text()),
        "series": {
            "dates": equity["date"].astype(str).tolist(),
            "equity": equity["equity"].tolist(),
            "drawdown_pct": drawdown_pct(equity["equity"]).round(2).tolist(),
        },
    }
