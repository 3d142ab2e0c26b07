"""The SNS topic that carries every alert, its email subscription and its topic policy."""

from __future__ import annotations

from dataclasses import dataclass

from awacs import sns as sns_actions
from awacs.aws import (
    Allow,
    ArnEquals,
    ArnLike,
    Bool,
    Condition,
    ConditionElement,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import AccountId, If, Ref, Sub, Template
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy

from stacks.encryption import KeyRefs
from stacks.parameters import (
    CREATE_DELIVERY_QUEUE,
    CREATE_TOPIC,
    SUBSCRIBE_EMAIL,
    ParameterRefs,
)


@dataclass(frozen=True)
class NotificationRefs:
    """What later steps need of the notification resources."""

    topic: Topic
    existing_topic_arn: Ref

    @property
    def topic_arn(self) -> If:
        """The ARN alerts go to: the topic created here, or the existing one."""
        return If(CREATE_TOPIC, Ref(self.topic), self.existing_topic_arn)


def _publish_statement(sid: str, service: str, topic: Topic, *conditions: ConditionElement) -> Statement:
    """Allow ``service`` to publish to the topic on behalf of this account only."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Principal=Principal("Service", f"{service}.amazonaws.com"),
        Action=[sns_actions.Publish],
        Resource=[Ref(topic)],
        Condition=Condition([StringEquals("aws:SourceAccount", AccountId), *conditions]),
    )


def make_topic_policy_document(topic: Topic, rule_arns: list[If]) -> If:
    """Topic policy: only this account's CloudWatch alarms and this stack's EventBridge rules
    may publish. With no rule deployed there is no rule ARN to name, so the rules' statement
    is left out."""
    alarms = _publish_statement(
        "AllowCloudWatchAlarmsOfThisAccount", "cloudwatch", topic,
        ArnLike("aws:SourceArn",
                Sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*")))
    rules = _publish_statement(
        "AllowThisStacksEventBridgeRules", "events", topic, ArnEquals("aws:SourceArn", rule_arns))
    tls_only = Statement(
        Sid="DenyPublishWithoutTls",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[sns_actions.Publish],
        Resource=[Ref(topic)],
        Condition=Condition(Bool("aws:SecureTransport", "false")),
    )
    return If(
        CREATE_DELIVERY_QUEUE,
        PolicyDocument(Version="2012-10-17", Statement=[alarms, rules, tls_only]),
        PolicyDocument(Version="2012-10-17", Statement=[alarms, tls_only]),
    )


def add_notifications(template: Template, params: ParameterRefs, key: KeyRefs) -> NotificationRefs:
    """Add the alert topic and its email subscription, unless an existing topic is given."""
    topic = template.add_resource(Topic(
        "AlertTopic",
        Condition=CREATE_TOPIC,
        # No TopicName: CloudFormation derives a unique one, so two stacks (or one StackSet
        # in several Regions) never collide.
        DisplayName="KMS and Secrets deletion alerts",
        KmsMasterKeyId=key.topic_key_id,
    ))
    template.add_resource(SubscriptionResource(
        "AlertEmailSubscription",
        Condition=SUBSCRIBE_EMAIL,
        TopicArn=Ref(topic),
        Protocol="email",
        Endpoint=Ref(params.notification_email),
    ))
    return NotificationRefs(topic, Ref(params.existing_topic_arn))


def add_topic_policy(template: Template, notifications: NotificationRefs, rule_arns: list[If]) -> None:
    """Add the topic policy, once the rules that may publish are known."""
    template.add_resource(TopicPolicy(
        "AlertTopicPolicy",
        Condition=CREATE_TOPIC,
        Topics=[Ref(notifications.topic)],
        PolicyDocument=make_topic_policy_document(notifications.topic, rule_arns),
    ))
