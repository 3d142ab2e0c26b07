"""The notifier: the function that reads the alert queue and emails digests, with its role, its event
source mapping, the table in which it claims a minute per detection, and the alarms on its path.

The path: rule -> SQS event queue (durable, 14 days) -> event source mapping (batches, at most two
concurrent invocations, partial batch responses) -> function (functions/notifier.py, inline, so that
StackSets and Service Catalog need no code bucket in each Region) -> SNS topic. A queue entry that
cannot be notified comes back after the visibility timeout; after MAX_RECEIVE_COUNT receives it goes
to the dead-letter queue. Two alarms watch the path, both published by CloudWatch, independent of
the function: the age of the oldest entry in the event queue (a notifier that fails, is throttled,
or has its mapping disabled or its concurrency set to 0) and the dead-letter queue's depth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from awacs import dynamodb as ddb
from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import sns as sns_actions
from awacs import sqs as sqs_actions
from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import GetAtt, If, NoValue, Ref, Split, Sub, Template
from troposphere.awslambda import Code, Environment, EventSourceMapping, Function, ScalingConfig, VPCConfig
from troposphere.cloudwatch import Alarm, Metric, MetricDataQuery, MetricDimension, MetricStat
from troposphere.dynamodb import (
    AttributeDefinition, KeySchema, PointInTimeRecoverySpecification, SSESpecification, Table,
    TimeToLiveSpecification,
)
from troposphere.iam import Policy, Role
from troposphere.validators import integer
from troposphere.sqs import Queue

from detections.messages import notification_specs
from stacks.guardrails import protected_tags
from stacks.notifications import NotificationRefs
from stacks.parameters import (
    AUTO_CANCEL_ANY, CREATE_TOPIC_KEY, NOTIFIER_IN_VPC, SEND_FINDINGS, USE_EXISTING_TOPIC_KEY, ParameterRefs,
)

NOTIFIER_SOURCE = Path(__file__).resolve().parents[1] / "functions" / "notifier.py"
RUNTIME = "python3.14"
VPC_ACCESS_POLICY = Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
TIMEOUT_SECONDS = 60
BATCH_SIZE = 1000
BATCHING_WINDOW_SECONDS = 10
# The Lambda developer guide (with-sqs, "Configuring a queue"): a visibility timeout of at least six
# times the function's timeout, plus the batching window.
VISIBILITY_TIMEOUT_SECONDS = 6 * TIMEOUT_SECONDS + BATCHING_WINDOW_SECONDS
MAXIMUM_CONCURRENCY = 2  # the smallest value the mapping takes; no reserved concurrency needed
# A queue entry that cannot be notified comes back once per visibility timeout: 10 receives is over
# an hour of failures before it goes to the dead-letter queue (the backlog alarm fires long before).
MAX_RECEIVE_COUNT = 10
# The reads an alert makes (functions/notifier.py, Notifier.read_resource): a test records them.
ALERT_READ_ACTIONS = ("kms:DescribeKey", "secretsmanager:DescribeSecret")
ALERT_LIST_ACTIONS = ("kms:ListAliases", "cloudtrail:LookupEvents", "secretsmanager:ListSecrets")  # none takes a resource
# The notifier's failure alarm: entries it reported as failed (its own metric, embedded metric format)
# plus invocations Lambda counts as errors (a timeout or crash, where the function reports nothing).
FAILURE_PERIOD_SECONDS = 300
METRIC_NAMESPACE = "DeletionAlarms"  # where functions/notifier.py writes its metrics (a test checks both)
FAILURE_EVALUATION_PERIODS = 3
FAILURE_DATAPOINTS_TO_ALARM = 2
BACKLOG_ALARM_SECONDS = 900  # the oldest entry waited 15 minutes: the notifier is not keeping up
# checkov checks that cannot hold for this function, with the reason beside each.
CHECKOV_FUNCTION = {"checkov": {"skip": [
    {"id": "CKV_AWS_115", "comment": "No reserved concurrency: new accounts have 10 in all; the event "
                                     "source mapping's MaximumConcurrency bounds it instead"},
    {"id": "CKV_AWS_116", "comment": "Invoked only by the SQS event source mapping: failed entries go "
                                     "to the queue's dead-letter queue, not a function DLQ"},
    {"id": "CKV_AWS_117", "comment": "In a VPC only where the organization requires it "
                                     "(NotifierSubnetIds): it needs the customer's subnets and endpoints"},
    {"id": "CKV_AWS_173", "comment": "The environment holds ARNs and names, no secret"},
    {"id": "CKV_AWS_272", "comment": "Inline code (ZipFile) cannot be signed"},
]}}
CHECKOV_TABLE = {"checkov": {"skip": [
    {"id": "CKV_AWS_119", "comment": "Encrypted with the AWS managed key: it holds only minute "
                                     "claims, which expire within the hour; a customer managed key "
                                     "costs 1 USD a month"},
]}}


class MappingScalingConfig(ScalingConfig):
    """An event source mapping's ScalingConfig. troposphere's ScalingConfig class is another
    resource's property of the same name (MaxEnvironments), which shadows this one."""

    props = {"MaximumConcurrency": (integer, True)}


@dataclass(frozen=True)
class NotifierRefs:
    """What later steps and tests need of the notifier."""

    function: Function
    role: Role
    table: Table


def notifier_code() -> str:
    """The function's inline code: functions/notifier.py and every detection's notification spec."""
    specs = json.dumps(notification_specs(), sort_keys=True, separators=(",", ":"))
    return NOTIFIER_SOURCE.read_text() + f"\nSPECS.update(json.loads({specs!r}))\n"


def make_role_policy(notifications: NotificationRefs, events: Queue, table: Table) -> PolicyDocument:
    """What the function and its event source mapping do, and nothing else."""
    queue_arn = GetAtt(events, "Arn")
    return PolicyDocument(Version="2012-10-17", Statement=[
        # The event source mapping polls with the function's role (with-sqs, execution role).
        Statement(Sid="ReadTheEventQueue", Effect=Allow, Resource=[queue_arn], Action=[
            sqs_actions.ReceiveMessage, sqs_actions.DeleteMessage, sqs_actions.GetQueueAttributes,
            sqs_actions.ChangeMessageVisibility]),
        Statement(Sid="CarryEventsOver", Effect=Allow, Action=[sqs_actions.SendMessage], Resource=[queue_arn]),
        Statement(Sid="ClaimAMinute", Effect=Allow, Action=[ddb.PutItem, ddb.UpdateItem, ddb.DeleteItem, ddb.GetItem],
                  Resource=[GetAtt(table, "Arn")]),
        # What an alert names, read now (functions/notifier.py, enrich): the key's aliases, state and
        # deletion date, the secret's name and state. Read-only, in this account (any of its Regions: one
        # account may send every Region's events to its home Region); never a secret's value.
        Statement(Sid="ReadWhatAnAlertNames", Effect=Allow, Action=[Action(*a.split(":")) for a in ALERT_READ_ACTIONS],
                  Resource=[Sub("arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"),
                            Sub("arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:*")]),
        # ListAliases and LookupEvents take no resource (Service Authorization Reference): the key's
        # aliases, and who used a key scheduled for deletion (its event history).
        Statement(Sid="ListKeyAliases", Effect=Allow, Action=[Action(*a.split(":")) for a in ALERT_LIST_ACTIONS], Resource=["*"]),
        Statement(Sid="PublishToTheTopic", Effect=Allow, Action=[sns_actions.Publish],
                  Resource=[notifications.topic_arn]),
        # SNS encrypts the message with the topic's key on the publisher's behalf: the publisher needs
        # these two permissions on it (SNS developer guide, sns-key-management), and SNS's calls carry
        # kms:ViaService = sns.<Region>.amazonaws.com.
        Statement(Sid="EncryptForTheTopic", Effect=Allow,
                  Action=[kms_actions.Action("GenerateDataKey*"), kms_actions.Decrypt],
                  Resource=[If(CREATE_TOPIC_KEY, GetAtt("AlertTopicKey", "Arn"),
                               If(USE_EXISTING_TOPIC_KEY, Ref("TopicKmsKeyArn"),
                                  Sub("arn:${AWS::Partition}:kms:${AWS::Region}:*:key/*")))],
                  Condition=Condition(StringEquals("kms:ViaService", Sub("sns.${AWS::Region}.amazonaws.com")))),
        Statement(Sid="WriteItsLogs", Effect=Allow,
                  Action=[logs_actions.CreateLogGroup, logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                  Resource=[Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*")]),
    ])


def add_notifier(template: Template, params: ParameterRefs, notifications: NotificationRefs,
                 events: Queue, dead_letter: Queue, condition: str) -> NotifierRefs:
    """Add the claim table, the role, the function, its event source mapping and the two alarms."""
    table = template.add_resource(Table(
        "NotifierClaimTable",
        Condition=condition,
        # It holds only minute claims that expire within the hour: nothing to keep.
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[AttributeDefinition(AttributeName="claim", AttributeType="S")],
        KeySchema=[KeySchema(AttributeName="claim", KeyType="HASH")],
        TimeToLiveSpecification=TimeToLiveSpecification(AttributeName="expires", Enabled=True),
        SSESpecification=SSESpecification(SSEEnabled=True),
        PointInTimeRecoverySpecification=PointInTimeRecoverySpecification(PointInTimeRecoveryEnabled=True),
        Metadata=CHECKOV_TABLE,
        Tags=protected_tags(),
    ))
    role = template.add_resource(Role(
        "NotifierRole",
        Condition=condition,
        # No RoleName and no path: IAM names are global (StackSets), and the guardrail SCP exempts
        # roles under /deletion-alarms/, which this one must not be.
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "lambda.amazonaws.com"), Action=[AssumeRole])]),
        # Later steps append theirs (stacks/reminders.py, stacks/autocancel.py), each under its condition.
        Policies=[Policy(PolicyName="notify", PolicyDocument=make_role_policy(notifications, events, table))],
        # In a VPC, Lambda creates and deletes the function's network interfaces with this role: the
        # AWS managed policy for it, kept current by AWS (lambda configuration-vpc, execution role).
        ManagedPolicyArns=If(NOTIFIER_IN_VPC, [VPC_ACCESS_POLICY], NoValue),
        Tags=protected_tags(),
    ))
    function = template.add_resource(Function(
        "NotifierFunction",
        Condition=condition,
        Description="Emails digests of deletion-alarm events: the key or secret, the caller, the undo command",
        Runtime=RUNTIME,
        Architectures=["arm64"],
        Handler="index.handler",
        Code=Code(ZipFile=notifier_code()),
        Role=GetAtt(role, "Arn"),
        Timeout=TIMEOUT_SECONDS,
        MemorySize=256,
        Environment=Environment(Variables={
            "TOPIC_ARN": notifications.topic_arn,
            "EVENT_QUEUE_URL": Ref(events),
            "CLAIM_TABLE": Ref(table),
            # The workload's AutoCancelOnUse, where its role may cancel (stacks/autocancel.py).
            "AUTO_CANCEL": If(AUTO_CANCEL_ANY, Ref(params.auto_cancel_on_use), "Off")
            if params.auto_cancel_on_use is not None else "Off",
            # The workload's ReminderDays: the daily check's entries come only from its schedule.
            "REMINDER_DAYS": Ref(params.reminder_days) if params.reminder_days is not None else "none",
            "ACCOUNT_ID": Ref("AWS::AccountId"),
            # The workload's SecurityHubFindings, where its role may import them (stacks/securityhub.py).
            "SECURITY_HUB": If(SEND_FINDINGS, "Enabled", "Disabled")
            if params.security_hub_findings is not None else "Disabled",
        }),
        VpcConfig=If(NOTIFIER_IN_VPC, VPCConfig(
            SubnetIds=Split(",", Ref(params.notifier_subnet_ids)),
            SecurityGroupIds=Split(",", Ref(params.notifier_security_group_ids))), NoValue),
        Metadata=CHECKOV_FUNCTION,
        Tags=protected_tags(),
    ))
    template.add_resource(EventSourceMapping(
        "NotifierEventSourceMapping",
        Condition=condition,
        EventSourceArn=GetAtt(events, "Arn"),
        FunctionName=Ref(function),
        Enabled=True,
        BatchSize=BATCH_SIZE,
        MaximumBatchingWindowInSeconds=BATCHING_WINDOW_SECONDS,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig=MappingScalingConfig(MaximumConcurrency=MAXIMUM_CONCURRENCY),
        Tags=protected_tags(),
    ))
    add_path_alarms(template, notifications, events, dead_letter, condition)
    add_failure_alarm(template, notifications, function, condition)
    add_lost_events_alarm(template, notifications, condition)
    return NotifierRefs(function, role, table)


def _queue_alarm(title: str, condition: str, notifications: NotificationRefs, queue: Queue, name: str,
                 description: str, metric: str, threshold: int) -> Alarm:
    return Alarm(
        title,
        Condition=condition,
        AlarmName=Sub("${AWS::StackName}-" + name),
        AlarmDescription=description,
        Namespace="AWS/SQS",
        MetricName=metric,
        Dimensions=[MetricDimension(Name="QueueName", Value=GetAtt(queue, "QueueName"))],
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[notifications.topic_arn],
        Tags=protected_tags(),
    )


def add_path_alarms(template: Template, notifications: NotificationRefs, events: Queue, dead_letter: Queue,
                    condition: str) -> None:
    """Alarms that CloudWatch publishes, so that they reach the topic when the function cannot."""
    template.add_resource(_queue_alarm(
        "AlertBacklogAlarm", condition, notifications, events, "AlertBacklog",
        f"Deletion alerts are waiting in the SQS event queue for more than {BACKLOG_ALARM_SECONDS // 60} "
        "minutes: the notifier function fails, is throttled, or its event source mapping is disabled. "
        "Check the function's errors and log group, and its event source mapping in the Lambda console.",
        "ApproximateAgeOfOldestMessage", BACKLOG_ALARM_SECONDS))
    template.add_resource(_queue_alarm(
        "AlertDeliveryDeadLetterQueueAlarm", condition, notifications, dead_letter, "AlertDeliveryFailed",
        "A deletion alert could not be delivered and is in the dead-letter queue: EventBridge could not "
        "put it in the event queue after retrying for up to a day, or the notifier could not send it "
        f"after {MAX_RECEIVE_COUNT} attempts. Read it from the dead-letter queue in the SQS console.",
        "ApproximateNumberOfMessagesVisible", 1))


def add_failure_alarm(template: Template, notifications: NotificationRefs, function: Function,
                      condition: str) -> Alarm:
    """An alarm within 15 minutes when the notifier fails every entry.

    The backlog alarm cannot see it: SQS stops counting a message in ApproximateAgeOfOldestMessage
    after its third receive (SQS developer guide, CloudWatch metrics), which, one receive per
    visibility timeout, comes before the backlog threshold; the dead-letter alarm comes only after
    MAX_RECEIVE_COUNT receives (over an hour). This alarm adds the entries the function reported as
    failed (its FailedEntries metric) to the invocations Lambda counts as errors (a timeout or crash,
    where the function reports nothing: AWS/Lambda Errors). An entry that keeps failing fails once
    per visibility timeout (370 s): in two of any three 5-minute periods; one transient failure, in
    one period only, does not raise it."""
    function_name = MetricDimension(Name="FunctionName", Value=Ref(function))

    def metric(id_: str, namespace: str, name: str) -> MetricDataQuery:
        return MetricDataQuery(Id=id_, ReturnData=False, MetricStat=MetricStat(
            Metric=Metric(Namespace=namespace, MetricName=name, Dimensions=[function_name]),
            Period=FAILURE_PERIOD_SECONDS, Stat="Sum"))

    return template.add_resource(_math_alarm(
        "NotifierFailingAlarm", "NotifierFailing", condition, notifications,
        "The deletion-alarms notifier is failing to send alerts: entries it could not send, or invocations "
        "that ended in an error or a timeout, in two of the last three 5-minute periods. Alerts wait in the "
        "SQS event queue and are retried. Check the notifier function's log group for 'failed' lines, the "
        "topic, its key policy and the function's errors.",
        [metric("failed", METRIC_NAMESPACE, "FailedEntries"), metric("errors", "AWS/Lambda", "Errors"),
         MetricDataQuery(Id="failing", Expression="FILL(failed, 0) + FILL(errors, 0)",
                         Label="Failed entries and failed invocations", ReturnData=True)],
        FAILURE_EVALUATION_PERIODS, FAILURE_DATAPOINTS_TO_ALARM))


def _math_alarm(title: str, name: str, condition: str, notifications: NotificationRefs, description: str,
                metrics: list[MetricDataQuery], evaluation_periods: int, datapoints: int) -> Alarm:
    """An alarm on metric math or a Metrics Insights query: one or more in a period, to the topic."""
    return Alarm(
        title,
        Condition=condition,
        AlarmName=Sub("${AWS::StackName}-" + name),
        AlarmDescription=description,
        Metrics=metrics,
        EvaluationPeriods=evaluation_periods,
        DatapointsToAlarm=datapoints,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[notifications.topic_arn],
        Tags=protected_tags(),
    )

# Metrics Insights: one series, the sum over every rule of this account and Region (no dimension
# filter: the rules' names are CloudFormation's, and a rule of any team that loses events is worth a
# look). Metrics Insights queries the last 3 hours of data, enough for a 5-minute period.
LOST_EVENTS_QUERY = 'SELECT SUM(InvocationsFailedToBeSentToDlq) FROM "AWS/Events"'


def add_lost_events_alarm(template: Template, notifications: NotificationRefs, condition: str) -> Alarm:
    """An alarm when EventBridge could deliver an event neither to a rule's target nor to its
    dead-letter queue: it is lost, and only EventBridge's InvocationsFailedToBeSentToDlq counts it
    (EventBridge user guide, eb-monitoring and eb-rule-dlq)."""
    return template.add_resource(_math_alarm(
        "EventDeliveryLostAlarm", "EventDeliveryLost", condition, notifications,
        "EventBridge could deliver an event neither to a rule's target nor to the rule's dead-letter queue in "
        "this account and Region: the event is lost (a deletion alert among them, if the rule is one of "
        "deletion-alarms'). Check the rules' dead-letter queue policy and encryption, and CloudTrail for the "
        "events of the last minutes: deletion-alarms backtest.",
        [MetricDataQuery(Id="lost", Expression=LOST_EVENTS_QUERY, Period=FAILURE_PERIOD_SECONDS,
                         Label="Events lost by EventBridge rules", ReturnData=True)], 1, 1))
