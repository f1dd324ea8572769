"""``pyacemaker doctor``: run every engine for real, in seconds, and say how to fix it."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time
from collections.abc import Callable

from pyacemaker.dft.qe import doctor_check as qe_check
from pyacemaker.dynamics.lammps import doctor_check as lammps_check

SETUP = "bash scripts/setup.sh"


def pacemaker_check() -> tuple[bool, str]:
    """Pacemaker's TensorFlow backend imports (in a subprocess: TensorFlow is heavy)."""
    code = (
        "import tensorflow as tf, tensorpotential, pyace; print(tf.__version__, pyace.__version__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"pacemaker backend does not import ({tail}); run `{SETUP}`"
    tf_version, ace_version = proc.stdout.strip().splitlines()[-1].split()
    return True, f"pacemaker (python-ace {ace_version}) with TensorFlow {tf_version}"


def mace_check() -> tuple[bool, str]:
    """A MACE model builds, saves, loads through MACECalculator and evaluates."""
    try:
        from pyacemaker.surrogate.mace import doctor_check
    except ImportError as exc:
        return False, f"mace-torch does not import ({exc}); run `{SETUP}`"
    with contextlib.redirect_stdout(io.StringIO()):  # mace prints optional-backend notices
        return doctor_check()


def foundation_check() -> tuple[bool, str]:
    """The offline foundation (CHGNet, weights in its wheel) loads and evaluates Si2."""
    import numpy as np
    from ase.build import bulk

    from pyacemaker.surrogate.foundation import CHGNET, foundation_calculator

    with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its size and device
        atoms = bulk("Si", "diamond", a=5.43)
        atoms.calc = foundation_calculator(CHGNET)
        energy = float(atoms.get_potential_energy())
    if not np.isfinite(energy):
        return False, f"CHGNet gave a non-finite energy; run `{SETUP}`"
    return True, f"offline foundation '{CHGNET}' loads and evaluates (Si2: {energy:.3f} eV)"


CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {
    "Quantum ESPRESSO": qe_check,
    "LAMMPS + ML-PACE": lammps_check,
    "pacemaker": pacemaker_check,
    "MACE": mace_check,
    "foundation (CHGNet)": foundation_check,
}


def run_doctor(echo: Callable[[str], None] = print) -> bool:
    """Run each check, print ``OK``/``MISSING`` per engine; True when all pass."""
    all_ok = True
    for name, check in CHECKS.items():
        start = time.perf_counter()
        try:
            ok, message = check()
        except Exception as exc:
            ok, message = False, f"{type(exc).__name__}: {exc}; run `{SETUP}`"
        all_ok &= ok
        echo(
            f"{'OK     ' if ok else 'MISSING'} {name:17s} {message} "
            f"({time.perf_counter() - start:.1f} s)"
        )
    return all_ok
