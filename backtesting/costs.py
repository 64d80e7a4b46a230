"""Indian equity-delivery (CNC) charges on one order, with documented defaults."""
from __future__ import annotations

from dataclasses import dataclass

CRORE = 10_000_000.0


@dataclass(frozen=True)
class DeliveryCosts:
    """Statutory and broker charges on a delivery trade; rates are fractions of the order value.

    Defaults (NSE cash market, Fyers, November 2026):
    - brokerage 0: Fyers charges ₹0 on equity delivery (fyers.in/pricing).
    - STT 0.1% on both buy and sell of delivery trades (Securities Transaction Tax, Finance Act
      2004 Chapter VII; rates on nseindia.com "Securities Transaction Tax").
    - NSE transaction charge 0.00297% of turnover (NSE revision effective 1 Oct 2024,
      nseindia.com "Transaction charges").
    - SEBI turnover fee ₹10 per crore (sebi.gov.in, "Fees and charges" for stock brokers).
    - GST 18% on brokerage + exchange charge + SEBI fee (IGST Act; listed on every broker's
      charges page).
    - Stamp duty 0.015% on the buy side only for delivery (Indian Stamp Act as amended
      1 Jul 2020).
    The total is rounded to paise, as on a contract note.
    """

    brokerage: float = 0.0
    stt: float = 0.001
    exchange_txn: float = 0.0000297
    sebi_fee: float = 10.0 / CRORE
    gst: float = 0.18
    stamp_duty_buy: float = 0.00015

    def charges(self, side: str, value: float) -> float:
        """Total charges in rupees on an order of `value` rupees; `side` is "BUY" or "SELL"."""
        taxable = value * (self.brokerage + self.exchange_txn + self.sebi_fee)
        total = value * self.stt + taxable * (1 + self.gst)
        if side == "BUY":
            total += value * self.stamp_duty_buy
        return round(total, 2)


NO_COSTS = DeliveryCosts(brokerage=0.0, stt=0.0, exchange_txn=0.0, sebi_fee=0.0, gst=0.0,
                         stamp_duty_buy=0.0)
