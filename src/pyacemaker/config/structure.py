"""The material section of the config: a formula, structure files, or an alloy.

Split from :mod:`pyacemaker.config.schema` (which re-exports these names); the
accepted forms and their defaults are described in docs/input.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from pyacemaker.config.base import (
    MAX_LATTICE,
    MIN_LATTICE,
    LatticeLength,
    Strict,
    check_elements,
)

CRYSTALS = (
    "sc",
    "fcc",
    "bcc",
    "hcp",
    "diamond",
    "zincblende",
    "rocksalt",
    "cesiumchloride",
    "fluorite",
    "wurtzite",
    "rutile",
    "perovskite",
)
ALLOY_LATTICES = ("fcc", "bcc", "hcp", "sc")



def formula_elements(value: str) -> list[str]:
    """The element symbols of a formula such as TiO2 (ValueError when it does not parse)."""
    if not re.fullmatch(r"([A-Z][a-z]?([1-9]\d{0,3})?)+", value):
        raise ValueError(f"cannot parse formula '{value}'")
    return check_elements(re.findall(r"[A-Z][a-z]?", value))


class AlloyConfig(Strict):
    """A substitutional alloy: one parent lattice decorated at several compositions."""

    elements: list[str] = Field(
        min_length=2, max_length=4, description="a list of 2 to 4 element symbols, e.g. [Ni, Al]"
    )
    lattice: Literal[ALLOY_LATTICES] = Field(  # type: ignore[valid-type]
        "fcc", description=f"the parent lattice, one of {', '.join(ALLOY_LATTICES)}"
    )
    a: LatticeLength | None = Field(
        None,
        description=f"a lattice constant in Å from {MIN_LATTICE} to {MAX_LATTICE} "
        "(default: Vegard's law on the elements' atomic volumes)",
    )
    compositions: list[Annotated[float, Field(gt=0, lt=1)] | dict[str, float]] | None = Field(
        None,
        description="a list of fractions x of the first element in A_x B_1-x, e.g. "
        "[0.25, 0.5, 0.75], or of mappings element -> fraction for 3-4 elements",
    )
    x_range: tuple[float, float] | None = Field(
        None, description="[x_min, x_max] of the first element, e.g. [0.25, 0.75] (binary only)"
    )
    x_step: float = Field(0.25, gt=0, lt=1, description="a step of x for x_range, e.g. 0.25")

    @field_validator("elements")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"repeated element in {value}")
        return check_elements(value)

    @model_validator(mode="after")
    def _one_composition_source(self) -> AlloyConfig:
        if (self.compositions is None) == (self.x_range is None):
            raise ValueError("give exactly one of alloy.compositions or alloy.x_range")
        if self.x_range is not None and not 0 < self.x_range[0] <= self.x_range[1] < 1:
            raise ValueError(f"x_range {list(self.x_range)} must satisfy 0 < x_min <= x_max < 1")
        if self.x_range is not None and len(self.elements) != 2:
            raise ValueError("x_range is for two elements; list compositions for more")
        return self


class StructureConfig(Strict):
    """The material: a formula with a prototype, structure file(s), or an alloy (docs/input.md)."""

    formula: str | None = Field(
        None,
        description="a chemical formula such as Si, GaAs or TiO2 (prototype from crystal, or "
        "the default for common formulas listed in docs/input.md)",
    )
    crystal: Literal[CRYSTALS] | None = Field(  # type: ignore[valid-type]
        None, description=f"one of {', '.join(CRYSTALS)} (default: see docs/input.md)"
    )
    a: LatticeLength | None = Field(
        None, description=f"a lattice constant in Å from {MIN_LATTICE} to {MAX_LATTICE}, e.g. 5.43"
    )
    c: LatticeLength | None = Field(
        None,
        description=f"a c lattice constant in Å from {MIN_LATTICE} to {MAX_LATTICE} for hcp, "
        "wurtzite or rutile (default: the ideal or tabulated c/a)",
    )
    file: Path | list[Path] | None = Field(
        None,
        description="an existing CIF, POSCAR or extxyz file readable by ASE, or a list of "
        "them; every frame of every file is one phase",
    )
    alloy: AlloyConfig | None = Field(
        None,
        description="a mapping {elements: [A, B], lattice: fcc, compositions: [0.25, 0.5]} "
        "(see docs/input.md)",
    )

    @field_validator("formula")
    @classmethod
    def _known_elements(cls, value: str | None) -> str | None:
        if value is not None:
            formula_elements(value)
        return value

    @field_validator("file")
    @classmethod
    def _file_exists(cls, value: Path | list[Path] | None) -> Path | list[Path] | None:
        for path in [value] if isinstance(value, Path) else value or []:
            if not path.is_file():
                raise ValueError(f"file '{path}' does not exist")
        return value

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """``structure: Si`` is short for ``structure: {formula: Si}``."""
        return {"formula": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> StructureConfig:
        given = [k for k in ("formula", "file", "alloy") if getattr(self, k) is not None]
        if not given or ("formula" in given and len(given) > 1):
            raise ValueError(
                "give one of structure.formula, structure.file or structure.alloy "
                "(alloy may come with file: its ordered phases)"
            )
        return self

    def files(self) -> list[Path]:
        """The structure files, as a list (empty for a formula or an alloy alone)."""
        return [self.file] if isinstance(self.file, Path) else list(self.file or [])
