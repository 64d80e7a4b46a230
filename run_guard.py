"""A run's hard deadline, and its lock kept alive from a thread of its own.

A broker call can stall for as long as the network lets it; the run must neither freeze past
its deadline nor keep or lose its lock because of it. So the run's work goes to a worker
thread that the executor waits for until the deadline, while a keeper thread refreshes the
lock every few seconds. Past the deadline the worker is abandoned (a stalled call cannot be
interrupted) and `checkpoint()`, which the run calls before every order, stops it.
"""
from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from store.base import Store, StoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RunStopped(RuntimeError):
    """The run must stop before its next order; it ends failed."""


class DeadlinePassed(RunStopped):
    """The run took longer than RUN_DEADLINE_S."""


class LockLost(RunStopped):
    """Another run holds the run lock now (this one could not refresh it in time)."""


class RunGuard:
    """Keeps `lock` held by `owner` while the run works, and enforces its deadline.

    Use as a context manager around the run; `run(work)` runs the work on a worker thread.
    """

    def __init__(self, store: Store, lock: str, owner: str, *, ttl_s: float, beat_s: float,
                 deadline_s: float) -> None:
        self._store, self._lock, self._owner = store, lock, owner
        self._ttl_s, self._beat_s, self._deadline_s = ttl_s, beat_s, deadline_s
        self._deadline = time.monotonic() + deadline_s
        self._done = threading.Event()
        self._lost = threading.Event()
        self._abandoned = threading.Event()  # the worker was given up at the deadline
        self._keeper = threading.Thread(target=self._keep, name="run-lock-keeper", daemon=True)

    def __enter__(self) -> RunGuard:
        self._keeper.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._done.set()
        self._keeper.join(timeout=self._beat_s)

    def _keep(self) -> None:
        """Refresh the lock every beat until the run is done; note it when another took it."""
        while not self._done.wait(self._beat_s):
            try:
                if not self._store.refresh_lock(self._lock, self._owner, self._ttl_s):
                    logger.error("the run lock was taken by another run")
                    self._lost.set()
                    return
            except StoreError as exc:  # the lock's TTL leaves room for a few failed beats
                logger.warning("could not refresh the run lock: %s", exc)

    def checkpoint(self) -> None:
        """Raise RunStopped when the run must not go on: its deadline passed or its lock is lost."""
        if self._abandoned.is_set() or time.monotonic() >= self._deadline:
            raise DeadlinePassed(f"the run passed its deadline of {self._deadline_s:g} s "
                                 "(RUN_DEADLINE_S)")
        if self._lost.is_set():
            raise LockLost("the run lock was taken by another run while this one was slow")

    def run(self, work: Callable[[], T]) -> T:
        """`work()` on a worker thread (with this thread's context, e.g. the run id of its log
        lines): its result or its exception, or DeadlinePassed when it is still busy at the
        deadline."""
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = work()
            except BaseException as exc:  # handed to the waiting thread, which decides
                outcome["error"] = exc

        context = contextvars.copy_context()
        worker = threading.Thread(target=context.run, args=(target,), name="run-worker",
                                  daemon=True)  # a stalled worker must not keep the process
        worker.start()
        worker.join(max(0.0, self._deadline - time.monotonic()))
        if worker.is_alive():
            logger.error("the run is still busy at its deadline: stopping it")
            self._abandoned.set()
            self.checkpoint()  # raises DeadlinePassed now that the worker is abandoned
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]
