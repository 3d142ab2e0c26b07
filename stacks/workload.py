"""Composer of the workload template: the stack a team deploys in each watched account."""

from __future__ import annotations

from troposphere import Output, Template

from stacks.alarms import add_metric_alarms
from stacks.catalog import DETECTIONS
from stacks.notifications import add_notifications
from stacks.parameters import add_conditions, add_parameters

DESCRIPTION = (
    "Deletion alarms: alerts when an AWS KMS key or Secrets Manager secret is scheduled for "
    "deletion, or still used while pending deletion, from CloudTrail records."
)


def make_workload_template() -> Template:
    """Build the workload template, step by step."""
    template = Template(Description=DESCRIPTION)
    template.set_version("2010-09-09")
    params = add_parameters(template)
    add_conditions(template, params, DETECTIONS)
    notifications = add_notifications(template, params)
    add_metric_alarms(template, params, notifications, DETECTIONS)
    template.add_output(Output(
        "AlertTopicArn",
        Description="ARN of the SNS topic that receives every alert",
        Value=notifications.topic_arn,
    ))
    return template
