"""``pyacemaker dashboard`` in a real browser: a finished run and one still running.

The finished run is the session's miniature EMT pipeline (``emt_run``). The running
run is written into a copy of its store the way the pipeline writes it: a RUNNING run
record, the finished stages' outputs, and the active-learning job's output documents
(one per iteration, same uuid, growing index) plus the exploration MD's ``md_run.json``.
The dashboard runs as ``pyacemaker dashboard`` in a subprocess on a free loopback port;
headless Chromium keeps the page open over the DevTools protocol while a second
iteration is added to the store, and the page shows it without being reloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fireworks import LaunchPad
from jobflow import Flow
from jobflow.core.schemas import JobStoreDocument

from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.cluster.config import OUTPUTS
from pyacemaker.cluster.submit import submit_flow
from pyacemaker.dashboard import extract
from pyacemaker.dashboard.app import render_run
from pyacemaker.dashboard.source import EmbeddedSource, LaunchpadSource, display_uri
from pyacemaker.dynamics.lammps_md import RUN_RECORD
from pyacemaker.dynamics.schemas import MDRunDoc
from pyacemaker.flows.active_learning_schemas import (
    ActiveLearningDoc,
    ErrorPair,
    GammaStats,
    IterationRecord,
)
from pyacemaker.flows.report import iteration_points
from pyacemaker.store import JobEntry, RunBook, RunRecord, job_store, now
from pyacemaker.validation.html import iterations_section

from .browser import chromium
from .services import Mongo, free_port, make_site, stop, wait_for

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC)}  # the dashboard subprocess imports this checkout
LOOP = "active_learning"


def _record(i: int, potential: str) -> IterationRecord:
    """Iteration ``i`` of an exploration: halted on γ, two DFT cut-outs, accepted."""
    return IterationRecord(
        iteration=i, temperature=300.0 + 300 * i, start_step=100 * i, end_step=100 * i + 90,
        halted=True, gamma=GammaStats(n_checks=9, mean=1.5, p95=4.0, max=6.0 + i),
        n_frames=4, n_selected=2, n_dft=2, n_failed=0, parent=potential, potential=potential,
        train=ErrorPair(energy_rmse_mev=2.0, force_rmse=0.05),
        test=ErrorPair(energy_rmse_mev=5.0 - i, force_rmse=0.12 - 0.02 * i), accepted=True,
        wall_time_s=3.0,
    )  # fmt: skip


def _md_run(folder: Path, i: int, potential: str) -> None:
    """The ``md_run.json`` an exploration run leaves: a γ trace that ends in a halt."""
    steps = list(range(100 * i + 10, 100 * i + 100, 10))
    folder.mkdir(parents=True)
    doc = MDRunDoc(
        start_step=100 * i, end_step=steps[-1], target_step=1000, halted=True,
        check_steps=steps, max_gamma=[1.0 + 0.6 * k for k in range(len(steps))],
        n_collected=4, frames="frames.xyz", state="state.xyz", calm_state="calm.xyz",
        temperature_mean=300.0, wall_time_s=2.0, potential=Path(potential), seed=i,
    )  # fmt: skip
    (folder / RUN_RECORD).write_text(doc.model_dump_json())


class RunningRun:
    """A run in the copied store that is exploring: add one iteration at a time."""

    def __init__(self, store: Path, finished: RunRecord, out: Path) -> None:
        self.folder, self.store, self.out = store, job_store(store), out
        self.store.connect()
        self.run_id, self.loop_uuid = str(uuid.uuid4()), str(uuid.uuid4())
        keep = finished.jobs[: [j.name for j in finished.jobs].index("active_set") + 1]
        new_uuid = {j.uuid: str(uuid.uuid4()) for j in keep}
        jobs = [JobEntry(uuid=new_uuid[j.uuid], name=j.name,
                         parents=[new_uuid[p] for p in j.parents]) for j in keep]  # fmt: skip
        jobs.append(JobEntry(uuid=self.loop_uuid, name=LOOP, parents=[jobs[-1].uuid]))
        out.mkdir(parents=True)
        shutil.copy(Path(finished.output_dir) / "plan.yaml", out / "plan.yaml")
        for job in keep:
            doc = self.store.query_one({"uuid": job.uuid, "index": 1})
            assert doc is not None
            self._write(new_uuid[job.uuid], 1, job.name, doc["output"])
            if job.name == "active_set":
                self.potential = AcePotentialDoc.model_validate(doc["output"])
        RunBook(store).save(RunRecord(
            run_id=self.run_id, name="cu-exploring", output_dir=str(out), config="config.yaml",
            started=now(), jobs=jobs,
        ))  # fmt: skip
        self.records: list[IterationRecord] = []

    def _write(self, job_uuid: str, index: int, name: str, output: Any) -> None:
        doc = JobStoreDocument(
            uuid=job_uuid, index=index, output=output, completed_at=datetime.now().isoformat(),
            metadata={}, hosts=[self.run_id], name=name,
        )  # fmt: skip
        self.store.update(doc, key=["uuid", "index"])

    def add_iteration(self) -> None:
        """The loop's next output, as the replacing job stores it (same uuid, index + 1)."""
        i = len(self.records)
        yaml_path = str(self.potential.yaml_path)
        _md_run(self.out / "09b_explore" / f"iter_{i:03d}" / "md_0", i, yaml_path)
        self.records.append(_record(i, yaml_path))
        doc = ActiveLearningDoc(
            potential=self.potential, iterations=self.records, n_dft=2 * len(self.records),
            stop_reason=None, history="history.xyz", state="state.xyz",
        )  # fmt: skip
        self._write(self.loop_uuid, i + 1, LOOP, doc.model_dump(mode="json"))


def _contents(store: Path) -> str:
    """Every document of the store's runs and outputs collections, as one sorted string.

    Compared logically: SQLite readers create and checkpoint ``-wal``/``-shm`` files,
    which is not a change of what the store holds.
    """
    docs: list[str] = []
    for collection in (RunBook(store).store, job_store(store).docs_store):
        collection.connect()
        docs += [json.dumps(d, sort_keys=True, default=str) for d in collection.query({})]
    return "\n".join(sorted(docs))


@pytest.fixture
def dashboard(
    emt_run: dict[str, Any], tmp_path: Path
) -> Iterator[tuple[str, RunningRun, RunRecord]]:
    """A store with the finished run and a running one, served by ``pyacemaker dashboard``."""
    store = tmp_path / "store"
    shutil.copytree(emt_run["store"], store)
    finished = RunBook(store).all()[0]
    running = RunningRun(store, finished, tmp_path / "running")
    running.add_iteration()
    port, log = free_port(), tmp_path / "dashboard.log"
    cmd = [sys.executable, "-m", "pyacemaker.cli", "dashboard", "--store", str(store),
           "--port", str(port), "--interval", "1"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=ENV)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(url) is not None, "pyacemaker dashboard", [log], [proc])
        yield url, running, finished
    finally:
        stop([proc])


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
            return body
    except OSError:
        return None


def _points(graph: str) -> str:
    """JS: how many data marks (bars, markers) plotly drew as SVG in a graph."""
    marks = f"#{graph} .main-svg .point, #{graph} .main-svg .js-line"
    return f"document.querySelectorAll('{marks}').length"


def test_dashboard_draws_a_finished_run_and_follows_a_running_one(
    dashboard: tuple[str, RunningRun, RunRecord], tmp_path: Path
) -> None:
    url, running, finished = dashboard
    with chromium(f"{url}/?run={finished.run_id}", tmp_path / "chrome-1") as page:
        page.wait("document.querySelector('#run-state')?.innerText.includes('COMPLETED')")
        for graph in ("g-stages", "g-ledger", "g-committee", "g-parity"):
            assert page.wait(_points(graph)) > 0, graph
        ledger = page.evaluate("document.querySelector('#ledger-table').innerText")
        assert "training" in ledger and "validation reference" in ledger  # the run's own ledger
        anchors = "[...document.querySelectorAll('#run-files a')]"
        links = dict(page.evaluate(f"{anchors}.map(a => [a.innerText, a.href])"))
        assert {"potential.yace", "potential.yaml", "potential.asi", "report"} <= set(links)
        report = _get(links["report"])
        assert report is not None and b"<html" in report
        page.screenshot(tmp_path / "finished.png")
    before = _contents(running.folder)
    with chromium(f"{url}/?run={running.run_id}", tmp_path / "chrome-2") as page:
        rows = "document.querySelectorAll('#iterations-table tr').length"
        page.wait(f"{rows} === 2")  # header + iteration 0
        assert page.wait(_points("g-gamma")) > 0
        assert "RUNNING" in page.evaluate("document.querySelector('#stages-table').innerText")
        page.evaluate("window.keptAlive = 'same page'")
        assert _contents(running.folder) == before  # the dashboard only read the store
        running.add_iteration()
        page.wait(f"{rows} === 3", timeout=30)  # iteration 1 arrived by polling ...
        assert page.evaluate("window.keptAlive") == "same page"  # ... without a reload
        text = page.evaluate("document.querySelector('#g-iterations').innerText")
        assert "2 iteration(s)" in text
        assert (page.screenshot(tmp_path / "running.png")).stat().st_size > 20_000


def test_store_that_does_not_exist_is_refused_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    cmd = [sys.executable, "-m", "pyacemaker.cli", "dashboard", "--store", str(missing)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ENV)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: --store: {missing}: no pyacemaker store there")
    assert not missing.exists()  # nothing was created
    with pytest.raises(FileNotFoundError):
        EmbeddedSource(missing)


def test_a_mongodb_address_is_shown_without_its_password() -> None:
    plain = LaunchPad(host="db.example.org", port=27018, name="runs", username="ann",
                      password="s3cret")  # fmt: skip
    uri = LaunchPad(host="mongodb://ann:s3cret@a.example.org,b.example.org/runs", name="runs",
                    uri_mode=True)  # fmt: skip
    assert display_uri(plain) == "mongodb://ann:***@db.example.org:27018/runs"
    assert display_uri(uri) == "mongodb://ann:***@a.example.org,b.example.org/runs"


def test_the_report_keeps_every_iteration(emt_run: dict[str, Any], tmp_path: Path) -> None:
    store = job_store(emt_run["store"])
    store.connect()
    found = store.query_one({"name": "active_set"})
    assert found is not None
    potential = AcePotentialDoc.model_validate(found["output"])
    history = shutil.copy(emt_run["out"] / "03_dft_train" / "labelled.xyz", tmp_path / "h.xyz")
    records = [_record(i, str(potential.yaml_path)) for i in range(3)]
    doc = ActiveLearningDoc(potential=potential, iterations=records, n_dft=6,
                            stop_reason="3 iterations done", history=str(history), state="s.xyz")
    points = iteration_points(doc, dft_before=19)
    # the 8 labelled structures end with the 3 x 2 the loop added: 2 before, then 4, 6, 8
    assert [p.n_train for p in points] == [4, 6, 8]
    assert [p.dft_total for p in points] == [21, 23, 25]
    assert [p.test_force_rmse for p in points] == [r.test.force_rmse for r in records if r.test]
    section = iterations_section(points, doc.stop_reason)
    assert section.count("<tr>") == 1 + 3 and section.count('<img src="data:image/png') == 1
    assert "stopped: 3 iterations done" in section


def test_a_run_on_mongodb_gets_the_same_view(
    emt_run: dict[str, Any], mongo_server: Mongo, tmp_path: Path
) -> None:
    """The finished run submitted to a launchpad, its outputs in the job store's collection."""
    finished = RunBook(emt_run["store"]).all()[0]
    site = make_site(mongo_server, tmp_path / "fw_config")
    assert finished.flow_json is not None
    flow = Flow.from_dict(json.loads(finished.flow_json))
    submission = submit_flow(flow, site.launchpad_file)
    local = job_store(emt_run["store"])
    local.connect()
    outputs = [{k: v for k, v in d.items() if k != "_id"} for d in local.query({})]
    site.db()[OUTPUTS].insert_many([{**d, "hosts": [submission.run_id]} for d in outputs])
    mongo, embedded = LaunchpadSource(site.launchpad_file), EmbeddedSource(emt_run["store"])
    assert [r.run_id for r in mongo.runs()] == [finished.run_id]
    assert mongo.where.startswith(f"launchpad mongodb://{mongo_server.host}:")
    on_mongo, on_disk = mongo.view(finished.run_id), embedded.view(finished.run_id)
    assert on_mongo is not None and on_disk is not None
    assert sorted(s.name for s in on_mongo.stages) == sorted(s.name for s in on_disk.stages)
    assert on_mongo.output_dir == on_disk.output_dir
    for read in (extract.dft_ledger, extract.failures, extract.pool, extract.files):
        assert read(on_mongo) == read(on_disk), read.__name__
    assert len(render_run(on_mongo)) == len(render_run(on_disk))
