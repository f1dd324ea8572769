"""Documents of a molecular run: what sampling produced and what validation measured."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pyacemaker.molecules.path import PathResult
from pyacemaker.validation.checks import Check
from pyacemaker.validation.md import MDResult
from pyacemaker.validation.parity import ParityResult


class ReactionSampleDoc(BaseModel):
    """The oracle's reference path and frequencies, and the candidates made around them."""

    reactant: str = Field(description="extxyz of the relaxed reactant complex")
    product: str = Field(description="extxyz of the relaxed product complex")
    path: str = Field(description="extxyz of the oracle's NEB images, labelled")
    oracle_path: PathResult
    reactant_frequencies: list[float] = Field(description="cm^-1, the oracle's")
    product_frequencies: list[float] = Field(description="cm^-1, the oracle's")
    candidates: str
    test: str
    n_candidates: int
    n_test: int
    n_oracle_calls: int = Field(
        description="oracle evaluations of sampling itself: relaxations, NEB, Hessians, MD"
    )
    wall_time_s: float


class FrequencyComparison(BaseModel):
    """Vibrational frequencies of one minimum: the potential's against the oracle's."""

    name: str
    oracle: list[float]
    potential: list[float]
    rmse_cm1: float
    max_error_cm1: float


class ReactionValidationDoc(BaseModel):
    """The reaction checks of one potential against the oracle, with the data to plot."""

    passed: bool
    checks: list[Check]
    oracle_path: PathResult
    potential_path: PathResult
    barrier_error: float = Field(description="eV, potential minus oracle")
    reaction_energy_error: float = Field(description="eV, potential minus oracle")
    frequencies: list[FrequencyComparison]
    parity: dict[str, ParityResult]
    md: MDResult | None = None
    route: str = Field(description="which fit is validated and delivered, and why")
