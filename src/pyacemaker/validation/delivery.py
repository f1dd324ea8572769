"""Which potential a run delivers: the teacher route's, or ACE fitted directly on the DFT.

The distillation route (teacher → pool → base fit → delta fit) must earn its place: every
run also fits ACE on its DFT training labels alone (``direct_ace``) and, after
exploration, on every DFT label of the run, cut-outs included (``refit_ace``); the run
delivers whichever candidate is best on the held-out DFT cells, saying which and why
(docs/validation.md).
"""

from __future__ import annotations

from pydantic import BaseModel

from pyacemaker.ace.pacemaker import AceFitError
from pyacemaker.config.schema import ValidationConfig
from pyacemaker.validation.metrics import ErrorMetrics

TEACHER_ROUTE, DIRECT, REFIT = "final_ace", "direct_ace", "refit_ace"
CANDIDATES = {  # in order of preference on a tie: the teacher route first
    TEACHER_ROUTE: "the teacher route",
    REFIT: "ACE fitted directly on every DFT label of the run",
    DIRECT: "ACE fitted directly on the DFT training labels",
}


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


TEACHER_ROUTE_FAILED = (
    "the teacher route did not finish (a stage failed: `pyacemaker status` shows which "
    "and why), so it is not a candidate"
)


def choose(
    test_errors: dict[str, ErrorMetrics],
    thresholds: ValidationConfig,
    teacher_route_failed: bool = False,
) -> Delivery:
    """The candidate with the lowest score on held-out DFT; the teacher route on a tie.

    ``teacher_route_failed``: the run still delivers a direct fit, and the reason says
    that the teacher route is missing rather than that it lost.
    """
    scores = {key: score(test_errors[key], thresholds) for key in CANDIDATES if key in test_errors}
    best = min(scores, key=lambda key: scores[key])  # first of CANDIDATES among equals
    others = "; ".join(
        f"{key} {scores[key]:.3g} ({test_errors[key].energy_rmse_mev:.2f} meV/atom, "
        f"{test_errors[key].force_rmse:.4f} eV/Å)"
        for key in scores
    )
    reason = (
        f"{CANDIDATES[best]} scores best on held-out DFT (scores: {others})"
        if len(scores) > 1
        else "the only candidate"
    )
    if teacher_route_failed:
        reason = f"{reason}; {TEACHER_ROUTE_FAILED}"
    return Delivery(delivered=best, scores=scores, reason=reason)


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
