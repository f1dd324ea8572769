"""Makers of a molecular run: reaction sampling with the oracle, reaction validation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from jobflow import Maker, job

from pyacemaker.ace.pacemaker import ace_calculator
from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.config.reaction import (
    MoleculeSamplingConfig,
    ReactionConfig,
    ReactionValidationConfig,
    read_molecule,
)
from pyacemaker.data import read_dataset, write_dataset
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.molecules.path import CountingCalculator
from pyacemaker.molecules.reference import oracle_factory, oracle_reaction, write_oracle_files
from pyacemaker.molecules.sampling import normal_mode_samples, path_md, rattled_path
from pyacemaker.molecules.schemas import ReactionSampleDoc, ReactionValidationDoc
from pyacemaker.molecules.validation import (
    compare_frequencies,
    complex_md,
    potential_path,
    reaction_checks,
)
from pyacemaker.oracle import LabelDoc
from pyacemaker.progress import stage
from pyacemaker.validation.parity import parity
from pyacemaker.validation.reference import calculator_labeller

TEST_SEED_OFFSET = 7919  # held-out structures come from another random stream


@dataclass
class ReactionSampleMaker(Maker):
    """The oracle's path and minima, then candidates around them (unlabelled).

    Normal modes of the relaxed reactant and product (Hessian with the oracle: a fast
    oracle such as GFN2-xTB makes this seconds), rattled images of the oracle's CI-NEB
    path and short oracle MD from each image. Held-out structures come from the same
    generators with another seed, so they are near, not in, the training candidates.
    """

    name: str = "sample_reaction"
    reaction: ReactionConfig | None = None
    oracle: OracleSpec = field(default_factory=OracleSpec)
    sampling: MoleculeSamplingConfig = field(default_factory=MoleculeSamplingConfig)
    seed: int = 42

    @job
    def make(self, workdir: str) -> ReactionSampleDoc:
        """Write the oracle path files, ``candidates.xyz`` and ``test.xyz`` into ``workdir``."""
        if self.reaction is None:
            raise ValueError("ReactionSampleMaker needs a reaction")
        r, s, out = self.reaction, self.sampling, Path(workdir)
        start = time.perf_counter()
        factory = oracle_factory(self.oracle, out / "oracle")
        guess = read_molecule(r.ts_guess) if r.ts_guess else None
        with stage(self.name, f"oracle CI-NEB with {r.n_images} images, then candidates"):
            reaction = oracle_reaction(
                read_molecule(r.reactant), read_molecule(r.product), factory, r.n_images, out,
                do_relax=r.relax, ts_guess=guess,
            )  # fmt: skip
            files = write_oracle_files(reaction, self.oracle.build().source, out)
            calc = CountingCalculator(factory())
            candidates = self._candidates(reaction.images, calc, self.seed, out / "train")
            test = self._candidates(reaction.images, calc, self.seed + TEST_SEED_OFFSET,
                                    out / "test")  # fmt: skip
        rng = np.random.default_rng(self.seed + TEST_SEED_OFFSET)
        picked = rng.choice(len(test), size=min(s.n_test, len(test)), replace=False)
        test = [test[i] for i in sorted(picked)]
        return ReactionSampleDoc(
            **files, oracle_path=reaction.path,
            reactant_frequencies=reaction.reactant_frequencies,
            product_frequencies=reaction.product_frequencies,
            candidates=str(write_dataset(out / "candidates.xyz", candidates)),
            test=str(write_dataset(out / "test.xyz", test)),
            n_candidates=len(candidates), n_test=len(test),
            n_oracle_calls=reaction.n_calls + calc.calls,
            wall_time_s=time.perf_counter() - start,
        )  # fmt: skip

    def _candidates(
        self, images: list[Atoms], calc: CountingCalculator, seed: int, workdir: Path
    ) -> list[Atoms]:
        s = self.sampling
        minima = [images[0], images[-1]]
        return (
            normal_mode_samples(
                minima, calc, s.temperatures, s.normal_modes, seed=seed, workdir=workdir
            )
            + rattled_path(images, s.rattle_per_image, s.rattle, seed)
            + path_md(images, calc, s.temperatures, s.md_steps, s.md_interval, seed)
        )


@dataclass
class ReactionValidateMaker(Maker):
    """Barrier, reaction energy, frequencies, parity and MD of a potential vs the oracle."""

    name: str = "validate_reaction"
    settings: ReactionValidationConfig = field(default_factory=ReactionValidationConfig)
    seed: int = 42
    route: str = "direct"

    @job
    def make(
        self, potential: AcePotentialDoc, sample: ReactionSampleDoc, test: LabelDoc, workdir: str
    ) -> ReactionValidationDoc:
        """Run every reaction check in ``workdir``; the potential's path goes to ``path.xyz``."""
        out = Path(workdir)
        calc = ace_calculator(potential)
        gamma = ace_calculator(potential, active_set=True) if potential.asi_path else None
        oracle_images = read_dataset(sample.path)
        with stage(self.name, "CI-NEB, frequencies, parity and MD with the potential"):
            images, path = potential_path(oracle_images, lambda: ace_calculator(potential))
            write_dataset(out / "path.xyz", images)
            minima = {"reactant": (sample.reactant, sample.reactant_frequencies),
                      "product": (sample.product, sample.product_frequencies)}  # fmt: skip
            frequencies = [
                compare_frequencies(name, read_dataset(f)[0], ref, calc, out)
                for name, (f, ref) in minima.items()
            ]
            labeller = calculator_labeller(calc, f"ace:{potential.yace_path}")
            comparisons = {
                "path": parity(oracle_images, labeller, "path", out),
                "held-out": parity(read_dataset(test.dataset), labeller, "held-out", out),
            }
            md = complex_md(read_dataset(sample.reactant)[0], calc, gamma, self.settings,
                            self.seed)  # fmt: skip
        checks = reaction_checks(sample.oracle_path, path, frequencies, comparisons, md,
                                 self.settings)  # fmt: skip
        return ReactionValidationDoc(
            passed=all(c.passed for c in checks), checks=checks,
            oracle_path=sample.oracle_path, potential_path=path,
            barrier_error=path.barrier - sample.oracle_path.barrier,
            reaction_energy_error=path.reaction_energy - sample.oracle_path.reaction_energy,
            frequencies=frequencies, parity=comparisons, md=md, route=self.route,
        )  # fmt: skip
