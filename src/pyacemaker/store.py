"""Where results live: one place that decides between the embedded store and MongoDB.

The default is an embedded, file-backed store (maggma ``MontyStore`` on SQLite) so a
laptop needs no database server; it keeps every ``(uuid, index)`` output document,
including outputs of jobs that replace themselves. ``PYACEMAKER_STORE`` moves it.
A small ``runs`` collection records each run's jobs so ``pyacemaker status`` can say
which stages finished, failed or never ran.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from jobflow import JobStore
from maggma.stores import MontyStore
from pydantic import BaseModel

from pyacemaker.failures import Failure

STORE_ENV = "PYACEMAKER_STORE"
RUN_MARKER = "run.json"  # in output_dir: which run (in which store) its files belong to
RunState = Literal["RUNNING", "COMPLETED", "FAILED"]


def store_dir(path: str | Path | None = None) -> Path:
    """The embedded store's folder: argument, else ``$PYACEMAKER_STORE``, else ~/.pyacemaker."""
    chosen = path or os.environ.get(STORE_ENV) or Path.home() / ".pyacemaker" / "store"
    folder = Path(chosen).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _monty(name: str, folder: Path) -> MontyStore:
    return MontyStore(name, database_path=str(folder), database_name="pyacemaker", storage="sqlite")


def job_store(path: str | Path | None = None) -> JobStore:
    """Jobflow store for job outputs (docs) and large blobs (``data``)."""
    folder = store_dir(path)
    return JobStore(_monty("outputs", folder), additional_stores={"data": _monty("data", folder)})


class JobEntry(BaseModel):
    """A job of a run, by uuid and stage name, with the jobs it waits for."""

    uuid: str
    name: str
    parents: list[str] = []


class RunRecord(BaseModel):
    """One ``pyacemaker run``: what it was, where its outputs are, how it ended."""

    run_id: str
    name: str
    output_dir: str
    config: str
    state: RunState = "RUNNING"
    started: str
    finished: str | None = None
    wall_time_s: float | None = None
    error: str | None = None
    failure: Failure | None = None  # the failed stage, its error lines and folder
    jobs: list[JobEntry]
    plan_hash: str | None = None  # a resumed run must have been started from the same plan
    flow_json: str | None = None  # the serialised flow: a resumed run reloads the same jobs
    pid: int | None = None  # process running it, on ``host``: a RUNNING run whose
    host: str | None = None  # process is gone was killed (``pyacemaker status`` says so)


def shown_state(record: RunRecord) -> str:
    """The run's state for ``status``: a RUNNING run whose process is gone was killed."""
    if record.state != "RUNNING" or record.pid is None or record.host != socket.gethostname():
        return record.state
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return f"KILLED (process {record.pid} is gone; the same command resumes it)"
    except PermissionError:  # alive, another user's
        pass
    return record.state


def now() -> str:
    """UTC timestamp in ISO format, for run records."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunBook:
    """The ``runs`` collection of the embedded store."""

    def __init__(self, path: str | Path | None = None) -> None:
        """Open (and create if needed) the collection in the store folder."""
        self.folder = store_dir(path)
        self.store = _monty("runs", self.folder)
        self.store.connect()

    def save(self, record: RunRecord) -> None:
        """Insert or update a run record."""
        self.store.update([record.model_dump()], key="run_id")

    def get(self, run_id: str) -> RunRecord | None:
        """The record of one run, or None if this store never saw it."""
        doc = self.store.query_one({"run_id": run_id})
        return None if doc is None else RunRecord.model_validate(_without_id(doc))

    def all(self) -> list[RunRecord]:
        """Every recorded run, oldest first."""
        docs = self.store.query({}, sort={"started": 1})
        return [RunRecord.model_validate(_without_id(d)) for d in docs]


def marked_run(run_dir: str | Path) -> tuple[str, str | None]:
    """(run id, store folder) of the run whose files are in ``run_dir`` (its ``run.json``).

    ValueError with the fix when the folder holds no run.
    """
    marker = Path(run_dir) / RUN_MARKER
    if not marker.is_file():
        raise ValueError(
            f"{run_dir}: no {RUN_MARKER} in it: give a run's output_dir, or no folder to "
            "list every run of the store"
        )
    recorded = json.loads(marker.read_text())
    return str(recorded["run_id"]), recorded.get("store")


def _without_id(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


def completed_uuids(store: JobStore, uuids: list[str]) -> set[str]:
    """The jobs among ``uuids`` whose final output is in the store (they finished).

    A loop that replaces itself (active learning, the quality loop) stores one output
    per iteration under the same uuid, with ``stop_reason`` None until the last. A run
    killed during iteration ≥ 1 left such an intermediate output: counting it as
    finished made the resumed run validate the intermediate potential as if the loop
    had ended. Such a job is unfinished (resumed, it starts its loop again; its DFT
    calculations come back from their checkpoints).
    """
    done = set()
    for uuid in uuids:
        last = store.query_one({"uuid": uuid}, properties=["index"], sort={"index": -1})
        if last is None:
            continue
        unstopped = {"uuid": uuid, "index": last["index"],
                     "output.stop_reason": {"$exists": True, "$eq": None}}  # fmt: skip
        if store.query_one(unstopped, properties=["uuid"]) is None:
            done.add(uuid)
    return done


def job_states(record: RunRecord, store: JobStore) -> list[tuple[str, str]]:
    """(stage, state) per job.

    COMPLETED when its output is in the store. Otherwise, in a failed run or one that
    completed around a failed stage, a job whose parents all completed is the one that
    FAILED and the rest did NOT RUN; in a run still going, they are WAITING.
    """
    done = completed_uuids(store, [e.uuid for e in record.jobs])
    states = []
    for entry in record.jobs:
        if entry.uuid in done:
            state = "COMPLETED"
        elif record.state == "RUNNING":
            state = "WAITING"
        else:
            state = "FAILED" if set(entry.parents) <= done else "NOT RUN"
        states.append((entry.name, state))
    return states


def target_lines(record: RunRecord, store: JobStore) -> list[str]:
    """Per target of a completed run: held or missed, with value and target (the report's)."""
    report = next((e.uuid for e in record.jobs if e.name == "report"), None)
    doc = store.query_one({"uuid": report}, properties=["output.targets"]) if report else None
    targets = ((doc or {}).get("output") or {}).get("targets") or []
    lines = []
    for t in targets:
        checks = "; ".join(f"{c['name']} {c['value']:.4g} (target {c['threshold']:.4g})"
                           for c in t["checks"])  # fmt: skip
        lines.append(f"  target {t['target']}: {'HELD' if t['held'] else 'MISSED'} — {checks}")
    return lines


def job_state_table(runs: list[RunRecord], path: str | Path | None = None) -> list[str]:
    """Printable lines: one header per run, one line per stage with its state."""
    store = job_store(path)
    store.connect()
    lines = []
    for record in runs:
        took = f", {record.wall_time_s / 60:.1f} min" if record.wall_time_s else ""
        shown = shown_state(record)
        where = record.output_dir
        lines.append(f"{record.name} [{shown}] started {record.started}{took} → {where}")
        states = job_states(record, store)
        width = max([16, *(len(name) for name, _ in states)])
        lines += [f"  {name:{width}s} {state}" for name, state in states]
        lines += target_lines(record, store)
        if record.state == "FAILED" and record.failure is not None:
            lines.append(f"  why: {record.failure.message(record.name)}".replace("\n", "\n  "))
        elif record.state == "FAILED" and record.error:
            lines.append(f"  why: {record.error}")
        elif record.failure is not None:  # completed around a failed stage
            lines.append(f"  note: {record.failure.summary()}; the run delivered without it")
    store.close()  # type: ignore[no-untyped-call]
    return lines
