"""Running a config end to end on this machine, on the embedded store."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from jobflow import Flow, run_locally

from pyacemaker.config.errors import ConfigError, load_config
from pyacemaker.config.plan import Plan, expand
from pyacemaker.flows.distill import DistillationMaker
from pyacemaker.flows.report import RunSummary
from pyacemaker.store import JobEntry, RunBook, RunRecord, job_store, now
from pyacemaker.surrogate.mace import FoundationModelError, resolve_foundation

logger = logging.getLogger("pyacemaker")


def plan_from_file(config: str | Path) -> Plan:
    """Load, validate and expand a config file (raises ConfigError on any problem)."""
    return expand(load_config(config))


def _record(flow: Flow, plan: Plan, config: str | Path) -> RunRecord:
    graph = flow.graph
    jobs = [
        JobEntry(uuid=j.uuid, name=j.name or "job", parents=list(graph.predecessors(j.uuid)))
        for j in flow.jobs
    ]
    return RunRecord(
        run_id=flow.uuid,
        name=plan.name,
        output_dir=str(plan.output_dir),
        config=str(Path(config).resolve()),
        started=now(),
        jobs=jobs,
    )


def run(config: str | Path, store_path: str | Path | None = None) -> RunSummary:
    """Expand the config, write ``plan.yaml``, run the flow and return the run summary.

    The run is recorded in the store's ``runs`` collection (for ``pyacemaker status``)
    as COMPLETED or FAILED; a failure raises RuntimeError after the record is saved.
    """
    plan = plan_from_file(config)
    try:  # before any DFT is spent: a foundation that cannot be loaded stops the run now
        resolve_foundation(plan.teacher.foundation)
    except FoundationModelError as exc:
        raise ConfigError([str(exc)]) from None
    plan.write(plan.output_dir / "plan.yaml")
    flow = DistillationMaker.from_plan(plan).make(plan.output_dir)
    store, book = job_store(store_path), RunBook(store_path)
    record = _record(flow, plan, config)
    book.save(record)
    logger.info("run %s: %d stages, outputs in %s", plan.name, len(record.jobs), plan.output_dir)
    start = time.perf_counter()
    responses = run_locally(flow, store=store, ensure_success=False, log=False)
    record.wall_time_s = time.perf_counter() - start
    record.finished = now()
    report_uuid = flow.jobs[-1].uuid
    if report_uuid not in responses:
        record.state, record.error = "FAILED", "a stage failed; see `pyacemaker status`"
        book.save(record)
        raise RuntimeError(f"run {plan.name} failed; `pyacemaker status` shows which stage")
    record.state = "COMPLETED"
    book.save(record)
    summary = RunSummary.model_validate(store.get_output(report_uuid))
    _add_total_time(summary, record.wall_time_s)
    return summary


def _add_total_time(summary: RunSummary, seconds: float) -> None:
    """Record the whole run's wall time in ``metrics.json`` and ``summary.txt``."""
    metrics_path = Path(summary.metrics_file)
    metrics = json.loads(metrics_path.read_text())
    metrics["wall_time_total_s"] = round(seconds, 1)
    metrics_path.write_text(json.dumps(metrics, indent=2))
    with Path(summary.summary_file).open("a") as fh:
        fh.write(f"total wall time: {seconds / 60:.1f} min\n")
