"""Which potential a run delivers: the teacher route's, or ACE fitted directly on the DFT.

The distillation route (teacher → pool → base fit → delta fit) must earn its place: every
run also fits ACE on its DFT training labels alone, and the run delivers whichever of the
two is better on the held-out DFT cells, saying which and why (docs/validation.md).
"""

from __future__ import annotations

from pydantic import BaseModel

from pyacemaker.ace.pacemaker import AceFitError
from pyacemaker.config.schema import ValidationConfig
from pyacemaker.validation.metrics import ErrorMetrics

TEACHER_ROUTE, DIRECT = "final_ace", "direct_ace"


class Delivery(BaseModel):
    """The delivered candidate (a key of ``test_errors``), the scores and the reason."""

    delivered: str
    scores: dict[str, float]
    reason: str


def score(errors: ErrorMetrics, thresholds: ValidationConfig) -> float:
    """Held-out energy and force RMSE, each in units of its pass threshold, summed.

    Lower is better; 2 means both sit exactly at their thresholds. Normalising by the
    run's own thresholds weighs energies and forces as the user asked them to be judged.
    """
    return (
        errors.energy_rmse_mev / thresholds.max_energy_rmse_mev
        + errors.force_rmse / thresholds.max_force_rmse
    )


def choose(test_errors: dict[str, ErrorMetrics], thresholds: ValidationConfig) -> Delivery:
    """The teacher route's potential unless the direct fit scores lower on held-out DFT."""
    scores = {
        key: score(test_errors[key], thresholds)
        for key in (TEACHER_ROUTE, DIRECT)
        if key in test_errors
    }
    if DIRECT not in scores or scores[TEACHER_ROUTE] <= scores[DIRECT]:
        reason = "the teacher route scores at least as well on held-out DFT as the direct fit"
        return Delivery(delivered=TEACHER_ROUTE, scores=scores, reason=reason)
    route, direct = test_errors[TEACHER_ROUTE], test_errors[DIRECT]
    reason = (
        f"the teacher route loses on held-out DFT (score {scores[TEACHER_ROUTE]:.3g} vs "
        f"{scores[DIRECT]:.3g}; {route.energy_rmse_mev:.2f} vs {direct.energy_rmse_mev:.2f} "
        f"meV/atom, {route.force_rmse:.4f} vs {direct.force_rmse:.4f} eV/Å): the ACE fitted "
        "directly on the DFT training labels is delivered"
    )
    return Delivery(delivered=DIRECT, scores=scores, reason=reason)


def check_on_training(name: str, errors: ErrorMetrics, thresholds: ValidationConfig) -> None:
    """Stop the run if the delivered potential does not even reproduce its DFT training cells."""
    e_bound, f_bound = thresholds.max_train_energy_rmse_mev, thresholds.max_train_force_rmse
    if errors.energy_rmse_mev > e_bound or errors.force_rmse > f_bound:
        raise AceFitError(
            f"the delivered potential ({name}) does not fit its own DFT training cells: "
            f"{errors.energy_rmse_mev:.2f} meV/atom, {errors.force_rmse:.4f} eV/Å "
            f"(bounds validation.max_train_energy_rmse_mev {e_bound:g}, "
            f"validation.max_train_force_rmse {f_bound:g})"
        )
