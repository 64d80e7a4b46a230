"""Summary figures of a backtest: CAGR, drawdown, win rate, exposure, capital used; and how
they read wherever they are shown."""
from __future__ import annotations

from datetime import date
from itertools import accumulate
from typing import Any, NamedTuple

from backtesting.engine import BacktestResult
from indian_digits import grouped

DAYS_PER_YEAR = 365.25
# Every figure summarize() gives, in the order shown, with its label (figure_rows: report.html
# and the Backtests page); "start" and "end" are ISO dates, the others numbers.
FIGURE_LABELS = {
    "start": "From", "end": "To", "trading_days": "Trading days",
    "initial_capital": "Initial capital (₹)", "final_equity": "Final equity (₹)",
    "total_return_pct": "Total return (%)",
    "buy_and_hold_return_pct": "Total return, buy and hold (%)",
    "cagr_pct": "CAGR (%)", "max_drawdown_pct": "Max drawdown (%)",
    "trades": "Fills (buys and sells)", "closed_trades": "Closed trades",
    "winning_trades": "Winning trades", "win_rate_pct": "Win rate (%)",
    "avg_win": "Avg win (₹)", "avg_loss": "Avg loss (₹)",
    "exposure_pct": "Exposure (% of days)",
    "peak_capital_used": "Cost of open positions at peak (₹)", "total_costs": "Costs (₹)",
    "skipped_buys": "Buys skipped (cash short)",
}
# The figures every saved summary.json has: what a saved run must hold to be shown
# (results.read_summary), and what the CLI's printed summary lists. Those added since
# (buy-and-hold's return, the winning trades) are missing from older runs, which read "—" for
# them.
SUMMARY_LABELS = {key: label for key, label in FIGURE_LABELS.items()
                  if key not in ("buy_and_hold_return_pct", "winning_trades")}
NOT_SAVED = "saved before this figure was added"
# CAGR is shown for a year or more: a few days' return compounded to a year says nothing of the
# strategy (-0.03 % over two days reads -11.62 % a year). A calendar year's first and last
# trading days are 360 days apart or more (3 Jan → 29 Dec), so such a run counts as a year.
MIN_DAYS_FOR_CAGR = 360
UNDER_A_YEAR = "not annualised: under a year"
# A win rate of no closed trade is no rate: 0.00 % would read as every trade lost; nor is an
# average win of no winning trade ₹0.00, which would read as wins that made nothing.
NO_CLOSED_TRADE = "no closed trade"
NO_WINNING_TRADE = "no winning trade"
NO_LOSING_TRADE = "no losing trade"


class Figure(NamedTuple):
    """One figure as it is shown: its label, its text and, when the text is "—", why."""

    label: str
    text: str
    note: str = ""


def figure_text(value: Any) -> str:
    """A figure as the CLI and the HTML reports show it: amounts and percentages with two
    decimals, grouped as the app's pages group them (4,00,000.00; −1.90), counts and dates as
    they are."""
    return grouped(value) if isinstance(value, float) else str(value)


def annualised(start: str, end: str) -> bool:
    """Whether a period from `start` to `end` (ISO dates) is long enough to show its CAGR."""
    return (date.fromisoformat(end) - date.fromisoformat(start)).days >= MIN_DAYS_FOR_CAGR


def figure(summary: dict[str, Any], key: str) -> Figure:
    """Figure `key` of a summary (or of a sweep's row with the sweep's start and end) as it is
    shown: "—" with a note for a CAGR under a year, a win rate without a closed trade and a
    figure the run was saved without."""
    label = FIGURE_LABELS[key]
    if key not in summary:
        return Figure(label, "—", NOT_SAVED)
    if key == "cagr_pct" and not annualised(summary["start"], summary["end"]):
        return Figure(label, "—", UNDER_A_YEAR)
    if key == "win_rate_pct" and summary.get("closed_trades") == 0:
        return Figure(label, "—", NO_CLOSED_TRADE)
    if key in ("avg_win", "avg_loss") and (missing := _no_trade_to_average(summary, key)):
        return Figure(label, "—", missing)
    return Figure(label, figure_text(summary[key]))


def _no_trade_to_average(summary: dict[str, Any], key: str) -> str:
    """Why a summary has no average win (loss): no closed, winning (losing) trade; '' when it
    has one, or when a run saved before winning trades were counted cannot tell."""
    closed, wins = summary.get("closed_trades"), summary.get("winning_trades")
    if closed == 0:
        return NO_CLOSED_TRADE
    if key == "avg_win" and wins == 0:
        return NO_WINNING_TRADE
    if key == "avg_loss" and wins is not None and wins == closed:
        return NO_LOSING_TRADE
    return ""


def figure_rows(summary: dict[str, Any]) -> list[Figure]:
    """Every figure of a summary, in FIGURE_LABELS' order, as report.html and the Backtests page
    show it."""
    return [figure(summary, key) for key in FIGURE_LABELS]


def drawdown_pct(equity: list[float], capital: float) -> list[float]:
    """Percent below the running peak on each day (0 at a new high, negative below it). The
    peak starts at `capital`, so a first day that ends below it (charges, a buy at a slipped
    price) is a drawdown too."""
    peaks = accumulate(equity, max, initial=capital)
    next(peaks)  # the capital itself, before the first day
    return [(value / peak - 1) * 100 for value, peak in zip(equity, peaks, strict=True)]


def cagr_pct(first: float, last: float, days: int) -> float:
    """Compound annual growth over `days` calendar days, in percent."""
    if days <= 0 or first <= 0 or last <= 0:
        return 0.0
    return ((last / first) ** (DAYS_PER_YEAR / days) - 1) * 100


def _rounded(value: float) -> float:
    """`value` to two decimals, a figure too small to show reading 0.0, not -0.0 (round()
    keeps the sign; adding 0.0 drops it)."""
    return round(value, 2) + 0.0


def _mean(values: list[float]) -> float:
    return _rounded(sum(values) / len(values)) if values else 0.0


def summarize(result: BacktestResult, capital: float) -> dict[str, Any]:
    """The headline figures; money in rupees, rates in percent, rounded for display."""
    equity = result.equity
    closed = [trade.pnl for trade in result.trades if trade.side == "SELL"]
    wins, losses = [pnl for pnl in closed if pnl > 0], [pnl for pnl in closed if pnl <= 0]
    first, last = date.fromisoformat(equity["date"][0]), date.fromisoformat(equity["date"][-1])
    final = equity["equity"][-1]
    days_held = sum(1 for value in equity["holdings_value"] if value > 0)
    return {
        "start": first.isoformat(),
        "end": last.isoformat(),
        "trading_days": len(equity["date"]),
        "initial_capital": _rounded(capital),
        "final_equity": _rounded(final),
        "total_return_pct": _rounded((final / capital - 1) * 100),
        "buy_and_hold_return_pct": _rounded((equity["buy_and_hold"][-1] / capital - 1) * 100),
        "cagr_pct": _rounded(cagr_pct(capital, final, (last - first).days)),
        "max_drawdown_pct": _rounded(-min(drawdown_pct(equity["equity"], capital))),
        "trades": len(result.trades),
        "closed_trades": len(closed),
        "winning_trades": len(wins),
        "win_rate_pct": _rounded(len(wins) / len(closed) * 100) if closed else 0.0,
        "avg_win": _mean(wins),
        "avg_loss": _mean(losses),
        "exposure_pct": _rounded(days_held / len(equity["date"]) * 100),
        "peak_capital_used": _rounded(result.peak_invested),
        "total_costs": _rounded(sum(trade.costs for trade in result.trades)),
        "skipped_buys": result.skipped_buys,
    }
