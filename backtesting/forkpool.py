"""Tasks on forked worker processes that share the parent's memory (the candles are never
copied or parsed again), surviving a worker that dies: its task is reported failed, a new
worker takes its place and the other tasks go on. Ctrl-C is the parent's to handle: the workers
ignore it, and the parent stops them when it is interrupted."""
from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from multiprocessing.connection import Connection, wait
from typing import Any

from backtesting.interrupts import interrupts_deferred

# What happened to one task: (its index, its result or None, None or why it failed).
Done = Callable[[int, Any, str | None], None]


def worker_death(exitcode: int | None) -> str:
    """Why a combination failed when its worker process ended mid-task, from its exit code (a
    signal's number negated)."""
    if exitcode is None or exitcode >= 0:
        return f"worker process died (exit code {exitcode})"
    number = -exitcode
    try:
        said = f"{signal.Signals(number).name}, signal {number}"
    except ValueError:  # a real-time signal has no name
        said = f"signal {number}"
    oom = " (the kernel also sends it when memory runs out)" if number == signal.SIGKILL else ""
    return f"worker process killed by {said}{oom}"


def _serve(task: Callable[[Any], Any], items: Sequence[Any], conn: Connection,
           inherited: Iterable[Connection]) -> None:
    """A worker's loop: run the item whose index arrives, send back ("ok" | "error", value);
    end when told to (None) or when the parent is gone (its end of the pipe closed)."""
    # A terminal's Ctrl-C reaches every process of its group: the parent decides what stops,
    # and ends a worker with SIGTERM, whatever the parent itself makes of SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The parent's ends of the pipes, this worker's and the others', copied by the fork: held
    # here, they would keep the workers waiting for an item forever once the parent is killed.
    for end in inherited:
        end.close()
    with suppress(EOFError, BrokenPipeError):  # the parent is gone: nobody wants the rest
        _serve_items(task, items, conn)


def _serve_items(task: Callable[[Any], Any], items: Sequence[Any], conn: Connection) -> None:
    while (index := conn.recv()) is not None:
        try:
            conn.send(("ok", task(items[index])))
        except Exception as exc:  # the sweep goes on; the row names this combination
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _start(context: Any, task: Callable[[Any], Any], items: Sequence[Any],
           held: Iterable[Connection]) -> tuple[Connection, Any]:
    """A forked worker and the parent's end of its pipe; that end and `held`, the parent's ends
    of the other workers' pipes, are closed in the child."""
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(task, items, child, [parent, *held]),
                              daemon=True)
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
                    conn, process = _start(context, task, items, running)
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
                    done(index, None, worker_death(process.exitcode))
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
