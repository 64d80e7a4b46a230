"""A run's steps (Fyers login, prices, decisions, orders, fills) as it goes, kept on its record.

The run rewrites its record's `steps` list at each change, so the run page can show a
checklist that moves while the run runs; `shown_steps()` is that checklist as pages show it.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from messages import INTERRUPTED, Failure
from store.base import Store, StoreError

logger = logging.getLogger(__name__)

STEPS = {"login": "Fyers login", "prices": "Prices and holdings", "decisions": "Decisions",
         "orders": "Orders", "fills": "Fills"}
RUNNING, DONE, FAILED = "running", "done", "failed"
SKIPPED = "skipped"  # over without doing its work: a dry run's or a closed market's orders
# What pages call a step the run has not recorded: not yet there, or never reached.
WAITING, NOT_REACHED = "waiting", "not reached"


class RunSteps:
    """Records one run's steps on its record. A write the store refuses is logged and the run
    goes on: the steps only show progress, the run's end is recorded on its own."""

    def __init__(self, store: Store, run_id: str) -> None:
        self._store, self._run_id = store, run_id
        self._steps: list[dict[str, Any]] = []
        self._guard = threading.Lock()  # the run's worker and the executor both write
        self._ended = False

    def begin(self, name: str, detail: str) -> None:
        """Step `name` is under way, doing `detail` (e.g. 'placing 1 of 2: BUY 5 INFY')."""
        self._set(name, RUNNING, detail)

    def done(self, name: str, detail: str) -> None:
        """Step `name` is over; `detail` says what came of it."""
        self._set(name, DONE, detail)

    def skip(self, name: str, detail: str) -> None:
        """Step `name` is over without doing its work; `detail` says why."""
        self._set(name, SKIPPED, detail)

    def end(self, failure: Failure | None) -> list[dict[str, Any]]:
        """The final steps, written with the run's end: a step still under way is done, or,
        when the run failed, failed with what went wrong (the words of the run's summary), no
        longer what it was doing. Later writes (a worker left behind at the deadline) are
        ignored."""
        with self._guard:
            self._ended = True
            for step in self._steps:
                if step["state"] == RUNNING:
                    step.update({"state": FAILED, "detail": failure.what} if failure
                                else {"state": DONE})
            return [dict(step) for step in self._steps]

    def _set(self, name: str, state: str, detail: str) -> None:
        with self._guard:
            if self._ended:
                return
            step = {"name": name, "state": state, "detail": detail, "at": time.time()}
            self._steps = [s for s in self._steps if s["name"] != name] + [step]
            self._steps.sort(key=lambda s: list(STEPS).index(s["name"]))
            try:
                self._store.update_run(self._run_id, steps=self._steps)
            except StoreError as exc:
                logger.warning("could not record the run's step %s: %s", name, exc)


def nothing_placed(run: dict[str, Any]) -> str:
    """Why a run placed no order, in its Orders step's words ('NSE is closed until Mon 09:15
    IST: nothing was placed'); '' when it placed or had nothing to place."""
    step = next((s for s in run.get("steps") or [] if s["name"] == "orders"), None)
    return step["detail"] if step and step["state"] == SKIPPED else ""


@dataclass(frozen=True)
class ShownStep:
    """One line of a run's checklist."""

    label: str
    state: str  # done | skipped | running | failed | waiting | not reached
    detail: str


def shown_steps(run: dict[str, Any]) -> list[ShownStep]:
    """The run's checklist, every step in order; empty for a run that recorded none (skipped,
    or run before steps were recorded)."""
    recorded = {step["name"]: step for step in run.get("steps") or []}
    if not recorded:
        return []
    going = run["status"] == "running"
    shown = []
    for name, label in STEPS.items():
        step = recorded.get(name)
        if step is None:
            shown.append(ShownStep(label, WAITING if going else NOT_REACHED, ""))
        elif step["state"] == RUNNING and not going:  # the run died on it (executor.as_shown)
            shown.append(ShownStep(label, FAILED, INTERRUPTED.what))
        else:
            shown.append(ShownStep(label, step["state"], step["detail"]))
    return shown
