"""The money arithmetic and display formatting the web pages show: P&L, win/loss, ₹ and IST.

Views call these so that no template or view does arithmetic on money.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import india_time
import trade_books
from config import IST
from indian_digits import MINUS, grouped
from store.base import ClosedDay, TradeStats
from store.common import trade_stats
from trade_books import Sale


def shown(value: float) -> float:
    """`value` as a page shows it, to two decimals (paise, hundredths of a percent), with no
    negative zero: its sign is the one the reader sees."""
    return round(value, 2) + 0.0


def inr(amount: float | None) -> str:
    """₹ with Indian grouping and paise, e.g. ₹1,23,456.78 or −₹1,234.00; '—' when unknown."""
    if amount is None or not math.isfinite(amount):
        return "—"
    value = shown(amount)
    return f"{MINUS if value < 0 else ''}₹{grouped(abs(value))}"


def signed_inr(amount: float) -> str:
    """₹ with an explicit + for gains, as P&L reads."""
    return f"+{inr(amount)}" if shown(amount) > 0 else inr(amount)


def pct(value: float | None) -> str:
    """A percentage with two decimals and a real minus sign, '—' when unknown; one that rounds
    to zero reads 0.00%, unsigned."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{shown(value):.2f}%".replace("-", MINUS)


def sign_class(value: float | None) -> str:
    """The Bootstrap text colour of a gain (green) or a loss (red) as shown, to two decimals;
    none for what reads zero, or unknown."""
    if value is None or not math.isfinite(value) or not shown(value):
        return ""
    return "text-success" if value > 0 else "text-danger"


def ticker(symbol: str) -> str:
    """'NSE:INFY-EQ' → 'INFY': what a person calls the stock, short enough for a phone."""
    return symbol.split(":", 1)[-1].removesuffix("-EQ")


def ist(ts: float | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """An epoch-second time formatted in IST, '—' when missing."""
    if ts is None:
        return "—"
    return india_time.moment(ts).strftime(fmt)


def ist_short(ts: float) -> str:
    """'26 Nov 09:00 IST': a moment near now, as messages and alerts name it."""
    return ist(ts, "%d %b %H:%M IST")


def ist_when(ts: float | None, now: float) -> str:
    """'06:00 IST tomorrow', '15:10 IST today', '15:10 IST yesterday' or 'Thu 26 Nov 06:00 IST',
    as seen at `now`; '—' when missing."""
    if ts is None:
        return "—"
    days = (india_time.day_of(ts) - india_time.day_of(now)).days
    named = {0: "today", 1: "tomorrow", -1: "yesterday"}.get(days)
    return f"{ist(ts, '%H:%M')} IST {named}" if named else ist(ts, "%a %d %b %H:%M IST")


def duration(started: float | None, finished: float | None) -> str:
    """A run's duration as '42 s' or '3 min 5 s'; '—' while unknown."""
    if started is None or finished is None:
        return "—"
    seconds = max(0, round(finished - started))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


@dataclass(frozen=True)
class Mark:
    """The price a holding is valued at, and where it comes from: a Fyers quote read at `at`
    (epoch seconds), else the cached daily close of `day` ('YYYY-MM-DD'). `nse_closed`: the
    quote was read while NSE was closed by Fyers' clock, so it is the last session's price."""

    price: float
    at: float | None = None
    day: str | None = None
    nse_closed: bool = False

    @property
    def live(self) -> bool:
        return self.at is not None

    @property
    def label(self) -> str:
        """'live 14:32', 'last price, NSE closed' or 'close of 27 Nov'."""
        if self.at is not None:
            return "last price, NSE closed" if self.nse_closed else f"live {ist(self.at, '%H:%M')}"
        return f"close of {day_label(self.day)}"


def day_label(day: str | None) -> str:
    """'27 Nov' for an IST date 'YYYY-MM-DD' of this year, '27 Nov 2025' for another year."""
    if not day:
        return "—"
    when = datetime.strptime(day, "%Y-%m-%d")
    same_year = when.year == datetime.now(IST).year
    return when.strftime("%d %b" if same_year else "%d %b %Y")


@dataclass(frozen=True)
class PositionView:
    """One open position valued at its mark; price fields are None when it has none."""

    symbol: str
    qty: int
    avg_price: float
    mark: Mark | None

    @property
    def invested(self) -> float:
        return self.qty * self.avg_price

    @property
    def ltp(self) -> float | None:
        return self.mark.price if self.mark else None

    @property
    def value(self) -> float | None:
        return self.qty * self.mark.price if self.mark else None

    @property
    def pnl(self) -> float | None:
        return None if self.value is None else self.value - self.invested

    @property
    def pnl_pct(self) -> float | None:
        return None if self.pnl is None or not self.invested else self.pnl / self.invested * 100


@dataclass(frozen=True)
class Holdings:
    """The open positions valued at one set of marks, and the money at stake in them."""

    rows: list[PositionView]

    @property
    def invested(self) -> float:
        return sum(row.invested for row in self.rows)

    @property
    def value(self) -> float | None:
        """Current value, or None when a position has no price (a partial sum would mislead)."""
        values = [row.value for row in self.rows]
        return None if None in values else sum(values)

    @property
    def open_pnl(self) -> float | None:
        return None if self.value is None else self.value - self.invested

    @property
    def open_pct(self) -> float | None:
        return None if self.open_pnl is None or not self.invested else \
            self.open_pnl / self.invested * 100

    @property
    def valued_at(self) -> str:
        """What the figures are valued at, in words: 'live prices of 14:32 IST', 'the close of
        27 Nov', 'the closes of 26 Nov to 27 Nov', or live prices with some closes; outside
        NSE's session 'the last prices Fyers gave at 21:04 IST, NSE closed'; '' when no holding
        has a price."""
        marks = [row.mark for row in self.rows if row.mark is not None]
        closes = sorted({mark.day for mark in marks if not mark.live})
        live = [mark for mark in marks if mark.live]
        closed = any(mark.nse_closed for mark in live)
        if not closes:
            if not live:
                return ""
            read = ist(max(mark.at for mark in live), '%H:%M')
            return f"the last prices Fyers gave at {read} IST, NSE closed" if closed else \
                f"live prices of {read} IST"
        days = (f"the close of {day_label(closes[0])}" if len(closes) == 1 else
                f"the closes of {day_label(closes[0])} to {day_label(closes[-1])}")
        quoted = "the last prices" if closed else "live prices"
        return f"{quoted}, some at {days}" if live else days


def value_positions(positions: Iterable[Mapping[str, Any]], marks: Mapping[str, Mark]
                    ) -> Holdings:
    """Open positions valued at `marks` (symbol → Mark); a missing mark leaves its P&L unknown."""
    return Holdings([PositionView(position["symbol"], int(position["qty"]),
                                  float(position["avg_price"]), marks.get(position["symbol"]))
                     for position in positions])


def win_loss_ratio(stats: TradeStats) -> float | None:
    """Winning closed trades per losing one; None when there is no loss to divide by."""
    return stats.wins / stats.losses if stats.losses else None


def cumulative_pnl(days: Sequence[ClosedDay]) -> list[tuple[str, float]]:
    """Running total of realized P&L per IST day, for the chart (summed in whole paise). It
    starts at zero the day before the first sale, so a single day reads as a rise or a fall."""
    if not days:
        return []
    first = datetime.strptime(days[0].day, "%Y-%m-%d") - timedelta(days=1)
    total = 0
    points = [(first.strftime("%Y-%m-%d"), 0.0)]
    for day in days:
        total += day.pnl_paise
        points.append((day.day, total / 100))
    return points


@dataclass(frozen=True)
class ClosedTrades:
    """The Trading page's closed trades: figures over all of them, the realized P&L curve, and
    the latest sales, newest first, each with its buy."""

    stats: TradeStats
    curve: list[tuple[str, float]]
    latest: list[Sale]

    @property
    def ratio(self) -> float | None:
        return win_loss_ratio(self.stats)


def closed_trades(days: Sequence[ClosedDay], latest_trades: Sequence[Mapping[str, Any]],
                  positions: Iterable[Mapping[str, Any]], shown: int) -> ClosedTrades:
    """Figures from the per-day sums, and the last `shown` sales found among the latest trades
    (newest first), paired with their buys from what was held before those trades."""
    held = trade_books.held_before(latest_trades, positions)
    sales = trade_books.sales(latest_trades, held_before=held, last=shown)
    return ClosedTrades(trade_stats(days), cumulative_pnl(days), sales[::-1])


# A sale by hand that today's tradebook does not show (made on a day the bot did not run:
# Fyers' tradebook holds only today's trades) is recorded at today's last price under an id
# starting with ESTIMATED_SALE_ID (live_strategy.py), or at the holding's average buy price
# under AT_COST_SALE_ID when Fyers gives no price either; its price and P&L are estimates, and
# every page says so. Ids have had the first form since the first release, so older such sales
# read as estimates too.
ESTIMATED_SALE_ID = "manual-"
AT_COST_SALE_ID = "manual-at-cost-"


def estimated_price(trade_id: str | None) -> bool:
    """Whether a trade's price is the bot's estimate rather than Fyers' (ESTIMATED_SALE_ID)."""
    return (trade_id or "").startswith(ESTIMATED_SALE_ID)


def estimate_words(trade_id: str | None) -> str:
    """What an estimated sale by hand is valued at, after 'Sold 5 TCS': 'by hand before today;
    the price is not in today's tradebook, valued at today's last price'; '' for a sale at
    Fyers' own price."""
    if not estimated_price(trade_id):
        return ""
    basis = ("its average buy price (Fyers gave no price for it)"
             if (trade_id or "").startswith(AT_COST_SALE_ID) else "today's last price")
    return f"by hand before today; the price is not in today's tradebook, valued at {basis}"


def pnl_words(trade: Mapping[str, Any]) -> str:
    """'P&L +₹1,060.00', with '(estimated)' after an estimated sale's."""
    estimate = " (estimated)" if estimated_price(trade.get("trade_id")) else ""
    return f"P&L {signed_inr(trade['pnl'])}{estimate}"


def hand_sale(trade: Mapping[str, Any]) -> str:
    """'Sold 5 TCS @ ₹3,512.00 outside the bot', or for an estimated sale 'Sold 5 TCS by hand
    before today; the price is not in today's tradebook, valued at today's last price
    ₹3,512.00'."""
    sold = f"Sold {trade['qty']} {ticker(trade['symbol'])}"
    if estimate := estimate_words(trade.get("trade_id")):
        return f"{sold} {estimate} {inr(trade['price'])}"
    return f"{sold} @ {inr(trade['price'])} outside the bot"


def trade_line(trade: Mapping[str, Any]) -> str:
    """'Bought 5 BAJAJFINSV for ₹8,379.00', or 'Sold 5 TCS for ₹17,560.00, P&L +₹1,060.00'
    (an estimated sale by hand: hand_sale's words)."""
    if estimated_price(trade.get("trade_id")):
        line = hand_sale(trade)
    else:
        verb = ("Bought" if trade["side"] == "BUY" else
                "Sold by hand" if trade.get("source") == "manual" else "Sold")
        line = f"{verb} {trade['qty']} {ticker(trade['symbol'])} for " \
               f"{inr(trade['qty'] * trade['price'])}"
    return line if trade.get("pnl") is None else f"{line}, {pnl_words(trade)}"


@dataclass
class DayActivity:
    """What the bot did on one IST day: trades, and orders that did not fill wholly."""

    day: str
    trades: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[dict[str, Any]] = field(default_factory=list)
    realized: float = 0.0
    estimated: bool = False  # realized includes an estimated sale's P&L (ESTIMATED_SALE_ID)
    more: int = 0  # trades and orders beyond the per-day limit, not listed

    @property
    def label(self) -> str:
        """'Thu 26 Nov 2026' for the day's heading."""
        return datetime.strptime(self.day, "%Y-%m-%d").strftime("%a %d %b %Y")


def activity_by_day(trades: Iterable[Mapping[str, Any]], orders: Iterable[Mapping[str, Any]],
                    per_day: int = 20) -> list[DayActivity]:
    """Group trades (by ts) and unfilled orders (by created_at) per IST day, newest day first;
    at most `per_day` of each are listed, the rest counted in `more` (realized counts all)."""
    days: dict[str, DayActivity] = {}

    def activity_on(ts: float) -> DayActivity:
        day = india_time.date_of(ts)
        if day not in days:
            days[day] = DayActivity(day)
        return days[day]

    for trade in trades:
        activity = activity_on(trade["ts"])
        activity.realized += trade["pnl"] or 0.0
        activity.estimated |= trade["pnl"] is not None and estimated_price(trade.get("trade_id"))
        _keep(activity, activity.trades, trade, per_day)
    for order in orders:
        activity = activity_on(order["created_at"])
        _keep(activity, activity.cancelled, order, per_day)
    return [days[day] for day in sorted(days, reverse=True)]


def _keep(activity: DayActivity, listed: list[dict[str, Any]], record: Mapping[str, Any],
          per_day: int) -> None:
    """List `record` while there is room, else count it as one more."""
    if len(listed) < per_day:
        listed.append(dict(record))
    else:
        activity.more += 1
