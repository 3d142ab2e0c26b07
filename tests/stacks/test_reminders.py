"""The daily reminder in the template: which configurations deploy it, what ReminderDays accepts,
when the rule runs, and, with the IAM evaluator and both SCPs, that the rule may write its entry to
the event queue and the notifier may read exactly what the check reads, nothing else (each proof
with a mutation that breaks it)."""

from __future__ import annotations

import copy
import json
import re

import pytest

from detections.messages import REMINDER
from stacks.parameters import REMINDER_DAYS_PATTERN
from stacks.reminders import KEY_ACTIONS, LIST_ACTIONS, READ_ACTIONS
from tests.helpers import ConditionEvaluator, parameter_values
from tests.iam_evaluator import ALLOW, Request, evaluate
from tests.stacks.test_delivery import ACCOUNT, REGION, SCPS, deploy

PARTS = {"DeletionReminderRule"}
EMAIL = {"NotificationEmail": "security-team@example.com"}
COLLECTOR_BUS = "arn:aws:events:us-east-1:111122223333:event-bus/deletion-alarms-collector"
# The event EventBridge sends for a scheduled rule (EventBridge user guide, "Creating a rule that
# runs on a schedule"; the same example in AWS's Lambda event fixtures).
SCHEDULED_EVENT = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
                   "source": "aws.events", "account": ACCOUNT, "time": "2026-11-30T08:00:00Z", "region": REGION,
                   "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/my-scheduled-rule"], "detail": {}}


@pytest.mark.parametrize(("params", "expected"), [
    ({}, PARTS),  # on by default
    ({"ReminderDays": "none"}, set()),
    ({"ReminderDays": "30"}, PARTS),
    ({"DetectionMode": "DeletionOnly"}, PARTS),  # the notifier runs: it can remind
    ({"DetectionEngine": "CloudWatchLogs", "CloudTrailLogGroupName": "trail"}, set()),  # no notifier
    ({"CollectorEventBusArn": COLLECTOR_BUS}, set()),  # no notifier here; see README
])
def test_which_configurations_remind(workload, params, expected) -> None:
    deployed = ConditionEvaluator(workload, parameter_values(workload, **EMAIL, **params)).deployed()
    assert deployed & PARTS == expected


@pytest.mark.parametrize(("value", "accepted"), [
    ("7,3,1", True), ("none", True), ("0", True), ("30", True), ("14,7,3,2,1,0", True),
    ("31", False), ("7,,3", False), ("", False), ("7, 3", False), ("-1", False), ("7,3,", False),
    ("None", False), ("07x", False),
])
def test_reminder_days_accepts_days_from_0_to_30_or_none(workload, value, accepted) -> None:
    parameter = workload["Parameters"]["ReminderDays"]
    assert parameter["AllowedPattern"] == REMINDER_DAYS_PATTERN
    # CloudFormation matches the whole value against AllowedPattern.
    assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is accepted
    assert "none" in parameter["ConstraintDescription"] and "0 to 30" in parameter["ConstraintDescription"]


@pytest.mark.parametrize(("hour", "expression"), [(None, "cron(0 8 * * ? *)"), ("0", "cron(0 0 * * ? *)"),
                                                   ("23", "cron(0 23 * * ? *)")])
def test_the_rule_runs_once_a_day_at_the_hour_given(workload, hour, expression) -> None:
    d = deploy(workload, **EMAIL, **({"ReminderHourUtc": hour} if hour else {}))
    rule = d.stack.properties("DeletionReminderRule")
    assert rule["ScheduleExpression"] == expression
    assert workload["Parameters"]["ReminderHourUtc"]["AllowedValues"] == [str(h) for h in range(24)]


def test_the_rule_writes_the_entry_the_notifier_takes(workload) -> None:
    d = deploy(workload, **EMAIL)
    (target,) = d.stack.properties("DeletionReminderRule")["Targets"]
    assert target["Arn"] == d.stack.physical["AlertEventQueue"]["Arn"]
    assert target["DeadLetterConfig"]["Arn"] == d.stack.physical["AlertDeliveryDeadLetterQueue"]["Arn"]
    # <aws.events.event.json> is the whole event as JSON (EventBridge user guide, input transformation).
    entry = json.loads(target["InputTransformer"]["InputTemplate"].replace("<aws.events.event.json>",
                                                                            json.dumps(SCHEDULED_EVENT)))
    assert entry == {"detection": REMINDER, "event": SCHEDULED_EVENT}
    function = d.stack.properties("NotifierFunction")
    assert function["Environment"]["Variables"]["REMINDER_DAYS"] == "7,3,1"


def reminder_problems(template: dict) -> list[str]:
    """What the reminder's paths allow that they should not, or deny that they need."""
    d = deploy(template, **EMAIL)
    problems = []
    # FACTS 3 and 4 of test_delivery: a rule sends to SQS as events.amazonaws.com with its own ARN.
    rule_arn = d.stack.physical["DeletionReminderRule"]["Arn"]
    for queue in ("AlertEventQueue", "AlertDeliveryDeadLetterQueue"):
        arn = d.stack.physical[queue]["Arn"]
        call = Request("sqs:SendMessage", arn, "events.amazonaws.com", {"aws:SourceArn": rule_arn,
                                                                         "aws:SourceAccount": ACCOUNT})
        if evaluate(call, resource_policy=d.queue_policy(arn), scps=SCPS) != ALLOW:
            problems.append(f"the reminder rule may not send to {queue}")
    # FACT 10 of test_delivery: the function calls with its execution role; the role is tagged.
    role = d.stack.physical["NotifierRole"]["Arn"]
    policies = [p["PolicyDocument"] for p in d.stack.properties("NotifierRole")["Policies"]]
    tags = {"aws:PrincipalTag/deletion-alarms:protected": "true"}

    def allowed(action: str, resource: str) -> bool:
        return evaluate(Request(action, resource, role, tags), identity_policies=policies, scps=SCPS) == ALLOW

    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-AbCdEf"
    for action in LIST_ACTIONS:  # no resource type: "*" (Service Authorization Reference)
        if not allowed(action, "*"):
            problems.append(f"the check may not {action}")
    for action in KEY_ACTIONS:
        if not allowed(action, key):
            problems.append(f"the check may not {action} a key of its account")
        # Any Region of its own account (an alert may name a key of another Region: test_delivery FACT 13),
        # never another account's.
        if allowed(action, key.replace(ACCOUNT, "444455556666")):
            problems.append(f"the check may {action} a key of another account")
    for action, resource in (("kms:Decrypt", key), ("kms:CancelKeyDeletion", key), ("kms:ScheduleKeyDeletion", key),
                             ("kms:PutKeyPolicy", key), ("secretsmanager:GetSecretValue", secret),
                             ("secretsmanager:RestoreSecret", secret), ("secretsmanager:DeleteSecret", secret),
                             ("cloudtrail:StopLogging", f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/t")):
        if allowed(action, resource):
            problems.append(f"the notifier may {action}")
    return problems


def test_the_rule_and_the_check_may_do_what_they_need_and_nothing_else(workload) -> None:
    assert reminder_problems(workload) == []
    assert set(READ_ACTIONS) == set(LIST_ACTIONS) | set(KEY_ACTIONS)


def _mutated(workload: dict, change) -> dict:
    mutated = copy.deepcopy(workload)
    change(mutated["Resources"])
    return mutated


def _rule_not_admitted(resources: dict) -> None:
    statement = resources["AlertEventQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    arns = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    statement["Condition"]["ArnEquals"]["aws:SourceArn"] = [
        a for a in arns if "DeletionReminderRule" not in json.dumps(a)]


def _reminder_statements(resources: dict) -> list[dict]:
    (policy,) = [p["Fn::If"][1] for p in resources["NotifierRole"]["Properties"]["Policies"]
                 if "Fn::If" in p and p["Fn::If"][0] == "SendReminders"]
    return policy["PolicyDocument"]["Statement"]


def _read_everything(resources: dict) -> None:
    _reminder_statements(resources)[0]["Action"] = ["kms:*", "secretsmanager:*", "cloudtrail:*"]


def _keys_of_any_account(resources: dict) -> None:
    _reminder_statements(resources)[1]["Resource"] = ["*"]


@pytest.mark.parametrize(("change", "expected"), [
    (_rule_not_admitted, "the reminder rule may not send to AlertEventQueue"),
    (_read_everything, "the notifier may secretsmanager:GetSecretValue"),
    (_keys_of_any_account, "the check may kms:DescribeKey a key of another account"),
])
def test_the_proof_fails_when_a_path_is_broken(workload, change, expected) -> None:
    assert expected in reminder_problems(_mutated(workload, change))


def test_the_statements_scope_each_action_as_the_service_authorization_reference_allows() -> None:
    """Derived, not assumed: the actions on "*" take no resource type in the Service Authorization
    Reference (parliament's copy), and DescribeKey takes a key: a new action must be classified."""
    from tests.stacks.test_servicecatalog import SAR

    def resource_types(action: str) -> set[str]:
        service, name = action.split(":")
        return {t["resource_type"].rstrip("*") for t in SAR[service][name.lower()]["resource_types"]} - {""}

    assert {a: resource_types(a) for a in LIST_ACTIONS} == {a: set() for a in LIST_ACTIONS}
    assert {a: resource_types(a) for a in KEY_ACTIONS} == {"kms:DescribeKey": {"key"}}
    for action in READ_ACTIONS:  # and every one is a read, never a write
        service, name = action.split(":")
        assert SAR[service][name.lower()]["access_level"] in ("List", "Read"), action
