"""The run's targets: what the delivered potential must reach, and the loop that chases them.

One source of truth for the pass thresholds: ``targets:`` holds them (defaults: the
seed documents' values) and the plan writes them into ``validation.max_*``, which is
what every check compares against. The old keys ``validation.max_energy_rmse_mev``,
``max_force_rmse``, ``max_a0_error``, ``max_b0_error``, ``max_elastic_error`` and
``max_phonon_rmse_thz`` keep working as aliases of their target (a config that sets
both to different numbers is refused), so there are never two sets of numbers that can
disagree. ``loop``, ``max_dft_calls``, ``max_rounds`` and ``max_dft_per_round`` drive
the quality loop (flows/quality.py): after validation, each failed check brings the
data that fixes it until every target holds or the budget is spent.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pyacemaker.config.base import Kelvin, Strict

# targets.<key> -> validation.<key>: the validation thresholds are the targets
TARGET_TO_VALIDATION = {
    "energy_rmse_mev": "max_energy_rmse_mev",
    "force_rmse": "max_force_rmse",
    "a0_error": "max_a0_error",
    "b0_error": "max_b0_error",
    "elastic_error": "max_elastic_error",
    "phonon_rmse_thz": "max_phonon_rmse_thz",
}
# The seed documents' targets (also ValidationConfig's defaults, so both agree).
DEFAULTS = {
    "energy_rmse_mev": 1.0,
    "force_rmse": 0.05,
    "a0_error": 0.005,
    "b0_error": 0.05,
    "elastic_error": 0.10,
    "phonon_rmse_thz": 0.2,
}


class TargetsConfig(Strict):
    """Accuracy targets (the validation's pass thresholds) and the quality loop's budget."""

    energy_rmse_mev: float = Field(
        DEFAULTS["energy_rmse_mev"], gt=0, description="a held-out energy RMSE in meV/atom, e.g. 1"
    )
    force_rmse: float = Field(
        DEFAULTS["force_rmse"], gt=0, description="a held-out force RMSE in eV/Å, e.g. 0.05"
    )
    a0_error: float = Field(
        DEFAULTS["a0_error"], gt=0, description="a relative EOS a0 error, e.g. 0.005 (0.5 %)"
    )
    b0_error: float = Field(
        DEFAULTS["b0_error"], gt=0, description="a relative EOS B0 error, e.g. 0.05 (5 %)"
    )
    elastic_error: float = Field(
        DEFAULTS["elastic_error"], gt=0,
        description="a relative RMS error of the elastic constants, e.g. 0.1 (10 %)",
    )  # fmt: skip
    phonon_rmse_thz: float = Field(
        DEFAULTS["phonon_rmse_thz"], gt=0, description="a phonon band RMSE in THz, e.g. 0.2"
    )
    md_temperature: Kelvin | None = Field(
        None, description="an MD temperature in K the potential must hold without a γ halt, "
        "e.g. 900 (default: validation.md_temperatures, i.e. the pool's temperatures)",
    )  # fmt: skip
    md_time_ps: float | None = Field(
        None, gt=0, le=1000, description="an MD time in ps without a γ halt, e.g. 0.4 "
        "(default: validation.md_steps x md_timestep_fs)",
    )  # fmt: skip
    loop: bool = Field(
        False, description="true to add targeted DFT data after validation until the targets "
        "hold or max_dft_calls / max_rounds is reached (docs/validation.md)",
    )  # fmt: skip
    max_dft_calls: int = Field(
        24, ge=0, le=100_000, description="a DFT budget of the quality loop, e.g. 24"
    )
    max_rounds: int = Field(3, ge=1, le=100, description="a number of loop rounds, e.g. 3")
    max_dft_per_round: int = Field(
        8, ge=1, le=10_000, description="a number of targeted DFT cells per round, e.g. 8"
    )


class QualityPlan(BaseModel):
    """The quality loop's switch and budget (its thresholds are ``Plan.validation``'s)."""

    model_config = ConfigDict(extra="forbid")
    loop: bool = False
    max_dft_calls: int = 24
    max_rounds: int = 3
    max_dft_per_round: int = 8


def conflicting_aliases(targets: TargetsConfig, validation: BaseModel) -> list[str]:
    """One line per threshold given both as ``targets.X`` and as ``validation.max_X``."""
    problems = []
    for key, old in TARGET_TO_VALIDATION.items():
        both = key in targets.model_fields_set and old in validation.model_fields_set
        if both and getattr(targets, key) != getattr(validation, old):
            problems.append(
                f"validation.{old}: {getattr(validation, old)}: disagrees with targets.{key} "
                f"{getattr(targets, key)}; remove validation.{old} (targets.{key} is the "
                "pass threshold)"
            )
    return problems


def effective_targets(targets: TargetsConfig, validation: BaseModel) -> dict[str, float]:
    """Each threshold: ``targets.X`` unless only the old ``validation.max_X`` was given."""
    out = {}
    for key, old in TARGET_TO_VALIDATION.items():
        alias = old in validation.model_fields_set and key not in targets.model_fields_set
        out[old] = float(getattr(validation, old) if alias else getattr(targets, key))
    return out


def md_update(targets: TargetsConfig, md_timestep_fs: float) -> dict[str, object]:
    """The validation MD settings the MD target implies (nothing when it is unset)."""
    update: dict[str, object] = {}
    if targets.md_temperature is not None:
        update["md_temperatures"] = [targets.md_temperature]
    if targets.md_time_ps is not None:
        update["md_steps"] = max(1, round(targets.md_time_ps * 1000.0 / md_timestep_fs))
    return update


def quality_plan(targets: TargetsConfig) -> QualityPlan:
    """The loop part of the targets."""
    return QualityPlan(**targets.model_dump(include=set(QualityPlan.model_fields)))
