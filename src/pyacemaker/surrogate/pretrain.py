"""Synthetic pre-training: a MACE teacher that starts from a universal model's knowledge.

A universal model that is not a MACE file (CHGNet, or any ASE calculator) cannot be
fine-tuned by mace-torch. Instead it labels a broad synthetic set of the material
(strains twice as large as the DFT candidates', thermal rattles, vacancies,
interstitials, melt-quench frames from its own MD), a MACE of the teacher's
architecture is trained on those labels, and that model is fine-tuned on the DFT data.
No DFT is spent on the synthetic set; its cost is the universal model's labels (about
0.1 s per small cell for CHGNet on one core) and one extra MACE training.

Before pre-training, the foundation's labels are moved onto the DFT's energy zero
(:class:`EnergyZeroMaker`). A universal model's zero is not pw.x's (CHGNet's Si is
about -5 eV/atom, pw.x's -107), and fine-tuning does not move it: MACE re-fits its
isolated-atom energies, but the interaction weights start where the foundation's
labels put them, and with the teacher's energy weight the fine-tuning spends its
epochs on the zero instead of the forces (0.41 eV/Å held-out against 0.06 from
scratch on the quickstart's Si unshifted, docs/benchmarks.md). The shift is per
element, fitted by least squares on the DFT training cells, which the foundation also
labels (one element: about the mean per-atom difference); it changes no force and no
energy difference at fixed composition, only the zero.

Everything is a composition of the existing makers: :class:`CandidateMaker` draws the
synthetic structures, :class:`LabelMaker` labels them with the foundation as the
oracle, :class:`EnergyZeroMaker` shifts them, and :class:`TeacherTrainMaker` trains
twice (pre-train, then fine-tune with ``start_from``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from ase import Atoms
from jobflow import Flow, Job, Maker, OutputReference, job

from pyacemaker.config.schema import SamplingConfig, StructureConfig
from pyacemaker.data import ENERGY_KEY, energy_of, read_dataset, write_dataset
from pyacemaker.dft.jobs import LabelMaker
from pyacemaker.dft.reference import least_squares_references
from pyacemaker.structures.jobs import CandidateMaker
from pyacemaker.surrogate.foundation import CHGNET, calculator_spec, foundation_calculator
from pyacemaker.surrogate.jobs import TeacherTrainMaker
from pyacemaker.surrogate.schemas import EnergyAlignment, MaceTrainSettings
from pyacemaker.validation.metrics import predict

# The synthetic mix: the DFT mix of a bulk material plus melt-quench frames, which the
# universal model can afford and DFT candidates leave out.
PRETRAIN_SHARES: dict[str, float] = {
    "strain": 0.4, "rattle": 0.25, "vacancy": 0.1, "interstitial": 0.1, "melt_quench": 0.15,
}  # fmt: skip
STRAIN_FACTOR = 2.0  # synthetic strains reach this times the DFT candidates' amplitude
MAX_STRAIN = 0.15
SEED_OFFSET = 500_009  # synthetic structures never repeat the DFT candidates' draws
# Size and length of the pre-training: 64 synthetic cells, 40 epochs (batch 8, about 320
# optimizer steps) cost about 1.5 times the 16-cell from-scratch teacher; the benchmark
# (docs/benchmarks.md) measured this default.
PRETRAIN_STRUCTURES = 64
PRETRAIN_EPOCHS = 40


def synthetic_sampling(sampling: SamplingConfig, n_structures: int) -> SamplingConfig:
    """The run's sampling settings widened for the synthetic set of ``n_structures``."""
    strain = min(MAX_STRAIN, STRAIN_FACTOR * sampling.max_strain)
    return sampling.model_copy(
        update={
            "n_candidates": n_structures,
            "n_test": 1,
            "max_strain": strain,
            "generators": dict(PRETRAIN_SHARES),
        }
    )


def with_energy(atoms: Atoms, energy: float) -> Atoms:
    """A copy of the labelled ``atoms`` whose reference energy is ``energy``."""
    out: Atoms = atoms.copy()
    out.info[ENERGY_KEY] = float(energy)
    return out


def shifted(atoms: Atoms, offsets: dict[str, float]) -> Atoms:
    """``atoms`` with ``offsets[el]`` added to its energy for every atom of element el."""
    missing = sorted(set(atoms.get_chemical_symbols()) - set(offsets))
    if missing:
        raise ValueError(f"no energy offset for {missing}: the DFT training cells lack them")
    return with_energy(atoms, energy_of(atoms) + sum(offsets[s] for s in atoms.symbols))


def energy_offsets(dft: Sequence[Atoms], foundation: Sequence[float]) -> dict[str, float]:
    """Per-element eV/atom that best map ``foundation`` energies onto the ``dft`` cells'.

    Least squares of E_dft - E_foundation ≈ Σ_el n_el·offset_el, the fit the DFT zero
    itself falls back to (:func:`least_squares_references`).
    """
    gaps = [with_energy(a, energy_of(a) - e) for a, e in zip(dft, foundation, strict=True)]
    return least_squares_references(gaps)


@dataclass
class EnergyZeroMaker(Maker):
    """Shift foundation labels onto the DFT's energy zero (module docstring: why)."""

    name: str = "pretrain_align"
    foundation: str = CHGNET

    @job
    def make(self, labels: str, train: str, workdir: str) -> EnergyAlignment:
        """``labels`` (foundation) shifted by offsets fitted on the DFT cells of ``train``."""
        dft = read_dataset(train)
        predicted, _ = predict(dft, foundation_calculator(self.foundation))
        offsets = energy_offsets(dft, predicted)
        residual = [
            (energy_of(shifted(with_energy(a, e), offsets)) - energy_of(a)) / len(a)
            for a, e in zip(dft, predicted, strict=True)
        ]
        path = write_dataset(
            Path(workdir) / "labelled.xyz", [shifted(a, offsets) for a in read_dataset(labels)]
        )
        return EnergyAlignment(
            dataset=str(path), offsets=offsets, n_reference=len(dft),
            residual_mev_per_atom=1000 * float(np.sqrt(np.mean(np.square(residual)))),
        )  # fmt: skip


@dataclass
class PretrainedTeacherMaker(Maker):
    """Teacher = MACE pre-trained on ``foundation`` labels, then fine-tuned on the DFT data.

    ``finetune`` is the ordinary teacher maker (its settings, seed and fine-tuning mode
    are the fine-tuning run's); the pre-training run uses the same architecture, with
    batch size and epochs following the size of the synthetic set
    (:meth:`MaceTrainSettings.for_dataset`). The output is the fine-tuned
    :class:`TeacherDoc`; its ``foundation_resolution`` records the pre-trained model
    and the energy offsets of its labels. The fine-tuning learning rate is
    ``finetune.settings.lr``.
    """

    name: str = "teacher"
    foundation: str = CHGNET
    structure: StructureConfig = field(default_factory=lambda: StructureConfig(formula="Si"))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    n_structures: int = PRETRAIN_STRUCTURES
    seed: int = 42
    finetune: TeacherTrainMaker = field(default_factory=TeacherTrainMaker)
    pretrain_epochs: int | None = PRETRAIN_EPOCHS  # None: the for_dataset rule

    def _pretrain_settings(self) -> MaceTrainSettings:
        s = self.finetune.settings
        architecture = s.model_dump(
            include={"num_channels", "max_L", "r_max", "num_interactions", "correlation",
                     "energy_weight", "forces_weight", "seed", "num_threads"}
        )  # fmt: skip
        return MaceTrainSettings.for_dataset(
            self.n_structures, max_num_epochs=self.pretrain_epochs, **architecture
        )

    def stages(self, train: str | OutputReference, workdir: str) -> list[Job]:
        """Synthetic set → foundation labels → on the DFT zero → pre-trained → fine-tuned.

        The jobs, in order (the last is the teacher), so that a pipeline can list them
        as its own stages: each shows in ``pyacemaker status`` and is skipped on resume
        once finished, which a nested Flow would not give.
        """
        d = Path(workdir) / "pretrain"
        gen = CandidateMaker(
            name="pretrain_generate",
            structure=self.structure,
            sampling=synthetic_sampling(self.sampling, self.n_structures),
            seed=self.seed + SEED_OFFSET,
            model=self.foundation,
        ).make(str(d / "generate"))
        label = LabelMaker(name="pretrain_label", oracle=calculator_spec(self.foundation)).make(
            gen.output.candidates, str(d / "label")
        )
        return [gen, label, *self.train_stages(label.output.dataset, train, workdir)]

    def train_stages(
        self, labels: str | OutputReference, train: str | OutputReference, workdir: str
    ) -> list[Job]:
        """The foundation's ``labels`` onto the DFT zero → pre-trained → fine-tuned on ``train``.

        The second half of :meth:`stages`, apart so that labels made before (a benchmark
        comparing fine-tuning settings) are not drawn and labelled again.
        """
        d = Path(workdir) / "pretrain"
        align = EnergyZeroMaker(foundation=self.foundation).make(labels, train, str(d / "align"))
        pre = TeacherTrainMaker(name="teacher_pretrain", settings=self._pretrain_settings()).make(
            align.output.dataset, str(d / "mace")
        )
        tuned = replace(self.finetune, foundation=self.foundation).make(
            train, workdir, start_from=pre.output, energy_offsets=align.output.offsets
        )
        return [align, pre, tuned]

    def make(self, train: str | OutputReference, workdir: str) -> Flow:
        """The :meth:`stages` as one Flow whose output is the fine-tuned TeacherDoc."""
        jobs = self.stages(train, workdir)
        return Flow(list[Flow | Job](jobs), output=jobs[-1].output, name=self.name)
