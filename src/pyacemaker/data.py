"""Labelled structures: the one currency that moves between pipeline stages.

A labelled structure is an ASE ``Atoms`` whose reference labels live under the
``REF_`` keys that MACE reads by default (``REF_energy`` in ``info``, ``REF_forces``
in ``arrays``, ``REF_stress`` as a 6-vector in Voigt order, eV/Å³), plus provenance
in ``info`` (``label_source``: which engine and settings produced the labels,
``config_type``: which generator made the structure). Datasets on disk are extxyz,
so every intermediate file can be opened with ``ase gui`` or ``ase.io.read``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write
from numpy.typing import NDArray

ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"
STRESS_KEY = "REF_stress"
SOURCE_KEY = "label_source"
CONFIG_TYPE_KEY = "config_type"

FloatArray = NDArray[np.float64]


def attach_labels(
    atoms: Atoms,
    energy: float,
    forces: FloatArray,
    stress: FloatArray | None,
    source: str,
) -> Atoms:
    """Return a copy of ``atoms`` carrying labels and the name of what produced them.

    A copy, so that the unlabelled candidate stays reusable by other oracles.
    """
    labelled: Atoms = atoms.copy()
    labelled.calc = None
    labelled.info[ENERGY_KEY] = float(energy)
    labelled.arrays[FORCES_KEY] = np.asarray(forces, dtype=float).reshape(len(atoms), 3)
    if stress is not None:
        labelled.info[STRESS_KEY] = np.asarray(stress, dtype=float).reshape(6)
    labelled.info[SOURCE_KEY] = source
    return labelled


def energy_of(atoms: Atoms) -> float:
    """Reference energy (eV) of a labelled structure."""
    return float(atoms.info[ENERGY_KEY])


def forces_of(atoms: Atoms) -> FloatArray:
    """Reference forces (eV/Å) of a labelled structure."""
    return np.asarray(atoms.arrays[FORCES_KEY], dtype=float)


def stress_of(atoms: Atoms) -> FloatArray | None:
    """Reference stress (Voigt, eV/Å³) of a labelled structure, if it has one."""
    stress = atoms.info.get(STRESS_KEY)
    return None if stress is None else np.asarray(stress, dtype=float).reshape(6)


def write_dataset(path: str | Path, structures: Iterable[Atoms]) -> Path:
    """Write structures to an extxyz file (parent folders created) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = list(structures)
    for atoms in frames:
        atoms.calc = None
    write(path, frames, format="extxyz")
    return path


def read_dataset(path: str | Path) -> list[Atoms]:
    """Read every structure of an extxyz dataset (an empty file gives an empty list)."""
    path = Path(path)
    if path.stat().st_size == 0:
        return []
    frames = read(path, index=":", format="extxyz")
    return list(frames) if isinstance(frames, list) else [frames]


def energy_force_rmse(
    reference: Sequence[Atoms],
    predicted_energy: Sequence[float],
    predicted_forces: Sequence[FloatArray],
) -> tuple[float, float]:
    """RMSE of energy per atom (eV/atom) and of force components (eV/Å) against labels."""
    e_err = [(e - energy_of(a)) / len(a) for a, e in zip(reference, predicted_energy, strict=True)]
    f_err = np.concatenate(
        [(f - forces_of(a)).ravel() for a, f in zip(reference, predicted_forces, strict=True)]
    )
    return float(np.sqrt(np.mean(np.square(e_err)))), float(np.sqrt(np.mean(np.square(f_err))))
