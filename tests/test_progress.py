"""Progress of long loops: counts, rate and time left, sparse lines when not on a terminal."""

from __future__ import annotations

import logging

import pytest

from pyacemaker.progress import PROGRESS_ENV, Progress, duration, track


def test_a_line_says_how_many_how_fast_and_how_long_is_left() -> None:
    progress = Progress("labelled in 03_dft_train", total=8, unit="calc")
    progress.start -= 6.0  # six seconds ago
    progress.advance(3, note="1 failed")
    line = progress.line()
    assert line.startswith("labelled in 03_dft_train: 3/8 calc (38%), 0.5 calc/s, ~10 s left")
    assert line.endswith("1 failed")
    assert [duration(s) for s in (42, 200, 7500)] == ["42 s", "3 min 20 s", "2 h 05 min"]


def test_off_a_terminal_a_fast_loop_logs_its_last_line_only(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROGRESS_ENV, "lines")
    with caplog.at_level(logging.INFO, logger="pyacemaker"), track("MD", 10_000, "step") as bar:
        for _ in range(10_000):
            bar.advance()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "10000/10000 step (100%)" in lines[0] and "done" in lines[0]
