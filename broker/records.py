"""What the broker hands the rest of the bot: typed records read from Fyers' replies.

The row readers take Fyers' fields by their documented meaning (docs/fyers.md); a reply that
lacks one, or has it malformed, becomes UnexpectedReply through `parsed`, never half a record.
"""
from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import india_time
from broker.errors import UnexpectedReply

logger = logging.getLogger(__name__)

# Orderbook status codes (Fyers v3)
STATUS_CANCELLED = 1
STATUS_TRADED = 2
STATUS_TRANSIT = 4
STATUS_REJECTED = 5
STATUS_PENDING = 6
STATUS_EXPIRED = 7
FINAL_STATUSES = frozenset({STATUS_CANCELLED, STATUS_TRADED, STATUS_REJECTED, STATUS_EXPIRED})
SIDE_BUY = 1
SIDE_SELL = -1


@dataclass(frozen=True)
class Quote:
    symbol: str
    ltp: float
    prev_close: float
    change_pct: float
    # Fyers' clock when it served the quote (epoch s): its reply's Date header, 0 when absent.
    # Not the quote's `tt`: Fyers documents that as the session's date (00:00 UTC), not a time.
    served_at: float = 0.0


@dataclass(frozen=True)
class Candle:
    date: str  # IST trading date 'YYYY-MM-DD'
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True)
class Holding:
    """A holding as Fyers shows it since April 2026: `start_qty` (its `quantity`) is what was
    held when the day began, `remaining_qty` (`remainingQuantity`) that minus today's sales.
    Today's buys are not holdings: they are positions."""

    symbol: str
    start_qty: int
    remaining_qty: int
    avg_price: float
    ltp: float
    pnl: float
    holding_type: str  # HLD | T1


@dataclass(frozen=True)
class Position:
    symbol: str
    net_qty: int
    avg_price: float
    ltp: float
    pnl: float
    realized: float


@dataclass(frozen=True)
class Order:
    id: str
    symbol: str
    side: int  # 1 buy, -1 sell
    qty: int
    filled_qty: int
    traded_price: float
    status: int
    tag: str  # without the orderbook's "1:" prefix
    message: str

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class Fill:
    order_id: str
    symbol: str
    side: int
    qty: int
    price: float
    tag: str
    traded_at: str


@dataclass(frozen=True)
class PlaceResult:
    order_id: str | None
    acknowledged: bool  # False for code 201: look the tag up before doing anything else


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    access_expires_at: float  # epoch seconds, from the JWT exp or ACCESS_TOKEN_VALIDITY


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (only Fyers can), or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def plain_tag(raw: object) -> str:
    """An order tag as the bot wrote it, whichever form Fyers shows: `1:<tag>` or `<tag>`;
    `Untagged` (`2:Untagged` in the orderbook, `1:Untagged` in the tradebook) is no tag."""
    tag = re.sub(r"^\d+:", "", str(raw or ""))
    return "" if tag == "Untagged" else tag


def order_from(row: dict[str, Any]) -> Order:
    return Order(id=str(row["id"]), symbol=str(row["symbol"]), side=int(row["side"]),
                 qty=int(row["qty"]), filled_qty=int(row.get("filledQty") or 0),
                 traded_price=float(row.get("tradedPrice") or 0.0), status=int(row["status"]),
                 tag=plain_tag(row.get("orderTag")),
                 message=str(row.get("message") or ""))


def fill_from(row: dict[str, Any]) -> Fill:
    return Fill(order_id=str(row["orderNumber"]), symbol=str(row["symbol"]),
                side=int(row["side"]), qty=int(row["tradedQty"]), price=float(row["tradePrice"]),
                tag=plain_tag(row.get("orderTag")), traded_at=str(row.get("orderDateTime") or ""))


def holding_from(row: dict[str, Any]) -> Holding:
    return Holding(symbol=str(row["symbol"]), start_qty=int(row["quantity"]),
                   remaining_qty=int(row["remainingQuantity"]),
                   avg_price=float(row["costPrice"]), ltp=float(row.get("ltp") or 0.0),
                   pnl=float(row.get("pl") or 0.0), holding_type=str(row["holdingType"]))


def position_from(row: dict[str, Any]) -> Position:
    return Position(symbol=str(row["symbol"]), net_qty=int(row["netQty"]),
                    avg_price=float(row.get("netAvg") or 0.0), ltp=float(row.get("ltp") or 0.0),
                    pnl=float(row.get("pl") or 0.0),
                    realized=float(row.get("realized_profit") or 0.0))


def candle_from(row: list[Any]) -> Candle:
    epoch, opening, high, low, close, volume = row
    day = india_time.date_of(epoch)
    return Candle(day, float(opening), float(high), float(low), float(close), int(volume))


def quote_from(entry: dict[str, Any], served_at: float = 0.0) -> Quote | None:
    """A quote entry of a reply Fyers served at `served_at`, or None (logged) for a symbol
    Fyers has no quote for."""
    values = entry.get("v") or {}
    if entry.get("s") != "ok":
        logger.warning("Fyers quotes: no quote for %s (%s)", entry.get("n"), values)
        return None
    return Quote(symbol=str(entry["n"]), ltp=float(values["lp"]),
                 prev_close=float(values["prev_close_price"]),
                 change_pct=float(values.get("chp") or 0.0),
                 served_at=served_at)


def parsed(call: str, rows: Any, parse: Callable[[dict[str, Any]], Any]) -> list:
    """Rows of a reply through `parse`; UnexpectedReply naming what is missing or malformed."""
    if not isinstance(rows, list):
        raise UnexpectedReply(f"Fyers {call}: expected a list of rows, got {type(rows).__name__}")
    try:
        return [parse(row) for row in rows]
    except KeyError as exc:
        raise UnexpectedReply(f"Fyers {call}: a row lacks the field {exc}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise UnexpectedReply(f"Fyers {call}: a malformed row ({exc})") from exc
