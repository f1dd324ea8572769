"""``pyacemaker submit``: the run's flow as a FireWorks workflow on a launchpad.

Every job gets a FireWorks ``_category`` from its name, so fworkers can split the work:
DFT (``dft_*`` labelling, ``qe *`` calculations and their reruns) on CPU partitions,
the teacher and the ACE fits on GPU ones, the light stages anywhere on CPU.
"""

from __future__ import annotations

import logging
from pathlib import Path

from jobflow import Flow
from jobflow.managers.fireworks import flow_to_workflow
from pydantic import BaseModel

from pyacemaker.cluster.config import load_launchpad
from pyacemaker.cluster.firetask import convert_tasks

logger = logging.getLogger("pyacemaker")

DFT_PREFIXES = ("dft", "qe ")
TRAIN_PREFIXES = ("teacher", "ace_")


def category_of(job_name: str) -> str:
    """FireWorks category of a job: ``dft``, ``train`` or ``cpu`` (everything else)."""
    if job_name.startswith(DFT_PREFIXES):
        return "dft"
    if job_name.startswith(TRAIN_PREFIXES):
        return "train"
    return "cpu"


def route(flow: Flow) -> Flow:
    """Tag every job with its category (kept by replacement jobs: pass_manager_config)."""
    for job in flow.jobs:
        category = category_of(job.name or "")
        job.update_config({"manager_config": {"_category": category}}, dynamic=True)
    return flow


class Submission(BaseModel):
    """What ``pyacemaker submit`` put on the launchpad."""

    run_id: str
    name: str
    fw_ids: dict[str, int]  # job uuid -> firework id


def submit_flow(flow: Flow, launchpad: str | Path | None = None) -> Submission:
    """Add ``flow`` (routed) to the launchpad; workers take the job store from jobflow.yaml.

    No store is passed on purpose: the job store is the one configured on the machine that
    runs each job (``$JOBFLOW_CONFIG_FILE``), not serialised into the workflow.
    """
    lpad = load_launchpad(launchpad)
    workflow = convert_tasks(flow_to_workflow(route(flow), metadata={"run_id": flow.uuid}))
    job_of_fw = {fw.fw_id: fw.tasks[0]["job"].uuid for fw in workflow.fws}
    mapping = lpad.add_wf(workflow)  # provisional (negative) id -> id on the launchpad
    fw_ids = {job_of_fw[old]: new for old, new in mapping.items()}
    logger.info("submitted %s: %d fireworks (run %s)", flow.name, len(fw_ids), flow.uuid)
    return Submission(run_id=flow.uuid, name=flow.name, fw_ids=fw_ids)
