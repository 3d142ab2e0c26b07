"""EventBridge rules, one per detection, writing every matching event to the alert queue.

A rule never emails directly: an application retrying Decrypt on a pending-deletion key makes
hundreds of matching calls a minute, and SNS suspends an email subscription that receives more than
10 messages a second (SNS developer guide, email notifications). So each rule writes every matching
event, with the name of its detection, to one queue that keeps it for 14 days; the notifier
(stacks/notifier.py) turns the queue into at most one email per detection and minute. Deliveries
that fail are retried for a day, then dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from awacs import sqs as sqs_actions
from awacs.aws import Allow, ArnEquals, Condition, PolicyDocument, Principal, Statement
from troposphere import GetAtt, If, NoValue, Ref, Split, Template
from troposphere.events import DeadLetterConfig, InputTransformer, RetryPolicy, Rule, Target
from troposphere.sqs import Queue, QueuePolicy, RedrivePolicy

from detections import exclusions
from detections.catalog import Detection, Kind
from detections.eventpatterns import event_pattern
from detections.messages import make_queue_entry
from detections.patterns import parse
from stacks.guardrails import protected_tags
from stacks.forwarding import ForwardingRefs
from stacks.notifier import MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECONDS
from stacks.parameters import CREATE_DELIVERY_QUEUE, DeliveryConditions, ParameterRefs, rule_condition

EVENT_QUEUE = "AlertEventQueue"
DEAD_LETTER_QUEUE = "AlertDeliveryDeadLetterQueue"
# EventBridge's maxima: keep retrying a failing delivery for up to a day before dead-lettering.
MAX_RETRY_ATTEMPTS = 185
MAX_EVENT_AGE_SECONDS = 86_400
QUEUE_RETENTION_SECONDS = 1_209_600  # 14 days, SQS's maximum: every event stays listable that long
# checkov's SQS encryption check knows only KmsMasterKeyId; these queues are encrypted with
# SqsManagedSseEnabled, which Control Tower's CT.SQS.PR.2 accepts.
CHECKOV_SSE_SQS = {"checkov": {"skip": [{
    "id": "CKV_AWS_27",
    "comment": "Encrypted: SqsManagedSseEnabled, which this check does not know",
}]}}


@dataclass(frozen=True)
class RuleRefs:
    """The rules added (by detection name), the queue that holds their events and the dead-letter
    queue of failed deliveries."""

    rules: dict[str, Rule]
    event_queue: Queue
    dead_letter: Queue
    queue_sources: list = field(default_factory=list)
    """The rule ARNs the event queue admits: the detections' rules, and those of admit_to_queue()."""

    @staticmethod
    def retry_policy() -> RetryPolicy:
        """Keep retrying a failing delivery for up to a day, then dead-letter it."""
        return RetryPolicy(MaximumRetryAttempts=MAX_RETRY_ATTEMPTS, MaximumEventAgeInSeconds=MAX_EVENT_AGE_SECONDS)

    def admit_to_queue(self, rule: Rule) -> None:
        """Let ``rule`` write entries to the event queue (and its failed ones to the dead-letter queue)."""
        self.queue_sources.append(If(rule.Condition, GetAtt(rule, "Arn"), NoValue))

    def conditional_arns(self) -> list[If]:
        """Each rule's ARN when the rule exists, nothing otherwise (for policy conditions)."""
        return [If(rule.Condition, GetAtt(rule, "Arn"), NoValue) for rule in self.rules.values()]


def rule_id(detection: Detection) -> str:
    return f"{detection.name}Rule"


def rule_state(detection: Detection) -> str:
    """Access detections match read-only calls (Decrypt, GetSecretValue), which reach a rule only
    in this state; the others need only write events."""
    return "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" if detection.kind is Kind.ACCESS else "ENABLED"




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
        # The notifier's mapping: an entry in flight stays hidden while the function may hold it.
        VisibilityTimeout=VISIBILITY_TIMEOUT_SECONDS,
        RedrivePolicy=RedrivePolicy(deadLetterTargetArn=GetAtt(dead_letter, "Arn"),
                                    maxReceiveCount=MAX_RECEIVE_COUNT),
    ))
    return events, dead_letter


@dataclass(frozen=True)
class EventBusRefs:
    """A custom event bus the rules live on (the collector's); None for the default bus."""

    bus: object
    name: object


def add_event_rules(
    template: Template,
    params: ParameterRefs,
    detections: tuple[Detection, ...],
    conditions: DeliveryConditions,
    bus: EventBusRefs | None = None,
    forwarding: ForwardingRefs | None = None,
) -> RuleRefs:
    """Add a rule per detection writing its events to the event queue (or, when forwarding, to the
    collector's bus), and the queues."""
    events, dead_letter = add_queues(template, conditions)
    rules: dict[str, Rule] = {}
    retry = RuleRefs.retry_policy()
    for detection in detections:
        pattern = event_pattern(parse(detection.filter_pattern), detection.service.event_source)
        if params.expected_deleters is not None and exclusions.applies_to(detection):
            pattern = exclusions.with_exclusions(pattern, Split(",", Ref(params.expected_deleters)))
        target = Target(
            Id="AlertEventQueue",
            Arn=GetAtt(events, "Arn"),
            InputTransformer=InputTransformer(**make_queue_entry(detection)),
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
            # On the collector's custom bus too: read-only management events match a rule on the
            # default or a custom bus only in this state (EventBridge user guide,
            # eb-service-event-cloudtrail-management, "Receiving read-only management events").
            State=rule_state(detection),
            Tags=protected_tags(),
            Targets=[target],
            **({"EventBusName": bus.name} if bus is not None else {}),
        ))
    refs = RuleRefs(rules, events, dead_letter)
    refs.queue_sources.extend(refs.conditional_arns())
    add_queue_policy(template, refs, dead_letter, conditions)
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
                Condition=Condition(ArnEquals("aws:SourceArn", refs.queue_sources)),
            )],
        ),
    ))
