"""Type-check every ```python block of README.md and docs/ with mypy --strict.

Run by `nox -s typing`: each block becomes a module of its own in a temporary directory, so a
reader who copies an example into a strictly typed project gets no error from it.

    python tests/typing/check_docs.py [mypy options]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def write_blocks(directory: Path) -> list[Path]:
    written = []
    for page in PAGES:
        stem = re.sub(r"\W", "_", page.relative_to(ROOT).with_suffix("").as_posix())
        for number, match in enumerate(BLOCK.finditer(page.read_text()), start=1):
            path = directory / f"{stem}_{number}.py"
            path.write_text(f"# {page.relative_to(ROOT)}, block {number}\n{match.group(1)}")
            written.append(path)
    return written


def main() -> int:
    with tempfile.TemporaryDirectory() as directory:
        blocks = write_blocks(Path(directory))
        print(f"type-checking {len(blocks)} Python blocks of the docs", flush=True)
        command = [sys.executable, "-m", "mypy", "--strict", *sys.argv[1:], *map(str, blocks)]
        return subprocess.run(command, check=False, cwd=directory).returncode


if __name__ == "__main__":
    sys.exit(main())
