"""A committee of MACE teachers and the force deviation between them.

Member 0 is the teacher itself; the others are trained from the same starting point
(foundation or scratch) with other seeds and, by default, on bootstrap resamples of
the DFT data, for a fraction of the teacher's epochs (they only have to disagree where
the data say nothing, not to be as accurate). The spread of their forces is the
uncertainty: per atom ``σ_i = sqrt(mean_m |F_i^m - mean_m F_i^m|²)`` (eV/Å), per
structure its maximum over atoms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from pyacemaker.surrogate.mace import mace_calculator, train_mace
from pyacemaker.surrogate.schemas import TeacherDoc

MEMBER_SEED_STEP = 1000


class CommitteeDoc(BaseModel):
    """The committee's members (member 0 = the teacher) and how the extras were made."""

    members: list[TeacherDoc]
    bootstrap: bool
    epochs_fraction: float
    wall_time_s: float = Field(ge=0, description="training time of the extra members")


def bootstrap_split(n: int, seed: int) -> tuple[list[int], list[int]]:
    """Indices drawn with replacement (``n`` of them) and the out-of-bag rest (validation)."""
    draw = np.random.default_rng(seed).integers(0, n, size=n)
    out_of_bag = sorted(set(range(n)) - set(draw.tolist()))
    return sorted(draw.tolist()), out_of_bag


def train_committee(
    teacher: TeacherDoc,
    train: Sequence[Atoms],
    workdir: str | Path,
    *,
    size: int,
    epochs_fraction: float = 0.5,
    bootstrap: bool = True,
) -> CommitteeDoc:
    """Train ``size - 1`` extra members next to ``teacher`` (same foundation, other seeds).

    Bootstrap members validate on their out-of-bag structures, so every member's
    recorded validation error is on data it did not see.
    """
    members = [teacher]
    wall = 0.0
    for k in range(1, size):
        seed = teacher.settings.seed + MEMBER_SEED_STEP * k
        epochs = max(1, math.ceil(epochs_fraction * teacher.settings.max_num_epochs))
        settings = teacher.settings.model_copy(update={"seed": seed, "max_num_epochs": epochs})
        data, valid = list(train), None
        if bootstrap:
            drawn, oob = bootstrap_split(len(train), seed)
            data = [train[i] for i in drawn]
            valid = [train[i] for i in oob] or None
        doc = train_mace(
            data, Path(workdir) / f"member_{k}", settings,
            foundation=teacher.foundation_resolution, valid=valid,
        )  # fmt: skip
        wall += doc.wall_time_s
        members.append(doc)
    return CommitteeDoc(
        members=members, bootstrap=bootstrap, epochs_fraction=epochs_fraction, wall_time_s=wall
    )


def force_deviation(forces: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-atom deviation from ``forces`` of shape (members, atoms, 3), in eV/Å."""
    f = np.asarray(forces, dtype=float)
    spread = f - f.mean(axis=0, keepdims=True)
    return np.asarray(np.sqrt(np.mean(np.sum(spread**2, axis=2), axis=0)))


@dataclass
class Prediction:
    """Committee output for one structure."""

    energies: NDArray[np.float64]  # (members,)
    forces: NDArray[np.float64]  # (members, atoms, 3)

    @property
    def atom_deviation(self) -> NDArray[np.float64]:
        """Force deviation per atom (eV/Å)."""
        return force_deviation(self.forces)

    @property
    def max_deviation(self) -> float:
        """Largest per-atom force deviation of the structure (eV/Å)."""
        return float(self.atom_deviation.max())


@dataclass
class Committee:
    """Loaded members, evaluated on demand."""

    calculators: list[Calculator]

    @classmethod
    def load(cls, doc: CommitteeDoc) -> Committee:
        """Load every member's ``.model`` file once."""
        return cls([mace_calculator(m.model_path) for m in doc.members])

    def predict(self, atoms: Atoms) -> Prediction:
        """Energies and forces of every member for ``atoms``."""
        energies, forces = [], []
        for calc in self.calculators:
            work = atoms.copy()
            work.calc = calc
            energies.append(float(work.get_potential_energy()))
            forces.append(np.asarray(work.get_forces(), dtype=float))
        return Prediction(np.array(energies), np.array(forces))
