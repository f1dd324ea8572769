"""Crystal prototypes for a formula: which lattice, which lattice constant, and the cell.

A formula either names its prototype (``crystal:``) or gets one by :func:`default_crystal`:
the table :data:`KNOWN` for common compounds, ASE's reference state for an element,
and for other formulas a rule from the stoichiometry and the elements' electronegativity.
A lattice constant that is not given comes from :data:`KNOWN`, from ASE's reference
state of the element on the same lattice, or else from the sum of the two atoms'
covalent radii (the nearest-neighbour distance) divided by the prototype's
nearest-neighbour distance in units of ``a`` (:data:`NN_OVER_A`); docs/input.md lists
all three with their accuracy. ASE builds every prototype except rutile and perovskite,
which :func:`ase.spacegroup.crystal` builds from their space group and Wyckoff sites.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce

from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, covalent_radii, reference_states
from ase.formula import Formula
from ase.spacegroup import crystal as spacegroup_crystal

ELEMENTAL = ("sc", "fcc", "bcc", "hcp", "diamond")
# Reduced stoichiometry each prototype can hold, in the order of the formula's elements.
STOICHIOMETRY: dict[str, tuple[tuple[int, ...], ...]] = {
    **{name: ((1,),) for name in ELEMENTAL},
    "rocksalt": ((1, 1),),
    "zincblende": ((1, 1),),
    "wurtzite": ((1, 1),),
    "cesiumchloride": ((1, 1),),
    "fluorite": ((1, 2), (2, 1)),
    "rutile": ((1, 2),),
    "perovskite": ((1, 1, 3),),
}
# Nearest-neighbour distance / a of each prototype (ideal c/a and u): the radius rule.
NN_OVER_A = {
    "sc": 1.0, "fcc": 1 / math.sqrt(2), "bcc": math.sqrt(3) / 2, "hcp": 1.0,
    "diamond": math.sqrt(3) / 4, "zincblende": math.sqrt(3) / 4, "rocksalt": 0.5,
    "cesiumchloride": math.sqrt(3) / 2, "fluorite": math.sqrt(3) / 4,
    "wurtzite": 3 / 8 * math.sqrt(8 / 3), "rutile": 0.305 * math.sqrt(2), "perovskite": 0.5,
}  # fmt: skip
IDEAL_C_OVER_A = {"hcp": math.sqrt(8 / 3), "wurtzite": math.sqrt(8 / 3), "rutile": 0.644}
RUTILE_U = 0.305  # oxygen Wyckoff 4f (u, u, 0) of TiO2 rutile

# Common compounds: prototype and room-temperature experimental a (and c) in Å, rounded
# to 0.01 Å (CRC Handbook / Kittel values). The EOS stage refits the volume anyway: these
# only need to put the first cells near equilibrium.
KNOWN: dict[str, tuple[str, float, float | None]] = {
    "NaCl": ("rocksalt", 5.64, None), "KCl": ("rocksalt", 6.29, None),
    "LiF": ("rocksalt", 4.03, None), "MgO": ("rocksalt", 4.21, None),
    "CaO": ("rocksalt", 4.81, None), "NiO": ("rocksalt", 4.17, None),
    "FeO": ("rocksalt", 4.33, None), "TiN": ("rocksalt", 4.24, None),
    "TiC": ("rocksalt", 4.33, None),
    "GaAs": ("zincblende", 5.65, None), "GaP": ("zincblende", 5.45, None),
    "InP": ("zincblende", 5.87, None), "InAs": ("zincblende", 6.06, None),
    "AlAs": ("zincblende", 5.66, None), "SiC": ("zincblende", 4.36, None),
    "BN": ("zincblende", 3.62, None), "ZnS": ("zincblende", 5.41, None),
    "CdTe": ("zincblende", 6.48, None),
    "ZnO": ("wurtzite", 3.25, 5.21), "GaN": ("wurtzite", 3.19, 5.19),
    "AlN": ("wurtzite", 3.11, 4.98),
    "CaF2": ("fluorite", 5.46, None), "CeO2": ("fluorite", 5.41, None),
    "UO2": ("fluorite", 5.47, None), "ZrO2": ("fluorite", 5.07, None),
    "Li2O": ("fluorite", 4.61, None),
    "TiO2": ("rutile", 4.59, 2.96), "SnO2": ("rutile", 4.74, 3.19),
    "SiO2": ("rutile", 4.18, 2.67), "MnO2": ("rutile", 4.40, 2.87),
    "RuO2": ("rutile", 4.49, 3.11),
    "SrTiO3": ("perovskite", 3.91, None), "BaTiO3": ("perovskite", 4.00, None),
    "CsCl": ("cesiumchloride", 4.12, None), "NiAl": ("cesiumchloride", 2.89, None),
    "FeAl": ("cesiumchloride", 2.91, None), "CuZn": ("cesiumchloride", 2.95, None),
}  # fmt: skip
IONIC_EN_DIFFERENCE = 1.0  # Pauling: AB with a larger difference takes rock salt
CHALCOGENS = ("O", "S", "Se", "Te")


class PrototypeError(ValueError):
    """A formula/prototype/lattice problem; ``field`` says which key of ``structure`` to fix."""

    def __init__(self, field: str, message: str) -> None:
        """Keep the field so the caller can print ``structure.<field>: ...``."""
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Prototype:
    """A chosen prototype with its lattice constants and where each came from."""

    crystal: str
    a: float
    c: float | None
    reason: str


def reduced(formula: str) -> tuple[list[str], tuple[int, ...]]:
    """Elements in formula order and their reduced counts: TiO2 -> ([Ti, O], (1, 2))."""
    counts = Formula(formula).count()
    elements = list(counts)
    divisor = reduce(math.gcd, counts.values())
    return elements, tuple(counts[el] // divisor for el in elements)


def _electronegativity(symbol: str) -> float:
    from pymatgen.core import Element

    value = float(Element(symbol).X)
    return 0.0 if math.isnan(value) else value  # NaN for noble gases


def _is_metal(symbol: str) -> bool:
    from pymatgen.core import Element

    return bool(Element(symbol).is_metal)


def default_crystal(formula: str) -> tuple[str, str]:
    """The prototype of a formula without ``crystal:`` and the rule that chose it."""
    elements, counts = reduced(formula)
    canonical = str(Formula(formula).reduce()[0])
    if canonical in KNOWN:
        crystal = KNOWN[canonical][0]
        return crystal, f"{canonical} is {crystal} (table of common compounds)"
    if len(elements) == 1:
        ref = reference_states[atomic_numbers[elements[0]]]
        symmetry = ref.get("symmetry") if ref else None
        if symmetry not in ELEMENTAL:
            raise PrototypeError(
                "crystal", f"ASE has no default lattice for {formula} (its reference state is "
                f"{symmetry or 'missing'}); give structure.crystal (one of {', '.join(ELEMENTAL)}) "
                "and structure.a",
            )  # fmt: skip
        return str(symmetry), f"{formula}: ASE's reference lattice {symmetry}"
    crystal, why = _rule_crystal(formula, elements, counts)
    return crystal, f"{formula}: {why} -> {crystal} (stoichiometry rule)"


def _rule_crystal(formula: str, elements: list[str], counts: tuple[int, ...]) -> tuple[str, str]:
    """Rock salt / zincblende / CsCl for AB, rutile or fluorite for AB2, perovskite for ABX3."""
    if counts == (1, 1) and all(_is_metal(el) for el in elements):
        return "cesiumchloride", "equiatomic intermetallic (B2)"
    if counts == (1, 1):
        diff = abs(_electronegativity(elements[0]) - _electronegativity(elements[1]))
        ionic = diff >= IONIC_EN_DIFFERENCE
        why = f"AB, electronegativity difference {diff:.1f}"
        return ("rocksalt" if ionic else "zincblende"), why
    chalcogenide = elements[1] in CHALCOGENS
    rules = {
        (1, 2): ("rutile", "AB2 chalcogenide") if chalcogenide else ("fluorite", "AB2"),
        (2, 1): ("fluorite", "A2B (antifluorite)"),
        (1, 1, 3): ("perovskite", "ABX3"),
    }
    if counts not in rules:
        raise PrototypeError(
            "crystal", f"no default prototype for {formula}; give structure.crystal (one of "
            f"{', '.join(STOICHIOMETRY)}) or a structure file",
        )  # fmt: skip
    return rules[counts]


def check_fits(formula: str, crystal: str) -> None:
    """PrototypeError unless the formula's stoichiometry fits the prototype."""
    _, counts = reduced(formula)
    if counts not in STOICHIOMETRY[crystal]:
        fits = " or ".join(":".join(map(str, c)) for c in STOICHIOMETRY[crystal])
        raise PrototypeError(
            "formula", f"{formula} (ratio {':'.join(map(str, counts))}) does not fit {crystal} "
            f"(needs {fits}); change structure.crystal or use an alloy or a file",
        )  # fmt: skip


def _bond_pair(elements: list[str], crystal: str) -> tuple[str, str]:
    """The two atoms whose bond is the nearest-neighbour distance of the prototype."""
    if crystal == "perovskite":
        return elements[1], elements[2]  # B-X
    return elements[0], elements[-1]


def radius_lattice(elements: list[str], crystal: str) -> float:
    """The radius rule: (r_cov(A) + r_cov(B)) / (nearest-neighbour distance / a)."""
    first, second = _bond_pair(elements, crystal)
    d = covalent_radii[atomic_numbers[first]] + covalent_radii[atomic_numbers[second]]
    return float(d / NN_OVER_A[crystal])


def lattice_constants(
    formula: str, crystal: str, a: float | None, c: float | None
) -> Prototype:
    """The a and c of the prototype: given, tabulated, ASE's reference, or the radius rule."""
    elements, _ = reduced(formula)
    canonical = str(Formula(formula).reduce()[0])
    reason = f"a {a} Å given"
    known = KNOWN.get(canonical)
    ref = reference_states[atomic_numbers[elements[0]]] if len(elements) == 1 else None
    if a is None and known is not None and known[0] == crystal:
        a, reason = known[1], f"a {known[1]} Å for {canonical} from the table of common compounds"
        c = c if c is not None else known[2]
    elif a is None and ref is not None and ref.get("symmetry") == crystal and "a" in ref:
        a = float(ref["a"])  # type: ignore[arg-type]
        reason = f"a {a} Å: ASE's reference value for {formula}"
        if c is None and "c/a" in ref:
            c = float(ref["c/a"]) * a  # type: ignore[arg-type]
    elif a is None:
        a = round(radius_lattice(elements, crystal), 3)
        reason = f"a {a} Å from the sum of covalent radii on {crystal} (radius rule)"
    if c is None and crystal in IDEAL_C_OVER_A:
        c = round(a * IDEAL_C_OVER_A[crystal], 3)
    return Prototype(crystal, a, c, reason)


def build_formula(formula: str, proto: Prototype) -> Atoms:
    """The primitive cell of ``formula`` on ``proto`` (ASE builders; space groups for two)."""
    elements, counts = reduced(formula)
    if proto.crystal == "rutile":
        u = RUTILE_U
        return spacegroup_crystal(
            elements, basis=[(0, 0, 0), (u, u, 0)], spacegroup=136,
            cellpar=[proto.a, proto.a, proto.c, 90, 90, 90],
        )  # fmt: skip
    if proto.crystal == "perovskite":
        return spacegroup_crystal(
            elements, basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)], spacegroup=221,
            cellpar=[proto.a] * 3 + [90] * 3,
        )  # fmt: skip
    name = elements[0]
    if len(elements) > 1:
        # ASE expects the formula of one primitive cell with the origin atom first; an
        # antifluorite (A2B) puts the anion at the origin.
        a_el, b_el = elements
        anti = counts == (2, 1)
        name = f"{b_el}{a_el}2" if anti else f"{a_el}{b_el}{2 if counts[1] == 2 else ''}"
    c = proto.c if proto.crystal in ("hcp", "wurtzite") else None
    atoms: Atoms = bulk(name, crystalstructure=proto.crystal, a=proto.a, c=c)
    return atoms
