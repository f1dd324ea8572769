"""The user's YAML, as pydantic models.

Everything is optional except the structure: ``None`` means "let the heuristics in
:mod:`pyacemaker.config.plan` choose", and the chosen values are written to the
run's ``plan.yaml``. Unknown keys are errors (``extra="forbid"``) so that a typo
never silently falls back to a default. Each field's description is phrased as the
fix a user needs when the value is wrong; :mod:`pyacemaker.config.errors` prints it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from pyacemaker.config.base import Kelvin, RunIdentity
from pyacemaker.config.base import Strict as _Strict
from pyacemaker.config.structure import CRYSTALS, AlloyConfig, StructureConfig
from pyacemaker.config.targets import DEFAULTS as TARGETS
from pyacemaker.config.targets import TargetsConfig

__all__ = [  # the structure models live in config/structure.py; imported from here too
    "CRYSTALS",
    "AceConfig",
    "ActiveLearningConfig",
    "AlloyConfig",
    "CommitteeConfig",
    "DFTConfig",
    "OracleConfig",
    "PoolConfig",
    "RunConfig",
    "SamplingConfig",
    "StructureConfig",
    "TargetsConfig",
    "TeacherConfig",
    "ValidationConfig",
]


class OracleConfig(_Strict):
    """Which engine labels structures with reference energies and forces."""

    engine: str = Field(
        "qe",
        description="'qe' for Quantum ESPRESSO pw.x, or a dotted ASE calculator class "
        "such as ase.calculators.emt.EMT",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="a mapping of keyword arguments for an ASE calculator"
    )


class DFTConfig(_Strict):
    """Quantum ESPRESSO settings; ``None`` values are chosen by the heuristics."""

    command: str = Field("pw.x", description="the pw.x command, e.g. 'pw.x' or 'mpirun -np 2 pw.x'")
    pseudo_dir: Path = Field(
        Path("/usr/share/espresso/pseudo"),
        description="a folder of UPF pseudopotentials (Debian: /usr/share/espresso/pseudo)",
    )
    pseudopotentials: dict[str, str] = Field(
        default_factory=dict, description="a mapping element -> UPF file name in pseudo_dir"
    )
    ecutwfc: float | None = Field(None, gt=0, description="a wavefunction cutoff in Ry, e.g. 30")
    ecutrho: float | None = Field(None, gt=0, description="a density cutoff in Ry, e.g. 240")
    kspacing: float | None = Field(
        None, gt=0, le=2, description="a k-point spacing in 1/Å (2π included) up to 2, e.g. 0.3"
    )
    smearing: str = Field("mv", description="a pw.x smearing name such as mv, gaussian, fd")
    degauss: float = Field(0.01, gt=0, description="a smearing width in Ry, e.g. 0.01")


class SamplingConfig(_Strict):
    """Candidate generation and selection for DFT."""

    n_candidates: int = Field(
        60, gt=0, le=100_000, description="a positive number of candidate structures"
    )
    n_train: int = Field(16, gt=0, description="a positive number of DFT training structures")
    n_test: int = Field(6, gt=0, description="a positive number of held-out DFT structures")
    max_strain: float = Field(0.04, ge=0, lt=0.5, description="a strain amplitude below 0.5")
    rattle: float = Field(0.05, ge=0, lt=1, description="a displacement amplitude in Å below 1")
    supercell_atoms: int = Field(
        8, gt=0, le=2000, description="a minimum number of atoms of supercell candidates, e.g. 8"
    )
    material_class: Literal["metal", "covalent", "compound", "alloy", "molecule"] | None = Field(
        None,
        description="one of metal, covalent, compound, alloy, molecule (default: from the "
        "elements and periodicity); it picks the generator mix",
    )
    generators: dict[str, Annotated[float, Field(ge=0, le=1e6)]] | None = Field(
        None,
        description="a mapping generator -> share, e.g. {strain: 0.3, rattle: 0.4, vacancy: 0.2, "
        "surface: 0.1}; names: strain, rattle, vacancy, interstitial, antisite, surface, "
        "random_alloy, and with teacher.foundation normal_modes, melt_quench (default: chosen "
        "from the material class)",
    )
    rattle_temperatures: list[Kelvin] | None = Field(
        None,
        description="a list of temperatures in K for thermal rattling, e.g. [300, 600] "
        "(default: fractions of the melting point)",
    )
    selection: Literal["direct", "fps", "random", "cover"] = Field(
        "direct",
        description="one of direct (PCA + k-means + picks per cluster), cover (cells that "
        "cover the most atomic environments), fps, random",
    )
    min_distance_factor: float = Field(
        0.6,
        gt=0,
        lt=1,
        description="a fraction of the sum of covalent radii below which a candidate is "
        "discarded as unphysical before DFT, e.g. 0.6",
    )


    @field_validator("generators")
    @classmethod
    def _some_share(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and not sum(value.values()) > 0:
            raise ValueError("the shares sum to zero")
        return value


class CommitteeConfig(_Strict):
    """Committee of MACE teachers: uncertainty for the pool and the tiered oracle."""

    size: int = Field(
        2, ge=1, le=8, description="a number of teachers from 1 (no committee) to 8, e.g. 2"
    )
    epochs_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        description="a fraction of the teacher's epochs for the extra members, e.g. 0.5",
    )
    bootstrap: bool = Field(
        True, description="true (extra members train on bootstrap resamples) or false"
    )
    uncertainty_threshold: float = Field(
        0.15,
        gt=0,
        description="a force deviation in eV/Å below which teacher labels are accepted, e.g. 0.15",
    )
    # 0.5 eV/Å: the Si quickstart pool (360 frames) has 6 above it (p99 0.54, max 0.66),
    # the EMT mini run's none (max 0.16); docs/sampling.md
    threshold_call_dft: float | None = Field(
        0.5,
        gt=0,
        description="a force deviation in eV/Å above which the pool structure goes to DFT, "
        "e.g. 0.5, or null (never call DFT from the pool)",
    )
    max_dft_calls: int | None = Field(
        8,
        ge=0,
        description="a cap on pool structures sent to DFT (the least certain first), e.g. 8, "
        "or null (no cap)",
    )
    uncertain_weight: float = Field(
        0.3,
        ge=0,
        le=1,
        description="a fit weight from 0 to 1 for teacher labels between the two thresholds",
    )
    max_force: float = Field(
        20.0, gt=0, description="a force in eV/Å above which a structure is discarded, e.g. 20"
    )


class TeacherConfig(_Strict):
    """The MACE teacher: what it starts from and how long it trains."""

    foundation: str = Field(
        "mace-mp-0-small",
        description="'none' (train from scratch), a MACE-MP-0 name such as mace-mp-0-small, "
        "a path to a local .model file, 'chgnet' (offline: its weights ship in its package) "
        "or a dotted ASE calculator class",
    )
    max_num_epochs: int | None = Field(None, gt=0, description="a positive number of epochs")
    num_channels: int = Field(16, gt=0, description="a positive number of channels, e.g. 16")
    valid_fraction: float = Field(
        0.1, ge=0, lt=1, description="a share of the DFT cells MACE holds out for validation, "
        "e.g. 0.1; 0 trains on every cell and validates on the training set",
    )  # fmt: skip
    finetuning: Literal["naive", "multihead"] = Field(
        "naive",
        description="naive (fine-tune all weights on the DFT data) or multihead (keep a head "
        "on replay data; falls back to naive where mace-torch cannot, with the reason recorded)",
    )
    replay_file: Path | None = Field(
        None,
        description="an extxyz file of the foundation's own data for multihead replay "
        "(MACE-MP-0 names use mace-torch's 'mp' replay set)",
    )
    pretrain: bool = Field(
        True,
        description="true or false: with a non-MACE foundation (chgnet), pre-train the teacher "
        "on its labels of synthetic cells before fine-tuning on DFT (on: on the Si quickstart "
        "its ACE had lower held-out DFT forces than the teacher from scratch's in 3 of 3 "
        "seeds, docs/benchmarks.md; false trains from scratch, a few minutes cheaper)",
    )
    committee: CommitteeConfig = Field(default_factory=CommitteeConfig)


class PoolConfig(_Strict):
    """Teacher molecular dynamics that builds the surrogate pool."""

    temperatures: list[Kelvin] | None = Field(
        None, description="a list of positive temperatures in K, e.g. [300, 600, 900]"
    )
    steps: int = Field(400, gt=0, description="a positive number of MD steps per temperature")
    interval: int = Field(10, gt=0, description="a positive number of steps between snapshots")
    timestep_fs: float = Field(2.0, gt=0, le=5, description="a time step in fs, at most 5")
    volume_scales: list[Annotated[float, Field(ge=0.5, le=2)]] = Field(
        [0.96, 1.0, 1.04], description="a list of volume factors around 1, e.g. [0.96, 1.0, 1.04]"
    )
    supercell_atoms: int = Field(
        16, gt=0, le=100_000, description="a minimum number of atoms in the MD cell, e.g. 16"
    )


class AceConfig(_Strict):
    """The distilled ACE potential."""

    cutoff: float = Field(5.0, gt=1, le=15, description="a radial cutoff in Å up to 15, e.g. 5.0")
    n_functions: int = Field(60, gt=0, description="a positive number of basis functions")
    max_iter: int = Field(300, gt=0, description="a positive number of BFGS iterations")
    delta_max_iter: int = Field(200, gt=0, description="a positive number of BFGS iterations")
    delta_dft_weight: float = Field(
        10.0, gt=0, description="a weight of DFT structures relative to teacher ones, e.g. 10"
    )
    max_rmse_fraction: float = Field(
        0.5,
        gt=0,
        le=1e6,
        description="a positive fraction of the labels' spread above which a fit's training "
        "RMSE stops the run as 'did not fit', e.g. 0.5 (docs/validation.md)",
    )


class ValidationConfig(_Strict):
    """Held-out checks and their pass thresholds.

    The thresholds that are targets (config/targets.py) default to the targets' values;
    in a run the plan sets them from ``targets:``.
    """

    eos_points: int = Field(7, ge=5, le=100, description="5 to 100 volumes for the EOS fit")
    eos_strain: float = Field(0.06, gt=0, lt=0.3, description="a volume strain below 0.3")
    max_energy_rmse_mev: float = Field(  # targets.energy_rmse_mev (an alias of it)
        TARGETS["energy_rmse_mev"], gt=0, description="a bound in meV/atom, e.g. 1"
    )
    max_force_rmse: float = Field(  # targets.force_rmse
        TARGETS["force_rmse"], gt=0, description="a bound in eV/Å, e.g. 0.05"
    )
    # The delivered potential on its own DFT training cells: above these the fit did not
    # fit and the run stops before validating it (docs/validation.md, "fit guard").
    max_train_energy_rmse_mev: float = Field(
        20.0, gt=0, description="a bound in meV/atom, e.g. 20"
    )
    max_train_force_rmse: float = Field(0.4, gt=0, description="a bound in eV/Å, e.g. 0.4")
    # Validation suite (docs/validation.md): what runs, how, and the pass thresholds.
    phonons: bool = Field(True, description="true or false (phonons vs the DFT reference)")
    elastic: bool = Field(True, description="true or false (elastic constants vs DFT)")
    md: bool = Field(True, description="true or false (MD stability with the potential)")
    max_a0_error: float = Field(  # targets.a0_error
        TARGETS["a0_error"], gt=0, description="a relative bound, e.g. 0.005 (0.5 %)"
    )
    max_b0_error: float = Field(  # targets.b0_error
        TARGETS["b0_error"], gt=0, description="a relative bound, e.g. 0.05 (5 %)"
    )
    max_b0_prime_error: float = Field(1.5, gt=0, description="an absolute bound on B', e.g. 1.5")
    phonon_min_length: float = Field(
        7.0, gt=0, description="a minimum supercell vector length in Å, e.g. 7"
    )
    phonon_displacement: float = Field(
        0.01, gt=0, lt=0.2, description="a displacement in Å below 0.2, e.g. 0.01"
    )
    max_phonon_rmse_thz: float = Field(  # targets.phonon_rmse_thz
        TARGETS["phonon_rmse_thz"], gt=0, description="a bound in THz, e.g. 0.2"
    )
    imaginary_tolerance_thz: float = Field(
        0.1, ge=0, description="a tolerance in THz for numerically imaginary modes, e.g. 0.1"
    )
    elastic_strain: float = Field(0.01, gt=0, lt=0.1, description="a strain below 0.1, e.g. 0.01")
    elastic_points: int = Field(2, ge=2, description="at least 2 strains per component")
    max_elastic_error: float = Field(  # targets.elastic_error
        TARGETS["elastic_error"], gt=0,
        description="a relative RMS bound on the stiffness matrix, e.g. 0.1",
    )
    max_modulus_error: float = Field(
        0.15, gt=0, description="a relative bound on the VRH bulk and shear moduli, e.g. 0.15"
    )
    md_temperatures: list[Kelvin] | None = Field(
        None, description="a list of temperatures in K (default: the pool's temperatures)"
    )
    md_steps: int = Field(400, gt=0, description="a positive number of NVT steps")
    md_nve_steps: int = Field(200, ge=0, description="a number of NVE steps for the drift")
    md_timestep_fs: float = Field(1.0, gt=0, le=5, description="a time step in fs, at most 5")
    md_supercell_atoms: int = Field(
        32, gt=0, le=100_000, description="a minimum MD cell size, e.g. 32"
    )
    md_min_distance_factor: float = Field(
        0.6, gt=0, lt=1, description="a fraction of the shortest equilibrium distance, e.g. 0.6"
    )
    max_energy_drift: float = Field(
        1.0, gt=0, description="a bound on NVE energy drift in meV/atom/ps, e.g. 1"
    )
    max_gamma: float = Field(
        5.0, gt=0, description="a bound on the MD extrapolation grade gamma, e.g. 5"
    )


class ActiveLearningConfig(_Strict):
    """On-the-fly exploration: LAMMPS MD halted by γ, DFT on cut-outs, incremental updates."""

    enabled: bool = Field(
        False, description="true to explore with LAMMPS MD after the fit (costs DFT calls)"
    )
    temperatures: list[Kelvin] | None = Field(
        None, description="a list of positive MD temperatures in K run in order, e.g. [300, 900]; "
        "the last is the target (default: the pool's temperatures)"
    )
    pressure: float | None = Field(
        None, description="a pressure in bar for NPT, e.g. 1.0, or null for NVT at fixed volume"
    )
    steps: int = Field(1000, gt=0, description="a positive number of MD steps per temperature")
    timestep_fs: float = Field(2.0, gt=0, le=5, description="a time step in fs, at most 5")
    check_every: int = Field(10, gt=0, description="a positive number of steps between γ checks")
    supercell_atoms: int = Field(
        64, gt=0, le=1_000_000, description="a minimum MD cell size, e.g. 64"
    )
    threshold_add_train: float = Field(
        2.0, gt=0, description="a γ above which frames are collected, e.g. 2 (below the halt one)"
    )
    threshold_call_dft: float = Field(
        5.0, gt=0, description="a γ that halts MD for DFT, e.g. 5 (at least threshold_add_train)"
    )
    threshold_hard: float = Field(
        20.0, gt=0, description="a γ that halts at once without smoothing, e.g. 20 (a collapse)"
    )
    smooth_steps: int = Field(
        3, ge=1, description="a number of consecutive checks γ must stay high to halt, e.g. 3"
    )
    cutout: Literal["periodic", "cluster"] = Field(
        "periodic", description="'periodic' (embedding in a small box) or 'cluster' (vacuum + H)"
    )
    core_radius: float | None = Field(
        None, gt=0, description="a core radius in Å (default 1.2 x nearest-neighbour distance)"
    )
    buffer_radius: float | None = Field(
        None, gt=0, description="a buffer radius in Å larger than core_radius (default: the "
        "largest that keeps a cut-out within max_cutout_atoms)"
    )
    max_cutout_atoms: int = Field(
        24, gt=1, le=1000,
        description="a cap on atoms per cut-out used for the default buffer, e.g. 24",
    )
    relax_steps: int = Field(
        10, ge=0, description="a number of BFGS steps relaxing the buffer (core fixed), e.g. 10"
    )
    max_dft_per_iteration: int = Field(
        2, gt=0, description="a positive number of DFT cut-outs per iteration, e.g. 2"
    )
    max_dft_calls: int = Field(8, gt=0, description="a positive DFT budget for the whole loop")
    max_iterations: int = Field(2, gt=0, description="a positive number of iterations, e.g. 2")
    target_force_rmse: float | None = Field(
        None, gt=0, description="a held-out force RMSE in eV/Å that ends the loop, or null"
    )
    replay_size: int = Field(
        40, gt=0, description="a number of structures per update (new plus replayed), e.g. 40"
    )
    update_max_iter: int = Field(
        60, gt=0, description="a positive number of BFGS iterations per update, e.g. 60"
    )
    new_data_weight: float = Field(
        3.0, gt=0, description="a fit weight of new DFT cut-outs relative to the pool, e.g. 3"
    )
    max_forgetting: float = Field(
        0.25, ge=0, description="an allowed rise of the previous-test force RMSE, e.g. 0.25 (25 %)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ActiveLearningConfig:
        if not self.threshold_add_train <= self.threshold_call_dft <= self.threshold_hard:
            raise ValueError("need threshold_add_train <= threshold_call_dft <= threshold_hard")
        if self.core_radius and self.buffer_radius and self.core_radius >= self.buffer_radius:
            raise ValueError("core_radius must be smaller than buffer_radius")
        return self


class RunConfig(RunIdentity):
    """The whole user input: one material in, one potential out."""

    structure: StructureConfig
    oracle: OracleConfig = Field(default_factory=OracleConfig)
    dft: DFTConfig = Field(default_factory=DFTConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    pool: PoolConfig = Field(default_factory=PoolConfig)
    ace: AceConfig = Field(default_factory=AceConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    active_learning: ActiveLearningConfig = Field(default_factory=ActiveLearningConfig)
    targets: TargetsConfig = Field(default_factory=TargetsConfig)
