"""The notifier, offline: against the documented SQS event shape and partial batch response
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html, "Example standard queue message
event" and "Implementing partial batch responses"), with AWS clients from a moto server on
127.0.0.1 (SNS, SQS, DynamoDB) and a clock the test sets."""

from __future__ import annotations

import copy
import json

import pytest

from detections.catalog import DETECTIONS, by_name
from detections.eventpatterns import cloudtrail_event
from detections.messages import notification_specs, undo_commands
from functions.notifier import MISSING, Digest, Notifier, body, field_value
from tests.conftest import load_corpus

SPECS = notification_specs()
POSITIVES = {d.name: [s for s in load_corpus() if d.name in s.expect] for d in DETECTIONS}


def sqs_record(body: dict | str, message_id: str, queue_arn: str = "arn:aws:sqs:us-east-1:111122223333:q") -> dict:
    """One record of the event Lambda passes for an SQS batch (shape from the Lambda guide)."""
    return {"messageId": message_id, "receiptHandle": "AQEB" + message_id,
            "body": body if isinstance(body, str) else json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764511200000",
                           "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1764511200001"},
            "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn, "awsRegion": "us-east-1"}


def entry(detection: str, record: dict) -> dict:
    return {"detection": detection, "event": cloudtrail_event(record)}


# ------------------------------------------------------------------ what the email says
def expected_resource(detection: str, record: dict) -> str:
    """The key or secret the record is about, read here independently of the spec's sources."""
    if by_name(detection).service.value == "kms":
        message = record.get("errorMessage", "")
        if " is pending" in message:
            return message.split(" is pending")[0]
        return (record.get("responseElements") or {}).get("keyId") or (record.get("resources") or [{}])[0].get(
            "ARN") or record["requestParameters"]["keyId"]
    return (record.get("responseElements") or {}).get("aRN") or record["requestParameters"]["secretId"]


@pytest.mark.parametrize("detection", [d.name for d in DETECTIONS if undo_commands(d)])
def test_the_undo_command_names_the_resource_of_every_positive_record(detection) -> None:
    """Every record a detection matches, where its outcome has an undo: each command ends with the
    key or secret the record is about (tests/functions/test_alert_outcomes.py checks which commands)."""
    assert POSITIVES[detection], "no sample record"
    spec = SPECS[detection]
    for sample in POSITIVES[detection]:
        digest = Digest(detection)
        digest.add([cloudtrail_event(sample.record)], 1, "m1", False)
        (row,) = digest.details(spec)
        text = body(spec, digest, [row], "listing")
        resource = expected_resource(detection, sample.record)
        undo = [line for line in text.splitlines() if " --region " in line and line.lstrip().startswith(
            ("Undo: aws ", "Next: aws ", "aws "))]
        assert bool(undo) == bool(row.outcome["undo"]), (sample.cls, undo)
        assert all(resource in line for line in undo), (sample.cls, undo)


def _outcome(spec: dict, record: dict) -> dict:
    digest = Digest(spec["name"])
    digest.add([cloudtrail_event(record)], 1, "m", False)
    return digest.details(spec)[0].outcome


@pytest.mark.parametrize("detection", [d.name for d in DETECTIONS if undo_commands(d)])
def test_a_record_without_the_resource_says_so_instead_of_a_command(detection) -> None:
    """The test above can fail: strip every field the resource is read from, and the undo line
    says it is not named instead of giving a command with a hole in it."""
    spec = SPECS[detection]
    record = next(s.record for s in POSITIVES[detection] if _outcome(spec, s.record)["undo"])
    event = cloudtrail_event(copy.deepcopy(record))
    for field in ("resources", "responseElements", "requestParameters", "errorMessage"):
        event["detail"].pop(field, None)
    assert field_value(event, spec["fields"][spec["resource"]]) is None
    digest = Digest(detection)
    digest.add([event], 1, "m1", False)
    text = body(spec, digest, digest.details(spec), "listing")
    assert "the record does not name the key or secret" in text and MISSING not in text


def test_a_key_used_while_pending_deletion_reads_fully() -> None:
    record = next(s.record for s in POSITIVES["KmsKeyPendingDeletionUse"]
                  if s.cls == "kms-decrypt-pending-deletion-kmsinvalidstateexception")
    spec = SPECS["KmsKeyPendingDeletionUse"]
    digest = Digest("KmsKeyPendingDeletionUse")
    digest.add([cloudtrail_event(record)], 1, "m1", False)
    text = body(spec, digest, digest.details(spec), "LISTING")
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert text.startswith("KMS KEY PENDING DELETION WAS USED\n\n1234abcd-12ab-34cd-56ef-1234567890ab in account "
                           "111122223333, Region us-east-1. 1 event.")
    assert "Account: 111122223333   Region: us-east-1   Time: 2026-11-28T14:03:27Z" in text
    assert "Caller: arn:aws:sts::111122223333:assumed-role/app-role/app-session" in text
    assert f"Key: {key}" in text and f"aws kms cancel-key-deletion --region us-east-1 --key-id {key}" in text
    assert "What to do: " in text and text.endswith("LISTING")


def test_an_aws_service_acting_for_a_user_is_named_as_the_caller() -> None:
    record = next(s.record for s in POSITIVES["KmsKeyPendingDeletionUse"]
                  if s.cls == "kms-creategrant-pending-deletion-by-aws-service")
    spec = SPECS["KmsKeyPendingDeletionUse"]
    assert field_value(cloudtrail_event(record), spec["fields"]["caller"]) == "ebs.amazonaws.com"


def test_distinct_keys_and_callers_come_first() -> None:
    spec = SPECS["KmsKeyPendingDeletionUse"]
    base = next(s.record for s in POSITIVES["KmsKeyPendingDeletionUse"])
    same = [cloudtrail_event(base)] * 7
    other = dict(base, userIdentity={"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bob"})
    digest = Digest("KmsKeyPendingDeletionUse")
    digest.add(same + [cloudtrail_event(other)], 8, "m1", False)
    callers = [row.values["caller"] for row in digest.details(spec)]
    assert callers[:2] == [base["userIdentity"]["arn"], "arn:aws:iam::111122223333:user/bob"]
    assert len(callers) == 5


# ------------------------------------------------------------------ the handler, on moto
@pytest.fixture
def moto_notifier(aws):
    """A notifier wired to a topic (with a subscribed queue standing for the mailbox), the event
    queue and the claim table on the moto server; the clock is the test's."""
    sns, sqs, ddb = aws.client("sns"), aws.client("sqs"), aws.client("dynamodb")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "false"})
    events = sqs.create_queue(QueueName="events")["QueueUrl"]
    ddb.create_table(TableName="claims", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "claim", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "claim", "KeyType": "HASH"}])
    now = [1_764_511_200.0]
    notifier = Notifier(sns, sqs, ddb, topic_arn=topic, queue_url=events, claim_table="claims",
                        log_group="/aws/lambda/notifier", region="us-east-1", specs=SPECS,
                        clock=lambda: now[0], log=lambda line: None)

    def inbox_messages() -> list[dict]:
        found = []
        while batch := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            for m in batch:
                found.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
        return found

    return notifier, now, inbox_messages, (sqs, events)


def test_one_digest_per_detection_in_a_batch(moto_notifier) -> None:
    notifier, _, inbox, _ = moto_notifier
    records = [sqs_record(entry(d, POSITIVES[d][0].record), f"{d}-{i}") for d in ("SecretDeletion",
               "KmsKeyDisableOrDeletion") for i in range(3)]
    assert notifier.handle({"Records": records}) == {"batchItemFailures": []}
    messages = inbox()
    assert sorted(m["MessageAttributes"]["detection"]["Value"] for m in messages) == [
        "KmsKeyDisableOrDeletion", "SecretDeletion"]
    assert all(m["Subject"].startswith("[3] ") and m["MessageAttributes"]["count"]["Value"] == "3" for m in messages)


def test_a_second_invocation_in_the_same_minute_carries_its_events_over(moto_notifier) -> None:
    notifier, now, inbox, (sqs, events) = moto_notifier
    detection = "SecretPendingDeletionUse"
    first = [sqs_record(entry(detection, POSITIVES[detection][0].record), f"a{i}") for i in range(2)]
    second = [sqs_record(entry(detection, POSITIVES[detection][0].record), f"b{i}") for i in range(5)]
    assert notifier.handle({"Records": first})["batchItemFailures"] == []
    assert notifier.handle({"Records": second})["batchItemFailures"] == []  # held, not lost
    assert len(inbox()) == 1
    now[0] += 60
    carried = sqs.receive_message(QueueUrl=events, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                  AttributeNames=["All"]).get("Messages", [])
    assert carried == []  # delayed by a minute (SQS DelaySeconds): not visible yet
    # What SQS hands the mapping a minute later:
    body_ = {"detection": detection, "carried": 5, "events": [entry(detection, POSITIVES[detection][0].record)["event"]]}
    assert notifier.handle({"Records": [sqs_record(body_, "c1")]})["batchItemFailures"] == []
    (digest,) = inbox()
    assert digest["MessageAttributes"]["count"]["Value"] == "5"
    assert "5 events (5 of them held back from earlier minutes" in digest["Message"]


def test_a_failed_publish_reports_every_entry_and_releases_the_minute(moto_notifier) -> None:
    notifier, _, inbox, _ = moto_notifier
    detection = "KmsKeyDisableOrDeletion"
    records = [sqs_record(entry(detection, POSITIVES[detection][0].record), f"m{i}") for i in range(3)]
    good_topic, notifier.topic_arn = notifier.topic_arn, notifier.topic_arn + "-deleted"
    assert notifier.handle({"Records": records}) == {"batchItemFailures": [
        {"itemIdentifier": f"m{i}"} for i in range(3)]}
    notifier.topic_arn = good_topic  # the retry, in the same minute, may send
    assert notifier.handle({"Records": records}) == {"batchItemFailures": []}
    assert len(inbox()) == 1


def test_an_unreadable_entry_is_retried_not_dropped(moto_notifier) -> None:
    notifier, _, _, _ = moto_notifier
    result = notifier.handle({"Records": [sqs_record("not json", "x1"),
                                          sqs_record({"detection": "NoSuchDetection", "event": {}}, "x2")]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "x1"}, {"itemIdentifier": "x2"}]}


def test_carried_events_come_back_when_the_next_minute_begins() -> None:
    """DelaySeconds up to the next minute's start: the carried digest is sent in that minute."""
    sent = []
    sqs = type("Sqs", (), {"send_message": lambda self, **call: sent.append(call)})()
    for second, delay in ((0, 60), (45, 15), (59, 1)):
        notifier = Notifier(None, sqs, None, topic_arn="t", queue_url="q", claim_table="c", log_group="g",
                            region="us-east-1", specs=SPECS, clock=lambda: 1_764_511_200.0 + second,
                            log=lambda line: None)
        digest = Digest("SecretDeletion")
        digest.add([entry("SecretDeletion", POSITIVES["SecretDeletion"][0].record)["event"]], 1, "m", False)
        notifier.carry_over(digest)
        assert sent[-1]["DelaySeconds"] == delay
        assert (1_764_511_200 + second + delay) % 60 == 0


def test_alerts_of_a_batch_go_out_before_the_daily_check(moto_notifier) -> None:
    """A slow or killed daily check cannot hold back the alerts that arrived with it."""
    notifier, _, inbox, _ = moto_notifier
    order = []
    real_publish = notifier.publish
    notifier.publish = lambda digest: order.append(digest.detection) or real_publish(digest)
    notifier.remind = lambda digest: order.append("DeletionReminder")
    reminder = {"detection": "DeletionReminder", "event": {"source": "aws.events", "detail-type": "Scheduled Event",
                                                           "time": "2026-12-04T08:00:00Z"}}
    records = [sqs_record(reminder, "r"), sqs_record(entry("SecretDeletion", POSITIVES["SecretDeletion"][0].record), "a")]
    assert notifier.handle({"Records": records}) == {"batchItemFailures": []}
    assert order == ["SecretDeletion", "DeletionReminder"]


def test_an_entry_not_written_by_our_rules_is_logged_and_counted_never_sent(moto_notifier) -> None:
    notifier, _, inbox, _ = moto_notifier
    logs = []
    notifier.log, notifier.function_name = logs.append, "stack-NotifierFunction"
    forged = {"detection": "SecretDeletion", "event": {"source": "aws.secretsmanager",
                                                       "detail": {"eventSource": "s3.amazonaws.com"}}}
    fake_reminder = {"detection": "DeletionReminder", "event": {"source": "custom"}}
    result = notifier.handle({"Records": [sqs_record(forged, "f1"), sqs_record(fake_reminder, "f2")]})
    assert result == {"batchItemFailures": []} and inbox() == []
    assert sum('"rejected"' in line for line in logs) == 2
    (metrics,) = [json.loads(line) for line in logs if '"_aws"' in line]
    assert metrics["RejectedEntries"] == 2


def test_a_carried_entry_fits_in_one_sqs_message_whatever_the_events_size() -> None:
    """SQS refuses a body over 256 KiB (the event queue keeps SQS's default maximum); CloudTrail
    events up to about that size reach EventBridge: five of them cannot travel together."""
    from functions.notifier import SQS_MESSAGE_BYTES, carried_body

    record = copy.deepcopy(POSITIVES["SecretDeletion"][0].record)
    record["requestParameters"]["padding"] = "x" * 100_000
    digest = Digest("SecretDeletion")
    digest.add([entry("SecretDeletion", record)["event"]] * 5, 700, "m", False)
    body_ = json.loads(carried_body(digest))
    assert len(carried_body(digest).encode()) <= SQS_MESSAGE_BYTES
    assert body_["carried"] == 700 and len(body_["events"]) == 2
    record["requestParameters"]["padding"] = "x" * 300_000  # one event alone too large
    digest = Digest("SecretDeletion")
    digest.add([entry("SecretDeletion", record)["event"]], 3, "m", False)
    (event,) = json.loads(carried_body(digest))["events"]
    assert len(carried_body(digest).encode()) <= SQS_MESSAGE_BYTES
    assert event["detail"]["eventName"] == "DeleteSecret" and "requestParameters" not in event["detail"]


def test_every_aws_call_of_the_function_is_bounded_well_inside_its_timeout(monkeypatch) -> None:
    """botocore's defaults (60 s to connect, 60 s to read, a pool of 10) equal the function's whole
    timeout and fall short of the describing threads: the function's clients say otherwise."""
    from functions import notifier as module
    from stacks.notifier import TIMEOUT_SECONDS

    for key, value in {"TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:t", "EVENT_QUEUE_URL": "q",
                       "CLAIM_TABLE": "c", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(key, value)
    context = type("Context", (), {"get_remaining_time_in_millis": lambda self: 42_000})()
    n = module.from_environment(context)
    assert n.remaining() == 42.0
    for service in ("kms", "secretsmanager", "cloudtrail", "sns", "sqs", "dynamodb"):
        config = n.clients(service).meta.config
        worst = (config.connect_timeout + config.read_timeout) * config.retries["total_max_attempts"]
        assert worst < TIMEOUT_SECONDS and worst <= module.RESERVE_SECONDS, (service, worst)
        assert config.max_pool_connections >= module.DESCRIBE_THREADS
