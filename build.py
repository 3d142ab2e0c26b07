#!/usr/bin/env python3
"""Build and check the deletion-alarms templates.

    python build.py                      write every template to dist/ (linted), print a summary
    python build.py --check              exit 1, naming the files, when dist/ differs from the code

The operations (test-patterns, publish, service-catalog, stackset, doctor, backtest) are the installed
``deletion-alarms`` command. ``python build.py COMMAND ...`` still runs them, for this release only,
with a note on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def _use_project_virtualenv() -> None:
    """Without the dependencies, run again in the .venv that dev.py made, or say how to get one."""
    try:
        import awacs  # noqa: F401
        import troposphere  # noqa: F401
    except ImportError:
        venv_python = ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if venv_python.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
            os.execv(str(venv_python), [str(venv_python), *sys.argv])
        sys.exit("build.py: error: troposphere and awacs are not installed; run: python3 dev.py build")


_use_project_virtualenv()

from deletion_alarms.cli import OneLineParser  # noqa: E402  (after the path is set)
from detections.errors import UserError  # noqa: E402

# Operations that moved to the installed command; kept here as aliases for one release.
OPERATIONS = ("test-patterns", "publish", "service-catalog", "stackset", "doctor", "backtest")

if TYPE_CHECKING:  # imported when used, to keep --help fast
    from stacks.guardrails import GuardrailOptions


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="build.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="rebuild in memory and fail when dist/ differs (writes nothing)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist",
                        help="output folder (default: dist/ next to this file)")
    scp = parser.add_argument_group("guardrails (service control policy) options; the defaults "
                                    "produce the committed dist/")
    scp.add_argument("--min-window-days", type=int, default=30, metavar="DAYS",
                     help="shortest key deletion / secret recovery window allowed, 7 to 30 (default 30)")
    scp.add_argument("--break-glass-arn", action="append", default=[], metavar="ARN",
                     help="principal ARN pattern exempt from every guardrail (repeatable)")
    scp.add_argument("--deploy-role-arn", action="append", metavar="ARN",
                     help="role ARN pattern that deploys deletion-alarms and may change its "
                     "resources (repeatable; default: the StackSets execution roles)")
    scp.add_argument("--resource-prefix", action="append", metavar="PREFIX",
                     help="name prefix of the deletion-alarms stacks (repeatable; default: "
                     "deletion-alarms and StackSet-deletion-alarms)")
    scp.add_argument("--no-trail-protection", dest="protect_trails", action="store_false",
                     help="leave trails unprotected (a landing zone that protects its trail already)")
    scp.add_argument("--trail-log-group", action="append", metavar="PATTERN",
                     help="log group name pattern of CloudTrail trails whose metric filters are "
                     "protected (repeatable)")
    return parser


def guardrail_options(args: argparse.Namespace) -> "GuardrailOptions":
    from stacks import guardrails

    defaults = guardrails.GuardrailOptions()
    return guardrails.GuardrailOptions(
        min_window_days=args.min_window_days,
        break_glass_arns=tuple(args.break_glass_arn),
        deploy_role_arns=tuple(args.deploy_role_arn or defaults.deploy_role_arns),
        resource_prefixes=tuple(args.resource_prefix or defaults.resource_prefixes),
        trail_log_groups=tuple(args.trail_log_group or defaults.trail_log_groups),
        protect_trails=args.protect_trails,
    )


def build(args: argparse.Namespace) -> int:
    from stacks import distribution

    rendered = distribution.render_all(args.guardrails)
    hand = {path: (ROOT / path).read_text() for path in distribution.HAND_PAGES}
    pages = {**distribution.render_pages(hand, rendered), **distribution.render_docs(rendered)}
    if args.check:
        stale = distribution.stale_files(args.dist, rendered)
        stale += [path for path, text in pages.items()
                  if not (ROOT / path).is_file() or (ROOT / path).read_text() != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run: python build.py", file=sys.stderr)
            return 1
        print(f"dist/, docs/ and README.md match the build ({len(rendered)} templates)")
        return 0
    for name, body in rendered.items():
        distribution.check_artifact(name, body)
    distribution.write_all(args.dist, rendered)
    for path, text in pages.items():
        if not (ROOT / path).is_file() or (ROOT / path).read_text() != text:
            (ROOT / path).parent.mkdir(exist_ok=True)
            (ROOT / path).write_text(text)
    for name, body in rendered.items():
        if not name.endswith(".json"):  # the CfCT manifest (YAML)
            detail = f"{body.count('- deploy_method:'):>4} CfCT resources"
            print(f"{name:<46} {len(body.encode()):>7} bytes {detail}")
            continue
        document = json.loads(body)
        if "Resources" in document:
            detail = f"{len(document['Resources']):>4} resources  lint: clean"
        else:
            detail = f"{len(document['Statement']):>4} statements (limit 5,120 characters)"
        print(f"{name:<46} {len(body.encode()):>7} bytes {detail}")
    from stacks.cost import cost_table

    print("\nFixed monthly cost per account and Region (USD, us-east-1 prices):")
    print(cost_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in OPERATIONS:
        from deletion_alarms import cli

        print(f"build.py: note: 'build.py {argv[0]}' is deprecated and will be removed in the next "
              f"release; run: deletion-alarms {argv[0]}", file=sys.stderr)
        return cli.main(argv, prog="build.py")
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        args.guardrails = guardrail_options(args).validate()
    except UserError as error:
        parser.error(str(error))
    try:
        return build(args)
    except UserError as error:
        print(f"build.py: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
