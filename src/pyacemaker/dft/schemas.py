"""Task documents of pw.x calculations, and a robust reader of pw.x output.

One :class:`PwTaskDoc` per calculation, successful or not, so that a failure is kept
with everything needed to understand or resubmit it: the structure, the final
settings and namelists, every attempt with what went wrong and what was changed.
The numbers come from ASE's ``espresso-out`` reader; the metadata ASE does not read
(pw.x version, wall time, number of k-points, SCF convergence) from the text itself.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from ase import Atoms
from ase.io import read
from pydantic import BaseModel, Field

from pyacemaker.dft.qe import OUTPUT_FILE, PwError, QESettings

_UNCONVERGED = "convergence NOT achieved"


class PwParseError(PwError):
    """pw.x output that cannot be read (missing, truncated or not pw.x output at all)."""

    def __init__(self, message: str, directory: Path | None = None) -> None:
        super().__init__(message, "parse", directory)


class Correction(BaseModel):
    """What one error handler found and the settings it changed for the next attempt."""

    handler: str
    errors: list[str]
    changes: dict[str, Any]


class PwAttempt(BaseModel):
    """One pw.x run inside a calculation: its outcome and the correction that followed."""

    number: int
    error: str | None = None
    error_kind: str | None = None
    exit_status: int | None = None
    wall_time: float = Field(description="s, measured around pw.x")
    correction: Correction | None = None


class PseudoFile(BaseModel):
    """A pseudopotential used, identified by content (md5) and not only by name."""

    element: str
    file: str
    md5: str


class PwOutput(BaseModel):
    """What a finished pw.x run printed: results (eV, Å) and run metadata."""

    energy: float
    forces: list[list[float]]
    stress: list[float] | None = Field(default=None, description="Voigt, eV/Å³")
    positions: list[list[float]]
    cell: list[list[float]]
    converged: bool
    pw_version: str | None = None
    wall_time: float | None = Field(default=None, description="s, pw.x's own WALL")
    n_kpoints: int | None = None


class PwTaskDoc(BaseModel):
    """One pw.x calculation (after self-healing): inputs, results, provenance, attempts.

    ``state`` is ``"failed"`` when no attempt gave a usable result; ``error`` then says
    why (the last attempt's error) and the results are empty.
    ``final_structure`` is the relaxed structure of a relax, else the input one.
    """

    state: Literal["successful", "failed"]
    directory: str
    formula: str
    structure: dict[str, Any]
    final_structure: dict[str, Any] | None = None
    energy: float | None = Field(default=None, description="eV")
    forces: list[list[float]] | None = Field(default=None, description="eV/Å")
    stress: list[float] | None = Field(default=None, description="Voigt, eV/Å³")
    converged: bool = False
    settings: QESettings
    input: dict[str, dict[str, Any]] = Field(default_factory=dict)
    kpoints: tuple[int, int, int] | None = Field(default=None, description="None: Γ only")
    n_kpoints: int | None = None
    notes: list[str] = Field(default_factory=list)
    pw_version: str | None = None
    pseudopotentials: list[PseudoFile] = Field(default_factory=list)
    wall_time: float | None = Field(default=None, description="s, pw.x WALL, last run")
    total_time: float = Field(default=0.0, description="s, all attempts")
    attempts: list[PwAttempt] = Field(default_factory=list)
    n_corrections: int = 0
    error: str | None = None


def structure_dict(atoms: Atoms) -> dict[str, Any]:
    """JSON-friendly structure (symbols, positions Å, cell Å, pbc)."""
    return {
        "symbols": list(atoms.get_chemical_symbols()),
        "positions": np.asarray(atoms.positions).tolist(),
        "cell": np.asarray(atoms.cell).tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
    }


def pseudo_files(settings: QESettings) -> list[PseudoFile]:
    """The pseudopotential files of the settings with their md5 checksums."""
    return [
        PseudoFile(
            element=element,
            file=str(settings.pseudo_dir / name),
            md5=hashlib.md5((settings.pseudo_dir / name).read_bytes()).hexdigest(),
        )
        for element, name in sorted(settings.pseudopotentials.items())
    ]


def pw_metadata(text: str) -> dict[str, Any]:
    """Version, wall time and k-point count printed by pw.x (``None`` when absent)."""
    version = re.search(r"Program PWSCF\s+v\.?\s*(\S+)", text)
    wall = re.findall(r"PWSCF\s*:.*?CPU\s+(?:(\d+)h\s*)?(?:(\d+)m\s*)?([\d.]+)s WALL", text)
    nks = re.search(r"number of k points=\s*(\d+)", text)
    return {
        "pw_version": version.group(1) if version else None,
        "wall_time": _seconds(wall[-1]) if wall else None,
        "n_kpoints": int(nks.group(1)) if nks else None,
    }


def _seconds(hms: tuple[str, str, str]) -> float:
    hours, minutes, seconds = hms
    return 3600.0 * float(hours or 0) + 60.0 * float(minutes or 0) + float(seconds)


def read_pw_output(directory: str | Path) -> PwOutput:
    """Read a finished pw.x run; a missing, truncated or foreign file is a clear error.

    ASE's reader fails on such files with ``AssertionError``/``IndexError``/
    ``StopIteration``, which say nothing about the file; these become
    :class:`PwParseError` naming the file and what is missing from it.
    """
    path = Path(directory) / OUTPUT_FILE
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise PwParseError(f"no pw.x output at {path}: {exc}", path.parent) from exc
    if "Program PWSCF" not in text:
        raise PwParseError(f"{path} is not pw.x output (no 'Program PWSCF' header)", path.parent)
    if "JOB DONE" not in text:
        raise PwParseError(
            f"{path} is truncated: pw.x did not finish (no 'JOB DONE'); it was killed or crashed",
            path.parent,
        )
    try:
        atoms = cast(Atoms, read(path, format="espresso-out", index=-1))
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces()
    except (AssertionError, IndexError, ValueError, StopIteration, RuntimeError) as exc:
        raise PwParseError(
            f"{path} has no complete energy and forces ({type(exc).__name__}: {exc})",
            path.parent,
        ) from exc
    stress = atoms.calc.results.get("stress") if atoms.calc is not None else None
    return PwOutput(
        energy=float(energy),
        forces=np.asarray(forces).tolist(),
        stress=None if stress is None else np.asarray(stress).tolist(),
        positions=np.asarray(atoms.positions).tolist(),
        cell=np.asarray(atoms.cell).tolist(),
        converged=_UNCONVERGED not in text,
        **pw_metadata(text),
    )
