"""Pre-DFT filter: discard unphysical candidates, each with the recorded reason.

Two checks: geometry (a pair closer than a fraction of its covalent-radius sum) and,
when a model is at hand, its forces (a structure the model puts under forces above
``max_force`` eV/Å is a collapsed or exploded cell, not training data). The second is
the zero-shot screen with a foundation model: no DFT is spent on what it rejects.
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
    """Why ``atoms`` should never reach DFT, or None if it looks physical."""
    ratio = min_distance_ratio(atoms)
    if ratio < min_distance_factor:
        return (
            f"atoms too close: shortest pair at {ratio:.2f} x the sum of covalent radii "
            f"(< {min_distance_factor})"
        )
    if calc is None:
        return None
    work = atoms.copy()
    work.calc = calc
    force = float(np.linalg.norm(work.get_forces(), axis=1).max())
    energy = float(work.get_potential_energy())
    if not np.isfinite(energy) or not force <= max_force:
        return f"model predicts max force {force:.3g} eV/Å (> {max_force}) or energy {energy:.4g}"
    return None


def screen(
    structures: Sequence[Atoms],
    min_distance_factor: float,
    calc: BaseCalculator | None = None,
    max_force: float = 20.0,
) -> Screened:
    """Split ``structures`` into kept and rejected; rejects get ``info["rejected"]``."""
    out = Screened()
    for i, atoms in enumerate(structures):
        why = unphysical_reason(atoms, min_distance_factor, calc, max_force)
        if why is None:
            out.kept.append(i)
        else:
            atoms.info[REJECT_KEY] = why
            out.rejected[i] = why
    return out
