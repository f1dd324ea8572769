"""Report sections of a reaction: energy profile, frequencies, parity, MD (validation/html.py)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from pyacemaker.molecules.schemas import ReactionValidationDoc
from pyacemaker.validation.html import ACE_STYLE, REF_STYLE, _img, _section, _table


def _normalised(distances: list[float]) -> np.ndarray:
    d = np.asarray(distances)
    return d / d[-1] if d[-1] > 0 else d


def plot_profile(v: ReactionValidationDoc) -> Figure:
    """Energy along the CI-NEB path: the potential's own NEB and the oracle's."""
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.add_subplot()
    ax.plot(_normalised(v.oracle_path.distances), v.oracle_path.energies, "o", **REF_STYLE)
    ax.plot(_normalised(v.potential_path.distances), v.potential_path.energies, "s-", **ACE_STYLE)
    ax.set_xlabel("reaction coordinate (normalised path length)")
    ax.set_ylabel("energy relative to reactant (eV)")
    ax.set_title(f"barrier error {1000 * v.barrier_error:+.0f} meV, "
                 f"reaction energy error {1000 * v.reaction_energy_error:+.0f} meV")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    return fig


def plot_frequencies(v: ReactionValidationDoc) -> Figure:
    """Vibrational frequencies of the minima: potential against oracle."""
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.add_subplot()
    top = max(max(f.oracle + f.potential) for f in v.frequencies)
    ax.plot([0, top], [0, top], **{**REF_STYLE, "label": "y = x"})
    for f, marker in zip(v.frequencies, "os", strict=False):
        ax.plot(f.oracle, f.potential, marker, label=f.name, alpha=0.8)
    ax.set_xlabel("oracle frequency (cm$^{-1}$)")
    ax.set_ylabel("ACE frequency (cm$^{-1}$)")
    ax.legend()
    fig.tight_layout()
    return fig


def reaction_sections(v: ReactionValidationDoc) -> list[str]:
    """HTML sections for :func:`~pyacemaker.validation.html.write_report`'s ``extra``."""
    o, p = v.oracle_path, v.potential_path
    path_table = _table(
        ("", "barrier (eV)", "reaction energy (eV)", "NEB converged", "evaluations"),
        [("oracle", o.barrier, o.reaction_energy, o.converged, o.n_calls),
         ("ACE", p.barrier, p.reaction_energy, p.converged, p.n_calls)],
    )  # fmt: skip
    freq_table = _table(
        ("minimum", "RMSE (cm^-1)", "max error (cm^-1)", "oracle", "ACE"),
        [(f.name, f.rmse_cm1, f.max_error_cm1, " ".join(f"{x:.0f}" for x in f.oracle),
          " ".join(f"{x:.0f}" for x in f.potential)) for f in v.frequencies],
    )  # fmt: skip
    parity_table = _table(
        ("subset", "n", "E RMSE (meV/atom)", "F RMSE (eV/Å)"),
        [(k, q.n_structures, q.energy_rmse_mev, q.force_rmse) for k, q in v.parity.items()],
    )
    md = v.md
    md_table = "" if md is None else _table(
        ("T (K)", "steps", "stable", "reason", "shortest distance (Å)", "γ max"),
        [(md.temperature_K, md.steps, md.stable, md.reason, md.min_distance, md.gamma_max)],
    )  # fmt: skip
    return [
        _section(
            "Reaction path (climbing-image NEB)", _img(plot_profile(v)), path_table,
            f"<p>{v.route}</p>",
        ),
        _section("Vibrational frequencies", _img(plot_frequencies(v)), freq_table),
        _section("Parity along the path and on held-out structures", parity_table),
        _section("MD of the complex in vacuum", md_table),
    ]
