"""Candidate structures: the prototype, and strained + rattled copies of it.

Deterministic under a seed (one ``numpy.random.Generator`` per call). Every
candidate records how it was made in ``info["config_type"]`` so datasets can be
split and weighted by origin later.
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms

from pyacemaker.config.schema import StructureConfig
from pyacemaker.structures.phases import build_phases


def build_prototype(config: StructureConfig) -> Atoms:
    """The first phase of the user's structure (the one single-cell stages work on)."""
    return build_phases(config)[0][0].atoms


def supercell_repeat(atoms: Atoms, min_atoms: int) -> tuple[int, int, int]:
    """Smallest near-isotropic repetition with at least ``min_atoms`` atoms.

    Repeats grow along the shortest lattice vector first, so the supercell stays
    as compact as possible (fewer DFT k-points for the same atom count).
    """
    reps = [1, 1, 1]
    lengths = atoms.cell.lengths()
    while len(atoms) * math.prod(reps) < min_atoms:
        shortest = int(np.argmin([lengths[i] * reps[i] for i in range(3)]))
        reps[shortest] += 1
    return reps[0], reps[1], reps[2]


def random_strain(rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A symmetric strain tensor with components uniform in ±amplitude."""
    e = rng.uniform(-amplitude, amplitude, size=(3, 3))
    return 0.5 * (e + e.T)


def strain_rattle(
    prototype: Atoms,
    n: int,
    *,
    max_strain: float,
    rattle: float,
    min_atoms: int,
    seed: int,
    tag: str = "strain_rattle",
) -> list[Atoms]:
    """``n`` candidates: alternately the primitive cell and a supercell, strained and rattled.

    Mixing cell sizes gives the fit both cheap, high-symmetry-like data and
    configurations with more independent atomic environments.
    """
    rng = np.random.default_rng(seed)
    supercell = prototype.repeat(supercell_repeat(prototype, min_atoms))
    out = []
    for i in range(n):
        base = prototype if i % 2 == 0 else supercell
        atoms = base.copy()
        atoms.info["kpoint_cell"] = base.cell.array.ravel()  # DFT k-grid of the unstrained cell
        deformation = np.eye(3) + random_strain(rng, max_strain)
        atoms.set_cell(atoms.cell.array @ deformation, scale_atoms=True)
        atoms.positions += rng.normal(0.0, rattle, size=atoms.positions.shape)
        atoms.info.update(config_type=tag, candidate_index=i, seed=seed)
        out.append(atoms)
    return out


def volume_series(prototype: Atoms, points: int, max_volume_strain: float) -> list[Atoms]:
    """Isotropically scaled copies spanning volumes V0·(1 ± max_volume_strain), for an EOS."""
    out = []
    for factor in np.linspace(1 - max_volume_strain, 1 + max_volume_strain, points):
        atoms = prototype.copy()
        atoms.info["kpoint_cell"] = prototype.cell.array.ravel()  # one k-grid for the series
        atoms.set_cell(atoms.cell.array * factor ** (1 / 3), scale_atoms=True)
        atoms.info.update(config_type="eos", volume_factor=float(factor))
        out.append(atoms)
    return out
