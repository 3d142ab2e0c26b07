#!/usr/bin/env python3
"""Set up the project's virtualenv and run a task in it: ``python3 dev.py build|test|lock [args]``.

Standard library only, so that it works on a fresh machine with Python 3.11+.

- ``build`` and ``test`` create ``.venv`` next to this file and install the project with its test
  extras, pinned to the exact versions in ``requirements/lock.txt`` (again only when pyproject.toml
  or the lock changed); then they run ``build.py`` or pytest inside that environment.
- ``test`` also creates ``.venv-checkov`` with checkov (its pinned dependencies conflict with
  boto3's), pinned by ``requirements/checkov-lock.txt``, and unpacks AWS Control Tower's proactive
  control rules with their cfn-guard binary from the npm package ``@cdklabs/cdk-validator-cfnguard``
  (pinned version, integrity checked) into ``.cache/``. It names both in CHECKOV_BIN and
  CONTROL_TOWER_RULES for the tests. Where Debian's chromium is missing, it installs it with
  apt-get (as root, or with sudo) for the tests that check the HTML reports in a real browser.
- ``lock`` resolves the newest versions that pyproject.toml allows in throwaway virtualenvs and
  rewrites both lock files: the one command that refreshes the pins.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
CHECKOV_VENV = ROOT / ".venv-checkov"
CACHE = ROOT / ".cache"
LOCK = ROOT / "requirements" / "lock.txt"
CHECKOV_LOCK = ROOT / "requirements" / "checkov-lock.txt"
CHECKOV_REQUIREMENT = "checkov>=3.2,<4"
# AWS Control Tower proactive controls as Guard rules, with the cfn-guard binary they are tested with.
CONTROL_TOWER_PACKAGE = "@cdklabs/cdk-validator-cfnguard@0.0.62"
CONTROL_TOWER_INTEGRITY = (
    "sha512-Sg2k8067B0AIJ82QFSLhHTUIqxOYTKABvVrTHiyc6j0rE2NHli2diIYqf+w+DkuDKCYYgMIOga3OrYMOHUw0mQ==")


def _bin(venv_dir: Path, name: str) -> Path:
    return venv_dir / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def _pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
                   check=True)


def ensure_venv(venv_dir: Path, lock: Path, *requirements: str) -> Path:
    """Create ``venv_dir`` and install ``requirements`` pinned by ``lock``, unless already done;
    return its python."""
    python = _bin(venv_dir, "python")
    stamp = venv_dir / ".installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + lock.read_bytes()
                            + " ".join(requirements).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and python.exists():
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    _pip(python, "--constraint", str(lock), *requirements)
    stamp.write_text(digest)
    return python


def ensure_control_tower_rules() -> Path:
    """The unpacked npm package with the Control Tower Guard rules and cfn-guard; fetched once."""
    name, _, version = CONTROL_TOWER_PACKAGE.rpartition("@")
    target = CACHE / f"{name.replace('/', '+')}-{version}"
    if (target / "package" / "rules").is_dir():
        return target / "package"
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        subprocess.run(["npm", "pack", "--silent", CONTROL_TOWER_PACKAGE, "--pack-destination", scratch],
                       check=True, stdout=subprocess.DEVNULL)
        tarball = next(Path(scratch).glob("*.tgz"))
        algorithm, _, expected = CONTROL_TOWER_INTEGRITY.partition("-")
        actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
        if actual != expected:
            raise SystemExit(f"dev.py: {CONTROL_TOWER_PACKAGE} does not match its recorded integrity")
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(tarball) as archive:
            archive.extractall(unpacked, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)
    return target / "package"


def lock() -> int:
    """Resolve afresh what pyproject.toml allows and write both lock files."""
    with tempfile.TemporaryDirectory() as scratch:
        for lock_file, requirements in ((LOCK, ["-e", f"{ROOT}[test]"]), (CHECKOV_LOCK, [CHECKOV_REQUIREMENT])):
            env_dir = Path(scratch) / lock_file.stem
            venv.EnvBuilder(with_pip=True).create(env_dir)
            python = _bin(env_dir, "python")
            _pip(python, *requirements)
            frozen = subprocess.run([str(python), "-m", "pip", "freeze", "--exclude-editable"],
                                    check=True, capture_output=True, text=True).stdout
            pins = [line for line in frozen.splitlines()
                    if line and not line.startswith(("-e", "#", "deletion-alarms"))]
            header = lock_file.read_text().splitlines()[0]
            lock_file.write_text("\n".join([header, *pins]) + "\n")
            print(f"wrote {lock_file.relative_to(ROOT)} ({len(pins)} packages)")
    return 0


CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium() -> None:
    """Debian's chromium, for the tests that look at the HTML reports in a real browser: installed
    with apt-get where this machine has it and may (root, or sudo); otherwise those tests say how."""
    if CHROMIUM.exists() or not shutil.which("apt-get"):
        return
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None:
        return
    print("installing Debian's chromium for the HTML report tests", file=sys.stderr)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=False)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "chromium"], check=False, stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    tasks = ("build", "test", "lock")
    if not argv or argv[0] not in tasks:
        print(f"usage: python3 dev.py {{{'|'.join(tasks)}}} [args...]", file=sys.stderr)
        return 2
    if argv[0] == "lock":
        return lock()
    python = ensure_venv(VENV, LOCK, "-e", f"{ROOT}[test]")
    env = dict(os.environ)
    if argv[0] == "build":
        command = [str(python), str(ROOT / "build.py")]
    else:
        ensure_venv(CHECKOV_VENV, CHECKOV_LOCK, CHECKOV_REQUIREMENT)
        env["CHECKOV_BIN"] = str(_bin(CHECKOV_VENV, "checkov"))
        env["CONTROL_TOWER_RULES"] = str(ensure_control_tower_rules())
        ensure_chromium()
        command = [str(python), "-m", "pytest"]
    return subprocess.run(command + argv[1:], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
