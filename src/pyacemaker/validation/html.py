"""One self-contained HTML report per potential: checks table, plots, provenance.

Plots are matplotlib figures embedded as base64 PNG, so the file can be mailed or
archived alone (no JavaScript, no external files). ``matplotlib.figure.Figure`` is used
without pyplot so no GUI backend or global figure state is involved.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase.units import GPa
from matplotlib.figure import Figure
from pydantic import BaseModel, Field

from pyacemaker.validation.checks import Check
from pyacemaker.validation.eos import EOSResult
from pyacemaker.validation.suite import SuiteResult

ACE_STYLE: dict[str, Any] = {"color": "tab:red", "label": "ACE"}
REF_STYLE: dict[str, Any] = {"color": "black", "linestyle": "--", "label": "reference"}
_CSS = """
body{font-family:sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}
.PASS{background:#c8f0c8}.FAIL{background:#f4c2c2}
img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
"""


class HistoryPoint(BaseModel):
    """Held-out errors of one model in a sequence (iterations, or pipeline stages)."""

    label: str
    energy_rmse_mev: float
    force_rmse: float


class IterationPoint(BaseModel):
    """One active-learning iteration as the report shows it: what it cost, what it gave."""

    iteration: int
    temperature: float
    halted: bool
    gamma_max: float
    n_selected: int
    n_dft: int
    n_failed: int
    n_train: int = Field(description="Labelled structures after the iteration.")
    dft_total: int = Field(
        description="DFT calls of the labelling stages (dft_*) and of the loop up to and with "
        "this iteration."
    )
    test_energy_rmse_mev: float | None = None
    test_force_rmse: float | None = None
    accepted: bool | None = None


def figure_png(fig: Figure) -> str:
    """The figure as a ``data:`` URI (PNG, base64)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def birch_murnaghan(volumes: np.ndarray, eos: EOSResult) -> np.ndarray:
    """Energy per atom of the fitted Birch–Murnaghan curve (B′ = 4 if not recorded)."""
    b0, bp = eos.b0_gpa * GPa, 4.0 if eos.b0_prime is None else eos.b0_prime
    eta = (eos.v0 / volumes) ** (2 / 3)
    return np.asarray(
        eos.e0 + 9 * eos.v0 * b0 / 16 * ((eta - 1) ** 3 * bp + (eta - 1) ** 2 * (6 - 4 * eta))
    )


def plot_phonons(suite: SuiteResult) -> Figure | None:
    """Bands of the potential over the reference's, with both DOS at the side."""
    ace, ref = suite.phonons_ace, suite.phonons_ref
    if ace is None:
        return None
    fig = Figure(figsize=(9, 4.5))
    bands, dos = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [4, 1]})
    for result, style in ((ref, REF_STYLE), (ace, ACE_STYLE)):
        if result is None:
            continue
        freqs = np.asarray(result.frequencies)
        lines = bands.plot(result.distances, freqs, lw=1, **{**style, "label": None})
        lines[0].set_label(style["label"])
        dos.plot(result.dos, result.dos_frequencies, lw=1, **style)
    bands.set_xticks(ace.label_distances, ace.labels)
    bands.set_xlim(ace.distances[0], ace.distances[-1])
    for x in ace.label_distances:
        bands.axvline(x, color="grey", lw=0.5)
    bands.axhline(0, color="grey", lw=0.5)
    bands.set_ylabel("frequency (THz)")
    bands.legend(loc="lower right")
    dos.set_xlabel("DOS")
    rmse = f", RMSE {suite.phonon_rmse_thz:.3f} THz" if suite.phonon_rmse_thz is not None else ""
    bands.set_title(f"phonons of {suite.cell_formula}{rmse}")
    return fig


def plot_eos(suite: SuiteResult) -> Figure:
    """Energy–volume points and Birch–Murnaghan fits, potential and reference."""
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for eos, style, marker in ((suite.eos_ref, REF_STYLE, "o"), (suite.eos_ace, ACE_STYLE, "x")):
        if eos is None or not eos.volumes:
            continue
        v = np.linspace(min(eos.volumes), max(eos.volumes), 100)
        ax.plot(v, birch_murnaghan(v, eos), **style)
        ax.plot(eos.volumes, eos.energies, marker, color=style["color"])
    ax.set_xlabel("volume (Å³/atom)")
    ax.set_ylabel("energy (eV/atom)")
    ax.legend()
    ax.set_title("equation of state")
    return fig


def plot_parity(suite: SuiteResult) -> Figure | None:
    """Predicted against reference energies and forces, one colour per subset."""
    files = {k: p.data_file for k, p in suite.parity.items() if p.data_file}
    if not files:
        return None
    fig = Figure(figsize=(10, 4.5))
    axes = fig.subplots(1, 2)
    for name, path in files.items():
        data = np.load(str(path))
        axes[0].plot(data["e_ref"], data["e_pred"], ".", label=name)
        axes[1].plot(data["f_ref"], data["f_pred"], ".", ms=2, label=name)
    for ax, what in zip(axes, ("energy (eV/atom)", "force component (eV/Å)"), strict=True):
        low, high = ax.get_xlim()
        ax.plot([low, high], [low, high], color="grey", lw=0.5)
        ax.set_xlabel(f"reference {what}")
        ax.set_ylabel(f"ACE {what}")
        ax.legend()
    return fig


def plot_gamma(suite: SuiteResult) -> Figure | None:
    """Histogram of per-atom extrapolation grades over the MD snapshots."""
    runs = [m for m in suite.md if m.gamma_values]
    if not runs:
        return None
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for md in runs:
        ax.hist(md.gamma_values, bins=30, alpha=0.6, label=f"{md.temperature_K:g} K")
    ax.axvline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("extrapolation grade γ")
    ax.set_ylabel("atoms × snapshots")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("γ in MD")
    return fig


def plot_history(history: Sequence[HistoryPoint]) -> Figure | None:
    """Held-out energy and force RMSE along a sequence of models."""
    if not history:
        return None
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    labels = [h.label for h in history]
    left.plot(labels, [h.energy_rmse_mev for h in history], "o-")
    right.plot(labels, [h.force_rmse for h in history], "o-")
    left.set_ylabel("energy RMSE (meV/atom)")
    right.set_ylabel("force RMSE (eV/Å)")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=20)
    return fig


def plot_iterations(points: Sequence[IterationPoint]) -> Figure | None:
    """Held-out errors, labelled-set size and DFT calls over the active-learning iterations."""
    if not points:
        return None
    fig = Figure(figsize=(11, 3.3), layout="constrained")
    force, energy, data = fig.subplots(1, 3)
    x = [p.iteration for p in points]
    force.plot(x, [p.test_force_rmse for p in points], "o-")
    energy.plot(x, [p.test_energy_rmse_mev for p in points], "o-")
    data.plot(x, [p.n_train for p in points], "o-", label="labelled structures")
    calls = data.twinx()
    calls.bar(x, [p.n_dft for p in points], alpha=0.3, color="tab:red", label="DFT calls")
    calls.plot(x, [p.dft_total for p in points], "s--", color="tab:red", label="DFT calls, run")
    force.set_ylabel("held-out force RMSE (eV/Å)")
    energy.set_ylabel("held-out energy RMSE (meV/atom)")
    data.set_ylabel("labelled structures")
    calls.set_ylabel("DFT calls")
    calls.legend(loc="upper left", fontsize="small")
    for ax in (force, energy, data):
        ax.set_xlabel("iteration")
        ax.set_xticks(x)
    return fig


def iterations_section(points: Sequence[IterationPoint], stop_reason: str | None) -> str:
    """The whole active-learning history: one plot and one table row per iteration."""
    if not points:
        return ""
    why = f"<p>{len(points)} iterations; stopped: {html.escape(stop_reason or 'running')}</p>"
    rows = [
        (p.iteration, p.temperature, "yes" if p.halted else "no", p.gamma_max, p.n_selected,
         p.n_dft, p.n_failed, p.n_train, p.dft_total, p.test_energy_rmse_mev, p.test_force_rmse,
         "—" if p.accepted is None else ("accepted" if p.accepted else "rejected"))
        for p in points
    ]  # fmt: skip
    header = ("iteration", "T (K)", "halted", "γ max", "selected", "DFT calls", "failed",
              "labelled", "DFT calls (run)", "held-out E RMSE (meV/atom)",
              "held-out F RMSE (eV/Å)", "update")  # fmt: skip
    return _section("Active-learning history", why, _img(plot_iterations(points)),
                    _table(header, rows))  # fmt: skip


def _table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] = ()
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) else ""
        cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def checks_table(checks: Sequence[Check]) -> str:
    """Every check with its threshold, value and PASS/FAIL."""
    rows = [
        (c.group, c.name, c.threshold, c.reason or c.value, "PASS" if c.passed else "FAIL")
        for c in checks
    ]  # a validator that could not run shows its reason as the value
    return _table(("validator", "check", "threshold", "value", "result"), rows,
                  [r[-1] for r in rows])  # fmt: skip


def elastic_table(suite: SuiteResult) -> str:
    """Independent-looking constants and moduli of the potential and the reference (GPa)."""
    results = [("ACE", suite.elastic_ace), ("reference", suite.elastic_ref)]
    present = [(name, r) for name, r in results if r is not None]
    if not present:
        return ""
    keys = [("C11", 0, 0), ("C12", 0, 1), ("C13", 0, 2), ("C33", 2, 2), ("C44", 3, 3),
            ("C66", 5, 5)]  # fmt: skip
    rows: list[list[Any]] = [[k] + [float(r.c_gpa[i][j]) for _, r in present] for k, i, j in keys]
    rows.append(["B (VRH)"] + [r.bulk_modulus_vrh for _, r in present])
    rows.append(["G (VRH)"] + [r.shear_modulus_vrh for _, r in present])
    rows.append(["Born stable"] + [str(r.stable) for _, r in present])
    system = present[0][1].crystal_system
    return f"<p>{system}, clamped ions, GPa</p>" + _table(["", *[n for n, _ in present]], rows)


def md_table(suite: SuiteResult) -> str:
    """Per temperature: stability, shortest distance, drift, γ."""
    rows = [
        (f"{m.temperature_K:g}", m.n_atoms, m.steps, "yes" if m.stable else f"no: {m.reason}",
         m.min_distance, m.energy_drift_mev_atom_ps, m.gamma_max, m.gamma_mean)
        for m in suite.md
    ]  # fmt: skip
    header = ("T (K)", "atoms", "NVT steps", "stable", "min distance (Å)",
              "NVE drift (meV/atom/ps)", "γ max", "γ mean")  # fmt: skip
    return _table(header, rows) if rows else ""


def _section(title: str, *parts: str) -> str:
    body = "".join(p for p in parts if p)
    return f"<h2>{html.escape(title)}</h2>{body}" if body else ""


def _img(fig: Figure | None) -> str:
    return f'<img src="{figure_png(fig)}">' if fig is not None else ""


def _suite_sections(suite: SuiteResult) -> list[str]:
    plots: list[tuple[str, Callable[[SuiteResult], Figure | None], Callable[[SuiteResult], str]]]
    plots = [
        ("Phonons", plot_phonons, lambda s: ""),
        ("Equation of state", plot_eos, lambda s: ""),
        ("Elastic constants", lambda s: None, elastic_table),
        ("Parity", plot_parity, lambda s: _table(
            ("subset", "n", "E RMSE (meV/atom)", "F RMSE (eV/Å)", "σ RMSE (GPa)"),
            [(k, p.n_structures, p.energy_rmse_mev, p.force_rmse, p.stress_rmse_gpa)
             for k, p in s.parity.items()]) if s.parity else ""),
        ("MD stability", plot_gamma, md_table),
    ]  # fmt: skip
    return [_section(title, _img(plot(suite)), table(suite)) for title, plot, table in plots]


def render_report(
    title: str,
    checks: Sequence[Check],
    suite: SuiteResult | None,
    provenance: Mapping[str, Any],
    history: Sequence[HistoryPoint] = (),
    iterations: Sequence[IterationPoint] = (),
    stop_reason: str | None = None,
    extra: Sequence[str] = (),
) -> str:
    """The whole report as one HTML string; ``extra`` sections follow the checks table."""
    passed = all(c.passed for c in checks)
    verdict = f'<p class="{"PASS" if passed else "FAIL"}"><b>{"PASS" if passed else "FAIL"}</b>'
    verdict += f": {sum(c.passed for c in checks)}/{len(checks)} checks pass</p>"
    sections = [_section("Checks", checks_table(checks)), *extra]
    sections += _suite_sections(suite) if suite is not None else []
    sections.append(_section("Error history", _img(plot_history(history))))
    sections.append(iterations_section(iterations, stop_reason))
    prov = [(k, v if isinstance(v, str | int | float) else json.dumps(v, default=str))
            for k, v in provenance.items()]  # fmt: skip
    sections.append(_section("Provenance", _table(("item", "value"), prov)))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{verdict}"
        + "".join(sections)
        + "</body></html>"
    )


def write_report(path: str | Path, title: str, checks: Sequence[Check],
                 suite: SuiteResult | None, provenance: Mapping[str, Any],
                 history: Sequence[HistoryPoint] = (),
                 iterations: Sequence[IterationPoint] = (),
                 stop_reason: str | None = None, extra: Sequence[str] = ()) -> Path:  # fmt: skip
    """Write :func:`render_report` to ``path`` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_report(title, checks, suite, provenance, history, iterations, stop_reason,
                         extra)  # fmt: skip
    path.write_text(page, encoding="utf-8")
    return path
