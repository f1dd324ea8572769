"""Which targets a validation met: its checks grouped by the target they judge.

A target is one family of checks (config/targets.py has the thresholds): the held-out
energy and force RMSE, the EOS (a0, B0, B′), the elastic constants (stiffness, moduli,
Born stability), the phonons (band RMSE and no imaginary modes) and MD at the target
temperature (stable, no drift, γ below the halt). A target holds when every one of its
checks passes; a family without checks (a validator switched off) is not listed. The
quality loop (flows/quality.py) maps each failed target to the data that fixes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel

from pyacemaker.validation.checks import Check

TARGETS = ("held-out energy", "held-out force", "eos", "elastic", "phonons", "md")


def _held_out(word: str) -> Callable[[Check], bool]:
    """Held-out (or the loop's fresh held-out) RMSE checks of one quantity."""

    def matches(c: Check) -> bool:
        return c.group in ("held-out", "parity") and "held-out" in c.name and word in c.name

    return matches


_MEMBERS: dict[str, Callable[[Check], bool]] = {
    "held-out energy": _held_out("energy RMSE"),
    "held-out force": _held_out("force RMSE"),
    "eos": lambda c: c.group == "eos",
    "elastic": lambda c: c.group == "elastic",
    "phonons": lambda c: c.group == "phonons",
    "md": lambda c: c.group == "md",
}


class TargetStatus(BaseModel):
    """One target: its checks (value, threshold) and whether all of them pass."""

    target: str
    held: bool
    checks: list[Check]

    def line(self) -> str:
        """``[HELD] eos: EOS B0 relative error 0.031 (target 0.05); ...``."""
        parts = [
            f"{c.name} {c.value:.4g} (target {c.threshold:.4g})" if not c.reason else c.reason
            for c in self.checks
        ]
        return f"[{'HELD' if self.held else 'MISSED'}] {self.target}: " + "; ".join(parts)


def target_status(checks: Sequence[Check]) -> list[TargetStatus]:
    """Every target that has checks, with whether it held."""
    out = []
    for target in TARGETS:
        members = [c for c in checks if _MEMBERS[target](c)]
        if members:
            out.append(
                TargetStatus(target=target, held=all(c.passed for c in members), checks=members)
            )
    return out


def missed(checks: Sequence[Check]) -> list[str]:
    """Names of the targets that did not hold."""
    return [s.target for s in target_status(checks) if not s.held]
