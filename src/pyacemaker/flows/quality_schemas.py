"""Documents of the quality loop: one record per round, one for the loop."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.flows.guard import GuardErrors
from pyacemaker.validation.targets import TargetStatus


class RoundRecord(BaseModel):
    """One round: the targets judged on fresh cells, and the data the misses brought."""

    round: int
    potential: str = Field(description="Potential (yaml) judged in this round.")
    targets: list[TargetStatus] = Field(description="Every target on the fresh cells.")
    missed: list[str]
    added: dict[str, int] = Field(
        default_factory=dict, description="Targeted cells labelled, per missed target."
    )
    n_dft: int = Field(default=0, description="Targeted DFT (oracle) calls of this round.")
    n_failed: int = 0
    dft_seconds: float = 0.0
    judge_calls: int = Field(
        default=0, description="New DFT calls for the fresh reference cells (reused after round 0)."
    )
    judge_seconds: float = 0.0
    guard_before: GuardErrors | None = None
    guard_after: GuardErrors | None = None
    guard_violations: list[str] = Field(default_factory=list)
    accepted: bool | None = Field(
        default=None, description="The update was adopted (None: no update this round)."
    )
    left_out: list[str] = Field(
        default_factory=list,
        description="Targeted families left out of the adopted update: the guard rejected "
        "it with them (their labels are in the round's left_out.xyz).",
    )
    wall_time_s: float = 0.0


class QualityState(BaseModel):
    """What the next round starts from (files in the loop's folder)."""

    round: int = 0
    history: str = Field(description="extxyz: all labelled data so far, with fit weights.")
    fresh: str = Field(description="extxyz: the fresh held-out cells (labelled once).")
    n_dft: int = 0
    records: list[RoundRecord] = Field(default_factory=list)


class QualityDoc(BaseModel):
    """The loop: the potential it ends with, each round, and why it stopped."""

    potential: AcePotentialDoc
    started_from: str = Field(description="Which potential the loop started from.")
    rounds: list[RoundRecord]
    stop_reason: str | None = Field(description="None while the loop continues.")
    n_dft: int = Field(description="Targeted DFT calls over all rounds.")
    dft_seconds: float = 0.0
    judge_calls: int = 0
    judge_seconds: float = 0.0
    history: str

    def text(self) -> list[str]:
        """Summary lines: one per round with the targets held, then the stop reason."""
        lines = [f"quality loop (from {self.started_from}): {self.stop_reason}"]
        for r in self.rounds:
            held = [t.target for t in r.targets if t.held]
            added = ", ".join(f"{k} {v}" for k, v in r.added.items()) or "nothing"
            verdict = {True: "accepted", False: "rejected", None: "no update"}[r.accepted]
            if r.left_out:
                verdict += f" without {', '.join(r.left_out)}"
            lines.append(
                f"  round {r.round}: held {held or '-'}; missed {r.missed or '-'}; added "
                f"{added} ({r.n_dft} DFT calls, {verdict})"
            )
        return lines
