# ASE ships py.typed but most of its API is unannotated; its calls return Any.
# mypy: disable-error-code="no-untyped-call"
"""Reaction paths and vibrations with any ASE calculator: relax, climbing-image NEB, modes.

The same functions serve the oracle (the reference path and frequencies) and the fitted
potential (the path it predicts), so both sides of every reaction check are computed
the same way and differ only in the calculator. Calls are counted with
:class:`CountingCalculator`, so the cost of the oracle's own path and Hessian is
reported with the labelling calls (docs/molecules.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator, Calculator, all_changes
from ase.mep import NEB
from ase.optimize import BFGS, FIRE
from pydantic import BaseModel

CalculatorFactory = Callable[[], BaseCalculator]
CM1 = units.invcm  # eV per cm^-1


class CountingCalculator(Calculator):
    """Delegates to ``inner`` and counts the evaluations (one per new geometry)."""

    implemented_properties = ["energy", "forces"]  # noqa: RUF012 (ASE reads the list)

    def __init__(self, inner: BaseCalculator) -> None:
        """Wrap ``inner``; ``calls`` starts at zero."""
        super().__init__()
        self.inner = inner
        self.calls = 0

    def calculate(
        self, atoms: Atoms | None = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        """Evaluate energy and forces with the wrapped calculator."""
        super().calculate(atoms, properties, system_changes)
        if self.atoms is None:
            raise ValueError("CountingCalculator called without atoms")
        work = self.atoms.copy()
        work.calc = self.inner
        self.results = {"energy": work.get_potential_energy(), "forces": work.get_forces()}
        self.calls += 1


class PathResult(BaseModel):
    """A minimum-energy path: energies relative to the first image and what it cost."""

    energies: list[float]  # eV, relative to the reactant (image 0)
    distances: list[float]  # Å, cumulative image-to-image distance (reaction coordinate)
    barrier: float  # eV, highest image minus reactant
    reaction_energy: float  # eV, product minus reactant
    converged: bool
    n_calls: int


def relax(atoms: Atoms, calc: BaseCalculator, fmax: float = 0.01, steps: int = 300) -> bool:
    """Relax ``atoms`` in place with BFGS; True when it converged within ``steps``."""
    atoms.calc = calc
    return bool(BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps))


def path_coordinate(images: Sequence[Atoms]) -> list[float]:
    """Cumulative Cartesian distance along the images (Å), 0 at the reactant."""
    steps = [np.linalg.norm(b.positions - a.positions) for a, b in itertools.pairwise(images)]
    return [0.0, *np.cumsum(steps).tolist()]


def climbing_neb(
    reactant: Atoms,
    product: Atoms,
    factory: CalculatorFactory,
    n_images: int,
    *,
    start: Sequence[Atoms] | None = None,
    fmax: float = 0.05,
    steps: int = 400,
) -> tuple[list[Atoms], PathResult]:
    """Climbing-image NEB (ase.mep.NEB, improved tangents) between two relaxed end points.

    ``start`` gives the initial images (e.g. another calculator's converged path, so the
    two paths are compared from the same start); otherwise IDPP interpolation. Each image
    has its own calculator from ``factory``, counted. Returns images with energies.
    """
    if start is not None:
        images = [a.copy() for a in start]
        images[0].positions, images[-1].positions = reactant.positions, product.positions
    else:
        images = [reactant.copy()] + [reactant.copy() for _ in range(n_images - 2)]
        images.append(product.copy())
    calcs = [CountingCalculator(factory()) for _ in images]
    for atoms, calc in zip(images, calcs, strict=True):
        atoms.calc = calc
    neb = NEB(images, climb=True, method="improvedtangent")
    if start is None:
        neb.interpolate(method="idpp")
    converged = bool(FIRE(neb, logfile=None).run(fmax=fmax, steps=steps))
    energies = np.array([a.get_potential_energy() for a in images])
    relative = (energies - energies[0]).tolist()
    result = PathResult(
        energies=relative,
        distances=path_coordinate(images),
        barrier=float(max(relative)),
        reaction_energy=float(relative[-1]),
        converged=converged,
        n_calls=sum(c.calls for c in calcs),
    )
    return images, result


def frequencies_cm1(atoms: Atoms, calc: Calculator, workdir: str | Path) -> list[float]:
    """Vibrational frequencies (cm^-1, imaginary ones negative) by finite differences.

    The 3N-6 (3N-5 for a linear molecule) modes highest in magnitude, ascending: the six
    near-zero translations and rotations are dropped, as ASE's own summary does.
    """
    from ase.vibrations import Vibrations  # imports matplotlib: only when computing modes

    work = atoms.copy()
    work.calc = calc
    vib = Vibrations(work, name=str(Path(workdir) / "vib"), delta=0.01, nfree=2)
    vib.clean()
    vib.run()
    energies = vib.get_energies()
    vib.clean()
    signed = np.where(np.abs(energies.imag) > np.abs(energies.real), -energies.imag, energies.real)
    n_rigid = 5 if _is_linear(atoms) else 6
    kept = np.sort(np.argsort(np.abs(signed))[n_rigid:])
    return sorted(float(s / CM1) for s in signed[kept])


def _is_linear(atoms: Atoms) -> bool:
    """All atoms on one line (moment of inertia about the axis vanishes)."""
    return bool(len(atoms) == 2 or np.min(atoms.get_moments_of_inertia()) < 1e-3)
