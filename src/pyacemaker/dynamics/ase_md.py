# ASE ships py.typed but most of its API is unannotated; its calls return Any.
# mypy: disable-error-code="no-untyped-call"
"""Langevin NVT molecular dynamics with any ASE calculator, returning snapshots.

Used to explore configuration space with a cheap model (the MACE teacher, EMT in
tests): the snapshots are unlabelled candidates for later labelling and selection.
A potential trained on little data can drive a trajectory into nonsense (atoms
fused, atoms evaporating, NaN energies); sampling stops at the first such sign with
:class:`MDInstabilityError`, which still hands back the frames collected before it,
rather than filling a pool with garbage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.constraints import FixCom
from ase.md import velocitydistribution
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary
from ase.neighborlist import neighbor_list

from pyacemaker.data import CONFIG_TYPE_KEY, ENERGY_KEY, FORCES_KEY, SOURCE_KEY, STRESS_KEY
from pyacemaker.progress import Progress

logger = logging.getLogger(__name__)

MD_STEP_KEY = "md_step"
_CHECK_EVERY = 10  # at most this many steps between the cheap stability checks


class MDInstabilityError(RuntimeError):
    """The trajectory went unphysical; ``frames`` holds the snapshots taken before."""

    def __init__(self, step: int, reason: str, frames: list[Atoms]) -> None:
        """Keep the step, the reason and the good frames for the caller."""
        self.step = step
        self.reason = reason
        self.frames = frames
        super().__init__(f"MD stopped at step {step}: {reason} ({len(frames)} frames kept)")


@dataclass(frozen=True)
class StabilityLimits:
    """When a trajectory counts as broken.

    ``max_temperature_factor``: instantaneous T above this times max(T_target, 100 K)
    (a thermostat keeps T near target; a runaway potential heats by orders of
    magnitude). ``min_distance``: two atoms closer than this (Å) have fused.
    ``isolation_cutoff``: an atom with no neighbour within this (Å) has flown off.
    ``None`` disables a distance check.
    """

    max_temperature_factor: float = 10.0
    min_distance: float | None = 0.5
    isolation_cutoff: float | None = 5.0


def _instability(atoms: Atoms, max_temperature: float) -> str | None:
    """Cheap checks (finite numbers, temperature): why the state is broken, or None."""
    if not np.all(np.isfinite(atoms.positions)):
        return "non-finite positions"
    energy = float(atoms.get_potential_energy())
    if not (np.isfinite(energy) and np.all(np.isfinite(atoms.get_forces()))):
        return f"non-finite energy or forces (energy {energy})"
    temperature = float(atoms.get_temperature())
    if not temperature <= max_temperature:  # also catches NaN
        return f"temperature {temperature:.0f} K above the limit {max_temperature:.0f} K"
    return None


def _distance_problem(atoms: Atoms, limits: StabilityLimits) -> str | None:
    """Fused pairs or isolated atoms, from one neighbour list."""
    cutoff = max(limits.min_distance or 0.0, limits.isolation_cutoff or 0.0)
    if cutoff <= 0.0 or len(atoms) < 2:
        return None
    first, dist = neighbor_list("id", atoms, cutoff)
    if limits.min_distance is not None and dist.size and dist.min() < limits.min_distance:
        return f"two atoms {dist.min():.2f} Å apart (limit {limits.min_distance} Å)"
    if limits.isolation_cutoff is not None:
        lonely = np.setdiff1d(np.arange(len(atoms)), first)
        if lonely.size:
            return f"atom {int(lonely[0])} has no neighbour within {limits.isolation_cutoff} Å"
    return None


def _unlabelled_copy(atoms: Atoms, config_type: str, step: int) -> Atoms:
    """Snapshot without calculator, constraints or labels inherited from the start frame."""
    snap: Atoms = atoms.copy()
    snap.calc = None
    snap.set_constraint()
    for key in (ENERGY_KEY, STRESS_KEY, SOURCE_KEY):
        snap.info.pop(key, None)
    if FORCES_KEY in snap.arrays:
        del snap.arrays[FORCES_KEY]
    snap.info[CONFIG_TYPE_KEY] = config_type
    snap.info[MD_STEP_KEY] = step
    return snap


def _prepare(
    atoms: Atoms, calculator: Calculator, temperature_K: float, rng: np.random.Generator
) -> Atoms:
    """Copy with the calculator attached, centre of mass fixed, Maxwell-Boltzmann velocities."""
    work: Atoms = atoms.copy()
    work.calc = calculator
    if not work.constraints:
        work.set_constraint(FixCom())  # no drift of the whole cell; replaces fixcm=True
    init = getattr(velocitydistribution, "thermalize_momenta", None)  # ASE >= 3.29
    if init is not None:
        init(work, temperature_K, rng=rng)
    else:  # same draw, under the name older ASE versions have
        velocitydistribution.MaxwellBoltzmannDistribution(
            work, temperature_K=temperature_K, rng=rng
        )
    Stationary(work)
    return work


def sample_md(
    atoms: Atoms,
    calculator: Calculator,
    *,
    temperature_K: float,
    steps: int,
    interval: int,
    seed: int,
    timestep_fs: float = 1.0,
    friction: float = 0.02,
    limits: StabilityLimits | None = None,
    progress: Progress | None = None,
) -> list[Atoms]:
    """Run Langevin NVT and return a snapshot every ``interval`` steps.

    Returns ``steps // interval`` unlabelled copies (taken at steps ``interval``,
    ``2*interval``, ...; the start frame is not included), each with
    ``info["config_type"] = "md_<T>K"`` and ``info["md_step"]``; momenta are kept.
    ``friction`` is in 1/fs (0.02 → the thermostat acts within ~50 fs, fast enough
    for short sampling runs). Velocities and the Langevin noise come from one
    generator seeded with ``seed``, so a deterministic calculator gives identical
    trajectories for the same seed. ``atoms`` is not modified. Raises
    :class:`MDInstabilityError` when :class:`StabilityLimits` are violated: finite
    numbers and temperature are checked every ``min(interval, 10)`` steps, distances
    (a neighbour list, costly next to EMT but not next to MACE) at every snapshot.
    ``progress`` counts the steps at every snapshot.
    """
    if steps < 1 or interval < 1 or temperature_K <= 0 or timestep_fs <= 0 or friction <= 0:
        raise ValueError("steps, interval, temperature_K, timestep_fs and friction must be > 0")
    limits = limits or StabilityLimits()
    rng = np.random.default_rng(seed)
    work = _prepare(atoms, calculator, temperature_K, rng)
    dyn = Langevin(
        work, timestep_fs * units.fs, temperature_K=temperature_K,
        friction=friction / units.fs, fixcm=False, rng=rng,
    )  # fmt: skip
    config_type = f"md_{temperature_K:g}K"
    max_temperature = limits.max_temperature_factor * max(temperature_K, 100.0)
    frames: list[Atoms] = []

    def check() -> None:
        reason = _instability(work, max_temperature)
        if reason is not None:
            raise MDInstabilityError(dyn.nsteps, reason, frames)

    def snapshot() -> None:
        if dyn.nsteps > 0:
            check()  # never keep a bad frame, whatever the check interval
            reason = _distance_problem(work, limits)
            if reason is not None:
                raise MDInstabilityError(dyn.nsteps, reason, frames)
            frames.append(_unlabelled_copy(work, config_type, dyn.nsteps))
            if progress is not None:
                progress.advance(interval, note=f"{temperature_K:g} K")

    dyn.attach(check, interval=min(interval, _CHECK_EVERY))
    dyn.attach(snapshot, interval=interval)
    dyn.run(steps)
    logger.info("MD %s: %d steps, %d snapshots", config_type, steps, len(frames))
    return frames
