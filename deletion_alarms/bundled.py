"""Where the command finds the files it carries: the built templates (dist/) and the labelled
CloudTrail corpus. Installed, they are package data (deletion_alarms.templates, .corpus); in a
checkout that was not installed, the checkout's dist/ and tests/corpus."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from detections.errors import UsageError

CHECKOUT = Path(__file__).resolve().parents[1]
FOLDERS = {"templates": CHECKOUT / "dist", "corpus": CHECKOUT / "tests" / "corpus"}


def folder(kind: str, override: Path | None = None, option: str = "--dist") -> Path:
    """The folder of ``kind`` ("templates" or "corpus"): ``override`` when given, else what the
    package carries. It must hold .json files: an empty folder is an error, never nothing to do."""
    if override is not None:
        found = override
    else:
        # Package data folders hold no __init__.py (dist/ holds only what the build writes): they are
        # namespace packages, found by their search location.
        spec = importlib.util.find_spec(f"deletion_alarms.{kind}")
        found = Path(list(spec.submodule_search_locations)[0]) if spec and spec.submodule_search_locations \
            else FOLDERS[kind]
    if not found.is_dir():
        raise UsageError(f"{option}: {found} is not a folder")
    if not any(found.glob("*.json")):
        raise UsageError(f"{option}: no .json files in {found}"
                        + ("" if override else " (a broken installation: reinstall deletion-alarms)"))
    return found
