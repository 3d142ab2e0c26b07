"""Shared fixtures: the rendered templates and the labelled CloudTrail corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.distribution import render
from stacks.workload import make_workload_template

CORPUS_DIR = Path(__file__).parent / "corpus"


def load_corpus() -> list[dict[str, Any]]:
    """Every labelled record of tests/corpus/*.json: class, expect, why, record."""
    cases: list[dict[str, Any]] = []
    for path in sorted(CORPUS_DIR.glob("*.json")):
        cases.extend(json.loads(path.read_text()))
    return cases


@pytest.fixture(scope="session")
def workload() -> dict[str, Any]:
    """The workload template as deployed: parsed from its rendered JSON."""
    return json.loads(render(make_workload_template()))


@pytest.fixture(scope="session")
def corpus() -> list[dict[str, Any]]:
    return load_corpus()
