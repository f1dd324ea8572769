"""The HTML report: self-contained, rendered by headless Chromium; pipeline and CLI write it."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from matplotlib.image import imread

from pyacemaker.cli import main
from pyacemaker.config.schema import ValidationConfig
from pyacemaker.validation.html import HistoryPoint, write_report
from pyacemaker.validation.reference import calculator_labeller
from pyacemaker.validation.suite import SuiteInputs, run_suite

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT_DIR = Path(__file__).resolve().parent.parent / "runs" / "screenshots"


def screenshot(html: Path, png: Path, profile: Path) -> np.ndarray:
    """Render ``html`` in headless Chromium; return the screenshot's pixels."""
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={png}",
         "--window-size=1200,2400", html.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return np.asarray(imread(png))


def red_fraction(pixels: np.ndarray) -> float:
    """Share of strongly red pixels: the ACE curves (tab:red) and FAIL rows, not text."""
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return float(np.mean((r > 0.6) & (g < 0.4) & (b < 0.4)))


def embedded_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_its_plots_in_headless_chromium(tmp_path: Path) -> None:
    cu = bulk("Cu", "fcc", a=3.6)
    cfg = ValidationConfig(md_steps=100, md_nve_steps=50, md_temperatures=[500])
    suite = run_suite(
        SuiteInputs(prototype=cu, potential=EMT(), config=cfg, a_ref=3.6, v_ref=cu.get_volume(),
                    workdir=tmp_path, reference=calculator_labeller(EMT(), "ase:EMT"))
    )  # fmt: skip
    history = [HistoryPoint(label=f"iteration {i}", energy_rmse_mev=5.0 / (i + 1),
                            force_rmse=0.1 / (i + 1)) for i in range(3)]  # fmt: skip
    report = write_report(tmp_path / "report.html", "EMT Cu", suite.checks, suite,
                          {"DFT calls": suite.reference_calls}, history)  # fmt: skip
    text = report.read_text()
    assert "http" not in text.replace("http-equiv", "")  # nothing fetched from anywhere
    pngs = embedded_pngs(text)
    assert len(pngs) == 3 and all(p.startswith(b"\x89PNG") for p in pngs)  # bands, EOS, history
    assert text.count("PASS</td>") == len(suite.checks)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    png = SCREENSHOT_DIR / "report_emt.png"
    pixels = screenshot(report, png, tmp_path / "chromium")
    assert pixels.shape[:2] == (2400, 1200)
    assert red_fraction(pixels) > 1e-3  # the ACE curves were drawn, not broken images


def test_pipeline_writes_report_with_suite_results(emt_run: dict[str, Any]) -> None:
    out: Path = emt_run["out"]
    v = emt_run["summary"].validation
    assert emt_run["summary"].report_file == str(out / "report.html")
    suite = v.suite
    assert suite is not None and suite.phonons_ace is not None and suite.elastic_ref is not None
    assert set(suite.parity) == {"train", "held-out"}
    assert suite.md and all(m.gamma_max is not None for m in suite.md)  # active set used
    assert suite.reference_calls == 1 + 4  # Cu: one displacement, 2 strains x 2 signs
    text = (out / "report.html").read_text()
    assert len(embedded_pngs(text)) == 5  # bands, EOS, parity, γ histogram, error history
    assert "Born stability" in text and "Provenance" in text
    if CHROMIUM is not None:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        png = SCREENSHOT_DIR / "report_pipeline.png"
        profile = emt_run["root"] / "chromium"
        assert red_fraction(screenshot(out / "report.html", png, profile)) > 1e-3


def test_validate_potential_cli(emt_run: dict[str, Any], tmp_path: Path) -> None:
    out: Path = emt_run["out"]
    config = tmp_path / "cfg.yaml"
    config.write_text(
        emt_run["config"].read_text()
        + "validation: {md_steps: 100, md_nve_steps: 50, md_temperatures: [400]}\n"
    )
    code = main(
        ["validate-potential", str(out / "potential" / "potential.yace"), "--config", str(config),
         "--data", f"held-out={out / '03_dft_test' / 'labelled.xyz'}",
         "--output", str(tmp_path / "val")]
    )  # fmt: skip
    assert code in (0, 1)
    text = (tmp_path / "val" / "report.html").read_text()
    assert "held-out energy RMSE" in text and "phonon band RMSE" in text
    assert (tmp_path / "val" / "validation.json").stat().st_size > 0
    assert main(["validate-potential", str(tmp_path / "missing.yace"), "--structure", "Cu"]) == 1
