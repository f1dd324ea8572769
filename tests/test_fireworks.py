"""Fault tolerance on a real FireWorks launchpad (secantusdb, or MongoDB when configured).

Real ``rlaunch`` worker processes, real pw.x on two-atom silicon cells: concurrent
workers never run a firework twice; a worker killed with SIGKILL in the middle of a DFT
job is detected as a lost run and rerun, ending with every DFT result exactly once; a
DFT firework that fails is rerun by FireWorks with healed parameters.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from ase.io import write
from jobflow import Flow, Job

from pyacemaker.cluster.config import ServerSettings, job_store_from_file, write_config_files
from pyacemaker.cluster.submit import category_of, submit_flow
from pyacemaker.dft import QESettings
from pyacemaker.dft.jobs import LabelMaker, PwStaticMaker
from pyacemaker.dft.oracle import OracleSpec

from .services import FireWorksSite

SI = {"pseudopotentials": {"Si": "Si.pbe-rrkj.UPF"}, "ecutwfc": 20.0, "kspacing": 0.8}


def si2(seed: int) -> Atoms:
    atoms = bulk("Si", "diamond", a=5.45)
    atoms.rattle(0.03, seed=seed)
    return atoms


def outputs_per_job(site: FireWorksSite) -> collections.Counter[str]:
    """How many output documents the job store holds for each job uuid."""
    return collections.Counter(d["uuid"] for d in site.db()["outputs"].find({}, {"uuid": 1}))


def test_three_concurrent_workers_run_each_firework_once(
    fireworks_site: FireWorksSite, tmp_path: Path
) -> None:
    jobs = []
    for i in range(6):
        write(tmp_path / f"si_{i}.xyz", si2(i))
        maker = PwStaticMaker(settings=QESettings.model_validate(SI))
        jobs.append(maker.make(str(tmp_path / f"si_{i}.xyz"), str(tmp_path / f"calc_{i}")))
    sub = submit_flow(Flow(jobs, name="six-scf"), fireworks_site.launchpad_file)
    workers = [fireworks_site.rlaunch("rapidfire", "--sleep", "1") for _ in range(3)]
    fireworks_site.wait_workflows(timeout=240)
    for worker in workers:
        assert worker.wait(timeout=60) == 0

    db = fireworks_site.db()
    launches = collections.Counter(d["fw_id"] for d in db["launches"].find({}, {"fw_id": 1}))
    assert sorted(launches) == sorted(sub.fw_ids.values()) and set(launches.values()) == {1}
    assert outputs_per_job(fireworks_site) == dict.fromkeys(sub.fw_ids, 1)
    for i in range(6):  # one pw.x calculation per structure, nobody started a second one
        assert [p.name for p in (tmp_path / f"calc_{i}").iterdir()] == ["attempt_1"]
    store = job_store_from_file(fireworks_site.folder / "jobflow.yaml")
    store.connect()
    energies = [store.get_output(u)["energy"] for u in sub.fw_ids]
    # about -7.9 Ry (-108 eV) per atom with this pseudopotential; small rattles barely change it
    assert all(-115 < e / 2 < -100 for e in energies) and max(energies) - min(energies) < 0.1


def _draw_ids(uri: str, database: str, count: int) -> list[int]:
    """``count`` ids from FireWorks' counter, drawn the way ``get_new_launch_id`` draws them."""
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri)
    counter = client[database]["fw_id_assigner"]
    inc = {"$inc": {"next_launch_id": 1}}
    ids = [counter.find_one_and_update({}, inc)["next_launch_id"] for _ in range(count)]
    client.close()
    return ids


def test_concurrent_clients_never_draw_the_same_launch_id(fireworks_site: FireWorksSite) -> None:
    # plain secantusdb 0.7.0b3 returned 556-720 distinct ids of 900 here (a stale pre-image):
    # the launchpad server must give each of 3 concurrent clients ids nobody else got
    from concurrent.futures import ProcessPoolExecutor

    site = fireworks_site
    with ProcessPoolExecutor(3) as pool:
        draws = list(pool.map(_draw_ids, [site.mongo.uri] * 3, [site.database] * 3, [300] * 3))
    ids = [i for draw in draws for i in draw]
    assert len(ids) == 900 and len(set(ids)) == 900


def kill_during_calculation(site: FireWorksSite, calculations: Path) -> None:
    """Start a worker and SIGKILL it (and its pw.x) once a first calculation has finished."""
    worker = site.rlaunch("rapidfire", "--sleep", "1")
    deadline = time.monotonic() + 180
    while not list(calculations.glob("calc_*.label.json")):
        if time.monotonic() > deadline or worker.poll() is not None:
            pytest.fail("the worker did not reach the second calculation")
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def test_killed_worker_is_detected_and_rerun_without_repeating_dft(
    fireworks_site: FireWorksSite, tmp_path: Path
) -> None:
    write(tmp_path / "train.xyz", [si2(seed) for seed in range(3)])
    oracle = OracleSpec(engine="qe", qe=QESettings.model_validate(SI))
    job = LabelMaker(name="dft_train", oracle=oracle).make(
        str(tmp_path / "train.xyz"), str(tmp_path / "dft")
    )
    sub = submit_flow(Flow([job], name="kill-me"), fireworks_site.launchpad_file)
    calculations = tmp_path / "dft" / "calculations"
    kill_during_calculation(fireworks_site, calculations)
    finished_at_kill = len(list(calculations.glob("calc_*.label.json")))

    lpad = fireworks_site.launchpad()
    (fw_id,) = sub.fw_ids.values()
    assert lpad.get_fw_dict_by_id(fw_id)["state"] == "RUNNING"  # nobody told FireWorks
    time.sleep(2)
    lost_launches, lost_fws, _ = lpad.detect_lostruns(expiration_secs=1, rerun=True)
    assert lost_fws == [fw_id] and len(lost_launches) == 1
    assert lpad.get_fw_dict_by_id(fw_id)["state"] == "READY"

    fireworks_site.rlaunch("rapidfire", "--sleep", "1").wait(timeout=240)
    fireworks_site.wait_workflows(timeout=60)
    assert outputs_per_job(fireworks_site) == {job.uuid: 1}
    doc = job_store_from_file(fireworks_site.folder / "jobflow.yaml")
    doc.connect()
    label = doc.get_output(job.uuid)
    assert label["n_labelled"] == 3 and label["n_failed"] == 0
    assert label["n_reused"] >= finished_at_kill >= 1  # finished pw.x runs were not repeated
    keys = [c["key"] for c in label["calculations"]]
    assert len(set(keys)) == 3 and all(
        c["task"]["state"] == "successful" for c in label["calculations"]
    )


def test_failed_dft_firework_is_rerun_with_healed_parameters(
    fireworks_site: FireWorksSite, tmp_path: Path
) -> None:
    """A 0.05 s walltime: the job's own ladder (walltime ×2, twice) runs out, the job replaces
    itself (a new firework) starting from the escalated walltime, which finally suffices."""
    write(tmp_path / "si.xyz", si2(0))
    settings = QESettings.model_validate({**SI, "walltime": 0.05})
    job: Job = PwStaticMaker(settings=settings, max_job_attempts=4).make(
        str(tmp_path / "si.xyz"), str(tmp_path / "calc")
    )
    submit_flow(Flow([job], name="heal"), fireworks_site.launchpad_file)
    fireworks_site.rlaunch("rapidfire", "--sleep", "1").wait(timeout=240)
    fireworks_site.wait_workflows(timeout=60)

    fws = list(fireworks_site.db()["fireworks"].find({}, {"name": 1, "state": 1, "spec": 1}))
    assert len(fws) >= 2 and {fw["state"] for fw in fws} == {"COMPLETED"}
    assert {fw["spec"]["_category"] for fw in fws} == {category_of("qe static")} == {"dft"}
    store = job_store_from_file(fireworks_site.folder / "jobflow.yaml")
    store.connect()
    first = store.get_output(job.uuid, which="first")
    final = store.get_output(job.uuid, which="last")
    assert final["state"] == "successful" and final["energy"] < 0
    assert final["settings"]["walltime"] > 0.2  # healed: ×2 per kill, past job 1's ladder
    assert len(list((tmp_path / "calc").glob("attempt_*"))) == len(fws)
    assert first is None or first != final


def test_fw_config_templates_load_and_match_what_fw_config_writes(tmp_path: Path) -> None:
    from fireworks import FWorker, LaunchPad
    from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter

    templates = Path(__file__).resolve().parents[1] / "fw_config"
    for name, path in write_config_files(tmp_path, ServerSettings()).items():
        assert (
            yaml.safe_load((templates / name).read_text()).keys()
            == yaml.safe_load(path.read_text()).keys()
        ), name
    assert LaunchPad.from_file(str(templates / "my_launchpad.yaml")).name == "pyacemaker"
    assert FWorker.from_file(str(templates / "my_fworker_gpu.yaml")).category == ["train"]
    adapter = CommonAdapter.from_file(str(templates / "my_qadapter.yaml"))
    script = adapter.get_script_str(str(tmp_path))
    assert "#SBATCH --nodes=1" in script and "rlaunch -c /path/to/fw_config rapidfire" in script
    store = job_store_from_file(templates / "jobflow.yaml")
    assert store.docs_store.collection_name == "outputs"
    assert type(store.additional_stores["data"]).__name__ == "GridFSStore"
