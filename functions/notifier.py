"""The notifier: turns the events in the alert queue into emails a person can act on.

Runs in AWS Lambda (Python runtime, standard library and boto3 only), invoked by an SQS event source
mapping with batches of queue entries (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).
Each entry is ``{"detection": NAME, "event": <EventBridge event>}`` as a rule's target writes it, or a
carry-over ``{"detection": NAME, "carried": N, "events": [...]}`` that this function wrote itself.

For each detection in a batch it publishes at most one digest per minute: the count, and the details
of the first events (distinct resources and callers first), each naming the key or secret, the
caller and the command that undoes the deletion. The minute is claimed in a DynamoDB table with a
conditional write, so concurrent invocations never send two digests of one detection in one minute
(SNS suspends an email subscription that gets more than 10 messages a second). An invocation that
finds the minute taken sends its events on, counted, as one carry-over entry delayed by a minute.

Nothing is lost: every event is logged (one JSON line, in the function's log group) before anything
else; an entry leaves the queue only when a digest counted it or a carry-over holds it; every other
entry is reported in ``batchItemFailures`` and comes back after the queue's visibility timeout, and
after the queue's maxReceiveCount it goes to the dead-letter queue, which raises an alarm.

Once a day a scheduled rule puts a ``DeletionReminder`` entry in the same queue: the function then
lists the keys pending deletion and the secrets scheduled for deletion in its account and Region,
and emails one reminder about those whose deletion day is one of ``REMINDER_DAYS`` (calendar days,
UTC) away, and a final notice about each secret whose recovery window ended and that is gone.

``SPECS`` holds what to say about each detection; the build appends it from detections/messages.py.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

SPECS: dict[str, dict[str, Any]] = {}

MAX_DETAILS = 5  # events described in full in one digest
SUBJECT_LIMIT = 100  # SNS Subject: at most 100 printable ASCII characters
CLAIM_SECONDS = 60
CLAIM_TTL_SECONDS = 3600
CARRY_DELAY_SECONDS = 60  # SQS DelaySeconds: the carried events come back in the next minute
MISSING = "(not in the record)"
REMINDER = "DeletionReminder"  # detections/messages.py REMINDER
DAY_SECONDS = 86_400
# Event history keeps 90 days; a recovery window is at most 30, and Secrets Manager deletes "some time
# after" it ends (DeleteSecret API reference): 45 days finds every scheduling that can still matter.
HISTORY_DAYS = 45
HISTORY_BUDGET_SECONDS = 25.0  # of the function's 60: the rest lists keys and secrets and publishes
FINAL_CLAIM_TTL_SECONDS = 100 * DAY_SECONDS  # longer than HISTORY_DAYS: one final notice per secret
MAX_LISTED = 50  # keys and secrets described in full in one reminder
PENDING_KEY_STATES = ("PendingDeletion", "PendingReplicaDeletion")
DESCRIBE_THREADS = 16
# CloudTrail writes responseElements.deletionDate as "Dec 5, 2026, 2:03:27 PM" (UTC).
CLOUDTRAIL_DATE = "%b %d, %Y, %I:%M:%S %p"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PATH_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


def json_path(document: Any, path: str) -> Any:
    """The value at ``$.a.b[0]`` in ``document``; None when any step is missing."""
    value = document
    for name, index in _PATH_PART.findall(path[1:]):
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
        elif isinstance(value, dict) and name in value:
            value = value[name]
        else:
            return None
    return value


def field_value(event: Mapping[str, Any], sources: Iterable[Mapping[str, str]]) -> str | None:
    """The first of ``sources`` present (and matching, for a source with a regex) in ``event``."""
    for source in sources:
        value = json_path(event, source["path"])
        if value is None or value == "":
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if "match" in source:
            found = re.search(source["match"], text)
            if not found:
                continue
            text = found.group(1)
        return _CONTROL.sub(" ", text)
    return None


def render(template: str, values: Mapping[str, str | None]) -> str:
    def value(name: str) -> str:
        found = values.get(name)
        return MISSING if found is None else found

    return re.sub(r"\{(\w+)\}", lambda m: value(m.group(1)), template)


@dataclass
class Digest:
    """What one detection's events in this batch add up to."""

    detection: str
    count: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  # the first few, distinct first
    message_ids: list[str] = field(default_factory=list)
    carried: int = 0  # of ``count``, events carried over from an earlier minute

    def add(self, events: list[dict[str, Any]], count: int, message_id: str, carried: bool) -> None:
        self.count += count
        self.carried += count if carried else 0
        self.message_ids.append(message_id)
        self.events.extend(events)

    def details(self, spec: Mapping[str, Any]) -> list[dict[str, str | None]]:
        """Field values of the events to describe: distinct (resource, caller) pairs first."""
        rows = [{name: field_value(e, sources) for name, sources in spec["fields"].items()} for e in self.events]
        seen: set[tuple[Any, Any]] = set()
        first, rest = [], []
        for row in rows:
            pair = (row.get(spec["resource"]), row.get("caller"))
            (rest if pair in seen else first).append(row)
            seen.add(pair)
        return (first + rest)[:MAX_DETAILS]


def sns_subject(text: str) -> str:
    """``text`` as SNS takes a Subject: printable ASCII, at most SUBJECT_LIMIT characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= SUBJECT_LIMIT else text[:SUBJECT_LIMIT - 3] + "..."


def subject(spec: Mapping[str, Any], digest: Digest, first: Mapping[str, str | None]) -> str:
    text = render(spec["subject"], first)
    return sns_subject(f"[{digest.count}] {text}" if digest.count > 1 else text)


def body(spec: Mapping[str, Any], digest: Digest, rows: list[dict[str, str | None]], listing: str,
         auto_cancel: str = "Off") -> str:
    """The email: what happened, each described event, what it means, what to do, where the rest are."""
    count = f"{digest.count} event" + ("s" if digest.count != 1 else "")
    if digest.carried:
        count += f" ({digest.carried} of them held back from earlier minutes, to send one email a minute)"
    out = [spec["title"].upper() if spec["kind"] != "Recovery" else spec["title"], "", f"{count}."]
    if digest.count > len(rows):
        out.append(f"The first {len(rows)} (distinct keys or secrets and callers first):")
    for i, row in enumerate(rows, 1):
        out.append("")
        out += [(f"{i}. " if j == 0 else "   ") + render(line, row) for j, line in enumerate(spec["lines"])]
    out += ["", "What it means: " + spec["meaning"], "What to do: " + spec["what_to_do"]]
    scope = spec.get("auto_cancel_scope", {})
    if spec.get("auto_cancel") and auto_cancel in scope:  # the stack cancels on use: say what it does
        out.append(spec["auto_cancel"].format(mode=auto_cancel, scope=scope[auto_cancel]))
    out += ["", listing]
    return "\n".join(out)


def utc(value: Any) -> datetime:
    """A time from boto3 (datetime, naive or aware), an epoch number, ISO 8601 or CloudTrail's
    "Dec 5, 2026, 2:03:27 PM", as an aware UTC datetime. ValueError when it is none of these."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = datetime.strptime(text, CLOUDTRAIL_DATE)
    return utc(parsed)


def days_until(deletion: datetime, day: date) -> int:
    """Calendar days (UTC) from ``day`` to the day of ``deletion``: 0 on the day itself. A daily
    check sees each count exactly once, whatever the hour it runs at or how late it runs."""
    return (utc(deletion).date() - day).days


def parse_days(text: str) -> frozenset[int]:
    """ReminderDays ("7,3,1", or "none") as a set of day counts."""
    return frozenset(int(d) for d in text.split(",") if d.strip().isdigit())


@dataclass
class AtRisk:
    """A key pending deletion or a secret scheduled for deletion, as the daily check found it."""

    resource: str  # "key" or "secret"
    arn: str
    name: str
    state: str
    deletion: datetime | None
    date_source: str = ""  # where the deletion date came from, when it is not the service's own answer
    caller: str = ""
    scheduled_at: str = ""

    def values(self, account: str, region: str, day: date) -> dict[str, str | None]:
        return {"account": account, "region": region, self.resource: self.arn, "name": self.name or "-",
                "state": self.state, "deletion": self.deletion.strftime("%Y-%m-%dT%H:%M:%SZ") if self.deletion else None,
                "days": str(days_until(self.deletion, day)) if self.deletion else None,
                "caller": self.caller or None, "scheduledAt": self.scheduled_at or None,
                "dateSource": f"   ({self.date_source})" if self.date_source else ""}


@dataclass
class Scheduling:
    """The last successful ScheduleKeyDeletion or DeleteSecret of a resource, from event history."""

    caller: str
    at: datetime
    deletion: datetime | None
    force: bool


def scheduling_history(cloudtrail: Any, now: datetime, budget_seconds: float = HISTORY_BUDGET_SECONDS,
                       clock: Callable[[], float] = time.monotonic) -> tuple[dict[str, Scheduling], bool]:
    """The last successful scheduling call of each key and secret in the last HISTORY_DAYS days,
    by ARN (CloudTrail LookupEvents: management events, kept 90 days in every account), and
    whether all of it was read: LookupEvents answers 2 requests a second per account and Region,
    so an account that deletes a lot is read for ``budget_seconds`` only, within the function's
    timeout."""
    found: dict[str, Scheduling] = {}
    ends = clock() + budget_seconds
    for name in ("ScheduleKeyDeletion", "DeleteSecret"):
        for page in cloudtrail.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
                StartTime=now - timedelta(days=HISTORY_DAYS), EndTime=now):
            if clock() > ends:
                return found, False
            for event in page.get("Events", []):
                try:
                    record = json.loads(event.get("CloudTrailEvent") or "{}")
                except ValueError:
                    continue
                if record.get("errorCode"):
                    continue
                response = record.get("responseElements") or {}
                request = record.get("requestParameters") or {}
                arn = response.get("keyId") or response.get("aRN") or response.get("arn") or request.get("secretId")
                if not arn:
                    continue
                try:
                    at = utc(record.get("eventTime") or event["EventTime"])
                    deletion = utc(response["deletionDate"]) if response.get("deletionDate") else None
                except (ValueError, KeyError, TypeError, OverflowError):
                    continue
                if arn in found and found[arn].at >= at:
                    continue
                who = (record.get("userIdentity") or {}).get("arn") or event.get("Username") or ""
                found[arn] = Scheduling(who, at, deletion, bool(request.get("forceDeleteWithoutRecovery")))
    return found, True


def pending_keys(kms: Any) -> tuple[list[AtRisk], int]:
    """Every key in PendingDeletion or PendingReplicaDeletion, and how many keys could not be
    described (a key policy that does not let IAM policies allow DescribeKey). DescribeKey runs
    DESCRIBE_THREADS at a time (boto3 clients are thread-safe): thousands of keys, one call each,
    within the function's timeout."""
    aliases: dict[str, list[str]] = {}
    for page in kms.get_paginator("list_aliases").paginate():
        for alias in page.get("Aliases", []):
            if alias.get("TargetKeyId"):
                aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
    ids = [key["KeyId"] for page in kms.get_paginator("list_keys").paginate() for key in page.get("Keys", [])]

    def describe(key_id: str) -> dict[str, Any] | None:
        try:
            return kms.describe_key(KeyId=key_id)["KeyMetadata"]
        except kms.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("AccessDeniedException", "NotFoundException"):
                raise
            return None

    found, undescribed = [], 0
    with ThreadPoolExecutor(DESCRIBE_THREADS) as pool:
        for key_id, meta in zip(ids, pool.map(describe, ids)):
            if meta is None:
                undescribed += 1
            elif meta.get("KeyState") in PENDING_KEY_STATES:
                found.append(AtRisk("key", meta["Arn"], ", ".join(sorted(aliases.get(key_id, []))),
                                    meta["KeyState"], utc(meta["DeletionDate"]) if meta.get("DeletionDate") else None))
    return found, undescribed


def pending_secrets(secrets: Any, history: Mapping[str, Scheduling]) -> tuple[list[AtRisk], set[str]]:
    """Every secret scheduled for deletion, and the ARNs of every secret there is (to tell which
    scheduled secrets are gone). ListSecrets hides the first unless IncludePlannedDeletion is true.

    The deletion date is the DeleteSecret record's responseElements.deletionDate ("the date and time
    of the delete request plus the number of days in RecoveryWindowInDays", API reference). Without
    the record, DeletedDate: the DescribeSecret reference calls it the date the secret is scheduled
    for deletion, the ListSecrets reference the date the deletion occurred (UNCONFIRMED which); it is
    used only when it lies ahead, and said so."""
    found, present = [], set()
    for page in secrets.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        for secret in page.get("SecretList", []):
            present.add(secret["ARN"])
            if not secret.get("DeletedDate"):
                continue
            scheduled = history.get(secret["ARN"])
            if scheduled and scheduled.deletion:
                deletion, source = scheduled.deletion, ""
            else:
                deletion, source = utc(secret["DeletedDate"]), "date from DeletedDate: no DeleteSecret record found"
            found.append(AtRisk("secret", secret["ARN"], secret.get("Name", ""), "ScheduledForDeletion", deletion, source))
    return found, present


class Notifier:
    """The handler's work, with its AWS clients and clock injected (tests pass moto's or stubs)."""

    def __init__(self, sns: Any, sqs: Any, dynamodb: Any, *, topic_arn: str, queue_url: str,
                 claim_table: str, log_group: str, region: str, specs: Mapping[str, Mapping[str, Any]],
                 clock: Callable[[], float] = time.time, log: Callable[[str], None] = print,
                 auto_cancel: str = "Off", reminder_days: str = "none", account: str = "",
                 clients: Callable[[str], Any] | None = None) -> None:
        self.sns, self.sqs, self.dynamodb = sns, sqs, dynamodb
        self.auto_cancel = auto_cancel
        self.reminder_days, self.account = parse_days(reminder_days), account
        self.clients = clients  # kms, secretsmanager, cloudtrail: for the daily check only
        self.topic_arn, self.queue_url, self.claim_table = topic_arn, queue_url, claim_table
        self.log_group, self.region, self.specs = log_group, region, specs
        self.clock, self.log = clock, log

    def handle(self, batch: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Process one batch; return the entries to retry (Lambda's partial batch response)."""
        digests: dict[str, Digest] = {}
        failed: list[str] = []
        for record in batch.get("Records", []):
            message_id = record["messageId"]
            try:
                entry = json.loads(record["body"])
                name = entry["detection"]
                if name not in self.specs:
                    raise KeyError(f"unknown detection {name!r}")
                carried = "carried" in entry
                events = entry["events"] if carried else [entry["event"]]
                count = int(entry["carried"]) if carried else 1
            except (ValueError, KeyError, TypeError) as error:
                # Retried, then dead-lettered: the alarm on the dead-letter queue tells a person.
                self.log(json.dumps({"unreadable": message_id, "error": str(error), "body": record.get("body")}))
                failed.append(message_id)
                continue
            if not carried:  # persisted before anything else: the listing command finds it
                self.log(json.dumps({"detection": name, "messageId": message_id, "event": entry["event"]},
                                    sort_keys=True))
            digests.setdefault(name, Digest(name)).add(events, count, message_id, carried)
        for digest in digests.values():
            try:
                self.notify(digest)
            except Exception as error:  # noqa: BLE001 - any failure: retry these entries later
                self.log(json.dumps({"failed": digest.detection, "error": repr(error)}))
                failed += digest.message_ids
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    def notify(self, digest: Digest) -> None:
        if digest.detection == REMINDER:
            self.remind(digest)
            return
        minute = int(self.clock() // CLAIM_SECONDS)
        claim = f"{digest.detection}#{minute}"
        if not self.claim(claim, minute * CLAIM_SECONDS + CLAIM_TTL_SECONDS):
            self.carry_over(digest)
            return
        try:
            self.publish(digest)
        except Exception:
            self.release(claim)  # the retry may send in this minute
            raise

    def claim(self, claim: str, expires: int) -> bool:
        """True when this invocation is the first to claim ``claim`` (a detection's minute, a day's
        reminder, a secret's final notice) before it expires."""
        try:
            self.dynamodb.put_item(
                TableName=self.claim_table,
                Item={"claim": {"S": claim}, "expires": {"N": str(expires)}},
                ConditionExpression="attribute_not_exists(claim)")
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, claim: str) -> None:
        try:
            self.dynamodb.delete_item(TableName=self.claim_table, Key={"claim": {"S": claim}})
        except Exception as error:  # noqa: BLE001 - the claim expires anyway
            self.log(json.dumps({"release failed": claim, "error": repr(error)}))

    # ------------------------------------------------------------------ the daily reminder
    def remind(self, digest: Digest) -> None:
        """The daily check: once per calendar day (UTC) of the schedule's event, however often the
        entry is delivered or retried."""
        for day in sorted({utc(e.get("time") or self.clock()).date() for e in digest.events}):
            claim = f"{REMINDER}#{day.isoformat()}"
            if not self.claim(claim, int(self.clock()) + 2 * DAY_SECONDS):
                self.log(json.dumps({"reminder": day.isoformat(), "skipped": "already sent"}))
                continue
            try:
                self.check(day)
            except Exception:
                self.release(claim)
                raise

    def check(self, day: date) -> None:
        """List what is pending deletion here; email the due reminders and the final notices."""
        assert self.clients is not None, "the daily check needs kms, secretsmanager and cloudtrail clients"
        now = utc(self.clock())
        history, complete = scheduling_history(self.clients("cloudtrail"), now)
        keys, undescribed = pending_keys(self.clients("kms"))
        secrets, present = pending_secrets(self.clients("secretsmanager"), history)
        pending = keys + secrets
        for item in pending:
            scheduled = history.get(item.arn)
            if scheduled:
                item.caller, item.scheduled_at = scheduled.caller, scheduled.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        due = sorted((p for p in pending if p.deletion and days_until(p.deletion, day) in self.reminder_days),
                     key=lambda p: (p.deletion, p.arn))
        gone = self.finally_deleted(history, present, now)
        self.log(json.dumps({"reminder": day.isoformat(), "pending": len(pending), "due": len(due),
                             "deleted": len(gone), "undescribed keys": undescribed, "history complete": complete}))
        # Final notices first, each claimed for good: a retry after a failed reminder does not repeat them.
        fresh = [item for item in gone if self.claim(f"final#{item.arn}", int(self.clock()) + FINAL_CLAIM_TTL_SECONDS)]
        try:
            if fresh:
                self.publish_final(day, fresh)
        except Exception:
            for item in fresh:
                self.release(f"final#{item.arn}")
            raise
        if due:
            self.publish_reminder(day, due, len(pending), undescribed, complete)

    @staticmethod
    def finally_deleted(history: Mapping[str, Scheduling], present: set[str], now: datetime) -> list[AtRisk]:
        """Secrets whose last DeleteSecret had a recovery window that has ended and which no longer
        exist: Secrets Manager deleted them (it emits no event of its own when it does)."""
        return [AtRisk("secret", arn, arn.rsplit(":", 1)[-1].rsplit("-", 1)[0], "Deleted", s.deletion,
                       caller=s.caller, scheduled_at=s.at.strftime("%Y-%m-%dT%H:%M:%SZ"))
                for arn, s in sorted(history.items())
                if ":secretsmanager:" in arn and not s.force and s.deletion and s.deletion <= now
                and arn not in present]

    def _publish(self, subject_text: str, message: str, kind: str, count: int) -> None:
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=sns_subject(subject_text),
            Message=message,
            MessageAttributes={"detection": {"DataType": "String", "StringValue": kind},
                               "count": {"DataType": "Number", "StringValue": str(count)}})
        self.log(json.dumps({"notified": kind, "count": count}))

    def publish_reminder(self, day: date, due: list[AtRisk], pending: int, undescribed: int,
                         complete: bool = True) -> None:
        spec = self.specs[REMINDER]
        head = {"account": self.account, "region": self.region, "count": str(len(due)),
                "days": str(max(days_until(p.deletion, day) for p in due if p.deletion))}
        out = [spec["title"].upper(), "",
               f"Checked {day.isoformat()} (UTC): {pending} pending deletion in {self.account} {self.region}; "
               f"{len(due)} deleted in {', '.join(str(d) for d in sorted(self.reminder_days, reverse=True))} "
               "day(s), the days this stack reminds at."]
        for i, item in enumerate(due[:MAX_LISTED], 1):
            values = item.values(self.account, self.region, day)
            out.append("")
            out += [(f"{i}. " if j == 0 else "   ") + render(line, values)
                    for j, line in enumerate(spec["lines"][item.resource])]
        if len(due) > MAX_LISTED:
            out += ["", f"... and {len(due) - MAX_LISTED} more."]
        if not complete:
            out += ["", f"CloudTrail event history was read for {HISTORY_BUDGET_SECONDS:.0f} seconds, not to its end "
                        "(many deletions in this account): who scheduled some of these, and final notices of "
                        "older deletions, may be missing."]
        if undescribed:
            out += ["", f"{undescribed} key(s) could not be described (their key policies do not let IAM "
                        "policies allow kms:DescribeKey): they were not checked."]
        out += ["", "What it means: " + spec["meaning"], "What to do: " + spec["what_to_do"]]
        self._publish(render(spec["subject"], head), "\n".join(out), REMINDER, len(due))

    def publish_final(self, day: date, gone: list[AtRisk]) -> None:
        spec = self.specs[REMINDER]
        out = [spec["final_title"], ""]
        for i, item in enumerate(gone[:MAX_LISTED], 1):
            values = item.values(self.account, self.region, day)
            out += [(f"{i}. " if j == 0 else "   ") + render(line, values) for j, line in enumerate(spec["final_lines"])]
        if len(gone) > MAX_LISTED:
            out += [f"... and {len(gone) - MAX_LISTED} more."]
        head = {"account": self.account, "region": self.region, "count": str(len(gone))}
        self._publish(render(spec["final_subject"], head), "\n".join(out), REMINDER + "Final", len(gone))

    def carry_over(self, digest: Digest) -> None:
        """Another invocation sent this minute's digest: hold these events for the next minute."""
        kept = digest.events[:MAX_DETAILS]
        self.sqs.send_message(QueueUrl=self.queue_url, DelaySeconds=CARRY_DELAY_SECONDS, MessageBody=json.dumps(
            {"detection": digest.detection, "carried": digest.count, "events": kept}, sort_keys=True))

    def listing(self, detection: str) -> str:
        return ("Every event is logged: aws logs filter-log-events --region %s --log-group-name %s "
                "--filter-pattern '{ $.detection = \"%s\" }'" % (self.region, self.log_group, detection))

    def publish(self, digest: Digest) -> None:
        spec = self.specs[digest.detection]
        rows = digest.details(spec)
        first = rows[0] if rows else {}
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=subject(spec, digest, first),
            Message=body(spec, digest, rows, self.listing(digest.detection), self.auto_cancel),
            MessageAttributes={
                "detection": {"DataType": "String", "StringValue": digest.detection},
                "resource": {"DataType": "String", "StringValue": first.get(spec["resource"]) or MISSING},
                "count": {"DataType": "Number", "StringValue": str(digest.count)},
            })
        self.log(json.dumps({"notified": digest.detection, "count": digest.count}))


def from_environment() -> Notifier:
    import boto3  # in the Lambda runtime

    env = os.environ
    return Notifier(boto3.client("sns"), boto3.client("sqs"), boto3.client("dynamodb"),
                    topic_arn=env["TOPIC_ARN"], queue_url=env["EVENT_QUEUE_URL"], claim_table=env["CLAIM_TABLE"],
                    log_group=env.get("AWS_LAMBDA_LOG_GROUP_NAME", "(this function's log group)"),
                    region=env.get("AWS_REGION", ""), specs=SPECS, auto_cancel=env.get("AUTO_CANCEL", "Off"),
                    reminder_days=env.get("REMINDER_DAYS", "none"), account=env.get("ACCOUNT_ID", ""),
                    clients=boto3.client)


def handler(event: Mapping[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """Lambda entry point (``index.handler`` once CloudFormation writes the code inline)."""
    return from_environment().handle(event)
