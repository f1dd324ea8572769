"""Documents of the active-learning loop: one record per iteration, one for the loop."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.flows.guard import GuardErrors


class GammaStats(BaseModel):
    """Maximum-γ trace of an iteration's MD: how far outside the data it went."""

    n_checks: int
    mean: float
    p95: float
    max: float


class ErrorPair(BaseModel):
    """Energy (meV/atom) and force (eV/Å) RMSE; NaN where nothing of that kind is learned."""

    energy_rmse_mev: float
    force_rmse: float


class IterationRecord(BaseModel):
    """What one iteration did and what it cost; the potential's lineage included."""

    iteration: int
    temperature: float = Field(description="Temperature (K) of the segment that halted or ended.")
    start_step: int
    end_step: int
    halted: bool
    gamma: GammaStats
    n_frames: int = Field(description="Frames with γ >= threshold_add_train.")
    n_selected: int = Field(description="Frames chosen by D-optimality (MaxVol).")
    n_dft: int = Field(description="DFT (oracle) calls of this iteration.")
    dft_seconds: float = Field(default=0.0, description="Wall time of those calls (s).")
    n_failed: int
    parent: str = Field(description="Potential (yaml) the iteration explored with.")
    potential: str = Field(description="Potential (yaml) after the update (parent if none).")
    train: ErrorPair | None = None
    test: ErrorPair | None = None
    new_before: ErrorPair | None = Field(
        default=None, description="Parent's errors on the new DFT cut-outs (core forces)."
    )
    new_after: ErrorPair | None = None
    previous_test_before: ErrorPair | None = Field(
        default=None, description="Parent's errors on the previous iteration's test set."
    )
    previous_test_after: ErrorPair | None = None
    guard_before: GuardErrors | None = Field(
        default=None, description="Parent's errors on the guard set (flows/guard.py)."
    )
    guard_after: GuardErrors | None = None
    guard_ok: bool | None = Field(
        default=None, description="Energies, forces and stresses on the guard set in bounds."
    )
    forgetting_ok: bool | None = Field(
        default=None,
        description="Force RMSE on the previous test set and on its held-out part rose by "
        "at most max_forgetting.",
    )
    accepted: bool | None = Field(
        default=None,
        description="Update adopted; False when it forgot too much or failed the guard "
        "(the parent is kept).",
    )
    wall_time_s: float


class LoopState(BaseModel):
    """What the next iteration starts from (files in the loop's folder)."""

    iteration: int = 0
    segment: int = 0
    state: str = Field(description="extxyz: start structure or the MD state saved at the halt.")
    history: str = Field(description="extxyz: all labelled data so far, with fit weights.")
    test: str = Field(description="extxyz: held-out test set.")
    guard: str | None = Field(default=None, description="extxyz: DFT EOS cells (guard set).")
    n_dft: int = 0
    records: list[IterationRecord] = Field(default_factory=list)


class ActiveLearningDoc(BaseModel):
    """The loop so far: the current potential, each iteration, and why it stopped."""

    potential: AcePotentialDoc
    iterations: list[IterationRecord]
    n_dft: int
    stop_reason: str | None = Field(description="None while the loop continues.")
    history: str
    state: str
