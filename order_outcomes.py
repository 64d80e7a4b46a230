"""What became of an order, in the owner's words: the one place that names an order's outcome
for the run's summary, the run page, the alerts, the logs, the dashboard and Trading.

"Rejected" is said only when Fyers refused the order. An order the bot cancelled after
ORDER_FILL_TIMEOUT_S is *not filled in N s, cancelled*; one Fyers let lapse at the close
*expired at the close*; one cancelled at Fyers by someone else (the owner in the Fyers app)
*cancelled at Fyers (not by the bot)*. The store keeps the outcome as the order's status
(below); rows written before these statuses existed say `cancelled` and read "not filled,
cancelled", since the bot's own cancel was among them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The store's order statuses.
PENDING, PLACED = "pending", "placed"  # open: being placed, or at Fyers awaiting a fill
TRADED = "traded"  # filled wholly
PARTIAL = "partial"  # filled in part; the rest cancelled (by the bot or at Fyers) or expired
UNFILLED = "unfilled"  # nothing filled within ORDER_FILL_TIMEOUT_S: the bot cancelled it
EXPIRED = "expired"  # nothing filled by the close: Fyers expired it
REJECTED = "rejected"  # Fyers refused it (its RMS or the exchange): the only "rejected"
CANCELLED = "cancelled"  # rows from before these statuses: whoever cancelled it
CANCELLED_AT_BROKER = "cancelled_at_broker"  # cancelled at Fyers before any fill, not by the bot
NOT_PLACED = "not_placed"  # never reached Fyers (the run stopped before Fyers had it)
UNKNOWN = "unknown"  # placed, but Fyers no longer knows its id: nothing recorded as filled

OPEN = (PENDING, PLACED)
FILLED = (TRADED, PARTIAL)
# Orders that spent nothing: they do not count toward the day's caps.
SPENT_NOTHING = (UNFILLED, EXPIRED, REJECTED, CANCELLED, CANCELLED_AT_BROKER, NOT_PLACED,
                 UNKNOWN)
# The paper simulator (broker/paper_fills.py) ends its messages with this: what it refused
# was refused on paper, never by Fyers.
PAPER_MARK = "(paper)"
# The rest after a partial fill: why it did not fill too.
REST_CANCELLED_BY_BOT, REST_EXPIRED, REST_REJECTED = "bot", "expired", "rejected"
REST_CANCELLED_AT_BROKER = "broker"  # cancelled at Fyers by someone else (the owner's app)


def phrase(order: Mapping[str, Any], run_running: bool = False) -> str:
    """The outcome of a stored order in words, e.g. 'not filled in 30 s, cancelled' or
    'rejected by Fyers: RMS: insufficient funds'; `run_running` when the order's run is still
    running, so an order it has not settled yet is being placed, not left to the next run.
    `message` is what Fyers (or the bot) said of the order, never why it was decided."""
    status, message = order.get("status"), (order.get("message") or "").strip()
    wait = _seconds(order.get("wait_s"))
    if status == TRADED:
        return "filled"
    if status == PARTIAL:
        return f"partly filled ({order.get('filled_qty', 0)} of {order.get('qty', 0)}; " \
               f"{_rest(order.get('rest'), wait, message)})"
    if status == UNFILLED:
        return f"not filled in {wait}, cancelled" if wait else "not filled, cancelled"
    if status == EXPIRED:
        return "expired at the close"
    if status == REJECTED:
        return f"rejected by {_broker_named(message)}: {message or 'no reason given'}"
    if status == CANCELLED_AT_BROKER:
        return f"{_cancelled_at(message)}: {message}" if message else _cancelled_at(message)
    if status == NOT_PLACED:
        return f"not placed: {message}" if message else "not placed"
    if status == UNKNOWN:
        return f"not recorded as filled: {message}"
    if status == PENDING:  # once its run stopped there, it may never have reached Fyers
        return "being placed" if run_running else "not settled yet: the next run checks Fyers"
    if status == PLACED:
        return f"waiting at Fyers: {message}" if message else "waiting at Fyers"
    return "not filled, cancelled"  # CANCELLED, and rows from before these statuses


def _broker_named(message: str) -> str:
    """Who said `message` of an order (refused it, or no longer knows it): Fyers, or the paper
    simulator standing in for it."""
    return "the paper simulator" if message.endswith(PAPER_MARK) else "Fyers"


def _cancelled_at(message: str) -> str:
    """'cancelled at Fyers (not by the bot)', or at the paper simulator."""
    return f"cancelled at {_broker_named(message)} (not by the bot)"


def _rest(rest: Any, wait: str, message: str = "") -> str:
    """What became of a partly filled order's remainder (`message`: why Fyers refused it,
    said only where the order has a line of its own, not in a summary's count)."""
    if rest == REST_REJECTED:
        refused = f"the rest rejected by {_broker_named(message)}"
        return f"{refused}: {message}" if message else refused
    if rest == REST_EXPIRED:
        return "the rest expired at the close"
    if rest == REST_CANCELLED_BY_BOT and wait:
        return f"the rest cancelled after {wait}"
    if rest == REST_CANCELLED_AT_BROKER:
        return f"the rest {_cancelled_at(message)}"
    return "the rest cancelled"


def _seconds(value: Any) -> str:
    """'30 s' for a fill timeout, '25 min' or '3 h' for an order an earlier run left open, ''
    when unknown."""
    if not value:
        return ""
    seconds = float(value)
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:g} s"


# The alert's first words per outcome; an order the broker no longer knows may have filled
# (docs/runs.md), so its headline, in headline(), says only that it is unknown.
HEADLINES = {PARTIAL: "order partly filled", EXPIRED: "order expired at the close",
             NOT_PLACED: "order not placed"}


def headline(order: Mapping[str, Any]) -> str:
    """The alert's first words for an order that did not fill wholly: 'order rejected by
    Fyers', 'order not filled', 'order partly filled', 'order expired at the close', 'order
    unknown to Fyers', 'order cancelled at Fyers'."""
    status, named = order.get("status"), _broker_named(order.get("message") or "")
    if status == REJECTED:
        return f"order rejected by {named}"
    if status == UNKNOWN:
        return f"order unknown to {named}"
    if status == CANCELLED_AT_BROKER:
        return f"order cancelled at {named}"
    return HEADLINES.get(status, "order not filled")


def described(order: Mapping[str, Any]) -> str:
    """'BUY 5 NSE:BAJAJFINSV-EQ: not filled in 30 s, cancelled', for the logs."""
    return f"{order['side']} {order['qty']} {order['symbol']}: {phrase(order)}"


def counted(orders: Sequence[Mapping[str, Any]]) -> list[str]:
    """The run's orders that did not fill wholly, one clause per outcome in the order first
    seen: ['1 order not filled in 30 s, cancelled', '2 orders rejected by Fyers']."""
    groups: dict[str, int] = {}
    for order in orders:
        words = _count_words(order)
        groups[words] = groups.get(words, 0) + 1
    return [f"{count} order{'' if count == 1 else 's'} {words}" for words, count in groups.items()]


def _count_words(order: Mapping[str, Any]) -> str:
    """An outcome as counted in a summary, e.g. 'not filled in 30 s, cancelled'."""
    status, message = order.get("status"), order.get("message") or ""
    if status == REJECTED:
        return f"rejected by {_broker_named(message)}"
    if status == UNKNOWN:
        return f"unknown to {_broker_named(message)}, not recorded as filled"
    if status == PARTIAL:  # what became of the rest, without the quantities
        return f"partly filled, {_rest(order.get('rest'), _seconds(order.get('wait_s')))}"
    if status == NOT_PLACED:
        return "not placed"
    if status == CANCELLED_AT_BROKER:  # Fyers' words are in the order's own line
        return _cancelled_at(message)
    return phrase(order)


def badge(status: str | None) -> str:
    """The CSS class of a status's badge: green filled, amber partly or waiting, red
    rejected, grey for the rest."""
    if status == TRADED:
        return "outcome-filled"
    if status in (PARTIAL, *OPEN):
        return "outcome-partial"
    if status == REJECTED:
        return "outcome-rejected"
    return "outcome-unfilled"
