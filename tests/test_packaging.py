"""The product wheel holds the product: bot, handlers and storage, never the sandbox or tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_the_wheel_holds_the_product_and_no_emulator(tmp_path: Path) -> None:
    """Built offline with the backend in the environment, as a release would build it."""
    build = ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run(
        [sys.executable, "-m", "pip", *build, str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("hypercare_bot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if "/" in name}
    assert {"bot", "handlers", "storage"} <= tops
    assert not tops & {"sandbox", "tests", "benchmarks"}, tops
    assert any(n.startswith("storage/migrations/versions/") for n in names)  # migrations ship
    assert "bot/cli.py" in names and "bot/app/build.py" in names
