"""The broker: the one package that knows the fyers_apiv3 SDK (docs/fyers.md).

Everything else imports what it needs from here: `FyersBroker` (client.py), the typed records
it returns (records.py) and the exceptions it raises (errors.py), whose docstrings say what
the bot does when each is raised; `PaperBroker` (paper.py, its rules in paper_fills.py), the
same interface with orders filled locally for paper trading.
"""
from broker.client import LOG_DIR, FyersBroker
from broker.errors import (
    REGISTER_IP,
    AuthFailed,
    BrokerError,
    BrokerUnavailable,
    DailyLimitBlocked,
    InvalidRequest,
    IPNotAllowed,
    OrderRejected,
    RateLimited,
    TokenExpired,
    UnexpectedReply,
    error_for,
)
from broker.paper import PaperBroker
from broker.records import (
    SIDE_BUY,
    SIDE_SELL,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_PENDING,
    STATUS_REJECTED,
    STATUS_TRADED,
    Fill,
    Order,
    PlaceResult,
    Quote,
    Tokens,
)

__all__ = [
    "LOG_DIR", "REGISTER_IP", "SIDE_BUY", "SIDE_SELL", "STATUS_CANCELLED",
    "STATUS_EXPIRED", "STATUS_PENDING", "STATUS_REJECTED", "STATUS_TRADED",
    "AuthFailed", "BrokerError", "BrokerUnavailable", "DailyLimitBlocked", "Fill",
    "FyersBroker", "IPNotAllowed", "InvalidRequest", "Order", "OrderRejected", "PaperBroker",
    "PlaceResult", "Quote", "RateLimited", "TokenExpired", "Tokens",
    "UnexpectedReply", "error_for",
]
