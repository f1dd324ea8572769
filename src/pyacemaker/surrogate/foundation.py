"""The foundation model as a universal ASE calculator: MACE-MP-0, a local MACE file, or CHGNet.

``teacher.foundation`` names what the pipeline knows before any DFT. A MACE model (a
MACE-MP-0 name or a local ``.model`` file) can be fine-tuned directly; any other
universal model (``chgnet``, whose pretrained weights ship inside its wheel and so load
offline, or a dotted ASE calculator class) is used as a calculator: it screens the
candidates, samples normal modes and melt-quench frames before the first DFT call, and
labels the synthetic data a MACE teacher is pre-trained on before it is fine-tuned on
the DFT labels (``surrogate/jobs.py``). This module only classifies and loads; the
policy of what to do with each kind lives in the makers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from ase.calculators.calculator import Calculator

from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.oracle import import_object
from pyacemaker.surrogate.schemas import has_foundation

FoundationKind = Literal["none", "mace", "calculator"]

CHGNET = "chgnet"
# Universal models known by a short name -> (ASE calculator class, keyword arguments).
UNIVERSAL_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    CHGNET: ("chgnet.model.dynamics.CHGNetCalculator", {"use_device": "cpu"}),
}
# A dotted import path whose last part is a class name, e.g. ase.calculators.emt.EMT.
_DOTTED_CLASS = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\.[A-Z]\w*$")


def foundation_kind(spec: str) -> FoundationKind:
    """``none``, ``mace`` (a name or file MACE can fine-tune) or ``calculator`` (anything else).

    A dotted class name is a calculator unless a file of that name exists (``my.Model``
    in the working directory stays a file); every other value is treated as MACE, whose
    resolver gives the precise error for a missing file or an unknown name.
    """
    text = spec.strip()
    if not has_foundation(text):
        return "none"
    if text.lower() in UNIVERSAL_MODELS:
        return "calculator"
    if _DOTTED_CLASS.match(text) and not Path(text).expanduser().exists():
        return "calculator"
    return "mace"


def calculator_spec(spec: str) -> OracleSpec:
    """The serialisable recipe of a calculator foundation (also used as a labelling oracle)."""
    text = spec.strip()
    dotted, kwargs = UNIVERSAL_MODELS.get(text.lower(), (text, {}))
    return OracleSpec(engine=dotted, kwargs=dict(kwargs))


def _load_calculator(spec: str) -> Calculator:
    """Instantiate a calculator foundation; any failure is one :class:`FoundationModelError`."""
    from pyacemaker.surrogate.mace import foundation_error

    recipe = calculator_spec(spec)
    try:
        cls = import_object(recipe.engine)
        calc = cls(**recipe.kwargs)
    except Exception as exc:  # import or load failure: one clear error before any DFT
        raise foundation_error(
            spec, f"{recipe.engine} does not load ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(calc, Calculator):
        raise foundation_error(spec, f"{recipe.engine} is not an ASE calculator class")
    return calc


def foundation_calculator(spec: str) -> Calculator:
    """The foundation as a live ASE calculator (MACE on CPU in float64, or the named model)."""
    kind = foundation_kind(spec)
    if kind == "none":
        raise ValueError("no foundation model configured (teacher.foundation: none)")
    if kind == "calculator":
        return _load_calculator(spec)
    from pyacemaker.surrogate.mace import mace_calculator, resolve_foundation

    path = resolve_foundation(spec)
    assert path is not None  # kind "mace" is never "none"
    return mace_calculator(path)


def mace_foundation_file(spec: str) -> Path | None:
    """The MACE file of a MACE foundation (for node-feature descriptors), else None."""
    if foundation_kind(spec) != "mace":
        return None
    from pyacemaker.surrogate.mace import resolve_foundation

    return resolve_foundation(spec)


def check_foundation(spec: str) -> str:
    """Load the foundation once; returns a one-line description, raises if it cannot load.

    Run before any DFT (``runner.checked_plan``): a run configured with a foundation must
    not quietly fall back to a teacher trained from scratch.
    """
    kind = foundation_kind(spec)
    if kind == "none":
        return "none: the teacher is trained from scratch"
    if kind == "calculator":
        _load_calculator(spec)
        return f"{spec}: universal calculator {calculator_spec(spec).engine}"
    from pyacemaker.surrogate.mace import resolve_foundation_choice

    return resolve_foundation_choice(spec).detail


def teacher_route(spec: str, pretrain: bool) -> str:
    """One sentence for the plan on how the teacher starts, by the kind of foundation."""
    from pyacemaker.surrogate.pretrain import (  # lazily: pretrain imports this module
        PRETRAIN_STRUCTURES as pretrain_structures,
    )

    kind = foundation_kind(spec)
    if kind == "none":
        return "trained from scratch (no foundation)"
    if kind == "mace":
        return f"fine-tuned from the MACE foundation {spec}"
    if not pretrain:
        return (
            f"trained from scratch; {spec} screens and samples before DFT "
            "(teacher.pretrain: false)"
        )
    return (
        f"pre-trained on {pretrain_structures} synthetic structures labelled by {spec} "
        "(no DFT), then fine-tuned on the DFT data (teacher.pretrain: false trains it from "
        "scratch)"
    )
