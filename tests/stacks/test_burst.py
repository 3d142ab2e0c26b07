"""Bursts do not silence the team: 10,000 matching events of one detection within one minute, driven
through the path as the template wires it, give at most one notification per detection per minute,
whose counts add up to 10,000, and leave nothing in the queue.

The path, simulated minute by minute with the template's numbers:
  CloudTrail event -> the rule (its EventPattern, matched by moto's EventBridge matcher)
    -> the event queue -> the event source mapping (batches of BATCH_SIZE every batching window,
       at most MAXIMUM_CONCURRENCY invocations at once, failed entries back after the visibility
       timeout) -> the notifier (functions/notifier.py, the real code) -> SNS.
SQS, SNS and DynamoDB are small in-memory stand-ins with the semantics the notifier relies on (a
conditional put that fails when the item exists, SQS DelaySeconds), so that ten simulated minutes
run in seconds; tests/functions/test_notifier.py runs the same code against moto.
Facts: SNS suspends an email endpoint that receives more than 10 messages a second
(https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html); the mapping's batching
and concurrency (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from moto.events.models import EventPattern

from detections.eventpatterns import cloudtrail_event
from detections.messages import notification_specs
from functions.notifier import Notifier
from stacks.notifier import BATCH_SIZE, BATCHING_WINDOW_SECONDS, MAXIMUM_CONCURRENCY, VISIBILITY_TIMEOUT_SECONDS
from tests.helpers import SCAN_CONFIGS, local_target
from tests.stacks.test_delivery import ACCOUNT, REGION, deploy

SNS_EMAIL_LIMIT_PER_SECOND = 10
BURST = 10_000
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-a1B2c3"
CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/i-0abc"
RECORDS = {
    "KmsKeyPendingDeletionUse": {"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "readOnly": True,
                                 "errorCode": "KMSInvalidStateException", "errorMessage": f"{KEY} is pending deletion.",
                                 "resources": [{"ARN": KEY, "type": "AWS::KMS::Key"}]},
    "SecretPendingDeletionUse": {"eventSource": "secretsmanager.amazonaws.com", "eventName": "GetSecretValue",
                                 "errorCode": "InvalidRequestException",
                                 "errorMessage": "You can't perform this operation on the secret because it was "
                                                 "marked for deletion.", "requestParameters": {"secretId": SECRET}},
    "SecretDeletion": {"eventSource": "secretsmanager.amazonaws.com", "eventName": "DeleteSecret",
                       "requestParameters": {"secretId": SECRET, "forceDeleteWithoutRecovery": True}},
}


class ConditionalCheckFailedException(Exception):
    pass


class Store:
    """DynamoDB's conditional put, update and delete of claims, in memory, with the conditions the
    notifier writes: a claim may be taken when absent, expired, or leased with its lease run out."""

    exceptions = type("Exceptions", (), {"ConditionalCheckFailedException": ConditionalCheckFailedException})

    def __init__(self) -> None:
        self.items: dict[str, dict] = {}

    def put_item(self, TableName: str, Item: dict, ConditionExpression: str,  # noqa: N803
                 ExpressionAttributeValues: dict, ExpressionAttributeNames: dict | None = None) -> None:  # noqa: N803
        key, now = Item["claim"]["S"], int(ExpressionAttributeValues[":now"]["N"])
        held = self.items.get(key)
        if held is not None:
            expired = int(held["expires"]["N"]) < now
            lapsed = held.get("state", {}).get("S") == "leased" and int(held["lease"]["N"]) < now \
                and "lease < :now" in ConditionExpression
            if not (expired or lapsed):
                raise ConditionalCheckFailedException(key)
        self.items[key] = Item

    def update_item(self, TableName: str, Key: dict, **update) -> None:  # noqa: N803
        item = self.items[Key["claim"]["S"]]
        item["state"] = {"S": "done"}
        item.pop("lease", None)

    def delete_item(self, TableName: str, Key: dict) -> None:  # noqa: N803
        self.items.pop(Key["claim"]["S"], None)


class Queue:
    """A standard queue: entries become visible at a time; received ones are hidden for the
    visibility timeout; the simulation's clock is ``now``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.entries: dict[str, tuple[float, str]] = {}  # id -> (visible at, body)
        self.sent = 0

    def send_message(self, QueueUrl: str, MessageBody: str, DelaySeconds: int = 0) -> None:  # noqa: N803
        # SQS refuses a message over the queue's MaximumMessageSize (256 KiB by default, which the
        # template keeps) and a delay over 900 s.
        assert len(MessageBody.encode()) <= 262_144 and 0 <= DelaySeconds <= 900
        self.sent += 1
        self.entries[f"m{self.sent}"] = (self.now + DelaySeconds, MessageBody)

    def receive(self, limit: int) -> list[dict]:
        visible = [i for i, (at, _) in self.entries.items() if at <= self.now][:limit]
        for i in visible:
            self.entries[i] = (self.now + VISIBILITY_TIMEOUT_SECONDS, self.entries[i][1])
        return [{"messageId": i, "body": self.entries[i][1]} for i in visible]


class Topic:
    def __init__(self, queue: Queue) -> None:
        self.queue, self.published = queue, []

    def publish(self, **message) -> None:
        attributes = message["MessageAttributes"]
        self.published.append((self.queue.now, attributes["detection"]["StringValue"],
                               int(attributes["count"]["StringValue"]), message))


def run(workload: dict, detections: list[str], count: int, notifier_class=Notifier, minutes: int = 15):
    """Put ``count`` events of each detection on the bus within the first minute, run the path for
    ``minutes``; return what was published and the queue."""
    d = deploy(workload, **SCAN_CONFIGS["defaults"])
    rules = [d.stack.properties(r) for r in d.of_type("AWS::Events::Rule")
             if "EventPattern" in d.stack.properties(r)]  # not the daily reminder's schedule
    queue = Queue()
    topic = Topic(queue)
    notifier = notifier_class(topic, queue, Store(), topic_arn="topic", queue_url="events", claim_table="claims",
                              log_group="/aws/lambda/notifier", region=REGION, specs=notification_specs(),
                              clock=lambda: queue.now, log=lambda line: None)
    base = {"eventVersion": "1.09", "awsRegion": REGION, "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "AssumedRole", "arn": CALLER, "accountId": ACCOUNT}}
    for name in detections:
        for i in range(count):
            queue.now = 60 * i / count
            event = cloudtrail_event({**base, **RECORDS[name], "eventID": f"{name}-{i}"})
            for rule in rules:
                if EventPattern.load(json.dumps(rule["EventPattern"])).matches_event(event):
                    target = local_target({"Properties": rule})
                    assert target["Arn"] == d.stack.physical["AlertEventQueue"]["Arn"]
                    queue.send_message("events", json.dumps({"detection": name, "event": event}))
    for step in range(0, minutes * 60, BATCHING_WINDOW_SECONDS):
        queue.now = float(step)
        for _ in range(MAXIMUM_CONCURRENCY):
            batch = queue.receive(BATCH_SIZE)
            if not batch:
                break
            failed = {f["itemIdentifier"] for f in notifier.handle({"Records": batch})["batchItemFailures"]}
            for record in batch:
                if record["messageId"] not in failed:
                    del queue.entries[record["messageId"]]
    return topic.published, queue


@pytest.mark.parametrize("detection", sorted(RECORDS))
def test_a_burst_gives_one_notification_a_minute_whose_counts_add_up(workload, detection) -> None:
    published, queue = run(workload, [detection], BURST)
    per_minute = Counter((int(t // 60), name) for t, name, _, _ in published)
    assert max(per_minute.values()) == 1
    assert sum(n for _, name, n, _ in published if name == detection) == BURST
    assert queue.entries == {}  # every event was counted in a notification
    first = published[0][3]
    resource = KEY if "Kms" in detection else SECRET
    assert resource in first["Subject"] + first["Message"] and CALLER in first["Message"]


def test_bursts_of_several_detections_stay_under_the_sns_email_limit(workload) -> None:
    published, _ = run(workload, sorted(RECORDS), 2_000)
    times = sorted(t for t, _, _, _ in published)
    assert max(sum(1 for u in times if t <= u < t + 1) for t in times) <= SNS_EMAIL_LIMIT_PER_SECOND
    assert Counter(name for _, name, _, _ in published).keys() == RECORDS.keys()


class WithoutClaims(Notifier):
    """The mutation: every invocation sends its own digest."""

    def claim(self, detection: str, minute: int) -> bool:
        return True


def test_the_limit_fails_without_the_minute_claim(workload) -> None:
    published, _ = run(workload, ["KmsKeyPendingDeletionUse"], BURST, WithoutClaims)
    per_minute = Counter((int(t // 60), name) for t, name, _, _ in published)
    assert max(per_minute.values()) > 1
