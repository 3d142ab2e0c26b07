"""The alert path end to end on a moto server on 127.0.0.1: a CloudTrail-shaped event on the default
bus goes through the template's rule and input transformer to the event queue, through the
notifier to the topic, and to a queue subscribed to the topic, where a person's email would be;
the same from a member account through the collector; and a notifier that cannot publish leaves
every event in the queue until SQS moves it to the dead-letter queue that the alarm watches.

Every resource is created through the APIs from the template as CloudFormation would resolve it
(moto's CloudFormation skips some of these types). moto has no Lambda event source mapping, so
``EventSourceMapping`` does what the Lambda guide says the mapping does
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html): receive a batch, invoke the function
with the documented event shape, delete the messages that did not fail (ReportBatchItemFailures),
and leave the failed ones to reappear after the visibility timeout (here: at once). The function
is the template's own inline code, run as Lambda would import it, with the environment the
template gives it.
"""

from __future__ import annotations

import json
import sys
import time
import types
from dataclasses import dataclass
from typing import Any, Callable

import boto3
import pytest

from detections.catalog import DETECTIONS, by_name
from detections.messages import undo_commands
from detections.eventpatterns import cloudtrail_event
from stacks.distribution import COLLECTOR_FILE, render_all
from tests.conftest import load_corpus
from tests.functions.test_notifier import expected_resource
from tests.helpers import ConcreteTemplate, parameter_values
from tests.stacks.test_forwarding import COLLECTOR, COLLECTOR_REGION, ORG, collector_session, deploy_member

ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's default account
WORKLOAD = "deletion-alarms.json"


@dataclass
class Alerting:
    """What a deployed alerting stack is made of, for the test to drive."""

    session: boto3.Session
    endpoint: str
    event_queue: str
    dead_letter_queue: str
    observer: str
    code: str
    environment: dict[str, str]
    dead_letter_alarm: dict[str, Any]
    reminder_target: dict[str, Any] | None = None
    mapping: dict[str, Any] | None = None  # the template's event source mapping, as the stand-in follows it

    def client(self, name: str) -> Any:
        return self.session.client(name, endpoint_url=self.endpoint)


def deploy_alerting(aws, file: str, session: boto3.Session, account: str, region: str,
                    bus: str | None = None, **params: str) -> Alerting:
    """The queues, topic, claim table, rules and notifier of ``file`` in ``session``'s account."""
    sqs, sns, events, dynamodb = (session.client(n, endpoint_url=aws.endpoint)
                                  for n in ("sqs", "sns", "events", "dynamodb"))
    template = json.loads(render_all()[file])
    physical: dict[str, dict[str, str]] = {}
    if bus:
        physical["CollectorEventBus"] = {"Ref": bus, "Name": bus,
                                         "Arn": f"arn:aws:events:{region}:{account}:event-bus/{bus}"}

    def make_queue(logical_id: str, attributes: Callable[[dict], dict]) -> str:
        name = f"stack-{logical_id}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        physical[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name}
        props = stack().properties(logical_id)
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes(props))
        return url

    def stack() -> ConcreteTemplate:
        values = {**parameter_values(template, **params), "AWS::AccountId": account, "AWS::Region": region}
        return ConcreteTemplate(template, values, physical)

    topic = sns.create_topic(Name="stack-AlertTopic")["TopicArn"]
    physical["AlertTopic"] = {"Ref": topic, "TopicName": "stack-AlertTopic"}
    physical["AlertTopicKey"] = {"Arn": f"arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
    physical["NotifierRole"] = {"Arn": f"arn:aws:iam::{account}:role/stack-NotifierRole"}
    physical["NotifierFunction"] = {"Ref": "stack-NotifierFunction"}
    dead_letter = make_queue("AlertDeliveryDeadLetterQueue", lambda p: {
        "MessageRetentionPeriod": str(p["MessageRetentionPeriod"])})
    event_queue = make_queue("AlertEventQueue", lambda p: {
        "VisibilityTimeout": str(p["VisibilityTimeout"]), "RedrivePolicy": json.dumps(p["RedrivePolicy"])})
    table = stack().properties("NotifierClaimTable")
    dynamodb.create_table(TableName="stack-NotifierClaimTable", BillingMode=table["BillingMode"],
                          KeySchema=table["KeySchema"], AttributeDefinitions=table["AttributeDefinitions"])
    physical["NotifierClaimTable"] = {"Ref": "stack-NotifierClaimTable"}
    concrete = stack()
    rules = [r for r, res in template["Resources"].items()
             if res["Type"] == "AWS::Events::Rule" and r in concrete.deployed() and "EventPattern" in res["Properties"]]
    assert len(rules) == len(DETECTIONS)
    # The daily reminder's schedule is not given to moto, whose rules without a pattern match every
    # event; the test fires its target as EventBridge would.
    reminder = stack().properties("DeletionReminderRule")["Targets"][0] if "DeletionReminderRule" in concrete.deployed() \
        else None
    for rule_id in rules:
        physical[rule_id] = {"Arn": f"arn:aws:events:{region}:{account}:rule/{rule_id}"}
        rule = stack().properties(rule_id)
        where = {"EventBusName": bus} if bus else {}
        events.put_rule(Name=rule_id, EventPattern=json.dumps(rule["EventPattern"]), State=rule["State"], **where)
        (target,) = [t for t in rule["Targets"] if t["Arn"] == physical["AlertEventQueue"]["Arn"]]
        events.put_targets(Rule=rule_id, **where, Targets=[
            {"Id": target["Id"], "Arn": target["Arn"], "InputTransformer": target["InputTransformer"]}])
    function = stack().properties("NotifierFunction")
    observer = sqs.create_queue(QueueName="observer")["QueueUrl"]
    observer_arn = sqs.get_queue_attributes(QueueUrl=observer, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=observer_arn)
    if bus:  # the organization may put events on it
        events.put_permission(EventBusName=bus, Policy=json.dumps(stack().properties("CollectorEventBus")["Policy"]))
    return Alerting(session, aws.endpoint, event_queue, dead_letter, observer, function["Code"]["ZipFile"],
                    function["Environment"]["Variables"], stack().properties("AlertDeliveryDeadLetterQueueAlarm"),
                    reminder, stack().properties("NotifierEventSourceMapping"))


class EventSourceMapping:
    """The Lambda event source mapping, as the Lambda guide describes it (see the module's doc)."""

    def __init__(self, alerting: Alerting, monkeypatch, batch_size: int = 10) -> None:
        credentials = alerting.session.get_credentials()
        region = alerting.session.region_name
        for key, value in {**alerting.environment, "AWS_ENDPOINT_URL": alerting.endpoint, "AWS_REGION": region,
                           "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": credentials.access_key,
                           "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
                           "AWS_SESSION_TOKEN": credentials.token or "testing",
                           "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/stack-NotifierFunction"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a fresh process, as in Lambda
        self.function = types.ModuleType("index")  # the handler is index.handler
        monkeypatch.setitem(sys.modules, "index", self.function)
        exec(compile(alerting.code, "index.py", "exec"), self.function.__dict__)  # noqa: S102 - the template's code
        self.sqs, self.queue, self.arn = alerting.client("sqs"), alerting.event_queue, None
        self.mapping = alerting.mapping
        self.batch_size, self.invocations = batch_size, []

    def poll(self) -> int:
        """One batch: invoke, delete what succeeded, release what failed. The batch's size."""
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=self.batch_size,
                                            AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": "queue", "awsRegion": "us-east-1"} for m in messages]}
        response = self.function.handler(event, None)
        self.invocations.append(response)
        # Partial batch responses count only where the mapping reports them (FunctionResponseTypes);
        # otherwise a normal return deletes the whole batch (Lambda guide, with-sqs).
        partial = "ReportBatchItemFailures" in (self.mapping or {}).get("FunctionResponseTypes", [])
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]} if partial else set()
        for m in messages:
            if m["MessageId"] in failed:
                self.sqs.change_message_visibility(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"],
                                                   VisibilityTimeout=0)
            else:
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def drain(self, rounds: int = 30) -> None:
        for _ in range(rounds):
            if not self.poll():
                return


def wait_for(read: Callable[[], list], count: int, tries: int = 40) -> list:
    """EventBridge and SNS deliver asynchronously in moto too."""
    got: list = []
    for _ in range(tries):
        got += read()
        if len(got) >= count:
            return got
        time.sleep(0.1)
    return got


def wait_until(condition: Callable[[], bool], tries: int = 40) -> bool:
    for _ in range(tries):
        if condition():
            return True
        time.sleep(0.1)
    return False


def queued(sqs, url: str) -> int:
    """Messages in the queue, visible or not."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def received(sqs, url: str) -> list[dict]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def one_record_per_detection() -> dict[str, dict]:
    """A positive corpus record of each detection, made by a caller with an ARN where there is one
    (KMS's own DeleteKey has none: the service acts)."""
    out = {}
    for d in DETECTIONS:
        positives = [s.record for s in load_corpus() if s.expect == {d.name}]
        out[d.name] = next((r for r in positives if (r.get("userIdentity") or {}).get("arn")), positives[0])
    return out


def put(events, record: dict, bus: str | None = None) -> None:
    event = cloudtrail_event(record)
    entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(record)}
    result = events.put_events(Entries=[{**entry, **({"EventBusName": bus} if bus else {})}])
    assert result["FailedEntryCount"] == 0


def emails(alerting: Alerting, count: int) -> dict[str, dict]:
    """The notifications on the observer queue, by detection: subject and text."""
    sqs = alerting.client("sqs")
    out = {}
    for m in wait_for(lambda: received(sqs, alerting.observer), count):
        envelope = json.loads(m["Body"])
        out[envelope["MessageAttributes"]["detection"]["Value"]] = envelope
    return out


def test_every_detection_reaches_a_person_with_the_key_the_caller_and_the_undo_command(aws, monkeypatch) -> None:
    alerting = deploy_alerting(aws, WORKLOAD, boto3.Session(region_name=REGION), ACCOUNT, REGION)
    records = one_record_per_detection()
    for record in records.values():
        put(aws.client("events"), record)
    assert wait_until(lambda: queued(alerting.client("sqs"), alerting.event_queue) == len(records))
    mapping = EventSourceMapping(alerting, monkeypatch)
    mapping.drain()
    assert all(r == {"batchItemFailures": []} for r in mapping.invocations)
    got = emails(alerting, len(records))
    assert set(got) == set(records)
    for name, record in records.items():
        text = got[name]["Subject"] + "\n" + got[name]["Message"]
        resource = expected_resource(name, record)
        where = f" ({record['recipientAccountId']} {record['awsRegion']})"
        assert got[name]["Subject"].endswith(where) and len(got[name]["Subject"]) < 100, got[name]["Subject"]
        caller = record["userIdentity"].get("arn") or record["userIdentity"].get("invokedBy")
        assert caller in text, name
        undo = [line for line in text.splitlines() if line.lstrip().startswith(("Undo", "Next"))]
        if undo_commands(by_name(name)):  # a restored secret needs none; an immediate loss has none
            assert undo and all(resource in line for line in undo), (name, undo)



def test_a_notifier_that_cannot_publish_loses_nothing_and_the_dead_letter_alarm_fires(aws, monkeypatch) -> None:
    alerting = deploy_alerting(aws, WORKLOAD, boto3.Session(region_name=REGION), ACCOUNT, REGION)
    sqs = alerting.client("sqs")
    record = one_record_per_detection()["KmsKeyDisableOrDeletion"]
    put(aws.client("events"), record)
    assert wait_until(lambda: queued(sqs, alerting.event_queue) == 1)
    alerting.client("sns").delete_topic(TopicArn=alerting.environment["TOPIC_ARN"])  # every Publish fails
    mapping = EventSourceMapping(alerting, monkeypatch)
    (redrive,) = [json.loads(sqs.get_queue_attributes(QueueUrl=alerting.event_queue, AttributeNames=[
        "RedrivePolicy"])["Attributes"]["RedrivePolicy"])]
    attempts = 0
    while queued(sqs, alerting.dead_letter_queue) == 0 and attempts <= redrive["maxReceiveCount"] + 1:
        # Never deleted before it was notified: the event is in one queue or the other.
        assert queued(sqs, alerting.event_queue) + queued(sqs, alerting.dead_letter_queue) == 1
        attempts += mapping.poll()
    assert attempts == redrive["maxReceiveCount"], "retried until SQS gave up"
    assert all(len(r["batchItemFailures"]) == 1 for r in mapping.invocations)
    (dead,) = sqs.receive_message(QueueUrl=alerting.dead_letter_queue)["Messages"]
    assert json.loads(dead["Body"])["event"]["detail"] == record  # the event itself, for a person to read
    alarm = alerting.dead_letter_alarm
    assert alarm["Namespace"] == "AWS/SQS" and alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": alerting.dead_letter_queue.rsplit("/", 1)[-1]}]
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and 1 >= alarm["Threshold"]


def test_a_member_accounts_event_reaches_a_person_through_the_collector(aws, monkeypatch) -> None:
    session = collector_session(aws)
    bus = "deletion-alarms-collector"
    session.client("events", endpoint_url=aws.endpoint).create_event_bus(Name=bus)
    alerting = deploy_alerting(aws, COLLECTOR_FILE, session, COLLECTOR, COLLECTOR_REGION, bus=bus,
                               OrganizationId=ORG, EventBusName=bus, NotificationEmail="security-team@example.com")
    deploy_member(aws, f"arn:aws:events:{COLLECTOR_REGION}:{COLLECTOR}:event-bus/{bus}")
    record = one_record_per_detection()["KmsKeyDisableOrDeletion"]
    member_record = {**record, "recipientAccountId": ACCOUNT, "awsRegion": REGION}
    put(aws.client("events"), member_record)
    assert wait_until(lambda: queued(alerting.client("sqs"), alerting.event_queue) == 1)
    mapping = EventSourceMapping(alerting, monkeypatch)
    mapping.drain()
    (envelope,) = emails(alerting, 1).values()
    text = envelope["Subject"] + "\n" + envelope["Message"]
    resource = expected_resource("KmsKeyDisableOrDeletion", member_record)
    assert f"Account: {ACCOUNT}   Region: {REGION}" in text  # the member account, not the collector's
    assert record["userIdentity"]["arn"] in text
    # The collector cannot act in the member account: the command says whose credentials it needs.
    assert (f"Undo (with credentials of account {ACCOUNT}): aws kms cancel-key-deletion --region {REGION} "
            f"--key-id {resource}") in text
    assert f"From account {ACCOUNT}: this notifier runs in account {COLLECTOR}" in text


def test_one_account_sends_every_regions_events_to_its_home_region(aws, monkeypatch) -> None:
    """A collector of the account's own (no OrganizationId) in eu-west-1, and a forwarding workload
    in us-east-1: one Region holds the notifier, the other only rules."""
    bus, home = "deletion-alarms-collector", "eu-west-1"
    session = boto3.Session(region_name=home)
    session.client("events", endpoint_url=aws.endpoint).create_event_bus(Name=bus)
    alerting = deploy_alerting(aws, COLLECTOR_FILE, session, ACCOUNT, home, bus=bus, OrganizationId="",
                               EventBusName=bus, NotificationEmail="security-team@example.com")
    deploy_member(aws, f"arn:aws:events:{home}:{ACCOUNT}:event-bus/{bus}")
    record = {**one_record_per_detection()["KmsKeyDisableOrDeletion"], "recipientAccountId": ACCOUNT,
              "awsRegion": REGION}  # the member's one forwarding rule (test_forwarding.deploy_member)
    put(aws.client("events", REGION), record)
    assert wait_until(lambda: queued(alerting.client("sqs"), alerting.event_queue) == 1)
    EventSourceMapping(alerting, monkeypatch).drain()
    (envelope,) = emails(alerting, 1).values()
    assert f"Account: {ACCOUNT}   Region: {REGION}" in envelope["Message"]  # the Region it happened in
    assert f"--region {REGION} --key-id {expected_resource('KmsKeyDisableOrDeletion', record)}" in envelope["Message"]


def test_the_daily_reminder_reaches_a_person_with_the_key_and_its_undo_command(aws, monkeypatch) -> None:
    """The reminder's rule fires (as EventBridge would, with its documented scheduled event), its
    entry goes through the event queue and the template's own notifier, which lists the keys and
    secrets on moto, to the topic. moto keeps no event history: LookupEvents answers empty."""
    from botocore.stub import Stubber

    from tests.stacks.test_reminders import SCHEDULED_EVENT

    alerting = deploy_alerting(aws, WORKLOAD, boto3.Session(region_name=REGION), ACCOUNT, REGION)
    kms = alerting.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    kms.create_key()  # not pending: not named
    target = alerting.reminder_target
    assert target["Arn"].endswith(":stack-AlertEventQueue")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = {**SCHEDULED_EVENT, "account": ACCOUNT, "time": now,
             "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/DeletionReminderRule"]}
    body = target["InputTransformer"]["InputTemplate"].replace("<aws.events.event.json>", json.dumps(event))
    alerting.client("sqs").send_message(QueueUrl=alerting.event_queue, MessageBody=body)
    real_client = boto3.client

    def client(name: str, *args, **kwargs):
        made = real_client(name, *args, **kwargs)
        if name == "cloudtrail":
            stub = Stubber(made)
            for _ in range(2):
                stub.add_response("lookup_events", {"Events": []}, None)
            stub.activate()
        return made

    monkeypatch.setattr(boto3, "client", client)
    mapping = EventSourceMapping(alerting, monkeypatch)
    # Seven days from the schedule's day: the reminder of 7 days is due on the day it was scheduled.
    mapping.drain()
    assert mapping.invocations == [{"batchItemFailures": []}]
    got = emails(alerting, 1)
    assert set(got) == {"DeletionReminder"}
    text = got["DeletionReminder"]["Message"]
    assert f"Undo: aws kms cancel-key-deletion --region {REGION} --key-id {key['Arn']}" in text
    assert "in 7 days" in text
