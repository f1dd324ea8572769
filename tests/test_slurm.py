"""``qlaunch rapidfire`` on a real one-node Slurm runs a small real flow (pw.x) to COMPLETED.

The fixture starts munged, slurmctld and slurmd under a temporary folder; the config files
are the ones ``pyacemaker fw-config`` writes (``my_qadapter.yaml``: SLURM CommonAdapter
running ``rlaunch … rapidfire``), exactly as docs/scale-out.md tells users.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ase.build import bulk
from ase.io import write
from jobflow import Flow

from pyacemaker.cli import main
from pyacemaker.cluster.config import job_store_from_file
from pyacemaker.cluster.submit import submit_flow
from pyacemaker.dft import QESettings
from pyacemaker.dft.jobs import LabelMaker, PwStaticMaker
from pyacemaker.dft.oracle import OracleSpec

from .services import FireWorksSite, Slurm

SI = {"pseudopotentials": {"Si": "Si.pbe-rrkj.UPF"}, "ecutwfc": 20.0, "kspacing": 0.8}


def test_qlaunch_rapidfire_runs_a_flow_on_slurm(
    fireworks_site: FireWorksSite, slurm_cluster: Slurm, tmp_path: Path, capsys: object
) -> None:
    site = fireworks_site
    # the same files again, with the partition: what `pyacemaker fw-config` gives a user
    mongo = site.mongo
    assert (
        main(
            [
                "fw-config",
                str(site.folder),
                "--host",
                mongo.host,
                "--port",
                str(mongo.port),
                "--database",
                site.database,
                "--partition",
                "debug",
            ]
        )
        == 0
    )
    cells = [bulk("Si", "diamond", a=a) for a in (5.40, 5.47)]
    write(tmp_path / "cells.xyz", cells)
    qe = QESettings.model_validate(SI)
    label = LabelMaker(name="dft_train", oracle=OracleSpec(engine="qe", qe=qe)).make(
        str(tmp_path / "cells.xyz"), str(tmp_path / "dft")
    )
    static = PwStaticMaker(settings=qe).make(label.output.dataset, str(tmp_path / "static"))
    submit_flow(Flow([label, static], name="slurm-flow"), site.launchpad_file)

    launches = site.folder / "launches"
    launches.mkdir(exist_ok=True)
    qlaunch = [str(Path(site.env["PATH"].split(":")[0]) / "qlaunch"), "-c", str(site.folder)]
    done = subprocess.run(
        [*qlaunch, "rapidfire", "-m", "1", "--sleep", "3", "--timeout", "240"],
        cwd=launches,
        env={**slurm_cluster.env, **site.env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site.wait_workflows(timeout=120)

    scripts = list(launches.rglob("FW_submit.script"))
    assert scripts and "#SBATCH --partition=debug" in scripts[0].read_text()
    assert all(Path(d["launch_dir"]).is_relative_to(launches) for d in site.db()["launches"].find())
    store = job_store_from_file(site.folder / "jobflow.yaml")
    store.connect()
    labelled = store.get_output(label.uuid)
    final = store.get_output(static.uuid)
    assert labelled["n_labelled"] == 2 and final["state"] == "successful"
    assert (
        abs(final["energy"] - labelled["calculations"][0]["energy"]) < 1e-4
    )  # same cell, same pw.x
