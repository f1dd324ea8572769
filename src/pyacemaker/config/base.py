"""Shared pieces of the config models: the strict base and constrained number types."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from ase.data import chemical_symbols
from pydantic import BaseModel, ConfigDict, Field, field_validator

# Lattice constants outside these bounds (Å) are typos, not materials: the smallest
# elemental ones are about 2.3 Å (hcp Be), and 1 Å already fuses atoms; above 50 Å a
# "crystal" is mostly vacuum and neighbour searches over it take minutes.
MIN_LATTICE, MAX_LATTICE = 1.0, 50.0
Kelvin = Annotated[float, Field(gt=0, le=1e5)]  # a temperature: positive, finite, not absurd
LatticeLength = Annotated[float, Field(ge=MIN_LATTICE, le=MAX_LATTICE)]


class Strict(BaseModel):
    """Unknown keys are errors; NaN and inf are refused in every float field."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class RunIdentity(Strict):
    """What every run config has: a safe name (it becomes a folder), a seed, an output folder."""

    name: str = Field("pyacemaker-run", description="a run name made of letters, digits, - and _")
    seed: int = Field(42, ge=0, lt=2**32, description="an integer random seed from 0 to 2^32-1")
    output_dir: Path | None = Field(None, description="a folder for outputs (default runs/<name>)")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_" for c in value):
            raise ValueError(f"'{value}' has characters other than letters, digits, - and _")
        return value


def check_elements(symbols: list[str]) -> list[str]:
    """Raise a ValueError naming any symbol that is not a chemical element."""
    unknown = [s for s in symbols if s not in chemical_symbols[1:]]
    if unknown:
        raise ValueError(f"unknown element(s) {', '.join(unknown)}")
    return symbols
