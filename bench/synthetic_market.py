"""Deterministic synthetic daily closes written as one CSV per symbol, for the backtest bench
and its parity tests: any number of symbols and days, unlike the sandbox's NIFTY 50.

Each symbol's log close reverts towards its own level (1.5 % of the gap a day) with 1.6 % daily
noise, like fyers_sandbox/market.py, so positions are opened and closed all along; closes are
rounded to paise. Days are consecutive weekdays from FIRST_DAY.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

FIRST_DAY = "1990-01-01"
REVERSION = 0.015
DAILY_VOLATILITY = 0.016
COLUMNS = "date,open,high,low,close,volume"


def weekdays(count: int) -> list[str]:
    """`count` consecutive weekdays from FIRST_DAY, as YYYY-MM-DD."""
    return np.busday_offset(FIRST_DAY, np.arange(count), roll="forward").astype(str).tolist()


def closes(count: int, rng: np.random.Generator) -> list[float]:
    """One symbol's mean-reverting closes."""
    level = np.log(rng.uniform(50, 5000))
    shocks = rng.normal(0.0, DAILY_VOLATILITY, count)
    log_close = np.empty(count)
    current = level + rng.normal(0.0, 0.15)
    for i, shock in enumerate(shocks):
        current += REVERSION * (level - current) + shock
        log_close[i] = current
    return np.round(np.exp(log_close), 2).tolist()


def write_market(folder: Path, symbols: int, days: int, seed: int = 7) -> tuple[str, str]:
    """NSE_S000-EQ.csv … into `folder` (created); the first and last date."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dates = weekdays(days)
    for number in range(symbols):
        rows = "".join(f"{day},{close},{close},{close},{close},1000\n"
                       for day, close in zip(dates, closes(days, rng), strict=True))
        (folder / f"NSE_S{number:03d}-EQ.csv").write_text(f"{COLUMNS}\n{rows}")
    return dates[0], dates[-1]
