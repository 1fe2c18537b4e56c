"""The wheel carries what an installed Paracle needs: the styles and the demo workspace."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_styles_demo_and_the_console_script(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("paracle-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    styles = {p.name for p in (ROOT / "styles").glob("*.tcss")}
    assert styles and {f"paracle_tui/styles/{n}" for n in styles} <= names
    demo = ROOT / "paracle_engine" / "demo"
    demo_files = {str(p.relative_to(ROOT)) for p in (demo / ".parac").rglob("*") if p.is_file()}
    assert demo_files and demo_files <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "paracle = paracle_tui.cli:main" in text
