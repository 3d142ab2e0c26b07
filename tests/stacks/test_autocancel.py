"""AutoCancelOnUse, the template's part: Off grants nothing; Tagged and All give the notifier's role
the two calls (CancelKeyDeletion, RestoreSecret) and nothing else, on this account's keys and
secrets, with Tagged only where the owner's tag says so; a stack that cannot act (no notifier here,
no use detection) is refused before anything is created. The proofs run the IAM evaluator with the
key's default key policy and both SCPs, and can fail (a mutation drops the owner's-tag condition).
The notifier's part (which calls, when, what the alert says) is tests/functions/test_auto_cancel.py."""

from __future__ import annotations

import copy

import pytest

from stacks.autocancel import OWNER_TAG_KEY, OWNER_TAG_VALUE, POLICY_NAME
from stacks.guardrails import PROTECTED_TAG_KEY
from tests.helpers import ConditionEvaluator, parameter_values
from tests.iam_evaluator import ALLOW, Request, evaluate
from tests.stacks.test_delivery import ACCOUNT, REGION, SCPS, deploy

EMAIL = {"NotificationEmail": "security-team@example.com"}
COLLECTOR = "arn:aws:events:us-east-1:444455556666:event-bus/deletion-alarms"
# The key policy KMS gives a key created without one: the account, which lets IAM policies decide
# (KMS developer guide, key-policy-default).
DEFAULT_KEY_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*", "Resource": "*"}]}


def cancel_statements(template: dict, **params: str) -> list[dict] | None:
    """The notifier role's cancel policy statements as deployed with ``params``; None when the
    role or the policy is absent."""
    evaluator = ConditionEvaluator(template, parameter_values(template, **EMAIL, **params))
    if "NotifierRole" not in evaluator.deployed():
        return None
    role = evaluator.resolve(template["Resources"]["NotifierRole"])["Properties"]
    policies = [p for p in role["Policies"] if p.get("PolicyName") == POLICY_NAME]
    return policies[0]["PolicyDocument"]["Statement"] if policies else None


@pytest.mark.parametrize(("params", "actions"), [
    ({}, None),  # Off, the default
    ({"AutoCancelOnUse": "All"}, ["kms:CancelKeyDeletion", "secretsmanager:RestoreSecret"]),
    ({"AutoCancelOnUse": "Tagged"}, ["kms:CancelKeyDeletion", "secretsmanager:RestoreSecret"]),
    ({"AutoCancelOnUse": "All", "SecretMonitoring": "Disabled"}, ["kms:CancelKeyDeletion"]),
    ({"AutoCancelOnUse": "All", "KmsKeyMonitoring": "Disabled"}, ["secretsmanager:RestoreSecret"]),
])
def test_off_grants_nothing_and_on_grants_the_watched_services_one_call(workload, params, actions) -> None:
    statements = cancel_statements(workload, **params)
    assert (None if statements is None else sorted(a for s in statements for a in s["Action"])) == actions


@pytest.mark.parametrize("params", [
    {"DetectionMode": "DeletionOnly"},
    {"DetectionEngine": "CloudWatchLogs", "CloudTrailLogGroupName": "trail"},
    {"CollectorEventBusArn": COLLECTOR, "NotificationEmail": ""},
])
def test_a_stack_that_cannot_cancel_is_refused_naming_the_parameters(workload, params) -> None:
    """No use detection, or no notifier in this account: CloudFormation refuses AutoCancelOnUse
    before it creates anything, instead of deploying a switch that does nothing."""
    values = parameter_values(workload, **{**EMAIL, **params})
    assert not [f for f in ConditionEvaluator(workload, values).failed_rules() if "AutoCancel" in f]
    failed = ConditionEvaluator(workload, {**values, "AutoCancelOnUse": "All"}).failed_rules()
    (message,) = [f for f in failed if f.startswith("AutoCancelNeedsTheNotifier")]
    assert all(name in message for name in ("AutoCancelOnUse", "CollectorEventBusArn", "DetectionEngine",
                                            "DetectionMode", "Off"))


def proof(template: dict, mode: str) -> list[str]:
    """What the notifier's role may do that it should not, or may not do that AutoCancelOnUse needs,
    with the request context KMS and Secrets Manager send: the resource's tags as aws:ResourceTag
    (both authorize on it: Service Authorization Reference; KMS guide, ABAC), the role's own tag."""
    d = deploy(template, **EMAIL, AutoCancelOnUse=mode)
    role = d.stack.properties("NotifierRole")
    arn = d.stack.physical["NotifierRole"]["Arn"]
    policies = [p["PolicyDocument"] for p in role["Policies"]]
    problems = []

    def allowed(action: str, resource: str, tags: dict) -> bool:
        context = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        context[f"aws:PrincipalTag/{PROTECTED_TAG_KEY}"] = "true"
        key_policy = DEFAULT_KEY_POLICY if action.startswith("kms:") else None
        return evaluate(Request(action, resource, arn, context), identity_policies=policies,
                        resource_policy=key_policy, scps=SCPS) == ALLOW

    owner = {OWNER_TAG_KEY: OWNER_TAG_VALUE}
    for region in (REGION, "eu-west-1"):  # one account may send every Region's events to one notifier
        key = f"arn:aws:kms:{region}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        secret = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:prod/db-AbCdEf"
        for action, resource in (("kms:CancelKeyDeletion", key), ("secretsmanager:RestoreSecret", secret)):
            if not allowed(action, resource, owner):
                problems.append(f"{action} refused on a tagged resource in {region}")
            if allowed(action, resource, {}) != (mode == "All"):
                problems.append(f"{mode}: {action} on an untagged resource is wrong")
            if allowed(action, resource, {OWNER_TAG_KEY: "false"}):
                problems.append(f"{action} allowed where the owner said false" if mode == "Tagged" else "")
        for action, resource in (("kms:ScheduleKeyDeletion", key), ("kms:DisableKey", key), ("kms:EnableKey", key),
                                 ("kms:Decrypt", key), ("kms:PutKeyPolicy", key),
                                 ("secretsmanager:GetSecretValue", secret), ("secretsmanager:DeleteSecret", secret)):
            if allowed(action, resource, owner):
                problems.append(f"the notifier may {action}")
    other = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    if allowed("kms:CancelKeyDeletion", other, owner):
        problems.append("the notifier may cancel in another account")
    return [p for p in problems if p]


@pytest.mark.parametrize("mode", ["All", "Tagged"])
def test_the_notifier_may_cancel_and_restore_and_nothing_else(workload, mode) -> None:
    assert proof(workload, mode) == []


def test_the_proof_fails_without_the_owners_tag_condition(workload) -> None:
    mutated = copy.deepcopy(workload)
    (policy,) = [p["Fn::If"][1] for p in mutated["Resources"]["NotifierRole"]["Properties"]["Policies"]
                 if "Fn::If" in p and p["Fn::If"][1]["PolicyName"] == POLICY_NAME]
    for statement in policy["PolicyDocument"]["Statement"]:
        statement["Fn::If"][1].pop("Condition")
    assert "Tagged: kms:CancelKeyDeletion on an untagged resource is wrong" in proof(mutated, "Tagged")


def test_the_notifier_is_told_the_mode_only_where_its_role_may_act(workload) -> None:
    """AUTO_CANCEL is what the role allows: Off wherever the policy is absent."""
    for params, expected in (({"AutoCancelOnUse": "Tagged"}, "Tagged"), ({}, "Off"),
                             ({"AutoCancelOnUse": "All", "KmsKeyMonitoring": "Disabled",
                               "SecretMonitoring": "Disabled"}, None)):
        evaluator = ConditionEvaluator(workload, parameter_values(workload, **EMAIL, **params))
        if "NotifierFunction" not in evaluator.deployed():
            assert expected is None
            continue
        variables = workload["Resources"]["NotifierFunction"]["Properties"]["Environment"]["Variables"]
        assert evaluator.value(variables["AUTO_CANCEL"]) == expected
