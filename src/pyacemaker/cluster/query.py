"""The MongoDB queries of ``docs/querying.md``, as functions the tests run on a real server.

``db`` is the database that holds both the jobflow job store (collection ``outputs``,
one document per job output, tagged with the run's flow uuid in ``hosts``) and the
FireWorks launchpad (``fireworks``, ``workflows``, ``launches``).
"""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from pyacemaker.cluster.config import OUTPUTS

Doc = dict[str, Any]
FIT_STAGES = ["ace_base", "ace_delta", "active_set"]


def dft_calculations(db: Database[Doc], run_id: str) -> list[Doc]:
    """Every DFT calculation record of a run (stage, index, state, energy, error, pw.x task)."""
    pipeline: list[Doc] = [
        {"$match": {"hosts": run_id, "name": {"$regex": "^dft_"}}},
        {"$unwind": "$output.calculations"},
        {"$project": {"_id": 0, "stage": "$name", "calculation": "$output.calculations"}},
    ]
    return [
        {"stage": d["stage"], **d["calculation"]} for d in db[OUTPUTS].aggregate(pipeline)
    ]


def failed_calculations(db: Database[Doc], run_id: str) -> list[Doc]:
    """The calculations of a run that failed, with the engine's error (why)."""
    return [c for c in dft_calculations(db, run_id) if c["state"] == "failed"]


def fit_metrics(db: Database[Doc], run_id: str) -> list[Doc]:
    """Training-set RMSEs of each ACE fit of a run, in the order the fits finished."""
    fields = ["output.rmse_energy_mev_per_atom", "output.rmse_forces_ev_per_a", "output.n_train"]
    docs = db[OUTPUTS].find(
        {"hosts": run_id, "name": {"$in": FIT_STAGES}},
        {"_id": 0, "name": 1, "completed_at": 1, **dict.fromkeys(fields, 1)},
    )
    return sorted(docs, key=lambda d: str(d["completed_at"]))


def lineage(db: Database[Doc], job_uuid: str) -> list[Doc]:
    """Every firework a job's output depends on (name, state, job uuid), nearest first.

    For a potential: the fits, the teacher and its pool, the DFT stages, the selection
    and the generated structures it came from.
    """
    fw = db["fireworks"].find_one({"spec._tasks.job.uuid": job_uuid}, {"fw_id": 1})
    if fw is None:
        raise KeyError(f"no firework runs job {job_uuid}")
    wf = db["workflows"].find_one({"nodes": fw["fw_id"]}, {"links": 1})
    assert wf is not None  # a firework always belongs to a workflow
    parents: dict[int, list[int]] = {}
    for parent, children in wf["links"].items():
        for child in children:
            parents.setdefault(int(child), []).append(int(parent))
    order, todo = [], list(parents.get(fw["fw_id"], []))
    while todo:
        current = todo.pop(0)
        if current not in order:
            order.append(current)
            todo += parents.get(current, [])
    return [_firework_summary(db, fw_id) for fw_id in order]


def _firework_summary(db: Database[Doc], fw_id: int) -> Doc:
    fw = db["fireworks"].find_one({"fw_id": fw_id}, {"name": 1, "state": 1, "spec._tasks": 1})
    assert fw is not None
    return {
        "fw_id": fw_id,
        "name": fw["name"],
        "state": fw["state"],
        "job_uuid": fw["spec"]["_tasks"][0]["job"]["uuid"],
    }
