# ASE ships py.typed but most of its API is unannotated; its calls return Any.
# mypy: disable-error-code="no-untyped-call"
"""Reaction checks of a potential against the oracle (docs/molecules.md).

What a chemist asks of a reactive potential, each computed the same way on both sides:
the barrier and the reaction energy of a climbing-image NEB (the potential's own NEB,
started from the oracle's converged path, against the oracle's), the vibrational
frequencies of reactant and product at each side's own minimum (finite differences),
energy/force parity on the oracle's path and on held-out structures, and MD of the
reactant complex in vacuum (no fusion, no runaway temperature, γ bounded).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from pyacemaker.config.reaction import ReactionValidationConfig
from pyacemaker.molecules.path import (
    CalculatorFactory,
    PathResult,
    climbing_neb,
    frequencies_cm1,
    relax,
)
from pyacemaker.molecules.schemas import FrequencyComparison
from pyacemaker.validation.cells import shortest_distance
from pyacemaker.validation.checks import Check, at_most
from pyacemaker.validation.md import MDResult, md_stability
from pyacemaker.validation.parity import ParityResult

GROUP = "reaction"
MD_MIN_DISTANCE_FACTOR = 0.6  # of the complex's shortest bond: closer atoms have fused


def potential_path(
    oracle_images: Sequence[Atoms], factory: CalculatorFactory
) -> tuple[list[Atoms], PathResult]:
    """The potential's CI-NEB: its own relaxed end points, started from the oracle's path."""
    ends = [oracle_images[0].copy(), oracle_images[-1].copy()]
    for atoms in ends:
        relax(atoms, factory())
    return climbing_neb(ends[0], ends[1], factory, len(oracle_images), start=oracle_images)


def compare_frequencies(
    name: str, minimum: Atoms, oracle: Sequence[float], calc: Calculator, workdir: Path
) -> FrequencyComparison:
    """The potential's frequencies at its own minimum (relaxed from the oracle's) vs oracle's."""
    atoms = minimum.copy()
    relax(atoms, calc)
    mine = frequencies_cm1(atoms, calc, workdir / f"vib_{name}")
    errors = np.array(mine) - np.array(oracle)
    return FrequencyComparison(
        name=name, oracle=list(oracle), potential=mine,
        rmse_cm1=float(np.sqrt(np.mean(errors**2))), max_error_cm1=float(np.max(np.abs(errors))),
    )  # fmt: skip


def complex_md(
    atoms: Atoms, calc: Calculator, gamma_calc: Calculator | None,
    settings: ReactionValidationConfig, seed: int,
) -> MDResult:  # fmt: skip
    """NVT of the complex in vacuum at the target temperature, then a short NVE drift."""
    return md_stability(
        atoms, calc, temperature_K=settings.md_temperature, steps=settings.md_steps,
        nve_steps=settings.md_steps // 2, timestep_fs=settings.md_timestep_fs,
        min_distance=MD_MIN_DISTANCE_FACTOR * shortest_distance(atoms), seed=seed,
        gamma_calc=gamma_calc,
    )  # fmt: skip


def reaction_checks(
    oracle: PathResult,
    potential: PathResult,
    frequencies: Sequence[FrequencyComparison],
    parity: dict[str, ParityResult],
    md: MDResult | None,
    settings: ReactionValidationConfig,
) -> list[Check]:
    """Every pass/fail criterion of a reaction, one :class:`Check` each."""
    s = settings
    checks = [
        at_most("barrier error (eV)", abs(potential.barrier - oracle.barrier),
                s.max_barrier_error, GROUP),
        at_most("reaction energy error (eV)",
                abs(potential.reaction_energy - oracle.reaction_energy),
                s.max_reaction_energy_error, GROUP),
    ]  # fmt: skip
    checks += [
        at_most(f"{f.name} frequency RMSE (cm^-1)", f.rmse_cm1, s.max_frequency_rmse, GROUP)
        for f in frequencies
    ]
    for subset, p in parity.items():
        checks.append(at_most(f"{subset} energy RMSE (meV/atom)", p.energy_rmse_mev,
                              s.max_energy_rmse_mev, "parity"))  # fmt: skip
        checks.append(at_most(f"{subset} force RMSE (eV/Å)", p.force_rmse, s.max_force_rmse,
                              "parity"))  # fmt: skip
    if md is not None:
        stable = Check(name="MD of the complex in vacuum stable", value=float(md.stable),
                       threshold=1.0, passed=md.stable, group="md", reason=md.reason or "")
        checks.append(stable)  # fmt: skip
        if md.gamma_max is not None:
            checks.append(at_most("MD max extrapolation grade γ", md.gamma_max, s.max_gamma, "md"))
    return checks
