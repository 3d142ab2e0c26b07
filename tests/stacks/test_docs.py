"""Generated README sections."""

from __future__ import annotations

import pytest

from stacks import docs
from detections.catalog import DETECTIONS


def test_parameter_table_lists_every_parameter_in_console_order(workload) -> None:
    table = docs.parameter_table(workload)
    rows = [line for line in table.splitlines()[2:]]
    order = [p for g in workload["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
             for p in g["Parameters"]]
    assert [r.split("|")[1].strip().strip("`") for r in rows] == order


def test_detection_reference_covers_the_catalog() -> None:
    text = docs.detection_reference()
    for d in DETECTIONS:
        assert f"### {d.name}:" in text and d.filter_pattern in text


def test_replace_section_needs_markers() -> None:
    assert docs.replace_section("a\n<!-- x:start -->\nold\n<!-- x:end -->\n", "x", "new") == \
        "a\n<!-- x:start -->\nnew\n<!-- x:end -->\n"
    with pytest.raises(ValueError, match="markers"):
        docs.replace_section("no markers", "x", "new")
