"""The threat model: every way an account administrator could silence or blind the product, and what
stops it.

The candidates are derived, not picked: for every resource type the product creates in a member
account, every action of the Service Authorization Reference on that resource type at the access
levels Write, Permissions management and Tagging (tests/stacks/test_threat_model.py reads
parliament's copy). Each candidate is either denied by the SCPs on a protected resource (the test
evaluates them with tests/iam_evaluator.py) or listed below as accepted, with the reason; the test
fails on a candidate that is neither, and on an accepted one that is no candidate or is denied.
The README's threat model is generated from this module.
"""

from __future__ import annotations

from stacks.guardrails import (
    DEPLOY_ROLE_ACTIONS,
    NOTIFIER_DATA_ACTIONS,
    PROTECTED_ACTIONS,
    TAG_ACTIONS,
    TRAIL_ACTIONS,
    TRAIL_LOG_GROUP_ACTIONS,
)

# CloudFormation type -> the Service Authorization Reference's resource types ("service:resource")
# whose actions can change it. "stack" stands for the product's own stack.
RESOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "AWS::SNS::Topic": ("sns:topic",),
    "AWS::SNS::TopicPolicy": ("sns:topic",),
    "AWS::SQS::Queue": ("sqs:queue",),
    "AWS::SQS::QueuePolicy": ("sqs:queue",),
    "AWS::Events::Rule": ("events:rule-on-default-event-bus", "events:rule-on-custom-event-bus"),
    "AWS::Events::EventBus": ("events:event-bus",),
    "AWS::KMS::Key": ("kms:key",),
    "AWS::KMS::Alias": ("kms:alias",),
    "AWS::CloudWatch::Alarm": ("cloudwatch:alarm",),
    "AWS::IAM::Role": ("iam:role",),
    "AWS::Lambda::Function": ("lambda:function",),
    "AWS::Lambda::EventSourceMapping": ("lambda:eventSourceMapping",),
    "AWS::DynamoDB::Table": ("dynamodb:table",),
    "AWS::Logs::MetricFilter": ("logs:log-group",),
    "AWS::Chatbot::SlackChannelConfiguration": ("chatbot:ChatbotConfiguration",),
    "AWS::Chatbot::MicrosoftTeamsChannelConfiguration": ("chatbot:ChatbotConfiguration",),
    "stack": ("cloudformation:stack",),
}
# Actions the Reference gives no resource type, so that no policy can single out this product's
# resource, on types that have no resource type of their own.
RESOURCE_LESS_ACTIONS: dict[str, tuple[str, ...]] = {
    "AWS::SNS::Subscription": ("sns:Unsubscribe", "sns:SetSubscriptionAttributes"),
    "AWS::Events::EventBus": ("events:PutPermission", "events:RemovePermission"),
}
# Types the product creates only in the management or Service Catalog administrator account, where
# SCPs do not apply or the product is administered: outside this model, with the reason.
ADMINISTRATION_TYPES: dict[str, str] = {
    "AWS::Organizations::Policy": "the SCPs themselves, in the management account, where SCPs do not apply",
    "AWS::CloudFormation::StackSet": "the stack set, in the administrator account; its instances are tagged stacks",
    "AWS::ServiceCatalog::CloudFormationProduct": "the portfolio's administrators own it (see Service Catalog)",
    "AWS::ServiceCatalog::Portfolio": "the portfolio's administrators own it",
    "AWS::ServiceCatalog::PortfolioPrincipalAssociation": "the portfolio's administrators own it",
    "AWS::ServiceCatalog::PortfolioProductAssociation": "the portfolio's administrators own it",
    "AWS::ServiceCatalog::LaunchRoleConstraint": "the portfolio's administrators own it",
    "AWS::ServiceCatalog::LaunchTemplateConstraint": "the portfolio's administrators own it: it binds end users",
    # The share function and its role are a function and a role like the workload's, in the same account.
    "AWS::CloudFormation::CustomResource": "the portfolio's share with the organization: its administrators own it",
}

_NOISE = "adds an event, a message or a subscriber: a false alert at worst, never a lost one"
_COPY = "makes a copy or a new resource; the product's own is unchanged"
_USE = "uses the topic key (encrypt, decrypt, sign) or manages what SNS does not use (grants, rotation, material)"
_NEW = "creates a resource of its own; it cannot take over the product's"
_HARMLESS_STACK = ("changes no resource by itself; whatever CloudFormation then does with the caller's "
                   "credentials meets the same denials")
# Accepted: reason -> actions. Every reason says why the action cannot silence an alert, or why the
# product accepts the risk and how it shows.
ACCEPTED: dict[str, tuple[str, ...]] = {
    _NOISE: ("sns:Publish", "sns:Subscribe", "sns:ConfirmSubscription", "sns:AddPermission", "sqs:SendMessage",
             "events:PutEvents", "events:StartReplay", "events:EnableRule", "cloudwatch:EnableAlarmActions"),
    "sets an alarm's state until its next evaluation (a minute): the alarm returns to ALARM and notifies":
        ("cloudwatch:SetAlarmState",),
    _COPY: ("dynamodb:CreateBackup", "dynamodb:ExportTableToPointInTime", "dynamodb:RestoreTableFromAwsBackup",
            "dynamodb:RestoreTableFromBackup", "dynamodb:RestoreTableToPointInTime", "dynamodb:StartAwsBackupJob",
            "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateContributorInsights", "dynamodb:ImportTable",
            "dynamodb:EnableKinesisStreamingDestination", "dynamodb:DisableKinesisStreamingDestination",
            "dynamodb:UpdateKinesisStreamingDestination", "events:CreateArchive", "lambda:PublishVersion",
            "lambda:EnableReplication", "lambda:DisableReplication", "logs:CreateExportTask"),
    _USE: ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyPair",
           "kms:GenerateDataKeyPairWithoutPlaintext", "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateMac",
           "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:Sign", "kms:Verify", "kms:VerifyMac", "kms:DeriveSharedSecret",
           "kms:CreateGrant", "kms:RetireGrant", "kms:RevokeGrant", "kms:DisableKeyRotation", "kms:EnableKeyRotation",
           "kms:RotateKeyOnDemand", "kms:ImportKeyMaterial", "kms:DeleteImportedKeyMaterial", "kms:ReplicateKey",
           "kms:SynchronizeMultiRegionKey", "kms:UpdatePrimaryRegion", "kms:UpdateKeyDescription"),
    "undoes a deletion or a disabling, or adds an alias: delivery only gains":
        ("kms:CancelKeyDeletion", "kms:EnableKey", "kms:CreateAlias"),
    _NEW: ("sns:CreateTopic", "sqs:CreateQueue", "events:CreateEventBus", "dynamodb:CreateTable",
           "logs:CreateLogGroup", "logs:CreateLogAnomalyDetector", "cloudformation:CreateStack",
           "cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet"),
    "moves a dead letter back to the event queue, or stops that move: the notifier sends it again":
        ("sqs:StartMessageMoveTask", "sqs:CancelMessageMoveTask"),
    "a role's description or maximum session length: no effect on what it may do":
        ("iam:UpdateRole", "iam:UpdateRoleDescription"),
    "removes a permission the notifier does not need (it has none: only its event source mapping invokes it)":
        ("lambda:RemovePermission",),
    _HARMLESS_STACK: ("cloudformation:CancelUpdateStack", "cloudformation:RollbackStack",
                      "cloudformation:CreateStackRefactor", "cloudformation:ExecuteStackRefactor",
                      "cloudformation:SignalResource", "cloudformation:RecordHandlerProgress",
                      "cloudformation:UpdateTerminationProtection"),
    "a trail log group's retention, subscriptions, tags, data protection and export: metric filters see "
    "every record as it arrives (UNCONFIRMED for data protection, which masks identifiers; the patterns "
    "match event sources, names and error codes, which no managed data identifier covers)":
        ("logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:PutSubscriptionFilter",
         "logs:DeleteSubscriptionFilter", "logs:TagLogGroup", "logs:UntagLogGroup", "logs:TagResource",
         "logs:UntagResource", "logs:PutDataProtectionPolicy", "logs:DeleteDataProtectionPolicy",
         "logs:DeleteTransformer", "logs:DisassociateKmsKey"),
    "ACCEPTED RISK. A metric filter is named inside its log group, which is the resource: a policy cannot "
    "tell the product's filters apart, and reserving every filter on trail log groups would stop other "
    "teams' alarms. Overwriting one is a logged API call; the EventBridge engine does not depend on it":
        ("logs:PutMetricFilter",),
    "ACCEPTED RISK. No resource type in the Reference: no policy can single out this product's subscription. "
    "Confirm subscriptions with authenticated unsubscribe (Security, Unsubscribing); the drill finds a "
    "filtered or removed subscription (no digest arrives)":
        ("sns:Unsubscribe", "sns:SetSubscriptionAttributes"),
    "ACCEPTED RISK. No resource type in the Reference: no policy can single out the collector's bus. Removing "
    "the organization's permission stops forwarding (events wait 24 hours, then go to each member's "
    "dead-letter queue): keep the collector's account to a few administrators":
        ("events:PutPermission", "events:RemovePermission"),
    "chat channel configurations (Chatbot) deliver in addition to email; the topic and its email "
    "subscription are protected":
        ("chatbot:DeleteChimeWebhookConfiguration", "chatbot:DeleteMicrosoftTeamsChannelConfiguration",
         "chatbot:DeleteSlackChannelConfiguration", "chatbot:UpdateChimeWebhookConfiguration",
         "chatbot:UpdateMicrosoftTeamsChannelConfiguration", "chatbot:UpdateSlackChannelConfiguration",
         "chatbot:AssociateToConfiguration", "chatbot:DisassociateFromConfiguration"),
}


def accepted_actions() -> dict[str, str]:
    """Accepted action -> its reason."""
    return {action: reason for reason, actions in ACCEPTED.items() for action in actions}


DENIED: tuple[tuple[str, str, tuple], ...] = (
    ("ProtectTaggedResources", "changing or removing a resource that carries the protection tag", PROTECTED_ACTIONS),
    ("ProtectNotifierData", "deleting queued events, writing minute claims, invoking the notifier, passing "
     "a product role, unless the principal carries the protection tag (the product's roles)", NOTIFIER_DATA_ACTIONS),
    ("ProtectTheProtectionTag", "adding, changing or removing the protection tag anywhere, sessions included",
     TAG_ACTIONS),
    ("ProtectDeployRoles", "creating, re-trusting, re-permissioning, passing or deleting a role the "
     "exemption names", DEPLOY_ROLE_ACTIONS),
    ("ProtectTrailLogGroups", "deleting a trail log group or its metric filters, a transformer or key on it",
     TRAIL_LOG_GROUP_ACTIONS),
    ("ProtectTrails", "stopping, deleting or reconfiguring a trail", TRAIL_ACTIONS),
)


def threat_model_table() -> str:
    """Markdown: what the SCPs deny, then every accepted candidate with its reason."""
    rows = ["| Statement | What it stops | Actions |", "|---|---|---|"]
    for sid, what, actions in DENIED:
        rows.append(f"| `{sid}` | {what} | {', '.join(f'`{a.JSONrepr()}`' for a in actions)} |")
    rows += ["", "| Accepted | Why |", "|---|---|"]
    for reason, actions in ACCEPTED.items():
        rows.append(f"| {', '.join(f'`{a}`' for a in sorted(actions))} | {reason} |")
    return "\n".join(rows)
