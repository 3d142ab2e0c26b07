"""Composer of the workload template: the stack a team deploys in each watched account."""

from __future__ import annotations

from troposphere import Output, Template

from stacks.alarms import add_metric_alarms
from detections.catalog import DETECTIONS
from stacks.encryption import add_topic_key
from stacks.forwarding import add_forwarding_role
from stacks.notifications import add_notifications, add_topic_policy
from stacks.autocancel import add_auto_cancel
from stacks.notifier import add_notifier
from stacks.parameters import NOTIFY_HERE, add_conditions, add_parameters, empty_defaults_lint
from stacks.reminders import add_reminders
from stacks.securityhub import add_security_hub_findings
from stacks.rules import add_event_rules

DESCRIPTION = (
    "Deletion alarms: alerts when an AWS KMS key or Secrets Manager secret is scheduled for "
    "deletion, or still used while pending deletion, from CloudTrail records."
)


def make_workload_template() -> Template:
    """Build the workload template, step by step."""
    template = Template(Description=DESCRIPTION)
    template.set_version("2010-09-09")
    template.set_metadata(empty_defaults_lint())
    params = add_parameters(template)
    conditions = add_conditions(template, params, DETECTIONS)
    key = add_topic_key(template, params)
    notifications = add_notifications(template, params, key)
    add_metric_alarms(template, params, notifications, DETECTIONS)
    forwarding = add_forwarding_role(template, params)
    rules = add_event_rules(template, params, DETECTIONS, conditions, forwarding=forwarding)
    notifier = add_notifier(template, params, notifications, rules.event_queue, rules.dead_letter,
                            conditions.event_queue)
    add_reminders(template, params, rules, notifier)
    add_auto_cancel(template, notifier)
    add_security_hub_findings(template, notifier)
    add_topic_policy(template, notifications)
    template.add_output(Output(
        "AlertTopicArn",
        Condition=NOTIFY_HERE,
        Description="ARN of the SNS topic that receives every alert",
        Value=notifications.topic_arn,
    ))
    return template
