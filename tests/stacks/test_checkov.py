"""checkov on every template of dist/, and on each configuration of the workload template with its
conditions decided (checkov reads conditions from parameter defaults and silently skips resources
whose condition is false, so one run on dist/ alone would leave most of the template unchecked)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stacks import distribution
from tests.helpers import SCAN_CONFIGS, ConditionEvaluator, parameter_values

ROOT = Path(__file__).resolve().parents[2]
# checkov's pinned dependencies conflict with boto3's, so it lives in its own virtualenv, which
# dev.py creates and names in CHECKOV_BIN.
CHECKOV = os.environ.get("CHECKOV_BIN") or shutil.which("checkov")
# The only findings allowed: those of the configuration in which the user turned encryption off.
EXPECTED_FAILURES = {"encryption-disabled.json": {"CKV_AWS_26"}}


@pytest.fixture(scope="module")
def checkov_results(tmp_path_factory, workload) -> dict[str, dict]:
    if not CHECKOV:
        pytest.skip("checkov is not installed: run the tests with 'python3 dev.py test'")
    folder = tmp_path_factory.mktemp("checkov")
    for artifact in distribution.ARTIFACTS:
        if artifact.is_template:
            (folder / f"dist-{artifact.filename}").write_text(distribution.render_all()[artifact.filename])
    for name, overrides in SCAN_CONFIGS.items():
        resolved = ConditionEvaluator(workload, parameter_values(workload, **overrides)).resolved_template()
        (folder / f"{name}.json").write_text(json.dumps(resolved, indent=1))
    # The portfolio shared through AWS Organizations: its share function and role (off by default).
    portfolio = json.loads(distribution.render_all()[distribution.SERVICE_CATALOG_FILE])
    shared = ConditionEvaluator(portfolio, parameter_values(
        portfolio, TemplateUrl="https://templates.s3.amazonaws.com/deletion-alarms.json",
        ShareWith="ou-ab12-11111111", SharedPrincipalName="PlatformEngineers")).resolved_template()
    (folder / "service-catalog-shared.json").write_text(json.dumps(shared, indent=1))
    run = subprocess.run(
        [CHECKOV, "-d", str(folder), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    assert run.returncode in (0, 1), run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["summary"]["parsing_errors"] == 0
    by_file: dict[str, dict] = {p.name: {"passed": [], "failed": [], "skipped": []} for p in folder.iterdir()}
    for kind in ("passed", "failed", "skipped"):
        for check in report["results"][f"{kind}_checks"]:
            by_file[Path(check["file_path"]).name][kind].append(check)
    return by_file


def test_every_workload_configuration_was_scanned(checkov_results) -> None:
    # (checkov has no check for AWS::Organizations::Policy or AWS::CloudFormation::StackSet)
    for name, result in checkov_results.items():
        if "guardrails" in name or "stackset" in name:
            continue
        checked = result["passed"] + result["failed"] + result["skipped"]
        assert checked, f"checkov checked nothing in {name}: was it scanned?"


def test_no_failed_checks(checkov_results) -> None:
    failed = {name: {c["check_id"] for c in r["failed"]} for name, r in checkov_results.items()}
    assert failed == {name: EXPECTED_FAILURES.get(name, set()) for name in checkov_results}


def test_every_suppression_is_justified(checkov_results) -> None:
    for result in checkov_results.values():
        for check in result["skipped"]:
            assert len(check["check_result"].get("suppress_comment", "")) > 30, check["check_id"]
