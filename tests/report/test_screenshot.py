"""The HTML report as a browser shows it: a headless chromium screenshot of the report of a
`make run` and of the generated three-site fixtures. Slow (a browser start per page); skipped
where chromium is absent (Debian: `apt-get install -y chromium`).

FAIRHEP_SCREENSHOTS=DIR keeps the screenshots there, for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairhep.report import build_report
from report_records import RECORDS, SITES

WIDTH, HEIGHT = 1400, 16000
BLUE = (0x57, 0x90, 0xFC)  # the style's first colour: markers and curves of the first series
HATCH = (0xFF, 0xE0, 0xB2)  # the stripes of a generated fixture's table cell


def screenshot(html: Path, png: Path) -> np.ndarray:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    profile = png.parent / f"{png.stem}-profile"
    flags = [
        "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={png}",
    ]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # chromium refuses to run as root with its sandbox
    subprocess.run([browser, *flags, html.as_uri()], capture_output=True, timeout=180,
                   check=True)
    keep = os.environ.get("FAIRHEP_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def pixels_near(img: np.ndarray, colour: tuple[int, int, int], tol: int = 12) -> int:
    return int((np.abs(img - np.array(colour)).max(axis=2) <= tol).sum())


@pytest.mark.slow
def test_the_html_report_of_make_run_renders_with_its_figures(tmp_path: Path) -> None:
    html = build_report([RECORDS / "real" / "bench-local"], tmp_path / "make-run")
    img = screenshot(html, tmp_path / "make-run.png")
    assert img.shape == (HEIGHT, WIDTH, 3)
    drawn = np.where((img < 245).any(axis=(1, 2)))[0]
    assert drawn.max() > 3000  # the whole page, figures included, not an error page
    assert pixels_near(img, BLUE) > 200  # the figures were decoded and painted
    # Measured records: nothing striped (a few anti-aliased pixels of orange lines match).
    assert pixels_near(img, HATCH) < 1000


@pytest.mark.slow
def test_the_html_report_marks_generated_fixtures(tmp_path: Path) -> None:
    html = build_report([RECORDS / s for s in SITES], tmp_path / "sites")
    img = screenshot(html, tmp_path / "sites.png")
    assert pixels_near(img, HATCH) > 50_000  # every platform cell of theirs is striped
    assert pixels_near(img, BLUE) > 1000
