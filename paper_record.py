"""The paper book's track record, shown before going live: the days it traded on paper, its runs,
trades and realized P&L (docs/paper.md)."""
from __future__ import annotations

from dataclasses import dataclass

import india_time
from order_outcomes import NOT_PLACED
from run_steps import nothing_placed
from store.base import Store


@dataclass(frozen=True)
class PaperRecord:
    """What the paper book has done, for the Strategy page before going live."""

    days: int  # IST days with a paper run that traded (paper_runs_that_traded)
    runs: int
    trades: int
    closed: int
    pnl: float  # realized P&L of the paper sales
    first_day: str | None


def paper_runs_that_traded(paper: Store) -> list[dict]:
    """The paper book's runs that placed an order, or ended (with or without warnings) with
    NSE open to them, dry runs left out: the days paper vs backtest compares. A day whose only
    run failed before placing anything (no login, say) or found NSE closed is no paper
    trading day."""
    placed = {order["run_id"] for order in paper.list_orders() if order["status"] != NOT_PLACED}
    return [run for run in paper.list_runs(limit=10_000) if not run["dry_run"]
            and (run["run_id"] in placed or run["status"] in ("succeeded", "warning")
                 and not nothing_placed(run))]


def paper_record(store: Store) -> PaperRecord:
    """The paper book's days, runs, trades and realized P&L."""
    paper = store.for_book("paper")
    runs = paper_runs_that_traded(paper)
    days = sorted({india_time.date_of(run["started_at"]) for run in runs})
    closed = paper.closed_trade_days()
    return PaperRecord(len(days), len(runs), len(paper.list_trades()),
                       sum(day.closed for day in closed),
                       sum(day.pnl_paise for day in closed) / 100, days[0] if days else None)
