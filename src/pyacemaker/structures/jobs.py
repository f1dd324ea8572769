"""Makers that generate candidate structures for labelling."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms
from jobflow import Maker, job
from pydantic import BaseModel

from pyacemaker.config.schema import SamplingConfig, StructureConfig
from pyacemaker.data import write_dataset
from pyacemaker.progress import stage
from pyacemaker.structures.generate import build_prototype, strain_rattle, volume_series


class CandidatesDoc(BaseModel):
    """Where the generated structures are: training candidates, test cells, EOS cells."""

    candidates: str
    test: str
    eos: str
    n_candidates: int
    n_test: int
    n_eos: int
    seed: int


@dataclass
class CandidateMaker(Maker):
    """Strained and rattled candidates, an independent held-out set, and EOS volumes.

    The held-out cells come from a different seed than the training candidates, so
    no test structure can be a selected training structure.
    """

    name: str = "generate"
    structure: StructureConfig = field(default_factory=lambda: StructureConfig(formula="Si"))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    eos_points: int = 7
    eos_strain: float = 0.06
    seed: int = 42

    def _perturbed(self, proto: Atoms, n: int, seed: int, tag: str) -> list[Atoms]:
        s = self.sampling
        return strain_rattle(
            proto,
            n,
            max_strain=s.max_strain,
            rattle=s.rattle,
            min_atoms=s.supercell_atoms,
            seed=seed,
            tag=tag,
        )

    @job
    def make(self, workdir: str) -> CandidatesDoc:
        """Write ``candidates.xyz``, ``test.xyz`` and ``eos.xyz`` into ``workdir``."""
        s = self.sampling
        with stage("generate", f"{s.n_candidates} candidates + {s.n_test} held-out"):
            proto = build_prototype(self.structure)
            cands = self._perturbed(proto, s.n_candidates, self.seed, "strain_rattle")
            test = self._perturbed(proto, s.n_test, self.seed + 1, "test")
            eos = volume_series(proto, self.eos_points, self.eos_strain)
            out = Path(workdir)
            return CandidatesDoc(
                candidates=str(write_dataset(out / "candidates.xyz", cands)),
                test=str(write_dataset(out / "test.xyz", test)),
                eos=str(write_dataset(out / "eos.xyz", eos)),
                n_candidates=len(cands),
                n_test=len(test),
                n_eos=len(eos),
                seed=self.seed,
            )
