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


def readme_blocks(language: str) -> list[str]:
    """The code blocks of the README, CONTRIBUTING.md and the docs pages in ``language``."""
    import re
    from pathlib import Path

    from stacks.distribution import HAND_PAGES

    root = Path(__file__).resolve().parents[2]
    text = "\n".join((root / name).read_text() for name in (*HAND_PAGES, "CONTRIBUTING.md"))
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_every_python_sample_of_the_readme_runs() -> None:
    blocks = readme_blocks("python")
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own documentation


def test_every_deletion_alarms_command_of_the_readme_parses() -> None:
    """Each sample command line names options the command has, with values it accepts."""
    import shlex

    from deletion_alarms import cli

    commands = []
    for block in readme_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("deletion-alarms "):
                commands.append(line.replace("[", "").replace("]", ""))
    assert len(commands) >= 8
    for command in commands:
        args = cli.make_parser().parse_args(shlex.split(command)[1:])  # exits 2 on an unknown option
        assert args.command in cli.COMMANDS, command


def test_the_security_section_names_every_iam_role_the_template_creates(workload) -> None:
    """A claim about the template is checked against it: the README's role table lists exactly the
    template's IAM resources, and nothing says it creates none."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    section = readme.split("<!-- iam-roles:start -->")[1].split("<!-- iam-roles:end -->")[0]
    listed = set(re.findall(r"^\| `(\w+)`", section, re.MULTILINE))
    created = {k for k, r in workload["Resources"].items() if r["Type"].startswith("AWS::IAM::")}
    assert listed == created and created
    assert "creates no IAM role" not in readme
