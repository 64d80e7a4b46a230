"""`backtest.py --sweep … --engine dask`: the same sweep on a Dask cluster (the optional extra,
`pip install '.[cluster]'`). The prepared markets go to every worker once; each
combination comes back as its result and summary and is saved here, as the local engine saves
it, so the rows are the same row for row."""
from __future__ import annotations

import logging
import queue
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from backtesting.forkpool import Done
from backtesting.sweep import ClusterUnavailable, Runner, Sweep, row_of, run_folder, save_run

CONNECT_TIMEOUT_S = 5
RELEASE_WAIT_S = 5  # a local cluster's scheduler forgets released tasks in milliseconds


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
        return Client(LocalCluster(n_workers=workers, threads_per_worker=1,
                                   dashboard_address=":0"))
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
    reason = (str(client) or type(client).__name__).splitlines()[0]
    raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {reason}")


def _remote(sweep: Sweep, overrides: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """What a cluster worker runs: one combination's result and summary."""
    return sweep.run(overrides)


def dask_runner(address: str, workers: int) -> Runner:
    """A sweep runner on the Dask scheduler at `address`, or on a local cluster of `workers`
    processes when it is empty."""
    return partial(run_on_dask, address, workers)


def run_on_dask(address: str, workers: int, sweep: Sweep, grid: list[dict[str, Any]], out: Path,
                done: Done) -> None:
    """Every combination of `grid` on the cluster, each saved under `out` as it comes back."""
    with _client(address, workers) as client:
        _run_all(client, sweep, grid, out, done)
        if not address:
            # Every future was released when _run_all returned, but the scheduler hears of it
            # a moment later: closing the cluster before would log each result and the
            # scattered markets as lost (a WARNING and an ERROR after a sweep that went well).
            _wait_until_forgotten(client)
            client.cluster.close()


def _task_count(dask_scheduler: Any) -> int:
    return len(dask_scheduler.tasks)


def _wait_until_forgotten(client: Any) -> None:
    """Return once the scheduler holds no task (or after RELEASE_WAIT_S)."""
    deadline = time.monotonic() + RELEASE_WAIT_S
    while client.run_on_scheduler(_task_count) and time.monotonic() < deadline:
        time.sleep(0.02)


def _run_all(client: Any, sweep: Sweep, grid: list[dict[str, Any]], out: Path,
             done: Done) -> None:
    """Submit every combination with the prepared markets sent once, and save each result."""
    from dask.distributed import as_completed  # importable: _client found the extra

    shared = client.scatter(sweep, broadcast=True)
    futures = {client.submit(_remote, shared, overrides, pure=False): index
               for index, overrides in enumerate(grid)}
    for future in as_completed(futures):
        index = futures[future]
        if future.status != "finished":
            done(index, None, f"{type(future.exception()).__name__}: {future.exception()}")
            continue
        result, summary = future.result()
        save_run(out / run_folder(index), sweep, grid[index], result, summary)
        done(index, row_of(grid[index], summary, index), None)
