"""Policy as code: the CloudFormation Guard rules of tests/guard/ hold for every configuration of
the workload template, and each rule fails on the template it is meant to catch."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

guard = pytest.importorskip("cfn_guard_rs.cfn_guard_rs", reason="cfn-guard-rs has no wheel for this Python")

from tests.helpers import SCAN_CONFIGS, ConditionEvaluator, parameter_values  # noqa: E402

RULES = (Path(__file__).parents[1] / "guard" / "posture.guard").read_text()
RULE_NAMES = ["sns_topic_encrypted", "topic_policy_conditioned", "no_wildcard_allow",
              "kms_key_policy_no_wildcard_allow", "kms_key_retained",
              "kms_key_grants_for_aws_services_only", "alarms_have_actions",
              "queues_encrypted"]


def resolved(workload, name: str) -> dict:
    return ConditionEvaluator(workload, parameter_values(workload, **SCAN_CONFIGS[name])).resolved_template()


_VERDICT_LISTS = re.compile(
    r'"not_applicable":\s*(\[[^\]]*\]),\s*"compliant":\s*(\[[^\]]*\])\s*\}\s*$')


def failing_rules(template: dict) -> set[str]:
    """Names of the rules that do not pass: every rule that Guard reports neither compliant nor
    not applicable. Read from the end of Guard's report: cfn-guard-rs 0.3.3 sometimes returns a
    failing report with its beginning cut off, and its own report classes cannot parse every
    shape of a failure, but the two closing lists always arrive whole."""
    raw = guard.run_checks_rs(json.dumps(template), RULES, False)
    match = _VERDICT_LISTS.search(raw)
    assert match, f"unreadable Guard report: {raw[-300:]!r}"
    not_applicable, compliant = (set(json.loads(group)) for group in match.groups())
    assert (not_applicable | compliant) <= set(RULE_NAMES)
    return set(RULE_NAMES) - not_applicable - compliant


def test_configs_flip_every_condition(workload) -> None:
    seen: dict[str, set[bool]] = {c: set() for c in workload["Conditions"]}
    for overrides in SCAN_CONFIGS.values():
        evaluator = ConditionEvaluator(workload, parameter_values(workload, **overrides))
        assert evaluator.failed_rules() == [], overrides
        for c in seen:
            seen[c].add(evaluator.condition(c))
    assert {c for c, values in seen.items() if values != {True, False}} == set()


def test_rules_file_names_every_rule() -> None:
    assert sorted(RULE_NAMES) == sorted(line.split()[1] for line in RULES.splitlines() if line.startswith("rule "))


@pytest.mark.parametrize("config", sorted(SCAN_CONFIGS))
def test_every_configuration_complies(workload, config: str) -> None:
    expected = {"sns_topic_encrypted"} if config == "encryption-disabled" else set()
    assert failing_rules(resolved(workload, config)) == expected


def _first(template: dict, resource_type: str) -> dict:
    return next(r for r in template["Resources"].values() if r["Type"] == resource_type)


def _alias_key(t: dict) -> None:
    _first(t, "AWS::SNS::Topic")["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"


def _unconditioned_publisher(t: dict) -> None:
    del _first(t, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]["Statement"][0]["Condition"]


def _no_tls_deny(t: dict) -> None:
    doc = _first(t, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]
    doc["Statement"] = [s for s in doc["Statement"] if s["Effect"] != "Deny"]


def _wildcard_queue_policy(t: dict) -> None:
    _first(t, "AWS::SQS::QueuePolicy")["Properties"]["PolicyDocument"]["Statement"][0]["Principal"] = "*"


def _kms_star(t: dict) -> None:
    _first(t, "AWS::KMS::Key")["Properties"]["KeyPolicy"]["Statement"][0]["Action"] = ["kms:*"]


def _key_deleted_with_stack(t: dict) -> None:
    _first(t, "AWS::KMS::Key")["DeletionPolicy"] = "Delete"


def _grants_to_anyone(t: dict) -> None:
    policy = _first(t, "AWS::KMS::Key")["Properties"]["KeyPolicy"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Effect"] != "Deny"]


def _silent_alarm(t: dict) -> None:
    _first(t, "AWS::CloudWatch::Alarm")["Properties"]["AlarmActions"] = []


def _plain_queue(t: dict) -> None:
    props = _first(t, "AWS::SQS::Queue")["Properties"]
    props.pop("KmsMasterKeyId", None)
    props.pop("SqsManagedSseEnabled", None)


@pytest.mark.parametrize(("break_it", "rule"), [
    (_alias_key, "sns_topic_encrypted"),
    (_unconditioned_publisher, "topic_policy_conditioned"),
    (_no_tls_deny, "topic_policy_conditioned"),
    (_wildcard_queue_policy, "no_wildcard_allow"),
    (_kms_star, "kms_key_policy_no_wildcard_allow"),
    (_key_deleted_with_stack, "kms_key_retained"),
    (_grants_to_anyone, "kms_key_grants_for_aws_services_only"),
    (_silent_alarm, "alarms_have_actions"),
    (_plain_queue, "queues_encrypted"),
])
def test_each_rule_catches_its_violation(workload, break_it, rule: str) -> None:
    template = copy.deepcopy(resolved(workload, "defaults"))
    break_it(template)
    assert failing_rules(template) == {rule}


def test_rules_run_on_the_json_as_written(workload, tmp_path: Path) -> None:
    body = json.dumps(resolved(workload, "defaults"))
    assert failing_rules(json.loads(body)) == set()
