"""Pseudopotential files: reading UPF headers, choosing a file, suggesting cutoffs.

Everything here works on the files themselves (no pw.x run), so a configuration can
be completed and checked in milliseconds before any DFT starts.

Choosing a pseudopotential (:func:`find_pseudopotential`)
    Candidates are the ``*.UPF``/``*.upf`` files in ``pseudo_dir`` whose name starts with
    the element symbol followed by ``.``, ``_`` or ``-`` (case-insensitive, so ``Si``
    never picks ``S.*`` and ``Rh`` never picks ``Rhs.*``), and whose header names the
    same element. They are ranked, best first, by:

    1. exchange-correlation functional equal to the requested one (read from the UPF
       header, so ``Si_r.upf`` counts as PBE); a file of another functional is only a
       fallback, logged as a warning;
    2. scalar-relativistic before fully relativistic (``rel-`` files need spin-orbit
       input to be used as intended);
    3. a name of the conventional form ``<El>.[rel-]<functional>-...`` naming the requested
       functional (``pz`` counts as LDA) before ad-hoc names such as ``Si_r.upf``;
    4. pslibrary files (``_psl.`` in the name): modern, tested, and they carry suggested
       cutoffs in the header;
    5. newest pslibrary version, then name (deterministic).

Suggesting cutoffs (:func:`suggest_cutoffs`)
    Per pseudopotential, first hit wins: the table ``pyacemaker/data/qe_cutoffs.yaml``
    (keyed by file name, values measured for the Debian files, see the table's header),
    then the suggestion in the UPF header (``wfc_cutoff``/``rho_cutoff``, written by
    ld1.x / pslibrary), then a per-type default from the same table. The density
    cutoff is at least ``dual * ecutwfc`` with dual 4 for norm-conserving and 8 for
    ultrasoft/PAW. A structure needs the maximum over its elements.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

DEFAULT_PSEUDO_DIR = Path("/usr/share/espresso/pseudo")
CUTOFF_TABLE = "qe_cutoffs.yaml"
_HEADER_CHARS = 65536  # PP_HEADER sits after PP_INFO, well within the first 64 kB
_FUNCTIONAL_ALIASES = {"pz": "lda", "lda": "lda", "pbe": "pbe", "pbesol": "pbesol"}


class PseudopotentialNotFoundError(FileNotFoundError):
    """No usable UPF file for an element; the message says what exists and how to fix it."""


@dataclass(frozen=True)
class UpfInfo:
    """What pyacemaker needs from a UPF header.

    ``kind`` is ``"NC"``, ``"US"`` or ``"PAW"``; ``functional`` is normalised to
    ``lda``/``pbe``/``pbesol``/... (lower case); the cutoffs are the header's
    suggestions in Ry, 0 when the header has none. ``coulomb`` marks a bare 1/r
    potential (all-electron hydrogen), which is never picked automatically.
    ``z_valence`` (electrons per atom) decides whether a cell can have fixed occupations.
    """

    path: Path
    element: str
    kind: str
    functional: str
    wfc_cutoff: float
    rho_cutoff: float
    coulomb: bool = False
    z_valence: float = 0.0

    @property
    def dual(self) -> int:
        """Minimum ecutrho/ecutwfc: augmentation charges need 8, norm-conserving 4."""
        return 4 if self.kind == "NC" else 8


def read_upf_header(path: str | Path) -> UpfInfo:
    """Parse the ``PP_HEADER`` of a UPF v1 (line-based) or v2 (XML attributes) file."""
    path = Path(path)
    with path.open(encoding="utf-8", errors="replace") as handle:
        text = handle.read(_HEADER_CHARS)
    match = re.search(r"<PP_HEADER(.*?)(/>|</PP_HEADER>)", text, re.S)
    if match is None:
        raise ValueError(f"{path} has no <PP_HEADER>: not a UPF pseudopotential")
    body = match.group(1)
    return _header_v2(path, body) if "=" in body.split(">")[0] else _header_v1(path, body)


def _header_v2(path: Path, body: str) -> UpfInfo:
    attrs = {k.lower(): v.strip() for k, _, v in re.findall(r"(\w+)\s*=\s*(['\"])(.*?)\2", body)}
    paw = _is_true(attrs.get("is_paw", "")) or attrs.get("pseudo_type", "").upper() == "PAW"
    ultrasoft = _is_true(attrs.get("is_ultrasoft", "")) or attrs.get("pseudo_type", "").upper() in {
        "US",
        "USPP",
    }
    return UpfInfo(
        path=path,
        element=attrs.get("element", "").strip(),
        kind="PAW" if paw else "US" if ultrasoft else "NC",
        functional=normalise_functional(attrs.get("functional", "")),
        wfc_cutoff=_float(attrs.get("wfc_cutoff", "0")),
        rho_cutoff=_float(attrs.get("rho_cutoff", "0")),
        coulomb=_is_true(attrs.get("is_coulomb", "")),
        z_valence=_float(attrs.get("z_valence", "0")),
    )


def _header_v1(path: Path, body: str) -> UpfInfo:
    """UPF v1: fixed line order, one value (or a few) per line then its description.

    Lines: version, element, type (NC/US/PAW), core correction, functional (4 words),
    Z valence, total energy, suggested wfc and rho cutoffs, ...
    """
    lines = [line.split() for line in body.split(">", 1)[-1].splitlines() if line.strip()]
    lines += [[]] * (8 - len(lines))
    kind = (lines[2][:1] or ["NC"])[0].upper()
    cutoffs = lines[7][:2] if "Suggested" in lines[7] else []
    return UpfInfo(
        path=path,
        element=(lines[1][:1] or [""])[0],
        kind=kind if kind in {"US", "PAW"} else "NC",
        functional=normalise_functional(" ".join(lines[4][:4])),
        wfc_cutoff=_float(cutoffs[0]) if cutoffs else 0.0,
        rho_cutoff=_float(cutoffs[1]) if len(cutoffs) > 1 else 0.0,
        z_valence=_float((lines[5][:1] or ["0"])[0]),
    )


def _is_true(value: str) -> bool:
    return value.strip().strip(".").lower() in {"t", "true"}


def _float(value: str) -> float:
    try:
        return float(value.lower().replace("d", "e"))
    except ValueError:
        return 0.0


def normalise_functional(text: str) -> str:
    """Map a UPF functional string (``" SLA  PW   PBX  PBC"``, ``"PBESOL"``, ...) to a name.

    QE writes functionals either as a short name or as its four components; the
    gradient-correction components identify the family (PBX/PBE → pbe, PSX → pbesol).
    """
    words = set(text.upper().split())
    rules = [
        ({"PBESOL", "PSX", "PSC"}, "pbesol"),
        ({"PBE", "PBX", "PBC"}, "pbe"),
        ({"BLYP", "B88", "LYP"}, "blyp"),
        ({"TPSS"}, "tpss"),
        ({"PZ", "LDA", "NOGX"}, "lda"),
    ]
    return next((name for keys, name in rules if words & keys), "unknown")


def _upf_files(pseudo_dir: Path) -> list[Path]:
    return sorted(p for p in pseudo_dir.iterdir() if p.is_file() and p.suffix.lower() == ".upf")


def _named_for(element: str, path: Path) -> bool:
    return re.match(rf"{re.escape(element)}[._-]", path.name, re.I) is not None


def _rank(info: UpfInfo, functional: str) -> tuple[bool, bool, bool, bool, str, str]:
    """Sort key of the preference order documented in the module docstring (low = best)."""
    wanted = _FUNCTIONAL_ALIASES.get(functional.lower(), functional.lower())
    name = info.path.name
    token = re.match(r"[A-Za-z]+\.(?:rel-)?([a-z]+)-", name)
    version = re.search(r"_psl\.([\d.]+)\.upf$", name, re.I)
    return (
        info.functional != wanted,
        ".rel-" in name.lower(),
        token is None or _FUNCTIONAL_ALIASES.get(token.group(1), token.group(1)) != wanted,
        version is None,
        "" if version is None else _invert(version.group(1)),
        name,
    )


def _invert(version: str) -> str:
    """Encode a version so that newer ones sort first (1.0.0 before 0.2.1)."""
    return "".join(chr(0x10FFFF - int(part)) for part in version.split(".") if part.isdigit())


def candidate_pseudopotentials(element: str, pseudo_dir: str | Path) -> list[UpfInfo]:
    """Every readable UPF file in ``pseudo_dir`` written for ``element`` (unranked)."""
    found = []
    for path in _upf_files(Path(pseudo_dir)):
        if not _named_for(element, path):
            continue
        try:
            info = read_upf_header(path)
        except (OSError, ValueError) as exc:
            logger.debug("skipping %s: %s", path, exc)
            continue
        if info.element.lower() == element.lower() and not info.coulomb:
            found.append(info)
    return found


def find_pseudopotential(element: str, pseudo_dir: str | Path, functional: str = "pbe") -> str:
    """File name (relative to ``pseudo_dir``) of the best UPF for ``element``.

    The ranking is documented in the module docstring; a functional other than the
    requested one is accepted only when nothing else exists, with a warning, because
    pw.x refuses to mix functionals across species in one calculation.
    """
    folder = Path(pseudo_dir)
    if not folder.is_dir():
        raise PseudopotentialNotFoundError(
            f"No pseudopotential for {element}: folder {folder} does not exist. "
            f"Fix: install it (apt-get install quantum-espresso-data) or set dft.pseudo_dir "
            f"to a folder of UPF files, or set dft.pseudopotentials.{element}."
        )
    candidates = candidate_pseudopotentials(element, folder)
    if not candidates:
        raise PseudopotentialNotFoundError(_not_found_message(element, folder))
    best = min(candidates, key=lambda info: _rank(info, functional))
    if _rank(best, functional)[0]:
        logger.warning(
            "no %s pseudopotential for %s in %s; using %s (%s)",
            functional,
            element,
            folder,
            best.path.name,
            best.functional,
        )
    return best.path.name


def _not_found_message(element: str, folder: Path) -> str:
    named = sorted(p.name for p in folder.iterdir() if _named_for(element, p))
    upf = _upf_files(folder)
    elements = sorted({m.group(1) for p in upf if (m := re.match(r"([A-Z][a-z]?)[._-]", p.name))})
    if named:
        listing = f"files named for {element} there: {', '.join(named)} (none is a readable UPF)"
    else:
        listing = f"no file there is named for {element}; UPF files exist for {', '.join(elements)}"
    return (
        f"No UPF pseudopotential for element {element} in {folder}: {listing}. "
        f"Fix: set dft.pseudopotentials.{element} to a UPF file name, or point dft.pseudo_dir "
        f"to a folder that has one (file names must start with '{element}.' or '{element}_')."
    )


@cache
def cutoff_table() -> dict[str, Any]:
    """Load the shipped cutoff table (``pyacemaker/data/qe_cutoffs.yaml``), once."""
    text = resources.files("pyacemaker").joinpath("data", CUTOFF_TABLE).read_text("utf-8")
    table: dict[str, Any] = yaml.safe_load(text)
    return table


def pseudo_cutoffs(info: UpfInfo) -> tuple[float, float]:
    """(ecutwfc, ecutrho) in Ry for one pseudopotential: table, else header, else default."""
    table = cutoff_table()
    entry = table["pseudopotentials"].get(info.path.name)
    if entry is not None:
        wfc = float(entry["ecutwfc"])
        rho = float(entry.get("ecutrho", 0.0))
    elif info.wfc_cutoff > 0:
        wfc, rho = info.wfc_cutoff, info.rho_cutoff
    else:
        wfc, rho = float(table["defaults"][info.kind]["ecutwfc"]), 0.0
    wfc = _round_up(wfc)
    return wfc, _round_up(max(rho, info.dual * wfc))


def _round_up(value: float, step: float = 5.0) -> float:
    """Round up to a multiple of ``step`` Ry: tidy inputs, never below the suggestion."""
    return float(step * math.ceil(value / step - 1e-9))


def suggest_cutoffs(
    pseudopotentials: dict[str, str], pseudo_dir: str | Path = DEFAULT_PSEUDO_DIR
) -> tuple[float, float]:
    """(ecutwfc, ecutrho) in Ry sufficient for every pseudopotential given (the maximum)."""
    if not pseudopotentials:
        raise ValueError("suggest_cutoffs needs at least one pseudopotential")
    pairs = []
    for element, name in sorted(pseudopotentials.items()):
        path = Path(pseudo_dir) / name
        if not path.is_file():
            raise PseudopotentialNotFoundError(
                f"Pseudopotential {name} for {element} not found in {pseudo_dir}. "
                f"Fix: set dft.pseudopotentials.{element} to a file that exists there, "
                f"or dft.pseudo_dir to the folder that holds {name}."
            )
        pairs.append(pseudo_cutoffs(read_upf_header(path)))
    return max(wfc for wfc, _ in pairs), max(rho for _, rho in pairs)
