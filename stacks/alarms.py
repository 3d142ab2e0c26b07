"""CloudWatch Logs metric filters and the alarms on their metrics, one pair per detection."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Output, Ref, Sub, Template
from troposphere.cloudwatch import Alarm
from troposphere.logs import MetricFilter, MetricTransformation

from stacks.catalog import Detection
from stacks.notifications import NotificationRefs
from stacks.parameters import ParameterRefs, detection_condition

METRIC_NAMESPACE = "DeletionAlarms/${AWS::StackName}"


@dataclass(frozen=True)
class AlarmRefs:
    """The alarms added, by detection name."""

    alarms: dict[str, Alarm]


def metric_filter_id(detection: Detection) -> str:
    return f"{detection.name}MetricFilter"


def alarm_id(detection: Detection) -> str:
    return f"{detection.name}Alarm"


def add_metric_alarms(
    template: Template,
    params: ParameterRefs,
    notifications: NotificationRefs,
    detections: tuple[Detection, ...],
) -> AlarmRefs:
    """Add a metric filter and an alarm for each detection, under the detection's Condition.

    An alarm fires on the first matching record (Sum >= 1 in one period); missing data is
    not breaching, since no records means nothing happened.
    """
    alarms: dict[str, Alarm] = {}
    for detection in detections:
        condition = detection_condition(detection)
        template.add_resource(MetricFilter(
            metric_filter_id(detection),
            Condition=condition,
            LogGroupName=Ref(params.log_group_name),
            FilterPattern=detection.filter_pattern,
            MetricTransformations=[MetricTransformation(
                MetricNamespace=Sub(METRIC_NAMESPACE),
                MetricName=detection.name,
                MetricValue="1",
                Unit="Count",
            )],
        ))
        alarm = template.add_resource(Alarm(
            alarm_id(detection),
            Condition=condition,
            # The stack name makes the alarm name unique among the stacks of one Region.
            AlarmName=Sub(f"${{AWS::StackName}}-{detection.name}"),
            AlarmDescription=detection.alarm_description,
            Namespace=Sub(METRIC_NAMESPACE),
            MetricName=detection.name,
            Statistic="Sum",
            Period=Ref(params.alarm_period_seconds),
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[notifications.topic_arn],
            OKActions=[notifications.topic_arn],
        ))
        template.add_output(Output(
            f"{detection.name}AlarmName",
            Condition=condition,
            Description=detection.title,
            Value=Ref(alarm),
        ))
        alarms[detection.name] = alarm
    return AlarmRefs(alarms)
