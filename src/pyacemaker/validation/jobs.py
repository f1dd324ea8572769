"""Maker that checks a potential against held-out DFT and the DFT equation of state."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Maker, job
from pydantic import BaseModel

from pyacemaker.ace.pacemaker import ace_calculator
from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.config.schema import ValidationConfig
from pyacemaker.data import read_dataset
from pyacemaker.oracle import LabelDoc
from pyacemaker.progress import stage
from pyacemaker.surrogate.mace import mace_calculator
from pyacemaker.surrogate.schemas import TeacherDoc
from pyacemaker.validation.eos import EOSResult, eos_from_calculator, eos_from_labels
from pyacemaker.validation.metrics import ErrorMetrics, errors_against


class Check(BaseModel):
    """One pass/fail criterion with its measured value."""

    name: str
    value: float
    threshold: float
    passed: bool


class ValidationDoc(BaseModel):
    """Held-out errors of the final ACE, the teacher-only ACE and the teacher; EOS; checks."""

    test_errors: dict[str, ErrorMetrics]
    eos_dft: EOSResult
    eos_ace: EOSResult
    checks: list[Check]
    passed: bool


@dataclass
class ValidateMaker(Maker):
    """Score the final potential on DFT data no fit has seen, and compare EOS with DFT."""

    name: str = "validate"
    thresholds: ValidationConfig = field(default_factory=ValidationConfig)
    a_ref: float = 1.0
    v_ref: float = 1.0

    @job
    def make(
        self,
        final: AcePotentialDoc,
        base: AcePotentialDoc,
        teacher: TeacherDoc,
        test: LabelDoc,
        eos: LabelDoc,
    ) -> ValidationDoc:
        """Compute the errors and checks (no files written; the report job does that)."""
        held_out, eos_cells = read_dataset(test.dataset), read_dataset(eos.dataset)
        with stage(
            "validate", f"{len(held_out)} held-out DFT structures, {len(eos_cells)} EOS cells"
        ):
            final_calc = ace_calculator(final)
            errors = {
                "final_ace": errors_against(held_out, final_calc),
                "teacher_only_ace": errors_against(held_out, ace_calculator(base)),
                "teacher": errors_against(held_out, mace_calculator(teacher.model_path)),
            }
            eos_dft = eos_from_labels(eos_cells, self.a_ref, self.v_ref)
            eos_ace = eos_from_calculator(eos_cells, final_calc, self.a_ref, self.v_ref)
        checks = self._checks(errors["final_ace"], errors["teacher_only_ace"])
        return ValidationDoc(
            test_errors=errors,
            eos_dft=eos_dft,
            eos_ace=eos_ace,
            checks=checks,
            passed=all(c.passed for c in checks),
        )

    def _checks(self, final: ErrorMetrics, base: ErrorMetrics) -> list[Check]:
        t = self.thresholds
        return [
            Check(
                name="held-out energy RMSE (meV/atom)",
                value=final.energy_rmse_mev,
                threshold=t.max_energy_rmse_mev,
                passed=final.energy_rmse_mev <= t.max_energy_rmse_mev,
            ),
            Check(
                name="held-out force RMSE (eV/Å)",
                value=final.force_rmse,
                threshold=t.max_force_rmse,
                passed=final.force_rmse <= t.max_force_rmse,
            ),
            Check(
                name="delta correction improves force RMSE (eV/Å)",
                value=final.force_rmse,
                threshold=base.force_rmse,
                passed=final.force_rmse < base.force_rmse,
            ),
        ]
