"""The customer managed KMS key that encrypts the alert topic, and its key policy."""

from __future__ import annotations

from dataclasses import dataclass

from awacs import kms as kms_actions
from awacs.aws import (
    Allow,
    BoolIfExists,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import GetAtt, If, NoValue, Ref, Sub, Template
from troposphere.kms import Alias, Key

from stacks.guardrails import protected_tags
from stacks.parameters import CREATE_TOPIC_KEY, USE_EXISTING_TOPIC_KEY, ParameterRefs

# Key administration for the account's IAM policies to delegate: everything but the
# cryptographic operations, which only the publishing services need.
ADMIN_ACTIONS = [
    kms_actions.Action(name) for name in (
        "Create*", "Describe*", "Enable*", "List*", "Put*", "Update*", "Revoke*", "Disable*",
        "Get*", "Delete*", "TagResource", "UntagResource", "ScheduleKeyDeletion",
        "CancelKeyDeletion", "RotateKeyOnDemand",
    )
]
# CloudWatch alarms and the notifier function publish to the topic; EventBridge rules write to an
# SQS queue (see stacks/rules.py), so EventBridge never needs this key.
# SNS developer guide, Key management (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html):
# a service that publishes to an encrypted topic needs kms:GenerateDataKey* and kms:Decrypt in the
# key policy, granted to its service principal. UNCONFIRMED: whether CloudWatch's calls to KMS carry
# aws:SourceAccount / aws:SourceArn (the page says EventBridge's do not support them and is silent
# on CloudWatch). So the grant has no source condition and works either way; the topic policy,
# where these keys are documented for alarms, decides which alarms may publish.
PUBLISHERS = ["cloudwatch.amazonaws.com"]


@dataclass(frozen=True)
class KeyRefs:
    """What the topic needs of its key: the value of its KmsMasterKeyId."""

    topic_key_id: If


def make_publisher_statement() -> Statement:
    """What the topic key must allow so that CloudWatch alarms can publish to the topic; the README
    prints it for ExistingKey."""
    return Statement(
        Sid="AllowCloudWatchAlarmsToPublishToTheTopic",
        Effect=Allow,
        Principal=Principal("Service", PUBLISHERS),
        Action=[kms_actions.Decrypt, kms_actions.Action("GenerateDataKey*")],
        Resource=["*"],
    )


def make_publishing_through_sns_statement() -> Statement:
    """The notifier function's role publishes to the topic; SNS then uses the key on its behalf, with
    kms:ViaService = sns.<Region>.amazonaws.com. The key policy delegates that use to the account's
    IAM policies (the role's policy names this key), through SNS only: no principal can use the key
    directly. Naming the role here instead would make the key depend on the role, whose policy
    depends on the key."""
    return Statement(
        Sid="AllowThisAccountsPublishersThroughSns",
        Effect=Allow,
        Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
        Action=[kms_actions.Decrypt, kms_actions.Action("GenerateDataKey*")],
        Resource=["*"],
        Condition=Condition(StringEquals({
            "kms:ViaService": Sub("sns.${AWS::Region}.amazonaws.com"),
            "kms:CallerAccount": Sub("${AWS::AccountId}"),
        })),
    )


def make_key_policy() -> PolicyDocument:
    """Account administration, use by CloudWatch alarms and (through SNS) the notifier to publish,
    and no grants except for AWS services (Control Tower CT.KMS.PR.3)."""
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Sid="AllowKeyAdministrationByThisAccount",
                Effect=Allow,
                Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                Action=ADMIN_ACTIONS,
                Resource=["*"],
            ),
            make_publisher_statement(),
            make_publishing_through_sns_statement(),
            Statement(
                Sid="DenyGrantsExceptForAwsServices",
                Effect=Deny,
                Principal=Principal("*"),
                Action=[kms_actions.CreateGrant],
                Resource=["*"],
                Condition=Condition(BoolIfExists({
                    "kms:GrantIsForAWSResource": "false",
                    "aws:PrincipalIsAWSService": "false",
                })),
            ),
        ],
    )


def add_topic_key(template: Template, params: ParameterRefs) -> KeyRefs:
    """Add the topic's key and alias (when TopicEncryption is CreateKey)."""
    key = template.add_resource(Key(
        "AlertTopicKey",
        Condition=CREATE_TOPIC_KEY,
        # Deleting or replacing the stack must never schedule deletion of the key that
        # encrypts the alerts: messages in flight, and the audit trail, depend on it.
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
        Description="Encrypts the deletion-alarms SNS topic",
        KeySpec="SYMMETRIC_DEFAULT",  # SNS supports only symmetric keys
        KeyUsage="ENCRYPT_DECRYPT",
        EnableKeyRotation=True,
        PendingWindowInDays=30,
        KeyPolicy=make_key_policy(),
        Tags=protected_tags(),
    ))
    template.add_resource(Alias(
        "AlertTopicKeyAlias",
        Condition=CREATE_TOPIC_KEY,
        AliasName=Sub("alias/${AWS::StackName}-alerts"),
        TargetKeyId=Ref(key),
    ))
    return KeyRefs(If(CREATE_TOPIC_KEY, GetAtt(key, "Arn"),
                      If(USE_EXISTING_TOPIC_KEY, Ref(params.topic_kms_key_arn), NoValue)))
