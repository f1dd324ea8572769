"""The only code that talks to pacemaker / pyace (python-ace 0.4.0rc1, tensorpotential 0.6.2.1).

Facts about pacemaker this wrapper relies on (checked against the installed version):

* Training data is a gzipped pandas pickle with ``ase_atoms``, ``energy``, ``forces``.
  With ``data: reference_energy: {El: e}`` pacemaker computes
  ``energy_corrected = energy - Σ e(El)`` itself (identical to :func:`to_pacemaker_frame`)
  and stores the dictionary as JSON under ``metadata: reference_energy`` of the
  output potential. The potential is fitted to, and evaluates to, ``energy_corrected``.
* The B-basis ``.yaml`` has no place for an energy offset (an ``E0`` key is silently
  ignored), but the C-tilde ``.yace`` has an ``E0: [...]`` line (per element) that the
  evaluator adds to every atom. :func:`fit_ace` writes the reference energies there, so
  the ``.yace`` gives total energies (checked through PyACECalculator; LAMMPS
  ``pair_style pace`` reads the same file with the same evaluator library), and
  :func:`ace_calculator` adds them back when it must use the ``.yaml``.
* Only energies and forces are fitted; ``REF_stress`` is not used by pacemaker.
* Weights: if the frame has both ``w_energy`` and ``w_forces`` (per atom) columns and no
  ``fit: weighting`` is given, pacemaker keeps them ("Both weighting columns ... are
  found"). It then normalises each column to sum 1 separately, so only relative weights
  matter and the energy/force balance is set by ``kappa`` alone:
  ``loss = (1 - kappa) Σ w_e (ΔE/N)² + kappa Σ w_f |ΔF|²``. A ``name`` starting with
  ``augmented`` has its weights multiplied by 1e-4, so names are set here.
* ``pacemaker -d file`` replaces the whole ``data`` section (dropping
  ``reference_energy``); here the data section is written into ``input.yaml`` instead.
  ``potential: <file.yaml>`` (what ``-p`` sets) continues from that potential's
  coefficients and basis. ``fit: repulsion: auto`` would add a ZBL core below the
  shortest training distance (inner cutoff ``r_in`` per bond) *after* the fit. A
  continued fit, however, is optimised with the parent's ``r_in`` (TensorFlow cuts the
  radial functions off below it) and was then written with ``r_in`` moved to the new
  data's shortest distance: between the two the radial functions were never fitted. With
  DFT cells closer than the pool this made pacemaker report 59 meV/atom, 0.69 eV/Å while
  the written file (pacemaker's own prediction of it, PyACECalculator and LAMMPS alike)
  gave 880 meV/atom, 5.6 eV/Å. And a core exactly at the shortest training distance puts
  any slightly closer pair on the bare ZBL (eV off). ``repulsion: auto`` is therefore not
  used: :mod:`pyacemaker.ace.inner_core` places ``r_in`` a margin below the data, on the
  start potential of a continued fit and on every written potential, and :func:`fit_ace`
  checks after every fit that the written ``.yace`` reproduces pacemaker's last reported
  RMSE (docs/validation.md).
* Running out of BFGS iterations is not an error (exit status 0, ``OptimizeWarning``).
* ``pace_activeset`` writes ``<potential>.asi`` next to the ``.yaml``. By default it keeps
  only atoms whose force error is below Q3 + 1.5 IQR (training atoms outside then show
  gamma up to ~3) and ignores ``-q`` when ``--all-atoms`` is given; its batched mode (big
  datasets) refuses to run without ``--all-atoms``. The extrapolation grade needs the
  B-basis (``.yaml``) evaluator; PyACECalculator then reports per-atom ``gamma``.
* The RMSEs pacemaker prints (and ``metrics.txt``) are unweighted over all structures,
  weight-0 ones included; :class:`AcePotentialDoc` holds weighted-subset RMSEs instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from pyace import ACEBBasisSet, BBasisConfiguration, PyACECalculator

from pyacemaker.ace.fit_checks import (
    AceFitError,
    check_fitted,
    check_written_matches_fit,
    errors_of,
)
from pyacemaker.ace.inner_core import place_inner_core
from pyacemaker.ace.schemas import AceFitSettings, AcePotentialDoc
from pyacemaker.data import energy_of, forces_of
from pyacemaker.progress import Progress, track
from pyacemaker.subprocesses import tied_to_parent

__all__ = [
    "AceFitError",
    "AceFitSettings",
    "TotalEnergyAceCalculator",
    "ace_calculator",
    "build_active_set",
    "fit_ace",
    "potential_reference_energy",
    "select_d_optimal",
    "to_pacemaker_frame",
    "weighted_errors",
]

logger = logging.getLogger(__name__)

WEIGHT_KEY = "weight"
FORCE_WEIGHT_KEY = "force_weight"
ENERGY_WEIGHT_KEY = "energy_weight"

TRAIN_PICKLE = "train.pkl.gz"
INPUT_YAML = "input.yaml"
POTENTIAL_YAML = "potential.yaml"
POTENTIAL_YACE = "potential.yace"
POTENTIAL_ASI = "potential.asi"
START_YAML = "start_potential.yaml"
FIT_LOG = "pacemaker.out"
FITTING_DATA = "fitting_data_info.pckl.gzip"
METRICS = "metrics.txt"
ACTIVESET_PICKLE = "activeset_data.pkl.gz"
ACTIVESET_LOG = "pace_activeset.out"

_ITERATION = re.compile(r"(?:Initial state:|Iteration)\s*#(\d+)")
_TAIL_LINES = 30


def to_pacemaker_frame(
    structures: Sequence[Atoms], reference_energy: Mapping[str, float]
) -> pd.DataFrame:
    """Labelled structures as the dataframe pacemaker reads, weights included.

    ``w_energy`` is ``info["weight"]`` (default 1) times ``info["energy_weight"]``
    (default 1; 0 for cut-outs, whose energy includes their artificial boundary) and
    ``w_forces`` is the weight times ``arrays["force_weight"]`` (default 1) per atom,
    which reproduces pacemaker's own uniform weighting when nothing is set.
    """
    rows = [_frame_row(i, atoms, reference_energy) for i, atoms in enumerate(structures)]
    columns = ["name", "ase_atoms", "energy", "energy_corrected", "forces", "w_energy", "w_forces"]
    return pd.DataFrame(rows, columns=columns)


def _symbols(atoms: Atoms) -> list[str]:
    return [str(symbol) for symbol in atoms.symbols]


def _frame_row(index: int, atoms: Atoms, reference_energy: Mapping[str, float]) -> dict[str, Any]:
    symbols = _symbols(atoms)
    missing = sorted(set(symbols) - set(reference_energy))
    if missing:
        raise ValueError(f"no reference energy for {missing} (structure {index})")
    weight = float(atoms.info.get(WEIGHT_KEY, 1.0))
    energy_weight = float(atoms.info.get(ENERGY_WEIGHT_KEY, 1.0))
    force_weight = np.asarray(atoms.arrays.get(FORCE_WEIGHT_KEY, np.ones(len(atoms))), dtype=float)
    if min(weight, energy_weight) < 0 or np.any(force_weight < 0):
        raise ValueError(f"negative weight in structure {index}")
    energy = energy_of(atoms)
    return {
        "name": f"{index:06d}:{atoms.info.get('config_type', '')}",
        "ase_atoms": _clean(atoms),
        "energy": energy,
        "energy_corrected": energy - sum(reference_energy[s] for s in symbols),
        "forces": forces_of(atoms),
        "w_energy": weight * energy_weight,
        "w_forces": weight * force_weight.reshape(len(atoms)),
    }


def fit_ace(
    train: Sequence[Atoms],
    workdir: Path,
    settings: AceFitSettings,
    *,
    reference_energy: Mapping[str, float],
    reference_source: str = "given",
    initial_potential: Path | None = None,
    log_every: int = 50,
) -> AcePotentialDoc:
    """Fit an ACE potential with the ``pacemaker`` CLI and convert it to ``.yace``.

    With ``initial_potential`` (a pacemaker ``.yaml``) the fit starts from its
    coefficients and keeps its basis; its recorded reference energies must equal
    ``reference_energy``, otherwise the starting point would be shifted.
    ``reference_source`` (how the zero was obtained) is recorded in the doc. Every
    ``log_every`` BFGS iterations the loss and RMSEs are logged at INFO.
    """
    workdir = Path(workdir).resolve()
    parent = None if initial_potential is None else Path(initial_potential).resolve()
    elements = _fit_elements(train, parent)
    references = _references(elements, reference_energy, parent)
    frame = to_pacemaker_frame(train, references)
    if not frame["w_energy"].sum() > 0 or not frame["w_forces"].map(np.sum).sum() > 0:
        raise AceFitError("all training structures have zero weight; nothing to fit")
    _prepare_workdir(workdir)
    frame.to_pickle(workdir / TRAIN_PICKLE, compression="gzip", protocol=4)
    start_from = parent
    if parent is not None and settings.core_repulsion:
        start_from = place_inner_core(parent, train, workdir / START_YAML)
    config = _input_config(settings, elements, references, start_from)
    (workdir / INPUT_YAML).write_text(yaml.safe_dump(config, sort_keys=False))
    start = time.perf_counter()
    _run_pacemaker(workdir, log_every, settings.max_iter)
    if settings.core_repulsion:
        place_inner_core(workdir / POTENTIAL_YAML, train, workdir / POTENTIAL_YAML)
    _write_yace(workdir / POTENTIAL_YAML, workdir / POTENTIAL_YACE, references)
    initial_loss, final_loss = _read_losses(workdir / METRICS)
    errors = errors_of(frame, workdir / POTENTIAL_YACE)
    check_written_matches_fit(errors, workdir / METRICS)
    rmse_e, rmse_f = errors.rmse(weighted=True)
    check_fitted(frame, (rmse_e, rmse_f), (initial_loss, final_loss), settings, workdir)
    n_train = len(pd.read_pickle(workdir / FITTING_DATA, compression="gzip"))
    if n_train != len(train):
        logger.warning("pacemaker fitted %d of %d structures", n_train, len(train))
    logger.info("ACE fit: %.2f meV/atom, %.4f eV/Å (%d structures)", rmse_e, rmse_f, n_train)
    return AcePotentialDoc(
        yaml_path=workdir / POTENTIAL_YAML,
        yace_path=workdir / POTENTIAL_YACE,
        workdir=workdir,
        training_data=workdir / FITTING_DATA,
        reference_energy=references,
        reference_energy_source=reference_source,
        elements=elements,
        settings=settings,
        n_train=n_train,
        parent=parent,
        rmse_energy_mev_per_atom=rmse_e,
        rmse_forces_ev_per_a=rmse_f,
        initial_loss=initial_loss,
        final_loss=final_loss,
        wall_time_s=time.perf_counter() - start,
        seed=settings.seed,
    )


def _fit_elements(train: Sequence[Atoms], parent: Path | None) -> list[str]:
    """Elements of the potential: the training data's, or the parent's when continuing."""
    if not train:
        raise AceFitError("no training structures: pacemaker cannot fit an empty dataset")
    present = sorted({s for atoms in train for s in _symbols(atoms)})
    if parent is None:
        return present
    elements = sorted(ACEBBasisSet(str(parent)).elements_name)
    if not set(present) <= set(elements):
        raise ValueError(f"initial potential has {elements}, training data needs {present}")
    return elements


def _references(
    elements: list[str], reference_energy: Mapping[str, float], parent: Path | None
) -> dict[str, float]:
    """Pick the reference energies of the potential's elements; they must match the parent's."""
    missing = [el for el in elements if el not in reference_energy]
    if missing:
        raise ValueError(f"no reference energy for {missing}")
    references = {el: float(reference_energy[el]) for el in elements}
    recorded = None if parent is None else potential_reference_energy(parent)
    if recorded is not None and recorded != references:
        raise ValueError(f"reference energies {references} differ from the parent's {recorded}")
    return references


def _prepare_workdir(workdir: Path) -> None:
    """Create ``workdir`` and delete outputs of an earlier run, so none is mistaken for new."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in (
        POTENTIAL_YAML, POTENTIAL_YACE, POTENTIAL_ASI, METRICS, FITTING_DATA, FIT_LOG, START_YAML,
    ):
        (workdir / name).unlink(missing_ok=True)


def _input_config(
    settings: AceFitSettings,
    elements: list[str],
    reference_energy: dict[str, float],
    parent: Path | None,
) -> dict[str, Any]:
    """Pacemaker's ``input.yaml`` as a dictionary (explicit weights, so no ``weighting``)."""
    fit: dict[str, Any] = {
        "loss": {"kappa": settings.kappa, "L1_coeffs": settings.l1_coeffs,
                 "L2_coeffs": settings.l2_coeffs},
        "optimizer": settings.optimizer,
        "maxiter": settings.max_iter,
    }
    return {
        "seed": settings.seed,
        "potential": str(parent) if parent else _potential_section(settings, elements),
        "data": {"filename": TRAIN_PICKLE, "reference_energy": reference_energy},
        "fit": fit,
        "backend": {"evaluator": "tensorpot", "batch_size": settings.batch_size,
                    "display_step": settings.max_iter + 1},
    }


def _potential_section(settings: AceFitSettings, elements: list[str]) -> dict[str, Any]:
    """Basis definition of a fresh potential (function blocks per element count)."""
    return {
        "deltaSplineBins": 0.001,
        "elements": elements,
        "embeddings": {"ALL": {"npot": settings.embedding,
                               "fs_parameters": settings.fs_parameters,
                               "ndensity": len(settings.fs_parameters) // 2}},
        "bonds": {"ALL": {"radbase": settings.radial_basis,
                          "radparameters": settings.radial_parameters,
                          "rcut": settings.cutoff, "dcut": 0.01,
                          "NameOfCutoffFunction": "cos"}},
        "functions": settings.function_blocks(len(elements)),
    }


def _tool(name: str) -> str:
    """Path of a python-ace command: next to this interpreter (venv not activated) or on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise AceFitError(f"'{name}' not found; is python-ace installed?")
    return found


def _engine_env() -> dict[str, str]:
    """Environment for pacemaker: CPU only and quiet TensorFlow."""
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _run_pacemaker(workdir: Path, log_every: int, max_iter: int) -> None:
    """Run the fit, keep its output in ``pacemaker.out`` and forward progress to the logger."""
    command = [_tool("pacemaker"), INPUT_YAML, "-o", POTENTIAL_YAML, "--no-predict"]
    with track(f"ACE fit in {workdir.name}", max_iter, "iter") as bar:
        _run(command, workdir, workdir / FIT_LOG,
             lambda line: _forward_progress(line, log_every, bar))  # fmt: skip
    if not (workdir / POTENTIAL_YAML).exists():
        raise AceFitError(f"pacemaker wrote no potential in {workdir}:\n{_tail(workdir / FIT_LOG)}")


def _run(
    command: list[str], cwd: Path, log_path: Path, on_line: Callable[[str], None] | None = None
) -> None:
    """Run a python-ace command, copy its merged output to ``log_path``, fail with its tail."""
    with (
        log_path.open("w") as log_file,
        subprocess.Popen(
            tied_to_parent(command), cwd=cwd, env=_engine_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            if on_line is not None:
                on_line(line)
    if process.returncode != 0:
        raise AceFitError(
            f"{Path(command[0]).name} exited with status {process.returncode} in {cwd}:\n"
            f"{_tail(log_path)}"
        )


def _forward_progress(line: str, log_every: int, bar: Progress) -> None:
    """Count pacemaker's iterations on ``bar`` (loss/RMSE as its note); log every ``log_every``.

    Pacemaker prints such a line per iteration except every ``display_step``, where a
    multi-line block replaces it; ``display_step`` is therefore set beyond ``maxiter``.
    The full line goes to DEBUG: the progress lines already carry the loss and RMSEs.
    """
    match = _ITERATION.search(line)
    if match:
        text = " ".join(line[match.start():].split())
        loss = text.split(": ", 1)[-1].split(" | Time")[0]  # loss and RMSEs, not timings
        bar.advance(int(match.group(1)) - bar.done, note=loss)
        if int(match.group(1)) % log_every == 0:
            logger.debug("pacemaker %s", text)


def _tail(path: Path, lines: int = _TAIL_LINES) -> str:
    """Last lines of a log, for error messages."""
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(text[-lines:])


def _write_yace(yaml_path: Path, yace_path: Path, reference_energy: Mapping[str, float]) -> None:
    """Convert to ``.yace`` and put the reference energies into its per-element ``E0``."""
    command = [_tool("pace_yaml2yace"), str(yaml_path), "-o", str(yace_path)]
    _run(command, yace_path.parent, yace_path.parent / "pace_yaml2yace.out")
    text = yace_path.read_text()
    elements_line = re.search(r"^elements: (\[.*\])$", text, flags=re.MULTILINE)
    if elements_line is None or len(re.findall(r"^E0: \[.*\]$", text, flags=re.MULTILINE)) != 1:
        raise AceFitError(f"unexpected .yace layout in {yace_path}: no single elements/E0 line")
    order = yaml.safe_load(elements_line.group(1))
    e0 = ", ".join(repr(float(reference_energy[str(el)])) for el in order)
    yace_path.write_text(re.sub(r"^E0: \[.*\]$", f"E0: [{e0}]", text, flags=re.MULTILINE))


def _read_losses(metrics_path: Path) -> tuple[float, float]:
    """First (before any step) and last loss from pacemaker's ``metrics.txt`` table."""
    header, *rows = [line.split() for line in metrics_path.read_text().splitlines() if line]
    column = header.index("loss")
    return float(rows[0][column]), float(rows[-1][column])


def weighted_errors(doc: AcePotentialDoc, structures: Sequence[Atoms]) -> tuple[float, float]:
    """Energy (meV/atom) and force (eV/Å) RMSE of a potential on labelled structures.

    Only what a fit would learn counts: energies of structures with energy weight > 0,
    forces of atoms with force weight > 0 (the core of a cut-out). NaN when none.
    """
    frame = to_pacemaker_frame(structures, doc.reference_energy)
    return errors_of(frame, doc.yace_path).rmse(weighted=True)


def select_d_optimal(
    doc: AcePotentialDoc, frames: Sequence[Atoms], max_structures: int
) -> list[int]:
    """Indices of the frames that extend the active set most (pacemaker's MaxVol selection).

    ``pace_select``'s own routine in-process: B-projections of all frames' atoms are
    added to the current active set by MaxVol, and frames are ranked by how many of
    their atoms enter; at most ``max_structures`` are returned, best first.
    """
    from pyace.aceselect import select_structures_maxvol
    from pyace.activelearning import compute_A_active_inverse, load_active_inverse_set

    if not frames:
        return []
    if doc.asi_path is None:
        raise ValueError("no active set: call build_active_set(doc, ...) first")
    frame = pd.DataFrame({"ase_atoms": [_clean(a) for a in frames]})
    extra = compute_A_active_inverse(load_active_inverse_set(str(doc.asi_path)))
    selected = select_structures_maxvol(
        frame, BBasisConfiguration(str(doc.yaml_path)), extra, batch_size_option="none",
        max_structures=max_structures,
    )
    return [int(i) for i in selected.index]


def _clean(atoms: Atoms) -> Atoms:
    """Bare structure (numbers, positions, cell, pbc) as pacemaker stores it."""
    return Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def potential_reference_energy(yaml_path: Path) -> dict[str, float] | None:
    """Return the reference energies pacemaker recorded in a potential (None if absent)."""
    metadata = BBasisConfiguration(str(yaml_path)).metadata
    if "reference_energy" not in metadata:
        return None
    recorded = json.loads(metadata["reference_energy"])
    return {str(el): float(e) for el, e in recorded.items()}


def build_active_set(
    potential: AcePotentialDoc | Path,
    structures: Sequence[Atoms] | None,
    workdir: Path,
) -> Path:
    """Compute the active set (``.asi``, next to the potential's ``.yaml``) and return its path.

    The environments come from ``structures`` or, if None, from the data the fit used.
    Every atom of every structure with weight > 0 enters (``--all-atoms``), so all training
    atoms have gamma <= 1 (pacemaker's default would drop atoms with large force errors,
    which then look extrapolative although they were trained on). Structures with neither
    energy nor force weight are left out: they were not learned. Cut-outs (force weight
    on the core only) enter whole, buffer atoms included. Given a doc, its ``asi_path`` is updated.
    """
    if isinstance(potential, AcePotentialDoc):
        doc, yaml_path = potential, potential.yaml_path.resolve()
    else:
        doc, yaml_path = None, Path(potential).resolve()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    frame = _activeset_frame(doc, yaml_path, structures)
    dataset = workdir / ACTIVESET_PICKLE
    learned = (frame["w_energy"] > 0) | (frame["w_forces"].map(np.sum) > 0)
    frame[learned].to_pickle(dataset, compression="gzip", protocol=4)
    command = [_tool("pace_activeset"), "-d", str(dataset), "--all-atoms", yaml_path.name]
    _run(command, yaml_path.parent, workdir / ACTIVESET_LOG)
    asi_path = yaml_path.with_suffix(".asi")
    if not asi_path.exists():
        raise AceFitError(f"pace_activeset made no {asi_path}:\n{_tail(workdir / ACTIVESET_LOG)}")
    if doc is not None:
        doc.asi_path = asi_path
    return asi_path


def _activeset_frame(
    doc: AcePotentialDoc | None, yaml_path: Path, structures: Sequence[Atoms] | None
) -> pd.DataFrame:
    """Structures for ``pace_activeset``: the given ones, or the fit's own dataframe."""
    if structures is None:
        if doc is None:
            raise ValueError("give structures, or a potential doc that knows its training data")
        return pd.read_pickle(doc.training_data, compression="gzip")
    reference = doc.reference_energy if doc else potential_reference_energy(yaml_path)
    if reference is None:
        raise ValueError(f"{yaml_path} records no reference energies")
    return to_pacemaker_frame(structures, reference)


class TotalEnergyAceCalculator(Calculator):
    """ACE calculator whose energies are total energies, comparable to ``REF_energy``.

    Wraps a :class:`pyace.PyACECalculator` and adds ``atom_energy[element]`` to every
    atom's energy (zero for a ``.yace`` that carries them as ``E0``). Forces and stress are
    unchanged by a constant per atom. With an active set, the per-atom extrapolation grade
    is available as ``calc.get_property("gamma", atoms)`` (or ``calc.results["gamma"]``).
    """

    def __init__(self, ace: Any, atom_energy: Mapping[str, float]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # ase's Calculator is unannotated
        self.ace = ace
        self.atom_energy = dict(atom_energy)
        base = ["energy", "free_energy", "energies", "forces", "stress"]
        self.implemented_properties = [*base, "gamma"] if ace.is_active_set_configured else base

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        """Evaluate the wrapped potential and shift its energies by the reference energies."""
        super().calculate(atoms, properties, system_changes)  # type: ignore[no-untyped-call]
        current = self.atoms
        if current is None:
            raise ValueError("no atoms to calculate")
        self.ace.calculate(current, properties, system_changes)
        shift = np.array([self.atom_energy[s] for s in _symbols(current)])
        results = dict(self.ace.results)
        results["energies"] = np.asarray(results["energies"]) + shift
        results["energy"] = results["free_energy"] = float(results["energy"]) + float(shift.sum())
        if "gamma" not in self.implemented_properties:
            results.pop("gamma", None)
        self.results = results


def ace_calculator(doc: AcePotentialDoc, active_set: bool = False) -> TotalEnergyAceCalculator:
    """ASE calculator of a fitted potential, giving total energies.

    Without the active set it evaluates the ``.yace`` (faster; reference energies inside
    as ``E0``). With ``active_set=True`` it evaluates the ``.yaml`` with the ``.asi`` (made
    by :func:`build_active_set`), adds the reference energies itself and reports ``gamma``.
    """
    if not active_set:
        zero = dict.fromkeys(doc.elements, 0.0)
        return TotalEnergyAceCalculator(PyACECalculator(str(doc.yace_path)), zero)
    if doc.asi_path is None:
        raise ValueError("no active set: call build_active_set(doc, ...) first")
    ace = PyACECalculator(str(doc.yaml_path))
    ace.set_active_set(str(doc.asi_path))
    return TotalEnergyAceCalculator(ace, doc.reference_energy)
