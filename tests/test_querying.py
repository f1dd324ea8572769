"""The queries of docs/querying.md against a real server, after a real pipeline run.

One run of the quick EMT pipeline is submitted with ``pyacemaker submit`` and run by two
workers split by category (CPU: DFT and light stages; GPU: teacher and ACE fits), plus a
small pw.x labelling flow with one structure pw.x must reject (a failure on record).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write
from jobflow import Flow

from pyacemaker.cli import main
from pyacemaker.cluster.query import dft_calculations, failed_calculations, fit_metrics, lineage
from pyacemaker.cluster.submit import submit_flow
from pyacemaker.dft import QESettings
from pyacemaker.dft.jobs import LabelMaker
from pyacemaker.dft.oracle import OracleSpec

from .conftest import write_config
from .counting import QUICK_EMT
from .services import Mongo, make_site, stop_workers

pytestmark = pytest.mark.slow  # one quick pipeline run through FireWorks (about 1-2 min)

SI = {"pseudopotentials": {"Si": "Si.pbe-rrkj.UPF"}, "ecutwfc": 20.0, "kspacing": 0.8}


def failing_dft_flow(folder: Path) -> Flow:
    """pw.x labelling of a good Si2 cell and of one whose atoms overlap (rejected)."""
    good = bulk("Si", "diamond", a=5.45)
    bad = Atoms("Si2", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[5, 5, 5], pbc=True)
    write(folder / "cells.xyz", [good, bad])
    oracle = OracleSpec(engine="qe", qe=QESettings.model_validate(SI))
    job = LabelMaker(name="dft_extra", oracle=oracle).make(str(folder / "cells.xyz"), str(folder))
    return Flow([job], name="dft-with-a-failure")


@pytest.fixture(scope="module")
def run(mongo_server: Mongo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("query")
    site = make_site(mongo_server, root / "fw_config")
    config = write_config(root, {**QUICK_EMT, "output_dir": str(root / "out")})
    assert main(["submit", str(config), "--launchpad", str(site.launchpad_file)]) == 0
    extra = submit_flow(failing_dft_flow(root), site.launchpad_file)
    try:
        for fworker in ("my_fworker_cpu", "my_fworker_gpu"):
            site.rlaunch("rapidfire", "--nlaunches", "infinite", "--sleep", "1", fworker=fworker)
        site.wait_workflows(timeout=900)
    finally:
        stop_workers(site)
    wf = site.db()["workflows"].find_one({"name": QUICK_EMT["name"]})
    yield {"site": site, "run_id": wf["metadata"]["run_id"], "extra": extra.run_id}


def test_jobs_went_to_the_workers_of_their_category(run: dict[str, Any]) -> None:
    db = run["site"].db()
    names = {fw["fw_id"]: fw["name"] for fw in db["fireworks"].find({}, {"fw_id": 1, "name": 1})}
    worker_of = {names[d["fw_id"]]: d["fworker"]["name"] for d in db["launches"].find()}
    assert (
        worker_of["dft_train"] == worker_of["dft_eos"] == worker_of["generate"] == "my_fworker_cpu"
    )
    assert worker_of["teacher"] == worker_of["ace_delta"] == "my_fworker_gpu"


def test_status_lists_every_firework_of_the_launchpad(
    run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--launchpad", str(run["site"].launchpad_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith(f"{QUICK_EMT['name']} [COMPLETED] run {run['run_id']}") for line in lines
    )
    fw_lines = [line for line in lines if line.startswith("  ")]
    n_fireworks = run["site"].db()["fireworks"].count_documents({})  # the run's and the extra one
    assert len(fw_lines) == n_fireworks and all("COMPLETED" in line for line in fw_lines)
    assert any("dft_train" in line and line.rstrip().endswith("dft") for line in fw_lines)


def test_all_dft_calculations_of_a_run(run: dict[str, Any]) -> None:
    calcs = dft_calculations(run["site"].db(), run["run_id"])
    sampling = QUICK_EMT["sampling"]
    per_stage = {
        s: sum(c["stage"] == s for c in calcs) for s in ("dft_train", "dft_test", "dft_eos")
    }
    assert per_stage == {
        "dft_train": sampling["n_train"],
        "dft_test": sampling["n_test"],
        "dft_eos": 7,
    }
    assert all(c["state"] == "successful" and c["energy"] is not None for c in calcs)
    assert len({c["key"] for c in calcs}) == len(calcs)


def test_failed_calculations_and_why(run: dict[str, Any]) -> None:
    db = run["site"].db()
    assert failed_calculations(db, run["run_id"]) == []
    (failed,) = failed_calculations(db, run["extra"])
    assert failed["stage"] == "dft_extra" and failed["index"] == 1
    assert "StructureCheckError" in failed["error"] and "0.3" in failed["error"]
    (good,) = [c for c in dft_calculations(db, run["extra"]) if c["state"] == "successful"]
    assert good["task"]["state"] == "successful" and good["task"]["energy"] == good["energy"]


def test_lineage_of_the_potential(run: dict[str, Any]) -> None:
    db = run["site"].db()
    final = db["outputs"].find_one({"hosts": run["run_id"], "name": "active_set"})
    ancestors = [fw["name"] for fw in lineage(db, final["uuid"])]
    assert ancestors[0] == "ace_delta"
    assert set(ancestors) == {
        "ace_delta",
        "ace_base",
        "dft_train",
        "reference",  # isolated-atom energies: the fits' energy zero
        "teacher_label",
        "teacher",
        "committee",
        "teacher_md",
        "select",
        "generate",
    }
    assert all(fw["state"] == "COMPLETED" for fw in lineage(db, final["uuid"]))


def test_fit_metrics_over_the_fits_of_a_run(run: dict[str, Any]) -> None:
    metrics = fit_metrics(run["site"].db(), run["run_id"])
    assert [m["name"] for m in metrics][:2] == ["ace_base", "ace_delta"]
    for m in metrics:
        assert 0 <= m["output"]["rmse_energy_mev_per_atom"] < 1000
        assert m["output"]["n_train"] > 0
