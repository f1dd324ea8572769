"""The ``dft:`` section turned into pw.x settings, for crystal and molecular runs alike.

One place picks the pseudopotential of every element (the user's file, else the best
one in ``pseudo_dir``, :func:`pyacemaker.dft.pseudo.find_pseudopotential`) and the
cutoffs (the measured table, :func:`pyacemaker.dft.pseudo.suggest_cutoffs`), so a
crystal plan (:mod:`pyacemaker.config.plan`) and a reaction config
(:mod:`pyacemaker.config.reaction`) label with the same choices. Every problem is one
``dft.<field>`` line of a :class:`~pyacemaker.config.errors.ConfigError`, before pw.x runs.
"""

from __future__ import annotations

from pathlib import Path

from pyacemaker.config.errors import ConfigError
from pyacemaker.config.schema import DFTConfig
from pyacemaker.dft.pseudo import (
    PseudopotentialNotFoundError,
    find_pseudopotential,
    read_upf_header,
    suggest_cutoffs,
)
from pyacemaker.dft.qe import QESettings

DEFAULT_KSPACING = 0.3  # 1/Å with 2π: ~1 meV/atom k-point error for Si-like cells


def pseudopotentials(dft: DFTConfig, elements: list[str]) -> dict[str, str]:
    """A UPF file name per element; ConfigError naming each element without one."""
    found, problems = {}, []
    for el in elements:
        given = dft.pseudopotentials.get(el)
        if given is not None:
            if not (dft.pseudo_dir / given).is_file():
                problems.append(
                    f"dft.pseudopotentials.{el}: got {given!r}: no such file in "
                    f"{dft.pseudo_dir}; expected a UPF file name that exists there"
                )
            found[el] = given
            continue
        try:
            found[el] = find_pseudopotential(el, dft.pseudo_dir)
        except PseudopotentialNotFoundError as exc:
            problems.append(f"dft.pseudopotentials.{el}: {exc}".replace("\n", " "))
    if problems:
        raise ConfigError(problems)
    _one_functional(found, dft.pseudo_dir)
    return found


def _one_functional(pseudos: dict[str, str], pseudo_dir: Path) -> None:
    """pw.x runs one exchange-correlation functional for all species: refuse a mixture now."""
    functionals = {el: read_upf_header(pseudo_dir / f).functional for el, f in pseudos.items()}
    if len(set(functionals.values())) > 1:
        listing = ", ".join(f"{el}: {pseudos[el]} ({f})" for el, f in sorted(functionals.items()))
        raise ConfigError(
            [f"dft.pseudopotentials: {listing}: mixed functionals; give every element a "
             "pseudopotential of one functional (pw.x uses one for all species)"]
        )


def qe_settings(dft: DFTConfig, elements: list[str], notes: list[str]) -> QESettings:
    """The pw.x settings of ``dft`` for ``elements``; the cutoffs chosen add a note.

    The k-point spacing (default :data:`DEFAULT_KSPACING`) has no note here: it means
    nothing for a molecule (Γ only), so a crystal plan notes it itself.
    """
    pseudos = pseudopotentials(dft, elements)
    ecutwfc, ecutrho = suggest_cutoffs(pseudos, dft.pseudo_dir)
    if dft.ecutwfc is None:
        notes.append(f"ecutwfc {ecutwfc} Ry / ecutrho {ecutrho} Ry from the pseudopotential table")
    else:
        ecutwfc = dft.ecutwfc
    return QESettings(
        command=dft.command,
        pseudo_dir=dft.pseudo_dir,
        pseudopotentials=pseudos,
        ecutwfc=ecutwfc,
        ecutrho=dft.ecutrho or ecutrho,
        kspacing=dft.kspacing or DEFAULT_KSPACING,
        smearing=dft.smearing,
        degauss=dft.degauss,
    )


def molecular_settings(
    settings: QESettings, charge: int, multiplicity: int, min_box: float
) -> QESettings:
    """pw.x settings for a molecule of total ``charge`` and spin ``multiplicity`` (2S+1).

    Every side of the molecule's box is at least ``min_box`` Å (the rule of the box:
    :func:`pyacemaker.dft.inputs.isolated_box`).

    ``tot_charge`` goes into every input (pw.x adds a neutralising background to a
    charged periodic cell; the isolated-system treatment every molecule gets,
    ``assume_isolated='mt'`` in a box twice its size, removes that spurious interaction).
    A singlet is run spin-restricted (``nspin=1``) even with a transition metal, whose
    ferromagnetic start would otherwise be chosen; a higher multiplicity is run with
    ``nspin=2`` and the moment fixed, ``tot_magnetization = multiplicity - 1``, so the
    SCF cannot drift to another spin state along a path. A user's ``extra_input`` wins.
    """
    extra: dict[str, float | int] = {"tot_charge": float(charge)}
    if multiplicity > 1:
        extra["tot_magnetization"] = multiplicity - 1
    return settings.model_copy(
        update={
            "spin_polarized": multiplicity > 1,
            "min_box": max(settings.min_box, min_box),
            "extra_input": extra | settings.extra_input,
        }
    )
