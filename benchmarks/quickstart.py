"""Run the quickstart (or read a finished run) and write its numbers to docs/quickstart.md.

Usage:
    python benchmarks/quickstart.py            # runs workflows/quickstart/si.yaml, then writes
    python benchmarks/quickstart.py --existing runs/si-quickstart   # only writes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "workflows" / "quickstart" / "si.yaml"


def render(run_dir: Path) -> str:
    m = json.loads((run_dir / "metrics.json").read_text())
    v = m["validation"]
    delivery = v.get("delivery") or {}
    rows = "\n".join(
        f"| {name}{' (delivered)' if name == delivery.get('delivered') else ''} | "
        f"{e['energy_rmse_mev']:.2f} | {e['force_rmse']:.4f} | {e['n']} |"
        for name, e in v["test_errors"].items()
    )
    checks = "\n".join(
        f"| {c['name']} | {c['value']:.4g} | {c['threshold']:.4g} | "
        f"{'PASS' if c['passed'] else 'FAIL'} |"
        for c in v["checks"]
    )
    ledger = m.get("dft_ledger") or {"lines": []}
    calls = "\n".join(
        f"| {line['purpose']} | {line['calls']} | {line['failed']} | "
        f"{line['seconds']:.0f} |" if line["seconds"] is not None else
        f"| {line['purpose']} | {line['calls']} | {line['failed']} | – |"
        for line in ledger["lines"]
    )  # fmt: skip
    targets = ", ".join(
        f"{t['target']} {'held' if t['held'] else 'MISSED'}" for t in m.get("targets", [])
    )
    stages = ", ".join(f"{k} {t:.0f} s" for k, t in m["stage_seconds"].items())
    dft, ace = v["eos_dft"] or {}, v["eos_ace"] or {}
    verdict = "PASS" if v["passed"] else "FAIL"
    return f"""# Quickstart: measured numbers

Measured by `python benchmarks/quickstart.py` ({datetime.now(UTC):%Y-%m-%d}, {platform.machine()},
{os.cpu_count()} cores, no GPU) on `workflows/quickstart/si.yaml`: silicon, diamond, pw.x 6.7 with
`Si.pbe-rrkj.UPF` (30 Ry), k-spacing 0.4 Å⁻¹, CHGNet screen, MACE teacher trained from
scratch, LAMMPS exploration. Verdict: **{verdict}**; targets: {targets}.

| quantity | value |
|---|---|
| total wall time | {m['wall_time_total_s'] / 60:.1f} min |
| DFT calls, all purposes | {m['dft_calls']} ({m['dft_failed']} failed) |
| stage wall times | {stages} |

DFT ledger (pw.x calls by purpose, pw.x's own CPU seconds):

| purpose | calls | failed | seconds |
|---|---|---|---|
{calls}

Delivered: `{delivery.get('delivered', 'final_ace')}` — {delivery.get('reason', '')}.

Held-out DFT errors (structures no fit has seen, generated with a different seed):

| model | energy RMSE (meV/atom) | force RMSE (eV/Å) | structures |
|---|---|---|---|
{rows}

`final_ace`: the teacher route (base fit on teacher labels, delta-corrected on DFT, updated
by exploration); `direct_ace`: ACE fitted directly on the DFT training cells; `refit_ace`:
ACE fitted directly on every DFT label of the run (training cells plus exploration
cut-outs); `teacher_only_ace`: the base fit; `teacher`: the MACE teacher.

Equation of state of the primitive cell (Birch–Murnaghan), delivered ACE vs the run's DFT:

| | a0 (Å) | B0 (GPa) |
|---|---|---|
| DFT (pw.x) | {dft.get('a0', float('nan')):.4f} | {dft.get('b0_gpa', float('nan')):.1f} |
| delivered ACE | {ace.get('a0', float('nan')):.4f} | {ace.get('b0_gpa', float('nan')):.1f} |

(PBE all-electron reference: a0 5.4695 Å, B0 88.5 GPa; a low-cutoff norm-conserving
calculation differs by a few per cent, so the ACE is judged against the pipeline's DFT.)

{physics(v.get("suite"))}
| check | value | threshold | result |
|---|---|---|---|
{checks}

The thresholds are the seed documents' targets (docs/validation.md).
"""


def physics(suite: dict | None) -> str:
    """Elastic constants and phonons of ACE vs the run's DFT (validation suite), if run."""
    if not suite or not suite.get("elastic_ref") or not suite.get("phonons_ref"):
        return ""
    rows = []
    for label, (i, j) in {"C11": (0, 0), "C12": (0, 1), "C44": (3, 3)}.items():
        ace, ref = suite["elastic_ace"]["c_gpa"][i][j], suite["elastic_ref"]["c_gpa"][i][j]
        rows.append(f"| {label} (GPa, clamped ions) | {ace:.1f} | {ref:.1f} |")
    gamma_ace = max(suite["phonons_ace"]["frequencies"][0])
    gamma_ref = max(suite["phonons_ref"]["frequencies"][0])
    rows.append(f"| Γ optical phonon (THz) | {gamma_ace:.2f} | {gamma_ref:.2f} |")
    rows.append(f"| phonon band RMSE (THz) | {suite['phonon_rmse_thz']:.3f} | — |")
    table = "\n".join(rows)
    return f"""Validation suite (same cells, ACE vs the pipeline's pw.x; full report in
`runs/si-quickstart/report.html`):

| quantity | delivered ACE | DFT |
|---|---|---|
{table}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--existing", type=Path, help="a finished run folder to report on")
    args = parser.parse_args()
    run_dir = args.existing
    if run_dir is None:
        cmd = [sys.executable, "-m", "pyacemaker.cli", "run", str(CONFIG)]
        done = subprocess.run(cmd, check=False)
        if done.returncode not in (0, 3):  # 3: the run completed with a FAIL verdict
            return done.returncode
        run_dir = ROOT / "runs" / "si-quickstart"
    out = ROOT / "docs" / "quickstart.md"
    out.write_text(render(run_dir))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
