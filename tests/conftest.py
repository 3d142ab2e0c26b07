"""Shared fixtures: the rendered templates and the labelled CloudTrail corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.distribution import render
from stacks.patterntest import Sample, load_samples
from stacks.workload import make_workload_template

CORPUS_DIR = Path(__file__).parent / "corpus"


def load_corpus() -> list[Sample]:
    """Every labelled record of tests/corpus/*.json."""
    return load_samples(CORPUS_DIR)


@pytest.fixture(scope="session")
def workload() -> dict[str, Any]:
    """The workload template as deployed: parsed from its rendered JSON."""
    return json.loads(render(make_workload_template()))


@pytest.fixture(scope="session")
def corpus() -> list[Sample]:
    return load_corpus()
