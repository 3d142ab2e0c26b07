"""The installed command carries what it needs: a wheel built from this checkout as "pip install ."
builds it, installed in a fresh virtualenv and run outside any checkout, publishes the templates,
reaches Service Catalog with them and tests the patterns, against a moto server on 127.0.0.1. The
wheel's templates and corpus are byte for byte dist/ and tests/corpus."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # As "pip install ." builds it: in an isolated build environment with the build-system requirements.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(out), str(ROOT)], check=True, capture_output=True, cwd=out)
    (found,) = out.glob("deletion_alarms-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with only the wheel; its dependencies come from this environment's
    site-packages on PYTHONPATH (where no .pth runs, so this checkout's editable install stays out)."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / ("Scripts" if os.name == "nt" else "bin") / "python"
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with zipfile.ZipFile(wheel) as archive:  # what pip does for a pure-Python wheel, minus scripts
        archive.extractall(target)
    return python


# The build and lint toolchain: not a dependency of the installed command (pyproject's "build" extra).
BUILD_ONLY = ("cfnlint", "sympy")
BLOCKED = Path(tempfile.mkdtemp(prefix="blocked-imports-"))


def blocked_imports() -> str:
    """A folder, first on the installed command's path, whose packages refuse to import: a run that
    needs the build toolchain fails the test instead of finding it in this environment."""
    for name in BUILD_ONLY:
        (BLOCKED / name).mkdir(parents=True, exist_ok=True)
        (BLOCKED / name / "__init__.py").write_text(
            f"raise ImportError('{name} belongs to the build extra, not to the installed command')\n")
    return str(BLOCKED)


def run(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([blocked_imports(), sysconfig.get_paths()["purelib"]])
    env = {**os.environ, "PYTHONPATH": path, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run([str(python), "-c", "from deletion_alarms.cli import entry_point; entry_point()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_command_does_not_depend_on_the_build_toolchain(wheel) -> None:
    """pip install . for running the command pulls no lint toolchain: cfn-lint only with an extra."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
    lint = [r for r in requires if "cfn-lint" in r]
    assert lint and all("extra ==" in r for r in lint), requires


def test_the_wheel_carries_dist_and_the_corpus(wheel) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for folder, package in ((ROOT / "dist", "deletion_alarms/templates"),
                                (ROOT / "tests" / "corpus", "deletion_alarms/corpus")):
            expected = sorted(p.name for p in folder.glob("*.json"))
            assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith(package + "/")) == expected
            for name in expected:
                assert archive.read(f"{package}/{name}") == (folder / name).read_bytes(), name


def test_the_installed_command_works_outside_a_checkout(installed, tmp_path, aws) -> None:
    where = run(installed, tmp_path, "--version")
    assert where.returncode == 0, where.stderr
    probe = subprocess.run([str(installed), "-c", "import deletion_alarms; print(deletion_alarms.__file__)"],
                           env={**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]},
                           capture_output=True, text=True, cwd=tmp_path)
    assert str(ROOT) not in probe.stdout  # the wheel's copy, not this checkout

    patterns = run(installed, tmp_path, "test-patterns")
    assert patterns.returncode == 0, patterns.stderr
    assert "KmsKeyPendingDeletionUse" in patterns.stdout

    aws.client("s3").create_bucket(Bucket="templates-111122223333")
    published = run(installed, tmp_path, "publish", "--bucket", "templates-111122223333",
                    "--endpoint-url", aws.endpoint, "--region", "us-east-1")
    assert published.returncode == 0, published.stderr
    uploaded = [line for line in published.stdout.splitlines() if line.startswith("uploaded")]
    assert len(uploaded) == len(list((ROOT / "dist").glob("*.json")))
    url = next(line.split()[-1] for line in uploaded if line.endswith("/deletion-alarms.json"))

    # moto implements no DescribeProductAsAdmin (its first call, made after reading the carried
    # template): the installed command gets that far and fails in one line, as it would on any
    # endpoint error. Its Service Catalog logic runs against botocore's Stubber in test_publishing.
    product = run(installed, tmp_path, "service-catalog", "--template-url", url,
                  "--endpoint-url", aws.endpoint, "--region", "us-east-1")
    (line,) = product.stderr.strip().splitlines()
    assert product.returncode == 1 and line.startswith("deletion-alarms: error: Service Catalog: 500"), line


def test_an_empty_dist_is_an_error_not_a_silent_success(installed, tmp_path, aws) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(installed, tmp_path, "publish", "--bucket", "b", "--dist", str(empty),
                 "--endpoint-url", aws.endpoint, "--region", "us-east-1")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"deletion-alarms: error: --dist: no .json files in {empty}"]
