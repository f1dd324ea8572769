"""Which generators, in what proportions: the material decides, and the reasons are kept.

:func:`classify` names the material class of a prototype (metal, covalent, compound,
alloy, molecule); :func:`generator_mix` turns it into shares per generator plus one
sentence per decision, which the plan stores (``plan.yaml``) and the candidates
document repeats. :func:`generate_mix` then draws the candidates, seeded.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pymatgen.core import Composition, Element

from pyacemaker.structures.generate import supercell_repeat
from pyacemaker.structures.generators import (
    EINSTEIN_THZ,
    antisite_cells,
    interstitial_cells,
    melt_quench,
    normal_mode_cells,
    random_alloy_cells,
    rattle_cells,
    slab_cells,
    strain_cells,
    vacancy_cells,
)

MaterialClass = Literal["metal", "covalent", "compound", "alloy", "molecule"]
DEFECT_MIN_ATOMS = 8  # below this a "defect" is a different crystal, not a dilute defect
SURFACE_MILLERS = ((1, 0, 0), (1, 1, 0), (1, 1, 1))

# Default shares per class. Strained (and lightly rattled) cells lead: they carry both
# the energy-volume information and forces; with only rattled cells at the equilibrium
# volume, a small DFT budget left the teacher's energies off by >10 meV/atom on strained
# held-out cells (mini quickstart). Surfaces are off by default (the vacuum makes each DFT call
# several times costlier); list "surface" in sampling.generators to add them.
BASE_MIXES: dict[str, dict[str, float]] = {
    "metal": {"strain": 0.5, "rattle": 0.25, "vacancy": 0.15, "interstitial": 0.1},
    "covalent": {"strain": 0.5, "rattle": 0.25, "vacancy": 0.15, "interstitial": 0.1},
    "compound": {
        "strain": 0.45, "rattle": 0.25, "vacancy": 0.1, "antisite": 0.1, "interstitial": 0.1,
    },
    "alloy": {"strain": 0.3, "rattle": 0.2, "random_alloy": 0.35, "vacancy": 0.15},
    "molecule": {"rattle": 1.0},
}  # fmt: skip
DEFECTS = ("vacancy", "interstitial", "antisite")
MELT_QUENCH_FACTOR = 1.5  # melt-quench MD temperature: this times the melting point
MELT_INTERVAL = 10  # MD steps between two melt-quench frames


# Melting points (K) of compounds the elemental rule gets badly wrong (CRC Handbook of
# Chemistry and Physics, 97th ed., "Physical constants of inorganic compounds"); keyed
# by reduced formula. Decomposing compounds (SiC) carry their decomposition temperature.
COMPOUND_MELTING_K: dict[str, float] = {
    "NiO": 2228.0, "MgO": 3098.0, "TiO2": 2116.0, "SiO2": 1986.0, "Al2O3": 2345.0,
    "ZnO": 2247.0, "GaAs": 1511.0, "GaN": 2773.0, "SiC": 3003.0, "BN": 3246.0,
    "NaCl": 1074.0, "LiF": 1121.0, "SrTiO3": 2353.0, "CsCl": 919.0,
}  # fmt: skip
GAS_BELOW_K = 300.0  # an element melting below room temperature is a gas/liquid alone
COMPOUND_FLOOR_K = 300.0  # no solid compound plans its MD below room temperature


def melting_point(symbols: Sequence[str]) -> float:
    """Melting-point estimate (K) of a material from its atoms' symbols (repeats = composition).

    One element: its own melting point (pymatgen; 1000 K when unknown). Several: the
    tabulated value for a known compound (:data:`COMPOUND_MELTING_K`), else the
    composition-weighted mean over elements that are solid at room temperature (melting
    above :data:`GAS_BELOW_K`: O, N, H, halogens and noble gases are left out, since
    oxygen's 55 K says nothing about NiO), never below :data:`COMPOUND_FLOOR_K`.
    """
    counts = Counter(symbols)
    melts = {el: float(Element(el).melting_point or 0.0) for el in counts}
    if len(counts) == 1:
        return next(iter(melts.values())) or 1000.0
    formula = Composition(dict(counts)).reduced_formula
    if formula in COMPOUND_MELTING_K:
        return COMPOUND_MELTING_K[formula]
    solid = {el: m for el, m in melts.items() if m >= GAS_BELOW_K} or {
        el: m for el, m in melts.items() if m > 0
    }
    if not solid:
        return 1000.0
    weights = np.array([counts[el] for el in solid], dtype=float)
    mean = float(np.dot(weights, list(solid.values())) / weights.sum())
    return max(mean, COMPOUND_FLOOR_K)


def classify(prototype: Atoms) -> MaterialClass:
    """Material class from periodicity and the elements (pymatgen's ``is_metal``)."""
    if not prototype.pbc.any():
        return "molecule"
    elements = sorted(set(prototype.get_chemical_symbols()))
    metals = [Element(el).is_metal for el in elements]
    if len(elements) == 1:
        return "metal" if metals[0] else "covalent"
    return "alloy" if all(metals) else "compound"


@dataclass
class GeneratorMix:
    """Shares per generator name and why each choice was made."""

    material_class: MaterialClass
    shares: dict[str, float]
    reasons: list[str] = field(default_factory=list)


def generator_mix(
    material_class: MaterialClass,
    supercell_atoms: int,
    override: dict[str, float] | None = None,
    has_model: bool = False,
) -> GeneratorMix:
    """Default shares for the class, minus what does not apply; ``override`` wins outright.

    ``has_model``: a foundation model exists before any DFT (needed for normal modes).
    """
    if override is not None:
        why = "mix from sampling.generators (chosen by the plan unless set in the config)"
        return GeneratorMix(material_class, dict(override), [why])
    shares = dict(BASE_MIXES[material_class])
    reasons = [f"material class '{material_class}': mix {shares}"]
    if supercell_atoms < DEFECT_MIN_ATOMS and any(d in shares for d in DEFECTS):
        moved = sum(shares.pop(d) for d in DEFECTS if d in shares)
        shares["strain"] = shares.get("strain", 0.0) + moved
        reasons.append(
            f"no point defects: supercell_atoms {supercell_atoms} < {DEFECT_MIN_ATOMS} "
            "(a defect in so small a cell is another crystal); their share goes to strain"
        )
    reasons.append("no surfaces by default: vacuum makes each DFT call several times costlier")
    if material_class == "molecule" and has_model:
        shares = {"normal_modes": 0.6, "rattle": 0.4}
        reasons.append("molecule with a foundation model: normal modes from its Hessian + rattle")
    elif material_class == "molecule":
        reasons.append("molecule: rattle only (normal-mode sampling needs a foundation model)")
    return GeneratorMix(material_class, shares, reasons)


def split_counts(shares: dict[str, float], n: int) -> dict[str, int]:
    """Integer counts summing to ``n``, proportional to ``shares`` (largest remainder)."""
    names = sorted(shares)
    total = sum(shares[k] for k in names)
    exact = np.array([shares[k] / total * n for k in names])
    counts = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    return {k: int(c) for k, c in zip(names, counts, strict=True) if c > 0}


@dataclass(frozen=True)
class MixSettings:
    """Amplitudes the generators share (from the sampling config)."""

    max_strain: float
    rattle: float
    temperatures: tuple[float, ...]
    supercell_atoms: int
    einstein_thz: float = EINSTEIN_THZ
    # teacher.foundation spec (MACE name/file, chgnet, ...) for the model-driven
    # generators (normal modes, melt-quench); None when no model exists before DFT
    model: str | None = None
    melting_point: float = 1000.0  # K; melt-quench melts at MELT_QUENCH_FACTOR times this


Generator = Callable[[Atoms, int, MixSettings, int], list[Atoms]]


def _cells(proto: Atoms, s: MixSettings) -> tuple[Atoms, Atoms]:
    """The prototype and its supercell of at least ``supercell_atoms`` atoms."""
    return proto, proto.repeat(supercell_repeat(proto, s.supercell_atoms))


def _defect_cell(proto: Atoms, s: MixSettings) -> Atoms:
    """Supercell for point defects: at least ``DEFECT_MIN_ATOMS`` atoms."""
    cell: Atoms = proto.repeat(supercell_repeat(proto, max(s.supercell_atoms, DEFECT_MIN_ATOMS)))
    return cell


def _strain(proto: Atoms, n: int, s: MixSettings, seed: int) -> list[Atoms]:
    cells = strain_cells(
        _cells(proto, s), n, volumetric=s.max_strain, shear=s.max_strain, seed=seed
    )
    rng = np.random.default_rng(seed + 1)
    for atoms in cells:
        atoms.positions += rng.normal(0.0, s.rattle, size=atoms.positions.shape)
    return cells


def _surface(proto: Atoms, n: int, s: MixSettings, seed: int) -> list[Atoms]:
    slabs = slab_cells(proto, [SURFACE_MILLERS[i % len(SURFACE_MILLERS)] for i in range(n)])
    rng = np.random.default_rng(seed)
    for atoms in slabs:
        atoms.positions += rng.normal(0.0, s.rattle, size=atoms.positions.shape)
    return slabs


def _alloy(proto: Atoms, n: int, s: MixSettings, seed: int) -> list[Atoms]:
    cell = _defect_cell(proto, s)
    symbols = cell.get_chemical_symbols()
    composition = {el: float(symbols.count(el)) for el in sorted(set(symbols))}
    return random_alloy_cells(cell, composition, n, seed=seed)


def _model(s: MixSettings, generator: str) -> Calculator:
    """The foundation as a calculator for a model-driven generator."""
    if s.model is None:
        raise ValueError(f"{generator} needs a model: configure teacher.foundation")
    from pyacemaker.surrogate.foundation import foundation_calculator

    return foundation_calculator(s.model)


def _normal_modes(proto: Atoms, n: int, s: MixSettings, seed: int) -> list[Atoms]:
    """Normal-mode samples with the model's Hessian, at the highest rattle temperature."""
    calc = _model(s, "normal_modes")
    with tempfile.TemporaryDirectory() as tmp:
        return normal_mode_cells(
            proto, calc, n, temperature_K=max(s.temperatures), seed=seed, workdir=tmp
        )


def _melt_quench(proto: Atoms, n: int, s: MixSettings, seed: int) -> list[Atoms]:
    """``n`` frames of a melt-quench MD run with the foundation model, before any DFT.

    Half the frames come from the melt at ``MELT_QUENCH_FACTOR`` x the melting point,
    half from the quench to the lowest rattle temperature; a run the model cannot keep
    stable keeps the frames before the instability.
    """
    from pyacemaker.dynamics.ase_md import MDInstabilityError, sample_md

    calc = _model(s, "melt_quench")
    per_stage = (n + 1) // 2
    try:
        frames = melt_quench(
            _cells(proto, s)[1], calc, sample_md, t_melt=MELT_QUENCH_FACTOR * s.melting_point,
            t_final=min(s.temperatures), steps=MELT_INTERVAL * per_stage,
            interval=MELT_INTERVAL, seed=seed,
        )  # fmt: skip
    except MDInstabilityError as exc:
        frames = exc.frames
    return frames[:n]


MODEL_GENERATORS = ("melt_quench", "normal_modes")  # need teacher.foundation before DFT
GENERATORS: dict[str, Generator] = {
    "normal_modes": _normal_modes,
    "melt_quench": _melt_quench,
    "strain": _strain,
    "rattle": lambda p, n, s, seed: rattle_cells(
        _cells(p, s)[::-1], n, temperatures=s.temperatures, seed=seed, nu_thz=s.einstein_thz
    ),
    "vacancy": lambda p, n, s, seed: vacancy_cells(_defect_cell(p, s), n, seed=seed),
    "interstitial": lambda p, n, s, seed: interstitial_cells(_defect_cell(p, s), n, seed=seed),
    "antisite": lambda p, n, s, seed: antisite_cells(_defect_cell(p, s), n, seed=seed),
    "surface": _surface,
    "random_alloy": _alloy,
}


def generate_mix(
    prototype: Atoms, shares: dict[str, float], n: int, settings: MixSettings, seed: int
) -> list[Atoms]:
    """``n`` candidates drawn from the generators in proportion to ``shares``.

    Each generator gets its own seed (``seed`` + its position among all known names), so
    changing one share does not reshuffle the structures of the others.
    """
    unknown = sorted(set(shares) - set(GENERATORS))
    if unknown:
        raise ValueError(f"unknown generator(s) {unknown}; known: {sorted(GENERATORS)}")
    out: list[Atoms] = []
    order = sorted(GENERATORS)
    for name, count in split_counts(shares, n).items():
        out += GENERATORS[name](prototype, count, settings, seed + 1000 * order.index(name))
    return out
