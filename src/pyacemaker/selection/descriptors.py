"""Per-structure invariant descriptors: a MACE model's node features, or a radial fallback.

With a model (the teacher, or a foundation before any DFT) each atom's invariant node
features (``MACECalculator.get_descriptors``, all layers) are averaged per element and
the per-element means concatenated in a fixed element order, so structures of any size
and composition map to one vector; an element absent from a structure contributes
zeros. Without a model, :func:`~pyacemaker.selection.fps.radial_descriptor` is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from pyacemaker.selection.fps import radial_descriptor


def per_element_mean(
    atoms: Atoms, node_features: NDArray[np.float64], elements: Sequence[str]
) -> NDArray[np.float64]:
    """Concatenated per-element means of per-atom feature rows (zeros for absent elements)."""
    symbols = np.array(atoms.get_chemical_symbols())
    width = node_features.shape[1]
    parts = [
        node_features[symbols == el].mean(axis=0) if np.any(symbols == el) else np.zeros(width)
        for el in elements
    ]
    return np.concatenate(parts)


def mace_descriptors(structures: Sequence[Atoms], model_path: str | Path) -> NDArray[np.float64]:
    """One row per structure from the invariant node features of the MACE model."""
    from pyacemaker.surrogate.mace import mace_calculator

    calc = mace_calculator(model_path)
    elements = sorted({s for a in structures for s in a.get_chemical_symbols()})
    rows = []
    for atoms in structures:
        raw = calc.get_descriptors(atoms.copy(), invariants_only=True)  # type: ignore[attr-defined]
        feats = np.asarray(raw, dtype=np.float64)
        rows.append(per_element_mean(atoms, feats, elements))
    return np.array(rows)


def structure_descriptors(
    structures: Sequence[Atoms], model_path: str | Path | None, cutoff: float = 5.0
) -> tuple[NDArray[np.float64], str]:
    """Descriptors and their name: MACE node features with a model, radial otherwise."""
    if model_path is not None:
        return mace_descriptors(structures, model_path), f"mace node features of {model_path}"
    features = np.array([radial_descriptor(a, cutoff) for a in structures])
    return features, f"radial distribution (cutoff {cutoff} Å)"
