"""Heuristics that expand a minimal config into the full, explicit plan of a run.

All defaults that depend on the material are chosen here and nowhere else; each
choice appends a sentence to ``Plan.notes`` saying why, and the plan is written to
``plan.yaml`` next to the outputs so a run can be read, repeated and audited.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml
from ase import Atoms
from pydantic import BaseModel, ConfigDict

from pyacemaker.ace.schemas import UPDATE_KAPPA, AceFitSettings
from pyacemaker.config.dft import qe_settings
from pyacemaker.config.errors import ConfigError
from pyacemaker.config.schema import (
    ActiveLearningConfig,
    CommitteeConfig,
    RunConfig,
    SamplingConfig,
    StructureConfig,
    ValidationConfig,
)
from pyacemaker.config.targets import (
    QualityPlan,
    conflicting_aliases,
    effective_targets,
    md_update,
    quality_plan,
)
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.embedding.cutout import nearest_neighbour_distance
from pyacemaker.oracle import import_object
from pyacemaker.structures.phases import Phase, StructureError, build_phases, phase_budget
from pyacemaker.structures.policy import (
    GENERATORS,
    MELT_QUENCH_FACTOR,
    MODEL_GENERATORS,
    classify,
    generator_mix,
    melting_point,
)
from pyacemaker.surrogate.foundation import foundation_kind, teacher_route
from pyacemaker.surrogate.schemas import MaceTrainSettings, has_foundation

MELT_FRACTIONS = (0.3, 0.6, 0.9)  # MD temperatures as fractions of the lowest melting point
RATTLE_FRACTIONS = (0.1, 0.25, 0.4)  # thermal-rattle temperatures, fractions of the same
CORE_SHELL_FACTOR = 1.2  # core radius / nearest-neighbour distance: centre + first shell
MIN_BUFFER_SHELL = 0.5  # buffer at least half a neighbour distance thicker than the core


class TeacherPlan(BaseModel):
    """The teacher's starting point and training settings."""

    model_config = ConfigDict(extra="forbid")
    foundation: str
    settings: MaceTrainSettings
    finetuning: str = "naive"
    replay_file: Path | None = None
    pretrain: bool = True
    committee: CommitteeConfig = CommitteeConfig()


class PoolPlan(BaseModel):
    """Teacher MD that builds the surrogate pool."""

    model_config = ConfigDict(extra="forbid")
    temperatures: list[float]
    volume_scales: list[float]
    steps: int
    interval: int
    timestep_fs: float
    supercell_atoms: int
    melt_temperature: float | None = None


class AcePlan(BaseModel):
    """The base (teacher labels) and delta (DFT) fits."""

    model_config = ConfigDict(extra="forbid")
    base: AceFitSettings
    delta: AceFitSettings
    delta_dft_weight: float


class ActiveLearningPlan(ActiveLearningConfig):
    """The exploration loop with its radii and temperatures chosen, and its update fit."""

    temperatures: list[float]
    core_radius: float
    buffer_radius: float
    fit: AceFitSettings
    seed: int


class PhasePlan(BaseModel):
    """One parent structure and its share of the sampling budget."""

    model_config = ConfigDict(extra="forbid")
    name: str
    source: str
    formula: str
    n_atoms: int
    volume_per_atom: float
    n_candidates: int
    n_test: int


class Plan(BaseModel):
    """Everything a run does, with every heuristic choice made explicit."""

    model_config = ConfigDict(extra="forbid")
    name: str
    seed: int
    output_dir: Path
    elements: list[str]
    structure: StructureConfig
    phases: list[PhasePlan] = []
    a_ref: float
    v_ref: float
    oracle: OracleSpec
    sampling: SamplingConfig
    teacher: TeacherPlan
    pool: PoolPlan
    ace: AcePlan
    validation: ValidationConfig  # its max_* thresholds are the targets (config/targets.py)
    active_learning: ActiveLearningPlan
    notes: list[str]
    quality: QualityPlan = QualityPlan()

    def write(self, path: Path) -> Path:
        """Save as YAML (the record of what the run was asked to do)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
        return path


def _oracle(cfg: RunConfig, elements: list[str], notes: list[str]) -> OracleSpec:
    if cfg.oracle.engine == "qe":
        settings = qe_settings(cfg.dft, elements, notes)
        if cfg.dft.kspacing is None:
            notes.append(f"k-point spacing {settings.kspacing} 1/Å (default)")
        return OracleSpec(engine="qe", qe=settings)
    try:
        import_object(cfg.oracle.engine)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            [
                f"oracle.engine: got {cfg.oracle.engine!r}: cannot import it ({exc}); expected "
                "'qe' or a dotted ASE calculator class such as ase.calculators.emt.EMT"
            ]
        ) from None
    notes.append(
        f"labels from {cfg.oracle.engine} instead of DFT (a stand-in for tests/benchmarks)"
    )
    return OracleSpec(engine=cfg.oracle.engine, kwargs=cfg.oracle.kwargs)


def _fractions_of_melt(symbols: list[str], fractions: tuple[float, ...]) -> list[float]:
    """Temperatures at ``fractions`` of the melting point, rounded to 50 K (at least 50 K)."""
    t_melt = melting_point(symbols)
    return [float(round(f * t_melt / 50) * 50) or 50.0 for f in fractions]


def _temperatures(cfg: RunConfig, symbols: list[str], notes: list[str]) -> list[float]:
    if cfg.pool.temperatures is not None:
        return cfg.pool.temperatures
    temps = _fractions_of_melt(symbols, MELT_FRACTIONS)
    rule = (
        "" if len(set(symbols)) == 1 else " (compound: tabulated value, else the "
        "composition-weighted mean over elements solid at room temperature, at least 300 K)"
    )
    notes.append(
        f"MD temperatures {temps} K = {MELT_FRACTIONS} x melting point "
        f"{melting_point(symbols):.0f} K{rule}"
    )
    return temps


def _sampling(cfg: RunConfig, proto: Atoms, notes: list[str]) -> SamplingConfig:
    """Material class, generator mix and rattle temperatures, each with its reason."""
    s = cfg.sampling
    unknown = sorted(set(s.generators or {}) - set(GENERATORS))
    if unknown:
        raise ConfigError(
            [f"sampling.generators: unknown {unknown}; expected names from {sorted(GENERATORS)}"]
        )
    needs_model = sorted(set(s.generators or {}) & set(MODEL_GENERATORS))
    if needs_model and not has_foundation(cfg.teacher.foundation):
        raise ConfigError(
            [f"sampling.generators: {needs_model}: need a model before any DFT; set "
             "teacher.foundation (e.g. chgnet, which works offline) or remove them"]
        )  # fmt: skip
    material = s.material_class or classify(proto)
    mix = generator_mix(
        material, s.supercell_atoms, s.generators, has_foundation(cfg.teacher.foundation)
    )
    notes += [f"sampling: {why}" for why in mix.reasons]
    temps = s.rattle_temperatures or _fractions_of_melt(
        proto.get_chemical_symbols(), RATTLE_FRACTIONS
    )
    if s.rattle_temperatures is None:
        notes.append(f"thermal rattle at {temps} K = {RATTLE_FRACTIONS} x melting point")
    return s.model_copy(
        update={"material_class": material, "generators": mix.shares, "rattle_temperatures": temps}
    )


def _melt_quench(cfg: RunConfig, symbols: list[str], notes: list[str]) -> float | None:
    """Melt-quench MD only when the teacher starts from a model that knows the liquid."""
    kind = foundation_kind(cfg.teacher.foundation)
    if kind == "none" or (kind == "calculator" and not cfg.teacher.pretrain):
        notes.append(
            "no melt-quench: a teacher trained from scratch on near-equilibrium cells "
            "cannot be trusted in the liquid"
        )
        return None
    t = float(round(MELT_QUENCH_FACTOR * melting_point(symbols) / 50) * 50)
    notes.append(f"melt-quench with the fine-tuned teacher at {t:.0f} K (foundation configured)")
    return t


def _ace(cfg: RunConfig, elements: list[str], notes: list[str]) -> AcePlan:
    """Fit settings; the basis shape for this number of elements is written to the notes."""
    base = AceFitSettings(
        cutoff=cfg.ace.cutoff,
        number_of_functions_per_element=cfg.ace.n_functions,
        max_iter=cfg.ace.max_iter,
        max_rmse_fraction=cfg.ace.max_rmse_fraction,
        seed=cfg.seed,
    )
    try:
        blocks = base.function_blocks(len(elements))
    except ValueError as exc:
        raise ConfigError([f"structure: {'-'.join(elements)}: {exc}; use at most 4"]) from None
    per_element = blocks.pop("number_of_functions_per_element")
    shapes = "; ".join(
        f"{name} nradmax {b['nradmax_by_orders']} lmax {b['lmax_by_orders']}"
        for name, b in blocks.items()
    )
    notes.append(
        f"ACE basis: {per_element} functions per element ({cfg.ace.n_functions} x (1 + "
        f"{base.functions_per_extra_element:g} per extra element)), {shapes}"
    )
    delta = base.model_copy(update={"max_iter": cfg.ace.delta_max_iter})
    return AcePlan(base=base, delta=delta, delta_dft_weight=cfg.ace.delta_dft_weight)


def _active_learning(
    cfg: RunConfig, proto: Atoms, pool: PoolPlan, fit: AceFitSettings, notes: list[str]
) -> ActiveLearningPlan:
    """Exploration radii from the prototype's neighbour distance and density."""
    al = cfg.active_learning
    d_nn = nearest_neighbour_distance(proto.repeat(2))
    core = al.core_radius or round(CORE_SHELL_FACTOR * d_nn, 2)
    side = (al.max_cutout_atoms * proto.get_volume() / len(proto)) ** (1 / 3)
    # A cluster's cut bonds are capped with H: its core atoms must see real atoms out to the
    # ACE cutoff, or the caps sit inside the environments the fit learns.
    shell = fit.cutoff if al.cutout == "cluster" else MIN_BUFFER_SHELL * d_nn
    wanted = max(side / 2, core + shell)
    default = math.ceil(100 * wanted) / 100 if al.cutout == "cluster" else round(wanted, 2)
    buffer = al.buffer_radius or default  # a cluster's default never below core + cutoff
    least = core + fit.cutoff if al.cutout == "cluster" else core
    if buffer <= core or buffer < least:  # one radius given, the other from the heuristics
        why = " plus the ACE cutoff (H caps must stay outside the core's environments)"
        raise ConfigError([
            f"active_learning.buffer_radius: {buffer:g} Å is not larger than core_radius "
            f"{core:g} Å" + (why if al.cutout == "cluster" else "")
            + f"; give a buffer_radius of at least {max(least, core):.2f} Å (or leave both unset)"
        ])  # fmt: skip
    if al.enabled and (al.core_radius is None or al.buffer_radius is None):
        notes.append(
            f"cut-outs: core {core} Å ({CORE_SHELL_FACTOR} x neighbour distance {d_nn:.2f} Å), "
            f"buffer {buffer} Å (cube of about {al.max_cutout_atoms} atoms)"
        )
    return ActiveLearningPlan(
        **al.model_dump(exclude={"temperatures", "core_radius", "buffer_radius"}),
        temperatures=al.temperatures or pool.temperatures,
        core_radius=core,
        buffer_radius=buffer,
        fit=fit.model_copy(
            update={"max_iter": al.update_max_iter, "kappa": min(fit.kappa, UPDATE_KAPPA)}
        ),
        seed=cfg.seed,
    )


def _phases(cfg: RunConfig, notes: list[str]) -> tuple[list[Phase], list[PhasePlan]]:
    """The parent structures and how the candidate and held-out budgets are split over them."""
    try:
        phases, why = build_phases(cfg.structure)
    except StructureError as exc:
        raise ConfigError([exc.line]) from None
    notes += why
    names = [p.name for p in phases]
    cands = phase_budget(names, cfg.sampling.n_candidates)
    tests = phase_budget(names, cfg.sampling.n_test)
    if len(phases) > 1:
        notes.append(
            f"{len(phases)} phases {names}: candidates {list(cands.values())} and held-out "
            f"{list(tests.values())} per phase (even split); DFT training structures are "
            "selected from the pooled candidates"
        )
    plans = [
        PhasePlan(
            name=p.name,
            source=p.source,
            formula=p.atoms.get_chemical_formula(),
            n_atoms=len(p.atoms),
            volume_per_atom=round(p.atoms.get_volume() / len(p.atoms), 3),
            n_candidates=cands[p.name],
            n_test=tests[p.name],
        )
        for p in phases
    ]
    return phases, plans


def expand(cfg: RunConfig) -> Plan:
    """The full plan for ``cfg``; raises ConfigError for what only shows at this stage."""
    notes: list[str] = []
    phases, phase_plans = _phases(cfg, notes)
    proto = phases[0].atoms
    elements = sorted({el for p in phases for el in p.atoms.get_chemical_symbols()})
    oracle = _oracle(cfg, elements, notes)
    teacher = MaceTrainSettings.for_dataset(
        cfg.sampling.n_train,
        max_num_epochs=cfg.teacher.max_num_epochs,
        num_channels=cfg.teacher.num_channels,
        valid_fraction=cfg.teacher.valid_fraction,
        r_max=cfg.ace.cutoff,
        seed=cfg.seed,
    )
    notes.append(
        f"teacher: batch {teacher.batch_size}, {teacher.max_num_epochs} epochs for "
        f"{cfg.sampling.n_train} DFT structures; "
        f"{teacher_route(cfg.teacher.foundation, cfg.teacher.pretrain)}"
    )
    pool = PoolPlan(
        temperatures=_temperatures(cfg, proto.get_chemical_symbols(), notes),
        melt_temperature=_melt_quench(cfg, proto.get_chemical_symbols(), notes),
        **cfg.pool.model_dump(exclude={"temperatures"}),
    )
    ace = _ace(cfg, elements, notes)
    return Plan(
        name=cfg.name,
        seed=cfg.seed,
        output_dir=(cfg.output_dir or Path("runs") / cfg.name).resolve(),
        elements=elements,
        structure=cfg.structure,
        phases=phase_plans,
        a_ref=float(proto.cell.lengths()[0] if cfg.structure.a is None else cfg.structure.a),
        v_ref=float(proto.get_volume() / len(proto)),
        oracle=oracle,
        sampling=_sampling(cfg, proto, notes),
        teacher=TeacherPlan(
            foundation=cfg.teacher.foundation,
            settings=teacher,
            finetuning=cfg.teacher.finetuning,
            replay_file=cfg.teacher.replay_file,
            pretrain=cfg.teacher.pretrain,
            committee=cfg.teacher.committee,
        ),
        pool=pool,
        ace=ace,
        validation=_validation(cfg),
        active_learning=_active_learning(cfg, proto, pool, ace.delta, notes),
        notes=notes,
        quality=quality_plan(cfg.targets),
    )


def _validation(cfg: RunConfig) -> ValidationConfig:
    """Validation settings with the targets as pass thresholds (one source of truth)."""
    problems = conflicting_aliases(cfg.targets, cfg.validation)
    if problems:
        raise ConfigError(problems)
    v = cfg.validation
    return v.model_copy(
        update={**effective_targets(cfg.targets, v), **md_update(cfg.targets, v.md_timestep_fs)}
    )
