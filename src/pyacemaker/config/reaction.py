"""The config of a molecular run: a reaction from two structure files (docs/molecules.md).

A config with a top-level ``reaction:`` section is a molecular run: reactant and product
complexes (xyz files, the same atoms in the same order), optionally a transition-state
guess, a total charge and a spin multiplicity. Crystal sections (``structure``,
``teacher``, ``pool``) do not apply and are refused as unknown keys, and ``dft:`` is
refused unless pw.x is the oracle, so a user never believes a setting is used when it is
not. Every problem is one line naming the field, the value and the fix, like the crystal
config (:mod:`pyacemaker.config.errors`).

The oracle (:func:`reaction_oracles`) is an ASE calculator given the charge and
multiplicity as keyword arguments, or pw.x with the pseudopotentials and cutoffs a
crystal run would pick (:mod:`pyacemaker.config.dft`) and the charge and spin in every
input (:func:`pyacemaker.config.dft.molecular_settings`); each molecule is isolated (Γ
only, ``assume_isolated='mt'``, a box twice its size, :func:`pyacemaker.dft.inputs.isolated_box`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import yaml
from ase import Atoms
from ase.data import covalent_radii
from ase.io import read
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from pyacemaker.config.base import Kelvin, RunIdentity, Strict, check_elements
from pyacemaker.config.dft import molecular_settings, qe_settings
from pyacemaker.config.errors import ConfigError, format_error
from pyacemaker.config.schema import AceConfig, DFTConfig, OracleConfig
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.dft.qe import prepare_input

OVERLAP_FACTOR = 0.5  # of the sum of covalent radii: closer atoms in an input file overlap
MAX_MOLECULE_ATOMS = 200  # a reaction complex is labelled hundreds of times by the oracle


def read_molecule(path: Path) -> Atoms:
    """The first frame of ``path``, non-periodic; ValueError with the fix when unusable."""
    try:
        atoms = read(path, index=0)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise ValueError(f"cannot read '{path}' ({type(exc).__name__}); give an xyz file") from None
    if not isinstance(atoms, Atoms) or not 2 <= len(atoms) <= MAX_MOLECULE_ATOMS:
        raise ValueError(f"'{path}' must hold 2 to {MAX_MOLECULE_ATOMS} atoms")
    check_elements([str(s) for s in atoms.symbols])
    if not np.all(np.isfinite(atoms.positions)):
        raise ValueError(f"'{path}' has non-finite coordinates")
    radii = covalent_radii[atoms.numbers]
    distances = atoms.get_all_distances()
    limit = OVERLAP_FACTOR * (radii[:, None] + radii[None, :])
    np.fill_diagonal(distances, np.inf)
    i, j = np.unravel_index(np.argmin(distances / limit), distances.shape)
    if distances[i, j] < limit[i, j]:
        raise ValueError(
            f"atoms {i} and {j} of '{path}' are {distances[i, j]:.2f} Å apart (overlap); "
            "check the coordinates' units (Å)"
        )
    atoms.pbc = False
    return atoms


class ReactionConfig(Strict):
    """The reacting system: end points, optional transition-state guess, charge, spin."""

    reactant: Path = Field(description="an xyz file of the reactant complex (Å)")
    product: Path = Field(
        description="an xyz file of the product complex with the reactant's atoms in the same order"
    )
    ts_guess: Path | None = Field(
        None, description="an xyz file of a transition-state guess (same atoms), or null"
    )
    charge: int = Field(0, ge=-10, le=10, description="a total charge from -10 to 10, e.g. -1")
    multiplicity: int = Field(
        1, ge=1, le=11, description="a spin multiplicity 2S+1 from 1 to 11, e.g. 1 (singlet)"
    )
    n_images: int = Field(
        7, ge=3, le=30, description="a number of NEB images from 3 to 30, end points included"
    )
    relax: bool = Field(True, description="true (relax the end points with the oracle) or false")

    @field_validator("reactant", "product", "ts_guess")
    @classmethod
    def _readable(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return value
        if not value.is_file():
            raise ValueError(f"file '{value}' does not exist")
        atoms = read_molecule(value)
        reactant = info.data.get("reactant")
        if info.field_name != "reactant" and reactant is not None:
            first = read_molecule(reactant)
            if list(atoms.symbols) != list(first.symbols):
                raise ValueError(
                    f"'{value.name}' has atoms {atoms.get_chemical_formula()} in another order "
                    f"or number than the reactant's {first.get_chemical_formula()}: list the "
                    "same atoms in the same order"
                )
        return value

    @field_validator("multiplicity")
    @classmethod
    def _spin(cls, value: int, info: ValidationInfo) -> int:
        reactant, charge = info.data.get("reactant"), info.data.get("charge")
        if reactant is None or charge is None:
            return value
        electrons = int(read_molecule(reactant).numbers.sum()) - charge
        if electrons <= 0 or (electrons + value - 1) % 2:
            raise ValueError(
                f"multiplicity {value} is impossible with {electrons} electrons (charge "
                f"{charge}): use an {'odd' if electrons % 2 == 0 else 'even'} multiplicity "
                "or another charge"
            )
        return value


class MoleculeSamplingConfig(Strict):
    """Candidates for the oracle: normal modes, rattled path images, MD along the path."""

    temperatures: list[Kelvin] = Field(
        [300.0, 600.0], min_length=1, description="a list of temperatures in K, e.g. [300, 600]"
    )
    normal_modes: int = Field(
        6, ge=0, le=1000,
        description="a number of normal-mode samples per end point and temperature, e.g. 6",
    )  # fmt: skip
    rattle_per_image: int = Field(
        3, ge=0, le=100, description="a number of rattled copies per NEB image, e.g. 3"
    )
    rattle: float = Field(0.05, gt=0, lt=0.5, description="a displacement in Å below 0.5")
    md_steps: int = Field(
        40, ge=0, le=100_000, description="a number of oracle MD steps from each image, e.g. 40"
    )
    md_interval: int = Field(10, gt=0, description="a number of MD steps between snapshots")
    n_train: int = Field(40, gt=0, description="a positive number of training structures")
    n_test: int = Field(10, gt=0, description="a positive number of held-out structures")
    selection: Literal["direct", "fps", "random"] = Field(
        "direct", description="one of direct, fps, random"
    )
    min_distance_factor: float = Field(
        0.6, gt=0, lt=1, description="a fraction of the sum of covalent radii, e.g. 0.6"
    )


class ReactionValidationConfig(Strict):
    """Pass thresholds of the reaction checks (docs/molecules.md)."""

    max_barrier_error: float = Field(0.05, gt=0, description="a bound in eV, e.g. 0.05")
    max_reaction_energy_error: float = Field(0.05, gt=0, description="a bound in eV, e.g. 0.05")
    max_frequency_rmse: float = Field(
        150.0, gt=0, description="a bound in cm^-1 on the vibrational frequencies, e.g. 150"
    )
    max_energy_rmse_mev: float = Field(20.0, gt=0, description="a bound in meV/atom, e.g. 20")
    max_force_rmse: float = Field(0.2, gt=0, description="a bound in eV/Å, e.g. 0.2")
    md_temperature: Kelvin = Field(300.0, description="a temperature in K, e.g. 300")
    md_steps: int = Field(400, gt=0, description="a positive number of NVT steps, e.g. 400")
    md_timestep_fs: float = Field(0.5, gt=0, le=2, description="a time step in fs, at most 2")
    max_gamma: float = Field(10.0, gt=0, description="a bound on the MD extrapolation grade")


MOLECULE_MIN_BOX = 10.0  # Å; measured on OH- and I- + CH3I (MoleculeDFTConfig, docs/molecules.md)


class MoleculeDFTConfig(DFTConfig):
    """The crystal runs' ``dft:`` settings, plus the smallest side of a molecule's box.

    Each side of the box is twice the molecule's extent plus 5 Å
    (:func:`pyacemaker.dft.inputs.isolated_box`) and at least ``min_box``: a linear or
    flat molecule would otherwise get 5 Å across, where a charged one is far from
    converged: OH- (25/200 Ry) in cubic boxes of 5 / 7 / 9 / 11 Å has the H force 0.479 /
    0.452 / 0.501 / 0.503 eV/Å; I- + CH3I (50/400 Ry) lies 38 meV lower in 10 x 10 x 16.4 Å
    than in the 8.1 x 8.6 x 16.4 Å box the extent alone gives.
    """

    min_box: float = Field(
        MOLECULE_MIN_BOX, gt=0, le=60,
        description="the smallest side in Å of the box pw.x puts a molecule in, e.g. 10",
    )  # fmt: skip


class ReactionRunConfig(RunIdentity):
    """The whole input of a molecular run: a reaction in, a validated potential out."""

    name: str = Field("reaction", description="a run name made of letters, digits, - and _")
    reaction: ReactionConfig
    oracle: OracleConfig = Field(default_factory=OracleConfig)
    dft: MoleculeDFTConfig = Field(  # not Optional: errors inside it name the field's fix
        default_factory=MoleculeDFTConfig,
        description="pw.x settings (pseudopotentials, ecutwfc, ecutrho, ...), read only with "
        "oracle.engine qe",
    )
    sampling: MoleculeSamplingConfig = Field(default_factory=MoleculeSamplingConfig)
    ace: AceConfig = Field(default_factory=AceConfig)
    validation: ReactionValidationConfig = Field(default_factory=ReactionValidationConfig)

    @field_validator("oracle")
    @classmethod
    def _no_kwargs_for_pw(cls, value: OracleConfig) -> OracleConfig:
        if value.engine == "qe" and value.kwargs:
            raise ValueError(
                "pw.x takes no calculator kwargs; put its settings in the dft: section "
                "(pseudopotentials, ecutwfc, ecutrho) and remove oracle.kwargs"
            )
        return value

    @field_validator("dft")
    @classmethod
    def _dft_only_for_pw(cls, value: MoleculeDFTConfig, info: ValidationInfo) -> MoleculeDFTConfig:
        """Runs only on a ``dft:`` section given in the config (defaults are not validated)."""
        oracle = info.data.get("oracle")
        if oracle is not None and oracle.engine != "qe":
            raise ValueError(
                f"the dft: section is read only with oracle.engine qe, not {oracle.engine}; "
                "remove it or set oracle.engine: qe"
            )
        if value.kspacing is not None:
            raise ValueError(
                "kspacing is not used for molecules (isolated, Γ point only); remove dft.kspacing"
            )
        return value

    @property
    def folder(self) -> Path:
        """Where the run writes (``output_dir``, default ``runs/<name>``)."""
        return self.output_dir or Path("runs") / self.name


class ReactionOracles(NamedTuple):
    """The oracle of a reaction's structures, and the one of its free atoms (the zero)."""

    molecules: OracleSpec
    atoms: OracleSpec


def reaction_oracles(cfg: ReactionRunConfig, notes: list[str] | None = None) -> ReactionOracles:
    """The oracles a reaction run labels with; ConfigError lines for what only shows here.

    Free atoms are neutral whatever the complex's charge (each element's zero); with pw.x
    they get the crystal runs' free-atom treatment (spin-polarised, :mod:`pyacemaker.dft.reference`)
    with the same pseudopotentials and cutoffs as the molecules, so the zero is consistent.
    ``notes`` receives a sentence per default chosen (``pyacemaker validate`` prints them).
    """
    r, engine = cfg.reaction, cfg.oracle.engine
    if engine != "qe":
        return ReactionOracles(
            OracleSpec(engine=engine, kwargs=charged_kwargs(cfg)),
            OracleSpec(engine=engine, kwargs=cfg.oracle.kwargs),
        )
    reactant = read_molecule(r.reactant)
    notes = [] if notes is None else notes
    base = qe_settings(cfg.dft, sorted(set(reactant.symbols)), notes)
    molecules = molecular_settings(base, r.charge, r.multiplicity, cfg.dft.min_box)
    work, inputs = prepare_input(reactant, molecules.resolved())
    system = inputs.namelists["system"]
    spin = ", ".join(f"{k} {system[k]}" for k in ("nspin", "tot_magnetization") if k in system)
    notes.append(
        f"pw.x with {', '.join(f'{el}: {f}' for el, f in sorted(base.pseudopotentials.items()))}; "
        f"every input has tot_charge {r.charge:g}, {spin or 'nspin 1 (closed shell)'}, Γ only, "
        f"assume_isolated 'mt'; the reactant's box is "
        f"{' x '.join(f'{x:.1f}' for x in work.cell.lengths())} Å"
    )
    return ReactionOracles(OracleSpec(qe=molecules), OracleSpec(qe=base))


def charged_kwargs(cfg: ReactionRunConfig) -> dict[str, Any]:
    """An ASE oracle's keyword arguments with the reaction's total charge and multiplicity.

    Passed as ``charge`` and ``multiplicity`` (tblite's names; PySCF-style calculators
    take the same) unless the user set them in ``oracle.kwargs``; a neutral singlet
    adds nothing, so calculators without these arguments (EMT) keep working.
    """
    r = cfg.reaction
    extra: dict[str, Any] = {}
    if r.charge != 0 or r.multiplicity != 1:
        extra = {"charge": r.charge, "multiplicity": r.multiplicity}
    return extra | cfg.oracle.kwargs


def is_reaction_config(path: str | Path) -> bool:
    """True when the YAML file has a top-level ``reaction:`` section (a molecular run)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "reaction" in data


def load_reaction_config(path: str | Path) -> ReactionRunConfig:
    """Read and validate a reaction config; structure paths are relative to the YAML file."""
    path = Path(path)
    base = path.parent.resolve()
    data: Any = yaml.safe_load(path.read_text())
    reaction = data.get("reaction") if isinstance(data, dict) else None
    if isinstance(reaction, dict):
        for key in ("reactant", "product", "ts_guess"):
            if isinstance(reaction.get(key), str):
                reaction[key] = str(base / Path(reaction[key]).expanduser())
    dft = data.get("dft") if isinstance(data, dict) else None
    if isinstance(dft, dict) and isinstance(dft.get("pseudo_dir"), str):
        dft["pseudo_dir"] = str(base / Path(dft["pseudo_dir"]).expanduser())
    try:
        cfg = ReactionRunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([format_error(ReactionRunConfig, e) for e in exc.errors()]) from None
    reaction_oracles(cfg)  # pseudopotentials and cutoffs: refused now, not at the first label
    return cfg
