"""EventBridge rules: one per detection, the right state, and a delivery path that keeps alerts."""

from __future__ import annotations

import pytest

from detections.catalog import DETECTIONS, Kind
from tests.helpers import ALERT_TOPIC, has_properties, local_target, resources_of_type

NAMES = [d.name for d in DETECTIONS]


@pytest.mark.parametrize("detection", DETECTIONS, ids=NAMES)
def test_one_rule_per_detection_under_its_condition(workload, detection) -> None:
    rule = workload["Resources"][f"{detection.name}Rule"]
    assert rule["Type"] == "AWS::Events::Rule"
    assert rule["Condition"] == f"Create{detection.name}Rule"
    assert "Name" not in rule["Properties"]  # generated names never collide across stacks


@pytest.mark.parametrize("detection", DETECTIONS, ids=NAMES)
@pytest.mark.parametrize("template", ["workload", "collector"])
def test_use_rules_see_read_only_calls(request, template, detection) -> None:
    """EventBridge user guide, receiving read-only management events: a rule on the default or a
    custom bus matches them only in ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS."""
    state = request.getfixturevalue(template)["Resources"][f"{detection.name}Rule"]["Properties"]["State"]
    if detection.kind is Kind.ACCESS:  # Decrypt and GetSecretValue are read-only
        assert state == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    else:
        assert state == "ENABLED"


@pytest.mark.parametrize("detection", DETECTIONS, ids=NAMES)
def test_target_is_the_event_queue_with_retries_and_a_dead_letter_queue(workload, detection) -> None:
    target = local_target(workload["Resources"][f"{detection.name}Rule"])
    assert target["Arn"] == {"Fn::GetAtt": ["AlertEventQueue", "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["AlertDeliveryDeadLetterQueue", "Arn"]}}
    transformer = target["InputTransformer"]
    assert transformer == {"InputTemplate": '{"detection": "%s", "event": <aws.events.event.json>}' % detection.name}


def test_no_rule_alarm_remains(workload) -> None:
    """The notifier names the key and the caller; an alarm per rule said only how many."""
    assert not [lid for lid, r in workload["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"
                and r["Properties"].get("MetricName") == "MatchedEvents"]


@pytest.mark.parametrize("queue", ["AlertEventQueue", "AlertDeliveryDeadLetterQueue"])
def test_queues_use_sqs_managed_encryption_keep_14_days_and_are_retained(workload, queue) -> None:
    """SSE-SQS: an administrator reads them with SQS permissions alone (no key policy in the way)."""
    resource = workload["Resources"][queue]
    assert has_properties(resource, {"MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True})
    assert "KmsMasterKeyId" not in resource["Properties"]
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"


def test_event_queue_redrives_to_the_dead_letter_queue_only_after_many_reads(workload) -> None:
    props = workload["Resources"]["AlertEventQueue"]["Properties"]
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["AlertDeliveryDeadLetterQueue", "Arn"]}, "maxReceiveCount": 10}
    assert workload["Resources"]["AlertDeliveryDeadLetterQueue"]["Properties"]["RedriveAllowPolicy"] == {
        "redrivePermission": "allowAll"}


def test_failed_deliveries_raise_alarms(workload) -> None:
    dead_letters = workload["Resources"]["AlertDeliveryDeadLetterQueueAlarm"]
    assert has_properties(dead_letters, {
        "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
        "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "AlarmActions": [ALERT_TOPIC]})
    assert dead_letters["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["AlertDeliveryDeadLetterQueue", "QueueName"]}}]
    backlog = workload["Resources"]["AlertBacklogAlarm"]
    assert has_properties(backlog, {
        "Namespace": "AWS/SQS", "MetricName": "ApproximateAgeOfOldestMessage", "Threshold": 900,
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["AlertEventQueue", "QueueName"]}}],
        "AlarmActions": [ALERT_TOPIC]})


def test_queue_policy_admits_only_this_stacks_rules(workload) -> None:
    (policy,) = resources_of_type(workload, "AWS::SQS::QueuePolicy").values()
    # the event queue exists only when the stack alerts here; the dead-letter queue always
    assert policy["Properties"]["Queues"] == [
        {"Fn::If": ["CreateEventQueue", {"Ref": "AlertEventQueue"}, {"Ref": "AWS::NoValue"}]},
        {"Ref": "AlertDeliveryDeadLetterQueue"}]
    (deliver,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deliver["Principal"] == {"Service": "events.amazonaws.com"}
    assert deliver["Action"] == ["sqs:SendMessage"]
    # the detections' rules and the daily reminder reach both queues, and nothing else does
    assert deliver["Resource"] == [
        {"Fn::If": ["CreateEventQueue", {"Fn::GetAtt": ["AlertEventQueue", "Arn"]}, {"Ref": "AWS::NoValue"}]},
        {"Fn::GetAtt": ["AlertDeliveryDeadLetterQueue", "Arn"]}]
    arns = deliver["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(a["Fn::If"][1]["Fn::GetAtt"][0] for a in arns) == sorted([f"{n}Rule" for n in NAMES] +
                                                                         ["DeletionReminderRule"])
    for a in arns:  # an absent rule contributes nothing
        condition, _, otherwise = a["Fn::If"]
        assert otherwise == {"Ref": "AWS::NoValue"}
        assert condition.endswith("Rule") or condition == "SendReminders"


PIPELINE = "arn:aws:sts::111122223333:assumed-role/pipeline-teardown/1700000000"


def _record(event_name: str, **extra) -> dict:
    return {"eventSource": "kms.amazonaws.com", "eventName": event_name, "userIdentity": {
        "type": "AssumedRole", "arn": PIPELINE}, **extra}


def test_expected_deleters_are_skipped_by_the_deletion_rules_only(workload) -> None:
    import json

    from moto.events.models import EventPattern

    from detections.eventpatterns import cloudtrail_event
    from tests.helpers import ConcreteTemplate, parameter_values

    stack = ConcreteTemplate(workload, parameter_values(
        workload, ExpectedDeleterArns="arn:aws:sts::111122223333:assumed-role/pipeline-*/*"), {})

    def fires(rule: str, record: dict) -> bool:
        pattern = stack.value(stack.resolve(workload["Resources"][rule]["Properties"]["EventPattern"]))
        return EventPattern.load(json.dumps(pattern)).matches_event(cloudtrail_event(record))

    assert not fires("KmsKeyDisableOrDeletionRule", _record("ScheduleKeyDeletion"))
    other = {**_record("ScheduleKeyDeletion"), "userIdentity": {"type": "AssumedRole", "arn": PIPELINE.replace(
        "pipeline-teardown", "Developer")}}
    assert fires("KmsKeyDisableOrDeletionRule", other)
    # a pending-deletion key in use is a problem whoever uses it
    assert fires("KmsKeyPendingDeletionUseRule", _record(
        "Decrypt", errorCode="KMSInvalidStateException", errorMessage="arn:aws:kms:us-east-1:111122223333:key/k is pending deletion."))
    # the metric filter keeps the exact CIS pattern (Security Hub CloudWatch.7)
    assert workload["Resources"]["KmsKeyDisableOrDeletionMetricFilter"]["Properties"]["FilterPattern"] == (
        "{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}")


@pytest.mark.parametrize(("value", "ok"), [
    ("none", True), ("arn:aws:sts::111122223333:assumed-role/pipeline-*/*", True),
    ("arn:aws:sts::111122223333:assumed-role/pipeline-*/*,arn:aws:iam::111122223333:role/teardown", True),
    ("", False), ("pipeline", False), ("none,arn:aws:iam::111122223333:role/x", False),
    ("arn:aws:sts::111122223333:assumed-role/pipeline-*/* ", False),
])
def test_expected_deleter_parameter_accepts_arn_patterns_only(workload, value, ok) -> None:
    import re

    assert bool(re.fullmatch(workload["Parameters"]["ExpectedDeleterArns"]["AllowedPattern"], value)) is ok
