"""Alerts from the paper book start with PAPER, so a phone notification is never read as real
money; the real book's alerts do not."""
from __future__ import annotations

import notifier


class Recorder(notifier.Channel):
    """A channel that keeps what it was asked to send."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str) -> None:
        self.sent.append(text)


def test_paper_alerts_start_with_paper(store):
    paper, real = Recorder(), Recorder()
    run = {"run_id": "r1", "status": "succeeded", "summary": "Paper: Bought 5 TCS for ₹1.00.",
           "started_at": 0.0, "finished_at": 1.0, "error": None, "trigger": "scheduled"}
    notifier.Notifier([paper], store.for_book("paper")).deliver("run_done",
                                                              notifier.run_failed(run))
    notifier.Notifier([real], store).deliver("run_done", notifier.run_failed(run))
    assert paper.sent[0].splitlines()[0].startswith("PAPER · ")
    assert not real.sent[0].startswith("PAPER")
