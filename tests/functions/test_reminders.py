"""The daily reminder, in the function: the day arithmetic at the day boundaries and across time
zones, and the check against keys and secrets on a moto server on 127.0.0.1 (KMS, Secrets Manager,
SNS, DynamoDB). moto keeps no CloudTrail event history, so LookupEvents is answered by botocore's
Stubber with records in the shapes of tests/corpus (the shapes AWS's pages show)."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from botocore.stub import Stubber

from functions.notifier import (HISTORY_DAYS, REMINDER, Digest, Notifier, days_until, parse_days,
                                scheduling_history, utc)
from detections.messages import notification_specs
from stacks.reminders import READ_ACTIONS
from tests.conftest import load_corpus
from tests.functions.test_notifier import sqs_record
from tests.helpers import record_aws_calls

SPECS = notification_specs()
UTC = timezone.utc


# ------------------------------------------------------------------ the arithmetic
@pytest.mark.parametrize(("deletion", "day", "expected"), [
    (datetime(2026, 12, 7, 0, 0, 0, tzinfo=UTC), date(2026, 11, 30), 7),
    (datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC), date(2026, 11, 30), 6),  # one second earlier: the day before
    (datetime(2026, 12, 7, 23, 59, 59, tzinfo=UTC), date(2026, 11, 30), 7),
    (datetime(2026, 11, 30, 23, 0, tzinfo=UTC), date(2026, 11, 30), 0),  # the day itself
    (datetime(2026, 11, 29, 23, 0, tzinfo=UTC), date(2026, 11, 30), -1),  # overdue: Secrets Manager is late
    # The same instant written in other zones is the same UTC day.
    (datetime(2026, 12, 7, 4, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))), date(2026, 11, 30), 6),
    (datetime(2026, 12, 6, 20, 0, tzinfo=timezone(timedelta(hours=-5))), date(2026, 11, 30), 7),
    (datetime(2026, 12, 7, 0, 30), date(2026, 11, 30), 7),  # naive: boto3 and CloudTrail times are UTC
    (datetime(2027, 1, 1, 0, 0, tzinfo=UTC), date(2026, 12, 31), 1),  # across a year
    (datetime(2028, 3, 1, 0, 0, tzinfo=UTC), date(2028, 2, 28), 2),  # across a leap day
])
def test_days_until_counts_calendar_days_in_utc(deletion, day, expected) -> None:
    assert days_until(deletion, day) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Dec 5, 2026, 2:03:27 PM", datetime(2026, 12, 5, 14, 3, 27, tzinfo=UTC)),  # CloudTrail's deletionDate
    ("Dec 5, 2026, 12:00:00 AM", datetime(2026, 12, 5, 0, 0, 0, tzinfo=UTC)),  # midnight is 12 AM
    ("Dec 5, 2026, 12:30:00 PM", datetime(2026, 12, 5, 12, 30, 0, tzinfo=UTC)),  # noon is 12 PM
    ("2026-12-05T14:03:27Z", datetime(2026, 12, 5, 14, 3, 27, tzinfo=UTC)),  # an event's time
    ("2026-12-05T23:30:00+05:30", datetime(2026, 12, 5, 18, 0, 0, tzinfo=UTC)),
    (1_796_133_807, datetime(2026, 12, 1, 14, 3, 27, tzinfo=UTC)),  # epoch seconds (moto, JSON)
])
def test_every_time_format_the_check_reads_is_one_instant(text, expected) -> None:
    assert utc(text) == expected


def test_a_time_in_no_known_format_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError):
        utc("5/12/2026")


@pytest.mark.parametrize("window", [7, 8, 15, 30])
@pytest.mark.parametrize("hour", [0, 8, 23])
def test_a_daily_check_reminds_once_at_each_reminder_day_whatever_its_hour_or_delay(window, hour) -> None:
    """Every minute of a day as the scheduling time, the check at ``hour`` UTC each day, late by
    up to 59 minutes (a retry): each of 7, 3 and 1 is due on exactly one day, before the deletion."""
    days = parse_days("7,3,1")
    for minute in range(0, 24 * 60, 7):
        scheduled = datetime(2026, 11, 30, tzinfo=UTC) + timedelta(minutes=minute)
        deletion = scheduled + timedelta(days=window)
        seen: list[int] = []
        for n in range(window + 2):
            run = datetime(2026, 11, 30, hour, tzinfo=UTC) + timedelta(days=n, minutes=(n * 13) % 60)
            if run < scheduled or run > deletion:
                continue
            left = days_until(deletion, run.date())
            seen += [left] if left in days else []
        expected = [d for d in (7, 3, 1) if d < window or (d == window and hour * 60 >= minute)]
        assert seen == expected, (minute, seen)


@pytest.mark.parametrize(("text", "expected"), [("7,3,1", {7, 3, 1}), ("none", set()), ("0", {0}),
                                                 ("30,14,7,3,1,0", {30, 14, 7, 3, 1, 0})])
def test_reminder_days_parse(text, expected) -> None:
    assert parse_days(text) == expected


# ------------------------------------------------------------------ the check on moto
def history_event(name: str, record: dict, resource: str | None = None) -> dict:
    """A LookupEvents entry (CloudTrail API reference: Event) carrying ``record``, with the resource
    it references (by default the key or secret its response names)."""
    response = record.get("responseElements") or {}
    resource = resource or response.get("keyId") or response.get("arn") or response.get("aRN")
    return {"EventId": record["eventID"], "EventName": name, "ReadOnly": "false",
            "EventTime": utc(record["eventTime"]), "EventSource": record["eventSource"],
            "Username": "alice", "CloudTrailEvent": json.dumps(record),
            "Resources": [{"ResourceType": "AWS::KMS::Key" if ":kms:" in resource else "AWS::SecretsManager::Secret",
                           "ResourceName": resource}] if resource else []}


def corpus_record(event_name: str, **response: object) -> dict:
    """A successful scheduling record of the corpus, made about another resource."""
    record = next(s.record for s in load_corpus()
                  if s.record.get("eventName") == event_name and not s.record.get("errorCode")
                  and s.record.get("responseElements") and not (s.record.get("requestParameters") or {}).get(
                      "forceDeleteWithoutRecovery"))
    record = copy.deepcopy(record)
    record["responseElements"].update(response)
    return record


class Account:
    """Keys and secrets in several states on moto, the notifier wired to them, an inbox."""

    def __init__(self, aws, monkeypatch) -> None:
        self.aws = aws
        self.kms, self.secrets = aws.client("kms"), aws.client("secretsmanager")
        self.sns, self.sqs, self.ddb = aws.client("sns"), aws.client("sqs"), aws.client("dynamodb")
        self.cloudtrail = None
        self.history: list[dict] = []
        topic = self.sns.create_topic(Name="alerts")["TopicArn"]
        self.inbox = self.sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        self.ddb.create_table(TableName="claims", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "claim", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "claim", "KeyType": "HASH"}])
        self.now = datetime.now(UTC)
        self.clock = [self.now.timestamp()]
        self.logs: list[str] = []
        self.notifier = Notifier(self.sns, self.sqs, self.ddb, topic_arn=topic, queue_url="unused", claim_table="claims",
                                 log_group="/aws/lambda/notifier", region="us-east-1", specs=SPECS,
                                 clock=lambda: self.clock[0], log=self.logs.append, reminder_days="7,3,1",
                                 account="123456789012", clients=self.client)

    def client(self, name: str):
        if name != "cloudtrail":
            return {"kms": self.kms, "secretsmanager": self.secrets}[name]
        if self.cloudtrail is None:  # its calls still go through botocore (validated, recorded)
            self.cloudtrail = self.aws.client("cloudtrail")
            self.cloudtrail.meta.events.register_first("before-call.cloudtrail.LookupEvents", self.lookup)
        return self.cloudtrail

    def lookup(self, params: dict, **_: object):
        """LookupEvents as event history answers it: by the one attribute given (EventName, or
        ResourceName: the events whose resources name it), newest first, within the times given."""
        from botocore.awsrequest import AWSResponse

        request = json.loads(params["body"])
        (attribute,) = request["LookupAttributes"]
        start, end = utc(request["StartTime"]), utc(request["EndTime"])
        if attribute["AttributeKey"] == "EventName":
            assert start == utc(self.clock[0]) - timedelta(days=HISTORY_DAYS)  # what can still matter
        matches = [e for e in self.history if start <= utc(e["EventTime"]) <= end and (
            e["EventName"] == attribute["AttributeValue"] if attribute["AttributeKey"] == "EventName"
            else attribute["AttributeValue"] in [r["ResourceName"] for r in e.get("Resources", [])])]
        return AWSResponse(None, 200, {}, None), {"Events": sorted(matches, key=lambda e: e["EventTime"], reverse=True)}

    def key(self, window: int | None, alias: str) -> str:
        meta = self.kms.create_key()["KeyMetadata"]
        arn = meta["Arn"]
        self.kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        if window:
            self.kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=window)
            record = corpus_record("ScheduleKeyDeletion", keyId=arn)
            record["eventTime"] = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
            record["userIdentity"]["arn"] = f"arn:aws:iam::123456789012:user/deleter-{alias[6:]}"
            self.history.append(history_event("ScheduleKeyDeletion", record))
        return arn

    def secret(self, window: int | None, name: str, force: bool = False, deletion: datetime | None = None) -> str:
        arn = self.secrets.create_secret(Name=name, SecretString="s")["ARN"]
        if window or force:
            self.secrets.delete_secret(SecretId=arn, **({"ForceDeleteWithoutRecovery": True} if force
                                                        else {"RecoveryWindowInDays": window}))
            when = deletion or self.now + timedelta(days=window or 0)
            record = corpus_record("DeleteSecret", aRN=arn, deletionDate=when.strftime("%b %d, %Y, %I:%M:%S %p"))
            record["requestParameters"] = {"secretId": arn, **({"forceDeleteWithoutRecovery": True} if force
                                                               else {"recoveryWindowInDays": window})}
            record["eventTime"] = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
            record["userIdentity"]["arn"] = f"arn:aws:iam::123456789012:user/deleter-{name}"
            self.history.append(history_event("DeleteSecret", record))
        return arn

    def run(self, day: date, message_id: str = "r1") -> dict:
        event = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
                 "source": "aws.events", "account": "123456789012", "time": f"{day.isoformat()}T08:00:00Z",
                 "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/DeletionReminderRule"],
                 "detail": {}}
        return self.notifier.handle({"Records": [sqs_record({"detection": REMINDER, "event": event}, message_id)]})

    def emails(self) -> list[dict]:
        found = []
        while batch := self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", []):
            for m in batch:
                found.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=m["ReceiptHandle"])
        return found


@pytest.fixture
def account(aws, monkeypatch) -> Account:
    return Account(aws, monkeypatch)


def test_the_reminder_names_each_due_key_and_secret_with_its_undo_command(account) -> None:
    due_key = account.key(10, "alias/app-7")  # 7 days left three days from now
    later_key = account.key(12, "alias/app-9")
    account.key(None, "alias/kept")
    due_secret = account.secret(7, "db-3")  # 3 days left four days from now: not yet
    week_secret = account.secret(10, "db-7")
    account.secret(None, "alive")
    day = (account.now + timedelta(days=3)).date()
    account.clock[0] = datetime.combine(day, datetime.min.time(), UTC).timestamp() + 8 * 3600
    assert account.run(day) == {"batchItemFailures": []}
    (email,) = account.emails()
    text = email["Subject"] + "\n" + email["Message"]
    assert email["MessageAttributes"]["detection"]["Value"] == REMINDER
    assert "Deletion reminder: 2 keys or secrets deleted within 7 days (123456789012 us-east-1)" == email["Subject"]
    for arn in (due_key, week_secret):
        assert arn in text
    for arn in (later_key, due_secret):
        assert arn not in text
    assert f"Undo: aws kms cancel-key-deletion --region us-east-1 --key-id {due_key}" in text
    assert f"aws kms enable-key --region us-east-1 --key-id {due_key}" in text
    assert f"Undo: aws secretsmanager restore-secret --region us-east-1 --secret-id {week_secret}" in text
    assert "Scheduled by: arn:aws:iam::123456789012:user/deleter-app-7" in text
    assert "Scheduled by: arn:aws:iam::123456789012:user/deleter-db-7" in text
    assert "alias/app-7" in text and "in 7 days" in text
    assert "(not in the record)" not in text


def test_the_check_sends_once_a_day_however_often_the_entry_comes(account) -> None:
    account.key(7, "alias/app")
    day = account.now.date()
    account.run(day, "a")
    account.run(day, "b")  # SQS delivered it twice, or a retry after a timeout
    assert len(account.emails()) == 1
    assert any('"skipped": "already sent or under way"' in line for line in account.logs)


def test_nothing_due_sends_nothing(account) -> None:
    account.key(20, "alias/app")
    account.secret(25, "db")
    assert account.run(account.now.date()) == {"batchItemFailures": []}
    assert account.emails() == []


def test_a_secret_whose_window_ended_and_is_gone_gets_one_final_notice(account) -> None:
    ended = account.now - timedelta(days=1)
    gone = account.secret(7, "old-db", deletion=ended)
    account.secrets.delete_secret(SecretId=gone, ForceDeleteWithoutRecovery=True)  # as Secrets Manager does
    forced = account.secret(None, "forced", force=True)  # the alert already said: nothing to restore
    late = account.secret(7, "late-db", deletion=ended)  # window ended, not yet deleted: no notice
    account.run(account.now.date(), "a")
    (email,) = account.emails()
    assert email["Subject"] == "Deleted for good: 1 secret (123456789012 us-east-1)"
    assert gone in email["Message"] and forced not in email["Message"] and late not in email["Message"]
    assert "nothing can restore them" in email["Message"]
    tomorrow = account.now.date() + timedelta(days=1)
    account.clock[0] += 86_400
    account.run(tomorrow, "b")
    assert account.emails() == []  # one final notice per secret


def test_the_secret_date_is_the_delete_records_when_there_is_one(account) -> None:
    """DeletedDate's meaning differs between two API references (UNCONFIRMED): the DeleteSecret
    record's deletionDate wins; without the record, DeletedDate is used and said to be."""
    account.secret(7, "db")
    account.history[-1]["CloudTrailEvent"] = json.dumps({
        **json.loads(account.history[-1]["CloudTrailEvent"]),
        "responseElements": {"aRN": json.loads(account.history[-1]["CloudTrailEvent"])["responseElements"]["aRN"],
                             "deletionDate": (account.now + timedelta(days=3)).strftime("%b %d, %Y, %I:%M:%S %p")}})
    account.run(account.now.date(), "a")
    (email,) = account.emails()
    assert "in 3 days" in email["Message"] and "DeletedDate" not in email["Message"]
    account.history.clear()
    account.clock[0] += 4 * 86_400
    account.run(account.now.date() + timedelta(days=4), "b")  # moto's DeletedDate: 7 days after the call
    (email,) = account.emails()
    assert "in 3 days" in email["Message"] and "date from DeletedDate: no DeleteSecret record found" in email["Message"]


def test_a_failed_publish_is_retried_and_the_day_released(account) -> None:
    account.key(7, "alias/app")
    topic = account.notifier.topic_arn
    account.notifier.topic_arn = topic + "-deleted"
    assert account.run(account.now.date(), "a") == {"batchItemFailures": [{"itemIdentifier": "a"}]}
    account.notifier.topic_arn = topic
    assert account.run(account.now.date(), "a") == {"batchItemFailures": []}
    assert len(account.emails()) == 1


def test_the_check_calls_exactly_the_read_actions_the_template_grants(account, monkeypatch) -> None:
    account.key(7, "alias/app")
    account.secret(7, "db")
    called = record_aws_calls(monkeypatch)
    account.run(account.now.date())
    assert called - {"sns:Publish", "dynamodb:PutItem", "dynamodb:UpdateItem"} == set(READ_ACTIONS)


def test_many_keys_each_described_once_and_the_pending_ones_found(account, monkeypatch) -> None:
    """DescribeKey runs on threads: every key is described once, and the result is the same."""
    pending = {account.key(7 + i % 3, f"alias/p{i}") for i in range(12)}
    for i in range(30):
        account.key(None, f"alias/k{i}")
    described = []
    real = account.kms.describe_key
    monkeypatch.setattr(account.kms, "describe_key", lambda **kw: described.append(kw["KeyId"]) or real(**kw))
    from functions.notifier import pending_keys

    found, undescribed = pending_keys(account.kms)
    assert {f.arn for f in found} == pending and undescribed == 0
    assert len(described) == len(set(described)) == 42


def test_a_key_it_may_not_describe_is_counted_not_fatal(account, monkeypatch) -> None:
    account.key(7, "alias/app")
    other = account.kms.create_key()["KeyMetadata"]["KeyId"]
    describe = account.kms.describe_key

    def denied(**kwargs):
        if kwargs["KeyId"] == other:
            raise account.kms.exceptions.ClientError({"Error": {"Code": "AccessDeniedException"}}, "DescribeKey")
        return describe(**kwargs)

    monkeypatch.setattr(account.kms, "describe_key", denied)
    assert account.run(account.now.date()) == {"batchItemFailures": []}
    (email,) = account.emails()
    assert "1 key could not be described" in email["Message"]


def test_history_keeps_the_last_successful_scheduling_of_each_resource() -> None:
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    first = corpus_record("ScheduleKeyDeletion", keyId=key)
    first["eventTime"] = "2026-11-01T10:00:00Z"
    second = copy.deepcopy(first)
    second["eventTime"], second["userIdentity"]["arn"] = "2026-11-20T10:00:00Z", "arn:aws:iam::111122223333:user/bob"
    denied = copy.deepcopy(second)
    denied["eventTime"], denied["errorCode"] = "2026-11-25T10:00:00Z", "AccessDenied"
    import boto3

    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(cloudtrail) as stub:
        stub.add_response("lookup_events", {"Events": [history_event("ScheduleKeyDeletion", r)
                                                       for r in (second, first, denied)]}, None)
        stub.add_response("lookup_events", {"Events": []}, None)
        found, complete = scheduling_history(cloudtrail, datetime(2026, 11, 30, tzinfo=UTC))
    assert complete
    assert found[key].caller == "arn:aws:iam::111122223333:user/bob"
    assert found[key].at == datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_history_is_read_within_a_time_budget_and_says_when_it_stopped() -> None:
    """LookupEvents answers 2 requests a second: an account with many deletions is read for the
    budget only (the clock here advances a second a page), and the check says so."""
    import boto3

    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    record = corpus_record("ScheduleKeyDeletion", keyId=key)
    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    ticks = iter(range(1000))
    with Stubber(cloudtrail) as stub:
        for i in range(5):
            stub.add_response("lookup_events", {"Events": [history_event("ScheduleKeyDeletion", record)],
                                                "NextToken": f"t{i}"}, None)
        found, complete = scheduling_history(cloudtrail, datetime(2026, 11, 30, tzinfo=UTC), budget_seconds=3,
                                             clock=lambda: float(next(ticks)))
    assert not complete and key in found  # what was read is kept


def test_an_incomplete_history_is_said_in_the_reminder(account, monkeypatch) -> None:
    import functions.notifier as notifier

    account.key(7, "alias/app")
    real = notifier.scheduling_history
    monkeypatch.setattr(notifier, "scheduling_history", lambda *a, **k: (real(*a, **k)[0], False))
    account.run(account.now.date())
    (email,) = account.emails()
    assert "was read for 25 seconds, not to its end" in email["Message"]


class Killed(BaseException):
    """What a Lambda timeout does to the process: it ends, and no except or finally of the function
    runs (Lambda guide, services-sqs-errorhandling)."""


@pytest.mark.parametrize("where", ["check", "publish_final"])
def test_a_run_killed_after_its_claim_sends_when_the_entry_comes_back(account, monkeypatch, where) -> None:
    """The day's claim and the final notices' claims are leases: a killed run's lapse before SQS hands
    the entry out again (the queue's visibility timeout), and the work is done then, once."""
    from stacks.notifier import VISIBILITY_TIMEOUT_SECONDS

    account.key(7, "alias/app")
    ended = account.now - timedelta(days=1)
    gone = account.secret(7, "old-db", deletion=ended)
    account.secrets.delete_secret(SecretId=gone, ForceDeleteWithoutRecovery=True)
    day = account.now.date()
    real = getattr(account.notifier, where)

    def killed(*args, **kwargs):
        raise Killed()

    monkeypatch.setattr(account.notifier, where, killed)
    with pytest.raises(Killed):
        account.run(day, "a")
    assert account.emails() == []
    monkeypatch.setattr(account.notifier, where, real)
    account.clock[0] += VISIBILITY_TIMEOUT_SECONDS  # the entry is handed out again
    assert account.run(day, "a") == {"batchItemFailures": []}
    subjects = sorted(e["Subject"] for e in account.emails())
    assert subjects == ["Deleted for good: 1 secret (123456789012 us-east-1)",
                        "Deletion reminder: 1 key or secret deleted within 7 days (123456789012 us-east-1)"]
    account.clock[0] += VISIBILITY_TIMEOUT_SECONDS
    account.run(day, "b")  # delivered once more: nothing twice
    assert account.emails() == []


def test_a_check_short_of_time_stops_describing_and_says_so(account) -> None:
    account.key(7, "alias/app")
    account.notifier.remaining = lambda: 5.0  # seconds left in the invocation
    account.run(account.now.date())
    assert account.emails() == []  # the key was not described: nothing is known to be due
    assert any('"undescribed keys": 1' in line for line in account.logs)


def test_imported_key_material_that_expires_is_reminded_like_a_deletion(account, monkeypatch) -> None:
    """DescribeKey: ExpirationModel KEY_MATERIAL_EXPIRES and ValidTo (KMS API reference). KMS deletes
    the material on that date and the key turns PendingImport; nothing cancels it, the same material
    imported again without an expiry does. Material that does not expire, and a key already
    PendingImport, are not reminded."""
    expiring, lasting, gone = (account.key(None, f"alias/{name}") for name in ("hsm-export", "lasting", "gone"))
    valid_to = account.now + timedelta(days=7)
    real = account.kms.describe_key

    def describe_key(**kw):
        meta = real(**kw)["KeyMetadata"]
        if meta["Arn"] in (expiring, lasting, gone):
            meta.update(Origin="EXTERNAL", ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE" if meta["Arn"] == lasting
                        else "KEY_MATERIAL_EXPIRES", ValidTo=valid_to,
                        KeyState="PendingImport" if meta["Arn"] == gone else meta["KeyState"])
        return {"KeyMetadata": meta}

    monkeypatch.setattr(account.kms, "describe_key", describe_key)
    assert account.run(account.now.date()) == {"batchItemFailures": []}
    (email,) = account.emails()
    text = email["Message"]
    assert email["Subject"] == "Deletion reminder: 1 key or secret deleted within 7 days (123456789012 us-east-1)"
    assert "0 pending deletion, and 1 key whose imported key material expires; 1 due in 7, 3 or 1 days" in text
    assert f"KMS key: {expiring}" in text and "Aliases: alias/hsm-export" in text
    assert f"Key material expires: {valid_to.strftime('%Y-%m-%dT%H:%M:%SZ')} UTC, in 7 days" in text
    assert f"Next: aws kms get-parameters-for-import --region us-east-1" in text and f"--key-id {expiring}" in text
    assert "--expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE" in text
    assert lasting not in text and gone not in text and "cancel-key-deletion" not in text and "Scheduled by" not in text


def test_the_reminder_says_who_tried_to_use_each_since_it_was_scheduled(account) -> None:
    """A BatchGetSecretValue is logged as one GetSecretValue entry per secret (Secrets Manager API
    reference); whether that entry carries the 'marked for deletion' refusal is UNCONFIRMED. The
    reminder counts every read of the secret since its scheduling either way: with the refusal, and
    without it; reads before the scheduling do not count."""
    secret = account.secret(7, "db")
    base = next(s.record for s in load_corpus() if s.cls == "secretsmanager-getsecretvalue-marked-for-deletion-new-wording")

    def read(minutes: int, who: str, refused: bool) -> None:
        record = copy.deepcopy(base)
        record.update(eventTime=(account.now + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      eventID=f"read-{minutes}", userIdentity={"type": "AssumedRole", "arn": who},
                      requestParameters={"secretId": secret})
        if not refused:
            for field in ("errorCode", "errorMessage"):
                record.pop(field, None)
        account.history.append(history_event("GetSecretValue", record, secret))

    batch = "arn:aws:sts::123456789012:assumed-role/batch-reader/run"
    read(-60, batch, refused=False)  # before the deletion: not a use since
    read(5, batch, refused=True)
    read(6, batch, refused=False)
    read(7, "arn:aws:sts::123456789012:assumed-role/app/i-0abc", refused=True)
    account.clock[0] += 600  # the check runs after these reads
    assert account.run(account.now.date()) == {"batchItemFailures": []}
    (email,) = account.emails()
    assert (f"Used since: 3 uses by 2 principals since it was scheduled ({account.now.strftime('%Y-%m-%dT%H:%M:%SZ')} "
            f"UTC): {batch} (GetSecretValue 2); arn:aws:sts::123456789012:assumed-role/app/i-0abc (GetSecretValue 1)"
            ) in email["Message"]


def test_a_due_key_nobody_tried_to_use_says_so(account) -> None:
    account.key(7, "alias/quiet")
    account.run(account.now.date())
    (email,) = account.emails()
    assert "Used since: no use since it was scheduled" in email["Message"]
    assert "nothing called it with a cryptographic operation" in email["Message"]
