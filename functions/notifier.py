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

``SPECS`` holds what to say about each detection; the build appends it from detections/messages.py.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

SPECS: dict[str, dict[str, Any]] = {}

MAX_DETAILS = 5  # events described in full in one digest
SUBJECT_LIMIT = 100  # SNS Subject: at most 100 printable ASCII characters
CLAIM_SECONDS = 60
CLAIM_TTL_SECONDS = 3600
CARRY_DELAY_SECONDS = 60  # SQS DelaySeconds: the carried events come back in the next minute
MISSING = "(not in the record)"
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
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1)) or MISSING, template)


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


def subject(spec: Mapping[str, Any], digest: Digest, first: Mapping[str, str | None]) -> str:
    text = render(spec["subject"], first)
    if digest.count > 1:
        text = f"[{digest.count}] {text}"
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= SUBJECT_LIMIT else text[:SUBJECT_LIMIT - 3] + "..."


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


class Notifier:
    """The handler's work, with its AWS clients and clock injected (tests pass moto's or stubs)."""

    def __init__(self, sns: Any, sqs: Any, dynamodb: Any, *, topic_arn: str, queue_url: str,
                 claim_table: str, log_group: str, region: str, specs: Mapping[str, Mapping[str, Any]],
                 clock: Callable[[], float] = time.time, log: Callable[[str], None] = print,
                 auto_cancel: str = "Off") -> None:
        self.sns, self.sqs, self.dynamodb = sns, sqs, dynamodb
        self.auto_cancel = auto_cancel
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
        minute = int(self.clock() // CLAIM_SECONDS)
        if not self.claim(digest.detection, minute):
            self.carry_over(digest)
            return
        try:
            self.publish(digest)
        except Exception:
            self.release(digest.detection, minute)  # the retry may send in this minute
            raise

    def claim(self, detection: str, minute: int) -> bool:
        """True when this invocation may send ``detection``'s digest in ``minute``."""
        try:
            self.dynamodb.put_item(
                TableName=self.claim_table,
                Item={"claim": {"S": f"{detection}#{minute}"},
                      "expires": {"N": str(minute * CLAIM_SECONDS + CLAIM_TTL_SECONDS)}},
                ConditionExpression="attribute_not_exists(claim)")
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, detection: str, minute: int) -> None:
        try:
            self.dynamodb.delete_item(TableName=self.claim_table, Key={"claim": {"S": f"{detection}#{minute}"}})
        except Exception as error:  # noqa: BLE001 - the claim expires with the minute anyway
            self.log(json.dumps({"release failed": detection, "error": repr(error)}))

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
                    region=env.get("AWS_REGION", ""), specs=SPECS, auto_cancel=env.get("AUTO_CANCEL", "Off"))


def handler(event: Mapping[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """Lambda entry point (``index.handler`` once CloudFormation writes the code inline)."""
    return from_environment().handle(event)
