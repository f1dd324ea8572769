"""Makers that pick the structures worth labelling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobflow import Maker, job
from pydantic import BaseModel

from pyacemaker.data import read_dataset, write_dataset
from pyacemaker.progress import stage
from pyacemaker.selection.fps import select_diverse


class SelectionDoc(BaseModel):
    """The selected subset, with the original index and reason of every pick."""

    dataset: str
    indices: list[int]
    reasons: list[str]


@dataclass
class DiversitySelectMaker(Maker):
    """Farthest-point sampling of ``n`` structures on a radial descriptor."""

    name: str = "select"
    n: int = 16
    cutoff: float = 5.0

    @job
    def make(self, candidates: str, workdir: str) -> SelectionDoc:
        """Write the selected structures (reason in ``info["selection"]``) to ``selected.xyz``."""
        structures = read_dataset(candidates)
        with stage("select", f"{self.n} of {len(structures)} by farthest-point sampling"):
            picked = select_diverse(structures, self.n, self.cutoff)
            reasons = picked.reasons()
            chosen = []
            for idx, why in zip(picked.indices, reasons, strict=True):
                atoms = structures[idx]
                atoms.info["selection"] = why
                chosen.append(atoms)
            path = write_dataset(Path(workdir) / "selected.xyz", chosen)
        return SelectionDoc(dataset=str(path), indices=picked.indices, reasons=reasons)
