"""Running a config end to end on this machine, on the embedded store.

Both chains (a crystal's plan, a reaction's config) run through the same machinery: the
run is recorded in the store's run book (``pyacemaker status``, the dashboard), a
failure names its stage, and the same command after a kill or a failure resumes from the
store. Which chain a config gets is decided in :func:`pyacemaker.flows.distill.chain_maker`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, cast

from jobflow import Flow, JobStore, run_locally
from monty.json import MontyEncoder
from pydantic import BaseModel

from pyacemaker.config.errors import ConfigError, load_config
from pyacemaker.config.plan import Plan, expand
from pyacemaker.config.reaction import ReactionRunConfig, load_reaction_config
from pyacemaker.failures import capture_failures, first_failure, job_folders
from pyacemaker.flows.distill import chain_maker
from pyacemaker.flows.reaction import ReactionSummary
from pyacemaker.flows.report import RunSummary
from pyacemaker.store import (
    RUN_MARKER,
    STORE_ENV,
    JobEntry,
    RunBook,
    RunRecord,
    completed_uuids,
    job_store,
    now,
)
from pyacemaker.surrogate.foundation import check_foundation
from pyacemaker.surrogate.mace import FoundationModelError

logger = logging.getLogger("pyacemaker")


def plan_from_file(config: str | Path) -> Plan:
    """Load, validate and expand a config file (raises ConfigError on any problem)."""
    return expand(load_config(config))


def checked_plan(config: str | Path) -> Plan:
    """The expanded plan, after checking what must hold before any DFT is spent."""
    plan = plan_from_file(config)
    try:  # a foundation that cannot be loaded stops the run now
        check_foundation(plan.teacher.foundation)
    except FoundationModelError as exc:
        raise ConfigError([str(exc)]) from None
    return plan


def plan_digest(plan: BaseModel) -> str:
    """Fingerprint of every setting of a plan: a run resumes only under the same one."""
    return hashlib.sha256(plan.model_dump_json().encode()).hexdigest()


def output_folder(plan: Plan | ReactionRunConfig) -> Path:
    """Where a run of either chain writes (absolute: store documents point into it)."""
    return (plan.folder if isinstance(plan, ReactionRunConfig) else plan.output_dir).resolve()


def _record(flow: Flow, plan: Plan | ReactionRunConfig, config: str | Path) -> RunRecord:
    graph = flow.graph
    jobs = [
        JobEntry(uuid=j.uuid, name=j.name or "job", parents=list(graph.predecessors(j.uuid)))
        for j in flow.jobs
    ]
    return RunRecord(
        run_id=flow.uuid,
        name=plan.name,
        output_dir=str(output_folder(plan)),
        config=str(Path(config).resolve()),
        started=now(),
        jobs=jobs,
        plan_hash=plan_digest(plan),
        flow_json=json.dumps(flow.as_dict(), cls=MontyEncoder),
    )


def _resume_problem(
    previous: RunRecord | None, plan: Plan | ReactionRunConfig, marker: dict[str, str]
) -> str | None:
    """Why the run recorded in ``output_dir`` cannot be resumed (None: it can)."""
    where = output_folder(plan)
    if previous is None:
        return (
            f"{where} holds a run recorded in the store {marker.get('store')}, not in this "
            f"one: run with that store (--store / ${STORE_ENV}) to resume it, or choose "
            "another output_dir"
        )
    if previous.plan_hash != plan_digest(plan):
        kind = "completed" if previous.state == "COMPLETED" else "unfinished"
        return (
            f"{where} holds the {kind} run '{previous.name}' of a different "
            "config, and the store points at its files: choose another output_dir (or delete "
            "this folder), or run that config to resume it"
        )
    return None


def _resume_or_start(
    plan: Plan | ReactionRunConfig, config: str | Path, book: RunBook
) -> tuple[RunRecord, Flow]:
    """The run recorded in ``output_dir`` (same flow, same uuids), or a new one.

    Refuses (ConfigError) to write into a folder whose files belong to another config or
    to a run of another store: store documents point at those files.
    """
    folder = output_folder(plan)
    marker = folder / RUN_MARKER
    if not marker.is_file():
        flow = chain_maker(plan).make(folder)
        return _record(flow, plan, config), flow
    recorded = json.loads(marker.read_text())
    previous = book.get(recorded["run_id"])
    problem = _resume_problem(previous, plan, recorded)
    if problem or previous is None or previous.flow_json is None:
        raise ConfigError([problem or f"{marker}: the run record has no flow to resume"])
    logger.info("resuming run %s (%s) in %s", previous.name, previous.run_id, folder)
    if previous.state != "COMPLETED":
        previous.state, previous.error, previous.failure = "RUNNING", None, None
    return previous, cast(Flow, Flow.from_dict(json.loads(previous.flow_json)))


def _without_finished(flow: Flow, store: JobStore) -> Flow:
    """``flow`` minus the jobs whose outputs are already in the store.

    The remaining jobs still reference the finished ones; those references resolve from
    the store when the jobs run.
    """
    store.connect()
    done = completed_uuids(store, list(flow.job_uuids))
    if done:
        logger.info("%d of %d stages already finished: not run again", len(done), len(flow))
        flow.remove_jobs([i for i, j in enumerate(flow.jobs) if j.uuid in done])
    return flow


def run(config: str | Path, store_path: str | Path | None = None) -> RunSummary:
    """Expand the config, write ``plan.yaml``, run the crystal chain, return its summary.

    Recorded, resumed and reported as :func:`run_chain` says.
    """
    return RunSummary.model_validate(run_chain(checked_plan(config), config, store_path))


def run_reaction(config: str | Path, store_path: str | Path | None = None) -> ReactionSummary:
    """Validate a reaction config, run the molecular chain, return its summary.

    Recorded, resumed and reported as :func:`run_chain` says. Raises ConfigError for
    bad input (before anything runs).
    """
    cfg = load_reaction_config(config)
    # One OpenMP thread per oracle evaluation: a 6-atom GFN2-xTB call took 1.5 s with
    # tblite's default threads on a loaded 2-core machine and 12 ms with one (set before
    # tblite is first imported, which reads it once; a user's own setting is kept).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return ReactionSummary.model_validate(run_chain(cfg, config, store_path))


def run_chain(
    plan: Plan | ReactionRunConfig, config: str | Path, store_path: str | Path | None = None
) -> dict[str, Any]:
    """Run the chain of a validated config; the report stage's output document.

    The run is recorded in the store's ``runs`` collection (for ``pyacemaker status``)
    as COMPLETED or FAILED; a failure raises RuntimeError after the record is saved.
    Started again on the same config and output_dir after a kill or a failure, it
    resumes: finished stages are not run again, and inside a labelling stage finished
    calculations are reused from their checkpoints. Started again after it completed,
    it computes nothing and returns the same summary.
    """
    folder = output_folder(plan)
    store, book = job_store(store_path), RunBook(store_path)
    record, flow = _resume_or_start(plan, config, book)
    report_uuid = flow.jobs[-1].uuid
    if record.state == "COMPLETED":
        logger.info("run %s already completed in %s: nothing to do", plan.name, folder)
        store.connect()
        return cast(dict[str, Any], store.get_output(report_uuid))
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(plan, Plan):
        plan.write(folder / "plan.yaml")
    record.pid, record.host = os.getpid(), socket.gethostname()
    book.save(record)
    marker = {"run_id": record.run_id, "store": str(book.folder)}
    (folder / RUN_MARKER).write_text(json.dumps(marker))
    logger.info("run %s: %d stages, outputs in %s", plan.name, len(record.jobs), folder)
    start = time.perf_counter()
    folders = job_folders(flow.jobs, folder)  # before running resolves references
    todo = _without_finished(flow, store)  # its references to finished jobs are external
    with capture_failures() as failures:
        run_locally(
            todo, store=store, ensure_success=False, log=False, allow_external_references=True
        )
    record.wall_time_s = (record.wall_time_s or 0.0) + time.perf_counter() - start
    record.finished = now()
    if not completed_uuids(store, [report_uuid]):
        failure = first_failure(failures, folders, folder)
        record.state, record.failure = "FAILED", failure
        record.error = failure.summary() if failure else "a stage failed; see `pyacemaker status`"
        book.save(record)
        raise RuntimeError(
            failure.message(plan.name) if failure else f"run {plan.name} failed; see status"
        )
    record.state = "COMPLETED"
    record.failure = first_failure(failures, folders, folder)  # a stage the run went around
    if record.failure is not None:
        logger.warning("%s; the run delivered without it", record.failure.summary())
    book.save(record)
    output = cast(dict[str, Any], store.get_output(report_uuid))
    _add_total_time(output, record.wall_time_s)
    return output


def _add_total_time(summary: dict[str, Any], seconds: float) -> None:
    """Record the whole run's wall time in ``metrics.json`` and ``summary.txt``."""
    metrics_path = Path(summary["metrics_file"])
    metrics = json.loads(metrics_path.read_text())
    metrics["wall_time_total_s"] = round(seconds, 1)
    metrics_path.write_text(json.dumps(metrics, indent=2))
    with Path(summary["summary_file"]).open("a") as fh:
        fh.write(f"total wall time: {seconds / 60:.1f} min\n")
