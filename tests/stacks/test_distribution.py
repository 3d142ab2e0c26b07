"""dist/ is the golden file: it equals the build, fits CloudFormation's limit, and lints clean everywhere."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stacks import distribution

ROOT = Path(__file__).resolve().parents[2]
RENDERED = distribution.render_all()
TEMPLATES = sorted(a.filename for a in distribution.ARTIFACTS if a.is_template)
JSON_FILES = sorted(name for name in RENDERED if name.endswith(".json"))


def run_build(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "build.py"), *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_dist_equals_the_build() -> None:
    assert distribution.stale_files(ROOT / "dist", RENDERED) == []


def test_generated_sections_of_every_page_equal_the_build() -> None:
    pages = {path: (ROOT / path).read_text() for path in distribution.HAND_PAGES}
    assert distribution.render_pages(pages, RENDERED) == pages


def test_a_generated_section_stands_in_exactly_one_page() -> None:
    pages = {path: (ROOT / path).read_text() for path in distribution.HAND_PAGES}
    doubled = {**pages, "docs/copy.md": pages["README.md"]}
    with pytest.raises(distribution.BuildError, match="exactly one page"):
        distribution.render_pages(doubled, RENDERED)


def test_the_readme_is_a_deployers_page_and_links_the_rest() -> None:
    """A deployer's README (the issue: at most about 450 lines), whose links to docs/ all resolve."""
    import re

    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 450
    for page in distribution.HAND_PAGES + (distribution.ALERTS_DOC,):
        text = (ROOT / page).read_text()
        for target, anchor in re.findall(r"\]\(((?:\.\./|docs/)?[\w./-]+\.md)(?:#([\w-]+))?\)", text):
            path = (ROOT / page).parent / target
            assert path.is_file(), (page, target)
            if anchor:  # GitHub's anchors: the heading in lower case, spaces as hyphens, punctuation out
                headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
                anchors = {re.sub(r"[^\w -]", "", h).strip().lower().replace(" ", "-") for h in headings}
                assert anchor in anchors, (page, target, anchor)


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_output_is_deterministic(name: str) -> None:
    assert RENDERED[name] == distribution.render_all()[name]


@pytest.mark.parametrize("name", JSON_FILES)
def test_output_is_sorted_json(name: str) -> None:
    body = RENDERED[name]
    assert body == distribution.render_all()[name]
    indent = 0 if name in TEMPLATES else None  # templates: a value a line; policies: one line
    separators = (",", ":")  # no spaces: size limits count every character
    assert body == json.dumps(json.loads(body), sort_keys=True, indent=indent, separators=separators,
                              ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_fits_cloudformations_limit(name: str) -> None:
    assert len(RENDERED[name].encode()) <= distribution.TEMPLATE_URL_LIMIT_BYTES


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_lints_clean_in_every_region(name: str) -> None:
    assert distribution.lint(RENDERED[name]) == []


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_but_chat_deploys_and_lints_in_govcloud_and_china(name: str) -> None:
    """lint_regions keeps the Regions that have every resource type of a template: a template that
    names an AWS::Chatbot type (absent in those partitions) loses them, and this test says so."""
    regions = set(distribution.lint_regions(RENDERED[name]))
    if name in distribution.COMMERCIAL_ONLY:
        assert not regions & set(distribution.OTHER_PARTITION_REGIONS) and "us-east-1" in regions
    else:
        assert set(distribution.OTHER_PARTITION_REGIONS) <= regions


def test_a_chat_resource_in_the_collector_would_keep_it_out_of_govcloud_and_china() -> None:
    collector = json.loads(RENDERED[distribution.COLLECTOR_FILE])
    chat = json.loads(RENDERED[distribution.CHAT_FILE])
    collector["Resources"]["SlackChannel"] = chat["Resources"]["SlackChannel"]
    assert not set(distribution.lint_regions(json.dumps(collector))) & set(distribution.OTHER_PARTITION_REGIONS)


def test_lint_reports_a_broken_template() -> None:
    broken = json.loads(RENDERED[distribution.WORKLOAD_FILE])
    broken["Resources"]["AlertTopic"]["Properties"]["Bogus"] = 1
    assert any("Bogus" in f for f in distribution.lint(json.dumps(broken)))


def test_check_names_stale_and_extra_files(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    shutil.copytree(ROOT / "dist", dist)
    assert run_build("--check", "--dist", str(dist)).returncode == 0
    (dist / distribution.WORKLOAD_FILE).write_text("{}\n")
    (dist / "old.json").write_text("{}\n")
    result = run_build("--check", "--dist", str(dist))
    assert result.returncode == 1
    assert distribution.WORKLOAD_FILE in result.stderr and "old.json" in result.stderr


def test_build_writes_dist(tmp_path: Path) -> None:
    result = run_build("--dist", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / distribution.WORKLOAD_FILE).read_text() == RENDERED[distribution.WORKLOAD_FILE]
    assert distribution.WORKLOAD_FILE in result.stdout and "bytes" in result.stdout


def test_bad_option_is_one_line_and_exit_2() -> None:
    result = run_build("--no-such-option")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--no-such-option" in result.stderr


def test_check_artifact_refuses_an_oversized_template() -> None:
    with pytest.raises(distribution.BuildError, match="1048576-byte limit"):
        distribution.check_artifact("big.json", " " * (distribution.TEMPLATE_URL_LIMIT_BYTES + 1))
