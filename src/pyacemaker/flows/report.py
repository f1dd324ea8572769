"""The run's deliverables: potential files, ``metrics.json`` and a short summary."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from jobflow import Maker, job
from pydantic import BaseModel

from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.oracle import LabelDoc
from pyacemaker.surrogate.schemas import TeacherDoc
from pyacemaker.validation.jobs import ValidationDoc


class RunSummary(BaseModel):
    """What a user looks at first: files, DFT cost, errors, pass/fail."""

    potential: dict[str, str]
    dft_calls: int
    dft_failed: int
    stage_seconds: dict[str, float]
    validation: ValidationDoc
    metrics_file: str
    summary_file: str


def _copy_potential(final: AcePotentialDoc, dest: Path) -> dict[str, str]:
    dest.mkdir(parents=True, exist_ok=True)
    files = {"yaml": final.yaml_path, "yace": final.yace_path, "asi": final.asi_path}
    out = {}
    for kind, path in files.items():
        if path is not None:
            out[kind] = str(shutil.copy2(path, dest / f"potential.{kind}"))
    return out


def _summary_text(s: RunSummary, teacher: TeacherDoc) -> str:
    v = s.validation
    lines = [
        f"pyacemaker run summary — {'PASS' if v.passed else 'FAIL'}",
        f"potential: {s.potential.get('yace')}",
        f"DFT calls: {s.dft_calls} ({s.dft_failed} failed)",
        f"teacher: {teacher.model_path.name}, foundation {teacher.foundation_resolution.spec}",
        "held-out DFT errors (energy meV/atom, force eV/Å):",
    ]
    lines += [
        f"  {name:18s} {m.energy_rmse_mev:8.2f} {m.force_rmse:8.4f}  (n={m.n})"
        for name, m in v.test_errors.items()
    ]
    lines.append(
        f"EOS a0: ACE {v.eos_ace.a0:.4f} Å vs DFT {v.eos_dft.a0:.4f} Å; "
        f"B0: ACE {v.eos_ace.b0_gpa:.1f} GPa vs DFT {v.eos_dft.b0_gpa:.1f} GPa"
    )
    lines += [
        f"  [{'PASS' if c.passed else 'FAIL'}] {c.name}: {c.value:.4g} "
        f"(threshold {c.threshold:.4g})"
        for c in v.checks
    ]
    lines.append(
        "stage wall times (s): " + ", ".join(f"{k} {t:.0f}" for k, t in s.stage_seconds.items())
    )
    return "\n".join(lines) + "\n"


@dataclass
class ReportMaker(Maker):
    """Collect the deliverables into the run's output folder."""

    name: str = "report"

    @job
    def make(
        self,
        output_dir: str,
        dft: list[LabelDoc],
        teacher: TeacherDoc,
        base: AcePotentialDoc,
        final: AcePotentialDoc,
        validation: ValidationDoc,
    ) -> RunSummary:
        """Write ``potential/``, ``metrics.json`` and ``summary.txt`` under ``output_dir``."""
        out = Path(output_dir)
        summary = RunSummary(
            potential=_copy_potential(final, out / "potential"),
            dft_calls=sum(d.n_calls for d in dft),
            dft_failed=sum(d.n_failed for d in dft),
            stage_seconds={
                "dft": sum(d.wall_time for d in dft),
                "teacher": teacher.wall_time_s,
                "ace_base": base.wall_time_s,
                "ace_delta": final.wall_time_s,
            },
            validation=validation,
            metrics_file=str(out / "metrics.json"),
            summary_file=str(out / "summary.txt"),
        )
        Path(summary.metrics_file).write_text(json.dumps(summary.model_dump(mode="json"), indent=2))
        Path(summary.summary_file).write_text(_summary_text(summary, teacher))
        return summary
