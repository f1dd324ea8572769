"""Settings of a pacemaker fit and the record of the potential it produced.

Both are pydantic models so that they serialise to JSON inside jobflow outputs and
can be compared between pipeline iterations (lineage through ``parent``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ELEMENTS = 4
BLOCK_NAMES = ("UNARY", "BINARY", "TERNARY", "QUATERNARY")


# Force share of the loss of an incremental update (active-learning cut-outs, the quality
# loop's targeted cells): continued fits on a few new cells with the fresh fits' 0.3 traded
# energies and stresses for forces and the physics guard rejected them. Quality loop, EMT
# mini run, round 0 (8 DFT cells + 8 targeted incl. two 36-atom MD frames): guard energy
# 1.24 -> 5.22 meV/atom, stress 0.77 -> 2.16 GPa with 0.3; 1.98 meV/atom, 1.26 GPa with
# 0.05 (docs/validation.md). Exploration of the tests' EMT mini run: the first update was
# rejected with 0.3 (energy 6.25 -> 12.7 meV/atom, stress 1.27 -> 2.77 GPa).
UPDATE_KAPPA = 0.05

class BlockShape(BaseModel):
    """Radial and angular limits per body order of one pacemaker function block."""

    model_config = ConfigDict(extra="forbid")

    nradmax_by_orders: list[int]
    lmax_by_orders: list[int]


class AceFitSettings(BaseModel):
    """What pacemaker needs to know to fit one ACE potential.

    Basis fields (``cutoff`` ... ``lmax_by_orders``) only shape a fresh fit: a fit that
    continues from an initial potential keeps that potential's basis.
    """

    model_config = ConfigDict(extra="forbid")

    cutoff: float = Field(
        default=5.0,
        gt=0,
        description="Outer cutoff (Å). 5 Å covers the second neighbour shell of close-packed "
        "metals and keeps the neighbour lists small.",
    )
    number_of_functions_per_element: int = Field(
        default=60,
        gt=0,
        description="Size of the basis per element. About 60 functions fit a one-element "
        "metal to a few meV/atom (see STACK.md: 68 functions, 0.2 meV/atom on Cu) while a "
        "BFGS fit stays at minutes on two CPU cores.",
    )
    nradmax_by_orders: list[int] = Field(
        default_factory=lambda: [15, 6, 4, 3, 2, 2],
        description="Radial functions per body order; pacemaker's template for one element. "
        "The cap ``number_of_functions_per_element`` decides the final size.",
    )
    lmax_by_orders: list[int] = Field(
        default_factory=lambda: [0, 3, 3, 2, 2, 1],
        description="Angular momentum per body order; pacemaker's template for one element.",
    )
    binary: BlockShape = Field(
        default_factory=lambda: BlockShape(nradmax_by_orders=[15, 3, 2, 1],
                                           lmax_by_orders=[0, 2, 2, 1]),
        description="Shape of functions mixing two species (pacemaker's BINARY block). "
        "Pacemaker precomputes the couplings of mixed-species functions only up to a "
        "limited shape: the one-element template (body order 6) is refused, body order 5 "
        "with l <= 2 is accepted (STACK.md, 2026-12-01).",
    )
    ternary: BlockShape = Field(
        default_factory=lambda: BlockShape(nradmax_by_orders=[15, 2, 2],
                                           lmax_by_orders=[0, 2, 2]),
        description="Functions mixing three species (TERNARY): body order 4, the lowest at "
        "which three species can meet in one function beyond pairs.",
    )
    quaternary: BlockShape = Field(
        default_factory=lambda: BlockShape(nradmax_by_orders=[15, 2],
                                           lmax_by_orders=[0, 2]),
        description="Functions mixing four species (QUATERNARY): body order 3, kept small "
        "because they are many and rarely matter.",
    )
    functions_per_extra_element: float = Field(
        default=0.5,
        ge=0,
        description="Each element beyond the first adds this fraction of "
        "``number_of_functions_per_element`` to every element's budget: its functions "
        "are shared between its pure and its mixed blocks, so a binary keeps most of the "
        "pure-element accuracy while the total grows about linearly, not quadratically.",
    )
    embedding: Literal["FinnisSinclairShiftedScaled", "FinnisSinclair"] = Field(
        default="FinnisSinclairShiftedScaled",
        description="Embedding function. The shifted-scaled Finnis-Sinclair form is "
        "pacemaker's recommended default: smooth and zero at zero density.",
    )
    fs_parameters: list[float] = Field(
        default_factory=lambda: [1.0, 1.0, 1.0, 0.5],
        description="Pairs (weight, exponent) per density: one linear and one square-root "
        "density, the usual Finnis-Sinclair choice for metals.",
    )
    radial_basis: Literal["SBessel", "ChebExpCos", "ChebPow"] = Field(
        default="SBessel",
        description="Radial basis. Spherical Bessel functions are orthogonal on [0, rcut] "
        "and need no scale parameter tuning.",
    )
    radial_parameters: list[float] = Field(
        default_factory=lambda: [5.25],
        description="Parameters of the radial basis (pacemaker's template value).",
    )
    kappa: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Force share of the loss, (1 - kappa) goes to energies per atom. 0.3 is "
        "pacemaker's template: energies dominate, which keeps equations of state right.",
    )
    l1_coeffs: float = Field(default=1e-8, ge=0, description="L1 regularisation (template value).")
    l2_coeffs: float = Field(default=1e-8, ge=0, description="L2 regularisation (template value).")
    optimizer: Literal["BFGS", "L-BFGS-B"] = Field(
        default="BFGS",
        description="BFGS converges best for the few hundred parameters of small bases.",
    )
    max_iter: int = Field(
        default=500,
        gt=0,
        description="BFGS iterations. 300-500 bring a 60-function basis close to "
        "convergence in a couple of minutes; continued fits need far fewer.",
    )
    batch_size: int = Field(
        default=100,
        gt=0,
        description="Structures per TensorFlow batch; only limits memory, not the result. "
        "100 small cells fit comfortably in memory.",
    )
    core_repulsion: bool = Field(
        default=True,
        description="Add a ZBL core repulsion below 0.85 x the shortest distance per element "
        "pair in the training data (ace/inner_core.py) so that MD never collapses atoms.",
    )
    seed: int = Field(default=42, description="Seed given to pacemaker for reproducible fits.")
    max_rmse_fraction: float = Field(
        default=0.5,
        gt=0,
        description="A fit whose training RMSE (energy or force) exceeds this fraction of "
        "the labels' own spread (std of energy per atom, RMS force) has learned almost "
        "nothing and stops the stage: a converged fit sits at 0.01-0.1 of it, a fit "
        "stopped after a couple of iterations near 1 (docs/validation.md).",
    )

    def functions_per_element(self, n_elements: int) -> int:
        """Function budget per element for a potential of ``n_elements`` (rule above)."""
        scale = 1.0 + self.functions_per_extra_element * (n_elements - 1)
        return round(self.number_of_functions_per_element * scale)

    def function_blocks(self, n_elements: int) -> dict[str, Any]:
        """Pacemaker's ``functions`` section for ``n_elements`` species (1 to 4).

        One element keeps the single ``ALL`` block of the one-element template (the basis
        every one-element result was measured with); more elements get one block per
        number of species in a function, UNARY with that same template.
        """
        if not 1 <= n_elements <= MAX_ELEMENTS:
            raise ValueError(
                f"ACE basis defaults cover 1 to {MAX_ELEMENTS} elements, got {n_elements}"
            )
        unary = {"nradmax_by_orders": self.nradmax_by_orders,
                 "lmax_by_orders": self.lmax_by_orders}
        section: dict[str, Any] = {
            "number_of_functions_per_element": self.functions_per_element(n_elements)
        }
        if n_elements == 1:
            return {**section, "ALL": unary}
        shapes = [unary, *(b.model_dump() for b in (self.binary, self.ternary, self.quaternary))]
        return {**section, **dict(zip(BLOCK_NAMES[:n_elements], shapes[:n_elements], strict=True))}

    @field_validator("fs_parameters")
    @classmethod
    def _pairs(cls, value: list[float]) -> list[float]:
        """Check that the embedding parameters come in (weight, exponent) pairs, one per density."""
        if not value or len(value) % 2:
            raise ValueError("fs_parameters must hold (weight, exponent) pairs")
        return value


class AcePotentialDoc(BaseModel):
    """A fitted ACE potential: its files, what it was fitted to and how well.

    ``yace_path`` carries the reference energies as its ``E0`` values, so it gives total
    energies by itself; ``yaml_path`` (the B-basis needed for the active set) does not,
    which :func:`pyacemaker.ace.pacemaker.ace_calculator` compensates for.
    """

    yaml_path: Path = Field(description="B-basis potential written by pacemaker.")
    yace_path: Path = Field(description="C-tilde potential for LAMMPS and fast evaluation.")
    asi_path: Path | None = Field(
        default=None, description="Active set (extrapolation grade), if built."
    )
    workdir: Path = Field(description="Folder with pacemaker's input, logs and predictions.")
    training_data: Path = Field(description="Dataframe pacemaker fitted to (with weights).")
    reference_energy: dict[str, float] = Field(
        description="Energy per isolated atom (eV) subtracted from the labels before fitting."
    )
    reference_energy_source: str = Field(
        default="given",
        description="How ``reference_energy`` was obtained: ``isolated_atom`` (the oracle's "
        "free atom, the physical zero), ``isolated_atom_shifted`` (free atoms plus one "
        "common per-atom shift fitted to the training set), ``least_squares`` (fallback "
        "fit over the training set, see pyacemaker.dft.reference) or ``given`` by the caller.",
    )
    elements: list[str]
    settings: AceFitSettings
    n_train: int = Field(description="Number of structures pacemaker fitted to.")
    parent: Path | None = Field(
        default=None, description="Potential (yaml) this fit started from; None for a fresh fit."
    )
    rmse_energy_mev_per_atom: float = Field(
        description="Training RMSE of energy per atom over structures with weight > 0."
    )
    rmse_forces_ev_per_a: float = Field(
        description="Training RMSE of force components over atoms with force weight > 0."
    )
    initial_loss: float = Field(description="Loss before the first optimiser step.")
    final_loss: float = Field(description="Loss of the saved potential.")
    wall_time_s: float
    seed: int
