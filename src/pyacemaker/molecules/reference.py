# ASE ships py.typed but most of its API is unannotated; its calls return Any.
# mypy: disable-error-code="no-untyped-call"
"""The oracle's side of a reaction: relaxed end points, its CI-NEB path, its frequencies.

Computed once per run by the sampling stage, because the candidates are built around
exactly this path and these minima; validation then compares the potential against it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from pyacemaker.data import attach_labels, write_dataset
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.molecules.path import (
    CalculatorFactory,
    CountingCalculator,
    PathResult,
    climbing_neb,
    frequencies_cm1,
    relax,
)
from pyacemaker.molecules.sampling import boxed


def oracle_factory(spec: OracleSpec, workdir: Path) -> CalculatorFactory:
    """Fresh oracle calculators (each in its own folder for engines that write files)."""
    oracle = spec.build()
    counter = iter(range(1_000_000))
    return lambda: oracle.factory(workdir / f"calc_{next(counter):05d}")


@dataclass
class OracleReaction:
    """What the oracle says about the reaction, and how many evaluations it took."""

    reactant: Atoms
    product: Atoms
    images: list[Atoms]
    path: PathResult
    reactant_frequencies: list[float]
    product_frequencies: list[float]
    n_calls: int
    wall_time_s: float


def labelled_images(images: list[Atoms], source: str) -> list[Atoms]:
    """The NEB images as labelled, boxed structures (energies and forces of their last step)."""
    return [
        attach_labels(boxed(a), a.get_potential_energy(), a.get_forces(), None, source)
        for a in images
    ]


def oracle_reaction(
    reactant: Atoms,
    product: Atoms,
    factory: CalculatorFactory,
    n_images: int,
    workdir: Path,
    *,
    do_relax: bool = True,
    ts_guess: Atoms | None = None,
) -> OracleReaction:
    """Relax the end points, run the CI-NEB and the finite-difference frequencies."""
    start = time.perf_counter()
    ends = [boxed(reactant), boxed(product)]
    counters = [CountingCalculator(factory()) for _ in ends]
    if do_relax:
        for atoms, calc in zip(ends, counters, strict=True):
            relax(atoms, calc)
    initial = None
    if ts_guess is not None:  # reactant - guess - product, interpolated linearly in two halves
        initial = _through_guess(ends[0], boxed(ts_guess), ends[1], n_images)
    images, path = climbing_neb(ends[0], ends[1], factory, n_images, start=initial)
    freq_calcs = [CountingCalculator(factory()) for _ in ends]
    freqs = [
        frequencies_cm1(atoms, calc, workdir / f"vib_{i}")
        for i, (atoms, calc) in enumerate(zip(ends, freq_calcs, strict=True))
    ]
    calls = path.n_calls + sum(c.calls for c in counters + freq_calcs)
    return OracleReaction(
        reactant=ends[0], product=ends[1], images=images, path=path,
        reactant_frequencies=freqs[0], product_frequencies=freqs[1],
        n_calls=calls, wall_time_s=time.perf_counter() - start,
    )  # fmt: skip


def _through_guess(reactant: Atoms, guess: Atoms, product: Atoms, n_images: int) -> list[Atoms]:
    """Images interpolated linearly reactant → guess → product (the guess is the middle)."""
    guess.positions += reactant.get_center_of_mass() - guess.get_center_of_mass()
    half = n_images // 2
    out = []
    for i in range(n_images):
        a, b, f = (reactant, guess, i / half) if i <= half else (
            guess, product, (i - half) / (n_images - 1 - half))  # fmt: skip
        image = reactant.copy()
        image.positions = (1 - f) * a.positions + f * b.positions
        out.append(image)
    return out


def write_oracle_files(reaction: OracleReaction, source: str, folder: Path) -> dict[str, str]:
    """``reactant.xyz``, ``product.xyz`` and the labelled ``path.xyz`` in ``folder``."""
    files = {
        "reactant": write_dataset(folder / "reactant.xyz", [reaction.reactant.copy()]),
        "product": write_dataset(folder / "product.xyz", [reaction.product.copy()]),
        "path": write_dataset(folder / "path.xyz", labelled_images(reaction.images, source)),
    }
    return {k: str(v) for k, v in files.items()}
