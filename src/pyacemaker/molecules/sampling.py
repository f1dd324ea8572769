# ASE ships py.typed but most of its API is unannotated; its calls return Any.
# mypy: disable-error-code="no-untyped-call"
"""Candidate structures for a reaction: normal modes, rattled path images, MD along the path.

Chemistry needs the regions a reaction visits, not strained crystals: thermal
vibrations around the reactant and product complexes (normal-mode sampling with the
harmonic Boltzmann amplitudes of :func:`~pyacemaker.structures.generators.normal_mode_cells`),
the minimum-energy path itself with small random displacements, and short Langevin MD
started from each path image (the region around the path that a trajectory crossing the
barrier samples). Everything stays non-periodic: a molecule is never replicated or
strained; it sits in a box (``pbc=False``) only so that code which needs a cell has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from pyacemaker.data import CONFIG_TYPE_KEY
from pyacemaker.dynamics.ase_md import MDInstabilityError, StabilityLimits, sample_md
from pyacemaker.structures.generators import normal_mode_cells

VACUUM = 6.0  # Å of empty space on each side of a molecule's box (only a container)


def boxed(atoms: Atoms, vacuum: float = VACUUM) -> Atoms:
    """A non-periodic copy centred in a box ``vacuum`` Å larger than the molecule each side."""
    out: Atoms = atoms.copy()
    out.pbc = False
    out.center(vacuum=vacuum)
    return out


def _tagged(atoms: Atoms, kind: str, index: int) -> Atoms:
    out = boxed(atoms)
    out.info[CONFIG_TYPE_KEY] = kind
    out.info["candidate_index"] = index
    return out


def normal_mode_samples(
    minima: Sequence[Atoms],
    calc: Calculator,
    temperatures: Sequence[float],
    n: int,
    *,
    seed: int,
    workdir: Path,
) -> list[Atoms]:
    """``n`` thermal normal-mode samples per minimum and temperature (Hessian with ``calc``)."""
    out: list[Atoms] = []
    for m, minimum in enumerate(minima):
        for t, temperature in enumerate(temperatures):
            cells = normal_mode_cells(
                minimum, calc, n, temperature_K=temperature, seed=seed + 100 * m + t,
                workdir=workdir / f"modes_{m}_{t}",
            )  # fmt: skip
            out += [_tagged(c, f"normal_modes_{m}", i) for i, c in enumerate(cells)]
    return out


def rattled_path(
    images: Sequence[Atoms], n_per_image: int, amplitude: float, seed: int
) -> list[Atoms]:
    """``n_per_image`` copies of every path image with Gaussian displacements of ``amplitude``."""
    rng = np.random.default_rng(seed)
    out: list[Atoms] = []
    for i, image in enumerate(images):
        for k in range(n_per_image):
            atoms = image.copy()
            atoms.positions += rng.normal(0.0, amplitude, size=atoms.positions.shape)
            out.append(_tagged(atoms, f"path_rattle_{i}", k))
    return out


def path_md(
    images: Sequence[Atoms],
    calc: Calculator,
    temperatures: Sequence[float],
    steps: int,
    interval: int,
    seed: int,
) -> list[Atoms]:
    """Snapshots of short Langevin MD from every image (the hottest temperature) with ``calc``.

    Snapshots before an instability are kept (a fragmenting complex is data too, up to
    the point where it broke).
    """
    if steps == 0:
        return []
    limits = StabilityLimits(min_distance=0.5, isolation_cutoff=None)
    out: list[Atoms] = []
    for i, image in enumerate(images):
        try:
            frames = sample_md(
                image, calc, temperature_K=max(temperatures), steps=steps, interval=interval,
                seed=seed + i, timestep_fs=0.5, limits=limits,
            )  # fmt: skip
        except MDInstabilityError as exc:
            frames = exc.frames
        out += [_tagged(f, f"path_md_{i}", k) for k, f in enumerate(frames)]
    return out
