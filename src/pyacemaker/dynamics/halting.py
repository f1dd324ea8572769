"""When to collect a frame and when to halt: the dual γ thresholds with smoothing.

Pure policy, no engine: the MD driver feeds it the maximum extrapolation grade γ of
each check and obeys. Thermal noise makes γ of a well-trained potential flicker; a
single-check spike above ``threshold_call_dft`` must not stop a production run (each
halt costs DFT), whereas a run that has truly left the training data keeps γ high.
So the halt fires on the smoothed grade — the *minimum* of the last ``smooth_steps``
checks, i.e. γ stayed above the threshold for that many consecutive checks — while
frames are collected on the raw grade (cheap, and D-optimal selection filters them).
A grade at or above ``threshold_hard`` halts at once: the run is collapsing, and
waiting for the window would only add unphysical frames.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class HaltRule:
    """Dual thresholds on γ; ``smooth_steps=1`` halts on the raw grade."""

    threshold_add_train: float
    threshold_call_dft: float
    smooth_steps: int = 1
    threshold_hard: float | None = None
    _window: deque[float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Check the thresholds are ordered and start with an empty smoothing window."""
        if not 0 < self.threshold_add_train <= self.threshold_call_dft:
            raise ValueError("need 0 < threshold_add_train <= threshold_call_dft")
        if self.threshold_hard is not None and self.threshold_hard < self.threshold_call_dft:
            raise ValueError("threshold_hard must be at least threshold_call_dft")
        if self.smooth_steps < 1:
            raise ValueError("smooth_steps must be at least 1")
        self._window = deque(maxlen=self.smooth_steps)

    def collect(self, gamma: float) -> bool:
        """Tell whether a frame with this maximum γ is worth keeping as a candidate."""
        return gamma >= self.threshold_add_train

    def smoothed(self) -> float:
        """The grade the halt decision uses (0 until the window is full)."""
        full = len(self._window) == self.smooth_steps
        return min(self._window) if full else 0.0

    def update(self, gamma: float) -> bool:
        """Record one check's maximum γ; True when the run must halt for DFT."""
        self._window.append(float(gamma))
        if self.threshold_hard is not None and gamma >= self.threshold_hard:
            return True
        return self.smoothed() >= self.threshold_call_dft

    def reset(self) -> None:
        """Forget the window (after a potential update the old grades mean nothing)."""
        self._window.clear()


def first_halt(rule: HaltRule, trace: Iterable[float]) -> int | None:
    """Index of the check at which ``rule`` halts on a γ trace, or None if it never does."""
    rule.reset()
    for index, gamma in enumerate(trace):
        if rule.update(gamma):
            return index
    return None
