"""Pass/fail criteria: one measured value against one threshold."""

from __future__ import annotations

from pydantic import BaseModel


class Check(BaseModel):
    """One pass/fail criterion with its measured value.

    ``group`` says which validator produced it (``held-out``, ``eos``, ``phonons``...),
    so the report can order its table; it is optional for documents written before.
    """

    name: str
    value: float
    threshold: float
    passed: bool
    group: str = ""
    reason: str = ""  # why a validator could not measure (then value is NaN and it fails)


def at_most(name: str, value: float, threshold: float, group: str) -> Check:
    """Passes when ``value`` ≤ ``threshold`` (NaN fails)."""
    return Check(name=name, value=value, threshold=threshold, passed=bool(value <= threshold),
                 group=group)  # fmt: skip


def at_least(name: str, value: float, threshold: float, group: str) -> Check:
    """Passes when ``value`` ≥ ``threshold`` (NaN fails)."""
    return Check(name=name, value=value, threshold=threshold, passed=bool(value >= threshold),
                 group=group)  # fmt: skip


def relative_error(value: float, reference: float) -> float:
    """|value - reference| / |reference| (inf for a zero reference)."""
    return abs(value - reference) / abs(reference) if reference else float("inf")


def could_not_run(name: str, group: str, exc: BaseException) -> Check:
    """A FAIL check for a validator that raised: a bad potential must not crash the report."""
    reason = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
    nan = float("nan")
    return Check(name=name, value=nan, threshold=nan, passed=False, group=group, reason=reason)
