"""Each target's metric against the DFT calls spent, round by round, from a quality-loop run.

Usage: python benchmarks/quality_loop.py RUN_DIR

RUN_DIR is a finished run with ``targets.loop: true`` (its ``metrics.json`` has the
``quality`` record of flows/quality.py). Prints a markdown table: one row per check the
loop judged on its fresh cells, one column per round (round r judges the potential after
round r - 1's update), headed by the DFT calls spent when that round judged: every call
of the run before the loop (its ``dft_ledger``, without the loop's own lines), the fresh
judge cells, and the targeted cells of the rounds before. docs/quickstart.md quotes it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LOOP_PURPOSES = ("targeted", "targets judge (fresh)")  # the loop's own ledger lines


def calls_before_loop(metrics: dict[str, Any]) -> int:
    """DFT calls of the run outside the loop (training, held-out, EOS, references, ...)."""
    lines = (metrics.get("dft_ledger") or {}).get("lines", [])
    return sum(int(line["calls"]) for line in lines if line["purpose"] not in LOOP_PURPOSES)


def table(metrics: dict[str, Any]) -> str:
    """The markdown table of every judged check against the DFT calls spent."""
    quality = metrics["quality"]
    rounds = quality["rounds"]
    spent, columns = calls_before_loop(metrics) + int(quality.get("judge_calls", 0)), []
    for r in rounds:
        columns.append(spent)
        spent += int(r["n_dft"])
    names: list[str] = []
    values: dict[tuple[str, int], str] = {}
    for i, r in enumerate(rounds):
        for target in r["targets"]:
            for c in target["checks"]:
                name = f"{c['name']} (target {c['threshold']:.4g})"
                if name not in names:
                    names.append(name)
                mark = "" if c["passed"] else " ✗"
                values[(name, i)] = f"{c['value']:.4g}{mark}"
    head = "| check | " + " | ".join(
        f"round {r['round']}: {n} DFT" for r, n in zip(rounds, columns, strict=True)
    )
    rule = "|---|" + "---|" * len(rounds)
    rows = [
        f"| {name} | " + " | ".join(values.get((name, i), "–") for i in range(len(rounds))) + " |"
        for name in names
    ]
    added = "| added (update) | " + " | ".join(
        (", ".join(f"{k} {v}" for k, v in r["added"].items()) or "—")
        + f" ({ {True: 'accepted', False: 'rejected', None: 'no update'}[r['accepted']] })"
        for r in rounds
    ) + " |"  # fmt: skip
    return "\n".join([head + " |", rule, *rows, added, "", f"stop: {quality['stop_reason']}"])


def main(argv: list[str]) -> None:
    """Print the table of one run."""
    if len(argv) != 1:
        sys.exit(__doc__)
    print(table(json.loads((Path(argv[0]) / "metrics.json").read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
