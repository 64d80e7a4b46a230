"""Tasks on forked worker processes that share the parent's memory (the candles are never
copied or parsed again), surviving a worker that dies: its task is reported failed, a new
worker takes its place and the other tasks go on. Ctrl-C is the parent's to handle: the workers
ignore it, and the parent stops them when it is interrupted."""
from __future__ import annotations

import multiprocessing
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection, wait
from typing import Any

# What happened to one task: (its index, its result or None, None or why it failed).
Done = Callable[[int, Any, str | None], None]


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


def _serve(task: Callable[[Any], Any], items: Sequence[Any], conn: Connection) -> None:
    """A worker's loop: run the item whose index arrives, send back ("ok" | "error", value)."""
    # A terminal's Ctrl-C reaches every process of its group: the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while (index := conn.recv()) is not None:
        try:
            conn.send(("ok", task(items[index])))
        except Exception as exc:  # the sweep goes on; the row names this combination
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _start(context: Any, task: Callable[[Any], Any], items: Sequence[Any]
           ) -> tuple[Connection, Any]:
    """A forked worker and the parent's end of its pipe."""
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(task, items, child), daemon=True)
    process.start()
    child.close()
    return parent, process


def run_forked(task: Callable[[Any], Any], items: Sequence[Any], workers: int,
               done: Done) -> None:
    """task(item) for every item on `workers` forked processes, calling done() as each ends.

    Interrupted (KeyboardInterrupt, or done() raising), it ends every worker, still calls
    done() for each result already sent back, and raises again; the items still running are
    not reported."""
    context = multiprocessing.get_context("fork")
    pending = deque(range(len(items)))
    running: dict[Connection, tuple[Any, int]] = {}
    started: list[Any] = []

    def give(conn: Connection | None, process: Any) -> None:
        """Hand the next item to a worker (a new one when `conn` is None or has died)."""
        while pending:
            if conn is None:
                # Held: the child would raise KeyboardInterrupt before _serve ignores it, and
                # the parent must know of every worker it has to end.
                with interrupts_deferred():
                    conn, process = _start(context, task, items)
                    started.append(process)
            index = pending.popleft()
            try:
                conn.send(index)
            except OSError:  # it died before taking the item: the item waits for another
                pending.appendleft(index)
                process.join()
                conn.close()
                conn = None
                continue
            running[conn] = process, index
            return
        if conn is not None:  # nothing left: let the worker end
            with suppress(OSError):
                conn.send(None)
            process.join()
            conn.close()

    try:
        for _ in range(min(workers, len(items))):
            give(None, None)
        while running:
            for conn in wait(list(running)):
                process, index = running.pop(conn)
                try:
                    status, value = conn.recv()
                except (EOFError, OSError):  # the worker died mid-task
                    process.join()
                    conn.close()
                    done(index, None, f"worker process died (exit code {process.exitcode})")
                    give(None, None)
                    continue
                done(index, value if status == "ok" else None,
                     None if status == "ok" else value)
                give(conn, process)
    except BaseException:
        with interrupts_deferred():
            _stop(started, running, done)
        raise


def _stop(started: list[Any], running: dict[Connection, tuple[Any, int]], done: Done) -> None:
    """End every worker, then report the results they had sent before it."""
    for process in started:
        if process.is_alive():
            process.terminate()
    for process in started:
        process.join()
    for conn, (_, index) in running.items():
        with suppress(EOFError, OSError, ValueError):
            if conn.poll():
                status, value = conn.recv()
                done(index, value if status == "ok" else None, None if status == "ok" else value)
        conn.close()
