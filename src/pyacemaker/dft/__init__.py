"""DFT stage of pyacemaker: Quantum ESPRESSO (pw.x) as a labelling oracle."""

from pyacemaker.dft.pseudo import (
    PseudopotentialNotFoundError,
    find_pseudopotential,
    read_upf_header,
    suggest_cutoffs,
)
from pyacemaker.dft.qe import (
    PwCalculator,
    PwError,
    QESettings,
    StructureCheckError,
    check_structure,
    doctor_check,
    espresso_calculator,
    kpoint_grid,
    pw_version,
    qe_oracle,
)

__all__ = [
    "PseudopotentialNotFoundError",
    "PwCalculator",
    "PwError",
    "QESettings",
    "StructureCheckError",
    "check_structure",
    "doctor_check",
    "espresso_calculator",
    "find_pseudopotential",
    "kpoint_grid",
    "pw_version",
    "qe_oracle",
    "read_upf_header",
    "suggest_cutoffs",
]
