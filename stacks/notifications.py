"""The SNS topic that carries every alert, its email subscription and its topic policy."""

from __future__ import annotations

from dataclasses import dataclass

from awacs import sns as sns_actions
from awacs.aws import (
    Allow,
    ArnLike,
    Condition,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import AccountId, Ref, Sub, Template
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy

from stacks.parameters import ParameterRefs


@dataclass(frozen=True)
class NotificationRefs:
    """What later steps need of the notification resources."""

    topic: Topic

    @property
    def topic_arn(self) -> Ref:
        return Ref(self.topic)


def make_topic_policy_document(topic: Topic) -> PolicyDocument:
    """Topic policy: only CloudWatch alarms of this account may publish."""
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Sid="AllowCloudWatchAlarmsOfThisAccount",
                Effect=Allow,
                Principal=Principal("Service", "cloudwatch.amazonaws.com"),
                Action=[sns_actions.Publish],
                Resource=[Ref(topic)],
                Condition=Condition([
                    StringEquals("aws:SourceAccount", AccountId),
                    ArnLike(
                        "aws:SourceArn",
                        Sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"),
                    ),
                ]),
            ),
        ],
    )


def add_notifications(template: Template, params: ParameterRefs) -> NotificationRefs:
    """Add the alert topic, the email subscription and the topic policy."""
    topic = template.add_resource(Topic(
        "AlertTopic",
        # No TopicName: CloudFormation derives a unique one, so two stacks (or one StackSet
        # in several Regions) never collide.
        DisplayName="KMS and Secrets deletion alerts",
    ))
    template.add_resource(SubscriptionResource(
        "AlertEmailSubscription",
        TopicArn=Ref(topic),
        Protocol="email",
        Endpoint=Ref(params.notification_email),
    ))
    template.add_resource(TopicPolicy(
        "AlertTopicPolicy",
        Topics=[Ref(topic)],
        PolicyDocument=make_topic_policy_document(topic),
    ))
    return NotificationRefs(topic)
