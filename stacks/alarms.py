"""CloudWatch Logs metric filters and the alarms on their metrics, one pair per detection."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Output, Ref, Sub, Template
from troposphere.cloudwatch import Alarm
from troposphere.logs import MetricFilter, MetricTransformation

from detections.catalog import Detection
from stacks.guardrails import protected_tags
from stacks.notifications import NotificationRefs
from stacks.parameters import ParameterRefs, alarm_condition

METRIC_NAMESPACE = "DeletionAlarms/${AWS::StackName}"


@dataclass(frozen=True)
class AlarmRefs:
    """The alarms added, by detection name."""

    alarms: dict[str, Alarm]


def make_first_record_alarm(title: str, condition: str, actions: list[Ref], **metric: object) -> Alarm:
    """An alarm that fires on the first data point >= 1 in one period (missing data is not
    breaching: no records means nothing happened). ``metric`` names the metric, statistic,
    period, description and alarm name."""
    return Alarm(
        title,
        Condition=condition,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=actions,
        Tags=protected_tags(),
        **metric,
    )


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
    """Add a metric filter and an alarm (Sum of matching records >= 1 in one period) for each
    detection that has one, under the detection's Condition."""
    alarms: dict[str, Alarm] = {}
    for detection in (d for d in detections if d.metric_alarm):
        condition = alarm_condition(detection)
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
        alarm = template.add_resource(make_first_record_alarm(
            alarm_id(detection), condition, [notifications.topic_arn],
            # The stack name makes the alarm name unique among the stacks of one Region.
            AlarmName=Sub(f"${{AWS::StackName}}-{detection.name}"),
            AlarmDescription=detection.alarm_description,
            Namespace=Sub(METRIC_NAMESPACE),
            MetricName=detection.name,
            Statistic="Sum",
            Period=Ref(params.alarm_period_seconds),
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
