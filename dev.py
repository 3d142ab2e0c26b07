#!/usr/bin/env python3
"""Set up the project's virtualenv and run a task in it: ``python3 dev.py build|test [args]``.

Standard library only, so that it works on a fresh machine with Python 3.11+. It creates ``.venv``
next to this file, installs the project with its test extras (again only when pyproject.toml changed)
and then runs ``build.py`` or pytest inside that environment.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"


def ensure_venv() -> None:
    """Create .venv and install the project into it unless it is already up to date."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-e", f"{ROOT}[test]"],
        check=True,
    )
    STAMP.write_text(digest)


def main(argv: list[str]) -> int:
    tasks = {
        "build": [str(PYTHON), str(ROOT / "build.py")],
        "test": [str(PYTHON), "-m", "pytest"],
    }
    if not argv or argv[0] not in tasks:
        print(f"usage: python3 dev.py {{{'|'.join(tasks)}}} [args...]", file=sys.stderr)
        return 2
    ensure_venv()
    return subprocess.run(tasks[argv[0]] + argv[1:], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
