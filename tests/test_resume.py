"""``pyacemaker run`` killed (SIGKILL) inside a labelling stage, then started again.

The resumed run continues from its store: finished stages are not rerun, the
labelling stage reuses its finished calculations from their checkpoints (each
structure is computed exactly once, counted by the oracle itself), and every job
output of the run is in the store at the end.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ase.io import read

from pyacemaker.config.errors import ConfigError
from pyacemaker.runner import run
from pyacemaker.store import RunBook, RunRecord, completed_uuids, job_state_table, job_store

from .conftest import MINI_EMT, write_config
from .counting import QUICK_EMT as QUICK
from .counting import structure_key

ROOT = Path(__file__).resolve().parents[1]
KILL_AFTER = 3  # finished calculations of dft_train before the kill


def run_env() -> dict[str, str]:
    """Environment of a ``pyacemaker run`` subprocess that can import this repository."""
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def kill_when(config: Path, store: Path, ready: Callable[[], bool], what: str) -> None:
    """Start ``pyacemaker run``, SIGKILL its process group as soon as ``ready()`` holds."""
    cmd = [sys.executable, "-m", "pyacemaker.cli", "run", str(config), "--store", str(store)]
    proc = subprocess.Popen(cmd, env=run_env(), start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.02)
    pytest.fail(f"the run ended (code {proc.poll()}) before {what}")


def kill_inside_labelling(config: Path, store: Path, calculations: Path) -> int:
    """Kill a run once ``KILL_AFTER`` checkpoints exist; return how many did."""
    kill_when(
        config, store, lambda: len(list(calculations.glob("calc_*.label.json"))) >= KILL_AFTER,
        f"{KILL_AFTER} calculations finished",
    )  # fmt: skip
    return len(list(calculations.glob("calc_*.label.json")))


@pytest.mark.slow
def test_killed_run_resumes_without_repeating_calculations(tmp_path: Path) -> None:
    log = tmp_path / "oracle_calls.log"
    oracle = {"engine": "tests.counting.CountingEMT", "kwargs": {"log": str(log), "delay": 0.2}}
    out, store = tmp_path / "out", tmp_path / "store"
    config = write_config(tmp_path, {**QUICK, "oracle": oracle, "output_dir": str(out)})
    calculations = out / "03_dft_train" / "calculations"

    finished_before = kill_inside_labelling(config, store, calculations)
    (record,) = RunBook(store).all()
    assert record.state == "RUNNING"  # killed: nobody could record an end
    assert not (out / "03_dft_train" / "labelled.xyz").exists()  # killed inside the stage

    summary = run(config, store_path=store)  # the same command again: resumes

    (resumed,) = RunBook(store).all()
    assert resumed.run_id == record.run_id and resumed.state == "COMPLETED"
    docs = job_store(store)
    docs.connect()
    train = docs.get_output(next(j.uuid for j in record.jobs if j.name == "dft_train"))
    assert train["n_reused"] >= finished_before >= KILL_AFTER
    assert train["n_labelled"] == MINI_EMT["sampling"]["n_train"]
    # Each training structure went through the oracle exactly once over both processes.
    calls = collections.Counter(log.read_text().split())
    keys = [structure_key(a) for a in read(out / "03_dft_train" / "labelled.xyz", ":")]
    assert [calls[k] for k in keys] == [1] * len(keys)
    # Every job of the run has its output in the store; the potential and report exist.
    assert completed_uuids(docs, [j.uuid for j in record.jobs]) == {j.uuid for j in record.jobs}
    assert Path(summary.potential["yace"]).is_file() and Path(summary.metrics_file).is_file()
    stages = [line for line in job_state_table([resumed], store)[1:] if "  target " not in line]
    assert stages and all(line.endswith("COMPLETED") for line in stages)  # then the targets

    calls_before = log.read_text()
    again = run(config, store_path=store)  # completed: nothing is computed, same summary
    assert again == summary and log.read_text() == calls_before
    changed = {**QUICK, "seed": 4, "oracle": oracle, "output_dir": str(out)}
    changed_config = write_config(tmp_path, changed, name="changed.yaml")
    with pytest.raises(ConfigError, match="completed run 'cu-emt-mini' of a different config"):
        run(changed_config, store_path=store)  # the finished run's files are never overwritten


def test_a_folder_of_another_run_is_not_overwritten(tmp_path: Path) -> None:
    """Files in output_dir belong to the run named in run.json: a different config, or a
    run from another store, is refused before anything is written."""
    out, store = tmp_path / "out", tmp_path / "store"
    config = write_config(tmp_path, {**QUICK, "output_dir": str(out)})
    out.mkdir()
    (out / "run.json").write_text('{"run_id": "elsewhere", "store": "/old/store"}')
    with pytest.raises(ConfigError, match="/old/store"):
        run(config, store_path=store)
    other = RunRecord(
        run_id="r1",
        name="x",
        output_dir=str(out),
        config="c",
        started="t",
        jobs=[],
        plan_hash="another plan",
        flow_json="{}",
    )
    RunBook(store).save(other)
    (out / "run.json").write_text('{"run_id": "r1"}')
    with pytest.raises(ConfigError, match="different config"):
        run(config, store_path=store)
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]  # not even plan.yaml


def test_engine_children_die_with_a_killed_run(tmp_path: Path) -> None:
    """kill -9 of the parent takes a child started through tied_to_parent with it."""
    from pyacemaker.subprocesses import tied_to_parent

    pid_file = tmp_path / "child.pid"
    parent = (
        "import subprocess, sys\n"
        "from pyacemaker.subprocesses import tied_to_parent\n"
        "p = subprocess.Popen(tied_to_parent(['sleep', '60']))\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "p.wait()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent])
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    child = int(pid_file.read_text())
    assert tied_to_parent(["sleep", "1"])[-2:] == ["sleep", "1"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the child outlived its killed parent")


def test_status_shows_a_run_whose_process_is_gone_as_killed() -> None:
    import socket

    from pyacemaker.store import RunRecord, shown_state

    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: its pid names no process now
    record = RunRecord(
        run_id="r", name="n", output_dir="o", config="c", started="t", jobs=[],
        pid=gone.pid, host=socket.gethostname(),
    )
    assert shown_state(record).startswith(f"KILLED (process {gone.pid} is gone")
    alive = record.model_copy(update={"pid": os.getpid()})
    assert shown_state(alive) == "RUNNING"
    assert shown_state(record.model_copy(update={"state": "COMPLETED"})) == "COMPLETED"
