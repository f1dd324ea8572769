"""Pre-DFT filter: discard unphysical candidates, each with the recorded reason.

Checks: geometry (a pair closer than a fraction of its covalent-radius sum) and, when
a model is at hand (a foundation: MACE-MP-0, CHGNet, ...), its forces and energies: a
structure it puts under forces above ``max_force`` eV/Å, or more than
``max_energy_above`` eV/atom above the lowest candidate, is a collapsed or exploded
cell, not training data. That is the zero-shot screen: no DFT is spent on what it
rejects. The energy bound is relative because a universal model's energy zero is its
own; 1 eV/atom lies far above strained, rattled, defective or molten cells (a melt
is about 0.3 eV/atom above the crystal) and far below an exploded one (a cell
expanded until its atoms are free costs the cohesive energy, 4.6 eV/atom for Si).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from pyacemaker.structures.generators import min_distance_ratio

REJECT_KEY = "rejected"


@dataclass
class Screened:
    """Indices of kept structures, and of rejected ones with their reasons."""

    kept: list[int] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)


def unphysical_reason(
    atoms: Atoms,
    min_distance_factor: float,
    calc: BaseCalculator | None = None,
    max_force: float = 20.0,
) -> str | None:
    """Why ``atoms`` should never reach DFT, or None if it looks physical (one structure)."""
    ratio = min_distance_ratio(atoms)
    if ratio < min_distance_factor:
        return (
            f"atoms too close: shortest pair at {ratio:.2f} x the sum of covalent radii "
            f"(< {min_distance_factor})"
        )
    if calc is None:
        return None
    return _model_check(atoms, calc, max_force)[0]


def _model_check(atoms: Atoms, calc: BaseCalculator, max_force: float) -> tuple[str | None, float]:
    """The model's verdict on ``atoms`` and its energy per atom (eV)."""
    work = atoms.copy()
    work.calc = calc
    force = float(np.linalg.norm(work.get_forces(), axis=1).max())
    energy = float(work.get_potential_energy()) / len(atoms)
    if not np.isfinite(energy) or not force <= max_force:
        return (
            f"model predicts max force {force:.3g} eV/Å (> {max_force}) "
            f"or energy {energy:.4g} eV/atom",
            energy,
        )
    return None, energy


def screen(
    structures: Sequence[Atoms],
    min_distance_factor: float,
    calc: BaseCalculator | None = None,
    max_force: float = 20.0,
    max_energy_above: float = 1.0,
) -> Screened:
    """Split ``structures`` into kept and rejected; rejects get ``info["rejected"]``."""
    reasons: dict[int, str] = {}
    energies: dict[int, float] = {}
    for i, atoms in enumerate(structures):
        why = unphysical_reason(atoms, min_distance_factor)
        if why is None and calc is not None:
            why, energies[i] = _model_check(atoms, calc, max_force)
        if why is not None:
            reasons[i] = why
    fine = {i: e for i, e in energies.items() if i not in reasons}
    floor = min(fine.values(), default=0.0)
    for i, e in fine.items():
        if e - floor > max_energy_above:
            reasons[i] = (
                f"model puts it {e - floor:.2f} eV/atom above the lowest candidate "
                f"(> {max_energy_above}): collapsed or exploded"
            )
    out = Screened()
    for i, atoms in enumerate(structures):
        if i in reasons:
            atoms.info[REJECT_KEY] = reasons[i]
            out.rejected[i] = reasons[i]
        else:
            out.kept.append(i)
    return out
