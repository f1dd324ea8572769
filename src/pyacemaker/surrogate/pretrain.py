"""Synthetic pre-training: a MACE teacher that starts from a universal model's knowledge.

A universal model that is not a MACE file (CHGNet, or any ASE calculator) cannot be
fine-tuned by mace-torch. Instead it labels a broad synthetic set of the material
(strains twice as large as the DFT candidates', thermal rattles, vacancies,
interstitials, melt-quench frames from its own MD), a MACE of the teacher's
architecture is trained on those labels, and that model is fine-tuned on the DFT data.
No DFT is spent on the synthetic set; its cost is the universal model's labels (about
0.1 s per small cell for CHGNet on one core) and one extra MACE training.

Everything is a composition of the existing makers: :class:`CandidateMaker` draws the
synthetic structures, :class:`LabelMaker` labels them with the foundation as the
oracle, and :class:`TeacherTrainMaker` trains twice (pre-train, then fine-tune with
``start_from``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from jobflow import Flow, Job, Maker, OutputReference

from pyacemaker.config.schema import SamplingConfig, StructureConfig
from pyacemaker.dft.jobs import LabelMaker
from pyacemaker.structures.jobs import CandidateMaker
from pyacemaker.surrogate.foundation import CHGNET, calculator_spec
from pyacemaker.surrogate.jobs import TeacherTrainMaker
from pyacemaker.surrogate.schemas import MaceTrainSettings

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


@dataclass
class PretrainedTeacherMaker(Maker):
    """Teacher = MACE pre-trained on ``foundation`` labels, then fine-tuned on the DFT data.

    ``finetune`` is the ordinary teacher maker (its settings, seed and fine-tuning mode
    are the fine-tuning run's); the pre-training run uses the same architecture, with
    batch size and epochs following the size of the synthetic set
    (:meth:`MaceTrainSettings.for_dataset`). The output is the fine-tuned
    :class:`TeacherDoc`; its ``foundation_resolution`` records the pre-trained model.
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
        """Synthetic set → foundation labels → pre-trained MACE → fine-tuned on ``train``.

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
        pre = TeacherTrainMaker(name="teacher_pretrain", settings=self._pretrain_settings()).make(
            label.output.dataset, str(d / "mace")
        )
        tuned = replace(self.finetune, foundation=self.foundation).make(
            train, workdir, start_from=pre.output
        )
        return [gen, label, pre, tuned]

    def make(self, train: str | OutputReference, workdir: str) -> Flow:
        """The :meth:`stages` as one Flow whose output is the fine-tuned TeacherDoc."""
        jobs = self.stages(train, workdir)
        return Flow(list[Flow | Job](jobs), output=jobs[-1].output, name=self.name)
