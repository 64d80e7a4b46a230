"""`backtest.py --sweep … --engine dask`: the same sweep on a Dask cluster (the optional extra,
`pip install '.[cluster]'`). The prepared markets go to every worker once; each
combination comes back as its result and summary and is saved here, as the local engine saves
it, so the rows are the same row for row. A scheduler lost mid-sweep, like Ctrl-C, ends it with
what finished saved (sweep.run), without Dask's own log of the abandoned tasks."""
from __future__ import annotations

import logging
import queue
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from backtesting.forkpool import Done
from backtesting.sweep import (
    ClusterLost,
    ClusterUnavailable,
    Runner,
    Sweep,
    row_of,
    run_folder,
    save_run,
)

CONNECT_TIMEOUT_S = 5  # to open the connection; the whole handshake gets twice that
RELEASE_WAIT_S = 5  # a local cluster's scheduler forgets released tasks in milliseconds
# The scheduler failing to unpickle a task: it cannot import this project's modules.
GRAPH_NOT_READ = "Error during deserialization of the task graph"
NOT_A_SCHEDULER = ("something answers there, but not as a Dask scheduler (a scheduler listens "
                   "on port 8786 unless told otherwise; 8787 is its dashboard)")


@contextmanager
def _without_ctrl_c() -> Iterator[None]:
    """Ignore Ctrl-C for the block; processes started meanwhile ignore it for good (an ignored
    signal stays ignored across exec), so a terminal's Ctrl-C, which reaches the whole process
    group, leaves a local cluster's workers to the sweep, which closes them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _client(address: str, workers: int) -> Any:
    """A client of the scheduler at `address`, or of a new local cluster of `workers`
    processes when it is empty."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ClusterUnavailable("--engine dask needs the cluster extra: pip install "
                                 "'.[cluster]'") from None
    # Dask logs each worker's start and stop at INFO: the sweep's own progress is what to read.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if not address:
        # The scheduler's web server on a free port: its default, 8787, may be someone else's.
        with _without_ctrl_c():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                   dashboard_address=":0")
        return Client(cluster)
    # Dask retries a refused connection until its timeout and then says only "timed out":
    # a plain TCP connection first tells "nothing listens" at once.
    reached = _tcp_reached(address)
    if reached:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {reached}")
    # Client's timeout covers opening the connection only: an endpoint that accepts and never
    # answers (not a scheduler) would hang it, so the handshake runs in a daemon thread (one
    # that cannot keep the process from exiting) with a deadline of its own.
    outcome: queue.Queue = queue.Queue()

    def connect() -> None:
        try:
            outcome.put(Client(address, timeout=CONNECT_TIMEOUT_S))
        except Exception as exc:  # a bad address or a server that is not Dask: many kinds
            outcome.put(exc)

    threading.Thread(target=connect, daemon=True).start()
    try:
        client = outcome.get(timeout=2 * CONNECT_TIMEOUT_S)
    except queue.Empty:
        client = TimeoutError(f"no answer within {2 * CONNECT_TIMEOUT_S} s")
    if not isinstance(client, Exception):
        return client
    if reached == "" and not isinstance(client, OSError):
        # Another server's reply read as Dask's: a frame "3 EiB" long, a message that is none.
        reason = NOT_A_SCHEDULER
    else:
        reason = (str(client) or type(client).__name__).splitlines()[0]
    raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {reason}")


def _tcp_reached(address: str) -> str | None:
    """For a tcp://host:port `address`, "" when a TCP connection opens, else why not; None for
    another kind of address (Dask's own error will say what is wrong with it)."""
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        return None
    try:
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S):
            return ""
    except ConnectionRefusedError:
        return "nothing listens there (connection refused)"
    except TimeoutError:
        return f"no answer within {CONNECT_TIMEOUT_S} s"
    except OSError as exc:
        return exc.strerror or str(exc)


def _remote(sweep: Sweep, overrides: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """What a cluster worker runs: one combination's result and summary."""
    return sweep.run(overrides)


@contextmanager
def dask_runner(address: str, workers: int) -> Iterator[Runner]:
    """A sweep runner on the Dask scheduler at `address`, or on a local cluster of `workers`
    processes when it is empty: connected on entry (ClusterUnavailable when it cannot be),
    disconnected, and a local cluster closed, on exit."""
    runner = DaskRunner(_client(address, workers), address)
    try:
        yield runner
    finally:
        runner.close()


class DaskRunner:
    """Runs a sweep (a sweep.Runner) through a connected client; close() lets it go."""

    def __init__(self, client: Any, address: str) -> None:
        self.client, self.address, self.cut_short = client, address, False

    def __call__(self, sweep: Sweep, grid: list[dict[str, Any]], out: Path, done: Done) -> None:
        """Every combination of `grid` on the cluster, each saved under `out` as it comes
        back; ClusterLost when the scheduler goes away."""
        try:
            _run_all(self.client, self.address or self.client.scheduler.address, sweep, grid,
                     out, done)
        except BaseException:  # Ctrl-C, a lost scheduler: the tasks left are abandoned
            self.cut_short = True
            # What Dask logs of them as the client (and a local cluster's workers) go is no
            # news to the user; an external cluster's workers log where they run.
            _quiet()
            if not self.address:
                with suppress(Exception):
                    self.client.run(_quiet)
            raise

    def close(self) -> None:
        """Disconnect, and close the local cluster if it is one."""
        local = None if self.address else self.client.cluster
        if local is not None and not self.cut_short:
            # Every future was released when _run_all returned, but the scheduler hears of it
            # a moment later: closing the cluster before would log each result and the
            # scattered markets as lost (a WARNING and an ERROR after a sweep that went well).
            _wait_until_forgotten(self.client)
        # Cut short, the client may be closing already (a lost scheduler): that was said.
        with suppress(Exception) if self.cut_short else nullcontext():
            self.client.close()
            if local is not None:
                local.close()


def _quiet() -> None:
    """No more log lines from Dask and its network library, whatever their loggers' levels."""
    for name in ["distributed", "tornado", *list(logging.Logger.manager.loggerDict)]:
        if name.split(".")[0] in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _task_count(dask_scheduler: Any) -> int:
    return len(dask_scheduler.tasks)


def _wait_until_forgotten(client: Any) -> None:
    """Return once the scheduler holds no task (or after RELEASE_WAIT_S)."""
    deadline = time.monotonic() + RELEASE_WAIT_S
    while client.run_on_scheduler(_task_count) and time.monotonic() < deadline:
        time.sleep(0.02)


def _failure(exc: BaseException) -> str:
    """A combination's error in one line, with what to do when it says the scheduler could not
    read the task."""
    text = f"{type(exc).__name__}: {exc}".strip()
    if GRAPH_NOT_READ in text:
        return (f"{type(exc).__name__}: {GRAPH_NOT_READ}: the scheduler cannot import this "
                f"project's code; start it, as each worker, with the project's folder on "
                f"PYTHONPATH (docs/backtesting.md)")
    return text.splitlines()[0]


def _run_all(client: Any, address: str, sweep: Sweep, grid: list[dict[str, Any]], out: Path,
             done: Done) -> None:
    """Submit every combination with the prepared markets sent once, and save each result;
    ClusterUnavailable when the markets cannot be sent (no worker, or one that cannot import
    the project), ClusterLost when the connection to the scheduler at `address` is lost."""
    from dask.distributed import as_completed  # importable: _client found the extra

    def lost(exc: BaseException | None) -> ClusterLost:
        """The sweep's end: `exc` from the lost connection, None when the client only
        cancelled the tasks (as it does when it loses the scheduler)."""
        reason = "the connection closed"
        if exc is not None:  # CommClosedError: "in <TCP (closed) ConnectionPool.gather …>: why"
            first = (str(exc).splitlines() or [""])[0]
            reason = re.sub(r"^in <[^>]*>: ", "", first) or type(exc).__name__
        return ClusterLost(f"lost the Dask scheduler at {address}: {reason}")

    try:
        shared = client.scatter(sweep, broadcast=True)
    except Exception as exc:  # no worker, or one that cannot unpickle the markets
        reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        hint = ("; start each worker with the project's folder on PYTHONPATH "
                "(docs/backtesting.md)" if "No module named" in reason else "")
        raise ClusterUnavailable(f"the Dask cluster at {address} cannot take the sweep: "
                                 f"{reason}{hint}") from None
    try:
        futures = {client.submit(_remote, shared, overrides, pure=False): index
                   for index, overrides in enumerate(grid)}
    except OSError as exc:  # CommClosedError is one
        raise lost(exc) from None
    for future in as_completed(futures):
        index = futures[future]
        try:
            if future.status not in ("finished", "error"):  # the client cancels every task
                raise lost(None)  # when it loses the scheduler
            error = future.exception() if future.status == "error" else None
            result, summary = (None, None) if error is not None else future.result()
        except (OSError, CancelledError) as exc:  # CommClosedError, TimeoutError are OSErrors
            raise lost(exc) from None
        if error is not None:
            done(index, None, _failure(error))
            continue
        try:
            save_run(out / run_folder(index), sweep, grid[index], result, summary)
        except OSError as exc:  # as the local engine: this combination failed, the rest go on
            done(index, None, f"{type(exc).__name__}: {exc}")
            continue
        done(index, row_of(grid[index], summary, index), None)
