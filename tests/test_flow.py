"""The whole pipeline on a cheap oracle: outputs, physics bounds, store, status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyacemaker.cli import main
from pyacemaker.data import read_dataset
from pyacemaker.store import RunBook, job_store

from .conftest import MINI_EMT, write_config

STAGES = [
    "generate",
    "select",
    "dft_train",
    "dft_test",
    "dft_eos",
    "reference",
    "teacher",
    "committee",
    "teacher_md",
    "teacher_label",
    "ace_base",
    "ace_direct",
    "active_set_direct",
    "ace_delta",
    "active_set",
    "validate",
    "report",
]


def test_run_writes_potential_metrics_summary_and_plan(emt_run: dict[str, Any]) -> None:
    out: Path = emt_run["out"]
    for name in ("potential.yace", "potential.yaml", "potential.asi"):
        assert (out / "potential" / name).stat().st_size > 0
    plan = yaml.safe_load((out / "plan.yaml").read_text())
    assert plan["oracle"]["engine"] == "ase.calculators.emt.EMT"
    metrics = json.loads((out / "metrics.json").read_text())
    ledger = metrics["dft_ledger"]
    lines = {line["purpose"]: line for line in ledger["lines"]}
    purposes = ("training", "held-out", "EOS", "reference atoms")
    assert [lines[p]["calls"] for p in purposes] == [8, 4, 7, 1]  # ... + the Cu atom
    reference = lines["validation reference"]  # phonon and elastic cells
    assert reference["calls"] > 0 and reference["seconds"] > 0
    # threshold_call_dft 0.5 eV/Å: this pool's largest committee deviation is 0.16
    assert lines["pool (committee unsure)"]["calls"] == 0
    assert metrics["dft_calls"] == ledger["total_calls"] == sum(p["calls"] for p in lines.values())
    assert ledger["teacher_saved"] == 2 * 2 * 10  # every pool structure labelled by MACE
    assert metrics["wall_time_total_s"] > 0
    summary = (out / "summary.txt").read_text()
    assert f"DFT calls: {metrics['dft_calls']}" in summary and "held-out DFT errors" in summary
    assert "DFT ledger:" in summary and "the teacher saved 40 DFT calls" in summary
    train = read_dataset(out / "03_dft_train" / "labelled.xyz")
    assert len(train) == 8 and all(
        "ase:ase.calculators.emt.EMT" in a.info["label_source"] for a in train
    )
    pool = read_dataset(out / "06_pool" / "labelled.xyz")
    assert len(pool) == 2 * 2 * 10 and all(a.info["label_source"].startswith("mace:") for a in pool)


def test_delivered_ace_is_accurate_on_held_out_dft(emt_run: dict[str, Any]) -> None:
    # Whether the delta fit beats the teacher-only ACE is not asserted: over config seeds
    # 1-5 of this mini run it won on forces in 5 of 5, but by 1 % on seed 3, the one this
    # fixture runs (0.0821 vs 0.0831 eV/Å; another machine had it lose), and it lost on
    # energies in 2 of 5: an edge no machine-independent test can sit on (issue 11).
    # What holds with margin is the delivered potential's accuracy.
    # Measured (2026-12-01, seeds 1-5): delivered energy RMSE 1.3-7.9 meV/atom, force RMSE
    # 0.022-0.21 eV/Å (seed 5: the direct fit broke on a held-out cell, the teacher route was
    # delivered); EOS a0 within 0.09-0.69 % of EMT's.
    validation = emt_run["summary"].validation
    assert validation.delivery is not None
    delivered = validation.test_errors[validation.delivery.delivered]
    assert delivered.n == 4
    assert delivered.energy_rmse_mev < 20.0
    assert delivered.force_rmse < 0.4
    assert validation.eos_ace.a0 == pytest.approx(validation.eos_dft.a0, rel=0.02)


def test_direct_fit_is_reported_and_the_better_one_delivered(emt_run: dict[str, Any]) -> None:
    out: Path = emt_run["out"]
    validation = emt_run["summary"].validation
    assert {"final_ace", "direct_ace", "teacher_only_ace", "teacher"} <= set(validation.test_errors)
    delivery = validation.delivery
    assert delivery is not None and set(delivery.scores) == {"final_ace", "direct_ace"}
    assert delivery.delivered == min(delivery.scores, key=lambda k: delivery.scores[k])
    folder = {"direct_ace": "07b_ace_direct", "final_ace": "08_ace_delta"}[delivery.delivered]
    delivered = (out / "potential" / "potential.yace").read_bytes()
    assert delivered == (out / folder / "potential.yace").read_bytes()
    assert (out / "potential" / "potential.asi").is_file()
    summary = (out / "summary.txt").read_text()
    assert f"delivered: {delivery.delivered}" in summary and "direct_ace" in summary
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"]["delivery"]["delivered"] == delivery.delivered


def test_run_exit_status_says_the_verdict(
    emt_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # A completed run recomputes nothing: the command prints the summary and its verdict.
    code = main(["run", str(emt_run["config"]), "--store", str(emt_run["store"])])
    assert code == (0 if emt_run["summary"].validation.passed else 3)
    verdict = "PASS" if code == 0 else "FAIL"
    assert f"pyacemaker run summary — {verdict}" in capsys.readouterr().out


def test_store_keeps_every_stage_output_and_status_lists_them(
    emt_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (record,) = RunBook(emt_run["store"]).all()
    assert record.state == "COMPLETED" and [j.name for j in record.jobs] == STAGES
    store = job_store(emt_run["store"])
    store.connect()
    assert store.count() == len(STAGES)
    assert main(["status", "--store", str(emt_run["store"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cu-emt-mini [COMPLETED]")
    assert sum("COMPLETED" in line for line in lines[1:]) == len(STAGES)


def test_failed_stage_is_reported_and_failures_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every oracle call fails (an EMT without parameters for Si raises): the labelling
    # stage records every failure and then fails itself, with the oracle's reason, instead
    # of the run dying later at the teacher on an empty dataset.
    config = write_config(
        tmp_path, {**MINI_EMT, "structure": "Si", "output_dir": str(tmp_path / "out")}
    )
    store = tmp_path / "store"
    assert main(["run", str(config), "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert "failed at stage dft_" in err and "the oracle failed on all" in err
    assert "No EMT-potential for Si" in err
    failed = read_dataset(tmp_path / "out" / "03_dft_train" / "failed.xyz")
    assert len(failed) == 8 and all("error" in a.info for a in failed)
    main(["status", "--store", str(store)])
    states = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines()[1:])
    assert states["dft_train"] == "FAILED"
    assert states["teacher"] == states["report"] == "NOT RUN"


def test_failed_teacher_route_still_delivers_the_direct_fit(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The teacher stage fails (a MACE training that diverged: injected, since no real
    # setting makes MACE diverge on cue). Every teacher-route stage is skipped, but the
    # direct fit on the run's DFT is validated, delivered and reported, and the run says
    # which stage it went around (issue 11: never nothing when a simple route exists).
    import pyacemaker.surrogate.jobs as surrogate_jobs
    from pyacemaker.surrogate.mace import MaceTrainError

    def diverged(*args: Any, **kwargs: Any) -> None:
        raise MaceTrainError("mace_run_train: loss is NaN at epoch 3")

    monkeypatch.setattr(surrogate_jobs, "train_mace", diverged)
    out = tmp_path / "out"
    config = write_config(tmp_path, {**MINI_EMT, "output_dir": str(out)})
    store = tmp_path / "store"
    assert main(["run", str(config), "--store", str(store)]) in (0, 3)
    printed = capsys.readouterr()
    assert "delivered: direct_ace" in printed.out and "teacher route did not finish" in printed.out
    assert "stage teacher failed" in caplog.text and "loss is NaN" in caplog.text
    delivered = (out / "potential" / "potential.yace").read_bytes()
    assert delivered == (out / "07b_ace_direct" / "potential.yace").read_bytes()
    assert (out / "report.html").is_file()  # no .asi: 8 cells under-determine it, no pool
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["validation"]["test_errors"]) == {"direct_ace"}
    assert not any("delta correction" in c["name"] for c in metrics["validation"]["checks"])
    main(["status", "--store", str(store)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cu-emt-mini [COMPLETED]")
    states = dict(line.split(maxsplit=1) for line in lines[1:] if not line.startswith("  note"))
    assert states["teacher"] == "FAILED" and states["ace_base"] == "NOT RUN"
    assert states["validate"] == states["report"] == "COMPLETED"
    assert any(line.startswith("  note: stage teacher failed") for line in lines)
