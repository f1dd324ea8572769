"""Settings and record of one exploration MD run in LAMMPS."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class LammpsMDSettings(BaseModel):
    """How LAMMPS integrates: ensemble, temperature (ramp), pressure, checks, core repulsion."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(gt=0, description="Thermostat temperature (K) at the start.")
    temperature_stop: float | None = Field(
        default=None, gt=0, description="Temperature at the end step (linear ramp); None: constant."
    )
    pressure: float | None = Field(
        default=None, description="Barostat pressure in bar (NPT); None runs NVT at fixed cell."
    )
    timestep_fs: float = Field(default=2.0, gt=0, le=5)
    check_every: int = Field(
        default=10, gt=0, description="Steps between γ checks (one Python call per check)."
    )
    tdamp_steps: int = Field(default=100, gt=0, description="Thermostat damping in time steps.")
    pdamp_steps: int = Field(default=1000, gt=0, description="Barostat damping in time steps.")
    soft_start_steps: int = Field(
        default=20,
        ge=0,
        description="Langevin steps at the start of a resumed run, so the new potential's "
        "forces do not kick the saved velocities; rounded up to whole checks.",
    )
    zbl_inner: float = Field(default=1.0, gt=0, description="ZBL switching start (Å).")
    zbl_outer: float = Field(default=2.0, gt=0, description="ZBL cutoff (Å).")
    max_frames: int = Field(
        default=200, gt=0, description="Collected frames kept per run (the latest ones)."
    )
    seed: int = 1


class MDRunDoc(BaseModel):
    """What an exploration run did: steps, γ per check, halt, collected frames, state."""

    start_step: int
    end_step: int = Field(description="Last step reached (the halt step if halted).")
    target_step: int = Field(description="Step the run was asked to reach.")
    halted: bool
    check_steps: list[int]
    max_gamma: list[float] = Field(description="Maximum per-atom γ at each check.")
    n_collected: int = Field(description="Frames with γ >= threshold_add_train.")
    frames: str = Field(description="extxyz of collected frames (per-atom γ in arrays['gamma']).")
    state: str = Field(description="extxyz with positions, velocities, cell and md_step.")
    calm_state: str = Field(
        description="extxyz of the latest check with γ below threshold_add_train (or the start)."
    )
    temperature_mean: float
    wall_time_s: float
    potential: Path
    seed: int
