"""EventBridge rules: one per detection, the right state, and a delivery path that keeps alerts."""

from __future__ import annotations

import pytest

from detections.catalog import DETECTIONS, Kind
from tests.helpers import ALERT_TOPIC, has_properties, resources_of_type

NAMES = [d.name for d in DETECTIONS]


@pytest.mark.parametrize("detection", DETECTIONS, ids=NAMES)
def test_one_rule_per_detection_under_its_condition(workload, detection) -> None:
    rule = workload["Resources"][f"{detection.name}Rule"]
    assert rule["Type"] == "AWS::Events::Rule"
    assert rule["Condition"] == f"Create{detection.name}Rule"
    assert "Name" not in rule["Properties"]  # generated names never collide across stacks


@pytest.mark.parametrize("detection", DETECTIONS, ids=NAMES)
def test_use_rules_see_read_only_calls(workload, detection) -> None:
    state = workload["Resources"][f"{detection.name}Rule"]["Properties"]["State"]
    if detection.kind is Kind.ACCESS:  # Decrypt and GetSecretValue are read-only
        assert state == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    else:
        assert state == "ENABLED"


@pytest.mark.parametrize("detection", DETECTIONS, ids=NAMES)
def test_target_retries_and_dead_letters(workload, detection) -> None:
    (target,) = workload["Resources"][f"{detection.name}Rule"]["Properties"]["Targets"]
    assert target["Arn"] == ALERT_TOPIC
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["AlertDeliveryDeadLetterQueue", "Arn"]}}
    transformer = target["InputTransformer"]
    assert len(transformer["InputTemplate"]) <= 8192
    assert len(transformer["InputPathsMap"]) <= 100


def test_dead_letter_queue_is_encrypted_kept_and_watched(workload) -> None:
    queue = workload["Resources"]["AlertDeliveryDeadLetterQueue"]
    assert has_properties(queue, {"MessageRetentionPeriod": 1209600})
    # the topic's KMS key when there is one, SQS-managed encryption otherwise
    assert queue["Properties"]["KmsMasterKeyId"] == workload["Resources"]["AlertTopic"]["Properties"]["KmsMasterKeyId"]
    assert queue["Properties"]["SqsManagedSseEnabled"] == {"Fn::If": ["UseTopicKey", {"Ref": "AWS::NoValue"}, True]}
    assert queue["DeletionPolicy"] == queue["UpdateReplacePolicy"] == "Retain"
    alarm = workload["Resources"]["AlertDeliveryDeadLetterQueueAlarm"]
    assert has_properties(alarm, {
        "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
        "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "AlarmActions": [ALERT_TOPIC]})
    assert alarm["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["AlertDeliveryDeadLetterQueue", "QueueName"]}}]


def test_queue_policy_admits_only_this_stacks_rules(workload) -> None:
    (policy,) = resources_of_type(workload, "AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == ["sqs:SendMessage"]
    arns = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(a["Fn::If"][1]["Fn::GetAtt"][0] for a in arns) == sorted(f"{n}Rule" for n in NAMES)
    for a in arns:  # a rule that is not deployed contributes nothing
        condition, _, otherwise = a["Fn::If"]
        assert otherwise == {"Ref": "AWS::NoValue"} and condition.endswith("Rule")
