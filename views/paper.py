"""Paper trading on the Strategy page: the paper record, switching paper on (at once) and going
live (only from a confirmation naming the real money at stake); and the paper-vs-backtest card
of the dashboard and Trading."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

import paper_mode
import paper_vs_backtest
import portfolio
import prices
from auth import login_required
from paper_record import paper_record
from views import get_config, get_store, is_paper, kept_until_next_trade

bp = Blueprint("paper", __name__)


@dataclass(frozen=True)
class RealStakes:
    """The real account as the pages show it: its holdings' value and its funds."""

    holdings: portfolio.Holdings
    funds: float | None
    trouble: str

    @property
    def total(self) -> float | None:
        """Holdings' value plus funds, when both are known."""
        value = self.holdings.value
        return None if value is None or self.funds is None else value + self.funds


def real_stakes() -> RealStakes:
    """The real book's holdings at one price and the real account's funds (prices.py)."""
    real = get_store().for_book("real")
    positions = real.get_positions()
    market = prices.market_view(get_config(), real, [p["symbol"] for p in positions])
    return RealStakes(portfolio.value_positions(positions, market.marks), market.funds,
                      market.trouble)


def mode_card() -> dict[str, Any]:
    """What the Strategy page's paper card shows: the mode, the paper record and the paper
    account's capital and charges."""
    return {"paper_on": is_paper(), "paper_record": paper_record(get_store()),
            "paper_locked": get_config().strategy_from_env,
            "paper_money": paper_mode.paper_money(get_config(), get_store()),
            "sandbox": get_config().is_sandbox}


def comparison() -> paper_vs_backtest.Comparison | None:
    """Paper vs backtest for the pages in paper mode, kept until the next paper trade."""
    if not is_paper():
        return None
    return kept_until_next_trade("paper vs backtest",
                                 lambda: paper_vs_backtest.replay(get_config(), get_store()))


@bp.route("/strategy/paper", methods=("POST",))
@login_required
def paper_on() -> Response:
    """Switch to paper trading: nothing is at stake, so no confirmation."""
    try:
        changed = paper_mode.switch(get_config(), get_store(), True, g.user["username"])
    except paper_mode.ModeLocked as exc:
        flash(str(exc), "warning")
        return redirect(url_for("strategy.index"))
    config = get_config()
    account = "sandbox account" if config.is_sandbox else "real account"
    flash(f"Paper trading is on: runs simulate their orders against "
          f"{paper_mode.paper_prices(config)}; the {account} is untouched." if changed
          else "Paper trading was already on.", "info")
    return redirect(url_for("strategy.index"))


@bp.route("/strategy/live")
@login_required
def confirm_live() -> str:
    """The go-live confirmation: the paper record, and the real money the next runs trade."""
    return render_template("go_live.html", stakes=real_stakes(),
                           record=paper_record(get_store()),
                           sandbox=get_config().is_sandbox)


@bp.route("/strategy/live", methods=("POST",))
@login_required
def go_live() -> Response:
    """Turn paper trading off, only from the confirmation form."""
    if request.form.get("confirm") != "real-money":
        flash("Going live needs the confirmation: it names the money at stake.", "warning")
        return redirect(url_for("paper.confirm_live"))
    try:
        paper_mode.switch(get_config(), get_store(), False, g.user["username"])
    except paper_mode.ModeLocked as exc:
        flash(str(exc), "warning")
        return redirect(url_for("strategy.index"))
    if get_config().is_sandbox:
        flash("Paper trading is off: the next run places its orders at the local Fyers sandbox, "
              "no real money.", "warning")
    else:
        flash("Paper trading is off: the next run places real orders at Fyers with real money.",
              "danger")
    return redirect(url_for("strategy.index"))
