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


def aws_deploy_commands() -> list[list[str]]:
    """Each `aws cloudformation deploy` of the README and the docs pages, as arguments."""
    import shlex

    commands = []
    for block in readme_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("aws cloudformation deploy"):
                commands.append(shlex.split(line))
    return commands


def test_every_deploy_command_of_the_docs_fits_its_template() -> None:
    """A deployer copies these: the template exists in dist/, each parameter it sets is one of the
    template's, with a value the template allows, and the capabilities are the ones the template
    needs (derived from it); a template over CloudFormation's inline limit is given a bucket."""
    import json
    import re
    from pathlib import Path

    from stacks.stackset import required_capabilities

    root = Path(__file__).resolve().parents[2]
    commands = aws_deploy_commands()
    assert len(commands) >= 3
    for args in commands:
        options: dict[str, list[str]] = {}
        for arg in args[3:]:
            if arg.startswith("--"):
                current = options.setdefault(arg, [])
            else:
                current.append(arg)
        (template_file,) = options["--template-file"]
        template = json.loads((root / template_file).read_text())
        assert sorted(options.get("--capabilities", [])) == sorted(required_capabilities(template)), args
        if (root / template_file).stat().st_size > 51_200:  # CloudFormation's TemplateBody limit
            assert options.get("--s3-bucket"), f"{template_file} is over 51,200 bytes: it needs --s3-bucket"
        for pair in options.get("--parameter-overrides", []):
            name, value = pair.split("=", 1)
            spec = template["Parameters"][name]  # a KeyError is a parameter the template does not have
            if "AllowedValues" in spec:
                assert value in spec["AllowedValues"], pair
            if "AllowedPattern" in spec:
                assert re.fullmatch(spec["AllowedPattern"], value), pair


def test_the_readme_states_the_template_sizes_and_roles_as_they_are() -> None:
    """The README's claims about dist/: over the inline limit, roles created (CAPABILITY_IAM)."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    workload = root / "dist" / "deletion-alarms.json"
    assert "over the 51,200 bytes CloudFormation takes inline" in readme and workload.stat().st_size > 51_200
    resources = json.loads(workload.read_text())["Resources"]
    assert "creates IAM roles" in readme and any(r["Type"] == "AWS::IAM::Role" for r in resources.values())
    assert not any("RoleName" in r.get("Properties", {}) for r in resources.values())  # "unnamed IAM roles only"
    assert "unnamed IAM roles only" in readme
