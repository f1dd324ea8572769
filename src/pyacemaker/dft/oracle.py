"""The ground-truth oracle named in the config: pw.x, or an ASE calculator stand-in.

A serialisable recipe rather than a live calculator, so that a job can rebuild the
oracle on whichever worker runs it (locally or on a FireWorks node).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pyacemaker.dft.healing import qe_oracle
from pyacemaker.dft.qe import QESettings
from pyacemaker.oracle import CalculatorOracle, ase_calculator_oracle


class OracleSpec(BaseModel):
    """``engine="qe"`` with pw.x settings, or the dotted path of an ASE calculator."""

    model_config = ConfigDict(extra="forbid")

    engine: str = "qe"
    kwargs: dict[str, Any] = Field(default_factory=dict)
    qe: QESettings | None = None

    def build(self) -> CalculatorOracle:
        """The oracle this recipe describes (pw.x labels through the self-healing loop)."""
        if self.engine == "qe":
            if self.qe is None:
                raise ValueError("oracle engine 'qe' needs QE settings")
            return qe_oracle(self.qe)
        return ase_calculator_oracle(self.engine, self.kwargs)
