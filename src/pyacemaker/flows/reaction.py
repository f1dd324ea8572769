"""The molecular pipeline: a reaction from two structures to a validated ACE potential.

sample (oracle CI-NEB, normal modes, rattled images, MD along the path) → select
(DIRECT) → oracle labels (train, held-out) → isolated-atom zero → ACE fit → active set →
reaction validation → report. Every stage but sampling and validation is the crystal
pipeline's own maker (:mod:`pyacemaker.flows.distill`); only the chemistry-specific
stages are new (:mod:`pyacemaker.molecules`).

The route is the direct one (ACE on the oracle's labels). The teacher route of the
crystal chain is not wired for molecules: its MACE starting point is MACE-MP-0, a
materials model that is neither offline here nor trained for charged molecular
complexes, and with a fast molecular oracle (GFN2-xTB: milliseconds per label) the
oracle itself labels every structure the teacher would (docs/molecules.md).

The chain is picked in :func:`pyacemaker.flows.distill.chain_maker` and run, recorded and
resumed by :func:`pyacemaker.runner.run_reaction` like the crystal chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, Maker, job
from pydantic import BaseModel

from pyacemaker.ace.jobs import AceFitMaker, ActiveSetMaker
from pyacemaker.ace.schemas import AceFitSettings, AcePotentialDoc
from pyacemaker.config.reaction import ReactionRunConfig, reaction_oracles
from pyacemaker.dft.jobs import IsolatedAtomMaker, LabelMaker
from pyacemaker.flows.report import _copy_potential
from pyacemaker.molecules.jobs import ReactionSampleMaker, ReactionValidateMaker
from pyacemaker.molecules.report import reaction_sections
from pyacemaker.molecules.schemas import ReactionSampleDoc, ReactionValidationDoc
from pyacemaker.oracle import LabelDoc
from pyacemaker.selection.jobs import DiversitySelectMaker
from pyacemaker.validation.html import write_report

DIRECT_ROUTE = (
    "direct route: ACE fitted on the oracle's labels alone (the MACE teacher route is not "
    "wired for molecules; docs/molecules.md)"
)


class ReactionSummary(BaseModel):
    """What a molecular run delivered, what it cost and how it compares with the oracle."""

    potential: dict[str, str]
    oracle_calls: int
    oracle_failed: int
    oracle_calls_by_purpose: dict[str, int]
    barrier: dict[str, float]
    reaction_energy: dict[str, float]
    validation: ReactionValidationDoc
    fit_wall_time_s: float
    metrics_file: str
    summary_file: str
    report_file: str


def _summary_text(s: ReactionSummary) -> str:
    v = s.validation
    lines = [
        f"pyacemaker reaction summary — {'PASS' if v.passed else 'FAIL'}",
        f"potential: {s.potential.get('yace')}",
        f"report: {s.report_file}",
        f"oracle calls: {s.oracle_calls} ({s.oracle_failed} failed) "
        + ", ".join(f"{k} {n}" for k, n in s.oracle_calls_by_purpose.items()),
        f"barrier (eV): oracle {s.barrier['oracle']:.4f}, ACE {s.barrier['ace']:.4f}",
        f"reaction energy (eV): oracle {s.reaction_energy['oracle']:.4f}, "
        f"ACE {s.reaction_energy['ace']:.4f}",
        v.route,
        *[f"  {'PASS' if c.passed else 'FAIL'}  {c.name}: {c.value:.4g} (≤ {c.threshold:g})"
          for c in v.checks],
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


@dataclass
class ReactionReportMaker(Maker):
    """Collect ``potential/``, ``metrics.json``, ``summary.txt`` and ``report.html``."""

    name: str = "report"
    settings: dict[str, Any] = field(default_factory=dict)

    @job
    def make(
        self,
        output_dir: str,
        sample: ReactionSampleDoc,
        labels: dict[str, LabelDoc],
        potential: AcePotentialDoc,
        validation: ReactionValidationDoc,
    ) -> ReactionSummary:
        """Write the deliverables into ``output_dir`` and return the summary."""
        out = Path(output_dir)
        calls = {"sampling": sample.n_oracle_calls} | {k: d.n_calls for k, d in labels.items()}
        o, p = validation.oracle_path, validation.potential_path
        summary = ReactionSummary(
            potential=_copy_potential(potential, out / "potential"),
            oracle_calls=sum(calls.values()),
            oracle_failed=sum(d.n_failed for d in labels.values()),
            oracle_calls_by_purpose=calls,
            barrier={"oracle": o.barrier, "ace": p.barrier},
            reaction_energy={"oracle": o.reaction_energy, "ace": p.reaction_energy},
            validation=validation,
            fit_wall_time_s=potential.wall_time_s,
            metrics_file=str(out / "metrics.json"),
            summary_file=str(out / "summary.txt"),
            report_file=str(out / "report.html"),
        )
        Path(summary.metrics_file).write_text(json.dumps(summary.model_dump(mode="json"), indent=2))
        Path(summary.summary_file).write_text(_summary_text(summary))
        provenance = {"oracle": labels["training"].source, "oracle calls": calls,
                      "potential": summary.potential, "settings": self.settings}  # fmt: skip
        write_report(out / "report.html", f"{out.name}: reaction potential", validation.checks,
                     None, provenance, extra=reaction_sections(validation))  # fmt: skip
        return summary


@dataclass
class ReactionMaker(Maker):
    """Reaction in, validated ACE potential out (the molecular chain)."""

    name: str = "reaction"
    sample: ReactionSampleMaker = field(default_factory=ReactionSampleMaker)
    select: DiversitySelectMaker = field(default_factory=DiversitySelectMaker)
    label: LabelMaker = field(default_factory=LabelMaker)
    reference: IsolatedAtomMaker = field(default_factory=IsolatedAtomMaker)
    fit: AceFitMaker = field(default_factory=lambda: AceFitMaker(name="ace_direct"))
    active_set: ActiveSetMaker = field(default_factory=ActiveSetMaker)
    validate: ReactionValidateMaker = field(default_factory=ReactionValidateMaker)
    report: ReactionReportMaker = field(default_factory=ReactionReportMaker)

    def make(self, output_dir: str | Path) -> Flow:
        """The flow; each stage writes into its own numbered folder of ``output_dir``."""
        d = Path(output_dir)
        sample = self.sample.make(str(d / "01_sample"))
        sel = self.select.make(sample.output.candidates, str(d / "02_select"))
        train = self.label.make(sel.output.dataset, str(d / "03_label_train"))
        test = self.label.make(sample.output.test, str(d / "03_label_test"))
        train.name, test.name = "label_train", "label_test"
        ref = self.reference.make(train.output.dataset, str(d / "03_reference"))
        fit = self.fit.make([train.output.dataset], [1.0], str(d / "04_ace"), reference=ref.output)
        asi = self.active_set.make(  # few molecules hold fewer environments than functions
            fit.output, [train.output.dataset], str(d / "05_active_set"),
            fallback=[test.output.dataset, sample.output.path],
        )
        val = self.validate.make(asi.output, sample.output, test.output, str(d / "06_validate"))
        labels = {"training": train.output, "held-out": test.output, "reference atoms": ref.output}
        rep = self.report.make(str(d), sample.output, labels, asi.output, val.output)
        jobs: list[Flow | Job] = [sample, sel, train, test, ref, fit, asi, val, rep]
        return Flow(jobs, output=rep.output, name=self.name)

    @classmethod
    def from_config(cls, cfg: ReactionRunConfig) -> ReactionMaker:
        """Every stage configured from a validated reaction config."""
        r, s, a = cfg.reaction, cfg.sampling, cfg.ace
        oracle, neutral = reaction_oracles(cfg)  # free atoms are neutral: the zero per element
        pw = cfg.oracle.engine == "qe"
        settings = AceFitSettings(
            cutoff=a.cutoff, number_of_functions_per_element=a.n_functions, max_iter=a.max_iter,
            max_rmse_fraction=a.max_rmse_fraction, seed=cfg.seed,
        )  # fmt: skip
        return cls(
            name=cfg.name,
            sample=ReactionSampleMaker(reaction=r, oracle=oracle, sampling=s, seed=cfg.seed),
            select=DiversitySelectMaker(
                n=s.n_train,
                cutoff=a.cutoff,
                method=s.selection,
                model="none",
                min_distance_factor=s.min_distance_factor,
                seed=cfg.seed,
            ),
            label=LabelMaker(oracle=oracle),
            reference=IsolatedAtomMaker(oracle=neutral),
            fit=AceFitMaker(name="ace_direct", settings=settings),
            validate=ReactionValidateMaker(
                settings=cfg.validation, seed=cfg.seed, route=DIRECT_ROUTE
            ),
            report=ReactionReportMaker(  # dft: is read only with pw.x: not shown otherwise
                settings=cfg.model_dump(mode="json", exclude=None if pw else {"dft"})
            ),
        )

