"""Maker that checks a potential against held-out DFT, the DFT EOS and the validation suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms
from jobflow import Maker, job
from pydantic import BaseModel

from pyacemaker.ace.pacemaker import ace_calculator
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
from pyacemaker.validation.eos import EOSResult, eos_from_calculator, eos_from_labels
from pyacemaker.validation.metrics import ErrorMetrics, errors_against
from pyacemaker.validation.reference import oracle_labeller
from pyacemaker.validation.suite import SuiteInputs, SuiteResult, phase_eos_checks, run_suite

__all__ = ["Check", "ValidateMaker", "ValidationDoc"]


class ValidationDoc(BaseModel):
    """Held-out errors of the final ACE, the teacher-only ACE and the teacher; EOS; checks.

    ``suite`` holds phonons, elastic constants, MD stability and parity when the maker
    knows the structure (always in the pipeline); its checks are also in ``checks``.
    """

    test_errors: dict[str, ErrorMetrics]
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
        final: AcePotentialDoc,
        base: AcePotentialDoc,
        teacher: TeacherDoc,
        test: LabelDoc,
        eos: LabelDoc,
        train: LabelDoc | None = None,
        workdir: str | None = None,
    ) -> ValidationDoc:
        """Compute the errors and checks (data files only; the report job writes the report)."""
        held_out = read_dataset(test.dataset)
        first = build_prototype(self.structure).info[PHASE_KEY] if self.structure else None
        eos_cells = first_phase(read_dataset(eos.dataset), first)  # one EOS fit: one phase
        with stage(
            "validate", f"{len(held_out)} held-out DFT structures, {len(eos_cells)} EOS cells"
        ):
            final_calc = ace_calculator(final)
            errors = {
                "final_ace": errors_against(held_out, final_calc),
                "teacher_only_ace": errors_against(held_out, ace_calculator(base)),
                "teacher": errors_against(held_out, mace_calculator(teacher.model_path)),
            }
            suite = None
            if self.structure is not None:
                subsets = {"held-out": held_out}
                if train is not None:
                    subsets = {"train": read_dataset(train.dataset), **subsets}
                suite = self._suite(final, eos_cells, subsets, Path(workdir or "validate"))
                eos_dft, eos_ace = suite.eos_ref or suite.eos_ace, suite.eos_ace
            else:
                eos_dft = eos_from_labels(eos_cells, self.a_ref, self.v_ref)
                eos_ace = eos_from_calculator(eos_cells, final_calc, self.a_ref, self.v_ref)
        phase_errors = {
            name: errors_against(cells, final_calc) for name, cells in by_phase(held_out).items()
        }
        checks = self._checks(errors["final_ace"], errors["teacher_only_ace"])
        if len(phase_errors) > 1:
            checks += self._phase_checks(phase_errors)
        checks += suite.checks if suite is not None else []
        checks += phase_eos_checks(read_dataset(eos.dataset), final_calc, self.thresholds, first)
        return ValidationDoc(
            test_errors=errors,
            eos_dft=eos_dft,
            eos_ace=eos_ace,
            checks=checks,
            passed=all(c.passed for c in checks),
            suite=suite,
            phase_errors=phase_errors,
        )

    def _suite(
        self,
        final: AcePotentialDoc,
        eos_cells: list[Atoms],
        subsets: dict[str, list[Atoms]],
        workdir: Path,
    ) -> SuiteResult:
        """Phonons, elastic, MD and parity; the EOS from the run's labelled DFT EOS cells."""
        assert self.structure is not None
        reference = None
        if self.oracle is not None:
            reference = oracle_labeller(self.oracle.build(), workdir / "reference")
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

    def _checks(self, final: ErrorMetrics, base: ErrorMetrics) -> list[Check]:
        t = self.thresholds
        return [
            at_most(
                "held-out energy RMSE (meV/atom)",
                final.energy_rmse_mev,
                t.max_energy_rmse_mev,
                "held-out",
            ),
            at_most("held-out force RMSE (eV/Å)", final.force_rmse, t.max_force_rmse, "held-out"),
            at_most(
                "delta correction improves force RMSE (eV/Å)",
                final.force_rmse,
                base.force_rmse,
                "held-out",
            ),
        ]
