"""Diversity selection: a structural descriptor and farthest-point sampling.

The descriptor is a smeared radial distribution of neighbour distances plus the
volume per atom: invariant to rotations, translations and atom order, cheap, and
sensitive to exactly what strain and rattle change. Farthest-point sampling then
picks structures that cover descriptor space instead of piling up near the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from numpy.typing import NDArray


def smeared(distances: NDArray[np.float64], cutoff: float, bins: int) -> NDArray[np.float64]:
    """One Gaussian-smeared histogram row per pair distance (width: one bin)."""
    centres = np.linspace(0.5, cutoff, bins)
    width = cutoff / bins
    z = (distances[:, None] - centres[None, :]) / width
    rows: NDArray[np.float64] = np.exp(-0.5 * z**2)
    return rows


def radial_descriptor(atoms: Atoms, cutoff: float = 5.0, bins: int = 40) -> NDArray[np.float64]:
    """Per-structure vector: Gaussian-smeared pair-distance histogram per atom, and volume/atom."""
    distances = neighbor_list("d", atoms, cutoff)
    hist = smeared(distances, cutoff, bins).sum(axis=0)
    volume = atoms.get_volume() / len(atoms) if atoms.pbc.all() else 0.0
    return np.concatenate([hist / len(atoms), [volume]])


def atom_histograms(atoms: Atoms, cutoff: float = 5.0, bins: int = 40) -> NDArray[np.float64]:
    """One smeared pair-distance histogram per atom: its environment (their mean is the above)."""
    first, distances = neighbor_list("id", atoms, cutoff)
    out = np.zeros((len(atoms), bins))
    np.add.at(out, first, smeared(distances, cutoff, bins))
    return out


@dataclass
class Selection:
    """Indices picked, in pick order, with the distance that justified each pick.

    ``explanations`` (one per pick) replaces the farthest-point wording for other
    selection methods (DIRECT, random).
    """

    indices: list[int]
    distances: list[float]
    explanations: list[str] = field(default_factory=list)

    def reasons(self) -> list[str]:
        """Human-readable reason per pick, stored with the selected structures."""
        if self.explanations:
            return list(self.explanations)
        return [
            "first pick: farthest from the descriptor mean"
            if k == 0
            else f"farthest-point pick, distance {d:.3g} to the already selected set"
            for k, d in enumerate(self.distances)
        ]


def standardise(features: NDArray[np.float64]) -> NDArray[np.float64]:
    """Columns shifted to zero mean and scaled to unit variance (constant columns kept at 0)."""
    x = np.asarray(features, dtype=float)
    scale = x.std(axis=0)
    out: NDArray[np.float64] = (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    return out


def farthest_point_sampling(features: NDArray[np.float64], n: int) -> Selection:
    """Greedy max-min selection of ``n`` rows of ``features`` (standardised per column).

    Deterministic: starts from the row farthest from the mean, ties broken by index.
    """
    x = standardise(features)
    n = min(n, len(x))
    first = int(np.argmax(np.linalg.norm(x, axis=1)))
    picked, dists = [first], [float(np.linalg.norm(x[first]))]
    nearest = np.linalg.norm(x - x[first], axis=1)
    while len(picked) < n:
        nxt = int(np.argmax(nearest))
        picked.append(nxt)
        dists.append(float(nearest[nxt]))
        nearest = np.minimum(nearest, np.linalg.norm(x - x[nxt], axis=1))
    return Selection(picked, dists)
