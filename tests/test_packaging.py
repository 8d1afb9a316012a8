"""The distributions carry the licence the metadata names, and the metadata's URLs are true."""

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_sdist_and_the_wheel_ship_the_mit_licence(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    (sdist,) = tmp_path.glob("*.tar.gz")
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (shipped,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(shipped).decode() == licence
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        assert "License-Expression: MIT" in archive.read(metadata).decode()
    with tarfile.open(sdist) as archive:
        (member,) = [m for m in archive.getmembers() if m.name.endswith("/LICENSE")]
        handle = archive.extractfile(member)
        assert handle is not None
        assert handle.read().decode() == licence


def test_no_url_points_at_a_repository_that_does_not_exist() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # The project has no public repository yet: it names none.
    assert "urls" not in project
    assert "github.com/kernel-async" not in (ROOT / "README.md").read_text()
