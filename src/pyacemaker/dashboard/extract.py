"""From a run's output documents and files to the rows and series the pages draw.

Everything is read from what the pipeline already records: ``LabelDoc`` outputs
(calls, failures, pw.x task documents with their healing attempts), the tiered
oracle's ``TieredLabelDoc`` and its pool extxyz (``committee_deviation``, ``route``),
the active-learning ``ActiveLearningDoc`` (one ``IterationRecord`` per iteration),
each exploration run's ``md_run.json`` (``MDRunDoc``), the validation document and
its parity files. A DFT ledger in ``metrics.json`` is used when the run wrote one.
Files are cached by modification time, so polling a finished run costs no re-reading.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from ase.io import read

from pyacemaker.dashboard.source import Doc, RunView
from pyacemaker.dynamics.lammps_md import RUN_RECORD
from pyacemaker.surrogate.tiered import DEVIATION_KEY, ROUTE_KEY

LEDGER_KEYS = ("dft_ledger", "ledger")  # where a run's metrics.json may keep its DFT ledger


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else -1.0


@lru_cache(maxsize=64)
def _json_file(path: Path, _mtime: float) -> Any:
    return json.loads(path.read_text()) if _mtime >= 0 else None


def json_file(path: Path) -> Any:
    """A JSON file's content (None if absent), re-read only when it changes."""
    return _json_file(path, _mtime(path))


@lru_cache(maxsize=16)
def _infos(path: Path, _mtime: float) -> list[dict[str, Any]]:
    return [dict(a.info) for a in read(str(path), index=":")] if _mtime >= 0 else []


def structure_infos(path: str | Path) -> list[dict[str, Any]]:
    """``info`` of every structure of an extxyz (none if absent)."""
    return _infos(Path(path), _mtime(Path(path)))


def _task_seconds(calculations: list[Doc]) -> float | None:
    """Engine time of the calculations that carry a task document (pw.x), else None."""
    tasks = [c["task"] for c in calculations if c.get("task")]
    return sum(float(t.get("total_time") or 0.0) for t in tasks) if tasks else None


def _label_row(purpose: str, out: Doc) -> Doc:
    calcs = out.get("calculations", [])
    seconds = _task_seconds(calcs)
    return {
        "purpose": purpose, "calls": out.get("n_calls", 0), "failed": out.get("n_failed", 0),
        "healed": out.get("n_healed", 0), "reused": out.get("n_reused", 0),
        "engine_time_s": seconds if seconds is not None else out.get("wall_time"),
        "source": out.get("source", ""),
    }  # fmt: skip


def _tiered_row(out: Doc) -> Doc:
    dft = [c for c in out.get("calculations", []) if "/dft/" in str(c.get("directory", ""))]
    return {
        "purpose": "pool (tiered oracle → DFT)", "calls": out.get("n_dft_calls", 0),
        "failed": sum(c.get("state") == "failed" for c in dft), "healed": 0, "reused": 0,
        "engine_time_s": _task_seconds(dft), "source": out.get("source", ""),
    }  # fmt: skip


def _exploration_row(out: Doc) -> Doc:
    records = out.get("iterations", [])
    return {
        "purpose": "exploration cut-outs", "calls": out.get("n_dft", 0),
        "failed": sum(int(r.get("n_failed", 0)) for r in records), "healed": 0, "reused": 0,
        "engine_time_s": None, "source": "",
    }  # fmt: skip


def _validation_row(out: Doc) -> Doc | None:
    suite = out.get("suite") or {}
    if not suite.get("reference_calls"):
        return None
    return {
        "purpose": "validation reference", "calls": suite["reference_calls"], "failed": 0,
        "healed": 0, "reused": 0, "engine_time_s": None,
        "source": suite.get("reference_source") or "",
    }  # fmt: skip


def metrics(view: RunView) -> Doc:
    """The run's ``metrics.json`` (empty until the report is written)."""
    found = json_file(view.output_dir / "metrics.json") if view.output_dir else None
    return found if isinstance(found, dict) else {}


def _ledger_from_metrics(view: RunView) -> list[Doc] | None:
    """The run's own ledger (``flows/ledger.py``: ``{"lines": [...], ...}``), once written."""
    for key in LEDGER_KEYS:
        ledger = metrics(view).get(key)
        lines = ledger.get("lines") if isinstance(ledger, dict) else ledger
        if isinstance(lines, list) and all(isinstance(r, dict) for r in lines):
            return [{"purpose": r.get("purpose"), "calls": r.get("calls"),
                     "failed": r.get("failed", 0), "engine_time_s": r.get("seconds")}
                    for r in lines]  # fmt: skip
    return None


def dft_ledger(view: RunView) -> list[Doc]:
    """DFT calls, failures and engine time by purpose, from metrics.json or the stages."""
    recorded = _ledger_from_metrics(view)
    if recorded is not None:
        return recorded
    rows = []
    for name, out in view.outputs.items():
        if name.startswith(("dft_", "label_")):  # label_*: the molecular chain's oracle labels
            rows.append(_label_row(name, out))
        elif "n_oracle_calls" in out:  # the molecular chain's sampling (path, Hessians, MD)
            rows.append({"purpose": f"{name} (oracle)", "calls": out["n_oracle_calls"],
                         "failed": 0, "healed": 0, "reused": 0,
                         "engine_time_s": out.get("wall_time_s"), "source": ""})  # fmt: skip
        elif "n_dft_calls" in out:
            rows.append(_tiered_row(out))
        elif "iterations" in out:
            rows.append(_exploration_row(out))
        elif name == "validate" and (row := _validation_row(out)) is not None:
            rows.append(row)
    return rows


def _healing(task: Doc | None) -> str:
    """The self-healing steps of a pw.x calculation: error kind → handler and changes."""
    steps = []
    for attempt in (task or {}).get("attempts", []):
        fix = attempt.get("correction") or {}
        if attempt.get("error_kind") or fix:
            changes = ", ".join(f"{k}={v}" for k, v in (fix.get("changes") or {}).items())
            steps.append(f"{attempt.get('error_kind') or 'error'} → {fix.get('handler', '-')}"
                         + (f" ({changes})" if changes else ""))  # fmt: skip
    return "; ".join(steps)


def failures(view: RunView) -> list[Doc]:
    """Every failed or healed calculation: stage, index, formula, error, healing steps."""
    rows = []
    for name, out in view.outputs.items():
        for calc in out.get("calculations", []) if isinstance(out, dict) else []:
            healing = _healing(calc.get("task"))
            if calc.get("state") == "failed" or healing:
                rows.append({
                    "stage": name, "index": calc.get("index"), "formula": calc.get("formula"),
                    "state": calc.get("state"), "error": calc.get("error") or "",
                    "healing": healing,
                })  # fmt: skip
    return rows


def initial_training_size(view: RunView) -> int:
    """Labelled structures the loop starts from: the DFT training set plus the pool."""
    return sum(
        int(view.outputs.get(name, {}).get("n_labelled", 0))
        for name in ("dft_train", "teacher_label")
    )


def iterations(view: RunView) -> list[Doc]:
    """One row per active-learning iteration, with the labelled-set size after it."""
    out = next((o for o in view.outputs.values() if "iterations" in o), None)
    if out is None:
        return []
    size = initial_training_size(view)
    rows = []
    for record in out["iterations"]:
        size += int(record.get("n_dft", 0)) - int(record.get("n_failed", 0))
        rows.append({**record, "n_labelled": size})
    return rows


def stop_reason(view: RunView) -> str | None:
    """Why the active-learning loop ended (None while it runs, or without one)."""
    out = next((o for o in view.outputs.values() if "iterations" in o), None)
    return None if out is None else out.get("stop_reason")


def md_runs(view: RunView) -> list[Doc]:
    """Each exploration MD run (its ``md_run.json``), labelled ``iter N / md S``."""
    if view.output_dir is None:
        return []
    runs = []
    for path in sorted(view.output_dir.glob(f"*/iter_*/md_*/{RUN_RECORD}")):
        doc = json_file(path)
        if isinstance(doc, dict):
            doc["label"] = f"{path.parents[1].name} / {path.parent.name}"
            runs.append(doc)
    return runs


def plan(view: RunView) -> Doc:
    """The expanded plan the run was started with (``plan.yaml``), empty if not readable."""
    path = view.output_dir / "plan.yaml" if view.output_dir else None
    if path is None or not path.is_file():
        return {}
    found = yaml.safe_load(path.read_text())
    return found if isinstance(found, dict) else {}


def pool(view: RunView) -> Doc | None:
    """Committee deviation and route of every pool structure, the counts and thresholds."""
    out = view.outputs.get("teacher_label")
    if not out or "routes" not in out:
        return None
    infos = structure_infos(out["dataset"])
    return {
        "deviation": [float(i[DEVIATION_KEY]) for i in infos if DEVIATION_KEY in i],
        "route": [str(i.get(ROUTE_KEY, "")) for i in infos if DEVIATION_KEY in i],
        "routes": out["routes"],
        "uncertainty_threshold": out.get("uncertainty_threshold"),
        "threshold_call_dft": out.get("threshold_call_dft"),
    }


def parity(view: RunView) -> dict[str, dict[str, np.ndarray]]:
    """Reference and predicted energies and forces per validation subset."""
    doc = validation(view)
    suite = doc.get("suite") or doc  # a reaction's validation holds its parity itself
    data = {}
    for name, result in (suite.get("parity") or {}).items():
        path = result.get("data_file")
        if path and Path(path).is_file():
            with np.load(path) as npz:
                data[name] = {k: np.asarray(npz[k]) for k in ("e_ref", "e_pred", "f_ref", "f_pred")}
    return data


def validation(view: RunView) -> Doc:
    """Held-out errors and checks of the validation stage (empty until it ran)."""
    return view.outputs.get("validate") or view.outputs.get("validate_reaction") or {}


def files(view: RunView) -> list[tuple[str, Path]]:
    """The potential files and the report, as (label, path), once they exist."""
    report = view.outputs.get("report") or {}
    found: list[tuple[str, str | None]] = [
        (f"potential.{kind}", path) for kind, path in (report.get("potential") or {}).items()
    ]
    if not found:
        for stage in ("active_learning", "active_set", "ace_delta"):
            doc = view.outputs.get(stage) or {}
            doc = doc.get("potential", doc) if stage == "active_learning" else doc
            found = [(f"{stage} {k}", doc.get(f"{k}_path")) for k in ("yace", "yaml", "asi")]
            if any(p for _, p in found):
                break
    found += [(name, report.get(f"{name}_file")) for name in ("report", "metrics", "summary")]
    return [(label, Path(p)) for label, p in found if p and Path(p).is_file()]
