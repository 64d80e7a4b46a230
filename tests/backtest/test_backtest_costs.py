"""Indian delivery charges on one trade, computed by hand."""
from __future__ import annotations

from backtesting.costs import NO_COSTS, DeliveryCosts


def test_buy_of_one_lakh():
    # STT 0.1 % = 100; NSE 0.00297 % = 2.97; SEBI ₹10/crore = 0.10;
    # GST 18 % × (0 + 2.97 + 0.10) = 0.5526; stamp duty 0.015 % = 15 → 118.6226 → ₹118.62.
    assert DeliveryCosts().charges("BUY", 100_000) == 118.62


def test_sell_of_one_lakh_pays_no_stamp_duty():
    # 100 + 2.97 + 0.10 + 0.5526 = 103.6226 → ₹103.62.
    assert DeliveryCosts().charges("SELL", 100_000) == 103.62


def test_brokerage_is_taxed_with_gst():
    # A broker charging 0.03 %: STT 100 + brokerage 30 + NSE 2.97 + SEBI 0.10
    # + GST 18 % × (30 + 2.97 + 0.10) = 5.9526 → 139.0226 → ₹139.02.
    assert DeliveryCosts(brokerage=0.0003).charges("SELL", 100_000) == 139.02


def test_costs_off():
    assert NO_COSTS.charges("BUY", 100_000) == 0.0
