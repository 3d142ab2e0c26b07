"""AWS Control Tower proactive controls: every template in dist/ passes every Control Tower Guard rule,
scanned as written (conditions unresolved, Fn::If in place), as the CloudFormation hook would.

The rules and the cfn-guard binary come from the npm package @cdklabs/cdk-validator-cfnguard
(rules/control-tower/cfn-guard), which ``python3 dev.py test`` unpacks and names in
CONTROL_TOWER_RULES. No control is suppressed.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = sorted((ROOT / "dist").glob("*.json"))
PACKAGE = Path(os.environ["CONTROL_TOWER_RULES"]) if os.environ.get("CONTROL_TOWER_RULES") else None

pytestmark = pytest.mark.skipif(
    PACKAGE is None, reason="Control Tower rules not unpacked: run the tests with 'python3 dev.py test'")


def guard_binary() -> Path:
    machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[
        platform.machine().lower()]
    system = {"Linux": "ubuntu", "Darwin": "macos"}[platform.system()]
    return PACKAGE / "bin" / system / machine / "cfn-guard"


def reports(template: Path) -> list[dict]:
    """cfn-guard's JSON report per rule file (it prints one JSON document after another)."""
    result = subprocess.run(
        [str(guard_binary()), "validate", "-r", str(PACKAGE / "rules" / "control-tower" / "cfn-guard"),
         "-d", str(template), "-o", "json", "--show-summary", "none"],
        capture_output=True, text=True)
    assert result.returncode in (0, 19), result.stderr  # 19: some rule failed
    decoder, text, found = json.JSONDecoder(), result.stdout.strip(), []
    while text:
        document, end = decoder.raw_decode(text)
        found.append(document)
        text = text[end:].lstrip()
    return found


def failures(template: Path) -> list[str]:
    return sorted(entry["Rule"]["name"] for report in reports(template)
                  for entry in report["not_compliant"])


def compliant(template: Path) -> set[str]:
    return {name for report in reports(template) for name in report["compliant"]}


# CT.LAMBDA.PR.3 wants every function in a customer VPC: it cannot hold without the customer's
# subnets and security groups, which an organization that enables it gives through
# NotifierSubnetIds and NotifierSecurityGroupIds. The one control not applied to the templates as
# written; test_the_notifier_in_a_vpc_passes_ct_lambda_pr_3 runs it on that configuration.
NEEDS_THE_CUSTOMERS_NETWORK = {"lambda_inside_vpc_check"}


@pytest.mark.parametrize("template", DIST, ids=[p.name for p in DIST])
def test_every_control_tower_rule_passes(template: Path) -> None:
    assert [f for f in failures(template) if f not in NEEDS_THE_CUSTOMERS_NETWORK] == []


def test_the_controls_for_the_workloads_resource_types_really_ran() -> None:
    """Not vacuous: the queue, key and alarm controls evaluated the workload and found it compliant."""
    ran = compliant(ROOT / "dist" / "deletion-alarms.json")
    assert {"sqs_dlq_check", "sqs_queue_encrypted_check", "kms_key_rotation_enabled_check",
            "kms_create_grant_aws_service_check", "cloudwatch_alarm_action_check"} <= ran


def test_a_queue_encrypted_with_a_conditional_key_fails_as_written(tmp_path: Path) -> None:
    """The first release's dead-letter queue: KmsMasterKeyId behind Fn::If fails CT.SQS.PR.2 and a
    queue without a redrive configuration fails CT.SQS.PR.1."""
    workload = json.loads((ROOT / "dist" / "deletion-alarms.json").read_text())
    bad = copy.deepcopy(workload)
    queue = bad["Resources"]["AlertDeliveryDeadLetterQueue"]["Properties"]
    queue["KmsMasterKeyId"] = {"Fn::If": ["CreateTopicKey", {"Fn::GetAtt": ["AlertTopicKey", "Arn"]},
                                          {"Ref": "AWS::NoValue"}]}
    del queue["SqsManagedSseEnabled"], queue["RedriveAllowPolicy"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert [f for f in failures(path) if f not in NEEDS_THE_CUSTOMERS_NETWORK] == [
        "sqs_dlq_check", "sqs_queue_encrypted_check"]


@pytest.mark.parametrize("config", ["notifier-in-a-vpc", "defaults"])
def test_the_notifier_in_a_vpc_passes_ct_lambda_pr_3(tmp_path: Path, config: str) -> None:
    """As the Control Tower hook sees it (the resource's properties, resolved by CloudFormation):
    the notifier of the workload and of the collector passes CT.LAMBDA.PR.3 with subnets and
    security groups given, and fails it without them."""
    from stacks.distribution import COLLECTOR_FILE
    from tests.helpers import SCAN_CONFIGS, ConcreteTemplate, parameter_values
    from tests.stacks.test_delivery import physical

    network = {k: v for k, v in SCAN_CONFIGS[config].items() if k.startswith("Notifier")}
    collector = {"OrganizationId": "o-a1b2c3d4e5", "NotificationEmail": "security-team@example.com"}
    for name, params in (("deletion-alarms.json", SCAN_CONFIGS[config]), (COLLECTOR_FILE, {**collector, **network})):
        template = json.loads((ROOT / "dist" / name).read_text())
        stack = ConcreteTemplate(template, parameter_values(template, **params), physical(template))
        properties = stack.properties("NotifierFunction")
        path = tmp_path / f"hook-{name}"
        path.write_text(json.dumps({"AWS::Lambda::Function": {"resourceProperties": properties}}))
        if network:
            assert properties["VpcConfig"]["SubnetIds"] == network["NotifierSubnetIds"].split(","), name
            assert failures(path) == [] and "lambda_inside_vpc_check" in compliant(path), name
        else:
            assert "VpcConfig" not in properties and failures(path) == ["lambda_inside_vpc_check"], name
