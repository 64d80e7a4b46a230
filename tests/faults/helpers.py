"""Helpers of the fault suite: a quick broker, faults armed in the middle of a run, the check
that broker and store tell the same story, and the search for leaked secrets."""
from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

import token_refresh
from broker import SIDE_BUY, FyersBroker
from config import Config, sqlite_path
from executor import run_once
from fyers_sandbox.state import default_faults
from fyers_sandbox.testing import SandboxHandle
from order_flow import TAG_PREFIX
from order_outcomes import OPEN
from store import Store, open_store
from tests.batch.helpers import FAST_LIMITS, calls_to, fast_broker
from tests.web.conftest import PASSWORD

APP_SECRET = "fault-suite-app-secret-7Qx2"
PIN = "7391"
JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}")
# Retries as in production, with backoff scaled down so a storm costs milliseconds.
quick_broker = functools.partial(FyersBroker, rate_limits=FAST_LIMITS, backoff_s=0.02)
CLEAR_FAULTS = default_faults()
# A run that finished: 'warning' when an order was refused or not wholly filled, which Fyers'
# market-price protection may do to any order.
DONE = ("succeeded", "warning")


def run(config: Config) -> dict[str, Any]:
    """One executor run as cron starts it (on any day); the final run record."""
    return run_once(config, trigger="scheduled", force=True, broker_factory=quick_broker)


@contextmanager
def on_call(sandbox: SandboxHandle, path_suffix: str, more_calls: int,
            action: Callable[[threading.Event], None]) -> Iterator[None]:
    """Call `action(done)` from a watcher thread (so mid-run) once the sandbox has seen
    `more_calls` more requests on paths ending in `path_suffix`; `done` is set when the block
    ends."""
    target = calls_to(sandbox, path_suffix) + more_calls
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.002):
            if calls_to(sandbox, path_suffix) >= target:
                action(done)
                return

    watcher = threading.Thread(target=watch, name="fault-trigger", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=10)


@contextmanager
def fault_when(sandbox: SandboxHandle, path_suffix: str, more_calls: int,
               clear_after_s: float | None = None, **faults: Any) -> Iterator[None]:
    """Arm `faults` once the sandbox has seen `more_calls` more requests on paths ending in
    `path_suffix` (mid-run); clear them after `clear_after_s`."""
    def arm(done: threading.Event) -> None:
        sandbox.admin("faults", **faults)
        if clear_after_s is not None and not done.wait(clear_after_s):
            sandbox.admin("faults", **CLEAR_FAULTS)

    with on_call(sandbox, path_suffix, more_calls, arm):
        yield


def assert_books_agree(config: Config, store: Store, settled: bool = True,
                       broker: Any = None) -> None:
    """Every filled broker order with our tag is one store trade at its traded price and
    filled quantity; no trade lacks a broker fill; no tag was placed twice; positions match
    what the broker holds (start-of-day holdings plus today's net positions); and when `settled` (after a successful run) no order is open.
    `broker` is the stored token's real broker unless given (a PaperBroker for the paper book)."""
    broker = broker or fast_broker(config, token_refresh.load_access_token(config, store))
    ours = [order for order in broker.orders() if order.tag.startswith(TAG_PREFIX)]
    placed_twice = [tag for tag, n in Counter(o.tag for o in ours).items() if n > 1]
    assert not placed_twice, f"orders placed twice: {placed_twice}"
    filled = {order.id: order for order in ours if order.filled_qty > 0}
    trades = [trade for trade in store.list_trades() if trade["source"] == "bot"]
    assert Counter(t["trade_id"] for t in trades) == Counter(filled.keys())
    for trade in trades:
        order = filled[trade["trade_id"]]
        side = "BUY" if order.side == SIDE_BUY else "SELL"
        assert (trade["order_tag"], trade["side"], trade["qty"], trade["price"]) == (
            order.tag, side, order.filled_qty, order.traded_price)
    fills_today = Counter()
    for fill in broker.tradebook():
        fills_today[fill.order_id] += fill.qty
    assert all(filled[order_id].filled_qty == qty for order_id, qty in fills_today.items()
               if order_id in filled)
    held = Counter()
    for holding in broker.holdings():
        held[holding.symbol] += holding.start_qty
    for position in broker.positions():
        held[position.symbol] += position.net_qty
    assert {p["symbol"]: p["qty"] for p in store.get_positions()} == \
        {symbol: qty for symbol, qty in held.items() if qty}
    if settled:
        assert store.list_orders(statuses=OPEN) == []


# --- secrets -------------------------------------------------------------------------------
def _decrypt(config: Config, value: str | None) -> str | None:
    """A stored token in clear. Not token_refresh's loader: that registers the token for
    redaction in this process, which would hide a leak from the tests that follow."""
    try:
        return Fernet(config.token_encryption_key).decrypt(value.encode()).decode()
    except (AttributeError, InvalidToken, ValueError):
        return None


def stored_secrets(config: Config) -> dict[str, str]:
    """Every secret of a test by name: keys, app secret, PIN, a user password and the Fyers
    tokens its store holds (decrypted)."""
    found = {"SECRET_KEY": config.secret_key, "TOKEN_ENCRYPTION_KEY": config.token_encryption_key,
             "FYERS_SECRET_KEY": APP_SECRET, "FYERS_PIN": PIN, "user password": PASSWORD}
    path = sqlite_path(config.database_url)
    if path.exists():
        store = open_store(config.store_url)
        try:
            record = store.get_token(config.client_id) or {}
        finally:
            store.close()
        for name in ("access_token", "refresh_token"):
            plain = _decrypt(config, record.get(name))
            if plain:
                found[name] = plain
    return found


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    """Names of the secrets in `text`; a JWT of any kind counts as an access token, and the
    PIN only as a number of its own (not inside a price or an id)."""
    names = [name for name, value in secrets.items() if name != "FYERS_PIN" and value in text]
    if re.search(rf"(?<![\d.,]){re.escape(PIN)}(?![\d.,])", text):
        names.append("FYERS_PIN")
    if JWT.search(text):
        names.append("a JWT")
    return names


def store_texts(store: Store) -> Iterator[str]:
    """Every log row, run record and order message of a store, as text."""
    page = store.search_logs(limit=500)
    while True:
        yield from (str(row) for row in page.rows)
        if not page.next_before:
            break
        page = store.search_logs(limit=500, before=page.next_before)
    yield from (str(run) for run in store.list_runs(limit=10_000))
    yield from (str(order) for order in store.list_orders())


def assert_no_secrets(config: Config, secrets: dict[str, str]) -> None:
    """No log row, run or order of `config`'s store (when it exists) holds a secret."""
    if not sqlite_path(config.database_url).exists():
        return
    store = open_store(config.store_url)
    try:
        for text in store_texts(store):
            assert not leaked(text, secrets), f"{leaked(text, secrets)} in {text[:300]}"
    finally:
        store.close()
