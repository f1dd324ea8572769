"""The dash application: a run list and, for the selected run, every panel, polled live.

A ``dcc.Interval`` re-reads the selected run every few seconds; when the run has moved
on, the page callback returns the same components with the same ids, so React only
patches what changed: figures update in place and the page is never reloaded. The
server binds to 127.0.0.1 unless told otherwise and only reads; files are served only
from the run's own list of deliverables (potential files, report, metrics), addressed
by position, never by path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

from dash import Dash, Input, Output, State, dcc, html, no_update
from flask import abort, send_file
from flask.typing import ResponseReturnValue

from pyacemaker.dashboard import extract, figures
from pyacemaker.dashboard.source import RunSource, RunView

logger = logging.getLogger("pyacemaker")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
_CSS = {"fontFamily": "sans-serif", "margin": "1.5em", "maxWidth": "1300px"}
_CELL = {"border": "1px solid #ccc", "padding": "2px 8px", "textAlign": "left"}
_GRAPH_CONFIG: Any = {"displaylogo": False, "responsive": True}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], table_id: str) -> html.Table:
    """An HTML table of ``columns`` of ``rows``."""
    head = html.Tr([html.Th(c, style=_CELL) for c in columns])
    body = [html.Tr([html.Td(_fmt(r.get(c)), style=_CELL) for c in columns]) for r in rows]
    return html.Table([head, *body], id=table_id, style={"borderCollapse": "collapse"})


def graph(graph_id: str, figure: Any) -> dcc.Graph:
    """A plotly figure with a stable id, so polling updates it in place."""
    return dcc.Graph(id=graph_id, figure=figure, config=_GRAPH_CONFIG)


def section(title: str, *children: Any) -> html.Div:
    """A titled block of the page."""
    return html.Div([html.H2(title), *children], style={"marginTop": "1.5em"})


def _header(view: RunView) -> html.Div:
    reason = extract.stop_reason(view)
    items = [
        f"state {view.state}",
        f"started {view.started:%Y-%m-%d %H:%M:%S} UTC" if view.started else "",
        f"folder {view.output_dir}" if view.output_dir else "",
        f"active learning stopped: {reason}" if reason else "",
    ]
    links = [
        html.A(label, href=f"/files/{view.run_id}/{k}", target="_blank",
               style={"marginRight": "1em"})
        for k, (label, _path) in enumerate(extract.files(view))
    ]  # fmt: skip
    return html.Div([
        html.H2(f"{view.name}", id="run-title"),
        html.P(" · ".join(i for i in items if i), id="run-state"),
        html.P(links or "potential files and report: not written yet", id="run-files"),
    ])  # fmt: skip


def _stages(view: RunView) -> html.Div:
    rows = [{"stage": s.name, "state": s.state, "seconds": s.seconds,
             "finished": f"{s.finished:%H:%M:%S}" if s.finished else None}
            for s in view.stages]  # fmt: skip
    return section(
        "Stages",
        graph("g-stages", figures.stage_times(view.stages)),
        table(rows, ["stage", "state", "seconds", "finished"], "stages-table"),
    )


def _dft(view: RunView) -> html.Div:
    rows = extract.dft_ledger(view)
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["purpose", "calls"]
    failed = extract.failures(view)
    return section(
        "DFT ledger",
        graph("g-ledger", figures.ledger(rows)),
        table(rows, columns, "ledger-table"),
        html.H3(f"Failed or healed calculations ({len(failed)})"),
        table(failed, ["stage", "index", "formula", "state", "error", "healing"], "failures"),
    )


_ITERATION_COLUMNS = ["iteration", "temperature", "start_step", "end_step", "halted", "n_frames",
                      "n_selected", "n_dft", "n_failed", "n_labelled", "test", "train",
                      "accepted", "wall_time_s"]  # fmt: skip


def _errors(pair: dict[str, float] | None) -> str | None:
    """``E 1.04 meV/atom, F 0.0067 eV/Å`` of an error pair."""
    if not pair:
        return None
    return f"E {pair['energy_rmse_mev']:.3g} meV/atom, F {pair['force_rmse']:.3g} eV/Å"


def _learning(view: RunView) -> html.Div:
    rows = extract.iterations(view)
    gamma = [{**r, "test": _errors(r.get("test")), "train": _errors(r.get("train")),
              "gamma": f"max {r['gamma']['max']:.3g}, p95 {r['gamma']['p95']:.3g}"}
             for r in rows]  # fmt: skip
    al = extract.plan(view).get("active_learning") or {}
    thresholds = {k: al.get(k) for k in ("threshold_add_train", "threshold_call_dft",
                                          "threshold_hard")}  # fmt: skip
    runs = extract.md_runs(view)
    return section(
        "Active learning",
        graph("g-iterations", figures.iterations(rows)),
        table(gamma, [*_ITERATION_COLUMNS, "gamma"], "iterations-table"),
        html.Div([
            html.Div(graph("g-gamma", figures.gamma_traces(runs, thresholds)),
                     style={"flex": "3"}),
            html.Div(graph("g-gamma-hist", figures.gamma_histogram(runs)), style={"flex": "2"}),
        ], style={"display": "flex"}),
    )  # fmt: skip


def _validation(view: RunView) -> html.Div:
    doc = extract.validation(view)
    errors = [{"model": k, **v} for k, v in (doc.get("test_errors") or {}).items()]
    checks = [{**c, "result": "PASS" if c.get("passed") else "FAIL"}
              for c in doc.get("checks") or []]  # fmt: skip
    return section(
        "Validation",
        table(errors, ["model", "n", "energy_rmse_mev", "force_rmse"], "errors-table"),
        table(checks, ["group", "name", "threshold", "value", "result"], "checks-table"),
        graph("g-parity", figures.parity(extract.parity(view))),
    )


def render_run(view: RunView) -> list[Any]:
    """Every panel of one run."""
    return [
        _header(view),
        _stages(view),
        _dft(view),
        section("Teacher committee", graph("g-committee", figures.committee(extract.pool(view)))),
        _learning(view),
        _validation(view),
    ]


CLOCK_S = 15.0  # a running run is redrawn at least this often (its stage clock moves)


def fingerprint(view: RunView) -> list[Any]:
    """What changes when a run moves on: states, finish times, iterations, MD runs.

    A running run also changes every ``CLOCK_S`` so its running stage's time moves on.
    """
    stages = [(s.name, s.state, str(s.finished)) for s in view.stages]
    clock = int(time.time() / CLOCK_S) if view.state == "RUNNING" else 0
    md = [len(r["check_steps"]) for r in extract.md_runs(view)]
    return [view.run_id, view.state, stages, len(extract.iterations(view)), md, clock]


def create_app(source: RunSource, interval_s: float = 3.0) -> Dash:
    """The dash app over ``source``, polling every ``interval_s`` seconds."""
    app = Dash(__name__, title="pyacemaker dashboard", update_title="")
    app.layout = html.Div([
        dcc.Location(id="url"),
        html.H1("pyacemaker dashboard"),
        html.P(f"{source.where} · read-only · refreshes every {interval_s:g} s", id="where"),
        dcc.Dropdown(id="run", placeholder="select a run", clearable=False),
        dcc.Interval(id="tick", interval=int(interval_s * 1000)),
        dcc.Store(id="stamp"),
        html.Div(id="content"),
    ], style=_CSS)  # fmt: skip

    @app.callback(
        Output("run", "options"), Output("run", "value"),
        Input("tick", "n_intervals"), State("run", "value"), State("url", "search"),
    )  # fmt: skip
    def _runs(_tick: int | None, current: str | None, search: str | None) -> tuple[Any, Any]:
        runs = source.runs()
        options = [{"label": f"{r.name} [{r.state}] {r.started}", "value": r.run_id}
                   for r in runs]  # fmt: skip
        asked = parse_qs((search or "").lstrip("?")).get("run", [None])[0]
        return options, current or asked or (runs[0].run_id if runs else None)

    @app.callback(Output("stamp", "data"), Input("tick", "n_intervals"), Input("run", "value"),
                  State("stamp", "data"))  # fmt: skip
    def _poll(_tick: int | None, run_id: str | None, last: Any) -> Any:
        """Cheap check every tick; the page is redrawn only when the run has moved on.

        Redrawing on every tick would let a slow redraw (a busy machine) be overtaken by
        the next tick's request forever, and the page would never show anything.
        """
        view = source.view(run_id) if run_id else None
        mark = fingerprint(view) if view is not None else [run_id]
        return no_update if mark == last else mark

    @app.callback(Output("content", "children"), Input("stamp", "data"),
                  State("run", "value"))  # fmt: skip
    def _content(_stamp: Any, run_id: str | None) -> list[Any]:
        if run_id is None:
            return [html.P("no runs in this store yet")]
        view = source.view(run_id)
        if view is None:
            return [html.P(f"run {run_id} is not in {source.where}")]
        return render_run(view)

    def _file(run_id: str, number: int) -> ResponseReturnValue:
        view = source.view(run_id)
        listed = extract.files(view) if view is not None else []
        if not 0 <= number < len(listed):
            abort(404)
        return send_file(listed[number][1])

    app.server.add_url_rule("/files/<run_id>/<int:number>", view_func=_file)

    return app


def serve(source: RunSource, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          interval_s: float = 3.0) -> None:  # fmt: skip
    """Run the dashboard until interrupted."""
    logger.info("dashboard of %s on http://%s:%d (read-only; Ctrl-C stops)", source.where,
                host, port)  # fmt: skip
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per poll otherwise
    # One request at a time: the embedded store's SQLite connections belong to the thread
    # that opened them (a threaded server failed file requests with "SQLite objects created
    # in a thread can only be used in that same thread"); a local read-only view needs no more.
    create_app(source, interval_s).run(host=host, port=port, debug=False, threaded=False)
