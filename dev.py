#!/usr/bin/env python3
"""Set up the project's virtualenv and run a task in it: ``python3 dev.py build|test [args]``.

Standard library only, so that it works on a fresh machine with Python 3.11+. It creates ``.venv``
next to this file, installs the project with its test extras (again only when pyproject.toml changed)
and then runs ``build.py`` or pytest inside that environment. For the tests it also creates
``.venv-checkov`` with checkov, whose pinned dependencies conflict with boto3's, and names its
executable in CHECKOV_BIN.
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
CHECKOV_VENV = ROOT / ".venv-checkov"
CHECKOV_REQUIREMENT = "checkov>=3.2,<4"


def _bin(venv_dir: Path, name: str) -> Path:
    return venv_dir / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def ensure_venv(venv_dir: Path, *requirements: str) -> Path:
    """Create ``venv_dir`` and pip-install ``requirements`` unless already done; its python."""
    python = _bin(venv_dir, "python")
    stamp = venv_dir / ".installed"
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + " ".join(requirements).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and python.exists():
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *requirements], check=True)
    stamp.write_text(digest)
    return python


def main(argv: list[str]) -> int:
    tasks = ("build", "test")
    if not argv or argv[0] not in tasks:
        print(f"usage: python3 dev.py {{{'|'.join(tasks)}}} [args...]", file=sys.stderr)
        return 2
    python = ensure_venv(VENV, "-e", f"{ROOT}[test]")
    env = dict(os.environ)
    if argv[0] == "build":
        command = [str(python), str(ROOT / "build.py")]
    else:
        ensure_venv(CHECKOV_VENV, CHECKOV_REQUIREMENT)
        env["CHECKOV_BIN"] = str(_bin(CHECKOV_VENV, "checkov"))
        command = [str(python), "-m", "pytest"]
    return subprocess.run(command + argv[1:], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
