"""`backtest.py --sweep`: saved runs and heat map, a dying worker, bad grids, the Backtests pages
showing a sweep, the Dask engine (with the cluster extra) giving the same rows, and a sweep
stopped by Ctrl-C or a lost scheduler keeping what finished."""
from __future__ import annotations

import errno
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from html import escape

import pytest

import backtest
from backtesting import sweep
from backtesting.cluster import NOT_A_SCHEDULER
from backtesting.forkpool import run_forked
from tests.backtest.scenario import FIRST_ENTRY_DAY, SCENARIO_ARGS, sweep_args
from tests.backtest.test_backtest_cli import PROJECT, run_cli

# From the first day an entry is possible, so stderr has no warm-up note.
GRID = [*sweep_args("entry=1,2", "exit=5,8"), "--from", FIRST_ENTRY_DAY]


def rows_of(folder) -> list[dict]:
    return json.loads((folder / "sweep.json").read_text())["rows"]


def test_a_sweep_saves_every_run_and_a_heat_map(scenario_dir, config, tmp_path):
    out = tmp_path / "sweep"
    done = run_cli(config, "--csv", str(scenario_dir), *GRID, "--workers", "2",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = rows_of(out)
    assert [(row["entry_threshold_pct"], row["exit_threshold_pct"]) for row in rows] == [
        (1.0, 5.0), (1.0, 8.0), (2.0, 5.0), (2.0, 8.0)]
    for row in rows:
        assert (out / row["run"] / "trades.csv").is_file()
        assert json.loads((out / row["run"] / "summary.json").read_text())["summary"][
            "total_return_pct"] == row["total_return_pct"]
    page = (out / "sweep.html").read_text()
    assert page.count('href="runs/') == 12  # 4 cells in each of the two heat maps, 4 rows
    assert 'aria-label="entry 2.0, exit 5.0: Total return (%)' in page
    # Off a terminal, the progress is a count in the log.
    assert "INFO backtesting.progress: 4/4 combinations done" in done.stderr
    # And nothing else is said: no warning or error from any process.
    assert all(line.startswith("INFO backtesting.progress: ")
               for line in done.stderr.splitlines()), done.stderr
    assert sorted(path.name for path in (out / "runs").iterdir()) == [
        "0000", "0001", "0002", "0003"]  # no partial folder left


def test_one_worker_and_two_give_the_same_rows(scenario_dir, config, tmp_path):
    for workers in ("1", "2"):
        assert run_cli(config, "--csv", str(scenario_dir), *GRID, "--workers",
                       workers, "--out", str(tmp_path / workers)).returncode == 0
    assert rows_of(tmp_path / "1") == rows_of(tmp_path / "2")


def _dies_on_three(number: int) -> int:
    if number == 3:
        os._exit(7)
    return number * 10


def test_a_worker_that_dies_fails_only_its_own_task():
    outcomes = {}
    run_forked(_dies_on_three, [1, 2, 3, 4, 5, 6], 2,
               lambda index, value, error: outcomes.update({index: (value, error)}))
    assert outcomes == {0: (10, None), 1: (20, None),
                        2: (None, "worker process died (exit code 7)"),
                        3: (40, None), 4: (50, None), 5: (60, None)}


def _slow_unless_first(number: int) -> int:
    if number:
        time.sleep(30)
    return number


def test_an_interrupted_pool_ends_its_workers_and_reports_only_what_came_back():
    outcomes = {}

    def done(index, value, error):
        outcomes[index] = value, error
        raise KeyboardInterrupt  # as Ctrl-C would, in the parent, while the others still run

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_forked(_slow_unless_first, [0, 1, 2], 2, done)
    assert time.monotonic() - started < 10  # not waiting for the 30 s tasks
    assert outcomes == {0: (0, None)}
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize(("sweep", "message"), [
    (["speed=1,2"], "bad --sweep item 'speed=1,2': use KEY=V1,V2 with KEY one of entry, exit, "
                    "average, ma, candidates, max-trade-value"),
    (["entry=1,60"], "bad --sweep item 'entry=1,60': ENTRY_THRESHOLD_PCT='60' is invalid: must "
                     "be between 0 and 50"),
    (["max-trade-value=50"], "bad --sweep item 'max-trade-value=50': MAX_TRADE_VALUE='50' is "
                             "invalid: must be between 100 and 1,00,00,000"),
    (["exit="], "bad --sweep item 'exit=': no values, so the grid is empty"),
    (["exit=5", "exit=6"], "bad --sweep item 'exit=6': exit is given twice"),
])
def test_bad_grids_are_one_line_usage_errors(scenario_dir, config, sweep, message):
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--sweep", *sweep)
    assert done.returncode == 2
    assert done.stderr == f"python backtest.py: error: {message} (see --help)\n"


@pytest.mark.parametrize("earlier", [False, True], ids=["new folder", "earlier sweep"])
def test_an_unreachable_cluster_is_one_line_and_exit_2(scenario_dir, config, tmp_path, earlier):
    pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                        "pip install '.[cluster]'")
    out = tmp_path / "s"
    if earlier:
        assert run_cli(config, "--csv", str(scenario_dir), *GRID, "--out",
                       str(out)).returncode == 0
    kept = sorted(path.relative_to(out) for path in out.rglob("*")) if earlier else []
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run_cli(config, "--csv", str(scenario_dir), *GRID, "--engine", "dask",
                   "--cluster", f"tcp://127.0.0.1:{port}", "--out", str(out))
    assert done.returncode == 2
    assert done.stderr == (f"backtest: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: "
                           f"nothing listens there (connection refused)\n")
    # A refused command leaves no folder behind, and an earlier sweep's files where they were.
    assert out.exists() is earlier
    assert (sorted(path.relative_to(out) for path in out.rglob("*")) if earlier else []) == kept


@pytest.mark.parametrize("kind", ["silent server", "no port", "http scheme"])
def test_a_cluster_address_that_is_no_scheduler_is_one_line_and_exit_2(scenario_dir, config,
                                                                       tmp_path, kind):
    pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                        "pip install '.[cluster]'")
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        address = {"silent server": f"tcp://127.0.0.1:{port}", "no port": "scheduler-host",
                   "http scheme": f"http://127.0.0.1:{port}"}[kind]
        done = run_cli(config, "--csv", str(scenario_dir), *GRID, "--engine",
                       "dask", "--cluster", address, "--out", str(tmp_path / "s"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"backtest: cannot reach the Dask scheduler at {address}: ")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "s").exists()  # the folder is made once the scheduler answers


def test_a_web_server_at_the_cluster_address_is_named_as_no_scheduler(scenario_dir, config,
                                                                      tmp_path):
    """A web server (a proxy, say) answers Dask's first message with a 400, which Dask reads as
    a frame some exbibytes long."""
    pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                        "pip install '.[cluster]'")
    import socketserver

    class BadRequest(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(1024)
            self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), BadRequest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.server_address[1]}"
    try:
        done = run_cli(config, "--csv", str(scenario_dir), *GRID, "--engine", "dask",
                       "--cluster", address, "--out", str(tmp_path / "s"))
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 2
    assert done.stderr == (f"backtest: cannot reach the Dask scheduler at {address}: "
                           f"{NOT_A_SCHEDULER}\n")


def test_without_the_extra_the_dask_engine_says_how_to_install_it(scenario_dir, config,
                                                                  tmp_path):
    hidden = tmp_path / "no-extra"  # a `dask` that cannot be imported, as when not installed
    (hidden / "dask").mkdir(parents=True)
    (hidden / "dask" / "__init__.py").write_text("raise ModuleNotFoundError('dask')\n")
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox",
           "PYTHONPATH": str(hidden)}
    done = subprocess.run([sys.executable, "backtest.py", "--csv", str(scenario_dir),
                           *GRID, "--engine", "dask", "--out",
                           str(tmp_path / "s")], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "backtest: --engine dask needs the cluster extra: pip install '.[cluster]'\n"


def test_dask_engine_gives_the_local_rows(scenario_dir, config, tmp_path):
    pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                        "pip install '.[cluster]'")
    from dask.distributed import LocalCluster

    local = tmp_path / "local"
    assert run_cli(config, "--csv", str(scenario_dir), *GRID, "--out",
                   str(local)).returncode == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      processes=True) as cluster:
        env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox",
               "DASK_SCHEDULER_ADDRESS": cluster.scheduler_address}
        done = subprocess.run([sys.executable, "backtest.py", "--csv", str(scenario_dir),
                               *GRID, "--engine", "dask", "--out",
                               str(tmp_path / "dask")], cwd=PROJECT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert rows_of(tmp_path / "dask") == rows_of(local)


def test_the_backtests_page_shows_a_saved_sweep_as_a_heat_map(scenario_dir, config, logged_in):
    out = config.data_dir / "backtests" / "20260101T000000-sweep"
    assert run_cli(config, "--csv", str(scenario_dir), *GRID, "--out",
                   str(out)).returncode == 0
    listing = logged_in.get("/backtests").get_data(as_text=True)
    assert "Sweep of 4 runs over entry, exit" in listing
    page = logged_in.get("/backtests/20260101T000000-sweep?metric=max_drawdown_pct"
                         ).get_data(as_text=True)
    best = rows_of(out)[3]
    assert (f'href="/backtests/20260101T000000-sweep/{best["run"]}" aria-label="'
            f'entry 2.0, exit 8.0: Max drawdown (%) '
            f'{best["max_drawdown_pct"]:.2f}; open this run"') in page
    run = logged_in.get(f"/backtests/20260101T000000-sweep/{best['run']}")
    assert run.status_code == 200
    text = run.get_data(as_text=True)
    assert "against buy and hold" in text and f"Fills ({best['trades']})" in text
    series = logged_in.get(f"/backtests/20260101T000000-sweep/{best['run']}/series.json")
    assert series.get_json()["buy_and_hold"][0] == 2900.0


def test_one_setting_asked_both_ways_maps_it_against_another(scenario_dir, config, logged_in):
    out = config.data_dir / "backtests" / "20260101T000000-same"
    assert run_cli(config, "--csv", str(scenario_dir), *GRID, "--out",
                   str(out)).returncode == 0
    page = logged_in.get("/backtests/20260101T000000-same?x=exit_threshold_pct"
                         "&y=exit_threshold_pct").get_data(as_text=True)
    assert 'aria-label="Total return (%) by exit and entry"' in page


def test_on_a_terminal_the_progress_is_a_bar_with_an_eta(scenario_dir, config, tmp_path):
    import pty

    controller, terminal = pty.openpty()
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox"}
    done = subprocess.run([sys.executable, "backtest.py", "--csv", str(scenario_dir),
                           *GRID, "--out", str(tmp_path / "s")], cwd=PROJECT,
                          env=env, stdout=subprocess.DEVNULL, stderr=terminal, timeout=60)
    os.close(terminal)
    shown = os.read(controller, 65536).decode()
    os.close(controller)
    assert done.returncode == 0
    # The bar is there from the start, at 0 and without an ETA until there is a pace.
    assert shown.startswith("\r[" + "." * 30 + "] 0/4 combinations \r[")
    assert "\r[" + "#" * 30 + "] 4/4 combinations, ETA 0:00" in shown
    assert "INFO" not in shown


def test_a_killed_worker_fails_its_combination_and_the_sweep_saves_the_rest(config, tmp_path):
    import psutil  # pinned in requirements-dev.txt

    from bench.synthetic_market import write_market

    first, last = write_market(tmp_path / "market", 40, 2000)
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox"}
    out = tmp_path / "sweep"
    cli = subprocess.Popen([sys.executable, "backtest.py", "--csv", str(tmp_path / "market"),
                            "--from", first, "--to", last, "--sweep", "exit=4,5,6,7,8,9",
                            "--workers", "2", "--out", str(out)], cwd=PROJECT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(cli.pid)
    while not (workers := parent.children()) and cli.poll() is None:
        pass
    while workers[0].cpu_times().user < 0.03:  # busy with its first combination
        pass
    workers[0].kill()
    _, stderr = cli.communicate(timeout=120)
    assert cli.returncode == 1
    (failure,) = [line for line in stderr.splitlines() if " failed: " in line]
    assert failure.startswith("backtest: combination exit=")
    assert failure.endswith("failed: worker process killed by SIGKILL, signal 9 (the kernel "
                            "also sends it when memory runs out)")
    assert len(rows_of(out)) == 5


def test_a_cut_sweep_json_is_listed_as_unreadable_and_its_page_says_why(config, logged_in):
    broken = config.data_dir / "backtests" / "20260101T000000-cut"
    broken.mkdir(parents=True)
    (broken / "sweep.json").write_text('{"axes": {"exit_threshold_pct": [5')
    listing = logged_in.get("/backtests").get_data(as_text=True)
    assert "Unreadable run <code>20260101T000000-cut</code>: sweep.json cannot be read" in listing
    page = logged_in.get("/backtests/20260101T000000-cut")
    assert page.status_code == 404
    assert "sweep.json cannot be read" in page.get_data(as_text=True)


@pytest.mark.parametrize("edit", [
    lambda document: document.pop("created_at"),
    lambda document: document.pop("start"),
    lambda document: document.update(axes={}),
    lambda document: document["rows"][0].update(run="../../elsewhere"),
    lambda document: document["rows"][0].update(total_return_pct="12%"),
], ids=["no created_at", "no start", "no axes", "a run outside", "a figure as text"])
def test_a_hand_edited_sweep_json_is_listed_as_unreadable(scenario_dir, config, logged_in,
                                                         edit):
    """One sweep.json the pages cannot show must not take the whole list down."""
    out = config.data_dir / "backtests" / "20260101T000000-edited"
    assert run_cli(config, "--csv", str(scenario_dir), *GRID, "--out",
                   str(out)).returncode == 0
    document = json.loads((out / "sweep.json").read_text())
    edit(document)
    (out / "sweep.json").write_text(json.dumps(document))
    listing = logged_in.get("/backtests")
    assert listing.status_code == 200
    assert ("Unreadable run <code>20260101T000000-edited</code>: sweep.json lacks some of a "
            "sweep&#39;s grid, rows or dates") in listing.get_data(as_text=True)
    page = logged_in.get("/backtests/20260101T000000-edited")
    assert page.status_code == 404 and "sweep.json lacks some of" in page.get_data(as_text=True)


def test_off_the_axes_the_heat_map_runs_through_the_best_combination(scenario_dir, config,
                                                                     logged_in):
    # Averaging down at 3 % does better here than at 10 %, which the grid lists first.
    out = config.data_dir / "backtests" / "20260101T000000-three"
    assert run_cli(config, "--csv", str(scenario_dir),
                   *sweep_args("entry=1,2", "exit=5,8", "average=10,3"),
                   "--out", str(out)).returncode == 0
    rows = rows_of(out)
    best = max(rows, key=lambda row: row["total_return_pct"])
    assert best["averaging_threshold_pct"] == 3.0

    def cell_of(averaging: float) -> dict:
        return next(row for row in rows
                    if (row["entry_threshold_pct"], row["exit_threshold_pct"],
                        row["averaging_threshold_pct"]) == (2.0, 8.0, averaging))

    page = logged_in.get("/backtests/20260101T000000-three").get_data(as_text=True)
    assert '<option value="3.0" selected>3.0</option>' in page
    assert f'href="/backtests/20260101T000000-three/{cell_of(3.0)["run"]}"' in page
    assert f'href="/backtests/20260101T000000-three/{cell_of(10.0)["run"]}"' not in page.split(
        "Every combination")[0]
    chosen = logged_in.get("/backtests/20260101T000000-three?averaging_threshold_pct=10.0"
                           ).get_data(as_text=True)
    assert f'href="/backtests/20260101T000000-three/{cell_of(10.0)["run"]}"' in chosen
    report = (out / "sweep.html").read_text()
    assert "Other parameters at the best combination's (by total return): " \
           "average = 3.0." in report
    assert f'href="{cell_of(3.0)["run"]}/report.html"' in report


def test_sweep_html_maps_every_pair_of_swept_parameters(scenario_dir, config, tmp_path):
    # A static file cannot switch axes, so it draws each pair, through the best combination.
    out = tmp_path / "three"
    assert run_cli(config, "--csv", str(scenario_dir),
                   *sweep_args("entry=1,2", "exit=5,8", "average=10,3"),
                   "--out", str(out)).returncode == 0
    page = (out / "sweep.html").read_text()
    for pair, fixed in [("entry × exit", "average = 3.0"), ("entry × average", "exit = 8.0"),
                        ("exit × average", "entry = 1.0")]:
        section = page.split(f"<h2>{pair}</h2>")[1].split("<h2>")[0]
        assert f"by total return): {fixed}." in section
        assert section.count('href="runs/') == 8  # 2 × 2 cells in each figure's map


def test_sweep_given_twice_sweeps_both_grids(scenario_dir, config, tmp_path):
    out = tmp_path / "twice"
    assert run_cli(config, "--csv", str(scenario_dir),
                   *sweep_args("entry=1,2", "--sweep", "exit=5,8"),
                   "--out", str(out)).returncode == 0
    document = json.loads((out / "sweep.json").read_text())
    assert document["axes"] == {"entry_threshold_pct": [1.0, 2.0], "exit_threshold_pct": [5.0, 8.0]}
    assert len(document["rows"]) == 4


def test_a_value_given_twice_is_run_once_and_said_so(scenario_dir, config, tmp_path):
    out = tmp_path / "repeats"
    done = run_cli(config, "--csv", str(scenario_dir),
                   *sweep_args("entry=1,1,2", "exit=6.28,6.280"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert [(row["entry_threshold_pct"], row["exit_threshold_pct"]) for row in rows_of(out)] == [
        (1.0, 6.28), (2.0, 6.28)]
    assert "backtest: entry: 1 given twice; run once\n" in done.stderr
    assert "backtest: exit: 6.28 given twice; run once\n" in done.stderr


def test_a_failed_combination_is_named_by_its_sweep_keys(scenario_dir, config, tmp_path,
                                                        monkeypatch, capsys):
    # The second combination cannot be saved, as on a full disk (an earlier backtest's files
    # are cleared first, so a file where its folder goes would not last); the forked workers
    # inherit the patch.
    save_run = sweep.save_run

    def full_disk_for_the_second(folder, *rest):
        if folder.name == "0001":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        save_run(folder, *rest)

    monkeypatch.setattr(sweep, "save_run", full_disk_for_the_second)
    out = tmp_path / "sweep"
    assert backtest.main(["--csv", str(scenario_dir), *sweep_args("entry=1", "exit=5,8"),
                          "--out", str(out)], config) == 1
    (failure,) = [line for line in capsys.readouterr().err.splitlines() if " failed: " in line]
    assert failure.startswith("backtest: combination entry=1.0, exit=8.0 failed: ")
    failed = json.loads((out / "sweep.json").read_text())["failed"]
    assert [entry["combination"] for entry in failed] == ["entry=1.0, exit=8.0"]


def test_a_sweep_of_a_period_without_candles_fails_as_a_single_run_does(scenario_dir, config,
                                                                         tmp_path):
    period = ["--from", "2025-01-01", "--to", "2025-02-07"]  # the candles end on 2024-02-09
    single = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, *period)
    swept = run_cli(config, "--csv", str(scenario_dir), *GRID, *period)
    assert single.returncode == swept.returncode == 1
    assert swept.stderr == single.stderr == (
        "backtest: no candles between 2025-01-01 and 2025-02-07\n")
    assert not list((config.data_dir / "backtests").glob("*"))  # no run, no sweep.json


def test_a_local_dask_sweep_prints_only_its_progress_and_gives_the_local_rows(
        scenario_dir, config, tmp_path):
    pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                        "pip install '.[cluster]'")
    local = tmp_path / "local"
    assert run_cli(config, "--csv", str(scenario_dir), *GRID, "--out",
                   str(local)).returncode == 0
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox",
           "DASK_SCHEDULER_ADDRESS": ""}  # no scheduler: a local cluster of --workers
    done = subprocess.run([sys.executable, "backtest.py", "--csv", str(scenario_dir),
                           *GRID, "--engine", "dask", "--workers", "1", "--out",
                           str(tmp_path / "dask")], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert rows_of(tmp_path / "dask") == rows_of(local)
    # Dask's own INFO lines (workers starting, the dashboard) and shutdown warnings are not shown.
    assert done.stderr.splitlines() == [f"INFO backtesting.progress: {n}/4 combinations done, "
                                        f"ETA {eta}" for n, eta in zip(
                                            range(1, 5), re.findall(r"ETA (\S+)", done.stderr),
                                            strict=True)]


def test_a_local_dask_cluster_has_the_workers_asked_and_leaves_port_8787_alone():
    pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                        "pip install '.[cluster]'")
    from backtesting.cluster import _client

    with _client("", 1) as client:
        try:
            info = client.scheduler_info()
            assert len(info["workers"]) == 1
            assert info["services"]["dashboard"] != 8787  # dask's default: maybe taken
        finally:
            client.cluster.close()


def test_workers_with_a_cluster_address_is_a_usage_error(scenario_dir, config):
    done = run_cli(config, "--csv", str(scenario_dir), *GRID, "--engine", "dask",
                   "--cluster", "tcp://127.0.0.1:8786", "--workers", "2")
    assert done.returncode == 2
    assert done.stderr == ("python backtest.py: error: --workers sets this machine's processes; "
                           "a --cluster has its own workers (see --help)\n")


# The synthetic market's candles start on 1990-01-01: by March every symbol has the MA's closes.
AFTER_WARMUP = "1990-03-01"


def _small_sweep(tmp_path) -> list[str]:
    """A 4-combination sweep of a small synthetic market, as backtest.py's arguments."""
    from bench.synthetic_market import write_market

    _, last = write_market(tmp_path / "market", 10, 300)
    return ["--csv", str(tmp_path / "market"), "--from", AFTER_WARMUP, "--to", last,
            "--sweep", "entry=1,2", "exit=5,8"]


def _group_gone(pgid: int, within_s: float = 10) -> bool:
    """Whether every process of group `pgid` has ended (within `within_s`)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _until_progress(cli: subprocess.Popen) -> list[str]:
    """stderr's lines up to the first progress count (the sweep is under way)."""
    lines = []
    while not (lines and lines[-1].startswith("INFO backtesting.progress: ")):
        line = cli.stderr.readline()
        assert line, f"the sweep ended first: {lines}"
        lines.append(line.rstrip("\n"))
    return lines


def _assert_kept_what_finished(out, total: int, stopped: str) -> int:
    """The finished runs are in sweep.json, complete, with no other run folder; the rest are
    listed as not run. Returns how many finished."""
    document = json.loads((out / "sweep.json").read_text())
    rows = document["rows"]
    assert 0 < len(rows) < total
    assert document["stopped"] == stopped
    assert document["failed"] == [] and len(document["not_run"]) == total - len(rows)
    assert sorted(path.name for path in (out / "runs").iterdir()) == sorted(
        row["run"].removeprefix("runs/") for row in rows)
    for row in rows:
        assert sorted(path.name for path in (out / row["run"]).iterdir()) == [
            "equity.csv", "report.html", "summary.json", "trades.csv"]
        assert json.loads((out / row["run"] / "summary.json").read_text())["summary"][
            "cagr_pct"] == row["cagr_pct"]
    assert (f"<h2>Not run</h2><p>The sweep was stopped ({escape(stopped)}) before "
            f"{total - len(rows)} combination") in (out / "sweep.html").read_text()
    return len(rows)


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_ctrl_c_stops_a_sweep_quietly_and_keeps_what_finished(config, logged_in, tmp_path,
                                                              engine):
    if engine == "dask":
        pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                            "pip install '.[cluster]'")
    from bench.synthetic_market import write_market

    _, last = write_market(tmp_path / "market", 40, 2000)
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox",
           "DASK_SCHEDULER_ADDRESS": ""}
    out = config.data_dir / "backtests" / "20260101T000000-cut"
    # A group of its own, signalled as a whole: a terminal's ^C reaches every process in it.
    cli = subprocess.Popen([sys.executable, "backtest.py", "--csv", str(tmp_path / "market"),
                            "--from", AFTER_WARMUP, "--to", last, "--sweep",
                            "exit=4,5,6,7,8,9,10,11", "entry=0,0.5,1,1.5,2", "--workers", "2",
                            "--engine", engine,
                            "--out", str(out)], cwd=PROJECT, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        before = _until_progress(cli)
        os.killpg(cli.pid, signal.SIGINT)
        stdout, stderr = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
    lines = before + stderr.splitlines()
    assert cli.returncode == 130, stderr
    saved = _assert_kept_what_finished(out, 40, "interrupted")
    assert lines[-1] == f"backtest: interrupted: {saved} of 40 combinations saved in {out}"
    assert all(line.startswith("INFO backtesting.progress: ") for line in lines[:-1]), lines
    assert stdout == ""
    assert _group_gone(cli.pid)  # no worker left running
    # The Backtests page lists what finished, and the sweep's page names the rest.
    assert (f"Sweep of {saved} runs over exit, entry, <strong>stopped</strong> with {40 - saved} "
            f"not run: heat map") in logged_in.get("/backtests").get_data(as_text=True)
    page = logged_in.get("/backtests/20260101T000000-cut").get_data(as_text=True)
    assert f"{saved} combinations, {40 - saved} not run." in page
    assert "Failed combinations" not in page
    assert f"The sweep was stopped (interrupted) before {40 - saved} combinations ran:</p>" in page
    assert page.count("<li><code>exit=") == 40 - saved  # one line each
    # The map crosses out the cells not run as such, not as failures.
    assert "Crossed out: not run, no result" in page and "failed, no result" not in page


def _sweep_started(config, tmp_path, out) -> subprocess.Popen:
    """A 40-combination sweep on 2 forked workers, in a process group of its own, under way."""
    from bench.synthetic_market import write_market

    _, last = write_market(tmp_path / "market", 40, 2000)
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox"}
    cli = subprocess.Popen([sys.executable, "backtest.py", "--csv", str(tmp_path / "market"),
                            "--from", AFTER_WARMUP, "--to", last, "--sweep",
                            "exit=4,5,6,7,8,9,10,11", "entry=0,0.5,1,1.5,2", "--workers", "2",
                            "--out", str(out)], cwd=PROJECT, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    _until_progress(cli)
    return cli


def _terminated(cli: subprocess.Popen) -> str:
    """`kill` (SIGTERM) to the sweep's process alone; its stderr, once it has exited 130."""
    try:
        cli.send_signal(signal.SIGTERM)
        _, stderr = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
    assert cli.returncode == 130, stderr
    return stderr


def test_kill_stops_a_sweep_as_ctrl_c_does(config, tmp_path):
    """`kill` (SIGTERM, as `timeout` or a service manager sends it) to the sweep's process
    alone: what finished is saved with its grid, and no worker is left behind."""
    out = tmp_path / "killed"
    cli = _sweep_started(config, tmp_path, out)
    _terminated(cli)
    _assert_kept_what_finished(out, 40, "interrupted")
    assert _group_gone(cli.pid)


def test_a_stopped_sweep_keeps_the_earlier_backtest_in_its_folder(config, tmp_path):
    """A sweep stopped part-way into a folder holding an earlier backtest replaces nothing:
    what finished goes to a new folder beside it, named on stderr."""
    from bench.synthetic_market import write_market

    out = tmp_path / "earlier"
    _, last = write_market(tmp_path / "market", 40, 2000)
    assert run_cli(config, "--csv", str(tmp_path / "market"), "--from", AFTER_WARMUP,
                   "--to", last, "--out", str(out)).returncode == 0
    earlier = {path.name: path.read_bytes() for path in out.iterdir()}
    cli = _sweep_started(config, tmp_path, out)
    stderr = _terminated(cli)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == earlier
    lines = stderr.splitlines()
    assert f"backtest: the earlier backtest in {out} is kept: a stopped sweep replaces nothing" \
        in lines
    [beside] = tmp_path.glob("earlier-stopped-*")  # a combination had finished (the count)
    saved = _assert_kept_what_finished(beside, 40, "interrupted")
    assert lines[-1] == f"backtest: interrupted: {saved} of 40 combinations saved in {beside}"


def test_workers_end_when_the_sweep_is_killed_outright(config, tmp_path):
    """SIGKILL gives the sweep no chance to stop its workers: they end on their own, and
    nothing half-written is left where the results would go."""
    cli = _sweep_started(config, tmp_path, tmp_path / "fresh")
    try:
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(timeout=10)
        assert _group_gone(cli.pid, within_s=30)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(cli.pid, signal.SIGKILL)
    fresh = tmp_path / "fresh"
    assert not (fresh / "sweep.json").exists() and not (fresh / "runs").exists()
    # what it was writing is in a hidden folder, which the next backtest there clears away
    assert run_cli(config, "--csv", str(tmp_path / "market"), "--from", AFTER_WARMUP,
                   "--to", AFTER_WARMUP, "--out", str(fresh)).returncode == 0
    assert sorted(path.name for path in fresh.iterdir()) == [
        "equity.csv", "report.html", "summary.json", "trades.csv"]


@contextmanager
def external_cluster(tmp_path, *, scheduler_imports_project: bool = True,
                     worker_imports_project: bool = True):
    """A `dask scheduler` and one `dask worker` on loopback, as docs/backtesting.md starts them
    (unless told otherwise with the project on PYTHONPATH); yields the scheduler's process and
    address."""
    from dask.distributed import Client

    bare = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    with_project = {**bare, "PYTHONPATH": str(PROJECT)}
    file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--dashboard-address", ":0", "--scheduler-file", str(file)],
        cwd=tmp_path, env=with_project if scheduler_imports_project else bare,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not file.exists():
            assert scheduler.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.1)  # the file written whole
        address = json.loads(file.read_text())["address"]
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-nanny",
             "--nthreads", "1", "--no-dashboard"], cwd=tmp_path,
            env=with_project if worker_imports_project else bare,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        yield scheduler, address
    finally:
        for process in (worker, scheduler):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def test_a_lost_dask_scheduler_is_one_line_and_the_finished_runs_are_kept(config, tmp_path):
    pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                        "pip install '.[cluster]'")
    from bench.synthetic_market import write_market

    _, last = write_market(tmp_path / "market", 40, 2000)
    out = tmp_path / "sweep"
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox"}
    with external_cluster(tmp_path) as (scheduler, address):
        cli = subprocess.Popen([sys.executable, "backtest.py", "--csv",
                                str(tmp_path / "market"), "--from", AFTER_WARMUP, "--to", last,
                                "--sweep", "exit=4,5,6,7,8,9,10,11", "entry=0,0.5,1,1.5,2",
                                "--engine", "dask", "--cluster", address, "--out", str(out)],
                               cwd=PROJECT, env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        try:
            before = _until_progress(cli)
            scheduler.kill()
            stdout, stderr = cli.communicate(timeout=60)
        finally:
            if cli.poll() is None:
                cli.kill()
    lines = before + stderr.splitlines()
    assert cli.returncode == 2, stderr
    stopped = json.loads((out / "sweep.json").read_text())["stopped"]
    assert stopped.startswith(f"lost the Dask scheduler at {address}: ")
    saved = _assert_kept_what_finished(out, 40, stopped)
    assert lines[-1] == f"backtest: {stopped}; {saved} of 40 combinations saved in {out}"
    # Neither distributed's log of the lost connection nor a traceback.
    assert all(line.startswith("INFO backtesting.progress: ") for line in lines[:-1]), lines
    assert stdout == ""


def _sweep_on_external_cluster(config, tmp_path, **cluster
                               ) -> tuple[subprocess.CompletedProcess, str]:
    """A small sweep on an external Dask cluster started with `cluster`'s options into
    tmp_path/s: the finished command and the scheduler's address."""
    pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                        "pip install '.[cluster]'")
    with external_cluster(tmp_path, **cluster) as (_, address):
        return run_cli(config, *_small_sweep(tmp_path), "--engine", "dask", "--cluster",
                       address, "--out", str(tmp_path / "s")), address


def test_a_scheduler_without_the_project_fails_each_combination_in_one_line(config, tmp_path):
    done, _ = _sweep_on_external_cluster(config, tmp_path, scheduler_imports_project=False)
    assert done.returncode == 1
    said = [line for line in done.stderr.splitlines() if not line.startswith("INFO ")]
    assert sorted(line.split(" failed: ")[0] for line in said) == [
        f"backtest: combination entry={entry}, exit={exit_}"
        for entry in (1.0, 2.0) for exit_ in (5.0, 8.0)]
    assert all(line.endswith(
        " failed: RuntimeError: Error during deserialization of the task graph: the scheduler "
        "cannot import this project's code; start it, as each worker, with the project's "
        "folder on PYTHONPATH (docs/backtesting.md)") for line in said), said


def test_workers_without_the_project_are_one_line_exit_2_and_no_folder(config, tmp_path):
    done, address = _sweep_on_external_cluster(config, tmp_path, worker_imports_project=False)
    assert done.returncode == 2
    assert done.stderr == (
        f"backtest: the Dask cluster at {address} cannot take the sweep: ModuleNotFoundError("
        f"\"No module named 'backtesting'\"); start each worker with the project's folder on "
        f"PYTHONPATH (docs/backtesting.md)\n")
    assert not (tmp_path / "s").exists()
