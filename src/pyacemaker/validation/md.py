# ASE's MD API is unannotated; its calls return Any.
# mypy: disable-error-code="no-untyped-call"
"""MD stability of a potential: NVT at a temperature, then NVE for the energy drift.

The NVT part is the pipeline's own Langevin sampler (:func:`sample_md`), whose
stability limits stop the run at fused atoms (closer than ``min_distance``), atoms
with no neighbour left (lost), non-finite numbers or a runaway temperature. The NVE
continuation from the last frame measures the total-energy drift (meV/atom/ps): a
potential whose forces are not the derivative of its energy, or that is rough on the
scale of a time step, drifts. With an active-set calculator every NVT snapshot also
gets per-atom extrapolation grades γ (γ ≤ 1 interpolation; γ ≫ 1 the potential is
guessing).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.verlet import VelocityVerlet
from pydantic import BaseModel

from pyacemaker.dynamics.ase_md import MDInstabilityError, StabilityLimits, sample_md
from pyacemaker.validation.cells import shortest_distance

GAMMA_BINS = 30


class MDResult(BaseModel):
    """One temperature: completed or where it broke, drift, shortest distance, γ."""

    temperature_K: float
    n_atoms: int
    steps: int
    stable: bool
    reason: str | None = None
    min_distance: float
    energy_drift_mev_atom_ps: float | None = None
    gamma_max: float | None = None
    gamma_mean: float | None = None
    gamma_values: list[float] = []


def _nve_drift(frame: Atoms, calc: Calculator, steps: int, timestep_fs: float) -> float:
    """Slope of total energy per atom (meV/atom/ps) over an NVE run from ``frame``."""
    work = frame.copy()
    work.calc = calc
    dyn = VelocityVerlet(work, timestep_fs * units.fs)
    energies: list[float] = []

    def record() -> None:
        energies.append(float(work.get_total_energy()) / len(work))

    dyn.attach(record, interval=1)
    dyn.run(steps)
    if not np.all(np.isfinite(energies)):
        return float("inf")
    times_ps = np.arange(len(energies)) * timestep_fs / 1000.0
    return float(abs(np.polyfit(times_ps, energies, 1)[0]) * 1000.0)


def _gammas(frames: list[Atoms], gamma_calc: Calculator) -> list[float]:
    values: list[float] = []
    for frame in frames:
        work = frame.copy()
        work.calc = gamma_calc
        work.get_potential_energy()
        values += [float(g) for g in np.asarray(gamma_calc.results["gamma"]).ravel()]
    return values


def md_stability(
    atoms: Atoms,
    calc: Calculator,
    *,
    temperature_K: float,
    steps: int,
    nve_steps: int,
    timestep_fs: float,
    min_distance: float,
    seed: int,
    gamma_calc: Calculator | None = None,
) -> MDResult:
    """NVT for ``steps`` then NVE for ``nve_steps``; every check on the way is recorded."""
    limits = StabilityLimits(min_distance=min_distance)
    interval = max(1, steps // 20)
    try:
        frames = sample_md(
            atoms, calc, temperature_K=temperature_K, steps=steps, interval=interval,
            seed=seed, timestep_fs=timestep_fs, limits=limits,
        )  # fmt: skip
        reason = None
    except MDInstabilityError as exc:
        frames, reason = exc.frames, str(exc)
    result = MDResult(
        temperature_K=temperature_K,
        n_atoms=len(atoms),
        steps=steps,
        stable=reason is None,
        reason=reason,
        min_distance=min((shortest_distance(f) for f in frames), default=float("nan")),
    )
    if frames and gamma_calc is not None:
        gammas = _gammas(frames, gamma_calc)
        result.gamma_values = gammas
        result.gamma_max, result.gamma_mean = float(np.max(gammas)), float(np.mean(gammas))
    if reason is None and nve_steps > 0:
        result.energy_drift_mev_atom_ps = _nve_drift(frames[-1], calc, nve_steps, timestep_fs)
    return result
