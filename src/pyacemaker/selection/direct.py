"""DIRECT sampling: dimensionality reduction, clustering, stratified picks per cluster.

After Qi et al., "Robust training of machine learning interatomic potentials with
dimensionality reduction and stratified sampling" (npj Comput. Mater. 10, 43 (2024)):
standardised descriptors → PCA keeping most of the variance → k-means into as many
clusters as picks (or fewer) → from each cluster the members nearest its centroid.
Every region of descriptor space gets a representative, and unlike farthest-point
sampling the picks are typical members, not the outliers at the edges.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from pyacemaker.selection.fps import Selection, standardise

EXPLAINED_VARIANCE = 0.95


def reduce(features: NDArray[np.float64], explained: float = EXPLAINED_VARIANCE) -> np.ndarray:
    """Standardised features projected on the principal components explaining ``explained``."""
    x = standardise(features)
    if x.shape[0] < 3 or not np.any(x):
        return x
    pca = PCA(n_components=explained, svd_solver="full")
    return np.asarray(pca.fit_transform(x))


def direct_sampling(
    features: NDArray[np.float64], n: int, *, n_clusters: int | None = None, seed: int = 0
) -> Selection:
    """Pick ``n`` rows: k-means on the PCA scores, then picks spread over the clusters.

    ``n_clusters`` defaults to ``n`` (one pick per cluster, the member nearest the
    centroid). With fewer clusters, picks go round-robin over the clusters, largest
    first, each time the next-nearest member to that cluster's centroid. Deterministic
    under ``seed``.
    """
    z = reduce(features)
    n = min(n, len(z))
    k = min(n_clusters or n, len(np.unique(z, axis=0)))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
    dist = np.linalg.norm(z - km.cluster_centers_[km.labels_], axis=1)
    queues = [
        [int(i) for i in sorted(np.flatnonzero(km.labels_ == c), key=lambda i: (dist[i], i))]
        for c in range(k)
    ]
    order = sorted(range(k), key=lambda c: (-len(queues[c]), c))
    picked: list[int] = []
    why: list[str] = []
    while len(picked) < n:
        for c in order:
            if queues[c] and len(picked) < n:
                i = queues[c].pop(0)
                picked.append(i)
                size = int(np.sum(km.labels_ == c))
                why.append(
                    f"DIRECT: cluster {c} of {k} ({size} members), "
                    f"{dist[i]:.3g} from its centroid in {z.shape[1]} PCA dimensions"
                )
    return Selection(picked, [float(dist[i]) for i in picked], why)


def random_sampling(n_rows: int, n: int, seed: int) -> Selection:
    """``n`` uniformly random rows (the baseline every smarter selection must beat)."""
    picked = [int(i) for i in np.random.default_rng(seed).permutation(n_rows)[:n]]
    return Selection(picked, [0.0] * len(picked), [f"random pick (seed {seed})"] * len(picked))


def coverage_radius(features: NDArray[np.float64], picked: list[int]) -> float:
    """Largest distance from any row to its nearest picked row (smaller = better covered)."""
    x = np.asarray(features, dtype=float)
    d = np.linalg.norm(x[:, None, :] - x[picked][None, :, :], axis=2)
    return float(d.min(axis=1).max())
