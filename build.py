#!/usr/bin/env python3
"""Build, check and test the deletion-alarms templates.

    python build.py              write every template to dist/ (linted), print a summary
    python build.py --check      exit 1, naming the files, when dist/ differs from the code
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


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
    return parser


def build(args: argparse.Namespace) -> int:
    from stacks import distribution

    rendered = distribution.render_all()
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
        resources = len(json.loads(body).get("Resources", {}))
        print(f"{name:<32} {len(body.encode()):>7} bytes {resources:>4} resources  lint: clean")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    from stacks.distribution import BuildError

    try:
        return build(args)
    except BuildError as error:
        print(f"build.py: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
