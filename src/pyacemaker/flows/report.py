"""The run's deliverables: potential files, ``metrics.json``, a summary and ``report.html``."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Maker, job
from pydantic import BaseModel

from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.data import read_dataset
from pyacemaker.flows.active_learning_schemas import ActiveLearningDoc
from pyacemaker.flows.ledger import DftLedger, build_ledger
from pyacemaker.flows.quality_schemas import QualityDoc
from pyacemaker.oracle import LabelDoc
from pyacemaker.surrogate.schemas import TeacherDoc, TieredLabelDoc
from pyacemaker.validation.html import HistoryPoint, IterationPoint, write_report
from pyacemaker.validation.jobs import ValidationDoc
from pyacemaker.validation.targets import TargetStatus, target_status


class RunSummary(BaseModel):
    """What a user looks at first: files, DFT cost, errors, pass/fail.

    ``dft_calls`` counts every DFT calculation of the run (``dft_ledger`` by purpose).
    """

    potential: dict[str, str]
    dft_calls: int
    dft_failed: int
    dft_ledger: DftLedger | None = None
    stage_seconds: dict[str, float]
    validation: ValidationDoc
    targets: list[TargetStatus] = []  # per target: its checks, values, thresholds, held
    quality: QualityDoc | None = None
    metrics_file: str
    summary_file: str
    report_file: str | None = None


def _copy_potential(final: AcePotentialDoc, dest: Path) -> dict[str, str]:
    dest.mkdir(parents=True, exist_ok=True)
    files = {"yaml": final.yaml_path, "yace": final.yace_path, "asi": final.asi_path}
    out = {}
    for kind, path in files.items():
        if path is not None:
            out[kind] = str(shutil.copy2(path, dest / f"potential.{kind}"))
    return out


def _summary_text(s: RunSummary, teacher: TeacherDoc | None) -> str:
    v = s.validation
    lines = [
        f"pyacemaker run summary — {'PASS' if v.passed else 'FAIL'}",
        f"potential: {s.potential.get('yace')}",
        *([f"delivered: {v.delivery.delivered} — {v.delivery.reason}"] if v.delivery else []),
        f"DFT calls: {s.dft_calls} ({s.dft_failed} failed)",
        *(s.dft_ledger.text() if s.dft_ledger else []),
        f"teacher: {teacher.model_path.name}, foundation {teacher.foundation_resolution.spec}"
        if teacher
        else "teacher: none (its stage failed; `pyacemaker status` shows why)",
        "held-out DFT errors (energy meV/atom, force eV/Å):",
    ]
    lines += [
        f"  {name:18s} {m.energy_rmse_mev:8.2f} {m.force_rmse:8.4f}  (n={m.n})"
        for name, m in v.test_errors.items()
    ]
    if v.eos_ace is not None and v.eos_dft is not None:
        lines.append(
            f"EOS a0: ACE {v.eos_ace.a0:.4f} Å vs DFT {v.eos_dft.a0:.4f} Å; "
            f"B0: ACE {v.eos_ace.b0_gpa:.1f} GPa vs DFT {v.eos_dft.b0_gpa:.1f} GPa"
        )
    lines += ["targets (value, target, held):", *(f"  {t.line()}" for t in s.targets)]
    lines += s.quality.text() if s.quality else []
    lines += [
        f"  [{'PASS' if c.passed else 'FAIL'}] {c.name}: "
        + (c.reason if c.reason else f"{c.value:.4g} (threshold {c.threshold:.4g})")
        for c in v.checks
    ]
    lines.append(
        "stage wall times (s): " + ", ".join(f"{k} {t:.0f}" for k, t in s.stage_seconds.items())
    )
    return "\n".join(lines) + "\n"


def _history(validation: ValidationDoc) -> list[HistoryPoint]:
    """Held-out errors along the pipeline's models: teacher → teacher-only ACE → final ACE."""
    order = (
        ("teacher", "MACE teacher"),
        ("teacher_only_ace", "ACE base"),
        ("final_ace", "ACE delta"),
        ("direct_ace", "ACE direct (training DFT)"),
        ("refit_ace", "ACE direct (all DFT)"),
    )
    return [
        HistoryPoint(label=label, energy_rmse_mev=m.energy_rmse_mev, force_rmse=m.force_rmse)
        for key, label in order
        if (m := validation.test_errors.get(key)) is not None
    ]


def iteration_points(exploration: ActiveLearningDoc, dft_before: int) -> list[IterationPoint]:
    """Every active-learning iteration with the labelled-set size and the run's DFT calls.

    The labelled set is the loop's history file, which ends with every label the loop
    added; counting back from its size gives the size after each iteration.
    """
    records = exploration.iterations
    added = [r.n_dft - r.n_failed for r in records]
    size = len(read_dataset(exploration.history)) - sum(added)
    dft_total, points = dft_before, []
    for record, new in zip(records, added, strict=True):
        size, dft_total = size + new, dft_total + record.n_dft
        test = record.test
        points.append(IterationPoint(
            iteration=record.iteration, temperature=record.temperature, halted=record.halted,
            gamma_max=record.gamma.max, n_selected=record.n_selected, n_dft=record.n_dft,
            n_failed=record.n_failed, n_train=size, dft_total=dft_total,
            test_energy_rmse_mev=test.energy_rmse_mev if test else None,
            test_force_rmse=test.force_rmse if test else None, accepted=record.accepted,
        ))  # fmt: skip
    return points


def _provenance(
    s: RunSummary, dft: list[LabelDoc], teacher: TeacherDoc | None, final: AcePotentialDoc,
    settings: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """Data sizes, DFT cost, lineage of the potential and the run's settings."""
    suite = s.validation.suite
    return {
        "potential": s.potential.get("yace", ""),
        "DFT datasets (labelled / calls / failed)": {
            Path(d.dataset).parent.name: f"{d.n_labelled} / {d.n_calls} / {d.n_failed}" for d in dft
        },
        "DFT calls for validation": suite.reference_calls if suite else 0,
        "DFT ledger (calls / s)": {
            line.purpose: f"{line.calls} / "
            + (f"{line.seconds:.1f}" if line.seconds is not None else "-")
            for line in s.dft_ledger.lines
        }
        if s.dft_ledger
        else {},
        "DFT calls the teacher saved": s.dft_ledger.teacher_saved if s.dft_ledger else 0,
        "targets": {t.target: "held" if t.held else "missed" for t in s.targets},
        **({"quality loop": s.quality.text()} if s.quality else {}),
        "DFT source": dft[0].source if dft else "",
        "ACE training structures": final.n_train,
        "energy zero (eV/atom)": f"{final.reference_energy} ({final.reference_energy_source})",
        "lineage": f"{teacher.model_path} → {final.parent} → {final.yaml_path}"
        if final.parent and teacher
        else f"DFT labels only → {final.yaml_path}",
        "teacher foundation": teacher.foundation_resolution.spec if teacher else "(failed)",
        "validation wall times (s)": suite.wall_time_s if suite else {},
        "settings": settings,
    }


@dataclass
class ReportMaker(Maker):
    """Collect the deliverables into the run's output folder.

    ``settings`` is the expanded plan, recorded in the HTML report's provenance table.
    """

    name: str = "report"
    settings: dict[str, Any] = field(default_factory=dict)

    @job
    def make(
        self,
        output_dir: str,
        dft: list[LabelDoc],
        teacher: TeacherDoc | None,
        base: AcePotentialDoc | None,
        final: AcePotentialDoc | None,
        validation: ValidationDoc,
        direct: AcePotentialDoc | None = None,
        refit: AcePotentialDoc | None = None,
        pool: TieredLabelDoc | None = None,
        explore: ActiveLearningDoc | None = None,
        quality: QualityDoc | None = None,
    ) -> RunSummary:
        """Write ``potential/``, ``metrics.json``, ``summary.txt``, ``report.html``.

        ``potential/`` holds the potential validation delivered (``validation.delivered``:
        the teacher route's ``final``, ``direct`` or ``refit`` when one of those won);
        ``direct`` and ``refit`` add their fit times. With ``explore`` the report shows
        every active-learning iteration. ``teacher``, ``base`` and ``final`` are None when
        the teacher route failed and a direct fit was delivered instead.
        """
        out = Path(output_dir)
        delivered = validation.delivered or final
        assert delivered is not None  # validation raises when there is no potential
        fits = {"teacher": teacher, "ace_base": base, "ace_delta": final,
                "ace_direct": direct, "ace_refit": refit}  # fmt: skip
        purposes = ("training", "held-out", "EOS", "reference atoms")
        ledger = build_ledger(
            dict(zip(purposes, dft, strict=False)), validation, pool, explore, quality
        )
        summary = RunSummary(
            potential=_copy_potential(delivered, out / "potential"),
            dft_calls=ledger.total_calls,
            dft_failed=sum(line.failed for line in ledger.lines),
            dft_ledger=ledger,
            stage_seconds={
                "dft": sum(d.wall_time for d in dft),
                **{k: doc.wall_time_s for k, doc in fits.items() if doc is not None},
            },
            validation=validation,
            targets=target_status(validation.checks),
            quality=quality,
            metrics_file=str(out / "metrics.json"),
            summary_file=str(out / "summary.txt"),
            report_file=str(out / "report.html"),
        )
        Path(summary.metrics_file).write_text(json.dumps(summary.model_dump(mode="json"), indent=2))
        Path(summary.summary_file).write_text(_summary_text(summary, teacher))
        write_report(
            out / "report.html",
            f"{out.name}: {Path(summary.potential.get('yace', 'potential')).name}",
            validation.checks,
            validation.suite,
            _provenance(summary, dft, teacher, delivered, self.settings),
            _history(validation),
            iteration_points(explore, summary.dft_calls) if explore else [],
            explore.stop_reason if explore else None,
        )
        return summary
