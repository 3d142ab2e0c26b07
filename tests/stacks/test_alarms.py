"""Metric filters and alarms: one pair per detection, alarming on the first matching record."""

from __future__ import annotations

import pytest

from detections.catalog import by_name, metric_alarm_detections
from tests.helpers import ALERT_TOPIC, has_properties, resources_of_type

ALARMED = metric_alarm_detections()
NAMES = [d.name for d in ALARMED]


@pytest.mark.parametrize("detection", ALARMED, ids=NAMES)
def test_metric_filter_on_the_trail_log_group(workload, detection) -> None:
    mf = workload["Resources"][f"{detection.name}MetricFilter"]
    assert mf["Type"] == "AWS::Logs::MetricFilter"
    assert mf["Condition"] == f"Create{detection.name}Alarm"
    assert has_properties(mf, {"LogGroupName": {"Ref": "CloudTrailLogGroupName"},
                               "FilterPattern": detection.filter_pattern})
    (transform,) = mf["Properties"]["MetricTransformations"]
    assert transform["MetricValue"] == "1"
    assert transform["MetricName"] == detection.name


@pytest.mark.parametrize("detection", ALARMED, ids=NAMES)
def test_alarm_fires_on_the_first_record_and_notifies(workload, detection) -> None:
    alarm = workload["Resources"][f"{detection.name}Alarm"]
    mf = workload["Resources"][f"{detection.name}MetricFilter"]["Properties"]["MetricTransformations"][0]
    assert alarm["Condition"] == f"Create{detection.name}Alarm"
    assert has_properties(alarm, {
        "Namespace": mf["MetricNamespace"], "MetricName": mf["MetricName"], "Statistic": "Sum",
        "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "EvaluationPeriods": 1, "DatapointsToAlarm": 1, "TreatMissingData": "notBreaching",
        "Period": {"Ref": "AlarmPeriodSeconds"},
        "AlarmActions": [ALERT_TOPIC], "OKActions": [ALERT_TOPIC],
    })


def test_alarm_names_are_unique_per_stack(workload) -> None:
    for lid, alarm in resources_of_type(workload, "AWS::CloudWatch::Alarm").items():
        if lid.startswith("AlertDelivery"):
            continue
        name = alarm["Properties"]["AlarmName"]
        assert name == {"Fn::Sub": f"${{AWS::StackName}}-{lid.removesuffix('Alarm')}"}


def test_alarm_descriptions_say_what_to_do(workload) -> None:
    for lid in (f"{n}Alarm" for n in NAMES):
        alarm = workload["Resources"][lid]
        text = alarm["Properties"]["AlarmDescription"]
        assert len(text) <= 1024
        assert "What to do:" in text and "console" in text
        if by_name(lid.removesuffix("Alarm")).immediate:  # nothing to cancel: the way back, if any
            assert any(way in text for way in ("import-key-material", "replicate-secret-to-regions",
                                               "Nothing brings the key back")), lid
        elif lid == "KmsKeyPolicyLockoutRiskAlarm":  # nothing scheduled: check who can still manage the key
            assert "get-key-policy" in text and "AWS Support" in text, lid
        elif lid == "KmsKeyUnusableUseAlarm":  # nothing scheduled: bring the material or the key store back
            assert "import-key-material" in text and "connect-custom-key-store" in text, lid
        else:
            assert "cancel-key-deletion" in text or "restore-secret" in text, lid


def test_outputs_name_topic_and_alarms(workload) -> None:
    outputs = workload["Outputs"]
    assert outputs["AlertTopicArn"]["Value"] == ALERT_TOPIC
    for name in NAMES:
        out = outputs[f"{name}AlarmName"]
        assert out["Value"] == {"Ref": f"{name}Alarm"}
        assert out["Condition"] == f"Create{name}Alarm"
