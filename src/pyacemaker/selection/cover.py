"""Environment cover: cells picked for the atomic environments they bring.

DIRECT (direct.py) clusters whole cells, so a 2-atom strained cell and a 9-atom
interstitial cell each fill one cluster, whatever they teach. Here every atom of every
candidate is a point (its smeared pair-distance histogram, ``fps.atom_histograms``):
k-means groups all atoms of the pool into ``4 n`` environment clusters, each weighted by
its number of atoms (how common the environment is in the pool), and cells are picked
greedily, each adding the most weight of clusters that no picked cell covers yet. Common
environments are covered first and every defect kind whose environments are unique
still gets a cell. On the quickstart's pw.x labels (benchmarks/selection_quickstart.py,
docs/benchmarks.md) its fits beat random draws of the same calls and atoms on forces in
3 of 3 seeds, on the held-out cells and on the generators' mix, and have lower held-out
forces than DIRECT's; but they take 28-61 % more pw.x time (fewer 2-atom cells) and have
higher energies than DIRECT's in 3 of 3 seeds and B0 errors up to 30 % (DIRECT's: 9 %),
so DIRECT stays the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from sklearn.cluster import KMeans

from pyacemaker.selection.direct import reduce
from pyacemaker.selection.fps import Selection, atom_histograms

CLUSTERS_PER_PICK = 4


def environment_cover(
    structures: Sequence[Atoms], n: int, *, cutoff: float = 5.0, seed: int = 0
) -> Selection:
    """``n`` cells covering the most atom-weighted environment clusters (greedy).

    Ties go to the larger cell, then the lower index; deterministic under ``seed``.
    """
    rows = [atom_histograms(a, cutoff) for a in structures]
    owner = np.concatenate([np.full(len(r), k) for k, r in enumerate(rows)])
    z = reduce(np.vstack(rows))
    k = min(CLUSTERS_PER_PICK * n, len(np.unique(z, axis=0)))
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z).labels_
    weight = np.bincount(labels, minlength=k).astype(float)
    has = [set(labels[owner == i].tolist()) for i in range(len(structures))]
    covered: set[int] = set()
    picked: list[int] = []
    gains: list[float] = []
    for _ in range(min(n, len(structures))):
        gain = {i: float(sum(weight[c] for c in has[i] - covered))
                for i in range(len(structures)) if i not in picked}  # fmt: skip
        best = max(gain, key=lambda i: (gain[i], len(structures[i]), -i))
        picked.append(best)
        gains.append(gain[best])
        covered |= has[best]
    total = float(weight.sum())
    why = [f"environment cover: {g / total:.1%} of the pool's atoms in environments not yet "
           f"covered ({k} clusters)" for g in gains]  # fmt: skip
    return Selection(picked, gains, why)
