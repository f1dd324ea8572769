"""The run's DFT ledger: every oracle calculation counted by purpose, with its time.

The product promises few DFT calls, so the run must count all of them — the labelled
training, held-out and EOS sets, but also the pool structures the committee sent to DFT,
the exploration cut-outs, the quality loop's targeted cells and fresh reference cells,
and the validation reference cells — and say how many the
teacher saved (pool structures labelled by the teacher instead of DFT).

Seconds: for pw.x the time pw.x ran (all self-healing attempts, from its task
documents); for an ASE calculator the wall time of the labelling calls. ``None`` where
the time is not recorded separately (the DFT share of a mixed teacher/DFT pool run by
an ASE calculator).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from pyacemaker.flows.active_learning_schemas import ActiveLearningDoc
from pyacemaker.flows.quality_schemas import QualityDoc
from pyacemaker.oracle import LabelDoc
from pyacemaker.surrogate.schemas import TieredLabelDoc
from pyacemaker.validation.jobs import ValidationDoc


class LedgerLine(BaseModel):
    """Calculations of one purpose."""

    purpose: str
    calls: int
    failed: int = 0
    seconds: float | None = Field(description="engine time (s); None: not recorded")


class DftLedger(BaseModel):
    """All DFT calculations of a run by purpose, the totals and what the teacher saved."""

    lines: list[LedgerLine]
    total_calls: int
    total_seconds: float = Field(description="sum of the recorded seconds")
    teacher_saved: int = Field(description="pool structures labelled by the teacher, not DFT")

    def text(self) -> list[str]:
        """The ledger as summary lines."""
        rows = [
            f"  {line.purpose:22s} {line.calls:5d} calls "
            + (f"{line.seconds:9.1f} s" if line.seconds is not None else "        - s")
            + (f"  ({line.failed} failed)" if line.failed else "")
            for line in self.lines
        ]
        return [
            f"DFT ledger: {self.total_calls} calls, {self.total_seconds:.1f} s; "
            f"the teacher saved {self.teacher_saved} DFT calls",
            *rows,
        ]


def label_seconds(doc: LabelDoc, dft_only: bool = True) -> float | None:
    """Engine time of a labelling stage: pw.x's own times, else the stage's wall time."""
    times = [c.task.get("total_time") for c in doc.calculations if c.task and not c.reused]
    if times and all(t is not None for t in times):
        return float(sum(float(t) for t in times if t is not None))
    return doc.wall_time if dft_only else None


def build_ledger(
    labelled: dict[str, LabelDoc],
    validation: ValidationDoc,
    pool: TieredLabelDoc | None = None,
    explore: ActiveLearningDoc | None = None,
    quality: QualityDoc | None = None,
) -> DftLedger:
    """The ledger of a run from its stage documents (``labelled``: purpose → DFT stage)."""
    lines = [
        LedgerLine(purpose=purpose, calls=d.n_calls, failed=d.n_failed, seconds=label_seconds(d))
        for purpose, d in labelled.items()
    ]
    saved = 0
    if pool is not None:
        on_dft = [c for c in pool.calculations if Path(c.directory).parent.name == "dft"]
        dft_part = pool.model_copy(update={"calculations": on_dft})
        seconds = label_seconds(dft_part, dft_only=False) if pool.n_dft_calls else 0.0
        lines.append(LedgerLine(purpose="pool (committee unsure)", calls=pool.n_dft_calls,
                                seconds=seconds))  # fmt: skip
        saved = pool.routes.get("teacher", 0) + pool.routes.get("uncertain", 0)
    if explore is not None:
        lines.append(LedgerLine(
            purpose="exploration", calls=explore.n_dft,
            failed=sum(r.n_failed for r in explore.iterations),
            seconds=sum(r.dft_seconds for r in explore.iterations),
        ))  # fmt: skip
    if quality is not None:
        lines += [
            LedgerLine(purpose="targeted", calls=quality.n_dft, seconds=quality.dft_seconds,
                       failed=sum(r.n_failed for r in quality.rounds)),
            LedgerLine(purpose="targets judge (fresh)", calls=quality.judge_calls,
                       seconds=quality.judge_seconds),
        ]  # fmt: skip
    lines.append(LedgerLine(
        purpose="validation reference", calls=validation.reference_calls,
        seconds=validation.reference_seconds,
    ))  # fmt: skip
    return DftLedger(
        lines=lines,
        total_calls=sum(line.calls for line in lines),
        total_seconds=sum(line.seconds or 0.0 for line in lines),
        teacher_saved=saved,
    )
