"""The money arithmetic and display formatting the web pages show: P&L, win/loss, ₹ and IST.

Views call these so that no template or view does arithmetic on money.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from babel import Locale
from babel.numbers import format_currency

from broker import Quote
from config import IST
from store.base import ClosedDay, TradeStats

EN_IN = Locale.parse("en_IN")  # parsed once: a page formats hundreds of amounts
MINUS = "\u2212"  # a real minus sign reads better than a hyphen next to ₹


def inr(amount: float | None) -> str:
    """₹ with Indian grouping and paise, e.g. ₹1,23,456.78 or −₹1,234.00; '—' when unknown."""
    if amount is None or not math.isfinite(amount):
        return "—"
    paise_exact = round(amount, 2) + 0.0  # + 0.0 turns -0.0 into 0.0: no "−₹0.00"
    return format_currency(paise_exact, "INR", locale=EN_IN).replace("-", MINUS)


def pct(value: float | None) -> str:
    """A percentage with two decimals and a real minus sign, '—' when unknown."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.2f}%".replace("-", MINUS)


def sign_class(value: float | None) -> str:
    """The Bootstrap text colour of a gain (green) or a loss (red); none for zero or unknown."""
    if not value:
        return ""
    return "text-success" if value > 0 else "text-danger"


def ticker(symbol: str) -> str:
    """'NSE:INFY-EQ' → 'INFY': what a person calls the stock, short enough for a phone."""
    return symbol.split(":", 1)[-1].removesuffix("-EQ")


def ist_datetime(ts: float) -> datetime:
    """An epoch-second UTC time as an aware IST datetime."""
    return datetime.fromtimestamp(ts, IST)


def ist(ts: float | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """An epoch-second time formatted in IST, '—' when missing."""
    if ts is None:
        return "—"
    return ist_datetime(ts).strftime(fmt)


def ist_date(ts: float) -> str:
    """The IST calendar date 'YYYY-MM-DD' of an epoch-second time."""
    return ist_datetime(ts).strftime("%Y-%m-%d")


def ist_day_bounds(day: str) -> tuple[float, float]:
    """[start, end) epoch seconds of an IST date 'YYYY-MM-DD'; ValueError when malformed or
    at the edge of the calendar (9999-12-31 has no next day)."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=IST)
    try:
        return start.timestamp(), (start + timedelta(days=1)).timestamp()
    except OverflowError as exc:
        raise ValueError(f"{day} is out of range") from exc


def ist_midnight(now: float, days_back: int = 0) -> float:
    """Epoch seconds of IST midnight `days_back` days before the day of `now`."""
    today = ist_datetime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=days_back)).timestamp()


def duration(started: float | None, finished: float | None) -> str:
    """A run's duration as '42 s' or '3 min 5 s'; '—' while unknown."""
    if started is None or finished is None:
        return "—"
    seconds = max(0, round(finished - started))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


@dataclass(frozen=True)
class PositionView:
    """One open position as the trading page shows it; price fields are None when unknown."""

    symbol: str
    qty: int
    avg_price: float
    ltp: float | None
    pnl: float | None
    pnl_pct: float | None

    @property
    def invested(self) -> float:
        return self.qty * self.avg_price


def value_positions(positions: Iterable[Mapping[str, Any]], prices: Mapping[str, float]
                    ) -> list[PositionView]:
    """Open positions valued at `prices` (symbol → price); missing prices leave P&L unknown."""
    rows = []
    for position in positions:
        qty, avg = int(position["qty"]), float(position["avg_price"])
        ltp = prices.get(position["symbol"])
        pnl = None if ltp is None else (ltp - avg) * qty
        change = None if ltp is None or not avg else (ltp - avg) / avg * 100
        rows.append(PositionView(position["symbol"], qty, avg, ltp, pnl, change))
    return rows


def quote_prices(quotes: Mapping[str, Quote]) -> dict[str, float]:
    """symbol → last traded price from a batched quotes answer."""
    return {symbol: quote.ltp for symbol, quote in quotes.items()}


def unrealized_pnl(rows: Sequence[PositionView]) -> float | None:
    """Sum of open P&L, or None when any position has no price (a partial sum would mislead)."""
    if any(row.pnl is None for row in rows):
        return None
    return sum(row.pnl for row in rows if row.pnl is not None)


def win_loss_ratio(stats: TradeStats) -> float | None:
    """Winning closed trades per losing one; None when there is no loss to divide by."""
    return stats.wins / stats.losses if stats.losses else None


def cumulative_pnl(days: Iterable[ClosedDay]) -> list[tuple[str, float]]:
    """Running total of realized P&L per IST day, for the chart (summed in whole paise)."""
    total = 0
    points = []
    for day in days:
        total += day.pnl_paise
        points.append((day.day, total / 100))
    return points


@dataclass
class DayActivity:
    """What the bot did on one IST day: trades and orders cancelled or rejected."""

    day: str
    trades: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[dict[str, Any]] = field(default_factory=list)
    realized: float = 0.0
    more: int = 0  # trades and orders beyond the per-day limit, not listed

    @property
    def label(self) -> str:
        """'Thu 26 Nov 2026' for the day's heading."""
        return datetime.strptime(self.day, "%Y-%m-%d").strftime("%a %d %b %Y")


def activity_by_day(trades: Iterable[Mapping[str, Any]], orders: Iterable[Mapping[str, Any]],
                    per_day: int = 20) -> list[DayActivity]:
    """Group trades (by ts) and cancelled orders (by created_at) per IST day, newest day first;
    at most `per_day` of each are listed, the rest counted in `more` (realized counts all)."""
    days: dict[str, DayActivity] = {}
    for trade in trades:
        activity = days.setdefault(ist_date(trade["ts"]), DayActivity(ist_date(trade["ts"])))
        activity.realized += trade["pnl"] or 0.0
        _keep(activity, activity.trades, trade, per_day)
    for order in orders:
        day = ist_date(order["created_at"])
        activity = days.setdefault(day, DayActivity(day))
        _keep(activity, activity.cancelled, order, per_day)
    return [days[day] for day in sorted(days, reverse=True)]


def _keep(activity: DayActivity, listed: list[dict[str, Any]], record: Mapping[str, Any],
          per_day: int) -> None:
    """List `record` while there is room, else count it as one more."""
    if len(listed) < per_day:
        listed.append(dict(record))
    else:
        activity.more += 1
