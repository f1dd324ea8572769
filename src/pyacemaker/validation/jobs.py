"""Maker that checks a potential against held-out DFT, the DFT EOS and the validation suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms
from jobflow import Maker, job
from pydantic import BaseModel, Field

from pyacemaker.ace.pacemaker import AceFitError, ace_calculator
from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.config.schema import StructureConfig, ValidationConfig
from pyacemaker.data import read_dataset
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.oracle import LabelDoc
from pyacemaker.progress import stage
from pyacemaker.structures.generate import build_prototype
from pyacemaker.structures.phases import PHASE_KEY, by_phase, first_phase
from pyacemaker.surrogate.mace import mace_calculator
from pyacemaker.surrogate.schemas import TeacherDoc
from pyacemaker.validation.checks import Check, at_most
from pyacemaker.validation.delivery import (
    DIRECT,
    REFIT,
    TEACHER_ROUTE,
    Delivery,
    check_on_training,
    choose,
)
from pyacemaker.validation.eos import EOSResult, eos_from_calculator, eos_from_labels
from pyacemaker.validation.metrics import ErrorMetrics, errors_against
from pyacemaker.validation.reference import Labeller, oracle_labeller
from pyacemaker.validation.suite import SuiteInputs, SuiteResult, phase_eos_checks, run_suite

__all__ = ["Check", "ValidateMaker", "ValidationDoc"]


class ValidationDoc(BaseModel):
    """Held-out errors of the final ACE, the direct fits, the teacher-only ACE and the teacher.

    ``delivery`` says which ACE the run delivers (the teacher route's, the direct fit on
    the training DFT or the refit on all DFT: the best on held-out DFT) and why,
    ``delivered`` is its record; the held-out checks, the EOS and ``suite``
    (phonons, elastic constants, MD stability and parity, when the maker knows the
    structure: always in the pipeline) judge that delivered potential.
    """

    test_errors: dict[str, ErrorMetrics]
    delivery: Delivery | None = None
    delivered: AcePotentialDoc | None = None
    reference_calls: int = Field(default=0, description="DFT calls of the validation suite")
    reference_seconds: float = Field(default=0.0, description="their wall time (s)")
    eos_dft: EOSResult | None  # None when its fit failed (a FAIL check says why)
    eos_ace: EOSResult | None
    checks: list[Check]
    passed: bool
    suite: SuiteResult | None = None
    phase_errors: dict[str, ErrorMetrics] = {}  # final ACE on each phase's held-out cells


@dataclass
class ValidateMaker(Maker):
    """Score the final potential on DFT data no fit has seen, and compare physics with DFT.

    With ``structure`` set, the validation suite also runs: phonons and elastic constants
    against ``oracle`` (the run's DFT, on the 2-atom primitive cell and a small supercell),
    MD stability at ``md_temperatures`` and parity per subset. DFT calculations of the
    suite go to ``workdir/reference``.
    """

    name: str = "validate"
    thresholds: ValidationConfig = field(default_factory=ValidationConfig)
    a_ref: float = 1.0
    v_ref: float = 1.0
    structure: StructureConfig | None = None
    oracle: OracleSpec | None = None
    md_temperatures: list[float] = field(default_factory=lambda: [300.0])
    seed: int = 0

    @job
    def make(
        self,
        final: AcePotentialDoc | None,
        base: AcePotentialDoc | None,
        teacher: TeacherDoc | None,
        test: LabelDoc,
        eos: LabelDoc,
        train: LabelDoc | None = None,
        workdir: str | None = None,
        direct: AcePotentialDoc | None = None,
        refit: AcePotentialDoc | None = None,
    ) -> ValidationDoc:
        """Compute the errors and checks (data files only; the report job writes the report).

        With ``direct`` (ACE fitted on the DFT training labels alone) and ``refit`` (on
        every DFT label, after exploration) the best of them and ``final`` on held-out
        DFT is delivered. ``final``, ``base`` and ``teacher`` are None when a stage of the
        teacher route failed (the pipeline lets this job run then): the direct fit is
        still validated and delivered, and the delivery says so. Raises AceFitError,
        before the suite runs, if there is no potential at all or the delivered one
        misses its own DFT training cells by the bounds.
        """
        held_out = read_dataset(test.dataset)
        first = build_prototype(self.structure).info[PHASE_KEY] if self.structure else None
        eos_cells = first_phase(read_dataset(eos.dataset), first)  # one EOS fit: one phase
        with stage(
            "validate", f"{len(held_out)} held-out DFT structures, {len(eos_cells)} EOS cells"
        ):
            given = {TEACHER_ROUTE: final, DIRECT: direct, REFIT: refit}
            candidates = {k: d for k, d in given.items() if d is not None}
            if not candidates:
                raise AceFitError("no ACE potential to validate: every fit stage failed")
            errors = {k: errors_against(held_out, ace_calculator(d)) for k, d in candidates.items()}
            if base is not None:
                errors["teacher_only_ace"] = errors_against(held_out, ace_calculator(base))
            if teacher is not None:
                errors["teacher"] = errors_against(held_out, mace_calculator(teacher.model_path))
            delivery = choose(errors, self.thresholds, teacher_route_failed=final is None)
            delivered = candidates[delivery.delivered]
            delivered_calc = ace_calculator(delivered)
            train_cells = read_dataset(train.dataset) if train is not None else []
            if train_cells:
                on_train = errors_against(train_cells, ace_calculator(delivered))
                check_on_training(delivery.delivered, on_train, self.thresholds)
            suite, folder = None, Path(workdir or "validate")
            reference = None
            if self.oracle is not None:
                reference = oracle_labeller(self.oracle.build(), folder / "reference")
            if self.structure is not None:
                subsets = {"held-out": held_out}
                if train_cells:
                    subsets = {"train": train_cells, **subsets}
                suite = self._suite(delivered, eos_cells, subsets, folder, reference)
                eos_dft, eos_ace = suite.eos_ref or suite.eos_ace, suite.eos_ace
            else:
                eos_dft = eos_from_labels(eos_cells, self.a_ref, self.v_ref)
                eos_ace = eos_from_calculator(eos_cells, delivered_calc, self.a_ref, self.v_ref)
        phase_errors = {
            name: errors_against(cells, delivered_calc)
            for name, cells in by_phase(held_out).items()
        }
        checks = self._checks(errors, delivery.delivered)
        if len(phase_errors) > 1:
            checks += self._phase_checks(phase_errors)
        checks += suite.checks if suite is not None else []
        all_eos = read_dataset(eos.dataset)
        checks += phase_eos_checks(all_eos, delivered_calc, self.thresholds, first)
        return ValidationDoc(
            test_errors=errors,
            delivery=delivery,
            delivered=delivered,
            eos_dft=eos_dft,
            eos_ace=eos_ace,
            checks=checks,
            passed=all(c.passed for c in checks),
            suite=suite,
            phase_errors=phase_errors,
            reference_calls=reference.calls if reference else 0,
            reference_seconds=reference.seconds if reference else 0.0,
        )

    def _suite(
        self,
        final: AcePotentialDoc,
        eos_cells: list[Atoms],
        subsets: dict[str, list[Atoms]],
        workdir: Path,
        reference: Labeller | None,
    ) -> SuiteResult:
        """Phonons, elastic, MD and parity; the EOS from the run's labelled DFT EOS cells."""
        assert self.structure is not None
        return run_suite(
            SuiteInputs(
                prototype=build_prototype(self.structure),
                potential=ace_calculator(final),
                gamma_calc=ace_calculator(final, active_set=True) if final.asi_path else None,
                config=self.thresholds,
                a_ref=self.a_ref,
                v_ref=self.v_ref,
                workdir=workdir,
                reference=reference,
                eos_reference_cells=eos_cells,
                subsets=subsets,
                md_temperatures=self.md_temperatures,
                seed=self.seed,
                potential_source=str(final.yace_path),
            )
        )

    def _phase_checks(self, errors: dict[str, ErrorMetrics]) -> list[Check]:
        """The held-out bounds per phase: a bad phase cannot hide behind good ones."""
        t = self.thresholds
        checks = []
        for name, m in errors.items():
            checks += [
                at_most(f"held-out [{name}] energy RMSE (meV/atom)", m.energy_rmse_mev,
                        t.max_energy_rmse_mev, "held-out"),
                at_most(f"held-out [{name}] force RMSE (eV/Å)", m.force_rmse, t.max_force_rmse,
                        "held-out"),
            ]  # fmt: skip
        return checks

    def _checks(self, errors: dict[str, ErrorMetrics], delivered: str) -> list[Check]:
        """Held-out bounds on the delivered potential; the delta fit against the base fit."""
        t, final = self.thresholds, errors[delivered]
        checks = [
            at_most(
                "held-out energy RMSE (meV/atom)",
                final.energy_rmse_mev,
                t.max_energy_rmse_mev,
                "held-out",
            ),
            at_most("held-out force RMSE (eV/Å)", final.force_rmse, t.max_force_rmse, "held-out"),
        ]
        if TEACHER_ROUTE in errors and "teacher_only_ace" in errors:  # the route finished
            checks.append(at_most(
                "delta correction improves force RMSE (eV/Å)",
                errors[TEACHER_ROUTE].force_rmse,
                errors["teacher_only_ace"].force_rmse,
                "held-out",
            ))  # fmt: skip
        return checks
