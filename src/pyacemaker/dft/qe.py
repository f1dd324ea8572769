"""Quantum ESPRESSO (pw.x) as a pyacemaker oracle.

A QE oracle is a :class:`~pyacemaker.oracle.CalculatorOracle` whose factory builds a
:class:`PwCalculator` (an ASE ``Espresso`` calculator) in the folder of each structure.
Everything that depends on the structure (k-point grid, total ``conv_thr``) is decided
when the structure arrives, just before pw.x starts, after a pre-flight check
(:func:`check_structure`) that rejects structures pw.x would choke on or run on
for nothing.

Rules chosen here
    * k-points: ``n_i = max(1, ceil(|b_i| / kspacing))`` with ``b_i`` the reciprocal
      vectors *including* 2π (VASP's KSPACING convention; ASE's own ``kspacing`` omits
      the 2π), Γ-centred, and 1 along non-periodic directions. A 2x2x2 supercell gets
      half the divisions (rounded up), so labels of cells and supercells have the same
      k-point density. A 1x1x1 grid runs with ``K_POINTS gamma`` (half the cost).
    * ``conv_thr`` is given per atom and multiplied by the number of atoms, so the
      accuracy of forces does not degrade with the size of the cell.
    * always ``occupations='smearing'`` (safe for metals and insulators alike),
      ``tprnfor``/``tstress`` on, ``disk_io='nowf'`` and ``outdir='.'`` so a labelled
      structure leaves only ~20 kB (input, output) in its folder.
    * pseudopotentials and cutoffs: see :mod:`pyacemaker.dft.pseudo`.

Things about pw.x 6.7 / ASE 3.2x worth knowing (found while writing this)
    * A failed SCF still prints ``JOB DONE.`` but exits with status 2; ASE then raises a
      bare ``subprocess.CalledProcessError`` and would fail with ``AssertionError`` if it
      tried to parse the output. :class:`PwCalculator` turns both into :class:`PwError`
      with the reason read from the output (``kind`` says which, for later handlers).
    * ASE silently drops input keys it does not know; :class:`QESettings` rejects them.
    * ``pw.x`` with empty stdin prints its version header and leaves ``CRASH`` and
      ``input_tmp.in`` in the working folder; :func:`pw_version` runs it in a temp dir.
    * pw.x honours ``ESPRESSO_TMPDIR`` for ``outdir``; with several calculations sharing
      it they would overwrite each other, so ``outdir`` is always the calculation folder.
    * The Debian pw.x is built with OpenMPI; serial runs are the default (``mpirun``
      is not faster on 2 cores and needs ``--allow-run-as-root --oversubscribe`` as root).
"""

from __future__ import annotations

import math
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, all_changes
from ase.calculators.espresso import Espresso, EspressoProfile
from ase.data import chemical_symbols
from ase.io.espresso_namelist.keys import ALL_KEYS
from ase.neighborlist import neighbor_list
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pyacemaker.dft.pseudo import (
    DEFAULT_PSEUDO_DIR,
    PseudopotentialNotFoundError,
    find_pseudopotential,
    suggest_cutoffs,
)
from pyacemaker.oracle import CalculatorOracle

INSTALL_HINT = "apt-get install quantum-espresso quantum-espresso-data"
OUTPUT_FILE = "espresso.pwo"
_PW_SECTIONS: dict[str, list[str]] = ALL_KEYS["pw"]
_FORCED_CONTROL = {"calculation": "scf", "tprnfor": True, "tstress": True}


class QESettings(BaseModel):
    """Everything that decides a pw.x label (the ``dft:`` section of the config).

    ``ecutwfc``/``ecutrho`` left empty are filled by :meth:`resolved` from the
    pseudopotentials (:func:`~pyacemaker.dft.pseudo.suggest_cutoffs`); an empty
    ``pseudopotentials`` map is filled by :meth:`with_elements`. ``extra_input`` takes
    any other pw.x keyword, flat (``{"nspin": 2}``) or by namelist
    (``{"system": {"nspin": 2}}``), and wins over the fields above, except that the
    calculation is always an SCF with forces and stress.
    """

    model_config = ConfigDict(extra="forbid")

    command: str = "pw.x"
    pseudo_dir: Path = DEFAULT_PSEUDO_DIR
    pseudopotentials: dict[str, str] = Field(default_factory=dict)
    ecutwfc: float | None = Field(default=None, gt=0, description="Ry")
    ecutrho: float | None = Field(default=None, gt=0, description="Ry")
    kspacing: float = Field(default=0.25, gt=0, description="1/Å, reciprocal vectors with 2π")
    smearing: str = "mv"
    degauss: float = Field(default=0.01, gt=0, description="Ry")
    conv_thr: float = Field(default=1e-9, gt=0, description="Ry per atom")
    mixing_beta: float = Field(default=0.4, gt=0, le=1)
    electron_maxstep: int = Field(default=100, ge=1)
    min_distance: float = Field(default=0.5, ge=0, description="Å, pre-flight check")
    extra_input: dict[str, Any] = Field(default_factory=dict)

    @field_validator("pseudo_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """pw.x runs inside each calculation folder, so a relative path would break."""
        return value.expanduser().absolute()

    @field_validator("pseudopotentials")
    @classmethod
    def _known_elements(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(chemical_symbols[1:]))
        if unknown:
            raise ValueError(f"not chemical elements: {unknown}")
        return value

    @field_validator("extra_input")
    @classmethod
    def _known_keywords(cls, value: dict[str, Any]) -> dict[str, Any]:
        nest_pw_input(value)  # raises on a keyword pw.x does not have
        return value

    def with_elements(self, elements: Iterable[str], functional: str = "pbe") -> QESettings:
        """Copy with a pseudopotential chosen for every element that has none yet."""
        chosen = dict(self.pseudopotentials)
        for element in sorted(set(elements) - set(chosen)):
            chosen[element] = find_pseudopotential(element, self.pseudo_dir, functional)
        return self.model_copy(update={"pseudopotentials": chosen})

    def resolved(self) -> QESettings:
        """Copy with both cutoffs set: suggested ones where empty (needs pseudopotentials).

        With only ``ecutwfc`` given, ``ecutrho`` keeps the suggested ratio (4 for
        norm-conserving, 8 or more for ultrasoft/PAW), which is what the pseudopotential
        needs regardless of the wavefunction cutoff chosen.
        """
        ecutwfc, ecutrho = self.ecutwfc, self.ecutrho
        if ecutwfc is None or ecutrho is None:
            wfc, rho = self._suggested_cutoffs()
            ecutwfc = wfc if ecutwfc is None else ecutwfc
            ecutrho = _round5(ecutwfc * rho / wfc) if ecutrho is None else ecutrho
        if ecutrho < 4 * ecutwfc:
            raise ValueError(f"ecutrho = {ecutrho} Ry is below 4 x ecutwfc = {4 * ecutwfc} Ry")
        return self.model_copy(update={"ecutwfc": ecutwfc, "ecutrho": ecutrho})

    def _suggested_cutoffs(self) -> tuple[float, float]:
        if not self.pseudopotentials:
            raise ValueError(
                "dft.pseudopotentials is empty, so no cutoff can be suggested. Fix: list a "
                "UPF file per element (dft.pseudopotentials.Si: Si.pbe-rrkj.UPF) or build the "
                "settings with QESettings(...).with_elements(['Si', ...])."
            )
        return suggest_cutoffs(self.pseudopotentials, self.pseudo_dir)


def _round5(value: float) -> float:
    """Round up to a multiple of 5 Ry (tidy inputs, never below the ratio asked for)."""
    return 5.0 * math.ceil(value / 5.0 - 1e-9)


def nest_pw_input(flat_or_nested: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Sort pw.x keywords into their namelists; an unknown keyword is an error.

    ASE would silently drop a misspelt keyword; a label computed without the setting
    the user asked for is worse than a config error.
    """
    nested: dict[str, dict[str, Any]] = {}
    for key, value in flat_or_nested.items():
        if key.lower() in _PW_SECTIONS and isinstance(value, dict):
            for sub_key, sub_value in value.items():
                nested.setdefault(key.lower(), {})[sub_key.lower()] = sub_value
            continue
        section = _section_of(key)
        if section is None:
            raise ValueError(f"'{key}' is not a pw.x input keyword")
        nested.setdefault(section, {})[key.lower()] = value
    return nested


def _section_of(key: str) -> str | None:
    base = key.lower().split("(")[0]
    return next((name for name, keys in _PW_SECTIONS.items() if base in keys), None)


def kpoint_grid(atoms: Atoms, kspacing: float) -> tuple[int, int, int]:
    """Γ-centred Monkhorst-Pack divisions for a k-point spacing in 1/Å (with 2π).

    ``n_i = max(1, ceil(|b_i| / kspacing))`` for periodic directions, 1 otherwise. The
    small tolerance keeps a value such as 4.0000000001 from becoming 5.

    A structure derived from a parent cell by a small strain carries the parent's cell in
    ``info["kpoint_cell"]`` (9 numbers); the grid is then computed from that cell, so a
    strain or an EOS series never changes the grid. Otherwise energies of neighbouring
    volumes would jump where a division rounds differently (meV/atom for small cells).
    """
    if kspacing <= 0:
        raise ValueError(f"kspacing must be positive, got {kspacing}")
    parent = atoms.info.get("kpoint_cell")
    cell = np.asarray(parent, dtype=float).reshape(3, 3) if parent is not None else atoms.cell
    lengths = 2 * math.pi * np.linalg.norm(np.linalg.inv(cell).T, axis=1)
    grid = [
        max(1, math.ceil(length / kspacing - 1e-6)) if periodic else 1
        for length, periodic in zip(lengths, atoms.pbc, strict=True)
    ]
    return grid[0], grid[1], grid[2]


class StructureCheckError(ValueError):
    """A structure rejected before pw.x starts; the message names the problem."""


def check_structure(atoms: Atoms, settings: QESettings) -> None:
    """Reject a structure pw.x cannot or should not run, before it runs.

    Catches in milliseconds what would otherwise cost a pw.x start-up and an obscure
    error (missing pseudopotential, zero cell) or hours of a meaningless SCF (atoms
    nearly on top of each other, e.g. from an exploding MD run).
    """
    if len(atoms) == 0:
        raise StructureCheckError("structure has no atoms")
    if abs(np.linalg.det(np.asarray(atoms.cell))) < 1e-6:
        raise StructureCheckError(
            "structure has no 3-D cell (volume 0); pw.x always needs one. Fix: give the cell, "
            "or for a molecule/slab add vacuum, e.g. atoms.center(vacuum=6.0)"
        )
    _check_pseudopotentials(atoms, settings)
    _check_distances(atoms, settings.min_distance)


def _check_pseudopotentials(atoms: Atoms, settings: QESettings) -> None:
    for element in sorted(set(atoms.symbols)):
        name = settings.pseudopotentials.get(element)
        if name is None:
            raise StructureCheckError(
                f"no pseudopotential for element {element} (have: "
                f"{sorted(settings.pseudopotentials) or 'none'}). Fix: set "
                f"dft.pseudopotentials.{element} to a UPF file in {settings.pseudo_dir}"
            )
        if not (settings.pseudo_dir / name).is_file():
            raise PseudopotentialNotFoundError(
                f"pseudopotential {name} for {element} not found in {settings.pseudo_dir}. "
                f"Fix: set dft.pseudo_dir or dft.pseudopotentials.{element}"
            )


def _check_distances(atoms: Atoms, min_distance: float) -> None:
    if min_distance <= 0 or (len(atoms) < 2 and not atoms.pbc.any()):
        return
    first, second, dist = neighbor_list("ijd", atoms, min_distance)
    if len(dist) == 0:
        return
    k = int(np.argmin(dist))
    i, j = int(first[k]), int(second[k])
    symbols = list(atoms.symbols)
    what = (
        f"atom {i} ({symbols[i]}) is {dist[k]:.3f} Å from its own periodic image"
        if i == j
        else f"atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) are {dist[k]:.3f} Å apart"
    )
    raise StructureCheckError(f"{what}, closer than dft.min_distance = {min_distance} Å")


class PwError(RuntimeError):
    """pw.x ran but gave no usable result.

    ``kind`` classifies the failure for recovery handlers: ``"scf_not_converged"``,
    ``"pw_error"`` (pw.x stopped with an ``Error in routine`` message), ``"missing"``
    (pw.x not installed) or ``"crash"`` (anything else).
    """

    def __init__(self, message: str, kind: str, directory: Path | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.directory = directory


def diagnose_pw_failure(directory: Path, status: int | None = None) -> PwError:
    """Read why a pw.x run failed from its output, as one readable sentence."""
    output = _read(directory / OUTPUT_FILE)
    where = f"(see {directory / OUTPUT_FILE})"
    unconverged = re.search(r"convergence NOT achieved after\s+(\d+)\s+iterations", output)
    if unconverged:
        return PwError(
            f"SCF not converged after {unconverged.group(1)} iterations {where}; try a smaller "
            f"dft.mixing_beta or a larger dft.electron_maxstep",
            "scf_not_converged",
            directory,
        )
    routine = re.search(
        r"Error in routine\s+(\S+)\s*\((-?\d+)\):\s*\n(.*?)\n\s*%{10,}", output, re.S
    )
    if routine:
        message = " ".join(routine.group(3).split())
        return PwError(
            f"pw.x error in {routine.group(1)}: {message} {where}", "pw_error", directory
        )
    tail = " | ".join(line.strip() for line in output.strip().splitlines()[-3:])
    errors = _read(directory / "espresso.err").strip()[-300:]
    return PwError(
        f"pw.x failed (exit status {status}) {where}; last output: {tail or 'none'}; "
        f"stderr: {errors or 'none'}",
        "crash",
        directory,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class PwCalculator(Espresso):
    """ASE ``Espresso`` that checks each structure first and explains pw.x failures.

    The k-point grid and the total ``conv_thr`` depend on the structure, so the pw.x
    input is assembled in :meth:`calculate`, not when the calculator is made.
    """

    def __init__(self, settings: QESettings, directory: str | Path) -> None:
        self.settings = settings.resolved()
        profile = EspressoProfile(command=settings.command, pseudo_dir=settings.pseudo_dir)
        super().__init__(  # type: ignore[no-untyped-call]
            profile=profile,
            directory=str(directory),
            pseudopotentials=dict(self.settings.pseudopotentials),
        )

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] | None = None,
    ) -> None:
        """Pre-flight check, write the input for this structure, run pw.x, read results."""
        atoms = self.atoms if atoms is None else atoms
        if atoms is None:
            raise ValueError("PwCalculator.calculate needs a structure")
        check_structure(atoms, self.settings)
        grid = kpoint_grid(atoms, self.settings.kspacing)
        self.parameters["kpts"] = None if grid == (1, 1, 1) else grid
        self.parameters["input_data"] = pw_input(self.settings, len(atoms))
        try:
            super().calculate(  # type: ignore[no-untyped-call]
                atoms, properties or ["energy"], system_changes or all_changes
            )
        except FileNotFoundError as exc:
            raise PwError(
                f"{self.settings.command} not found ({exc}). Fix: {INSTALL_HINT}", "missing"
            ) from exc
        except subprocess.CalledProcessError as exc:
            raise diagnose_pw_failure(Path(self.directory), exc.returncode) from exc
        except (AssertionError, IndexError, ValueError) as exc:  # ASE parser on bad output
            raise diagnose_pw_failure(Path(self.directory)) from exc


def pw_input(settings: QESettings, natoms: int) -> dict[str, dict[str, Any]]:
    """Build the pw.x namelists for one structure of ``natoms`` atoms (settings resolved)."""
    data: dict[str, dict[str, Any]] = {
        "control": {"disk_io": "nowf", "outdir": ".", "prefix": "pwscf"},
        "system": {
            "ecutwfc": settings.ecutwfc,
            "ecutrho": settings.ecutrho,
            "occupations": "smearing",
            "smearing": settings.smearing,
            "degauss": settings.degauss,
        },
        "electrons": {
            "conv_thr": settings.conv_thr * natoms,
            "mixing_beta": settings.mixing_beta,
            "electron_maxstep": settings.electron_maxstep,
        },
    }
    for section, values in nest_pw_input(settings.extra_input).items():
        data.setdefault(section, {}).update(values)
    data["control"].update(_FORCED_CONTROL)
    return data


def espresso_calculator(settings: QESettings, directory: str | Path) -> BaseCalculator:
    """Make the pw.x calculator working in ``directory`` (the oracle makes one per structure).

    Typed ``BaseCalculator``: ASE's file-based calculators (``Espresso`` among them)
    derive from ``BaseCalculator``, not from ``Calculator``.
    """
    return PwCalculator(settings, directory)


@cache
def pw_version(command: str = "pw.x") -> str:
    """Version of pw.x (e.g. ``6.7MaX``) from the header it prints before reading input.

    Costs ~0.3 s once per command (cached). Run in a throw-away folder because pw.x
    leaves ``CRASH`` and ``input_tmp.in`` behind when it finds no input.
    """
    with tempfile.TemporaryDirectory(prefix="pw_version_") as tmp:
        try:
            run = subprocess.run(
                shlex.split(command),
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except FileNotFoundError as exc:
            raise PwError(f"{command} not found. Fix: {INSTALL_HINT}", "missing") from exc
    match = re.search(r"Program PWSCF\s+v\.?\s*(\S+)", run.stdout)
    if match is None:
        raise PwError(f"'{command}' printed no PWSCF version header; is it pw.x?", "crash")
    return match.group(1)


def provenance(settings: QESettings) -> str:
    """Label source string: engine, version and every setting that changes the numbers."""
    settings = settings.resolved()
    pseudos = ",".join(f"{el}:{name}" for el, name in sorted(settings.pseudopotentials.items()))
    text = (
        f"qe:pw.x {pw_version(settings.command)} pseudos={{{pseudos}}} "
        f"ecutwfc={settings.ecutwfc:g}Ry ecutrho={settings.ecutrho:g}Ry "
        f"kspacing={settings.kspacing:g}/A smearing={settings.smearing}:{settings.degauss:g}Ry "
        f"conv_thr={settings.conv_thr:g}Ry/atom"
    )
    return f"{text} extra={settings.extra_input}" if settings.extra_input else text


def qe_oracle(settings: QESettings) -> CalculatorOracle:
    """Oracle labelling with pw.x; fails now (not per structure) if pw.x is missing."""
    settings = settings.resolved()

    def factory(directory: Path) -> BaseCalculator:
        return espresso_calculator(settings, directory)

    return CalculatorOracle(
        factory=factory,
        source=provenance(settings),
    )


def doctor_check(
    command: str = "pw.x", pseudo_dir: str | Path = DEFAULT_PSEUDO_DIR
) -> tuple[bool, str]:
    """Run a real 2-atom Si SCF (20 Ry, 3x3x3 k) in a temp dir to show QE works here.

    Takes about a second; returns ``(ok, message)`` and never raises, so a doctor
    command can print the message (which says the fix) as is.
    """
    words = shlex.split(command)
    program = next((word for word in words if word.endswith("pw.x")), words[0])
    if shutil.which(program) is None:
        return False, f"{command} not found on PATH. Fix: {INSTALL_HINT}"
    start = time.perf_counter()
    try:
        settings = QESettings(
            command=command, pseudo_dir=Path(pseudo_dir), ecutwfc=20.0, kspacing=1.0
        ).with_elements(["Si"])
        with tempfile.TemporaryDirectory(prefix="pyacemaker_doctor_") as tmp:
            result = qe_oracle(settings).label([_silicon()], Path(tmp))
    except (PwError, OSError, ValueError) as exc:
        return False, f"Quantum ESPRESSO check failed: {exc}. Fix: {INSTALL_HINT}"
    if result.failed:
        return False, f"pw.x Si2 SCF failed: {result.failed[0].error}"
    energy = float(result.labelled[0].info["REF_energy"])
    seconds = time.perf_counter() - start
    return True, f"pw.x {pw_version(command)}: Si2 SCF E = {energy:.3f} eV in {seconds:.1f} s"


def _silicon() -> Atoms:
    """Two-atom diamond Si (a = 5.43 Å), built here to keep the check self-contained."""
    a = 5.43
    cell = 0.5 * a * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    return Atoms("Si2", scaled_positions=[[0, 0, 0], [0.25, 0.25, 0.25]], cell=cell, pbc=True)
