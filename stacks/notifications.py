"""The SNS topic that carries every alert, its email subscription and its topic policy."""

from __future__ import annotations

from dataclasses import dataclass

from awacs import sns as sns_actions
from awacs.aws import (
    Allow,
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
from stacks.guardrails import protected_tags
from stacks.parameters import (
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


def _publish_statement(sid: str, service: str, topic_arn: object, *conditions: ConditionElement) -> Statement:
    """Allow ``service`` to publish to the topic on behalf of this account only."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Principal=Principal("Service", f"{service}.amazonaws.com"),
        Action=[sns_actions.Publish],
        Resource=[topic_arn],
        Condition=Condition([StringEquals("aws:SourceAccount", AccountId), *conditions]),
    )


def make_alarm_publish_statement(topic_arn: object) -> Statement:
    """CloudWatch alarms of this account, and only they, may publish. CloudWatch publishes as
    cloudwatch.amazonaws.com with aws:SourceArn = the alarm's ARN and aws:SourceAccount = its account
    (CloudWatch user guide, Notify_Users_Alarm_Changes, and SNS's confused-deputy guidance:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html)."""
    return _publish_statement(
        "AllowCloudWatchAlarmsOfThisAccount", "cloudwatch", topic_arn,
        ArnLike("aws:SourceArn",
                Sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*")))


def make_topic_policy_document(topic: Topic) -> PolicyDocument:
    """Topic policy: only this account's CloudWatch alarms may publish, and only over TLS.
    EventBridge does not publish here (its rules raise alarms), so it is not named."""
    tls_only = Statement(
        Sid="DenyPublishWithoutTls",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[sns_actions.Publish],
        Resource=[Ref(topic)],
        Condition=Condition(Bool("aws:SecureTransport", "false")),
    )
    return PolicyDocument(Version="2012-10-17",
                          Statement=[make_alarm_publish_statement(Ref(topic)), tls_only])


def add_notifications(template: Template, params: ParameterRefs, key: KeyRefs) -> NotificationRefs:
    """Add the alert topic and its email subscription, unless an existing topic is given."""
    topic = template.add_resource(Topic(
        "AlertTopic",
        Condition=CREATE_TOPIC,
        # No TopicName: CloudFormation derives a unique one, so two stacks (or one StackSet
        # in several Regions) never collide.
        DisplayName="KMS and Secrets deletion alerts",
        KmsMasterKeyId=key.topic_key_id,
        Tags=protected_tags(),
    ))
    template.add_resource(SubscriptionResource(
        "AlertEmailSubscription",
        Condition=SUBSCRIBE_EMAIL,
        TopicArn=Ref(topic),
        Protocol="email",
        Endpoint=Ref(params.notification_email),
    ))
    return NotificationRefs(topic, Ref(params.existing_topic_arn))


def add_topic_policy(template: Template, notifications: NotificationRefs) -> None:
    """Add the topic policy."""
    template.add_resource(TopicPolicy(
        "AlertTopicPolicy",
        Condition=CREATE_TOPIC,
        Topics=[Ref(notifications.topic)],
        PolicyDocument=make_topic_policy_document(notifications.topic),
    ))
