"""Ctrl-C around the steps of writing results that must not be cut in half, and `kill` read as
Ctrl-C while a sweep runs, so that it too saves what finished and stops its workers."""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Run the block without Ctrl-C (SIGINT) breaking into it: one that arrives meanwhile is
    raised as KeyboardInterrupt once the block is done. Only the main thread receives signals,
    so elsewhere this changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: arrived.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if arrived:
        raise KeyboardInterrupt


@contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (`kill`, `timeout`, a service manager) is taken as Ctrl-C:
    raised as SIGINT, so that what handles Ctrl-C, deferred or not, handles it too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM,
                             lambda number, frame: signal.raise_signal(signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
