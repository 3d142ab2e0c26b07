"""The installed ``deletion-alarms`` command and the ``build.py`` aliases kept for one release."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import argparse

import pytest

from deletion_alarms import cli

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("deletion-alarms")


def test_console_script_is_installed_and_lists_every_operation() -> None:
    assert SCRIPT.exists(), "pip install . must create the deletion-alarms command (project.scripts)"
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    for command in cli.COMMANDS:
        assert command in result.stdout


def test_version_is_the_package_version() -> None:
    result = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True)
    assert result.stdout.strip() == f"deletion-alarms {cli.package_version()}"


def test_no_command_is_a_usage_error_in_one_line() -> None:
    result = subprocess.run([str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


# The operations build.py ran before they moved to the installed command.
LEGACY = ("test-patterns", "publish", "service-catalog", "stackset", "doctor", "backtest")


@pytest.mark.parametrize("command", LEGACY)
def test_build_py_keeps_each_operation_as_an_alias_with_a_note(command: str) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "build.py"), command, "--help"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "deprecated" in result.stderr and f"deletion-alarms {command}" in result.stderr
    assert "usage: build.py" in result.stdout


def test_build_py_alias_runs_the_operation() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "build.py"), "test-patterns"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "0 differ" in result.stdout


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_every_subcommand_has_an_example_and_every_option_a_help(command) -> None:
    parser = cli.make_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    subparser = sub.choices[command]
    text = subparser.format_help()
    assert f"example:\n  deletion-alarms {command}" in text and "exit status: 0 done" in text
    undocumented = [a.option_strings[0] for a in subparser._actions
                    if a.option_strings and a.help is None]
    assert undocumented == []


def test_the_documented_exit_status_table_is_the_commands() -> None:
    """Each status docs/operations.md documents is one the command returns, and the other way round."""
    import re

    text = (ROOT / "docs" / "operations.md").read_text()
    table = text[text.index("| Status | Meaning |"):].split("\n\n", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    assert documented == {0, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED, cli.EXIT_BROKEN_PIPE}
    assert all(str(status) in cli.EXIT_STATUSES for status in documented)
