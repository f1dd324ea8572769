"""DFT stage of pyacemaker: Quantum ESPRESSO (pw.x) as a self-healing labelling oracle."""

from pyacemaker.dft.handlers import (
    ChargeHandler,
    CholeskyHandler,
    EigenvalueHandler,
    KilledHandler,
    PwErrorHandler,
    ScfConvergenceHandler,
    default_handlers,
)
from pyacemaker.dft.healing import HealingPwCalculator, qe_oracle, run_with_handlers
from pyacemaker.dft.pseudo import (
    PseudopotentialNotFoundError,
    find_pseudopotential,
    read_upf_header,
    suggest_cutoffs,
)
from pyacemaker.dft.qe import (
    PwCalculator,
    PwError,
    PwInputSet,
    QESettings,
    StructureCheckError,
    check_structure,
    doctor_check,
    espresso_calculator,
    kpoint_grid,
    prepare_input,
    pw_version,
)
from pyacemaker.dft.schemas import PwAttempt, PwParseError, PwTaskDoc, read_pw_output

__all__ = [
    "ChargeHandler",
    "CholeskyHandler",
    "EigenvalueHandler",
    "HealingPwCalculator",
    "KilledHandler",
    "PseudopotentialNotFoundError",
    "PwAttempt",
    "PwCalculator",
    "PwError",
    "PwErrorHandler",
    "PwInputSet",
    "PwParseError",
    "PwTaskDoc",
    "QESettings",
    "ScfConvergenceHandler",
    "StructureCheckError",
    "check_structure",
    "default_handlers",
    "doctor_check",
    "espresso_calculator",
    "find_pseudopotential",
    "kpoint_grid",
    "prepare_input",
    "pw_version",
    "qe_oracle",
    "read_pw_output",
    "read_upf_header",
    "run_with_handlers",
    "suggest_cutoffs",
]
