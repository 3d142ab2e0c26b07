"""The service control policy: valid, small enough, lint-clean, and denying exactly what it should,
checked by evaluating its statements against request contexts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from parliament import analyze_policy_string

from stacks.distribution import GUARDRAILS_FILE, PROTECTION_SCP_FILE, SCP_FILE, render_all
from detections.errors import UserError
from stacks.guardrails import (
    NOTIFIER_DATA_ACTIONS,
    PROTECTED_ACTIONS,
    PROTECTED_TAG_KEY,
    SCP_SIZE_LIMIT,
    TAG_ACTIONS,
    GuardrailOptions,
    PROTECTION_WITH_RCP,
    SCP_NAMES,
    render_scp,
)
from tests.helpers import ConditionEvaluator
from tests.iam_evaluator import Request, matching_sids, wildcard

ROOT = Path(__file__).resolve().parents[2]
BREAK_GLASS = "arn:aws:iam::111122223333:role/BreakGlass"
USER = "arn:aws:iam::111122223333:role/Developer"
DEPLOYER = "arn:aws:iam::111122223333:role/stacksets-exec-0123456789abcdef"
ACCOUNT = "111122223333"


def scp(**options) -> dict:
    """Both SCPs as one document of their statements (a Deny in any attached SCP denies)."""
    parts = [json.loads(render_scp(GuardrailOptions(**options), name)) for name in SCP_NAMES]
    return {"Version": "2012-10-17", "Statement": [st for part in parts for st in part["Statement"]]}


# The SCP is evaluated with the project's one IAM evaluator (tests/iam_evaluator.py).
def denied_by(policy: dict, action: str, resource: str, context: dict) -> set[str]:
    """Sids of the Deny statements that match the request."""
    assert all(s["Effect"] == "Deny" for s in policy["Statement"])
    return set(matching_sids(policy, Request(action, resource, context["aws:PrincipalArn"], context), "Deny"))


KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-a1B2c3"


def ctx(principal: str = USER, **keys) -> dict:
    return {"aws:PrincipalArn": principal, **keys}


TAGGED = {"aws:ResourceTag/deletion-alarms:protected": "true"}
VIA_CLOUDFORMATION = {"aws:CalledVia": ["cloudformation.amazonaws.com"]}
GOV_DEPLOYER = "arn:aws-us-gov:iam::111122223333:role/stacksets-exec-0123456789abcdef"
LAUNCH_ROLE = "arn:aws:iam::111122223333:role/deletion-alarms/SC-LaunchRole-1A2B3C"
SHARED_LAUNCH_ROLE = "arn:aws:iam::111122223333:role/deletion-alarms-launch"
SERVICE_ROLE = "arn:aws:iam::111122223333:role/cfn-deployer"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-trail"
ALARM = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:SC-{ACCOUNT}-pp-abc-SecretDeletionRule"
STACK = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/deletion-alarms/0a1b2c3d-1111-2222-3333-444455556666"
WINDOWS = {"DenyShortKeyDeletionWindow"}


def window(days: int, principal: str = USER, **extra) -> dict:
    return ctx(principal, **{"kms:ScheduleKeyDeletionPendingWindowInDays": days}, **extra)


def force(principal: str = USER, **extra) -> dict:
    return ctx(principal, **{"secretsmanager:ForceDeleteWithoutRecovery": "true"}, **extra)


CASES = [
    # (description, options, action, resource, context, denied by)
    ("window 7", {}, "kms:ScheduleKeyDeletion", KEY, window(7), WINDOWS),
    ("window 29", {}, "kms:ScheduleKeyDeletion", KEY, window(29), WINDOWS),
    ("window 30", {}, "kms:ScheduleKeyDeletion", KEY, window(30), set()),
    ("window absent (KMS default 30)", {}, "kms:ScheduleKeyDeletion", KEY, ctx(), set()),
    ("window 7, minimum 7", {"min_window_days": 7}, "kms:ScheduleKeyDeletion", KEY, window(7), set()),
    ("window 13, minimum 14", {"min_window_days": 14}, "kms:ScheduleKeyDeletion", KEY, window(13), WINDOWS),
    ("window 7 by break-glass", {"break_glass_arns": (BREAK_GLASS,)}, "kms:ScheduleKeyDeletion", KEY,
     window(7, BREAK_GLASS), set()),
    # Stack deletions through CloudFormation keep working for secrets; a key gets 30 days (the
    # default), a shorter window only from a deploy role.
    ("a person's stack deletion schedules a 7-day key", {}, "kms:ScheduleKeyDeletion",
     KEY, window(7, **VIA_CLOUDFORMATION), WINDOWS),
    ("a person's stack deletion schedules a key with CloudFormation's default", {}, "kms:ScheduleKeyDeletion",
     KEY, window(30, **VIA_CLOUDFORMATION), set()),
    ("a deploy role's stack deletion schedules a 7-day key", {}, "kms:ScheduleKeyDeletion",
     KEY, window(7, DEPLOYER, **VIA_CLOUDFORMATION), set()),
    ("a person imports a secret into a stack of their own", {}, "cloudformation:CreateChangeSet",
     f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/mine/1", ctx(**{"cloudformation:ImportResourceTypes": [
         "AWS::SecretsManager::Secret"]}), {"DenyImportingKeysAndSecrets"}),
    ("a person imports a key with a bucket", {}, "cloudformation:CreateChangeSet",
     f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/mine/1", ctx(**{"cloudformation:ImportResourceTypes": [
         "AWS::S3::Bucket", "AWS::KMS::Key"]}), {"DenyImportingKeysAndSecrets"}),
    ("a person imports a bucket", {}, "cloudformation:CreateChangeSet",
     f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/mine/1", ctx(**{"cloudformation:ImportResourceTypes": [
         "AWS::S3::Bucket"]}), set()),
    ("a person's change set without import", {}, "cloudformation:CreateChangeSet",
     f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/mine/1", ctx(), set()),
    ("a deploy role imports a secret", {}, "cloudformation:CreateChangeSet",
     f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/mine/1", ctx(DEPLOYER, **{
         "cloudformation:ImportResourceTypes": ["AWS::SecretsManager::Secret"]}), set()),
    ("a stack deletion with the caller's credentials force-deletes a secret", {}, "secretsmanager:DeleteSecret",
     SECRET, force(**VIA_CLOUDFORMATION), set()),
    ("a StackSets execution role force-deletes a secret", {}, "secretsmanager:DeleteSecret", SECRET,
     force(DEPLOYER), set()),
    ("the same role in GovCloud", {}, "secretsmanager:DeleteSecret", SECRET, force(GOV_DEPLOYER), set()),
    ("a CloudFormation service role named as a deploy role", {"deploy_role_arns": (SERVICE_ROLE,)},
     "kms:ScheduleKeyDeletion", KEY, window(7, SERVICE_ROLE), set()),
    ("the same service role, not named", {}, "kms:ScheduleKeyDeletion", KEY, window(7, SERVICE_ROLE), WINDOWS),
    ("a call via another service only (Athena) is still direct", {}, "secretsmanager:DeleteSecret", SECRET,
     force(**{"aws:CalledVia": ["athena.amazonaws.com"]}), {"DenySecretForceDelete"}),
    ("secret window 7", {}, "secretsmanager:DeleteSecret", SECRET,
     ctx(**{"secretsmanager:RecoveryWindowInDays": 7}), {"DenyShortSecretRecoveryWindow"}),
    ("secret window 30", {}, "secretsmanager:DeleteSecret", SECRET,
     ctx(**{"secretsmanager:RecoveryWindowInDays": 30}), set()),
    ("secret window absent", {}, "secretsmanager:DeleteSecret", SECRET, ctx(), set()),
    ("a person's direct force delete", {}, "secretsmanager:DeleteSecret", SECRET, force(), {"DenySecretForceDelete"}),
    ("force delete false", {}, "secretsmanager:DeleteSecret", SECRET,
     ctx(**{"secretsmanager:ForceDeleteWithoutRecovery": "false", "secretsmanager:RecoveryWindowInDays": 30}), set()),
    ("force delete by break-glass", {"break_glass_arns": (BREAK_GLASS,)}, "secretsmanager:DeleteSecret", SECRET,
     force(BREAK_GLASS), set()),
    # The product's resources, protected by their tag whatever their names (a Service Catalog stack).
    ("delete a tagged alarm", {}, "cloudwatch:DeleteAlarms", ALARM, ctx(**TAGGED), {"ProtectTaggedResources"}),
    ("disable a tagged alarm's actions", {}, "cloudwatch:DisableAlarmActions", ALARM, ctx(**TAGGED),
     {"ProtectTaggedResources"}),
    ("the launch role updates a tagged alarm", {}, "cloudwatch:PutMetricAlarm", ALARM, ctx(LAUNCH_ROLE, **TAGGED),
     set()),
    ("a deploy role updates a tagged alarm", {}, "cloudwatch:PutMetricAlarm", ALARM, ctx(DEPLOYER, **TAGGED), set()),
    ("delete someone else's alarm", {}, "cloudwatch:DeleteAlarms",
     f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:app-latency", ctx(), set()),
    ("disable a tagged rule", {}, "events:DisableRule",
     f"arn:aws:events:us-east-1:{ACCOUNT}:rule/SC-x-SecretDeletionRule-1A2B3C", ctx(**TAGGED), {"ProtectTaggedResources"}),
    ("remove a tagged rule's target", {}, "events:RemoveTargets",
     f"arn:aws:events:us-east-1:{ACCOUNT}:rule/x-KmsKeyPendingDeletionUseRule-9Z", ctx(**TAGGED),
     {"ProtectTaggedResources"}),
    ("delete the tagged topic", {}, "sns:DeleteTopic", f"arn:aws:sns:us-east-1:{ACCOUNT}:x-AlertTopic-ABC",
     ctx(**TAGGED), {"ProtectTaggedResources"}),
    ("purge the tagged event queue", {}, "sqs:PurgeQueue", f"arn:aws:sqs:us-east-1:{ACCOUNT}:x-AlertEventQueue-XYZ",
     ctx(**TAGGED), {"ProtectTaggedResources"}),
    ("schedule deletion of the tagged topic key, 30 days", {}, "kms:ScheduleKeyDeletion", KEY,
     window(30, **TAGGED), {"ProtectTaggedResources"}),
    ("delete the topic key's alias (authorized on the tagged key too)", {}, "kms:DeleteAlias", KEY,
     ctx(**TAGGED), {"ProtectTaggedResources"}),
    ("disable another key", {}, "kms:DisableKey", KEY, ctx(), set()),
    ("remove the protection tag", {}, "sns:UntagResource", f"arn:aws:sns:us-east-1:{ACCOUNT}:x-AlertTopic-ABC",
     ctx(**TAGGED, **{"aws:TagKeys": ["deletion-alarms:protected"]}), {"ProtectTheProtectionTag"}),
    ("set the protection tag to false", {}, "kms:TagResource", KEY,
     ctx(**TAGGED, **{"aws:TagKeys": ["deletion-alarms:protected"]}), {"ProtectTheProtectionTag"}),
    ("remove another tag of a protected resource", {}, "sqs:UntagQueue",
     f"arn:aws:sqs:us-east-1:{ACCOUNT}:x-AlertEventQueue-XYZ", ctx(**TAGGED, **{"aws:TagKeys": ["CostCenter"]}), set()),
    ("a person's CloudFormation tags a new resource with the protection tag", {}, "events:TagResource",
     f"arn:aws:events:us-east-1:{ACCOUNT}:rule/x-SecretDeletionRule-1A2B3C",
     ctx(**VIA_CLOUDFORMATION, **{"aws:TagKeys": ["deletion-alarms:protected"]}), {"ProtectTheProtectionTag"}),
    ("a deploy role's CloudFormation tags a new resource", {}, "events:TagResource",
     f"arn:aws:events:us-east-1:{ACCOUNT}:rule/x-SecretDeletionRule-1A2B3C",
     ctx(DEPLOYER, **VIA_CLOUDFORMATION, **{"aws:TagKeys": ["deletion-alarms:protected"]}), set()),
    ("a person gives their own role the protection tag", {}, "iam:TagRole", f"arn:aws:iam::{ACCOUNT}:role/Mine",
     ctx(**{"aws:TagKeys": ["deletion-alarms:protected"]}), {"ProtectTheProtectionTag"}),
    ("a person creates a role with the protection tag", {}, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/Mine",
     ctx(**{"aws:TagKeys": ["deletion-alarms:protected"]}), {"ProtectTheProtectionTag"}),
    ("a person's session tagged with the protection tag", {}, "sts:TagSession",
     f"arn:aws:iam::{ACCOUNT}:role/Admin", ctx(**{"aws:TagKeys": ["deletion-alarms:protected"]}),
     {"ProtectTheProtectionTag"}),
    ("a person creates a role without it", {}, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/Mine", ctx(), set()),
    # The exemption cannot be self-granted: the deploy roles are the deployers' to make.
    ("a person creates a role with an exempt name", {}, "iam:CreateRole",
     f"arn:aws:iam::{ACCOUNT}:role/stacksets-exec-mine", ctx(), {"ProtectDeployRoles"}),
    ("a person creates a role on the exempt path", {}, "iam:CreateRole",
     f"arn:aws:iam::{ACCOUNT}:role/deletion-alarms/Mine", ctx(), {"ProtectDeployRoles"}),
    ("a person re-trusts the StackSets execution role", {}, "iam:UpdateAssumeRolePolicy",
     f"arn:aws:iam::{ACCOUNT}:role/AWSCloudFormationStackSetExecutionRole", ctx(), {"ProtectDeployRoles"}),
    ("a person attaches a policy to the launch role", {}, "iam:AttachRolePolicy", LAUNCH_ROLE, ctx(),
     {"ProtectDeployRoles"}),
    ("a person passes the launch role to CloudFormation", {}, "iam:PassRole", LAUNCH_ROLE, ctx(),
     {"ProtectDeployRoles"}),
    ("a deploy role creates the launch role", {}, "iam:CreateRole", LAUNCH_ROLE, ctx(DEPLOYER), set()),
    # The shared portfolio's launch role, by its name in every member account (no path).
    ("a person creates the shared launch role's name", {}, "iam:CreateRole", SHARED_LAUNCH_ROLE, ctx(),
     {"ProtectDeployRoles"}),
    ("a person passes the shared launch role (a launch constraint of their own)", {}, "iam:PassRole",
     SHARED_LAUNCH_ROLE, ctx(), {"ProtectDeployRoles"}),
    ("a person re-trusts the shared launch role", {}, "iam:UpdateAssumeRolePolicy", SHARED_LAUNCH_ROLE, ctx(),
     {"ProtectDeployRoles"}),
    ("the launch role stack set creates it", {}, "iam:CreateRole", SHARED_LAUNCH_ROLE, ctx(DEPLOYER), set()),
    ("the shared launch role updates the product's stack", {}, "cloudformation:UpdateStack", STACK,
     ctx(SHARED_LAUNCH_ROLE), set()),
    ("a role that only ends with its name is no deploy role", {}, "cloudformation:UpdateStack", STACK,
     ctx(f"arn:aws:iam::{ACCOUNT}:role/team/deletion-alarms-launch"), {"ProtectProductStacksByName"}),
    ("a person creates any other role", {}, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/app", ctx(), set()),
    # The notifier's data: only a principal with the protection tag (its role) writes it.
    ("a person deletes entries of the event queue", {}, "sqs:DeleteMessage",
     f"arn:aws:sqs:us-east-1:{ACCOUNT}:x-AlertEventQueue-XYZ", ctx(**TAGGED), {"ProtectNotifierData"}),
    ("a person claims the coming minutes", {}, "dynamodb:PutItem",
     f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/x-NotifierClaimTable-1", ctx(**TAGGED), {"ProtectNotifierData"}),
    ("a person invokes the notifier", {}, "lambda:InvokeFunction",
     f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:x-NotifierFunction-1", ctx(**TAGGED), {"ProtectNotifierData"}),
    ("the notifier's role deletes an entry it sent", {}, "sqs:DeleteMessage",
     f"arn:aws:sqs:us-east-1:{ACCOUNT}:x-AlertEventQueue-XYZ",
     ctx(f"arn:aws:iam::{ACCOUNT}:role/x-NotifierRole-1", **TAGGED, **{"aws:PrincipalTag/deletion-alarms:protected": "true"}),
     set()),
    ("a person reads the event queue", {}, "sqs:ReceiveMessage",
     f"arn:aws:sqs:us-east-1:{ACCOUNT}:x-AlertEventQueue-XYZ", ctx(**TAGGED), set()),
    ("a person moves dead letters back", {}, "sqs:StartMessageMoveTask",
     f"arn:aws:sqs:us-east-1:{ACCOUNT}:x-AlertDeliveryDeadLetterQueue-XYZ", ctx(**TAGGED), set()),
    ("a person deletes another queue's messages", {}, "sqs:DeleteMessage",
     f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders", ctx(), set()),
    # The notifier itself.
    ("a person sets the notifier's concurrency to 0", {}, "lambda:PutFunctionConcurrency",
     f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:x-NotifierFunction-1", ctx(**TAGGED), {"ProtectTaggedResources"}),
    ("a person disables the event source mapping", {}, "lambda:UpdateEventSourceMapping",
     f"arn:aws:lambda:us-east-1:{ACCOUNT}:event-source-mapping:1", ctx(**TAGGED), {"ProtectTaggedResources"}),
    ("a person attaches a deny policy to the forwarding role", {}, "iam:AttachRolePolicy",
     f"arn:aws:iam::{ACCOUNT}:role/x-CollectorForwardingRole-1", ctx(**TAGGED), {"ProtectTaggedResources"}),
    ("a person sets a boundary on the notifier's role", {}, "iam:PutRolePermissionsBoundary",
     f"arn:aws:iam::{ACCOUNT}:role/x-NotifierRole-1", ctx(**TAGGED), {"ProtectTaggedResources"}),
    # No resource type in the Reference: accepted in the threat model, with its reason.
    ("a person changes the collector bus's permissions", {}, "events:RemovePermission", "*", ctx(), set()),
    ("a person executes a change set on the product's stack", {}, "cloudformation:ExecuteChangeSet", STACK,
     ctx(), {"ProtectProductStacksByName"}),
    ("delete a tagged stack (a stack set's instance)", {}, "cloudformation:DeleteStack",
     f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/StackSet-x-1/0a1b", ctx(**TAGGED), {"ProtectTaggedResources"}),
    ("delete our stack by name", {}, "cloudformation:DeleteStack", STACK, ctx(), {"ProtectProductStacksByName"}),
    ("break-glass deletes our stack", {"break_glass_arns": (BREAK_GLASS,)}, "cloudformation:DeleteStack", STACK,
     ctx(BREAK_GLASS, **TAGGED), set()),
    ("custom prefix", {"resource_prefixes": ("secops-alarms",)}, "cloudformation:DeleteStack",
     f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/secops-alarms/1", ctx(), {"ProtectProductStacksByName"}),
    ("delete a metric filter on the trail's log group", {}, "logs:DeleteMetricFilter",
     f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-cloudtrail-logs-{ACCOUNT}-1a2b3c", ctx(),
     {"ProtectTrailLogGroups"}),
    ("delete a metric filter on Control Tower's trail log group", {}, "logs:DeleteMetricFilter",
     f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-controltower/CloudTrailLogs-a1b2", ctx(),
     {"ProtectTrailLogGroups"}),
    ("deploy role deletes a trail metric filter", {}, "logs:DeleteMetricFilter",
     f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-cloudtrail-logs-{ACCOUNT}", ctx(DEPLOYER), set()),
    ("delete a metric filter on an app log group", {}, "logs:DeleteMetricFilter",
     f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app/api", ctx(), set()),
    # Trails: a person cannot blind the detections.
    ("a person stops the trail", {}, "cloudtrail:StopLogging", TRAIL, ctx(), {"ProtectTrails"}),
    ("a person deletes the trail", {}, "cloudtrail:DeleteTrail", TRAIL, ctx(), {"ProtectTrails"}),
    ("a person changes its event selectors", {}, "cloudtrail:PutEventSelectors", TRAIL, ctx(), {"ProtectTrails"}),
    ("a person updates the trail", {}, "cloudtrail:UpdateTrail", TRAIL, ctx(), {"ProtectTrails"}),
    ("a deploy role changes the selectors", {}, "cloudtrail:PutEventSelectors", TRAIL, ctx(DEPLOYER), set()),
    ("break-glass stops the trail", {"break_glass_arns": (BREAK_GLASS,)}, "cloudtrail:StopLogging", TRAIL,
     ctx(BREAK_GLASS), set()),
    ("trail protection turned off", {"protect_trails": False}, "cloudtrail:StopLogging", TRAIL, ctx(), set()),
    ("a person reads the trail", {}, "cloudtrail:GetEventSelectors", TRAIL, ctx(), set()),
]


@pytest.mark.parametrize(("options", "action", "resource", "context", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_statements_deny_exactly(options, action, resource, context, expected) -> None:
    assert denied_by(scp(**options), action, resource, context) == expected


@pytest.mark.parametrize("file", [SCP_FILE, PROTECTION_SCP_FILE])
def test_is_a_valid_iam_policy_under_the_size_limit(file) -> None:
    body = render_all()[file]
    policy = json.loads(body)
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    for s in policy["Statement"]:
        assert set(s) <= {"Sid", "Effect", "Action", "Resource", "Condition"} and s["Effect"] == "Deny"
        assert all(":" in a for a in s["Action"]) and s["Resource"]
    assert len(body.rstrip("\n")) <= SCP_SIZE_LIMIT
    assert " " not in body.split('"Sid"')[0]  # minimised: whitespace counts against the limit


PARLIAMENT_ALLOWED: set = set()  # no finding is accepted


@pytest.mark.parametrize("name", [*SCP_NAMES, PROTECTION_WITH_RCP])
@pytest.mark.parametrize("options", [{}, {"break_glass_arns": (BREAK_GLASS,), "min_window_days": 7, "protect_trails": False}])
def test_parliament_finds_nothing_else(options, name) -> None:
    findings = {(f.issue, f.detail)
                for f in analyze_policy_string(render_scp(GuardrailOptions(**options), name)).findings}
    assert findings <= PARLIAMENT_ALLOWED
    broken = scp(**options)
    broken["Statement"][0]["Action"] = ["kms:ScheduleKeyDeleteion"]  # parliament does catch typos
    assert any(f.issue == "UNKNOWN_ACTION" for f in analyze_policy_string(json.dumps(broken)).findings)


@pytest.mark.parametrize("name", [*SCP_NAMES, PROTECTION_WITH_RCP])
def test_too_many_exemptions_are_refused(name) -> None:
    many = tuple(f"arn:aws:iam::111122223333:role/break-glass-{i:03}-with-a-long-descriptive-name" for i in range(60))
    with pytest.raises(UserError, match=f"{name} is .* over the 5120 limit"):
        render_scp(GuardrailOptions(break_glass_arns=many), name)


@pytest.mark.parametrize(("options", "message"), [
    ({"min_window_days": 6}, "from 7 to 30"),
    ({"min_window_days": 31}, "from 7 to 30"),
    ({"break_glass_arns": ("BreakGlass",)}, "--break-glass-arn"),
    ({"deploy_role_arns": ()}, "at least one"),
    ({"resource_prefixes": ("bad prefix",)}, "--resource-prefix"),
])
def test_invalid_options_are_refused(options, message) -> None:
    with pytest.raises(UserError, match=message):
        GuardrailOptions(**options).validate()


def test_management_template_attaches_the_same_policies() -> None:
    rendered = render_all()
    template = ConditionEvaluator(json.loads(rendered[GUARDRAILS_FILE]), {
        "TargetIds": "ou-ab12-11111111", "RcpTargetIds": "ou-ab12-11111111",
        "DeletionControls": "ServiceControlPolicy"}).resolved_template()  # the default layout
    policies = {p["Properties"]["Name"]: p for p in template["Resources"].values()}
    assert sorted(policies) == sorted([*SCP_NAMES, "deletion-guardrails-rcp"])
    # the RCP (tests/stacks/test_rcp.py): the exact text of its file, attached only where asked
    assert policies["deletion-guardrails-rcp"]["Properties"]["Content"] == rendered["deletion-guardrails-rcp.json"].rstrip("\n")
    for name, file in zip(SCP_NAMES, (SCP_FILE, PROTECTION_SCP_FILE)):
        policy = policies[name]
        assert policy["Type"] == "AWS::Organizations::Policy"
        assert policy["Properties"]["Type"] == "SERVICE_CONTROL_POLICY"
        # the exact text of the policy file, the one measured against Organizations' limit
        assert policy["Properties"]["Content"] == rendered[file].rstrip("\n")
        assert policy["Properties"]["TargetIds"] == {"Ref": "TargetIds"}
    assert template["Parameters"]["TargetIds"]["Type"] == "CommaDelimitedList"


def run_build(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "build.py"), *args], capture_output=True, text=True)


def test_build_options_change_the_policy(tmp_path: Path) -> None:
    result = run_build("--dist", str(tmp_path), "--min-window-days", "14", "--break-glass-arn", BREAK_GLASS)
    assert result.returncode == 0, result.stderr
    policy = json.loads((tmp_path / SCP_FILE).read_text())
    assert denied_by(policy, "kms:ScheduleKeyDeletion", KEY,
                     ctx(**{"kms:ScheduleKeyDeletionPendingWindowInDays": 13})) == {"DenyShortKeyDeletionWindow"}
    assert denied_by(policy, "kms:ScheduleKeyDeletion", KEY,
                     ctx(**{"kms:ScheduleKeyDeletionPendingWindowInDays": 14})) == set()
    assert BREAK_GLASS in (tmp_path / SCP_FILE).read_text()
    assert run_build("--check", "--dist", str(tmp_path), "--min-window-days", "14",
                     "--break-glass-arn", BREAK_GLASS).returncode == 0
    assert run_build("--check", "--dist", str(tmp_path)).returncode == 1  # defaults differ


@pytest.mark.parametrize("args", [["--min-window-days", "5"], ["--min-window-days", "thirty"],
                                  ["--break-glass-arn", "*"]])
def test_bad_build_options_exit_2_with_one_line(args) -> None:
    result = run_build("--check", *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


# ----------------------------------------- tag protection, checked against AWS's own reference
SAR = {service["prefix"]: service for service in __import__("parliament").iam_definition}


def condition_keys(action: str) -> set[str]:
    """Condition keys the Service Authorization Reference lists for ``action`` on its required
    resource types (and on the action itself)."""
    service, name = action.split(":")
    (privilege,) = [p for p in SAR[service]["privileges"] if p["privilege"] == name]
    resources = {r["resource"]: set(r.get("condition_keys", [])) for r in SAR[service]["resources"]}
    keys: set[str] = set()
    for entry in privilege["resource_types"]:
        keys |= set(entry["condition_keys"]) | resources.get(entry["resource_type"].rstrip("*"), set())
    return keys


def expand(pattern: str) -> list[str]:
    """The actions of the Service Authorization Reference that an IAM action pattern matches."""
    service, name = pattern.split(":")
    return sorted(f"{service}:{p['privilege']}" for p in SAR[service]["privileges"]
                  if wildcard(name, p["privilege"], ignore_case=True))


def names(actions) -> list[str]:
    return sorted(str(a.JSONrepr()) for a in actions)


@pytest.mark.parametrize("pattern", names(PROTECTED_ACTIONS + NOTIFIER_DATA_ACTIONS))
def test_every_tag_protected_action_supports_resource_tags(pattern: str) -> None:
    """Each pattern names actions the tag condition can bite: no typo, no action without the key
    (an action the Reference gives no aws:ResourceTag never matches the statement: dead text)."""
    matched = expand(pattern)
    assert matched, f"{pattern} matches no action"
    inert = [a for a in matched if "aws:ResourceTag/${TagKey}" not in condition_keys(a)]
    assert len(inert) < len(matched), f"{pattern}: no action it matches supports aws:ResourceTag"


@pytest.mark.parametrize("pattern", names(TAG_ACTIONS))
def test_tag_actions_carry_the_keys_being_changed(pattern: str) -> None:
    matched = expand(pattern)
    assert matched and any("aws:TagKeys" in condition_keys(a) for a in matched), pattern


def test_unsubscribe_cannot_be_protected_by_a_policy() -> None:
    """No resource type: a Deny scoped to a topic never matches it; the README's remedy is
    authenticated unsubscribe."""
    (privilege,) = [p for p in SAR["sns"]["privileges"] if p["privilege"] == "Unsubscribe"]
    assert [t["resource_type"] for t in privilege["resource_types"]] == [""]
    assert "sns:Unsubscribe" not in json.dumps(scp())


def test_every_taggable_workload_resource_carries_the_protection_tag() -> None:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    workload = json.loads(render_all()["deletion-alarms.json"])
    tagged = 0
    for logical_id, resource in workload["Resources"].items():
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource["Type"]).schema
        if "Tags" in schema.get("properties", {}):
            assert {"Key": PROTECTED_TAG_KEY, "Value": "true"} in resource["Properties"].get("Tags", []), logical_id
            tagged += 1
    assert tagged >= 20


def test_the_scps_are_given_as_measured_text_because_an_object_might_not_fit() -> None:
    """Organizations counts every character of an SCP, white space included (5,120). Handed over as
    an object, the text depends on a serialization AWS does not document: pretty-printed, the
    protection SCP is over the limit. As a string, the text measured here is the text AWS gets."""
    from stacks.guardrails import SCP_SIZE_LIMIT

    template = json.loads(render_all()[GUARDRAILS_FILE])
    contents = []
    for layout in ("ServiceControlPolicy", "ResourceControlPolicy"):
        decided = ConditionEvaluator(template, {"TargetIds": "ou-ab12-11111111", "RcpTargetIds": "",
                                                "DeletionControls": layout}).resolved_template()
        contents += [r["Properties"]["Content"] for r in decided["Resources"].values()
                     if r["Type"] == "AWS::Organizations::Policy"]
    assert len(contents) == 4  # two SCPs, then one SCP and the RCP
    for content in contents:
        assert isinstance(content, str) and len(content) <= SCP_SIZE_LIMIT
    indented = [len(json.dumps(json.loads(c), indent=4)) for c in contents]
    assert max(indented) > SCP_SIZE_LIMIT  # why not an object: one plausible serialization does not fit
