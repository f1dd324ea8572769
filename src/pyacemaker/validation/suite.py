"""The validation suite: every validator on one potential, with checks against thresholds.

Order matters once: the EOS comes first because its reference volume fixes the cell on
which phonons and elastic constants are computed for both the potential and the
reference (so differences come from the potential, not from two different cells).
Without a reference the potential's own EOS volume is used and only the checks that
need no reference run (imaginary modes, Born stability, MD). Each expensive validator
can be switched off in :class:`ValidationConfig`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import Calculator
from pydantic import BaseModel

from pyacemaker.config.schema import ValidationConfig
from pyacemaker.structures.generate import supercell_repeat, volume_series
from pyacemaker.structures.phases import by_phase
from pyacemaker.validation.cells import scaled_to_volume, shortest_distance, standard_primitive
from pyacemaker.validation.checks import Check, at_least, at_most, could_not_run, relative_error
from pyacemaker.validation.elastic import ElasticResult, compute_elastic, stiffness_error
from pyacemaker.validation.eos import EOSResult, eos_from_calculator, eos_from_labels
from pyacemaker.validation.md import MDResult, md_stability
from pyacemaker.validation.parity import ParityResult, parity
from pyacemaker.validation.phonons import PhononResult, compute_phonons, phonon_rmse
from pyacemaker.validation.reference import Labeller, calculator_labeller

logger = logging.getLogger(__name__)
# ase.eos: RuntimeError "Optimal parameters not found" (no minimum), ValueError on NaN
EOS_ERRORS = (RuntimeError, ValueError, FloatingPointError)


@dataclass
class SuiteInputs:
    """What the suite needs; ``reference`` None means "no DFT to compare with".

    ``eos_reference_cells`` are already-labelled EOS cells (the pipeline's DFT EOS), used
    instead of labelling a new volume series; ``subsets`` are labelled datasets for
    parity, of which ``checked_subsets`` get RMSE checks.
    """

    prototype: Atoms
    potential: Calculator
    config: ValidationConfig
    a_ref: float
    v_ref: float
    workdir: Path
    reference: Labeller | None = None
    gamma_calc: Calculator | None = None
    eos_reference_cells: Sequence[Atoms] | None = None
    subsets: dict[str, list[Atoms]] = field(default_factory=dict)
    checked_subsets: tuple[str, ...] = ()
    md_temperatures: Sequence[float] = (300.0,)
    seed: int = 0
    potential_source: str = "potential"


class SuiteResult(BaseModel):
    """Everything measured, the checks, and what the reference cost."""

    reference_source: str | None = None
    reference_calls: int = 0
    cell_formula: str
    cell_volume_per_atom: float
    eos_ref: EOSResult | None = None
    eos_ace: EOSResult | None = None  # None: the potential's EOS has no minimum (a FAIL check)
    phonons_ace: PhononResult | None = None
    phonons_ref: PhononResult | None = None
    phonon_rmse_thz: float | None = None
    elastic_ace: ElasticResult | None = None
    elastic_ref: ElasticResult | None = None
    md: list[MDResult] = []
    parity: dict[str, ParityResult] = {}
    checks: list[Check] = []
    wall_time_s: dict[str, float] = {}


def eos_checks(ace: EOSResult, ref: EOSResult, cfg: ValidationConfig) -> list[Check]:
    """a0, B0 (relative) and B′ (absolute) of the potential against the reference EOS."""
    checks = [
        at_most("EOS a0 relative error", relative_error(ace.a0, ref.a0), cfg.max_a0_error, "eos"),
        at_most("EOS B0 relative error", relative_error(ace.b0_gpa, ref.b0_gpa),
                cfg.max_b0_error, "eos"),
    ]  # fmt: skip
    if ace.b0_prime is not None and ref.b0_prime is not None:
        error = abs(ace.b0_prime - ref.b0_prime)
        checks.append(at_most("EOS B' absolute error", error, cfg.max_b0_prime_error, "eos"))
    return checks


def _eos(inp: SuiteInputs) -> tuple[EOSResult | None, EOSResult | None, list[Check]]:
    """Reference and potential EOS on the same cells (the reference's if it has labelled them).

    A fit that fails (ase.eos finds no minimum in the volume range, typical of a bad
    potential) becomes a FAIL check with the reason instead of ending the suite.
    """
    cfg = inp.config
    cells = list(inp.eos_reference_cells or [])
    if not cells:
        cells = volume_series(inp.prototype, cfg.eos_points, cfg.eos_strain)
        if inp.reference is not None:
            cells = inp.reference.label(cells, "eos")
    ref, checks = None, []
    if inp.reference is not None or inp.eos_reference_cells:
        try:
            ref = eos_from_labels(cells, inp.a_ref, inp.v_ref)
        except EOS_ERRORS as exc:
            checks.append(could_not_run("EOS of the reference", "eos", exc))
    try:
        ace = eos_from_calculator(cells, inp.potential, inp.a_ref, inp.v_ref)
    except EOS_ERRORS as exc:
        return ref, None, [*checks, could_not_run("EOS of the potential", "eos", exc)]
    return ref, ace, checks + (eos_checks(ace, ref, cfg) if ref is not None else [])


def phase_eos_checks(
    eos_cells: list[Atoms], potential: Calculator, cfg: ValidationConfig, skip: str | None
) -> list[Check]:
    """EOS checks of the potential against the labels on every phase but ``skip``.

    The suite's EOS, phonons and elastic constants are for the first phase; this keeps
    a0, B0 and B′ of the other phases checked too (their DFT EOS cells are labelled
    anyway). a0 is relative (a_ref 1 at the middle volume), which the check compares.
    """
    checks: list[Check] = []
    for name, cells in by_phase(eos_cells).items():
        if name in (skip, "") or len(cells) < cfg.eos_points:
            continue
        v_mid = sorted(a.get_volume() / len(a) for a in cells)[len(cells) // 2]
        try:
            ref = eos_from_labels(cells, 1.0, v_mid)
            ace = eos_from_calculator(cells, potential, 1.0, v_mid)
        except EOS_ERRORS as exc:
            checks.append(could_not_run(f"[{name}] EOS", "eos", exc))
            continue
        checks += [c.model_copy(update={"name": f"[{name}] {c.name}"})
                   for c in eos_checks(ace, ref, cfg)]  # fmt: skip
    return checks


def _phonons(inp: SuiteInputs, res: SuiteResult, cell: Atoms, ace: Labeller) -> None:
    cfg = inp.config
    res.phonons_ace = compute_phonons(cell, ace, cfg.phonon_min_length, cfg.phonon_displacement)
    res.checks.append(at_least("phonons: lowest frequency (THz)", res.phonons_ace.min_frequency,
                               -cfg.imaginary_tolerance_thz, "phonons"))  # fmt: skip
    if inp.reference is not None:
        res.phonons_ref = compute_phonons(
            cell, inp.reference, cfg.phonon_min_length, cfg.phonon_displacement
        )
        res.phonon_rmse_thz = phonon_rmse(res.phonons_ace, res.phonons_ref)
        res.checks.append(at_most("phonon band RMSE vs reference (THz)", res.phonon_rmse_thz,
                                  cfg.max_phonon_rmse_thz, "phonons"))  # fmt: skip


def elastic_checks(
    ace: ElasticResult, ref: ElasticResult | None, cfg: ValidationConfig
) -> list[Check]:
    """Born stability of the potential; stiffness and VRH moduli against the reference."""
    violated = sum(not ok for ok in ace.born.values())
    checks = [at_most(f"Born stability ({ace.crystal_system}): criteria violated", violated, 0,
                      "elastic")]  # fmt: skip
    if ref is not None:
        checks += [
            at_most("stiffness matrix relative RMS error", stiffness_error(ace, ref),
                    cfg.max_elastic_error, "elastic"),
            at_most("bulk modulus (VRH) relative error",
                    relative_error(ace.bulk_modulus_vrh, ref.bulk_modulus_vrh),
                    cfg.max_modulus_error, "elastic"),
            at_most("shear modulus (VRH) relative error",
                    relative_error(ace.shear_modulus_vrh, ref.shear_modulus_vrh),
                    cfg.max_modulus_error, "elastic"),
        ]  # fmt: skip
    return checks


def _elastic(inp: SuiteInputs, res: SuiteResult, cell: Atoms, ace: Labeller) -> None:
    cfg = inp.config
    res.elastic_ace = compute_elastic(cell, ace, cfg.elastic_strain, cfg.elastic_points)
    if inp.reference is not None:
        res.elastic_ref = compute_elastic(
            cell, inp.reference, cfg.elastic_strain, cfg.elastic_points
        )
    res.checks += elastic_checks(res.elastic_ace, res.elastic_ref, cfg)


def md_checks(md: MDResult, cfg: ValidationConfig) -> list[Check]:
    """Stability (no fused or lost atoms, finite, bounded T), NVE drift, max γ."""
    t = f"MD {md.temperature_K:g} K"
    checks = [at_least(f"{t}: completed without instability", float(md.stable), 1.0, "md")]
    if md.energy_drift_mev_atom_ps is not None:
        checks.append(at_most(f"{t}: NVE energy drift (meV/atom/ps)",
                              md.energy_drift_mev_atom_ps, cfg.max_energy_drift, "md"))  # fmt: skip
    if md.gamma_max is not None:
        checks.append(at_most(f"{t}: max extrapolation grade γ", md.gamma_max, cfg.max_gamma, "md"))
    return checks


def _md(inp: SuiteInputs, res: SuiteResult, cell: Atoms) -> None:
    cfg = inp.config
    supercell = cell.repeat(supercell_repeat(cell, cfg.md_supercell_atoms))
    min_distance = cfg.md_min_distance_factor * shortest_distance(cell)
    for i, temperature in enumerate(cfg.md_temperatures or inp.md_temperatures):
        md = md_stability(
            supercell, inp.potential, temperature_K=temperature, steps=cfg.md_steps,
            nve_steps=cfg.md_nve_steps, timestep_fs=cfg.md_timestep_fs,
            min_distance=min_distance, seed=inp.seed + i, gamma_calc=inp.gamma_calc,
        )  # fmt: skip
        res.md.append(md)
        res.checks += md_checks(md, cfg)


def _parity(inp: SuiteInputs, res: SuiteResult, ace: Labeller) -> None:
    cfg = inp.config
    for name, structures in inp.subsets.items():
        if not structures:
            continue
        p = parity(structures, ace, name, inp.workdir)
        res.parity[name] = p
        if name in inp.checked_subsets:
            res.checks += [
                at_most(f"{name} energy RMSE (meV/atom)", p.energy_rmse_mev,
                        cfg.max_energy_rmse_mev, "parity"),
                at_most(f"{name} force RMSE (eV/Å)", p.force_rmse, cfg.max_force_rmse, "parity"),
            ]  # fmt: skip


def run_suite(inp: SuiteInputs) -> SuiteResult:
    """Run every enabled validator; the reference is labelled only where a check needs it."""
    cfg = inp.config
    start = time.perf_counter()
    eos_ref, eos_ace, checks = _eos(inp)
    fitted = eos_ref or eos_ace
    v0 = fitted.v0 if fitted is not None else inp.v_ref
    cell = scaled_to_volume(standard_primitive(inp.prototype), v0)
    res = SuiteResult(
        cell_formula=cell.get_chemical_formula(),
        cell_volume_per_atom=v0,
        eos_ref=eos_ref,
        eos_ace=eos_ace,
        checks=checks,
        wall_time_s={"eos": round(time.perf_counter() - start, 2)},
    )
    ace = calculator_labeller(inp.potential, inp.potential_source)
    steps: list[tuple[str, Callable[[], None]]] = [("parity", lambda: _parity(inp, res, ace))]
    if cfg.phonons:
        steps.append(("phonons", lambda: _phonons(inp, res, cell, ace)))
    if cfg.elastic:
        steps.append(("elastic", lambda: _elastic(inp, res, cell, ace)))
    if cfg.md:
        steps.append(("md", lambda: _md(inp, res, cell)))
    for name, step in steps:
        begin = time.perf_counter()
        try:
            step()
        except Exception as exc:  # a validator failing on a bad potential is a finding
            logger.warning("validation %s could not run: %s", name, exc)
            res.checks.append(could_not_run(f"{name}: completed", name, exc))
        res.wall_time_s[name] = round(time.perf_counter() - begin, 2)
        logger.info("validation %s: %.1f s", name, res.wall_time_s[name])
    if inp.reference is not None:
        res.reference_source, res.reference_calls = inp.reference.source, inp.reference.calls
    return res
