"""Parameters: constraints accept good values and reject bad ones; the console metadata is complete."""

from __future__ import annotations

import itertools
import re

import pytest

from tests.helpers import ConditionEvaluator, parameter_values


def accepts(parameter: dict, value: str) -> bool:
    """CloudFormation's checks of a String parameter value (AllowedPattern is a whole match)."""
    if "AllowedValues" in parameter and value not in parameter["AllowedValues"]:
        return False
    if "AllowedPattern" in parameter and not re.fullmatch(parameter["AllowedPattern"], value):
        return False
    if len(value) < int(parameter.get("MinLength", 0)):
        return False
    return len(value) <= int(parameter.get("MaxLength", 4096))


@pytest.mark.parametrize(("value", "ok"), [
    ("security-team@example.com", True),
    ("first.last+alerts@mail.example.com", True),
    ("o'brien@example.co.uk", True),
    ("", True),  # allowed when ExistingTopicArn is given: a Rule checks
    ("security-team", False),
    ("security-team@", False),
    ("@example.com", False),
    ("a@example", False),
    ("a b@example.com", False),
    ("a@exa mple.com", False),
    ("a@example.com\nb@example.com", False),
    ("a@example.com,b@example.com", False),
    ("x" * 250 + "@example.com", False),
])
def test_notification_email(workload, value: str, ok: bool) -> None:
    assert accepts(workload["Parameters"]["NotificationEmail"], value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("aws-cloudtrail-logs-111122223333", True),
    ("aws-controltower/CloudTrailLogs", True),
    ("/aws/cloudtrail/org#1.log_group", True),
    ("a" * 512, True),
    ("", True),  # allowed by the pattern; the Rule below rejects it for metric filters
    ("a" * 513, False),
    ("trail logs", False),
    ("trail:logs", False),  # ':' lies between '.' and '_': a naive [.-_] range would let it in
    ("trail@logs", False),
    ("trail*", False),
    ("tráil", False),
])
def test_cloudtrail_log_group_name(workload, value: str, ok: bool) -> None:
    assert accepts(workload["Parameters"]["CloudTrailLogGroupName"], value) is ok


@pytest.mark.parametrize(("engine", "log_group", "ok"), [
    ("EventBridge", "", True),
    ("EventBridge", "aws-cloudtrail-logs", True),
    ("CloudWatchLogs", "aws-cloudtrail-logs", True),
    ("Both", "aws-cloudtrail-logs", True),
    ("CloudWatchLogs", "", False),
    ("Both", "", False),
])
def test_rule_requires_a_log_group_for_metric_filters(workload, engine, log_group, ok) -> None:
    params = parameter_values(workload, NotificationEmail="a@example.com", DetectionEngine=engine,
                              CloudTrailLogGroupName=log_group)
    failed = ConditionEvaluator(workload, params).failed_rules()
    assert (failed == []) is ok
    for message in failed:
        assert "CloudTrailLogGroupName is required" in message and "EventBridge" in message


@pytest.mark.parametrize(("name", "value", "ok"), [
    ("NotifierSubnetIds", "", True),
    ("NotifierSubnetIds", "subnet-0123abcd", True),
    ("NotifierSubnetIds", "subnet-0123456789abcdef0,subnet-0fedcba9876543210", True),
    ("NotifierSubnetIds", ",".join(["subnet-0123abcd"] * 16), True),  # Lambda takes at most 16
    ("NotifierSubnetIds", ",".join(["subnet-0123abcd"] * 17), False),
    ("NotifierSubnetIds", "subnet-0123abcd, subnet-0123abce", False),  # no spaces: Fn::Split keeps them
    ("NotifierSubnetIds", "subnet-0123abcd,", False),
    ("NotifierSubnetIds", "sg-0123abcd", False),
    ("NotifierSubnetIds", "subnet-XYZ12345", False),
    ("NotifierSecurityGroupIds", "sg-0123456789abcdef0", True),
    ("NotifierSecurityGroupIds", ",".join(["sg-0123abcd"] * 5), True),  # Lambda takes at most 5
    ("NotifierSecurityGroupIds", ",".join(["sg-0123abcd"] * 6), False),
    ("NotifierSecurityGroupIds", "subnet-0123abcd", False),
])
@pytest.mark.parametrize("template", ["workload", "collector"])
def test_notifier_network_ids(request, template, name, value, ok) -> None:
    assert accepts(request.getfixturevalue(template)["Parameters"][name], value) is ok


@pytest.mark.parametrize(("subnets", "groups", "ok"), [
    ("", "", True),
    ("subnet-0123abcd", "sg-0123abcd", True),
    ("subnet-0123abcd", "", False),
    ("", "sg-0123abcd", False),
])
def test_rule_takes_subnets_and_security_groups_together(workload, subnets, groups, ok) -> None:
    params = parameter_values(workload, NotificationEmail="a@example.com", NotifierSubnetIds=subnets,
                              NotifierSecurityGroupIds=groups)
    failed = ConditionEvaluator(workload, params).failed_rules()
    assert (failed == []) is ok
    assert all(m.startswith("NotifierNetworkComplete: NotifierSubnetIds and NotifierSecurityGroupIds") for m in failed)


def test_detection_engine_values(workload) -> None:
    p = workload["Parameters"]["DetectionEngine"]
    assert p["AllowedValues"] == ["EventBridge", "CloudWatchLogs", "Both"]
    assert p["Default"] == "EventBridge"


def test_detection_mode_values(workload) -> None:
    p = workload["Parameters"]["DetectionMode"]
    assert p["AllowedValues"] == ["AccessAndDeletion", "AccessOnly", "DeletionOnly"]
    assert p["Default"] == "AccessAndDeletion"


def test_alarm_period_defaults_to_one_minute(workload) -> None:
    p = workload["Parameters"]["AlarmPeriodSeconds"]
    assert p["Type"] == "Number" and p["Default"] == "60"
    assert all(int(v) % 60 == 0 for v in p["AllowedValues"])  # standard-resolution metrics


def test_every_parameter_is_described_constrained_labelled_and_grouped(workload) -> None:
    interface = workload["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [p for g in interface["ParameterGroups"] for p in g["Parameters"]]
    assert sorted(grouped) == sorted(workload["Parameters"])
    assert len(grouped) == len(set(grouped))
    for name, p in workload["Parameters"].items():
        assert p.get("Description"), name
        assert interface["ParameterLabels"][name]["default"], name
        assert {"AllowedValues", "AllowedPattern"} & set(p), f"{name} is unconstrained"
        if "AllowedPattern" in p:
            assert p.get("ConstraintDescription"), name
        if "Default" in p and "AllowedValues" in p:
            assert p["Default"] in p["AllowedValues"]


KMS_DELETIONS = {"KmsKeyDisableOrDeletion", "KmsKeyMaterialDeletion", "KmsKeyDeleted", "KmsKeyPolicyLockoutRisk"}
SECRET_DELETIONS = {"SecretDeletion", "SecretReplicaDeletion"}
KMS_USES = {"KmsKeyPendingDeletionUse", "KmsKeyUnusableUse"}
ALL = KMS_USES | {"SecretPendingDeletionUse"} | KMS_DELETIONS | SECRET_DELETIONS
RECOVERY = {"KmsKeyDeletionCancelled", "SecretRestored"}


@pytest.mark.parametrize(("mode", "kms", "secrets", "expected"), [
    ("AccessAndDeletion", "Enabled", "Enabled", ALL),
    ("AccessOnly", "Enabled", "Enabled", KMS_USES | {"SecretPendingDeletionUse"}),
    ("DeletionOnly", "Enabled", "Enabled", KMS_DELETIONS | SECRET_DELETIONS),
    ("AccessAndDeletion", "Enabled", "Disabled", KMS_USES | KMS_DELETIONS),
    ("AccessAndDeletion", "Disabled", "Enabled", {"SecretPendingDeletionUse"} | SECRET_DELETIONS),
    ("AccessOnly", "Disabled", "Enabled", {"SecretPendingDeletionUse"}),
    ("DeletionOnly", "Enabled", "Disabled", KMS_DELETIONS),
    ("AccessAndDeletion", "Disabled", "Disabled", set()),
])
@pytest.mark.parametrize("engine", ["EventBridge", "CloudWatchLogs", "Both"])
@pytest.mark.parametrize("recovery", ["Enabled", "Disabled"])
def test_conditions_select_detections(workload, mode, kms, secrets, expected, engine, recovery) -> None:
    params = parameter_values(workload, DetectionMode=mode, KmsKeyMonitoring=kms, SecretMonitoring=secrets,
                              DetectionEngine=engine, RecoveryNotices=recovery)
    deployed = ConditionEvaluator(workload, params).deployed()
    alarms = {d.removesuffix("Alarm") for d in deployed
              if d.endswith("Alarm") and not d.startswith(("Alert", "Notifier", "EventDelivery"))}
    filters = {d.removesuffix("MetricFilter") for d in deployed if d.endswith("MetricFilter")}
    rules = {d.removesuffix("Rule") for d in deployed if d.endswith("Rule") and d != "DeletionReminderRule"}
    assert ("DeletionReminderRule" in deployed) is bool(rules)  # the notifier runs it
    metric_engine = engine in ("CloudWatchLogs", "Both")
    event_engine = engine in ("EventBridge", "Both")
    assert alarms == filters == (expected if metric_engine else set())
    recovery_rules = {"KmsKeyDeletionCancelled"} if kms == "Enabled" else set()
    recovery_rules |= {"SecretRestored"} if secrets == "Enabled" else set()
    wanted_rules = expected | (recovery_rules if recovery == "Enabled" else set())
    assert rules == (wanted_rules if event_engine else set())
    # the queues, the notifier and the path's alarms exist exactly when a rule does
    for name in ("AlertEventQueue", "AlertDeliveryDeadLetterQueue", "AlertDeliveryDeadLetterQueueAlarm",
                 "AlertBacklogAlarm", "AlertEventQueuePolicy", "NotifierFunction", "NotifierEventSourceMapping",
                 "NotifierRole", "NotifierClaimTable", "NotifierFailingAlarm", "EventDeliveryLostAlarm"):
        assert (name in deployed) is bool(rules)


def test_condition_names_read_as_predicates(workload) -> None:
    for name in workload["Conditions"]:
        assert re.match(r"(Detect|Watch|Use|Create|Has|Is|Send|Notify|Subscribe|Forward)[A-Z]", name), name


def test_every_combination_deploys_the_topic(workload) -> None:
    for mode, kms, secrets in itertools.product(
            workload["Parameters"]["DetectionMode"]["AllowedValues"], ["Enabled", "Disabled"],
            ["Enabled", "Disabled"]):
        params = parameter_values(workload, DetectionMode=mode, KmsKeyMonitoring=kms, SecretMonitoring=secrets)
        params["NotificationEmail"] = "a@example.com"
        deployed = ConditionEvaluator(workload, params).deployed()
        assert {"AlertTopic", "AlertTopicPolicy", "AlertEmailSubscription", "AlertTopicKey"} <= deployed


BUS = "arn:aws:events:eu-west-1:444455556666:event-bus/deletion-alarms-collector"


@pytest.mark.parametrize(("overrides", "failing"), [
    ({"CollectorEventBusArn": BUS}, []),
    ({"CollectorEventBusArn": BUS, "NotificationEmail": "a@example.com"}, ["ForwardingIsForEventBridgeAlone"]),
    ({"CollectorEventBusArn": BUS, "DetectionEngine": "Both", "CloudTrailLogGroupName": "trail"},
     ["ForwardingIsForEventBridgeAlone"]),
    ({"CollectorEventBusArn": BUS, "ExistingTopicArn": "arn:aws:sns:us-east-1:111122223333:t"},
     ["ForwardingIsForEventBridgeAlone"]),
    ({}, ["NotificationTargetRequired"]),  # neither forwarding nor a way to the team
])
def test_forwarding_rules(workload, overrides, failing) -> None:
    params = parameter_values(workload, **{"NotificationEmail": "", **overrides})
    names = [f.split(":")[0] for f in ConditionEvaluator(workload, params).failed_rules()]
    assert names == failing


@pytest.mark.parametrize(("overrides", "failing"), [
    ({}, ["ChatNeedsAChannel"]),  # a chat stack with no channel would deploy nothing, silently
    ({"SlackWorkspaceId": "T0123ABCD", "SlackChannelId": "C0123ABCDE"}, []),
    ({"TeamsTenantId": "0" * 8 + "-0000-0000-0000-" + "0" * 12, "TeamsTeamId": "1" * 8 + "-0000-0000-0000-" + "0" * 12,
      "TeamsChannelId": "19%3aa%40thread.tacv2"}, []),
    ({"SlackChannelId": "C0123ABCDE"}, ["SlackNeedsWorkspaceAndChannel"]),
    ({"TeamsTenantId": "0" * 8 + "-0000-0000-0000-" + "0" * 12, "TeamsChannelId": "19:a@thread.tacv2"},
     ["TeamsNeedsTenantTeamAndChannel"]),
])
def test_chat_rules(overrides, failing) -> None:
    import json

    from stacks.distribution import CHAT_FILE, render_all

    chat = json.loads(render_all()[CHAT_FILE])
    params = parameter_values(chat, AlertTopicArn="arn:aws:sns:eu-west-1:444455556666:alerts", **overrides)
    names = [f.split(":")[0] for f in ConditionEvaluator(chat, params).failed_rules()]
    assert names == failing


def services_the_notifier_calls() -> set[str]:
    """Every service named in a client call of functions/notifier.py: ``client("sns")``,
    ``self.clients("kms", region)`` and the like, read from its syntax tree."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).resolve().parents[2] / "functions" / "notifier.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("client", "clients"):
                found.add(node.args[0].value)
    return found


def test_the_network_parameters_name_every_endpoint_the_function_calls(workload) -> None:
    """In a VPC, every service the code calls needs an endpoint: the subnets' description names each."""
    called = services_the_notifier_calls()
    assert {"sns", "sqs", "dynamodb", "kms", "secretsmanager", "cloudtrail"} <= called  # the reader itself works
    description = workload["Parameters"]["NotifierSubnetIds"]["Description"]
    interface = re.search(r"interface endpoints for ([a-z, ]+);", description)[1].split(", ")
    gateway = re.search(r"a gateway endpoint for ([a-z, ]+)\)", description)[1].split(", ")
    assert called <= set(interface) | set(gateway), called - set(interface) - set(gateway)
    assert gateway == ["dynamodb"]  # the only service here with a gateway endpoint (besides s3)


@pytest.mark.parametrize("count", [1, 2, 10, 11, 25, 101])
def test_any_of_nests_fn_or_within_its_limit_of_ten(count) -> None:
    """Fn::Or takes 2 to 10 conditions: any_of nests more, and stays true exactly when one is."""
    from troposphere import Condition

    from stacks.parameters import MAX_OR, any_of

    def holds(node, true: set[str]) -> bool:
        data = node.to_dict() if hasattr(node, "to_dict") else node
        if "Condition" in data:
            return data["Condition"] in true
        items = data["Fn::Or"]
        assert 2 <= len(items) <= MAX_OR
        return any(holds(item, true) for item in items)

    names = [f"C{i}" for i in range(count)]
    expression = any_of([Condition(n) for n in names])
    assert not holds(expression, set())
    assert all(holds(expression, {n}) for n in names)
