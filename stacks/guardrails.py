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

from awacs import kms, secretsmanager
from awacs.aws import (
    Action,
    ArnNotLike,
    Bool,
    Condition,
    ConditionElement,
    Deny,
    ForAllValuesStringNotEquals,
    ForAnyValueStringEquals,
    ForAnyValueStringLike,
    NumericLessThan,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
    StringNotEquals,
)
from troposphere import Condition as ConditionRef
from troposphere import Equals, If, Join, Not, Or, Output, Parameter, Ref, Tags, Template
from troposphere.organizations import Policy as _Policy

from detections.errors import UsageError, UserError


class Policy(_Policy):
    """AWS::Organizations::Policy whose Content may be the policy's text: the resource schema takes
    a JSON object or a JSON string, troposphere only the object."""

    props = {**_Policy.props, "Content": ((dict, str), True)}

SCP_SIZE_LIMIT = 5120  # characters, AWS Organizations' limit for a service control policy
MIN_WINDOW_RANGE = (7, 30)  # what KMS and Secrets Manager accept as a waiting period

# The launch role of a portfolio shared through AWS Organizations: the same name in every account
# (the launch constraint's LocalRoleName), without a path, since whether Service Catalog finds a
# role with a path by its name alone is not documented.
SHARED_LAUNCH_ROLE_NAME = "deletion-alarms-launch"
# Roles that deploy this product and so may change its resources: the execution roles of
# service-managed and self-managed StackSets, and the Service Catalog launch roles (the path of a
# portfolio's own, the name of the shared one). "arn:*" so that they match in every partition (aws,
# aws-cn, aws-us-gov). Only these roles may create roles that match them (ProtectDeployRoles).
DEFAULT_DEPLOY_ROLES = (
    "arn:*:iam::*:role/stacksets-exec-*",
    "arn:*:iam::*:role/AWSCloudFormationStackSetExecutionRole",
    "arn:*:iam::*:role/deletion-alarms/*",
    f"arn:*:iam::*:role/{SHARED_LAUNCH_ROLE_NAME}",
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
            raise UsageError(f"--min-window-days must be a whole number from {low} to {high}, "
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
                    raise UsageError(f"{option} {value!r} is not valid; expected a value like {example}")
        if not self.deploy_role_arns:
            raise UsageError("--deploy-role-arn: at least one deploying role is needed, or no "
                            "deployment could ever update the protected resources")
        return self


def _exempt(arns: tuple[str, ...]) -> list[ConditionElement]:
    return [ArnNotLike("aws:PrincipalArn", list(arns))] if arns else []


def _actions(*names: str) -> list[Action]:
    """awacs Actions from "service:Name" strings; a * in a name is IAM's wildcard."""
    return [Action(*name.split(":")) for name in names]


# Actions that change or remove a protected resource, denied on resources that carry the tag.
# Wildcards are safe here: the tag condition limits them to this product's resources, and an
# action without a resource type never carries aws:ResourceTag. Which candidate actions these cover,
# and why the others are harmless, is tests/stacks/test_threat_model.py's to prove (from the Service
# Authorization Reference); the README's threat model is generated from THREAT_MODEL.
PROTECTED_ACTIONS = _actions(
    "cloudwatch:DeleteAlarms", "cloudwatch:DisableAlarmActions", "cloudwatch:Put*Alarm",
    "events:Delete*", "events:DisableRule", "events:PutRule", "events:*Targets", "events:UpdateEventBus",
    "sns:DeleteTopic", "sns:SetTopicAttributes", "sns:RemovePermission", "sns:PutDataProtectionPolicy",
    "sqs:DeleteQueue", "sqs:PurgeQueue", "sqs:SetQueueAttributes", "sqs:*Permission",
    # The alias actions authorize on the key too, and the key carries the tag.
    "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy", "kms:DeleteAlias", "kms:UpdateAlias",
    "cloudformation:DeleteStack", "cloudformation:UpdateStack", "cloudformation:ExecuteChangeSet",
    "cloudformation:SetStackPolicy", "cloudformation:ContinueUpdateRollback",
    # The forwarding role and the notifier's role: a deny policy or a boundary silences them too.
    "iam:Delete*", "iam:Put*", "iam:Attach*", "iam:Detach*", "iam:UpdateAssumeRolePolicy",
    # The notifier: new code, a concurrency of 0, a disabled or deleted event source mapping, and
    # no other way in (a function URL, a resource policy for other accounts).
    "lambda:Update*", "lambda:Delete*", "lambda:Put*", "lambda:Create*", "lambda:AddPermission",
    # Its claim table, and replicas elsewhere whose writes would replicate into it.
    "dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive", "dynamodb:*ResourcePolicy",
    "dynamodb:*Replica*", "dynamodb:*GlobalTable*",
)
# The notifier's own data: entries of the event queue and minute claims. Its role carries the tag,
# and only the deploy roles may give a principal that tag, so only the notifier may delete entries
# or write claims (an administrator's claims for coming minutes would hold every digest back).
# An administrator reads queued events, and hands dead letters back with a message move task.
NOTIFIER_DATA_ACTIONS = _actions(
    "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "lambda:Invoke*",
    # Passing one of the product's roles: to another function it would give that function the tag.
    "iam:PassRole",
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
    "dynamodb:PartiQL*",
)
# Adding, changing or removing the protection tag, on any resource or principal (a principal with
# the tag may write the notifier's data; a session tag is a principal tag too).
TAG_ACTIONS = _actions(
    "cloudwatch:*Tag*", "events:*Tag*", "sns:*Tag*", "sqs:*Tag*", "kms:*Tag*", "cloudformation:*Tag*",
    "iam:Tag*", "iam:Untag*", "iam:Create*", "sts:TagSession", "lambda:*Tag*", "dynamodb:*Tag*",
)
# What the deploy roles are made of: nobody else creates, re-trusts, re-permissions, passes or
# deletes a role whose name or path the exemption matches.
DEPLOY_ROLE_ACTIONS = _actions(
    "iam:CreateRole", "iam:Delete*", "iam:Put*", "iam:Attach*", "iam:Detach*", "iam:UpdateAssumeRolePolicy",
    "iam:PassRole", "iam:*Tag*",
)
TRAIL_ACTIONS = _actions("cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail",
                         "cloudtrail:PutEventSelectors")
# A trail's log group: its metric filters, itself, a transformer that rewrites records before the
# filters see them, a key the service may not use (records no longer arrive).
TRAIL_LOG_GROUP_ACTIONS = _actions("logs:DeleteMetricFilter", "logs:DeleteLogGroup", "logs:PutTransformer",
                                   "logs:AssociateKmsKey")
# Resource types whose import into a stack would let CloudFormation delete them with its own rules.
IMPORT_PROTECTED_TYPES = ["AWS::KMS::Key", "AWS::SecretsManager::Secret"]


# The statements are split over two SCPs (an account takes up to five): one policy of 5,120
# characters cannot hold them with the exemptions repeated in each statement.
GUARDRAILS_SCP, PROTECTION_SCP = "deletion-guardrails", "deletion-alarms-protection"
ATTACH_RCP = "AttachRcp"
SCP_NAMES = (GUARDRAILS_SCP, PROTECTION_SCP)


def make_scps(options: GuardrailOptions) -> dict[str, PolicyDocument]:
    """The service control policies for ``options``, by name: the deletion guardrails (windows,
    force delete, imports, trails) and the product's protection (its resources, its notifier's
    data, the protection tag, the deploy roles, its stacks)."""
    options.validate()
    window = options.min_window_days
    deployers = _exempt(options.deploy_role_arns + options.break_glass_arns)
    # A deletion made by CloudFormation with the caller's credentials (a stack being deleted).
    not_via_cloudformation = ForAllValuesStringNotEquals("aws:CalledVia", [CLOUDFORMATION])
    protected = StringEquals(f"aws:ResourceTag/{PROTECTED_TAG_KEY}", PROTECTED_TAG_VALUE)
    guardrails = [
        # No CloudFormation exemption for keys: its default window is 30 days, and a template's
        # shorter PendingWindowInDays is a shorter window like any other.
        _deny("DenyShortKeyDeletionWindow", [kms.ScheduleKeyDeletion], ["*"],
              NumericLessThan("kms:ScheduleKeyDeletionPendingWindowInDays", str(window)), *deployers),
        _deny("DenyShortSecretRecoveryWindow", [secretsmanager.DeleteSecret], ["*"],
              NumericLessThan("secretsmanager:RecoveryWindowInDays", str(window)),
              not_via_cloudformation, *deployers),
        # A separate statement: with force delete the request carries no recovery window,
        # and a numeric condition on an absent key does not match.
        _deny("DenySecretForceDelete", [secretsmanager.DeleteSecret], ["*"],
              Bool("secretsmanager:ForceDeleteWithoutRecovery", "true"), not_via_cloudformation, *deployers),
        # CloudFormation force-deletes the secrets of a stack it deletes: a secret imported into a
        # stack of one's own would be deleted at once (CloudFormation IAM policy examples,
        # cloudformation:ImportResourceTypes).
        _deny("DenyImportingKeysAndSecrets", _actions("cloudformation:CreateChangeSet"), ["*"],
              ForAnyValueStringLike("cloudformation:ImportResourceTypes", IMPORT_PROTECTED_TYPES), *deployers),
        # Metric filters cannot be told apart by name in a policy (the resource is the log
        # group), so deleting any metric filter on a trail's log group is reserved.
        _deny("ProtectTrailLogGroups", TRAIL_LOG_GROUP_ACTIONS,
              [f"arn:*:logs:*:*:log-group:{g}" for g in options.trail_log_groups], *deployers),
    ]
    if options.protect_trails:
        guardrails.append(_deny("ProtectTrails", TRAIL_ACTIONS, ["*"], *deployers))
    protection = [
        _deny("ProtectTaggedResources", PROTECTED_ACTIONS, ["*"], protected, *deployers),
        _deny("ProtectNotifierData", NOTIFIER_DATA_ACTIONS, ["*"], protected,
              StringNotEquals(f"aws:PrincipalTag/{PROTECTED_TAG_KEY}", PROTECTED_TAG_VALUE), *deployers),
        # The tag itself: nobody but the deployers adds, changes or removes it, anywhere.
        _deny("ProtectTheProtectionTag", TAG_ACTIONS, ["*"],
              ForAnyValueStringEquals("aws:TagKeys", [PROTECTED_TAG_KEY]), *deployers),
        _deny("ProtectDeployRoles", DEPLOY_ROLE_ACTIONS, _role_resources(options.deploy_role_arns), *deployers),
        _deny("ProtectProductStacksByName", _actions(
            "cloudformation:DeleteStack", "cloudformation:UpdateStack", "cloudformation:ExecuteChangeSet"),
              [f"arn:*:cloudformation:*:*:stack/{p}*/*" for p in options.resource_prefixes], *deployers),
    ]
    return {GUARDRAILS_SCP: PolicyDocument(Version="2012-10-17", Statement=guardrails),
            PROTECTION_SCP: PolicyDocument(Version="2012-10-17", Statement=protection)}


# The deletion guardrails as a resource control policy (AWS Organizations, RCPs; KMS and Secrets
# Manager are RCP services): the same three statements, applied to every principal that a key or
# secret policy lets in, of this organization or another; RCPs never apply to service-linked roles,
# AWS managed keys or the management account's resources. The other controls stay SCPs: CloudTrail,
# CloudFormation, CloudWatch, EventBridge, SNS and Lambda take no RCP, and the product's protection
# is about what this organization's own administrators may do, which an SCP already covers.
DELETION_RCP = "deletion-guardrails-rcp"
RCP_STATEMENTS = ("DenyShortKeyDeletionWindow", "DenyShortSecretRecoveryWindow", "DenySecretForceDelete")


# With the deletion statements in the RCP, the rest of the guardrails SCP (imports, trails) joins the
# protection SCP: the organization gives the product one SCP slot instead of two (an OU, account or
# root takes five, FullAWSAccess and Control Tower's own included).
PROTECTION_WITH_RCP = "deletion-alarms-protection-with-rcp"
DELETION_CONTROLS = ("ServiceControlPolicy", "ResourceControlPolicy")
AS_RCP, AS_SCP = "DeletionControlsAsRcp", "DeletionControlsAsScp"


def scp_documents(options: GuardrailOptions) -> dict[str, PolicyDocument]:
    """Every SCP the build offers, by name: the two of the default layout, and the protection SCP
    that also holds what of the guardrails SCP the RCP does not."""
    scps = make_scps(options)
    rest = [st for st in scps[GUARDRAILS_SCP].Statement if st.Sid not in RCP_STATEMENTS]
    return {**scps, PROTECTION_WITH_RCP: PolicyDocument(
        Version="2012-10-17", Statement=[*scps[PROTECTION_SCP].Statement, *rest])}


def merged_scp_fits(options: GuardrailOptions) -> bool:
    """Whether the protection SCP with the guardrails' rest fits Organizations' limit: with many
    exemptions it does not, and the build offers the two SCPs only."""
    try:
        render_scp(options, PROTECTION_WITH_RCP)
    except UserError:
        return False
    return True


# Build options of the size table in docs/security.md: (what, options).
LAYOUT_EXAMPLES: tuple[tuple[str, dict], ...] = (
    ("the defaults (dist/)", {}),
    ("one `--break-glass-arn`", {"break_glass_arns": ("arn:aws:iam::111122223333:role/BreakGlass",)}),
    ("`--no-trail-protection`", {"protect_trails": False}),
    ("`--no-trail-protection`, one `--break-glass-arn`",
     {"protect_trails": False, "break_glass_arns": ("arn:aws:iam::111122223333:role/BreakGlass",)}),
    ("`--no-trail-protection`, CfCT's `AWSControlTowerExecution` as a deploy role, one `--break-glass-arn`",
     {"protect_trails": False, "break_glass_arns": ("arn:aws:iam::111122223333:role/BreakGlass",),
      "deploy_role_arns": (*DEFAULT_DEPLOY_ROLES, "arn:*:iam::*:role/AWSControlTowerExecution")}),
)


def layout_sizes_table() -> str:
    """Markdown: each SCP's length in characters, as Organizations counts it, for each layout and
    the build options of LAYOUT_EXAMPLES; the one-SCP layout is offered only where it fits."""
    def size(options: GuardrailOptions, name: str) -> int:
        return len(scp_text(options, name))

    rows = ["| Build options | Two SCPs: guardrails + protection | One SCP and the RCP: protection | One SCP offered |",
            "|---|---|---|---|"]
    for what, values in LAYOUT_EXAMPLES:
        o = GuardrailOptions(**values)
        merged = size(o, PROTECTION_WITH_RCP)
        rows.append(f"| {what} | {size(o, GUARDRAILS_SCP):,} + {size(o, PROTECTION_SCP):,} | {merged:,} | "
                    f"{'yes' if merged <= SCP_SIZE_LIMIT else 'no: over 5,120'} |")
    return "\n".join(rows)


def make_rcp(options: GuardrailOptions) -> PolicyDocument:
    """The RCP: the guardrails SCP's deletion statements, each with ``Principal: "*"`` (an RCP's
    statements must name it), the same exemptions (deploy roles, break-glass)."""
    scp = make_scps(options)[GUARDRAILS_SCP]
    statements = []
    # Exemptions by role name hold inside the resource's own account only: another account, of this
    # organization or another, can create a role of any name. A break-glass ARN with an account ID is
    # precise, so it holds from anywhere.
    precise = tuple(a for a in options.break_glass_arns if re.fullmatch(r"arn:[^:]*:(iam|sts)::\d{12}:.+", a))
    elsewhere = [StringNotEquals("aws:PrincipalAccount", "${aws:ResourceAccount}"), *_exempt(precise)]
    for st in scp.Statement:
        if st.Sid not in RCP_STATEMENTS:
            continue
        statements.append(Statement(Sid=st.Sid, Effect=st.Effect, Principal=Principal("*"), Action=st.Action,
                                    Resource=st.Resource, Condition=st.Condition))
        control = [c for c in st.Condition.conditions if not (isinstance(c, ArnNotLike))]
        statements.append(Statement(Sid=f"{st.Sid}FromOtherAccounts", Effect=st.Effect, Principal=Principal("*"),
                                    Action=st.Action, Resource=st.Resource,
                                    Condition=Condition([*control, *elsewhere])))
    return PolicyDocument(Version="2012-10-17", Statement=statements)


def render_rcp(options: GuardrailOptions) -> str:
    """The RCP as compact, sorted JSON (RCPs share the SCPs' 5,120-character limit)."""
    body = json.dumps(json.loads(make_rcp(options).to_json()), sort_keys=True, separators=(",", ":"))
    if len(body) > SCP_SIZE_LIMIT:
        raise UserError(f"the resource control policy {DELETION_RCP} is {len(body)} characters, over the "
                        f"{SCP_SIZE_LIMIT} limit: give fewer --break-glass-arn or --deploy-role-arn")
    return body + "\n"


def _role_resources(patterns: tuple[str, ...]) -> list[str]:
    """The deploy role patterns as IAM role resources (a pattern may name an assumed-role session)."""
    return sorted({p.replace(":sts::", ":iam::").replace(":assumed-role/", ":role/") for p in patterns})


def _deny(sid: str, actions: list, resources: list, *conditions: ConditionElement) -> Statement:
    return Statement(Sid=sid, Effect=Deny, Action=actions, Resource=resources,
                     Condition=Condition(list(conditions)))


def scp_text(options: GuardrailOptions, name: str) -> str:
    """One SCP as compact, sorted JSON: the text whose characters AWS counts."""
    return json.dumps(json.loads(scp_documents(options)[name].to_json()), sort_keys=True, separators=(",", ":"))


def render_scp(options: GuardrailOptions, name: str = GUARDRAILS_SCP) -> str:
    """One SCP as compact, sorted JSON (AWS counts every character against the 5,120 limit)."""
    body = scp_text(options, name)
    if len(body) > SCP_SIZE_LIMIT:
        raise UserError(f"the service control policy {name} is {len(body)} characters, over the "
                        f"{SCP_SIZE_LIMIT} limit: give fewer --break-glass-arn, --deploy-role-arn or prefixes")
    return body + "\n"


def render_protection_scp(options: GuardrailOptions) -> str:
    return render_scp(options, PROTECTION_SCP)


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
    merged = merged_scp_fits(options)
    controls = template.add_parameter(Parameter(
        "DeletionControls", Type="String", Default=DELETION_CONTROLS[0],
        AllowedValues=list(DELETION_CONTROLS if merged else DELETION_CONTROLS[:1]),
        Description=(
            "ServiceControlPolicy: two SCPs on TargetIds. ResourceControlPolicy: the deletion controls as an "
            "RCP on TargetIds, which also holds for principals of other organizations, and one SCP (its "
            "slot freed); enable RCPs in the organization first." if merged else
            "ServiceControlPolicy only: with this build's exemptions, the one-SCP layout is over 5,120 characters."),
    ))
    template.add_parameter_to_group(controls, "Attachment")
    template.set_parameter_label(controls, "Deletion controls as")
    template.add_condition(AS_RCP, Equals(Ref(controls), DELETION_CONTROLS[1]))
    template.add_condition(AS_SCP, Not(ConditionRef(AS_RCP)))
    protection = render_scp(options, PROTECTION_SCP).rstrip("\n")
    # (logical ID, name, description, output, condition, content): logical IDs are an API, kept stable.
    for logical_id, name, description, output, condition, content in (
        ("DeletionGuardrailsPolicy", GUARDRAILS_SCP,
         "Long deletion windows, no secret force delete or import, trails kept", "PolicyId", AS_SCP,
         render_scp(options, GUARDRAILS_SCP).rstrip("\n")),
        ("ProductProtectionPolicy", PROTECTION_SCP,
         "deletion-alarms protected: its resources, its notifier's data, its tag, the deploy roles",
         "ProtectionPolicyId", None,
         If(AS_RCP, render_scp(options, PROTECTION_WITH_RCP).rstrip("\n"), protection) if merged else protection),
    ):
        # The exact text, measured against the 5,120-character limit, not an object: how the resource
        # handler would serialize an object is not documented, and pretty-printed the protection SCP
        # no longer fits (tests/stacks/test_guardrails.py measures it). The price: CloudFormation's
        # drift detection skips a policy given as a string (AWS::Organizations::Policy, Content).
        when = {"Condition": condition} if condition else {}
        policy = template.add_resource(Policy(
            logical_id, Name=name, Description=description, Type="SERVICE_CONTROL_POLICY",
            Content=content, TargetIds=Ref(targets), **when))
        template.add_output(Output(output, Description=f"ID of the {name} SCP", Value=Ref(policy), **when))
    rcp_targets = template.add_parameter(Parameter(
        "RcpTargetIds", Type="CommaDelimitedList", Default="",
        Description=("Where to attach the deletion guardrails as a resource control policy too (empty: "
                     "nowhere). It also stops principals of other organizations that a key or secret "
                     "policy lets in. Enable RCPs in the organization first."),
    ))
    template.add_parameter_to_group(rcp_targets, "Attachment")
    template.set_parameter_label(rcp_targets, "RCP target OU, account or root IDs (optional)")
    template.add_condition(ATTACH_RCP, Or(ConditionRef(AS_RCP), Not(Equals(Join("", Ref(rcp_targets)), ""))))
    # In the one-SCP layout the RCP holds the deletion controls for TargetIds: no other targets.
    template.add_rule("RcpGoesWhereTheScpGoes", {
        "RuleCondition": {"Fn::Equals": [{"Ref": controls.title}, DELETION_CONTROLS[1]]},
        "Assertions": [{"Assert": {"Fn::EachMemberEquals": [{"Ref": rcp_targets.title}, ""]},
                        "AssertDescription": "With DeletionControls ResourceControlPolicy the RCP is attached to "
                                             "TargetIds: leave RcpTargetIds empty."}]})
    rcp = template.add_resource(Policy(
        "DeletionGuardrailsRcp", Condition=ATTACH_RCP, Name=DELETION_RCP, Type="RESOURCE_CONTROL_POLICY",
        Description="Long deletion windows and no secret force delete, for every principal",
        Content=render_rcp(options).rstrip("\n"), TargetIds=If(AS_RCP, Ref(targets), Ref(rcp_targets))))
    template.add_output(Output("RcpId", Condition=ATTACH_RCP, Description=f"ID of the {DELETION_RCP} RCP",
                               Value=Ref(rcp)))
    return template
