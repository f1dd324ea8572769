"""Command line: run, submit, validate, validate-potential, status, dashboard, fw-config, doctor.

``launchpad-server`` starts a local MongoDB-compatible launchpad for the cluster commands.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import Any

from pyacemaker.config.errors import ConfigError

LOG_FORMAT = "%(asctime)s %(message)s"
# `pyacemaker run` exit codes (README, docs/validation.md): 0 completed and every check
# passed; 1 refused (bad config) or a stage failed, e.g. a fit that does not fit;
# 3 completed, but the validation verdict is FAIL (the potential is delivered anyway).
EXIT_FAILED, EXIT_VERDICT_FAIL = 1, 3
RUN_EPILOG = (
    "exit status: 0 = completed, verdict PASS; 1 = bad config or a stage failed "
    "(pyacemaker status shows which); 3 = completed, verdict FAIL (see summary.txt)"
)


def _problems(lines: list[str]) -> int:
    """Print each problem as an ``error:`` line; the exit code of a refused command."""
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_FAILED


def _validate_reaction(args: argparse.Namespace) -> int:
    from pyacemaker.config.reaction import load_reaction_config, reaction_oracles, read_molecule

    notes: list[str] = []
    try:
        cfg = load_reaction_config(args.config)
        reaction_oracles(cfg, notes)
    except ConfigError as exc:
        return _problems(exc.problems)
    r = cfg.reaction
    formula = read_molecule(r.reactant).get_chemical_formula()
    print(f"OK: {args.config} is a valid reaction ({formula}, charge {r.charge}, "
          f"multiplicity {r.multiplicity}; outputs in {cfg.folder})")  # fmt: skip
    print(f"  - oracle: {cfg.oracle.engine}")
    for note in notes:
        print(f"  - {note}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    # Not through pyacemaker.runner: that imports every stage (seconds); validate stays fast.
    from pyacemaker.config.errors import load_config
    from pyacemaker.config.reaction import is_reaction_config

    if is_reaction_config(args.config):
        return _validate_reaction(args)
    try:
        config = load_config(args.config)
        from pyacemaker.config.plan import expand  # after the schema checks: 1 s of imports

        plan = expand(config)
    except ConfigError as exc:
        return _problems(exc.problems)
    print(f"OK: {args.config} is valid ({', '.join(plan.elements)}; outputs in {plan.output_dir})")
    for phase in plan.phases:
        print(f"  phase {phase.name}: {phase.formula}, {phase.n_atoms} atoms, "
              f"{phase.volume_per_atom} Å^3/atom; {phase.n_candidates} candidates, "
              f"{phase.n_test} held-out")  # fmt: skip
    for note in plan.notes:
        print(f"  - {note}")
    return 0


def _run_reaction(args: argparse.Namespace) -> int:
    """A config with a ``reaction:`` section: the molecular chain (docs/molecules.md)."""
    from pyacemaker.runner import run_reaction

    try:
        summary = run_reaction(args.config, args.store)
    except ConfigError as exc:
        return _problems(exc.problems)
    except RuntimeError as exc:
        return _problems(str(exc).splitlines())
    with open(summary.summary_file) as fh:
        print(fh.read())
    return 0 if summary.validation.passed else EXIT_VERDICT_FAIL


def _run(args: argparse.Namespace) -> int:
    from pyacemaker.config.reaction import is_reaction_config
    from pyacemaker.runner import run

    if is_reaction_config(args.config):
        return _run_reaction(args)
    try:
        summary = run(args.config, args.store)
    except ConfigError as exc:
        return _problems(exc.problems)
    except RuntimeError as exc:  # a failed stage: its name, the engine's lines, the folder
        return _problems(str(exc).splitlines())
    with open(summary.summary_file) as fh:
        print(fh.read())
    return 0 if summary.validation.passed else EXIT_VERDICT_FAIL


def _submit(args: argparse.Namespace) -> int:
    from pymongo.errors import PyMongoError

    from pyacemaker.cluster.submit import submit_flow
    from pyacemaker.config.reaction import is_reaction_config
    from pyacemaker.flows.distill import DistillationMaker
    from pyacemaker.runner import checked_plan

    if is_reaction_config(args.config):
        return _problems([f"reaction: a section of {args.config}: the molecular chain runs "
                          f"on this machine only: use `pyacemaker run {args.config}`"])  # fmt: skip
    try:
        plan = checked_plan(args.config)
    except ConfigError as exc:
        return _problems(exc.problems)
    plan.write(plan.output_dir / "plan.yaml")
    try:
        sub = submit_flow(DistillationMaker.from_plan(plan).make(plan.output_dir), args.launchpad)
    except PyMongoError as exc:
        where = args.launchpad or "$LAUNCHPAD_FILE / FW_config.yaml"
        return _problems([f"cannot reach the launchpad of {where}: {exc}"])
    print(f"submitted {sub.name}: {len(sub.fw_ids)} fireworks, run {sub.run_id}")
    print("start workers with `rlaunch rapidfire` or `qlaunch rapidfire` (docs/scale-out.md)")
    return 0


def _fw_config(args: argparse.Namespace) -> int:
    from pyacemaker.cluster.config import ServerSettings, write_config_files

    server = ServerSettings(host=args.host, port=args.port, database=args.database)
    for name, path in write_config_files(args.folder, server, args.partition).items():
        print(f"wrote {name}: {path}")
    return 0


def _launchpad_server(args: argparse.Namespace) -> int:
    from pyacemaker.cluster.launchpad_server import serve

    return serve(["--host", args.host, "--port", str(args.port), "--storage-path", args.storage])


def _status(args: argparse.Namespace) -> int:
    from pyacemaker.store import RunBook, job_state_table, marked_run

    if args.launchpad:
        from pyacemaker.cluster.config import load_launchpad
        from pyacemaker.cluster.status import launchpad_state_table

        lines = launchpad_state_table(load_launchpad(args.launchpad))
        print("\n".join(lines) if lines else "no workflows on this launchpad")
        return 0
    run_id, store = None, args.store
    if args.run_dir:  # the store its run.json names, unless --store says where it moved
        try:
            run_id, marked = marked_run(args.run_dir)
        except ValueError as exc:
            return _problems([f"run_dir: {exc}"])
        store = args.store or marked
    runs = [r for r in RunBook(store).all() if run_id in (None, r.run_id)]
    if not runs:
        print("no runs recorded in this store")
    for line in job_state_table(runs, store):
        print(line)
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from pymongo.errors import PyMongoError

    from pyacemaker.dashboard.app import serve
    from pyacemaker.dashboard.source import open_source

    try:
        source = open_source(args.store, args.launchpad)
    except FileNotFoundError as exc:
        return _problems([str(exc)])
    except PyMongoError as exc:
        return _problems([f"--launchpad: {args.launchpad}: cannot reach its MongoDB: {exc}"])
    serve(source, args.host, args.port, args.interval)
    return 0


def _doctor(_args: argparse.Namespace) -> int:
    from pyacemaker.doctor import run_doctor

    return 0 if run_doctor() else 1


def _validate_potential(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pyacemaker.validation.standalone import StandaloneRequest, validate_potential

    data = {}
    for item in args.data or []:
        name, sep, path = item.partition("=")
        if not sep:
            print(
                f"error: --data '{item}' is not NAME=FILE (e.g. held-out=test.xyz)", file=sys.stderr
            )
            return 1
        data[name] = Path(path)
    request = StandaloneRequest(
        potential=Path(args.potential),
        config=Path(args.config) if args.config else None,
        structure=args.structure,
        crystal=args.crystal,
        a=args.a,
        reference=args.reference,
        data=data,
        output=Path(args.output) if args.output else None,
    )
    try:
        suite, report = validate_potential(request)
    except (ConfigError, FileNotFoundError) as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        return 1
    for c in suite.checks:
        verdict = "PASS" if c.passed else "FAIL"
        measured = c.reason or f"{c.value:.4g} (threshold {c.threshold:.4g})"
        print(f"[{verdict}] {c.name}: {measured}")
    passed = all(c.passed for c in suite.checks)
    print(f"{'PASS' if passed else 'FAIL'}; report: {report}")
    return 0 if passed else 1


def _add_validate_potential(sub: Any) -> None:
    p = sub.add_parser(
        "validate-potential",
        help="phonons, elastic constants, EOS, MD stability and parity of an ACE potential; "
        "writes report.html",
    )
    p.add_argument("potential", help=".yace, .yaml (with .asi for γ) or a potential/ folder")
    p.add_argument("--config", help="run config: structure, reference oracle and thresholds")
    p.add_argument("--structure", help="formula (with --crystal, --a) or structure file")
    p.add_argument("--crystal", help="prototype lattice for --structure, e.g. diamond")
    p.add_argument("--a", type=float, help="lattice constant in Å for --structure")
    p.add_argument(
        "--reference",
        help="'none', 'qe' (pw.x) or an ASE calculator class such as ase.calculators.emt.EMT "
        "(default: the config's oracle, or none without --config)",
    )
    p.add_argument("--data", action="append", help="NAME=FILE labelled extxyz for parity (repeat)")
    p.add_argument("--output", help="folder for report.html (default: <potential dir>/validation)")
    p.set_defaults(func=_validate_potential)


def _add_cluster_commands(sub: Any) -> None:
    p = sub.add_parser("submit", help="add the run's flow to a FireWorks launchpad")
    p.add_argument("config", help="YAML config file")
    p.add_argument("--launchpad", help="my_launchpad.yaml (default: $LAUNCHPAD_FILE, FW_config)")
    p.set_defaults(func=_submit)
    p = sub.add_parser("status", help="list runs (or launchpad workflows) and each stage's state")
    p.add_argument("run_dir", nargs="?", help="a run's output_dir: only that run (its run.json)")
    p.add_argument("--store", help="embedded store folder ($PYACEMAKER_STORE)")
    p.add_argument("--launchpad", help="my_launchpad.yaml: show its workflows and fireworks")
    p.set_defaults(func=_status)
    p = sub.add_parser("dashboard", help="live read-only web view of runs (127.0.0.1 by default)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--store", help="embedded store folder ($PYACEMAKER_STORE)")
    where.add_argument("--launchpad", help="my_launchpad.yaml: runs submitted to MongoDB")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument("--interval", type=float, default=3.0, help="seconds between refreshes")
    p.set_defaults(func=_dashboard)
    p = sub.add_parser("fw-config", help="write FireWorks/jobflow config files for a MongoDB")
    p.add_argument("folder", help="where to write them (give it to rlaunch/qlaunch with -c)")
    p.add_argument("--host", default="localhost", help="MongoDB host")
    p.add_argument("--port", type=int, default=27017, help="MongoDB port")
    p.add_argument("--database", default="pyacemaker", help="database for fireworks and outputs")
    p.add_argument("--partition", help="Slurm partition for my_qadapter.yaml")
    p.set_defaults(func=_fw_config)
    p = sub.add_parser(
        "launchpad-server",
        help="a local MongoDB-compatible launchpad (secantusdb, safe for concurrent workers)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=27017, help="port (default 27017)")
    p.add_argument("--storage", default="secantus-data", help="database folder (kept)")
    p.set_defaults(func=_launchpad_server)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so tests and docs can inspect it)."""
    parser = argparse.ArgumentParser(prog="pyacemaker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("run", _run, "run the pipeline for a config on this machine"),
        ("validate", _validate, "check a config and print the expanded plan's choices"),
    ):
        p = sub.add_parser(name, help=help_text, epilog=RUN_EPILOG if name == "run" else None)
        p.add_argument("config", help="YAML config file")
        p.set_defaults(func=func)
    sub.choices["run"].add_argument("--store", help="embedded store folder ($PYACEMAKER_STORE)")
    _add_validate_potential(sub)
    _add_cluster_commands(sub)
    sub.add_parser("doctor", help="run each engine for real and report fixes").set_defaults(
        func=_doctor
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pyacemaker`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    for noisy in ("jobflow", "maggma", "mace"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Library deprecation chatter (jobflow's cd, mace's torch.load) is not the user's to fix.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.*")
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
