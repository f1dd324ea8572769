"""Inject each pw.x failure mode N times and count how often the handlers recover.

    .venv/bin/python benchmarks/dft_healing.py [--n 5] [--seed 0] [--workdir DIR]

Each trial rattles its cell with its own seed (so trials are not identical runs),
makes pw.x fail for real with the crafted input of that mode (the recipes of
tests/test_dft_healing.py, imported from there) and runs :func:`run_with_handlers`.
A trial counts as *injected* when the first run showed the failure (the expected
handler fired) and as *recovered* when the calculation ended successful. Prints a
Markdown table for docs/dft.md. Runs pw.x serially; about 1-3 s per trial.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from pyacemaker.dft import run_with_handlers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# one set of failure recipes, shared with the tests that prove each handler
from tests.test_dft_healing import FAILURES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="trials per failure mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="dft_healing_"))
    print("| failure injected | handler | injected | recovered | mean runs | mean time (s) |")
    print("|---|---|---|---|---|---|")
    totals = [0, 0]
    for name, (case, handler) in FAILURES.items():
        injected = recovered = runs = 0
        seconds = 0.0
        for trial in range(args.n):
            folder = root / name.replace(" ", "_").replace("/", "") / f"trial_{trial}"
            folder.mkdir(parents=True, exist_ok=True)
            atoms, settings = case(args.seed + trial, folder)
            start = time.perf_counter()
            task, attempts = run_with_handlers(atoms, settings, folder / "calc")
            seconds += time.perf_counter() - start
            first = attempts[0].correction
            if first is None or first.handler != handler:
                continue
            injected += 1
            recovered += task.state == "successful"
            runs += len(attempts)
        totals[0] += injected
        totals[1] += recovered
        mean_runs = runs / injected if injected else float("nan")
        print(
            f"| {name} | {handler} | {injected}/{args.n} | {recovered}/{injected} | "
            f"{mean_runs:.1f} | {seconds / args.n:.1f} |"
        )
    print(f"\nrecovered {totals[1]} of {totals[0]} injected failures; files in {root}")


if __name__ == "__main__":
    main()
