"""Makers that label structures with the ground-truth oracle."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Maker, job

from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.oracle import LabelDoc, label_dataset


@dataclass
class LabelMaker(Maker):
    """Label every structure of an extxyz file with the configured oracle (DFT by default)."""

    name: str = "dft"
    oracle: OracleSpec = field(default_factory=OracleSpec)

    @job
    def make(self, structures: str, workdir: str) -> LabelDoc:
        """Write ``labelled.xyz`` (and ``failed.xyz`` with the error per structure)."""
        return label_dataset(self.oracle.build(), structures, workdir, self.name)
