"""Service control policies that prevent the worst cases org-wide: short grace periods, force
delete, switching this product's own alarms off before a deletion, and blinding the trail.

Built with awacs. awacs has no objects for the service condition keys used here, so they are
written as strings; the keys are documented in the Service Authorization Reference:
``kms:ScheduleKeyDeletionPendingWindowInDays``, ``secretsmanager:RecoveryWindowInDays``,
``secretsmanager:ForceDeleteWithoutRecovery``.

Deletions made through CloudFormation keep working: with the caller's credentials, CloudFormation's
calls carry ``aws:CalledVia`` = cloudformation.amazonaws.com (IAM User Guide, global condition keys,
aws:CalledVia: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-calledvia);
with a service role or a StackSets execution role, that role is the principal and is exempt as a
deploy role. CloudFormation deletes a secret with ForceDeleteWithoutRecovery
(cloudformation-coverage-roadmap issue 1999) and a key at the template's PendingWindowInDays.

The product's resources are protected by a tag every one of them carries
(``deletion-alarms:protected`` = ``true``), not by their names, for every action whose resource type
supports ``aws:ResourceTag`` (checked against the Service Authorization Reference in the tests).
Only by name: stack deletion (a template cannot tag its own stack; a stack set's tags reach its
stacks, and those are protected by tag too) and metric filters on a trail's log group (the log
group is not the product's). Not at all: ``sns:Unsubscribe``, which has no resource type; confirm
subscriptions with authenticated unsubscribe instead (README).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from awacs import awslambda, cloudformation, cloudtrail, cloudwatch, dynamodb, events, iam, kms, logs, secretsmanager, sns, sqs
from awacs.aws import (
    ArnNotLike,
    Bool,
    Condition,
    ConditionElement,
    Deny,
    ForAllValuesStringNotEquals,
    ForAnyValueStringEquals,
    NumericLessThan,
    PolicyDocument,
    Statement,
    StringEquals,
)
from troposphere import Output, Parameter, Ref, Tags, Template
from troposphere.organizations import Policy

from detections.errors import UserError

SCP_SIZE_LIMIT = 5120  # characters, AWS Organizations' limit for a service control policy
MIN_WINDOW_RANGE = (7, 30)  # what KMS and Secrets Manager accept as a waiting period

# Roles that deploy this product and so may change its resources: the execution roles of
# service-managed and self-managed StackSets, and the Service Catalog launch role (its path).
# "arn:*" so that they match in every partition (aws, aws-cn, aws-us-gov).
DEFAULT_DEPLOY_ROLES = (
    "arn:*:iam::*:role/stacksets-exec-*",
    "arn:*:iam::*:role/AWSCloudFormationStackSetExecutionRole",
    "arn:*:iam::*:role/deletion-alarms/*",
)
# The tag every protected resource of the workload carries.
PROTECTED_TAG_KEY = "deletion-alarms:protected"
PROTECTED_TAG_VALUE = "true"
CLOUDFORMATION = "cloudformation.amazonaws.com"


def protected_tags() -> Tags:
    """The tag that puts a workload resource under the SCP's protection."""
    return Tags({PROTECTED_TAG_KEY: PROTECTED_TAG_VALUE})
# Names CloudFormation gives this product's resources start with the stack name: the one the
# README uses, and the one StackSets give stack instances ("StackSet-<name>-<id>").
DEFAULT_RESOURCE_PREFIXES = ("deletion-alarms", "StackSet-deletion-alarms")
# Log groups of CloudTrail trails: AWS's default name and Control Tower's.
DEFAULT_TRAIL_LOG_GROUPS = ("aws-cloudtrail-logs*", "aws-controltower/CloudTrailLogs*")

PRINCIPAL_ARN_PATTERN = re.compile(
    r"arn:(aws[a-z-]*|\*):(iam|sts)::(\d{12}|\*):(role|user|assumed-role)/[\w+=,.@*/-]+")
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
    protect_trails: bool = True
    """Deny stopping, deleting or reconfiguring any trail (a landing zone that already protects its
    trail can turn this off)."""

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


# Actions that change or remove a protected resource, each supporting aws:ResourceTag on its
# resource type (the tests check this against the Service Authorization Reference).
PROTECTED_ACTIONS = [
    cloudwatch.DeleteAlarms, cloudwatch.DisableAlarmActions, cloudwatch.PutMetricAlarm,
    events.DeleteRule, events.DisableRule, events.PutRule, events.RemoveTargets, events.PutTargets,
    sns.DeleteTopic, sns.SetTopicAttributes, sns.RemovePermission,
    sqs.DeleteQueue, sqs.PurgeQueue, sqs.SetQueueAttributes, sqs.RemovePermission,
    # The alias actions authorize on the key too, and the key carries the tag.
    kms.ScheduleKeyDeletion, kms.DisableKey, kms.PutKeyPolicy, kms.DeleteAlias, kms.UpdateAlias,
    cloudformation.DeleteStack, cloudformation.UpdateStack,
    # The forwarding role of organization mode and the notifier's role: a deny policy or a
    # permissions boundary silences them as surely as deleting them.
    iam.DeleteRole, iam.PutRolePolicy, iam.DeleteRolePolicy, iam.UpdateAssumeRolePolicy,
    iam.AttachRolePolicy, iam.PutRolePermissionsBoundary,
    # The notifier: new code, a concurrency of 0, a disabled or deleted event source mapping, its
    # claim table.
    awslambda.UpdateFunctionCode, awslambda.UpdateFunctionConfiguration, awslambda.PutFunctionConcurrency,
    awslambda.DeleteFunction, awslambda.UpdateEventSourceMapping, awslambda.DeleteEventSourceMapping,
    dynamodb.DeleteTable, dynamodb.UpdateTable, dynamodb.UpdateTimeToLive,
]
TAG_ACTIONS = [
    cloudwatch.TagResource, cloudwatch.UntagResource, events.TagResource, events.UntagResource,
    sns.TagResource, sns.UntagResource, sqs.TagQueue, sqs.UntagQueue, kms.TagResource,
    kms.UntagResource, cloudformation.TagResource, cloudformation.UntagResource, iam.TagRole,
    iam.UntagRole, awslambda.TagResource, awslambda.UntagResource, dynamodb.TagResource, dynamodb.UntagResource,
]
TRAIL_ACTIONS = [cloudtrail.StopLogging, cloudtrail.DeleteTrail, cloudtrail.UpdateTrail,
                 cloudtrail.PutEventSelectors]


def make_scp(options: GuardrailOptions) -> PolicyDocument:
    """The service control policy for ``options``."""
    options.validate()
    window = options.min_window_days
    deployers = _exempt(options.deploy_role_arns + options.break_glass_arns)
    # A deletion made by CloudFormation with the caller's credentials (a stack being deleted).
    not_via_cloudformation = ForAllValuesStringNotEquals("aws:CalledVia", [CLOUDFORMATION])
    protected = StringEquals(f"aws:ResourceTag/{PROTECTED_TAG_KEY}", PROTECTED_TAG_VALUE)
    statements = [
        _deny("DenyShortKeyDeletionWindow", [kms.ScheduleKeyDeletion], ["*"],
              NumericLessThan("kms:ScheduleKeyDeletionPendingWindowInDays", str(window)),
              not_via_cloudformation, *deployers),
        _deny("DenyShortSecretRecoveryWindow", [secretsmanager.DeleteSecret], ["*"],
              NumericLessThan("secretsmanager:RecoveryWindowInDays", str(window)),
              not_via_cloudformation, *deployers),
        # A separate statement: with force delete the request carries no recovery window,
        # and a numeric condition on an absent key does not match.
        _deny("DenySecretForceDelete", [secretsmanager.DeleteSecret], ["*"],
              Bool("secretsmanager:ForceDeleteWithoutRecovery", "true"), not_via_cloudformation, *deployers),
        _deny("ProtectTaggedResources", PROTECTED_ACTIONS, ["*"], protected, *deployers),
        # The tag itself: nobody but the deployers removes it or changes its value.
        _deny("ProtectTheProtectionTag", TAG_ACTIONS, ["*"], protected,
              ForAnyValueStringEquals("aws:TagKeys", [PROTECTED_TAG_KEY]), *deployers),
        _deny("ProtectProductStacksByName", [cloudformation.DeleteStack],
              [f"arn:*:cloudformation:*:*:stack/{p}*/*" for p in options.resource_prefixes], *deployers),
        # Metric filters cannot be told apart by name in a policy (the resource is the log
        # group), so deleting any metric filter on a trail's log group is reserved.
        _deny("ProtectTrailMetricFilters", [logs.DeleteMetricFilter],
              [f"arn:*:logs:*:*:log-group:{g}" for g in options.trail_log_groups], *deployers),
    ]
    if options.protect_trails:
        statements.append(_deny("ProtectTrails", TRAIL_ACTIONS, ["*"], *deployers))
    return PolicyDocument(Version="2012-10-17", Statement=statements)


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
        "windows long, forbids secret force delete, and protects the deletion-alarms resources "
        "and the trails."))
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
