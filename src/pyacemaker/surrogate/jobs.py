"""Makers for the MACE teacher: training it, running MD with it, labelling with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobflow import Maker, job

from pyacemaker.config.schema import StructureConfig
from pyacemaker.data import read_dataset, write_dataset
from pyacemaker.dynamics.ase_md import sample_md
from pyacemaker.oracle import LabelDoc, label_dataset
from pyacemaker.progress import stage
from pyacemaker.structures.generate import build_prototype, supercell_repeat
from pyacemaker.surrogate.mace import (
    mace_calculator,
    resolve_foundation_choice,
    teacher_oracle,
    train_mace,
)
from pyacemaker.surrogate.schemas import MaceTrainSettings, TeacherDoc


@dataclass
class TeacherTrainMaker(Maker):
    """Train the teacher on DFT labels, from a foundation model or from scratch.

    The foundation is resolved inside the job (download or cache lookup happens on
    the worker); a name that cannot be loaded fails the job with a clear error.
    """

    name: str = "teacher"
    settings: MaceTrainSettings = field(default_factory=MaceTrainSettings)
    foundation: str = "none"

    @job
    def make(self, train: str, workdir: str) -> TeacherDoc:
        """Train on the structures in ``train`` (extxyz) inside ``workdir``."""
        structures = read_dataset(train)
        choice = resolve_foundation_choice(self.foundation)
        with stage("teacher", f"MACE on {len(structures)} DFT structures ({choice.detail})"):
            return train_mace(structures, workdir, self.settings, foundation=choice)


@dataclass
class TeacherMDMaker(Maker):
    """Langevin MD with the teacher over temperatures x volumes: the surrogate pool.

    Several volumes give the distilled potential the compressed and expanded
    environments an equation of state needs, which NVT at one volume never visits.
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

    @job
    def make(self, teacher: TeacherDoc, workdir: str) -> str:
        """Write the unlabelled snapshots to ``pool.xyz`` and return its path."""
        proto = build_prototype(self.structure)
        cell = proto.repeat(supercell_repeat(proto, self.supercell_atoms))
        calc = mace_calculator(teacher.model_path)
        frames = []
        runs = [(t, v) for t in self.temperatures for v in self.volume_scales]
        with stage("teacher MD", f"{len(runs)} runs x {self.steps} steps, {len(cell)} atoms"):
            for k, (temp, scale) in enumerate(runs):
                start = cell.copy()
                start.set_cell(cell.cell.array * scale ** (1 / 3), scale_atoms=True)
                frames += sample_md(
                    start,
                    calc,
                    temperature_K=temp,
                    steps=self.steps,
                    interval=self.interval,
                    seed=self.seed + k,
                    timestep_fs=self.timestep_fs,
                )
        return str(write_dataset(Path(workdir) / "pool.xyz", frames))


@dataclass
class TeacherLabelMaker(Maker):
    """Label structures with the teacher (pseudo-labels for the base ACE fit)."""

    name: str = "teacher_label"

    @job
    def make(self, teacher: TeacherDoc, structures: str, workdir: str) -> LabelDoc:
        """Write ``labelled.xyz`` with teacher energies, forces and stresses."""
        return label_dataset(teacher_oracle(teacher), structures, workdir, self.name)
