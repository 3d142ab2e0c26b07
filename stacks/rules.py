"""EventBridge rules, one per detection, and the delivery path that keeps their alerts from being
dropped: retries, an encrypted dead-letter queue with its policy, and an alarm on its depth."""

from __future__ import annotations

from dataclasses import dataclass

from awacs import sqs as sqs_actions
from awacs.aws import Allow, ArnEquals, Condition, PolicyDocument, Principal, Statement
from troposphere import GetAtt, If, NoValue, Ref, Sub, Template
from troposphere.cloudwatch import MetricDimension
from troposphere.events import DeadLetterConfig, InputTransformer, RetryPolicy, Rule, Target
from troposphere.sqs import Queue, QueuePolicy

from stacks.alarms import make_first_record_alarm
from detections.catalog import Detection, Kind
from stacks.encryption import KeyRefs
from detections.eventpatterns import event_pattern
from detections.messages import make_message
from stacks.notifications import NotificationRefs
from stacks.parameters import CREATE_DELIVERY_QUEUE, USE_TOPIC_KEY, rule_condition
from detections.patterns import parse

DEAD_LETTER_QUEUE = "AlertDeliveryDeadLetterQueue"
# EventBridge's maxima: keep retrying a failing delivery for up to a day before dead-lettering.
MAX_RETRY_ATTEMPTS = 185
MAX_EVENT_AGE_SECONDS = 86_400
DLQ_RETENTION_SECONDS = 1_209_600  # 14 days, SQS's maximum: time to find and replay lost alerts


@dataclass(frozen=True)
class RuleRefs:
    """The rules added (by detection name) and, for policies, their conditional ARNs."""

    rules: dict[str, Rule]

    def conditional_arns(self) -> list[If]:
        """Each rule's ARN when the rule exists, nothing otherwise (for policy conditions)."""
        return [If(rule.Condition, GetAtt(rule, "Arn"), NoValue) for rule in self.rules.values()]


def rule_id(detection: Detection) -> str:
    return f"{detection.name}Rule"


def rule_state(detection: Detection) -> str:
    """Access detections match read-only calls (Decrypt, GetSecretValue), which reach a rule only
    in this state; the others need only write events."""
    return "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" if detection.kind is Kind.ACCESS else "ENABLED"


def add_event_rules(
    template: Template,
    notifications: NotificationRefs,
    key: KeyRefs,
    detections: tuple[Detection, ...],
) -> RuleRefs:
    """Add a rule per detection, sending its message to the alert topic, and the dead-letter queue."""
    queue = template.add_resource(Queue(
        DEAD_LETTER_QUEUE,
        Condition=CREATE_DELIVERY_QUEUE,
        # It may hold alerts that could not be delivered: never delete it with the stack.
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
        # The topic's customer managed key when there is one (its policy already lets
        # EventBridge use it), SQS-managed encryption otherwise: never unencrypted.
        KmsMasterKeyId=key.topic_key_id,
        SqsManagedSseEnabled=If(USE_TOPIC_KEY, NoValue, True),
        MessageRetentionPeriod=DLQ_RETENTION_SECONDS,
        Metadata={"checkov": {"skip": [{
            "id": "CKV_AWS_27",
            "comment": "Encrypted in every case: with the topic's KMS key, or with SQS-managed "
                       "SSE (SqsManagedSseEnabled), which this check does not recognise.",
        }]}},
    ))
    rules: dict[str, Rule] = {}
    for detection in detections:
        message = make_message(detection)
        rules[detection.name] = template.add_resource(Rule(
            rule_id(detection),
            Condition=rule_condition(detection),
            Description=detection.title[:512],
            EventPattern=event_pattern(parse(detection.filter_pattern), detection.service.event_source),
            State=rule_state(detection),
            Targets=[Target(
                Id="AlertTopic",
                Arn=notifications.topic_arn,
                InputTransformer=InputTransformer(
                    InputPathsMap=message.input_paths,
                    InputTemplate=message.input_template,
                ),
                RetryPolicy=RetryPolicy(
                    MaximumRetryAttempts=MAX_RETRY_ATTEMPTS,
                    MaximumEventAgeInSeconds=MAX_EVENT_AGE_SECONDS,
                ),
                DeadLetterConfig=DeadLetterConfig(Arn=GetAtt(queue, "Arn")),
            )],
        ))
    refs = RuleRefs(rules)
    template.add_resource(QueuePolicy(
        f"{DEAD_LETTER_QUEUE}Policy",
        Condition=CREATE_DELIVERY_QUEUE,
        Queues=[Ref(queue)],
        PolicyDocument=PolicyDocument(
            Version="2012-10-17",
            Statement=[Statement(
                Sid="AllowThisStacksRulesToDeadLetter",
                Effect=Allow,
                Principal=Principal("Service", "events.amazonaws.com"),
                Action=[sqs_actions.SendMessage],
                Resource=[GetAtt(queue, "Arn")],
                Condition=Condition(ArnEquals("aws:SourceArn", refs.conditional_arns())),
            )],
        ),
    ))
    template.add_resource(make_first_record_alarm(
        f"{DEAD_LETTER_QUEUE}Alarm", CREATE_DELIVERY_QUEUE, [notifications.topic_arn],
        AlarmName=Sub("${AWS::StackName}-AlertDeliveryFailed"),
        AlarmDescription=(
            "EventBridge could not deliver a deletion alert to the SNS topic after retrying for up "
            "to a day, and put it in the dead-letter queue. Check the topic's policy and key, then "
            "read the lost alerts from the queue in the SQS console."
        ),
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[MetricDimension(Name="QueueName", Value=GetAtt(queue, "QueueName"))],
        Statistic="Maximum",
        Period=300,
    ))
    return refs
