"""Service control policies that prevent the worst cases org-wide: short grace periods, force
delete, and switching this product's own alarms off before a deletion.

Built with awacs. awacs has no objects for the service condition keys used here, so they are
written as strings; the keys are documented in the Service Authorization Reference:
``kms:ScheduleKeyDeletionPendingWindowInDays``, ``secretsmanager:RecoveryWindowInDays``,
``secretsmanager:ForceDeleteWithoutRecovery``, ``kms:ResourceAliases``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from awacs import cloudformation, cloudwatch, events, kms, logs, secretsmanager, sns, sqs
from awacs.aws import (
    ArnNotLike,
    Bool,
    Condition,
    ConditionElement,
    Deny,
    ForAnyValueStringLike,
    NumericLessThan,
    PolicyDocument,
    Statement,
)
from troposphere import Output, Parameter, Ref, Template
from troposphere.organizations import Policy

from detections.errors import UserError

SCP_SIZE_LIMIT = 5120  # characters, AWS Organizations' limit for a service control policy
MIN_WINDOW_RANGE = (7, 30)  # what KMS and Secrets Manager accept as a waiting period

# Roles that deploy this product and so may change its resources: the execution roles of
# service-managed and self-managed StackSets.
DEFAULT_DEPLOY_ROLES = (
    "arn:aws:iam::*:role/stacksets-exec-*",
    "arn:aws:iam::*:role/AWSCloudFormationStackSetExecutionRole",
)
# Names CloudFormation gives this product's resources start with the stack name: the one the
# README uses, and the one StackSets give stack instances ("StackSet-<name>-<id>").
DEFAULT_RESOURCE_PREFIXES = ("deletion-alarms", "StackSet-deletion-alarms")
# Log groups of CloudTrail trails: AWS's default name and Control Tower's.
DEFAULT_TRAIL_LOG_GROUPS = ("aws-cloudtrail-logs*", "aws-controltower/CloudTrailLogs*")

PRINCIPAL_ARN_PATTERN = re.compile(
    r"arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*):(role|user|assumed-role)/[\w+=,.@*/-]+")
PREFIX_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,62}")
LOG_GROUP_PATTERN = re.compile(r"[.\-_/#A-Za-z0-9*]{1,512}")


@dataclass(frozen=True)
class GuardrailOptions:
    """Build options of the guardrails; the defaults produce the committed dist/."""

    min_window_days: int = 30
    break_glass_arns: tuple[str, ...] = ()
    deploy_role_arns: tuple[str, ...] = DEFAULT_DEPLOY_ROLES
    resource_prefixes: tuple[str, ...] = DEFAULT_RESOURCE_PREFIXES
    trail_log_groups: tuple[str, ...] = DEFAULT_TRAIL_LOG_GROUPS

    def validate(self) -> "GuardrailOptions":
        """Raise UserError naming the option and the allowed values for anything invalid."""
        low, high = MIN_WINDOW_RANGE
        if not low <= self.min_window_days <= high:
            raise UserError(f"--min-window-days must be a whole number from {low} to {high}, "
                            f"not {self.min_window_days}")
        for option, values, pattern, example in (
            ("--break-glass-arn", self.break_glass_arns, PRINCIPAL_ARN_PATTERN,
             "arn:aws:iam::111122223333:role/BreakGlass"),
            ("--deploy-role-arn", self.deploy_role_arns, PRINCIPAL_ARN_PATTERN,
             "arn:aws:iam::*:role/stacksets-exec-*"),
            ("--resource-prefix", self.resource_prefixes, PREFIX_PATTERN, "deletion-alarms"),
            ("--trail-log-group", self.trail_log_groups, LOG_GROUP_PATTERN, "aws-cloudtrail-logs*"),
        ):
            for value in values:
                if not pattern.fullmatch(value):
                    raise UserError(f"{option} {value!r} is not valid; expected a value like {example}")
        if not self.deploy_role_arns:
            raise UserError("--deploy-role-arn: at least one deploying role is needed, or no "
                            "deployment could ever update the protected resources")
        return self


def _exempt(arns: tuple[str, ...]) -> list[ConditionElement]:
    return [ArnNotLike("aws:PrincipalArn", list(arns))] if arns else []


def make_scp(options: GuardrailOptions) -> PolicyDocument:
    """The service control policy for ``options``."""
    options.validate()
    window = options.min_window_days
    break_glass = _exempt(options.break_glass_arns)
    deployers = _exempt(options.deploy_role_arns + options.break_glass_arns)
    prefixes = options.resource_prefixes

    def arns(service: str, template: str) -> list[str]:
        return [f"arn:*:{service}:*:*:{template.format(p=p)}" for p in prefixes]

    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            _deny("DenyShortKeyDeletionWindow", [kms.ScheduleKeyDeletion], ["*"],
                  NumericLessThan("kms:ScheduleKeyDeletionPendingWindowInDays", str(window)),
                  *break_glass),
            _deny("DenyShortSecretRecoveryWindow", [secretsmanager.DeleteSecret], ["*"],
                  NumericLessThan("secretsmanager:RecoveryWindowInDays", str(window)), *break_glass),
            # A separate statement: with force delete the request carries no recovery window,
            # and a numeric condition on an absent key does not match.
            _deny("DenySecretForceDelete", [secretsmanager.DeleteSecret], ["*"],
                  Bool("secretsmanager:ForceDeleteWithoutRecovery", "true"), *break_glass),
            _deny("ProtectDeletionAlarmsResources", [
                cloudwatch.DeleteAlarms, cloudwatch.DisableAlarmActions, cloudwatch.PutMetricAlarm,
                events.DeleteRule, events.DisableRule, events.PutRule, events.RemoveTargets,
                events.PutTargets,
                sns.DeleteTopic, sns.SetTopicAttributes, sns.RemovePermission, sns.Unsubscribe,
                sqs.DeleteQueue, sqs.PurgeQueue, sqs.SetQueueAttributes,
                kms.DeleteAlias, kms.UpdateAlias,
                cloudformation.DeleteStack,
            ], (arns("cloudwatch", "alarm:{p}*") + arns("events", "rule/{p}*")
                + arns("sns", "{p}*") + arns("sqs", "{p}*") + arns("kms", "alias/{p}*-alerts")
                + arns("cloudformation", "stack/{p}*/*")), *deployers),
            # Metric filters cannot be told apart by name in a policy (the resource is the log
            # group), so deleting any metric filter on a trail's log group is reserved.
            _deny("ProtectTrailMetricFilters", [logs.DeleteMetricFilter],
                  [f"arn:*:logs:*:*:log-group:{g}" for g in options.trail_log_groups], *deployers),
            # The topic key is known by its alias, alias/<stack name>-alerts.
            _deny("ProtectAlertTopicKey", [kms.ScheduleKeyDeletion, kms.DisableKey, kms.PutKeyPolicy],
                  ["*"], ForAnyValueStringLike("kms:ResourceAliases", [f"alias/{p}*-alerts" for p in prefixes]),
                  *deployers),
        ],
    )


def _deny(sid: str, actions: list, resources: list, *conditions: ConditionElement) -> Statement:
    return Statement(Sid=sid, Effect=Deny, Action=actions, Resource=resources,
                     Condition=Condition(list(conditions)))


def render_scp(options: GuardrailOptions) -> str:
    """The SCP as compact, sorted JSON (AWS counts every character against the 5,120 limit)."""
    body = json.dumps(json.loads(make_scp(options).to_json()), sort_keys=True, separators=(",", ":"))
    if len(body) > SCP_SIZE_LIMIT:
        raise UserError(f"the service control policy is {len(body)} characters, over the "
                        f"{SCP_SIZE_LIMIT} limit: give fewer --break-glass-arn or prefixes")
    return body + "\n"


def make_guardrails_template(options: GuardrailOptions) -> Template:
    """Template for the management (or delegated administrator) account: the SCP, attached to
    the OUs or accounts given."""
    template = Template(Description=(
        "Deletion guardrails: a service control policy that keeps KMS key and secret deletion "
        "windows long, forbids secret force delete, and protects the deletion-alarms resources."))
    template.set_version("2010-09-09")
    targets = template.add_parameter(Parameter(
        "TargetIds",
        Type="CommaDelimitedList",
        Description=(
            "Where to attach the policy: OU IDs (ou-...), account IDs (12 digits) or the root "
            "(r-...). Attach to a test OU first."
        ),
    ))
    template.add_parameter_to_group(targets, "Attachment")
    template.set_parameter_label(targets, "Target OU, account or root IDs")
    policy = template.add_resource(Policy(
        "DeletionGuardrailsPolicy",
        Name="deletion-guardrails",
        Description="Long deletion windows, no secret force delete, deletion-alarms protected",
        Type="SERVICE_CONTROL_POLICY",
        Content=json.loads(render_scp(options)),
        TargetIds=Ref(targets),
    ))
    template.add_output(Output("PolicyId", Description="ID of the service control policy",
                               Value=Ref(policy)))
    return template
