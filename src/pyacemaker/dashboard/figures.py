"""Plotly figures of a run: stage timings, DFT ledger, iterations, γ, committee, parity.

Each function takes plain rows or series (from :mod:`pyacemaker.dashboard.extract`)
and returns a ``go.Figure``; an empty input gives a figure that says so, so a page
keeps its layout while a run has not reached a stage yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pyacemaker.dashboard.source import Stage

STATE_COLOURS = {
    "COMPLETED": "#2ca02c", "RUNNING": "#1f77b4", "RESERVED": "#1f77b4", "READY": "#9ecae1",
    "WAITING": "#c7c7c7", "FAILED": "#d62728", "FIZZLED": "#d62728", "NOT RUN": "#7f7f7f",
}  # fmt: skip
ROUTE_COLOURS = {"teacher": "#2ca02c", "uncertain": "#ff7f0e", "dft": "#d62728"}
_MARGIN = {"l": 60, "r": 20, "t": 40, "b": 40}


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=_MARGIN, template="plotly_white")
    return fig


def empty(title: str, why: str) -> go.Figure:
    """A figure with only a note (stage not reached, nothing recorded)."""
    fig = go.Figure()
    fig.add_annotation(text=why, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=200)


def stage_times(stages: Sequence[Stage]) -> go.Figure:
    """Wall time per stage, coloured by state (the running stage: time so far)."""
    names = [s.name for s in stages]
    fig = go.Figure(go.Bar(
        x=[s.seconds or 0.0 for s in stages], y=names, orientation="h",
        marker_color=[STATE_COLOURS.get(s.state, "#bbbbbb") for s in stages],
        text=[s.state for s in stages], textposition="auto",
        hovertemplate="%{y}: %{x:.1f} s<extra>%{text}</extra>",
    ))  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="wall time (s)")
    return _layout(fig, "Stages", height=max(240, 26 * len(stages) + 80))


def ledger(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """DFT calls by purpose, successful and failed stacked."""
    if not rows:
        return empty("DFT calls", "no DFT stage has finished yet")
    purposes = [str(r.get("purpose")) for r in rows]
    failed = [int(r.get("failed") or 0) for r in rows]
    ok = [int(r.get("calls") or 0) - f for r, f in zip(rows, failed, strict=True)]
    fig = go.Figure([
        go.Bar(x=purposes, y=ok, name="successful", marker_color="#2ca02c"),
        go.Bar(x=purposes, y=failed, name="failed", marker_color="#d62728"),
    ])  # fmt: skip
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="calls")
    return _layout(fig, f"DFT calls by purpose ({sum(ok) + sum(failed)} in total)")


def _pair(rows: Sequence[dict[str, Any]], key: str, field: str) -> list[float | None]:
    return [(r.get(key) or {}).get(field) for r in rows]


def iterations(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """Per iteration: held-out and training errors, labelled-set size and DFT calls."""
    if not rows:
        return empty("Active learning", "no exploration iteration recorded yet")
    x = [int(r["iteration"]) for r in rows]
    fig = make_subplots(rows=1, cols=3, subplot_titles=(
        "force RMSE (eV/Å)", "energy RMSE (meV/atom)", "labelled structures / DFT calls"))
    for key, dash in (("test", "solid"), ("train", "dot")):
        for col, field in ((1, "force_rmse"), (2, "energy_rmse_mev")):
            fig.add_trace(go.Scatter(
                x=x, y=_pair(rows, key, field), mode="lines+markers", name=f"{key} {field}",
                line={"dash": dash}, legendgroup=key, showlegend=col == 1,
            ), row=1, col=col)  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=[r["n_labelled"] for r in rows], mode="lines+markers",
                             name="labelled structures"), row=1, col=3)  # fmt: skip
    fig.add_trace(go.Bar(x=x, y=np.cumsum([r["n_dft"] for r in rows]).tolist(),
                         name="DFT calls (cumulative)", opacity=0.5), row=1, col=3)  # fmt: skip
    fig.update_xaxes(title="iteration", dtick=1)
    _layout(fig, f"Active learning: {len(rows)} iteration(s)", height=400)
    fig.update_layout(legend={"orientation": "h", "y": -0.25}, margin={**_MARGIN, "t": 80})
    return fig


def _threshold_lines(fig: go.Figure, thresholds: dict[str, float | None]) -> None:
    """Dashed lines at the γ thresholds, labelled (annotations on a log axis take log10)."""
    for name, value in thresholds.items():
        if value is not None and value > 0:
            fig.add_hline(y=float(value), line_dash="dash", line_color="grey")
            fig.add_annotation(
                x=0, xref="paper", y=float(np.log10(value)), showarrow=False,
                text=f"{name} {value:g}", xanchor="left", yanchor="bottom",
            )  # fmt: skip


def gamma_traces(runs: Sequence[dict[str, Any]], thresholds: dict[str, float | None]) -> go.Figure:
    """Maximum γ at every check of every exploration run over MD steps; halts marked."""
    if not runs:
        return empty("Exploration γ", "no exploration MD run recorded yet")
    fig = go.Figure()
    for run in runs:
        fig.add_trace(go.Scatter(x=run["check_steps"], y=run["max_gamma"], mode="lines",
                                 name=run["label"]))  # fmt: skip
    halts = [r for r in runs if r.get("halted") and r["max_gamma"]]
    if halts:
        fig.add_trace(go.Scatter(
            x=[r["check_steps"][-1] for r in halts], y=[r["max_gamma"][-1] for r in halts],
            mode="markers", marker={"symbol": "x", "size": 12, "color": "#d62728"}, name="halt",
        ))  # fmt: skip
    _threshold_lines(fig, thresholds)
    fig.update_yaxes(title="max γ", type="log")
    fig.update_xaxes(title="MD step")
    return _layout(fig, f"Exploration γ: {len(runs)} run(s), {len(halts)} halt(s)", height=360)


def gamma_histogram(runs: Sequence[dict[str, Any]]) -> go.Figure:
    """Distribution of the maximum γ per check, one histogram per exploration run."""
    if not runs:
        return empty("γ distribution", "no exploration MD run recorded yet")
    fig = go.Figure([
        go.Histogram(x=np.log10(np.maximum(r["max_gamma"], 1e-6)), name=r["label"], opacity=0.6)
        for r in runs
    ])  # fmt: skip
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="log10 max γ")
    fig.update_yaxes(title="checks")
    return _layout(fig, "γ distribution")


def committee(pool: dict[str, Any] | None) -> go.Figure:
    """Histogram of the committee's force deviation over the pool, by route; thresholds."""
    if not pool or not pool["deviation"]:
        return empty("Committee uncertainty", "no tiered labelling (committee) in this run yet")
    deviation, route = np.asarray(pool["deviation"]), np.asarray(pool["route"])
    fig = go.Figure([
        go.Histogram(x=deviation[route == r], name=f"{r} ({pool['routes'].get(r, 0)})",
                     marker_color=c, opacity=0.75)
        for r, c in ROUTE_COLOURS.items() if np.any(route == r)
    ])  # fmt: skip
    fig.update_layout(barmode="stack")
    for name in ("uncertainty_threshold", "threshold_call_dft"):
        if pool.get(name) is not None:
            fig.add_vline(x=float(pool[name]), line_dash="dash", line_color="grey",
                          annotation_text=name)  # fmt: skip
    fig.update_xaxes(title="committee force deviation σ (eV/Å)")
    fig.update_yaxes(title="pool structures")
    routed = ", ".join(f"{k} {v}" for k, v in pool["routes"].items())
    return _layout(fig, f"Committee uncertainty of the pool (routing: {routed})")


def parity(data: dict[str, dict[str, np.ndarray]]) -> go.Figure:
    """Predicted against reference energies and force components, per subset."""
    if not data:
        return empty("Parity", "validation has not run yet")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("energy (eV/atom)", "forces (eV/Å)"))
    for name, d in data.items():
        for col, (ref, pred) in enumerate((("e_ref", "e_pred"), ("f_ref", "f_pred")), start=1):
            fig.add_trace(go.Scatter(
                x=np.ravel(d[ref]), y=np.ravel(d[pred]), mode="markers", name=name,
                marker={"size": 5 if col == 1 else 3}, legendgroup=name, showlegend=col == 1,
            ), row=1, col=col)  # fmt: skip
            low = float(min(np.min(d[ref]), np.min(d[pred])))
            high = float(max(np.max(d[ref]), np.max(d[pred])))
            fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines",
                                     line={"color": "grey", "width": 1}, showlegend=False),
                          row=1, col=col)  # fmt: skip
    fig.update_xaxes(title="reference")
    fig.update_yaxes(title="ACE")
    return _layout(fig, "Parity on the validation sets", height=380)
