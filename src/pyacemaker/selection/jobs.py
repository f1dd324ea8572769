"""Makers that pick the structures worth labelling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from jobflow import Maker, job
from numpy.typing import NDArray
from pydantic import BaseModel

from pyacemaker.data import read_dataset, write_dataset
from pyacemaker.progress import stage
from pyacemaker.selection.cover import environment_cover
from pyacemaker.selection.descriptors import structure_descriptors
from pyacemaker.selection.direct import direct_sampling, random_sampling
from pyacemaker.selection.fps import Selection, farthest_point_sampling
from pyacemaker.selection.screen import screen
from pyacemaker.surrogate.schemas import has_foundation

Method = Literal["direct", "fps", "random", "cover"]


class SelectionDoc(BaseModel):
    """The selected subset, with the original index and reason of every pick."""

    dataset: str
    indices: list[int]
    reasons: list[str]
    method: str = "fps"
    descriptor: str = ""
    rejected: dict[int, str] = {}
    rejected_dataset: str | None = None


def select(features: NDArray[np.float64], n: int, method: Method, seed: int) -> Selection:
    """Dispatch to DIRECT, farthest-point or random selection (on per-cell descriptors)."""
    if method == "direct":
        return direct_sampling(features, n, seed=seed)
    if method == "fps":
        return farthest_point_sampling(features, n)
    return random_sampling(len(features), n, seed)


def _model_path(spec: str) -> Path | None:
    """The foundation's MACE file for node-feature descriptors, or None (radial descriptor)."""
    from pyacemaker.surrogate.foundation import mace_foundation_file

    return mace_foundation_file(spec)


@dataclass
class DiversitySelectMaker(Maker):
    """Screen out unphysical candidates, then pick ``n`` by DIRECT, FPS, cover or at random.

    With ``model`` (a foundation spec) its energies and forces screen the candidates
    (zero-shot, any universal model); a MACE foundation also gives the descriptors (its
    node features). Other foundations (CHGNet) and no model use the radial descriptor:
    CHGNet's atom features could serve as well, but nothing here has measured that they
    pick better cells, while the radial descriptor's DIRECT picks are measured
    (docs/sampling.md); the screen is where CHGNet's knowledge pays before DFT.
    """

    name: str = "select"
    n: int = 16
    cutoff: float = 5.0
    method: Method = "direct"
    model: str = "none"
    min_distance_factor: float = 0.6
    max_force: float = 20.0
    seed: int = 42

    def _screened(self, structures: Sequence[Atoms]) -> list[int]:
        calc = None
        if has_foundation(self.model):
            from pyacemaker.surrogate.foundation import foundation_calculator

            calc = foundation_calculator(self.model)
        return screen(structures, self.min_distance_factor, calc, self.max_force).kept

    def _pick(self, pool: list[Atoms]) -> tuple[Selection, str]:
        """The picks among the screened ``pool`` and the descriptor they were made on."""
        if self.method == "cover":  # per-atom environments, not one vector per cell
            picked = environment_cover(pool, self.n, cutoff=self.cutoff, seed=self.seed)
            return picked, f"per-atom radial distribution (cutoff {self.cutoff} Å)"
        features, descriptor = structure_descriptors(pool, _model_path(self.model), self.cutoff)
        return select(features, self.n, self.method, self.seed), descriptor

    @job
    def make(self, candidates: str, workdir: str) -> SelectionDoc:
        """Write the selected structures (reason in ``info["selection"]``) to ``selected.xyz``."""
        structures = read_dataset(candidates)
        out = Path(workdir)
        with stage("select", f"{self.n} of {len(structures)} by {self.method}"):
            kept = self._screened(structures)
            pool = [structures[i] for i in kept]
            picked, descriptor = self._pick(pool)
            indices = [kept[i] for i in picked.indices]
            reasons = picked.reasons()
            for idx, why in zip(indices, reasons, strict=True):
                structures[idx].info["selection"] = why
            path = write_dataset(out / "selected.xyz", [structures[i] for i in indices])
            rejected = {
                i: str(a.info["rejected"]) for i, a in enumerate(structures) if i not in kept
            }
            rejected_path = (
                str(write_dataset(out / "rejected.xyz", [structures[i] for i in rejected]))
                if rejected
                else None
            )
        return SelectionDoc(
            dataset=str(path), indices=indices, reasons=reasons, method=self.method,
            descriptor=descriptor, rejected=rejected, rejected_dataset=rejected_path,
        )  # fmt: skip
