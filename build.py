#!/usr/bin/env python3
"""Build, check and test the deletion-alarms templates.

    python build.py                      write every template to dist/ (linted), print a summary
    python build.py --check              exit 1, naming the files, when dist/ differs from the code
    python build.py test-patterns        prove every detection on the labelled CloudTrail corpus
    python build.py test-patterns --live ... and compare with AWS's own TestMetricFilter verdicts
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from stacks.errors import UserError  # noqa: E402  (after the path is set)

if TYPE_CHECKING:  # imported when used, to keep --help fast
    from stacks.guardrails import GuardrailOptions


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line on stderr and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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
    scp.add_argument("--trail-log-group", action="append", metavar="PATTERN",
                     help="log group name pattern of CloudTrail trails whose metric filters are "
                     "protected (repeatable)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    test = commands.add_parser(
        "test-patterns", help="prove every detection's filter pattern on labelled records",
        description="Run every detection's filter pattern over the labelled CloudTrail corpus, "
        "print a matrix of expected and actual verdicts, and exit 1 on any mismatch.")
    test.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus",
                      help="folder of labelled sample files (default: tests/corpus)")
    test.add_argument("--live", action="store_true",
                      help="also send the records to the CloudWatch Logs TestMetricFilter API and "
                      "report every verdict where AWS differs from the offline engine")
    add_aws_options(test)
    return parser


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="AWS profile (default: the usual AWS sources)")
    parser.add_argument("--region", help="AWS Region (default: from the profile or AWS_REGION)")
    parser.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # tests and emulators


def test_patterns(args: argparse.Namespace) -> int:
    from stacks.catalog import DETECTIONS
    from stacks.patterntest import format_matrix, load_samples, local_verdicts

    try:
        samples = load_samples(args.corpus)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"cannot read the corpus in {args.corpus}: {error}") from None
    verdicts = local_verdicts(samples, DETECTIONS)
    print(format_matrix(verdicts))
    failed = any(not v.ok for v in verdicts)
    if args.live:
        from stacks import awsclient, live

        session = awsclient.make_session(args.profile, args.region)
        logs = awsclient.make_client(session, "logs", args.endpoint_url)
        disagreements = live.compare_with_aws(logs, samples, DETECTIONS)
        for d in disagreements:
            print(f"AWS differs: {d.detection} on {d.cls}: ours {d.ours}, AWS {d.aws}")
        print(f"live: {len(samples)} records x {len(DETECTIONS)} patterns sent to TestMetricFilter; "
              f"{len(disagreements)} disagreements")
        failed = failed or bool(disagreements)
    return 1 if failed else 0


def guardrail_options(args: argparse.Namespace) -> "GuardrailOptions":
    from stacks import guardrails

    defaults = guardrails.GuardrailOptions()
    return guardrails.GuardrailOptions(
        min_window_days=args.min_window_days,
        break_glass_arns=tuple(args.break_glass_arn),
        deploy_role_arns=tuple(args.deploy_role_arn or defaults.deploy_role_arns),
        resource_prefixes=tuple(args.resource_prefix or defaults.resource_prefixes),
        trail_log_groups=tuple(args.trail_log_group or defaults.trail_log_groups),
    )


def build(args: argparse.Namespace) -> int:
    from stacks import distribution

    rendered = distribution.render_all(args.guardrails)
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    new_readme = distribution.render_readme(readme, rendered)
    if args.check:
        stale = distribution.stale_files(args.dist, rendered)
        stale += ["README.md"] if new_readme != readme else []
        if stale:
            print(f"stale: {', '.join(stale)}; run: python build.py", file=sys.stderr)
            return 1
        print(f"dist/ and README.md match the build ({len(rendered)} templates)")
        return 0
    for name, body in rendered.items():
        distribution.check_artifact(name, body)
    distribution.write_all(args.dist, rendered)
    if new_readme != readme:
        readme_path.write_text(new_readme)
    for name, body in rendered.items():
        document = json.loads(body)
        if "Resources" in document:
            detail = f"{len(document['Resources']):>4} resources  lint: clean"
        else:
            detail = f"{len(document['Statement']):>4} statements (limit 5,120 characters)"
        print(f"{name:<32} {len(body.encode()):>7} bytes {detail}")
    from stacks.cost import cost_table

    print("\nFixed monthly cost per account and Region (USD, us-east-1 prices):")
    print(cost_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        args.guardrails = guardrail_options(args).validate()
    except UserError as error:
        parser.error(str(error))
    commands = {None: build, "test-patterns": test_patterns}
    try:
        return commands[args.command](args)
    except UserError as error:
        print(f"build.py: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
