"""Quantum ESPRESSO (pw.x) engine wrapper: settings, input set, one pw.x run.

:class:`PwCalculator` (an ASE ``Espresso`` calculator) runs pw.x once in one folder
and explains a failure as a :class:`PwError`; it has no recovery policy. Healing
lives in :mod:`pyacemaker.dft.handlers` (what to change) and
:mod:`pyacemaker.dft.healing` (the rerun loop and the oracle the pipeline uses).
Everything that depends on the structure (:func:`prepare_input`: k-points,
occupations, spin, isolation, total ``conv_thr``) is decided when the structure
arrives, just before pw.x starts, after a pre-flight check (:func:`check_structure`)
that rejects structures pw.x would choke on or run on for nothing.

Rules chosen here
    * k-points: ``n_i = max(1, ceil(|b_i| / kspacing))`` with ``b_i`` the reciprocal
      vectors *including* 2π (VASP's KSPACING convention; ASE's own ``kspacing`` omits
      the 2π), Γ-centred, and 1 along non-periodic directions. A 2x2x2 supercell gets
      half the divisions (rounded up), so labels of cells and supercells have the same
      k-point density. A 1x1x1 grid runs with ``K_POINTS gamma`` (half the cost).
    * ``conv_thr`` is given per atom and multiplied by the number of atoms, so the
      accuracy of forces does not degrade with the size of the cell.
    * occupations, spin and vacuum handling per structure (:func:`prepare_input`, rules
      in :mod:`pyacemaker.dft.inputs`): smearing for likely metals, fixed occupations for
      gapped non-metals with an even electron count, ``nspin=2`` with a ferromagnetic
      start for Cr/Mn/Fe/Co/Ni, and Γ-only with ``assume_isolated='mt'`` for clusters.
    * ``tprnfor``/``tstress`` always on (pw.x itself skips stress for isolated systems),
      ``disk_io='nowf'`` and ``outdir='.'`` so a labelled structure leaves only ~20 kB
      (input, output) in its folder.
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
    * When pw.x stops through ``MPI_ABORT`` (every ``Error in routine``), OpenMPI kills it
      before gfortran flushes a redirected stdout, so the error message never reaches
      the output file. pw.x therefore runs with ``GFORTRAN_UNBUFFERED_PRECONNECTED=y``.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, all_changes
from ase.calculators.espresso import Espresso, EspressoProfile
from ase.data import chemical_symbols
from ase.io.espresso import read_fortran_namelist
from ase.io.espresso_namelist.keys import ALL_KEYS
from ase.neighborlist import neighbor_list
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pyacemaker.dft.inputs import (
    effective_pbc,
    isolated_box,
    likely_metal,
    starting_magnetization,
    uniform_coordination,
)
from pyacemaker.dft.pseudo import (
    DEFAULT_PSEUDO_DIR,
    PseudopotentialNotFoundError,
    find_pseudopotential,
    read_upf_header,
    suggest_cutoffs,
)
from pyacemaker.oracle import CalculatorOracle
from pyacemaker.subprocesses import tied_to_parent

INSTALL_HINT = "apt-get install quantum-espresso quantum-espresso-data"
INPUT_FILE = "espresso.pwi"
OUTPUT_FILE = "espresso.pwo"
EXIT_FILE = "espresso.exit"  # exit status of the last pw.x run, read by the handlers
_PW_SECTIONS: dict[str, list[str]] = ALL_KEYS["pw"]
_FORCED_CONTROL = {"tprnfor": True, "tstress": True}


class QESettings(BaseModel):
    """Everything that decides a pw.x label (the ``dft:`` section of the config).

    ``ecutwfc``/``ecutrho`` left empty are filled by :meth:`resolved` from the
    pseudopotentials (:func:`~pyacemaker.dft.pseudo.suggest_cutoffs`); an empty
    ``pseudopotentials`` map is filled by :meth:`with_elements`. ``extra_input`` takes
    any other pw.x keyword, flat (``{"nspin": 2}``) or by namelist
    (``{"system": {"nspin": 2}}``), and wins over the fields above and over the
    per-structure choices, except that forces and stress are always computed.
    ``occupations="auto"`` and ``spin_polarized=None`` leave the choice to the
    heuristics of :mod:`pyacemaker.dft.inputs`. ``walltime`` (s) kills a pw.x run that
    takes longer (the self-healing loop then reruns it with twice the time).
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
    occupations: Literal["auto", "smearing", "fixed"] = "auto"
    spin_polarized: bool | None = None
    calculation: Literal["scf", "relax"] = "scf"
    walltime: float | None = Field(default=None, gt=0, description="s per pw.x run")
    min_distance: float = Field(default=0.5, ge=0, description="Å, pre-flight check")
    min_box: float = Field(
        default=0.0, ge=0, description="Å, smallest side of the box of an isolated structure"
    )
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
    unknown = sorted({atoms.get_chemical_symbols()[i] for i in np.flatnonzero(atoms.numbers <= 0)})
    if unknown:
        raise StructureCheckError(
            f"unknown element {', '.join(unknown)} (atomic number 0, e.g. a dummy or ghost "
            "atom); pw.x needs a real element with a pseudopotential for every atom"
        )
    if atoms.pbc.any() and abs(np.linalg.det(np.asarray(atoms.cell))) < 1e-6:
        raise StructureCheckError(  # with no periodicity at all, prepare_input makes the box
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
    ``"pw_error"`` (pw.x stopped with an ``Error in routine`` message), ``"killed"``
    (by a signal or the walltime), ``"missing"`` (pw.x not installed), ``"parse"``
    (output unreadable) or ``"crash"`` (anything else).
    """

    def __init__(self, message: str, kind: str, directory: Path | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.directory = directory


_KILL_SIGNALS = frozenset({1, 2, 9, 15, 24})  # HUP INT KILL TERM XCPU: sent from outside


def killed_by_signal(status: int | None) -> bool:
    """Exit status of a process stopped from outside (scheduler, walltime, Ctrl-C).

    Python reports a signal as ``-N``, shells and ``timeout`` as ``128 + N``. Signals
    pw.x raises itself (SIGSEGV, SIGABRT, SIGFPE) are crashes, not kills.
    """
    if status is None or 0 <= status <= 128:
        return False
    return abs(status) % 128 in _KILL_SIGNALS


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
    killed = killed_by_signal(status)
    return PwError(
        f"pw.x {'was killed' if killed else 'failed'} (exit status {status}) {where}; "
        f"last output: {tail or 'none'}; stderr: {errors or 'none'}",
        "killed" if killed else "crash",
        directory,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class PwInputSet(BaseModel):
    """Everything pw.x is given for one structure, and why (atomate2 ``InputSet`` style).

    ``kpts`` is ``None`` for a Γ-only run; ``magnetization`` holds the starting spin per
    element (empty: ``nspin=1``); ``notes`` say which heuristic chose what.
    """

    namelists: dict[str, dict[str, Any]]
    kpts: tuple[int, int, int] | None
    pseudopotentials: dict[str, str]
    magnetization: dict[str, float] = Field(default_factory=dict)
    isolated: bool = False
    notes: list[str] = Field(default_factory=list)


def prepare_input(atoms: Atoms, settings: QESettings) -> tuple[Atoms, PwInputSet]:
    """The structure pw.x computes and its input set (settings resolved, structure checked).

    The structure returned is a copy: an isolated one sits in a box sized for the
    Martyna-Tuckerman correction, a magnetic one carries the starting moments (ASE
    writes them as ``starting_magnetization``, the fraction QE 6.x expects).
    """
    notes: list[str] = []
    isolated = not effective_pbc(atoms).any()
    work = isolated_box(atoms, settings.min_box) if isolated else atoms.copy()
    choices: dict[str, Any] = {}
    if isolated:
        choices["assume_isolated"] = "mt"
        notes.append("vacuum in every direction: isolated, Γ only, assume_isolated='mt'")
    magnetization = _magnetization(atoms, settings)
    if magnetization:
        choices["nspin"] = 2
        work.set_initial_magnetic_moments([magnetization.get(s, 0.0) for s in work.symbols])
        notes.append(f"spin-polarised, ferromagnetic start {magnetization}")
    occupations, why = _occupations(atoms, settings, bool(magnetization), isolated)
    choices["occupations"] = occupations
    notes.append(f"occupations={occupations}: {why}")
    grid = (1, 1, 1) if isolated else _kpoints(atoms, settings.kspacing)
    inputs = PwInputSet(
        namelists=pw_input(settings, len(atoms), choices),
        kpts=None if grid == (1, 1, 1) else grid,
        pseudopotentials=dict(settings.pseudopotentials),
        magnetization=magnetization,
        isolated=isolated,
        notes=notes,
    )
    return work, inputs


def _kpoints(atoms: Atoms, kspacing: float) -> tuple[int, int, int]:
    """k-point grid with vacuum-padded directions (slabs, wires) sampled by one point."""
    sampled = atoms.copy()
    sampled.pbc = effective_pbc(atoms)
    return kpoint_grid(sampled, kspacing)


def _magnetization(atoms: Atoms, settings: QESettings) -> dict[str, float]:
    if settings.spin_polarized is False:
        return {}
    found = starting_magnetization(atoms.symbols)
    if settings.spin_polarized and not found:  # asked for spin without a magnetic element
        return {el: 0.1 for el in sorted(set(atoms.symbols))}
    return found


def _occupations(atoms: Atoms, settings: QESettings, spin: bool, isolated: bool) -> tuple[str, str]:
    """``fixed`` only where it is safe (the rule in :mod:`pyacemaker.dft.inputs`)."""
    if settings.occupations != "auto":
        return settings.occupations, "set in the settings"
    if likely_metal(atoms.symbols):
        return "smearing", "metal or semimetal element present"
    if spin or isolated:
        return "smearing", "spin-polarised or isolated (open shells, degenerate levels)"
    electrons = sum(
        _valence(settings.pseudo_dir / settings.pseudopotentials[s]) for s in atoms.symbols
    )
    if round(electrons) % 2:
        return "smearing", f"odd number of electrons ({electrons:g})"
    if not uniform_coordination(atoms):
        return "smearing", "atoms of unequal coordination (vacancy, surface or cut-out)"
    return "fixed", "non-metals only, even electron count, equal coordination: assumed gapped"


@cache
def _valence(path: Path) -> float:
    return read_upf_header(path).z_valence


class _PwProfile(EspressoProfile):
    """ASE's pw.x profile, with unbuffered output, a walltime and the exit status kept.

    The exit status goes to :data:`EXIT_FILE` (``"-9 walltime 60.0"`` when the walltime
    killed it) so that error handlers, which read only the calculation folder
    (custodian style), can tell a kill from a pw.x error.
    """

    def __init__(self, command: str, pseudo_dir: Path, walltime: float | None) -> None:
        super().__init__(command=command, pseudo_dir=pseudo_dir)  # type: ignore[no-untyped-call]
        self.walltime = walltime

    def run(
        self,
        directory: Path,
        inputfile: str | None,
        outputfile: str,
        errorfile: str | None = None,
        append: bool = False,
    ) -> None:
        """Run pw.x; a non-zero exit raises ``CalledProcessError`` as ASE's profile does."""
        argv = self.get_command(inputfile)
        env = {**os.environ, "GFORTRAN_UNBUFFERED_PRECONNECTED": "y"}
        mode = "ab" if append else "wb"
        with (
            open(directory / outputfile, mode) as out,
            open(directory / (errorfile or "espresso.err"), mode) as err,
        ):
            try:
                status = subprocess.run(
                    tied_to_parent(argv),
                    cwd=directory,
                    stdout=out,
                    stderr=err,
                    env=env,
                    timeout=self.walltime,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:  # subprocess has sent SIGKILL
                status = -9
                record = f"{status} walltime {self.walltime}"
            else:
                record = str(status)
        (directory / EXIT_FILE).write_text(record + "\n")
        if status != 0:
            raise subprocess.CalledProcessError(status, argv)


class PwCalculator(Espresso):
    """ASE ``Espresso`` that checks each structure first and explains pw.x failures.

    The input depends on the structure (k-points, occupations, spin, isolation), so it
    is assembled in :meth:`calculate` by :func:`prepare_input`, not when the calculator
    is made; :attr:`input_set` keeps the last one for the task document.
    """

    def __init__(self, settings: QESettings, directory: str | Path) -> None:
        self.settings = settings.resolved()
        self.input_set: PwInputSet | None = None
        profile = _PwProfile(settings.command, settings.pseudo_dir, settings.walltime)
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
        work, self.input_set = prepare_input(atoms, self.settings)
        self.parameters["kpts"] = self.input_set.kpts
        self.parameters["input_data"] = self.input_set.namelists
        directory = Path(self.directory)
        (directory / EXIT_FILE).unlink(missing_ok=True)
        try:
            super().calculate(  # type: ignore[no-untyped-call]
                work, properties or ["energy"], system_changes or all_changes
            )
        except FileNotFoundError as exc:
            raise PwError(
                f"{self.settings.command} not found ({exc}). Fix: {INSTALL_HINT}", "missing"
            ) from exc
        except subprocess.CalledProcessError as exc:
            raise diagnose_pw_failure(directory, exc.returncode) from exc
        except (AssertionError, IndexError, ValueError, StopIteration) as exc:  # ASE parser
            raise diagnose_pw_failure(directory) from exc
        self.atoms = atoms.copy()  # the caller's structure, not the boxed copy: no rerun


def pw_input(
    settings: QESettings, natoms: int, choices: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Build the pw.x namelists for one structure of ``natoms`` atoms (settings resolved).

    Precedence, lowest first: the settings' fields, the per-structure ``choices`` of
    :func:`prepare_input` (flat keywords), ``extra_input``, and forces/stress always on.
    """
    data: dict[str, dict[str, Any]] = {
        "control": {
            "calculation": settings.calculation,
            "disk_io": "nowf",
            "outdir": ".",
            "prefix": "pwscf",
        },
        "system": {
            "ecutwfc": settings.ecutwfc,
            "ecutrho": settings.ecutrho,
            "occupations": "smearing",
        },
        "electrons": {
            "conv_thr": settings.conv_thr * natoms,
            "mixing_beta": settings.mixing_beta,
            "electron_maxstep": settings.electron_maxstep,
        },
    }
    for layer in (choices or {}, settings.extra_input):
        for section, values in nest_pw_input(layer).items():
            data.setdefault(section, {}).update(values)
    if data["system"]["occupations"] == "smearing":
        data["system"].setdefault("smearing", settings.smearing)
        data["system"].setdefault("degauss", settings.degauss)
    data["control"].update(_FORCED_CONTROL)
    return data


def read_namelists(directory: str | Path) -> dict[str, dict[str, Any]]:
    """The namelists of the pw.x input written in ``directory`` (what pw.x really got)."""
    with (Path(directory) / INPUT_FILE).open() as handle:
        namelists, _cards = read_fortran_namelist(handle)
    return {section.lower(): dict(values) for section, values in namelists.items()}


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
        f"conv_thr={settings.conv_thr:g}Ry/atom occupations={settings.occupations}"
    )
    text += f" min_box={settings.min_box:g}A" if settings.min_box else ""
    text += f" spin={settings.spin_polarized}" if settings.spin_polarized is not None else ""
    return f"{text} extra={settings.extra_input}" if settings.extra_input else text


def plain_oracle(settings: QESettings) -> CalculatorOracle:
    """Oracle running pw.x once per structure, without self-healing.

    For checking the engine itself (``pyacemaker doctor``), where healing would hide a
    broken installation; the pipeline labels with
    :func:`pyacemaker.dft.healing.qe_oracle`. Fails now, not per structure, if pw.x
    is missing (the provenance string asks pw.x for its version).
    """
    settings = settings.resolved()

    def factory(directory: Path) -> BaseCalculator:
        return espresso_calculator(settings, directory)

    return CalculatorOracle(factory=factory, source=provenance(settings))


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
            result = plain_oracle(settings).label([_silicon()], Path(tmp))
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
