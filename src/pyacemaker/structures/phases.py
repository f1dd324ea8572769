# ASE ships py.typed but most of its API is unannotated; its calls return Any.
# mypy: disable-error-code="no-untyped-call"
"""The parent structures ("phases") of a run, from any accepted ``structure:`` input.

One phase per formula, per frame of every structure file, and per composition of an
alloy. Each phase is checked before anything is spent on it: readable, 3-D, no
overlapping atoms, a physical volume, finite numbers; every problem is a
:class:`StructureError` that names the ``structure`` field, the value and the fix, and
``pyacemaker validate`` prints it as one line. Each phase's atoms carry
``info["phase"]`` so every structure generated from it can be traced back.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, covalent_radii, reference_states
from ase.io import read
from ase.neighborlist import neighbor_list

from pyacemaker.config.schema import AlloyConfig, StructureConfig
from pyacemaker.structures.generators import exact_counts, random_alloy_cells
from pyacemaker.structures.prototypes import (
    NN_OVER_A,
    PrototypeError,
    build_formula,
    check_fits,
    default_crystal,
    lattice_constants,
)

PHASE_KEY = "phase"
MAX_PHASES = 20  # each phase costs test, EOS and validation DFT: more is a typo
MAX_PHASE_ATOMS = 1000  # a parent cell is labelled by DFT; beyond this it is not a parent
MAX_FILE_BYTES = 50_000_000
MIN_VOLUME, MAX_VOLUME = 1.0, 5000.0  # Å^3 per atom: fused atoms / mostly vacuum
OVERLAP_FACTOR = 0.5  # of the sum of covalent radii: closer atoms overlap
SPARSE_FACTOR = 3.0  # ... no neighbour within this many: atoms in vacuum, not a solid
MAX_ALLOY_REPEAT = 4  # repeats per axis of the conventional cell searched for a composition


class StructureError(ValueError):
    """One problem with the structure input, as ``structure.<field>: got <value>: <fix>``."""

    def __init__(self, field: str, value: object, message: str) -> None:
        """Format the one-line message from the field, the value and what to do."""
        shown = repr(str(value) if isinstance(value, Path) else value)[:80]
        self.line = f"structure.{field}: got {shown}: {message}"
        super().__init__(self.line)


@dataclass
class Phase:
    """A named parent structure and how it was made (recorded in the plan)."""

    name: str
    atoms: Atoms
    source: str


def check_atoms(atoms: Atoms, field: str, value: object) -> None:
    """StructureError unless the cell is 3-D, finite, of physical volume, with no overlaps."""
    if len(atoms) == 0:
        raise StructureError(field, value, "has no atoms; give a structure with atoms")
    if len(atoms) > MAX_PHASE_ATOMS:
        raise StructureError(field, value, f"has {len(atoms)} atoms; give a parent cell of at "
                             f"most {MAX_PHASE_ATOMS} (supercells are made by the generators)")
    if not (np.isfinite(atoms.positions).all() and np.isfinite(atoms.cell.array).all()):
        raise StructureError(field, value, "has NaN or infinite coordinates; fix the file")
    if (atoms.numbers <= 0).any():
        raise StructureError(field, value, "has atoms of unknown element (X); use element symbols")
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    if atoms.cell.rank < 3 or volume < 1e-6:
        raise StructureError(field, value, "has fewer than three lattice vectors or zero volume; "
                             "give a 3-D cell (e.g. Lattice= in extxyz; a box around a molecule)")
    per_atom = volume / len(atoms)
    if not MIN_VOLUME <= per_atom <= MAX_VOLUME:
        raise StructureError(field, value, f"has {per_atom:.3g} Å^3 per atom; expected "
                             f"{MIN_VOLUME} to {MAX_VOLUME} (check the lattice constant)")
    _check_overlaps(atoms, field, value)


def _check_overlaps(atoms: Atoms, field: str, value: object) -> None:
    """No pair closer than OVERLAP_FACTOR x their covalent radii, one within SPARSE_FACTOR x.

    Periodic images count; with no neighbour at all the cell is atoms in vacuum, not a solid.
    """
    radii = covalent_radii[atoms.numbers]
    i, j, d = neighbor_list("ijd", atoms, min(SPARSE_FACTOR * 2 * float(radii.max()), 12.0))
    if not len(d):
        raise StructureError(field, value, f"no two atoms are within {SPARSE_FACTOR} x the sum "
                             "of their covalent radii; check the lattice constant or the cell")
    ratio = d / (radii[i] + radii[j])
    k = int(np.argmin(ratio))
    if ratio[k] < OVERLAP_FACTOR:
        raise StructureError(
            field, value, f"atoms {i[k]} ({atoms[i[k]].symbol}) and {j[k]} "
            f"({atoms[j[k]].symbol}) are {d[k]:.3g} Å apart, less than {OVERLAP_FACTOR} x the "
            "sum of their covalent radii; fix the positions or the lattice constant",
        )  # fmt: skip


def _read_frames(path: Path) -> list[Atoms]:
    """Every frame of a structure file, or a StructureError saying why it cannot be read."""
    size = path.stat().st_size
    if size == 0:
        raise StructureError("file", path, "is empty; give a CIF, POSCAR or extxyz file")
    if size > MAX_FILE_BYTES:
        raise StructureError("file", path, f"is {size} bytes; give a file of parent cells only")
    try:
        frames = read(path, index=":")
    except Exception as exc:  # any parser failure on a user's file is reported
        message = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:160]
        raise StructureError(
            "file", path, f"ASE cannot read it ({message}); give a CIF, POSCAR or extxyz file"
        ) from None
    frames = [frames] if isinstance(frames, Atoms) else list(frames)
    if not frames:
        raise StructureError("file", path, "holds no structure; give a CIF, POSCAR or extxyz")
    return frames


def _file_phases(files: list[Path]) -> list[Phase]:
    phases = []
    for path in files:
        frames = _read_frames(path)
        for k, atoms in enumerate(frames):
            label = f"{path.name}#{k}" if len(frames) > 1 else path.name
            check_atoms(atoms, "file", label)
            atoms.calc = None
            phases.append(Phase(f"{atoms.get_chemical_formula()}-{label}", atoms, str(path)))
    return phases


def _formula_phase(config: StructureConfig) -> tuple[Phase, str]:
    formula = str(config.formula)
    try:
        if config.crystal is None:
            crystal, why = default_crystal(formula)
        else:
            crystal, why = config.crystal, f"{formula}: crystal {config.crystal} given"
        check_fits(formula, crystal)
        proto = lattice_constants(formula, crystal, config.a, config.c)
        atoms = build_formula(formula, proto)
    except PrototypeError as exc:
        value = config.crystal if exc.field == "crystal" and config.crystal else formula
        raise StructureError(exc.field, value, str(exc)) from None
    check_atoms(atoms, "a", proto.a)
    return Phase(f"{formula}-{crystal}", atoms, f"formula {formula}"), f"{why}; {proto.reason}"


def alloy_compositions(alloy: AlloyConfig) -> list[dict[str, float]]:
    """Each composition as element -> fraction (x_range expanded with x_step)."""
    first, *rest = alloy.elements
    if alloy.x_range is not None:
        lo, hi = alloy.x_range
        n = math.floor((hi - lo) / alloy.x_step + 1e-9) + 1
        xs: list[float | dict[str, float]] = [round(lo + k * alloy.x_step, 10) for k in range(n)]
    else:
        xs = list(alloy.compositions or [])
    out = []
    for x in xs:
        if isinstance(x, dict):
            if sorted(x) != sorted(alloy.elements) or any(not 0 < v < 1e6 for v in x.values()):
                raise StructureError("alloy.compositions", x, "needs a positive fraction for "
                                     f"each of {alloy.elements} (normalised to sum 1)")
            total = sum(x.values())
            out.append({el: x[el] / total for el in alloy.elements})
        elif len(rest) != 1:
            raise StructureError("alloy.compositions", x, "a single fraction is for two "
                                 "elements; give mappings element -> fraction")
        else:
            out.append({first: float(x), rest[0]: 1.0 - float(x)})
    return out


def _atomic_volume(element: str, lattice: str) -> float:
    """Volume per atom of the element: ASE's reference crystal, else the radius rule."""
    ref = reference_states[atomic_numbers[element]]
    if ref and ref.get("symmetry") in NN_OVER_A and "a" in ref:
        atoms = bulk(element)
        return float(atoms.get_volume() / len(atoms))
    a = 2 * covalent_radii[atomic_numbers[element]] / NN_OVER_A[lattice]
    atoms = bulk(element, lattice, a=a)
    return float(atoms.get_volume() / len(atoms))


def vegard_lattice(alloy: AlloyConfig, composition: dict[str, float]) -> float:
    """The alloy's a: its volume per atom is the composition-weighted mean (Vegard)."""
    volume = sum(x * _atomic_volume(el, alloy.lattice) for el, x in composition.items())
    unit = bulk("Cu", alloy.lattice, a=1.0)  # volume per atom at a = 1 Å
    return float((volume / (unit.get_volume() / len(unit))) ** (1 / 3))


def _exact_cell(base: Atoms, composition: dict[str, float], label: str) -> Atoms:
    """The smallest near-cubic repeat of ``base`` on which the composition is exact."""
    shapes = sorted(
        itertools.product(range(1, MAX_ALLOY_REPEAT + 1), repeat=3),
        key=lambda r: (math.prod(r), max(r) - min(r)),
    )
    for reps in shapes:
        n = len(base) * math.prod(reps)
        if all(abs(x * n - round(x * n)) < 1e-6 for x in composition.values()):
            cell: Atoms = base.repeat(reps)
            return cell
    biggest = len(base) * MAX_ALLOY_REPEAT**3
    raise StructureError("alloy.compositions", label, f"cannot be made exactly on a cell of up "
                         f"to {biggest} atoms; use fractions such as 0.25, 0.5 or 1/3")


def _alloy_phases(alloy: AlloyConfig) -> tuple[list[Phase], list[str]]:
    phases, notes = [], []
    for composition in alloy_compositions(alloy):
        label = "".join(f"{el}{round(100 * x)}" for el, x in composition.items())
        a = alloy.a or round(vegard_lattice(alloy, composition), 3)
        if alloy.a is None:
            notes.append(f"alloy {label}: a {a} Å on {alloy.lattice} by Vegard's law on volume")
        base = bulk(alloy.elements[0], alloy.lattice, a=a, cubic=alloy.lattice != "hcp")
        cell = _exact_cell(base, composition, label)
        check_atoms(cell, "alloy.a", a)
        atoms = random_alloy_cells(cell, composition, 1, seed=0)[0]
        exact_counts(composition, len(atoms))
        phases.append(Phase(f"{alloy.lattice}-{label}", atoms, f"alloy {label} (SQS-like)"))
    return phases, notes


def build_phases(config: StructureConfig) -> tuple[list[Phase], list[str]]:
    """Every parent structure with ``info["phase"]`` set, and a note per choice made."""
    notes: list[str] = []
    phases: list[Phase] = []
    if config.formula is not None:
        phase, why = _formula_phase(config)
        phases.append(phase)
        notes.append(f"structure: {why}")
    if config.alloy is not None:
        alloy_phases, alloy_notes = _alloy_phases(config.alloy)
        phases += alloy_phases
        notes += alloy_notes
    phases += _file_phases(config.files())
    if len(phases) > MAX_PHASES:
        raise StructureError("file", config.file, f"gives {len(phases)} phases; at most "
                             f"{MAX_PHASES} (one frame per phase)")
    for phase in phases:
        phase.atoms.info["config_type"] = "prototype"
        phase.atoms.info[PHASE_KEY] = phase.name
    return phases, notes


def phase_budget(names: list[str], n: int) -> dict[str, int]:
    """``n`` split as evenly as possible over the phases, in their order (first ones first)."""
    base, extra = divmod(n, len(names))
    return {name: base + (k < extra) for k, name in enumerate(names)}


def tag_phase(structures: list[Atoms], name: str) -> list[Atoms]:
    """Set ``info["phase"]`` on each structure (generators copy it, this makes it certain)."""
    for atoms in structures:
        atoms.info[PHASE_KEY] = name
    return structures


def by_phase(structures: list[Atoms]) -> dict[str, list[Atoms]]:
    """Structures grouped by ``info["phase"]`` (one group "" for untagged data)."""
    groups: dict[str, list[Atoms]] = {}
    for atoms in structures:
        groups.setdefault(str(atoms.info.get(PHASE_KEY, "")), []).append(atoms)
    return groups


def first_phase(structures: list[Atoms], name: str | None = None) -> list[Atoms]:
    """The structures of phase ``name`` (default: the first that appears; all if untagged)."""
    groups = by_phase(structures)
    if name is not None and name in groups:
        return groups[name]
    return next(iter(groups.values())) if groups else []
