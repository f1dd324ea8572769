"""Makers for the MACE teacher: training it (and its committee), MD with it, labelling."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import Calculator
from jobflow import Maker, job

from pyacemaker.config.schema import StructureConfig
from pyacemaker.data import read_dataset, write_dataset
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.dynamics.ase_md import MDInstabilityError, sample_md
from pyacemaker.oracle import LabelDoc, label_dataset
from pyacemaker.progress import stage, track
from pyacemaker.structures.generate import supercell_repeat
from pyacemaker.structures.generators import melt_quench
from pyacemaker.structures.phases import build_phases, tag_phase
from pyacemaker.surrogate.committee import Committee, CommitteeDoc, train_committee
from pyacemaker.surrogate.foundation import foundation_kind
from pyacemaker.surrogate.mace import (
    finetune_policy,
    mace_calculator,
    resolve_foundation_choice,
    teacher_oracle,
    train_mace,
)
from pyacemaker.surrogate.schemas import (
    FoundationChoice,
    MaceTrainSettings,
    TeacherDoc,
    TieredLabelDoc,
)
from pyacemaker.surrogate.tiered import TieredOracle

logger = logging.getLogger(__name__)


@dataclass
class TeacherTrainMaker(Maker):
    """Train the teacher on DFT labels, from a foundation model or from scratch.

    The foundation is resolved inside the job (download or cache lookup happens on
    the worker); a name that cannot be loaded fails the job with a clear error.
    ``finetuning`` asks for naive or multihead fine-tuning; what was done, and why
    (e.g. the fallback from multihead), is in ``TeacherDoc.finetuning``.
    ``start_from`` (a MACE teacher pre-trained on foundation-labelled structures,
    :class:`~pyacemaker.surrogate.pretrain.PretrainedTeacherMaker`) replaces the
    foundation file: the teacher is then that model fine-tuned on ``train``;
    ``energy_offsets``, the shift that put its pre-training labels on the DFT's energy
    zero, is recorded in ``TeacherDoc.foundation_resolution``.
    """

    name: str = "teacher"
    settings: MaceTrainSettings = field(default_factory=MaceTrainSettings)
    foundation: str = "none"
    finetuning: str = "naive"
    replay_file: Path | None = None

    def _choice(
        self, start_from: TeacherDoc | None, energy_offsets: dict[str, float] | None
    ) -> FoundationChoice:
        if start_from is not None:
            shift = "" if energy_offsets is None else f" shifted by {energy_offsets} eV/atom"
            detail = (
                f"MACE pre-trained on {start_from.n_train} structures labelled by "
                f"{self.foundation}{shift}, at {start_from.model_path}"
            )
            return FoundationChoice(
                spec=self.foundation, path=start_from.model_path, how="pretrained",
                detail=detail, energy_offsets=energy_offsets,
            )  # fmt: skip
        if foundation_kind(self.foundation) == "calculator":  # nothing MACE can fine-tune
            return resolve_foundation_choice("none")
        return resolve_foundation_choice(self.foundation)

    @job
    def make(
        self,
        train: str,
        workdir: str,
        start_from: TeacherDoc | None = None,
        energy_offsets: dict[str, float] | None = None,
    ) -> TeacherDoc:
        """Train on the structures in ``train`` (extxyz) inside ``workdir``."""
        structures = read_dataset(train)
        choice = self._choice(start_from, energy_offsets)
        plan = finetune_policy(choice, self.finetuning, self.replay_file)
        with stage("teacher", f"MACE on {len(structures)} DFT structures ({plan.reason})"):
            return train_mace(structures, workdir, self.settings, foundation=choice, finetune=plan)


@dataclass
class CommitteeMaker(Maker):
    """Extra teachers (other seeds, bootstrap data, fewer epochs) for the uncertainty."""

    name: str = "committee"
    size: int = 2
    epochs_fraction: float = 0.5
    bootstrap: bool = True

    @job
    def make(self, teacher: TeacherDoc, train: str, workdir: str) -> CommitteeDoc:
        """Train ``size - 1`` members next to ``teacher`` on the same DFT data."""
        with stage("committee", f"{self.size - 1} extra MACE member(s)"):
            return train_committee(
                teacher, read_dataset(train), workdir, size=self.size,
                epochs_fraction=self.epochs_fraction, bootstrap=self.bootstrap,
            )  # fmt: skip


@dataclass
class TeacherMDMaker(Maker):
    """Langevin MD with the teacher over temperatures x volumes: the surrogate pool.

    Several volumes give the distilled potential the compressed and expanded
    environments an equation of state needs, which NVT at one volume never visits.
    With ``melt_temperature`` a melt-quench run (melt there, quench to the lowest
    pool temperature) adds liquid and disordered environments; the plan only sets it
    when a foundation model makes the teacher trustworthy in the liquid.
    """

    name: str = "teacher_md"
    structure: StructureConfig = field(default_factory=lambda: StructureConfig(formula="Si"))
    temperatures: list[float] = field(default_factory=lambda: [300.0, 600.0])
    volume_scales: list[float] = field(default_factory=lambda: [1.0])
    steps: int = 400
    interval: int = 10
    timestep_fs: float = 2.0
    supercell_atoms: int = 16
    seed: int = 42
    melt_temperature: float | None = None

    def _melt_quench(self, cell: Atoms, calc: Calculator) -> list[Atoms]:
        """Melt-quench frames; a run that goes unstable keeps the frames before it."""
        if self.melt_temperature is None:
            return []
        try:
            return melt_quench(
                cell, calc, sample_md, t_melt=self.melt_temperature,
                t_final=min(self.temperatures), steps=self.steps, interval=self.interval,
                seed=self.seed + 7919,
            )  # fmt: skip
        except MDInstabilityError as exc:
            logger.warning("melt-quench stopped early: %s", exc)
            return exc.frames

    @job
    def make(self, teacher: TeacherDoc, workdir: str) -> str:
        """Write the unlabelled snapshots to ``pool.xyz`` and return its path."""
        phases = build_phases(self.structure)[0]
        cells = [p.atoms.repeat(supercell_repeat(p.atoms, self.supercell_atoms)) for p in phases]
        calc = mace_calculator(teacher.model_path)
        frames = []
        runs = [
            (t, v, (i + j) % len(cells))  # Latin square: each phase at every temperature
            for i, t in enumerate(self.temperatures)
            for j, v in enumerate(self.volume_scales)
        ]
        cell = cells[0]
        with (
            stage("teacher MD", f"{len(runs)} runs x {self.steps} steps, {len(cell)} atoms"),
            track("teacher MD", len(runs) * self.steps, "step") as bar,
        ):
            for k, (temp, scale, phase) in enumerate(runs):
                start = cells[phase].copy()
                start.set_cell(start.cell.array * scale ** (1 / 3), scale_atoms=True)
                frames += tag_phase(sample_md(
                    start, calc, temperature_K=temp, steps=self.steps, interval=self.interval,
                    seed=self.seed + k, timestep_fs=self.timestep_fs, progress=bar,
                ), phases[phase].name)  # fmt: skip
                bar.advance((k + 1) * self.steps - bar.done)  # a run stopped early: count it
            frames += tag_phase(self._melt_quench(cell, calc), phases[0].name)  # first phase
        return str(write_dataset(Path(workdir) / "pool.xyz", frames))


@dataclass
class TeacherLabelMaker(Maker):
    """Label structures with the teacher, or through the tiered oracle with a committee.

    With a committee, structures the members agree on get teacher labels, uncertain
    atoms get lower force weights, and (when ``threshold_call_dft`` and ``dft`` are
    set) the most uncertain structures go to DFT; see :mod:`pyacemaker.surrogate.tiered`.
    """

    name: str = "teacher_label"
    uncertainty_threshold: float = 0.15
    threshold_call_dft: float | None = None
    uncertain_weight: float = 0.3
    max_force: float = 20.0
    min_distance_factor: float = 0.6
    max_dft_calls: int | None = None
    dft: OracleSpec | None = None

    @job
    def make(
        self,
        teacher: TeacherDoc,
        structures: str,
        workdir: str,
        committee: CommitteeDoc | None = None,
    ) -> LabelDoc:
        """Write ``labelled.xyz`` with teacher (or DFT) energies, forces and stresses."""
        if committee is None:
            return label_dataset(teacher_oracle(teacher), structures, workdir, self.name)
        oracle = TieredOracle(
            teacher=teacher_oracle(teacher),
            committee=Committee.load(committee),
            dft=self.dft.build() if self.dft is not None else None,
            uncertainty_threshold=self.uncertainty_threshold,
            threshold_call_dft=self.threshold_call_dft,
            uncertain_weight=self.uncertain_weight,
            max_force=self.max_force,
            min_distance_factor=self.min_distance_factor,
            max_dft_calls=self.max_dft_calls,
        )
        doc = label_dataset(oracle, structures, workdir, self.name)
        return tiered_doc(
            doc, oracle, read_dataset(structures), Path(workdir), len(committee.members)
        )


def tiered_doc(
    doc: LabelDoc, oracle: TieredOracle, inputs: list[Atoms], workdir: Path, size: int
) -> TieredLabelDoc:
    """The label document plus routing counts; rejected structures go to ``rejected.xyz``."""
    rejected = oracle.routing.rejected
    for i, why in rejected.items():
        inputs[i].info["rejected"] = why
    path = (
        write_dataset(workdir / "rejected.xyz", [inputs[i] for i in rejected]) if rejected else None
    )
    counts = oracle.routing.counts()
    logger.info("tiered labelling: %s", counts)
    return TieredLabelDoc(
        **doc.model_dump(),
        routes=counts,
        n_dft_calls=counts["dft"],
        rejected=rejected,
        rejected_dataset=str(path) if path else None,
        committee_size=size,
        uncertainty_threshold=oracle.uncertainty_threshold,
        threshold_call_dft=oracle.threshold_call_dft,
    )
