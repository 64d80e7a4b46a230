"""Paper trading on or off, kept in the store like the strategy settings (docs/paper.md).

PAPER_TRADING gives the first-run default; the Strategy page switches it (going live only once
confirmed). With STRATEGY_FROM_ENV=true the environment wins and the page only shows it. The
mode decides which book a run or a page sees (`book_store`): the paper book's store gets a
PaperBroker from token_refresh.stored_broker, so nothing else needs to know.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from broker.paper import ACCOUNT_KEY
from broker.paper_fills import new_account
from config import Config
from store.base import Store

logger = logging.getLogger(__name__)

STORE_KEY = "paper_trading"
PAPER_LABEL = "PAPER"  # the first word of every paper alert


class ModeLocked(ValueError):
    """STRATEGY_FROM_ENV is set: the mode comes from the environment and cannot be switched."""


def is_paper(config: Config, store: Store) -> bool:
    """Whether runs and pages are on paper now (one store read)."""
    if config.strategy_from_env:
        return config.paper_trading
    saved = store.get_setting(STORE_KEY)
    return config.paper_trading if saved is None else bool(saved.get("on"))


class ModeUnknown(RuntimeError):
    """A CI runner found no choice of paper or real money in the store: it must not guess."""


def require_known_mode(config: Config, store: Store, runner: bool) -> None:
    """On a CI `runner`, refuse a store that holds no paper-or-real choice: the web app saves
    it on its first start, but not with STRATEGY_FROM_ENV, and the runner's own PAPER_TRADING
    default would then trade real money while the web host shows paper."""
    if runner and not config.strategy_from_env and store.get_setting(STORE_KEY) is None:
        raise ModeUnknown("the store holds no choice of paper or real money, and this "
                          "runner's STRATEGY_FROM_ENV is off")


def book_store(config: Config, store: Store, book: str | None = None) -> Store:
    """`store` seen through `book`, by default the book in use: the paper book while paper
    trading is on."""
    return store.for_book(book or ("paper" if is_paper(config, store) else "real"))


def book_label(config: Config, book: str) -> str:
    """What a run of `book` is called where both books show: "paper", else "sandbox" in sandbox
    mode (no real money there either), else "real-money"."""
    if book == "paper":
        return "paper"
    return "sandbox" if config.is_sandbox else "real-money"


def paper_prices(config: Config) -> str:
    """The prices paper orders fill at, in words: the sandbox's in sandbox mode."""
    return "the local sandbox's prices" if config.is_sandbox else "Fyers' live prices"


def save_first_run_default(config: Config, store: Store) -> None:
    """On the web app's first start, save PAPER_TRADING to the store, so a runner elsewhere
    (e.g. GitHub Actions) trades the same book."""
    if config.strategy_from_env or store.get_setting(STORE_KEY) is not None:
        return
    store.set_setting(STORE_KEY, {"on": config.paper_trading, "at": time.time(), "by": "env"})


def switch(config: Config, store: Store, on: bool, who: str) -> bool:
    """Turn paper trading on or off, logging who did; False when it already was."""
    if config.strategy_from_env:
        raise ModeLocked("STRATEGY_FROM_ENV is set: PAPER_TRADING comes from the environment")
    if is_paper(config, store) == on:
        return False
    store.set_setting(STORE_KEY, {"on": on, "at": time.time(), "by": who})
    logger.warning("paper trading turned %s by %s: %s", "on" if on else "off", who,
                   "orders are simulated" if on else
                   "orders go to the local sandbox" if config.is_sandbox else
                   "orders go to Fyers with real money")
    return True


@dataclass(frozen=True)
class PaperMoney:
    """The paper account's money as stored, for the pages and the paper-vs-backtest replay."""

    capital: float  # what the account started with: PAPER_CAPITAL when it was opened
    cash: float
    charges: float  # paid since it was opened
    setting: float  # PAPER_CAPITAL now

    @property
    def setting_ignored(self) -> bool:
        """Whether PAPER_CAPITAL changed after the account was opened (it keeps its capital)."""
        return self.setting != self.capital


def paper_money(config: Config, store: Store) -> PaperMoney:
    """The stored paper account's capital, cash and charges paid (the account is shared by the
    books' stores); before the first paper order, those of a new account of PAPER_CAPITAL,
    which only seeds it: changing it later would split the figures from the account's."""
    account = store.get_setting(ACCOUNT_KEY) or new_account(config.paper_capital, "")
    return PaperMoney(account["capital"], account["cash"], account["charges"],
                      config.paper_capital)
