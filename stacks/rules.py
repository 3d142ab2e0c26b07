"""EventBridge rules, one per detection, and the burst-safe path their alerts take.

A rule never emails directly: an application retrying Decrypt on a pending-deletion key makes
hundreds of matching calls a minute, and SNS suspends an email subscription that receives more than
10 messages a second (SNS developer guide, email notifications). So each rule writes every matching
event, as readable alert text, to one queue that keeps it for 14 days, and a CloudWatch alarm on the
rule's AWS/Events MatchedEvents metric emails once when the first event of a quiet period matches
(with the count of the period in its state reason) and stays silent while the burst goes on.
Deliveries that fail are retried for a day, then dead-lettered; both the failures and the
dead-letter queue's depth raise alarms of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import sqs as sqs_actions
from awacs.aws import Allow, ArnEquals, Condition, PolicyDocument, Principal, Statement
from troposphere import GetAtt, If, NoValue, Ref, Select, Split, Sub, Template
from troposphere.cloudwatch import Metric, MetricDataQuery, MetricDimension, MetricStat
from troposphere.events import DeadLetterConfig, InputTransformer, RetryPolicy, Rule, Target
from troposphere.sqs import Queue, QueuePolicy, RedrivePolicy

from detections import exclusions
from detections.catalog import Detection, Kind
from detections.eventpatterns import event_pattern
from detections.messages import make_message
from detections.patterns import parse
from stacks.alarms import make_first_record_alarm
from stacks.guardrails import protected_tags
from stacks.notifications import NotificationRefs
from stacks.forwarding import ForwardingRefs
from stacks.parameters import CREATE_DELIVERY_QUEUE, DeliveryConditions, ParameterRefs, rule_condition

EVENT_QUEUE = "AlertEventQueue"
DEAD_LETTER_QUEUE = "AlertDeliveryDeadLetterQueue"
# EventBridge's maxima: keep retrying a failing delivery for up to a day before dead-lettering.
MAX_RETRY_ATTEMPTS = 185
MAX_EVENT_AGE_SECONDS = 86_400
QUEUE_RETENTION_SECONDS = 1_209_600  # 14 days, SQS's maximum: every event stays listable that long
# A person reading the queue receives each message; SQS moves it to the dead-letter queue only
# after this many receives (SQS's maximum), so reading never loses an event.
MAX_RECEIVE_COUNT = 1000
EVENTS_NAMESPACE = "AWS/Events"
# checkov's SQS encryption check knows only KmsMasterKeyId; these queues are encrypted with
# SqsManagedSseEnabled, which Control Tower's CT.SQS.PR.2 accepts.
CHECKOV_SSE_SQS = {"checkov": {"skip": [{
    "id": "CKV_AWS_27",
    "comment": "Encrypted: SqsManagedSseEnabled, which this check does not know",
}]}}


@dataclass(frozen=True)
class RuleRefs:
    """The rules added (by detection name) and the queue that lists their events."""

    rules: dict[str, Rule]
    event_queue: Queue

    def conditional_arns(self) -> list[If]:
        """Each rule's ARN when the rule exists, nothing otherwise (for policy conditions)."""
        return [If(rule.Condition, GetAtt(rule, "Arn"), NoValue) for rule in self.rules.values()]


def rule_id(detection: Detection) -> str:
    return f"{detection.name}Rule"


def rule_alarm_id(detection: Detection) -> str:
    return f"{detection.name}RuleAlarm"


def rule_state(detection: Detection) -> str:
    """Access detections match read-only calls (Decrypt, GetSecretValue), which reach a rule only
    in this state; the others need only write events."""
    return "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" if detection.kind is Kind.ACCESS else "ENABLED"


# Where a person finds every event an alarm counted, appended to each rule alarm's text (a Sub).
LISTING_HINT = (
    " Each event (key or secret, caller) is kept 14 days in SQS: "
    "aws sqs receive-message --region ${AWS::Region} --queue-url ${%s} "
    "--max-number-of-messages 10 --visibility-timeout 0" % EVENT_QUEUE
)
ALARM_DESCRIPTION_LIMIT = 1024  # characters, CloudWatch's limit for AlarmDescription


def make_queue(title: str, **properties: object) -> Queue:
    """A queue of alert events: kept with the stack's deletion (it may hold alerts nobody has read),
    SQS-managed encryption (an administrator reads it with SQS permissions alone, no KMS key policy
    in the way), 14 days of retention."""
    return Queue(
        title,
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
        SqsManagedSseEnabled=True,
        MessageRetentionPeriod=QUEUE_RETENTION_SECONDS,
        Metadata=CHECKOV_SSE_SQS,
        Tags=protected_tags(),
        **{"Condition": CREATE_DELIVERY_QUEUE, **properties},
    )


def add_queues(template: Template, conditions: DeliveryConditions) -> tuple[Queue, Queue]:
    """The queue that lists every matching event, and the dead-letter queue for failed deliveries
    (kept when forwarding too: an event the collector's bus refused waits there)."""
    dead_letter = template.add_resource(make_queue(
        DEAD_LETTER_QUEUE,
        # Declared a dead-letter queue (Control Tower CT.SQS.PR.1). allowAll, not byQueue with the
        # event queue's ARN: that queue names this one in its RedrivePolicy, and the two references
        # would be a circular dependency.
        RedriveAllowPolicy={"redrivePermission": "allowAll"},
    ))
    events = template.add_resource(make_queue(
        EVENT_QUEUE,
        Condition=conditions.event_queue,
        RedrivePolicy=RedrivePolicy(deadLetterTargetArn=GetAtt(dead_letter, "Arn"),
                                    maxReceiveCount=MAX_RECEIVE_COUNT),
    ))
    return events, dead_letter


@dataclass(frozen=True)
class EventBusRefs:
    """A custom event bus the rules live on (the collector's); None for the default bus."""

    bus: object
    name: object


def _rule_name_metric_dimensions(rule: Rule, bus: EventBusRefs | None) -> list[MetricDimension]:
    """AWS/Events dimensions of a rule: RuleName on the default bus; EventBusName and RuleName on
    a custom bus, where Ref of a rule gives "bus|rule" (AWS::Events::Rule return values)."""
    if bus is None:
        return [MetricDimension(Name="RuleName", Value=Ref(rule))]
    return [MetricDimension(Name="EventBusName", Value=bus.name),
            MetricDimension(Name="RuleName", Value=Select(1, Split("|", Ref(rule))))]


def add_event_rules(
    template: Template,
    params: ParameterRefs,
    notifications: NotificationRefs,
    detections: tuple[Detection, ...],
    conditions: DeliveryConditions,
    bus: EventBusRefs | None = None,
    forwarding: ForwardingRefs | None = None,
) -> RuleRefs:
    """Add a rule per detection writing its events to the event queue (or, when forwarding, to the
    collector's bus), an alarm per rule, and the alarms that watch delivery."""
    events, dead_letter = add_queues(template, conditions)
    rules: dict[str, Rule] = {}
    retry = RetryPolicy(MaximumRetryAttempts=MAX_RETRY_ATTEMPTS, MaximumEventAgeInSeconds=MAX_EVENT_AGE_SECONDS)
    for detection in detections:
        message = make_message(detection)
        pattern = event_pattern(parse(detection.filter_pattern), detection.service.event_source)
        if params.expected_deleters is not None and exclusions.applies_to(detection):
            pattern = exclusions.with_exclusions(pattern, Split(",", Ref(params.expected_deleters)))
        target = Target(
            Id="AlertEventQueue",
            Arn=GetAtt(events, "Arn"),
            InputTransformer=InputTransformer(
                InputPathsMap=message.input_paths,
                InputTemplate=message.input_template,
            ),
            RetryPolicy=retry,
            DeadLetterConfig=DeadLetterConfig(Arn=GetAtt(dead_letter, "Arn")),
        )
        if forwarding is not None:
            # The whole event goes to the collector, which writes its own queue entry and alarms.
            target = If(conditions.forwarding, Target(
                Id="CollectorEventBus", Arn=forwarding.bus_arn, RoleArn=GetAtt(forwarding.role, "Arn"),
                RetryPolicy=retry, DeadLetterConfig=DeadLetterConfig(Arn=GetAtt(dead_letter, "Arn")),
            ), target)
        rule = rules[detection.name] = template.add_resource(Rule(
            rule_id(detection),
            Condition=rule_condition(detection),
            Description=detection.title[:512],
            EventPattern=pattern,
            # Forwarded events are on the collector's bus already: the read-only filter of the
            # source's default bus does not apply there.
            State=rule_state(detection) if bus is None else "ENABLED",
            Tags=protected_tags(),
            Targets=[target],
            **({"EventBusName": bus.name} if bus is not None else {}),
        ))
        # MatchedEvents counts what the rule matched, whether or not the queue took it: the email
        # does not depend on the queue's delivery.
        template.add_resource(make_first_record_alarm(
            rule_alarm_id(detection), conditions.rule_alarm(detection), [notifications.topic_arn],
            AlarmName=Sub(f"${{AWS::StackName}}-{rule_id(detection)}"),
            AlarmDescription=Sub(detection.alarm_description + LISTING_HINT),
            Namespace=EVENTS_NAMESPACE,
            MetricName="MatchedEvents",
            Dimensions=_rule_name_metric_dimensions(rule, bus),
            Statistic="Sum",
            Period=Ref(params.alarm_period_seconds),
        ))
    refs = RuleRefs(rules, events)
    add_queue_policy(template, refs, dead_letter, conditions)
    add_delivery_alarms(template, notifications, refs, dead_letter, conditions, bus)
    return refs


def add_queue_policy(template: Template, refs: RuleRefs, dead_letter: Queue,
                     conditions: DeliveryConditions) -> None:
    """Only this stack's rules may send to the two queues (EventBridge sends as
    events.amazonaws.com with the rule's ARN as aws:SourceArn)."""
    def when_listed(value: object) -> object:
        if conditions.event_queue == CREATE_DELIVERY_QUEUE:
            return value
        return If(conditions.event_queue, value, NoValue)

    template.add_resource(QueuePolicy(
        f"{EVENT_QUEUE}Policy",
        Condition=CREATE_DELIVERY_QUEUE,
        Queues=[when_listed(Ref(refs.event_queue)), Ref(dead_letter)],
        PolicyDocument=PolicyDocument(
            Version="2012-10-17",
            Statement=[Statement(
                Sid="AllowThisStacksRulesToDeliver",
                Effect=Allow,
                Principal=Principal("Service", "events.amazonaws.com"),
                Action=[sqs_actions.SendMessage],
                Resource=[when_listed(GetAtt(refs.event_queue, "Arn")), GetAtt(dead_letter, "Arn")],
                Condition=Condition(ArnEquals("aws:SourceArn", refs.conditional_arns())),
            )],
        ),
    ))


def add_delivery_alarms(template: Template, notifications: NotificationRefs, refs: RuleRefs,
                        dead_letter: Queue, conditions: DeliveryConditions,
                        bus: EventBusRefs | None = None) -> None:
    """Failed deliveries are visible: an alarm on the rules' FailedInvocations (a target that
    could not be reached after every retry) and one on the dead-letter queue's depth. Both need the
    topic here, so a forwarding stack has neither (its dead-letter queue keeps what failed)."""
    metrics = [If(rule.Condition, MetricDataQuery(
        Id=f"failed{i}",
        ReturnData=False,
        MetricStat=MetricStat(
            Metric=Metric(Namespace=EVENTS_NAMESPACE, MetricName="FailedInvocations",
                          Dimensions=_rule_name_metric_dimensions(rule, bus)),
            Period=60,
            Stat="Sum",
        ),
    ), NoValue) for i, rule in enumerate(refs.rules.values())]
    template.add_resource(make_first_record_alarm(
        "AlertDeliveryFailureAlarm", conditions.event_queue, [notifications.topic_arn],
        AlarmName=Sub("${AWS::StackName}-AlertDeliveryFailure"),
        AlarmDescription=(
            "EventBridge could not deliver a deletion alert to the SQS event queue (AWS/Events "
            "FailedInvocations). The rule alarms still fire; check the queue's policy, then read "
            "the dead-letter queue in the SQS console."
        ),
        Metrics=[*metrics, MetricDataQuery(
            Id="failed", Expression="SUM(METRICS())", Label="FailedInvocations of the rules",
            ReturnData=True)],
    ))
    template.add_resource(make_first_record_alarm(
        f"{DEAD_LETTER_QUEUE}Alarm", conditions.event_queue, [notifications.topic_arn],
        AlarmName=Sub("${AWS::StackName}-AlertDeliveryFailed"),
        AlarmDescription=(
            "EventBridge could not put a deletion alert in the SQS event queue after retrying for "
            "up to a day, and put it in the dead-letter queue. Check the event queue's policy, "
            "then read the lost alerts from the dead-letter queue in the SQS console."
        ),
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[MetricDimension(Name="QueueName", Value=GetAtt(dead_letter, "QueueName"))],
        Statistic="Maximum",
        Period=300,
    ))
