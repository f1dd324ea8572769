"""The distillation pipeline, top to bottom, as one jobflow Flow.

generate (generator mix) → screen + select (DIRECT) → DFT (train, held-out, EOS) →
MACE teacher (+ committee) → teacher MD pool → tiered labels → ACE base fit →
ACE delta fit on DFT → active set → exploration (active learning with LAMMPS) →
validate → report. Beside the teacher route, ACE is fitted directly on the DFT training
labels (``07b_ace_direct``, the simple route) and, after exploration, on every DFT label
of the run (``09c_ace_refit``: training cells plus cut-outs); validate delivers the best.
Each stage is a small Maker from its domain package; this module only wires them.
A config with a ``reaction:`` section gets the molecular chain instead
(:mod:`pyacemaker.flows.reaction`): :func:`chain_maker` is the one place that picks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from jobflow import Flow, Job, Maker, OnMissing, OutputReference

from pyacemaker.ace.jobs import AceFitMaker, ActiveSetMaker
from pyacemaker.config.plan import Plan
from pyacemaker.config.reaction import ReactionRunConfig
from pyacemaker.dft.jobs import IsolatedAtomMaker, LabelMaker, OracleLabelsMaker
from pyacemaker.dft.reference import ReferenceEnergyDoc
from pyacemaker.flows.active_learning import ActiveLearningMaker
from pyacemaker.flows.quality import QualityLoopMaker
from pyacemaker.flows.reaction import ReactionMaker
from pyacemaker.flows.report import ReportMaker
from pyacemaker.selection.jobs import DiversitySelectMaker
from pyacemaker.structures.jobs import CandidateMaker
from pyacemaker.surrogate.committee import CommitteeDoc
from pyacemaker.surrogate.foundation import foundation_kind
from pyacemaker.surrogate.jobs import (
    CommitteeMaker,
    TeacherLabelMaker,
    TeacherMDMaker,
    TeacherTrainMaker,
)
from pyacemaker.surrogate.pretrain import PretrainedTeacherMaker
from pyacemaker.surrogate.schemas import TeacherDoc
from pyacemaker.validation.jobs import ValidateMaker

# Fields of teacher.committee that configure the committee and the tiered routing.
COMMITTEE_FIELDS = {"size", "epochs_fraction", "bootstrap"}
ROUTING_FIELDS = {
    "uncertainty_threshold", "threshold_call_dft", "uncertain_weight", "max_force", "max_dft_calls"
}  # fmt: skip


@dataclass
class DistillationMaker(Maker):
    """Material in, validated ACE potential out (the walking-skeleton pipeline)."""

    name: str = "distill"
    generate: CandidateMaker = field(default_factory=CandidateMaker)
    select: DiversitySelectMaker = field(default_factory=DiversitySelectMaker)
    dft: LabelMaker = field(default_factory=LabelMaker)
    reference: IsolatedAtomMaker = field(default_factory=IsolatedAtomMaker)
    teacher: TeacherTrainMaker | PretrainedTeacherMaker = field(default_factory=TeacherTrainMaker)
    committee: CommitteeMaker | None = field(default_factory=CommitteeMaker)
    teacher_md: TeacherMDMaker = field(default_factory=TeacherMDMaker)
    teacher_label: TeacherLabelMaker = field(default_factory=TeacherLabelMaker)
    base_fit: AceFitMaker = field(default_factory=lambda: AceFitMaker(name="ace_base"))
    direct_fit: AceFitMaker | None = field(default_factory=lambda: AceFitMaker(name="ace_direct"))
    refit: AceFitMaker | None = field(default_factory=lambda: AceFitMaker(name="ace_refit"))
    delta_fit: AceFitMaker = field(default_factory=lambda: AceFitMaker(name="ace_delta"))
    delta_dft_weight: float = 10.0
    active_set: ActiveSetMaker = field(default_factory=ActiveSetMaker)
    explore: ActiveLearningMaker | None = None
    validate: ValidateMaker = field(default_factory=ValidateMaker)
    quality: QualityLoopMaker | None = None
    report: ReportMaker = field(default_factory=ReportMaker)

    def make(self, output_dir: str | Path) -> Flow:
        """The flow; every stage writes into its own numbered folder of ``output_dir``."""
        d = Path(output_dir)

        def at(folder: str) -> str:
            return str(d / folder)

        gen = self.generate.make(at("01_generate"))
        sel = self.select.make(gen.output.candidates, at("02_select"))
        dft_train = replace(self.dft, name="dft_train").make(sel.output.dataset, at("03_dft_train"))
        dft_test = replace(self.dft, name="dft_test").make(gen.output.test, at("03_dft_test"))
        dft_eos = replace(self.dft, name="dft_eos").make(gen.output.eos, at("03_dft_eos"))
        ref = self.reference.make(dft_train.output.dataset, at("03_reference"))
        teacher_stages = (
            self.teacher.stages(dft_train.output.dataset, at("04_teacher"))
            if isinstance(self.teacher, PretrainedTeacherMaker)
            else [self.teacher.make(dft_train.output.dataset, at("04_teacher"))]
        )
        teacher = teacher_stages[-1]
        committee = (
            self.committee.make(
                teacher.output, dft_train.output.dataset, at("04_teacher/committee")
            )
            if self.committee is not None and self.committee.size > 1
            else None
        )
        md, pool, base, delta = self.teacher_route(
            teacher.output, dft_train.output.dataset, ref.output, d,
            committee.output if committee else None,
        )  # fmt: skip
        final = self.active_set.make(
            delta.output, [dft_train.output.dataset, pool.output.dataset], at("09_active_set")
        )
        direct: list[Job] = []
        if self.direct_fit is not None:
            fit = self.direct_fit.make(
                [dft_train.output.dataset], [1.0], at("07b_ace_direct"), reference=ref.output
            )
            direct_asi = replace(self.active_set, name="active_set_direct").make(
                fit.output,
                [dft_train.output.dataset],
                at("07b_ace_direct/active_set"),
                fallback=[pool.output.dataset],
            )
            direct = [fit, tolerant(direct_asi)]
        direct_doc = direct[-1].output if direct else None
        explored: list[Flow | Job] = []
        potential, explored_doc = final.output, None
        if self.explore is not None:
            explore = self.explore.make(
                final.output,
                [dft_train.output.dataset, pool.output.dataset],
                [self.delta_dft_weight, 1.0],
                dft_test.output.dataset,
                at("09b_explore"),
                guard=dft_eos.output.dataset,
            )
            explored, potential, explored_doc = [explore], explore.output.potential, explore.output
        refit: list[Job] = []
        if self.explore is not None and self.refit is not None:  # every DFT label, one fit
            labels = OracleLabelsMaker().make(
                dft_train.output.dataset, explore.output.history, at("09c_ace_refit/labels")
            )
            fit = self.refit.make([labels.output], [1.0], at("09c_ace_refit"), reference=ref.output)
            refit_asi = replace(self.active_set, name="active_set_refit").make(
                fit.output,
                [labels.output],
                at("09c_ace_refit/active_set"),
                fallback=[pool.output.dataset],
            )
            refit = [labels, fit, refit_asi]
        refit_doc = refit[-1].output if refit else None
        dft_all = refit[0].output if refit else dft_train.output.dataset
        val = first_val = self.validate.make(
            potential,
            base.output,
            teacher.output,
            dft_test.output,
            dft_eos.output,
            train=dft_train.output,
            workdir=at("10_validate"),
            direct=direct_doc,
            refit=refit_doc,
        )
        tolerant(first_val)
        looped: list[Job] = []
        if self.quality is not None:  # targets.loop: targeted data, then validate again
            history, weights = (
                ([explore.output.history], None)
                if self.explore is not None
                else ([dft_train.output.dataset, pool.output.dataset], [self.delta_dft_weight, 1.0])
            )
            loop = self.quality.make(
                val.output, potential, dft_all, history, weights,
                [dft_test.output.dataset, dft_eos.output.dataset], at("10b_quality"),
            )  # fmt: skip
            potential = loop.output.potential
            val = replace(self.validate, name="validate_final").make(
                potential, base.output, teacher.output, dft_test.output, dft_eos.output,
                train=dft_train.output, workdir=at("10_validate"), direct=direct_doc,
                refit=refit_doc,
            )  # fmt: skip
            tolerant(val)
            looped = [loop]
        rep = self.report.make(
            str(d),
            [dft_train.output, dft_test.output, dft_eos.output, ref.output],
            teacher.output,
            base.output,
            potential,
            val.output,
            direct=direct_doc,
            refit=refit_doc,
            pool=pool.output,
            explore=explored_doc,
            quality=looped[0].output if looped else None,
        )
        tolerant(rep)
        jobs: list[Flow | Job] = [
            gen,
            sel,
            dft_train,
            dft_test,
            dft_eos,
            ref,
            *teacher_stages,
            *([committee] if committee else []),
            md,
            pool,
            base,
            *direct,
            delta,
            final,
            *explored,
            *refit,
            *([first_val, looped[0]] if looped else []),
            val,
            rep,
        ]
        return Flow(jobs, output=rep.output, name=self.name)

    def teacher_route(
        self,
        teacher: TeacherDoc | OutputReference,
        train: str | OutputReference,
        reference: ReferenceEnergyDoc | OutputReference,
        output_dir: Path,
        committee: CommitteeDoc | OutputReference | None = None,
    ) -> tuple[Job, Job, Job, Job]:
        """Teacher MD pool → its labels → ACE base fit → delta fit on the DFT ``train``.

        The ACE a teacher delivers, in ``output_dir``'s numbered folders; a method of its
        own so that a benchmark can put another teacher through the same stages.
        """
        md = self.teacher_md.make(teacher, str(output_dir / "05_teacher_md"))
        pool = self.teacher_label.make(teacher, md.output, str(output_dir / "06_pool"), committee)
        base = self.base_fit.make(
            [pool.output.dataset], [1.0], str(output_dir / "07_ace_base"), reference=reference
        )
        delta = self.delta_fit.make(
            [train, pool.output.dataset],
            [self.delta_dft_weight, 1.0],
            str(output_dir / "08_ace_delta"),
            initial=base.output,
        )
        return md, pool, base, delta

    @classmethod
    def from_plan(cls, plan: Plan) -> DistillationMaker:
        """All stage makers configured from an expanded plan."""
        v = plan.validation
        committee = plan.teacher.committee
        return cls(
            name=plan.name,
            generate=CandidateMaker(
                structure=plan.structure,
                sampling=plan.sampling,
                eos_points=v.eos_points,
                eos_strain=v.eos_strain,
                seed=plan.seed,
                model=plan.teacher.foundation,
            ),
            select=DiversitySelectMaker(
                n=plan.sampling.n_train,
                cutoff=plan.ace.base.cutoff,
                method=plan.sampling.selection,
                model=plan.teacher.foundation,
                min_distance_factor=plan.sampling.min_distance_factor,
                max_force=committee.max_force,
                seed=plan.seed,
            ),
            dft=LabelMaker(oracle=plan.oracle),
            reference=IsolatedAtomMaker(oracle=plan.oracle),
            teacher=teacher_maker(plan),
            committee=CommitteeMaker(**committee.model_dump(include=COMMITTEE_FIELDS)),
            teacher_label=TeacherLabelMaker(
                min_distance_factor=plan.sampling.min_distance_factor,
                dft=plan.oracle,
                **committee.model_dump(include=ROUTING_FIELDS),
            ),
            teacher_md=TeacherMDMaker(
                structure=plan.structure, seed=plan.seed, **plan.pool.model_dump()
            ),
            base_fit=AceFitMaker(name="ace_base", settings=plan.ace.base),
            direct_fit=AceFitMaker(name="ace_direct", settings=plan.ace.base),
            refit=AceFitMaker(name="ace_refit", settings=plan.ace.base),
            delta_fit=AceFitMaker(name="ace_delta", settings=plan.ace.delta),
            delta_dft_weight=plan.ace.delta_dft_weight,
            explore=ActiveLearningMaker(
                settings=plan.active_learning, oracle=plan.oracle, structure=plan.structure
            )
            if plan.active_learning.enabled
            else None,
            validate=ValidateMaker(
                thresholds=v,
                a_ref=plan.a_ref,
                v_ref=plan.v_ref,
                structure=plan.structure,
                oracle=plan.oracle,
                md_temperatures=plan.pool.temperatures,
                seed=plan.seed,
            ),
            quality=QualityLoopMaker.from_plan(plan) if plan.quality.loop else None,
            report=ReportMaker(settings=plan.model_dump(mode="json")),
        )


def tolerant(stage: Job) -> Job:
    """Let ``stage`` run when an input it reads comes from a failed stage (it gets None).

    Validation, the direct fit's active set and the report are tolerant so that a failed
    teacher route (a MACE training that diverged, a base fit stopped by its guard) still
    delivers the direct fit on the run's DFT, validated and reported, instead of nothing;
    the runner then reports the failed stage beside the completed run.
    """
    stage.config.on_missing_references = OnMissing.NONE
    return stage


def teacher_maker(plan: Plan) -> TeacherTrainMaker | PretrainedTeacherMaker:
    """The teacher stage by the kind of foundation.

    Fine-tuned from a MACE foundation; with a universal calculator (CHGNet) pre-trained on
    its labels first (``teacher.pretrain``, the default: its ACE beat the scratch teacher's
    on Si in 3 of 3 seeds, docs/benchmarks.md) or trained from scratch; from scratch for
    ``foundation: none``.
    """
    t = plan.teacher
    train = TeacherTrainMaker(
        settings=t.settings, foundation=t.foundation, finetuning=t.finetuning,
        replay_file=t.replay_file,
    )  # fmt: skip
    if foundation_kind(t.foundation) != "calculator" or not t.pretrain:
        return train
    return PretrainedTeacherMaker(
        foundation=t.foundation, structure=plan.structure, sampling=plan.sampling,
        seed=plan.seed, finetune=train,
    )  # fmt: skip


def chain_maker(plan: Plan | ReactionRunConfig) -> DistillationMaker | ReactionMaker:
    """The chain of a validated config: the molecular one for a reaction, else the crystal one."""
    if isinstance(plan, ReactionRunConfig):
        return ReactionMaker.from_config(plan)
    return DistillationMaker.from_plan(plan)
