"""Summary figures of a backtest: CAGR, drawdown, win rate, exposure, capital used."""
from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from backtesting.engine import TRADE_COLUMNS, BacktestResult

DAYS_PER_YEAR = 365.25


def drawdown_pct(equity: pd.Series) -> pd.Series:
    """Percent below the running peak on each day (0 at a new high, negative below it)."""
    return (equity / equity.cummax() - 1) * 100


def cagr_pct(first: float, last: float, days: int) -> float:
    """Compound annual growth over `days` calendar days, in percent."""
    if days <= 0 or first <= 0 or last <= 0:
        return 0.0
    return ((last / first) ** (DAYS_PER_YEAR / days) - 1) * 100


def _mean(values: pd.Series) -> float:
    return round(float(values.mean()), 2) if len(values) else 0.0


def summarize(result: BacktestResult, capital: float) -> dict[str, Any]:
    """The headline figures; money in rupees, rates in percent, rounded for display."""
    equity = result.equity
    trades = pd.DataFrame(result.trades, columns=TRADE_COLUMNS)
    closed = trades.loc[trades["side"] == "SELL", "pnl"].astype(float)
    wins, losses = closed[closed > 0], closed[closed <= 0]
    first, last = date.fromisoformat(equity["date"].iloc[0]), date.fromisoformat(
        equity["date"].iloc[-1])
    final = float(equity["equity"].iloc[-1])
    return {
        "start": first.isoformat(),
        "end": last.isoformat(),
        "trading_days": len(equity),
        "initial_capital": round(capital, 2),
        "final_equity": round(final, 2),
        "total_return_pct": round((final / capital - 1) * 100, 2),
        "cagr_pct": round(cagr_pct(capital, final, (last - first).days), 2),
        "max_drawdown_pct": round(float(-drawdown_pct(equity["equity"]).min()), 2),
        "trades": len(trades),
        "closed_trades": len(closed),
        "win_rate_pct": round(len(wins) / len(closed) * 100, 2) if len(closed) else 0.0,
        "avg_win": _mean(wins),
        "avg_loss": _mean(losses),
        "exposure_pct": round(float((equity["holdings_value"] > 0).mean()) * 100, 2),
        "peak_capital_used": round(result.peak_invested, 2),
        "total_costs": round(float(trades["costs"].sum()), 2),
        "skipped_buys": result.skipped_buys,
    }
