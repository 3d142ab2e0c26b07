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

With ``AUTO_CANCEL`` Tagged or All (the workload's AutoCancelOnUse), a use of a key pending deletion
or a read of a secret scheduled for deletion also cancels that deletion (CancelKeyDeletion,
RestoreSecret): only for a use, on the key the refusal names, once per resource per CANCEL_SECONDS
(a claim in the same table), and the alert that describes the use says what the call did.

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
# SNS Publish Subject: "less than 100 characters" (API reference); AWS is reported to accept exactly 100
# (moto issue 1503). 99 is within both readings.
SUBJECT_LIMIT = 99
CHAT_DESCRIPTION_LIMIT = 3500  # well inside a chat message; the email carries everything
CHAT_STEPS = 5
CLAIM_SECONDS = 60
CLAIM_TTL_SECONDS = 3600
SQS_MESSAGE_BYTES = 262_144  # 256 KiB: SQS's long-standing maximum message size, within any queue's setting
# What a carried event keeps when the whole record does not fit: who, what, where, the error.
CARRIED_DETAIL = ("eventSource", "eventName", "eventTime", "awsRegion", "recipientAccountId", "userIdentity",
                  "errorCode", "errorMessage", "resources", "sourceIPAddress")
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
DEFAULT_WINDOW_DAYS = 30  # ScheduleKeyDeletion and DeleteSecret without a window (API references)
# Every AWS call is bounded, well inside the function's 60 s (botocore's defaults are 60 s each and a
# pool of 10 connections, fewer than the describing threads).
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 8
MAX_ATTEMPTS = 2  # in all, the first included (botocore's total_max_attempts): at worst 22 s a call
RESERVE_SECONDS = 25  # start no read with less time left than one call may take at worst
LEASE_SECONDS = 90  # longer than the function's timeout: a claim held by a killed run lapses
METRIC_NAMESPACE = "DeletionAlarms"  # the notifier's own metrics, written as embedded metric format
# AutoCancelOnUse: one cancel (or restore) per key or secret per CANCEL_SECONDS, however many uses and
# invocations; at most MAX_CANCELS calls per digest (CancelKeyDeletion's request quota is 5 a second).
# Who used a key scheduled for deletion (KMS guide: determine a key's past usage from CloudTrail before
# deleting it): its event history, LookupEvents by resource, 50 events a page, 2 requests a second.
USE_PAGES = 6
USE_HISTORY_DAYS = 90  # what event history keeps
USE_SHOWN = 3
# The daily reminder: who tried to use each due key or secret since it was scheduled, for the first
# MAX_SINCE due, SINCE_PAGES pages of history each (LookupEvents: 2 requests a second).
MAX_SINCE = 10
SINCE_PAGES = 2
SECRET_PAGES = 10  # ListSecrets pages of 100 read to find the secrets encrypted under a key
# ASFF Types taxonomy (Security Hub user guide): the loss of a key or secret destroys the data under it.
FINDING_TYPES = ("Effects/Data Destruction",)
SCHEDULING_CALLS = ("ScheduleKeyDeletion", "DeleteSecret")  # the calls that start a deletion's waiting period
CANCEL_SECONDS = 300
MAX_CANCELS = 10
AUTO_CANCEL_MODES = ("Tagged", "All")
DENIED_CODES = ("AccessDenied", "AccessDeniedException")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PATH_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


def error_code(error: BaseException) -> str:
    """An AWS error's code (botocore's ClientError), else the exception's type."""
    return getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__


def plural(count: int, one: str, many: str | None = None) -> str:
    """``count`` and its noun, singular for exactly 1 (this function imports nothing of the package)."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


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
    """The first of ``sources`` present (and matching, for a source with a regex) in ``event``. A
    source ``{"value": V}`` is a default; ``join`` renders a list (each item through ``each``)."""
    for source in sources:
        if "value" in source:
            return source["value"]
        value = json_path(event, source["path"])
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list) and "join" in source:
            text = source["join"].join(source.get("each", "%s") % (v if isinstance(v, str) else json.dumps(v))
                                       for v in value)
        else:
            text = value if isinstance(value, str) else json.dumps(value)
        if "match" in source:
            found = re.search(source["match"], text)
            if not found:
                continue
            text = found.group(1)
        return _CONTROL.sub(" ", text)
    return None


def render(template: str, values: Mapping[str, str | None]) -> str:
    """``template`` with each ``{name}`` replaced; MISSING where a value is absent (callers that must
    not show it use :func:`render_if`)."""
    def value(name: str) -> str:
        found = values.get(name)
        return MISSING if found is None else found

    return re.sub(r"\{(\w+)\}", lambda m: value(m.group(1)), template)


def render_if(template: str, values: Mapping[str, str | None]) -> str | None:
    """``template`` rendered when every value it names is present (and not empty), else None."""
    names = re.findall(r"\{(\w+)\}", template)
    return render(template, values) if all(values.get(n) for n in names) else None


def render_line(parts: list[str], values: Mapping[str, str | None]) -> str | None:
    """One detail line: its parts whose values are all present, or None when none is."""
    shown = [text for text in (render_if(part, values) for part in parts) if text]
    return "   ".join(shown) if shown else None


def holds(value: str | None, condition: Any) -> bool:
    """An outcome's condition on one field: "present", "absent", or a list of accepted values."""
    if condition == "present":
        return value is not None
    if condition == "absent":
        return value is None
    return value in condition


def choose_outcome(spec: Mapping[str, Any], values: Mapping[str, str | None]) -> dict[str, Any]:
    """What the record says happened: the first of the spec's outcomes whose conditions hold."""
    for candidate in spec["outcomes"]:
        if all(holds(values.get(name), condition) for name, condition in candidate["when"].items()):
            return candidate
    return {"name": "Other", "rank": 9, "headline": spec["title"], "meaning": "", "what_to_do": "",
            "when": {}, "undo": [], "undo_label": "Undo", "pending": False}


@dataclass
class Row:
    """One described event: its field values (from the record, then from the notifier's reads) and
    what happened."""

    values: dict[str, str | None]
    outcome: dict[str, Any]
    event: dict[str, Any] | None = None  # the EventBridge event it describes

    @property
    def headline(self) -> str:
        return render_if(self.outcome["headline"], self.values) or re.sub(r"\s*\{\w+\}", "", self.outcome["headline"])


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

    def details(self, spec: Mapping[str, Any]) -> list[Row]:
        """The events to describe: distinct (resource, caller, outcome) first, the worst outcome first."""
        rows = []
        for event in self.events:
            values = {name: field_value(event, sources) for name, sources in spec["fields"].items()}
            rows.append(Row(values, choose_outcome(spec, values), event))
        seen: set[tuple[Any, ...]] = set()
        first, rest = [], []
        for row in rows:
            key = (row.values.get(spec["resource"]), row.values.get("caller"), row.outcome["name"])
            (rest if key in seen else first).append(row)
            seen.add(key)
        return sorted(first, key=lambda r: r.outcome["rank"])[:MAX_DETAILS] + rest[:max(0, MAX_DETAILS - len(first))]


def sns_subject(text: str) -> str:
    """``text`` as SNS takes a Subject: printable ASCII, one line, at most SUBJECT_LIMIT characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= SUBJECT_LIMIT else text[:SUBJECT_LIMIT - 3] + "..."


def short_name(spec: Mapping[str, Any], values: Mapping[str, str | None]) -> str:
    """What a person knows the resource by: a key's alias, else its key ID; a secret's name."""
    if spec["service"] == "kms":
        if values.get("aliases"):
            return str(values["aliases"]).split(", ")[0]
        key = values.get("key") or values.get("keyStore")
        return key.rsplit("/", 1)[-1] if key else "unknown key"
    return values.get("secretName") or values.get("secret") or "unknown secret"


def shorten(text: str, room: int) -> str:
    """``text`` in at most ``room`` characters, cut in the middle (both ends of a name tell)."""
    if len(text) <= room:
        return text
    head = (room - 3 + 1) // 2
    return text[:head] + "..." + text[len(text) - (room - 3 - head):]


def subject(spec: Mapping[str, Any], digest: Digest, first: Row) -> str:
    """What happened, to what, where: ``[count] <outcome>: <name> (<account> <region>)``. The name is
    shortened, never the account and Region, so an inbox's subject column says all of it."""
    values = first.values
    prefix = f"[{digest.count}] " if digest.count > 1 else ""
    where = f" ({values.get('account') or '?'} {values.get('region') or '?'})"
    head = f"{prefix}{first.headline}: "
    room = max(SUBJECT_LIMIT - len(head) - len(where), 12)
    return sns_subject(head + shorten(sns_subject(short_name(spec, values)), room) + where)


def undo_lines(row: Row, own_account: str) -> list[str]:
    """The commands that undo what this event did, each naming the resource, for THIS outcome."""
    commands = [render_if(c, row.values) for c in row.outcome["undo"]]
    if not commands:
        return []
    label = row.outcome["undo_label"]
    account = row.values.get("account")
    if account and own_account and account != own_account:
        label += f" (with credentials of account {account})"
    if not all(commands):
        return [f"{label}: the record does not name the key or secret; see What to do."]
    return [f"{label}: {commands[0]}", *[" " * (len(label) + 2) + c for c in commands[1:]]]


def body(spec: Mapping[str, Any], digest: Digest, rows: list[Row], listing: str, own_account: str = "") -> str:
    """The email: what happened to what and where, each described event with its undo, what each
    outcome means and what to do, and where every event is listed."""
    count = f"{digest.count} event" + ("s" if digest.count != 1 else "")
    if digest.carried:
        count += f" ({digest.carried} of them held back from earlier minutes, to send one email a minute)"
    top = rows[0] if rows else None
    out = [(top.headline if top else spec["title"]).upper(), ""]
    if top:
        where = render_if(" in account {account}, Region {region}", top.values) or ""
        out.append(f"{short_name(spec, top.values)}{where}. {count}.")
    else:
        out.append(f"{count}.")
    failed = sum(1 for row in rows if row.values.get("autoCancelFailed"))
    if failed:  # the one thing a person must do by hand comes first
        out += ["", f"AUTOMATIC CANCEL FAILED for {failed} of the events below: run its undo commands by hand."]
    if digest.count > len(rows):
        out.append(f"The first {len(rows)} (distinct keys or secrets, callers and outcomes first):")
    for i, row in enumerate(rows, 1):
        lines = [row.headline] + [text for text in (render_line(line, row.values) for line in spec["lines"]) if text]
        lines += undo_lines(row, own_account)
        out.append("")
        out += [(f"{i}. " if j == 0 else "   ") + text for j, text in enumerate(lines)]
    seen: set[str] = set()
    for row in rows:  # each outcome's meaning and what to do, once
        o = row.outcome
        if o["name"] in seen or not o["meaning"]:
            continue
        seen.add(o["name"])
        out += ["", f"{row.headline}: {o['meaning']}", f"What to do: {o['what_to_do']}"]
    out += ["", listing]
    return "\n".join(out)


def chat_message(subject_text: str, text: str, next_steps: list[str], keywords: list[str]) -> str:
    """The same alert as AWS Chatbot (Amazon Q Developer in chat applications) renders it: its
    custom-notification schema (admin guide, custom-notifs); plain text never reaches a channel."""
    # In a code block: ARNs and role names hold "_" and "*", which chat markdown would take for emphasis.
    body_text = text if len(text) <= CHAT_DESCRIPTION_LIMIT else (
        text[:CHAT_DESCRIPTION_LIMIT - 40] + "\n... (the rest is in the email)")
    description = "```\n" + body_text.replace("`", "'") + "\n```"
    return json.dumps({"version": "1.0", "source": "custom", "content": {
        "textType": "client-markdown", "title": subject_text, "description": description,
        "nextSteps": [f"`{step}`" for step in next_steps[:CHAT_STEPS]],
        "keywords": [k for k in keywords if k][:CHAT_STEPS]}}, sort_keys=True)


TEXT_PROTOCOLS = ("email", "email-json", "sqs", "lambda", "firehose", "http")


def per_protocol(subject_text: str, text: str, next_steps: list[str], keywords: list[str]) -> str:
    """SNS MessageStructure=json (Publish reference): email, SQS, Lambda, Firehose and HTTP get the
    text; SMS the subject alone; HTTPS, which is how AWS Chatbot subscribes a channel, and any
    protocol not named ("default") the custom notification. Whether Chatbot's subscription is HTTPS is
    UNCONFIRMED in its guide: "default" carries the chat form so that either answer reaches a channel."""
    chat = chat_message(subject_text, text, next_steps, keywords)
    return json.dumps({"default": chat, "https": chat, "sms": subject_text,
                       **{protocol: text for protocol in TEXT_PROTOCOLS}})


# CloudTrail writes responseElements.deletionDate in more than one form; AWS's own samples include
# "Dec 5, 2026, 2:03:27 PM", "May 3, 2018 5:51:02 PM" (Secrets Manager guide) and
# "Apr 12, 2021 18:58:30 PM" (KMS guide, ct-schedule-key-deletion: a 24-hour clock with PM). UTC.
_CLOUDTRAIL_DATE = re.compile(
    r"^(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2}), (?P<year>\d{4}),? (?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r":(?P<second>\d{2})(?: (?P<half>[AP]M))?$")
_MONTHS = {m: i for i, m in enumerate(("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split(), 1)}


def cloudtrail_date(text: str) -> datetime:
    """A CloudTrail deletionDate in any of its documented forms, as UTC; ValueError otherwise."""
    found = _CLOUDTRAIL_DATE.match(text.strip())
    if not found or found["month"] not in _MONTHS:
        raise ValueError(f"not a CloudTrail date: {text!r}")
    hour = int(found["hour"])
    if found["half"] and hour <= 12:  # a 12-hour clock; "18:58:30 PM" is already 24-hour
        hour = hour % 12 + (12 if found["half"] == "PM" else 0)
    return datetime(int(found["year"]), _MONTHS[found["month"]], int(found["day"]), hour,
                    int(found["minute"]), int(found["second"]), tzinfo=timezone.utc)


def utc(value: Any) -> datetime:
    """A time from boto3 (datetime, naive or aware), an epoch number, ISO 8601 or one of CloudTrail's
    deletionDate forms, as an aware UTC datetime. ValueError when it is none of these."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return cloudtrail_date(text)
    return utc(parsed)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def time_left(deletion: datetime, now: datetime) -> str:
    """"6 days 23 hours", "5 hours", or "no time: the date has passed"."""
    hours = int((deletion - now).total_seconds() // 3600)
    if hours < 0:
        return "no time: the date has passed"
    days, hours = divmod(hours, 24)
    parts = ([f"{days} day" + ("s" if days != 1 else "")] if days else []) + \
        ([f"{hours} hour" + ("s" if hours != 1 else "")] if hours or not days else [])
    return " ".join(parts)


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

    resource: str  # "key", "secret", or "material": a key whose imported key material expires (ValidTo)
    arn: str
    name: str
    state: str
    deletion: datetime | None
    date_source: str = ""  # where the deletion date came from, when it is not the service's own answer
    caller: str = ""
    scheduled_at: str = ""
    used_since: str = ""  # who tried to use it since it was scheduled (its event history), in one line

    def values(self, account: str, region: str, day: date) -> dict[str, str | None]:
        field = "key" if self.resource == "material" else self.resource
        return {"account": account, "region": region, field: self.arn, "name": self.name or None,
                "state": self.state, "deletion": iso(self.deletion) if self.deletion else None,
                "days": plural(days_until(self.deletion, day), "day") if self.deletion else None,
                "caller": self.caller or "not found in the CloudTrail event history read",
                "scheduledAt": self.scheduled_at or None, "dateSource": self.date_source or None,
                "usedSince": self.used_since or None}


@dataclass
class Scheduling:
    """The last successful ScheduleKeyDeletion or DeleteSecret of a resource, from event history."""

    caller: str
    at: datetime
    deletion: datetime | None
    force: bool
    date_note: str = ""  # set when the date was computed, not read from the record


def scheduled_deletion(text: Any, at: datetime, request: Mapping[str, Any]) -> tuple[datetime | None, str]:
    """The deletion date of a scheduling record: its responseElements.deletionDate in any documented
    form; else the event time plus the window it asked for (30 days when it named none), said so."""
    if text:
        try:
            return utc(text), ""
        except (ValueError, TypeError, OverflowError):
            pass
    if request.get("forceDeleteWithoutRecovery") is True:
        return at, ""
    window = request.get("pendingWindowInDays") or request.get("recoveryWindowInDays") or int(DEFAULT_WINDOW_DAYS)
    try:
        days = int(window)
    except (TypeError, ValueError):
        return None, ""
    return at + timedelta(days=days), f"computed: event time + {days} days" + (
        f" (the record's date {text!r} did not parse)" if text else "")


@dataclass
class ResourceHistory:
    """One key's or secret's CloudTrail event history (LookupEvents by its ARN), newest first, as far
    as it was read. The alert and the inventory both answer "who used it" from it."""

    events: list[dict[str, Any]]
    complete: bool  # every page was read

    def oldest(self) -> datetime | None:
        times = [utc(e["EventTime"]) for e in self.events if e.get("EventTime")]
        return min(times) if times else None


def resource_history(cloudtrail: Any, arn: str, now: datetime, pages: int = USE_PAGES) -> ResourceHistory:
    """The last USE_HISTORY_DAYS days of ``arn``'s event history, at most ``pages`` pages of 50
    (LookupEvents answers 2 requests a second per account and Region): its errors are the caller's."""
    events: list[dict[str, Any]] = []
    paginator = cloudtrail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": arn}],
        StartTime=now - timedelta(days=USE_HISTORY_DAYS), EndTime=now)
    for n, page in enumerate(paginator, 1):
        events += page.get("Events", [])
        if n == pages:  # the last page allowed: more only if it says so (no request spent to find out)
            return ResourceHistory(events, not page.get("NextToken"))
    return ResourceHistory(events, True)


def record_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudTrail record inside one LookupEvents entry ({} when it is not JSON)."""
    try:
        record = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def caller_of(record: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    """Who made a call: the identity's ARN, else the service that made it, else event history's user name."""
    identity = record.get("userIdentity") or {}
    return identity.get("arn") or identity.get("invokedBy") or event.get("Username") or ""


def uses_by_principal(history: ResourceHistory, uses: Iterable[str],
                      after: datetime | None = None) -> dict[str, dict[str, int]]:
    """The calls in ``history`` that are a use (``uses``: detections/operations.py), by principal and
    operation; only those later than ``after`` when it is given (a refused use counts: it is a need)."""
    uses = set(uses)
    counts: dict[str, dict[str, int]] = {}
    for event in history.events:
        name = event.get("EventName")
        if name not in uses or (after is not None and utc(event["EventTime"]) <= after):
            continue
        per = counts.setdefault(caller_of(record_of(event), event) or "unknown", {})
        per[name] = per.get(name, 0) + 1
    return counts


def use_summary(history: ResourceHistory, uses: Iterable[str], nothing: str, after: datetime | None = None) -> str:
    """Who used it, in one line: the busiest principals first, how far the history was read, and
    ``nothing`` (what no use means for this kind of resource) when no call was a use; with ``after``,
    only the uses since then (since it was scheduled: each was refused, and each is a need)."""
    counts = uses_by_principal(history, uses, after)
    oldest = history.oldest()
    if not history.events:
        # Either nothing named it, or event history does not index its calls by ARN (UNCONFIRMED for
        # secrets): both are said, since they call for different things.
        return (f"no event in the last {USE_HISTORY_DAYS} days of CloudTrail event history names it (nothing "
                "called it, or event history does not find its calls by ARN: check the trail)")
    partial = not history.complete and oldest is not None and (after is None or oldest > after)
    if after is not None:
        scope = f"since it was scheduled ({iso(after)} UTC)" + (
            f", in the newest {plural(len(history.events), 'event')} of its history (the rest not read)"
            if partial else "")
    elif partial:
        scope = (f"in the newest {plural(len(history.events), 'event')} of its history, back to {iso(oldest)} UTC "
                 "(the rest not read)")
    else:
        scope = f"in the last {USE_HISTORY_DAYS} days of CloudTrail event history"
    if not counts:
        return f"no use {scope}: {nothing}"
    ranked = sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    total = sum(sum(per.values()) for _, per in ranked)
    shown = "; ".join(f"{who} ({', '.join(f'{name} {count:,}' for name, count in sorted(per.items()))})"
                      for who, per in ranked[:USE_SHOWN])
    others = f"; and {plural(len(ranked) - USE_SHOWN, 'other principal')}" if len(ranked) > USE_SHOWN else ""
    return f"{plural(total, 'use')} by {plural(len(ranked), 'principal')} {scope}: {shown}{others}"


def secret_keys(secrets: Any, pages: int = SECRET_PAGES) -> tuple[list[dict[str, Any]], bool]:
    """Every secret of the client's Region with the key it is encrypted under (ListSecrets, those
    scheduled for deletion included), at most ``pages`` pages of 100, and whether all were read."""
    entries: list[dict[str, Any]] = []
    for n, page in enumerate(secrets.get_paginator("list_secrets").paginate(
            IncludePlannedDeletion=True, PaginationConfig={"PageSize": 100}), 1):
        entries += page.get("SecretList", [])
        if n == pages:
            return entries, not page.get("NextToken")
    return entries, True


def encrypted_under(entries: Iterable[Mapping[str, Any]], key_arn: str, aliases: Iterable[str]) -> list[str]:
    """The names of the secrets whose KmsKeyId is this key, in any of the forms DescribeSecret documents
    (key ID, key ARN, alias name or alias ARN). A secret with no KmsKeyId uses aws/secretsmanager."""
    prefix = key_arn.split(":key/")[0]
    names = {key_arn, key_arn.rsplit("/", 1)[-1]}
    for alias in aliases:
        names |= {alias, f"{prefix}:{alias}"}
    return sorted(e.get("Name") or e.get("ARN", "") for e in entries if e.get("KmsKeyId") in names)


def secrets_summary(found: list[str], listed: int, complete: bool) -> str:
    """Which secrets a key's loss makes unreadable, in one line; the good news plainly too."""
    scope = f"{plural(listed, 'secret')} in this Region" + ("" if complete else " listed (the rest not read)")
    if not found:
        return f"none of the {scope}"
    shown = ", ".join(found[:USE_SHOWN]) + (f" and {len(found) - USE_SHOWN:,} more" if len(found) > USE_SHOWN else "")
    return (f"{len(found):,} of the {scope}: {shown} (Secrets Manager cannot decrypt them while the key is "
            "disabled, nor ever once it is deleted)")


def scheduling_of(event: Mapping[str, Any]) -> tuple[str, Scheduling] | None:
    """The resource and the scheduling of one LookupEvents entry of a successful ScheduleKeyDeletion
    or DeleteSecret; None for anything else (a refused call schedules nothing)."""
    if event.get("EventName") not in SCHEDULING_CALLS:
        return None
    record = record_of(event)
    if not record or record.get("errorCode"):
        return None
    response = record.get("responseElements") or {}
    request = record.get("requestParameters") or {}
    arn = response.get("keyId") or response.get("aRN") or response.get("arn") or request.get("secretId")
    if not arn:
        return None
    try:
        at = utc(record.get("eventTime") or event["EventTime"])
    except (ValueError, KeyError, TypeError, OverflowError):
        return None
    deletion, note = scheduled_deletion(response.get("deletionDate"), at, request)
    return arn, Scheduling(caller_of(record, event), at, deletion, bool(request.get("forceDeleteWithoutRecovery")),
                           note)


def scheduling_history(cloudtrail: Any, now: datetime, budget_seconds: float = HISTORY_BUDGET_SECONDS,
                       clock: Callable[[], float] = time.monotonic,
                       days: int = HISTORY_DAYS) -> tuple[dict[str, Scheduling], bool]:
    """The last successful scheduling call of each key and secret in the last ``days`` days, by ARN
    (CloudTrail LookupEvents: management events, kept 90 days in every account), and whether all
    of it was read: LookupEvents answers 2 requests a second per account and Region, so an account
    that deletes a lot is read for ``budget_seconds`` only, within the function's timeout. The daily
    check and ``deletion-alarms inventory`` both call it."""
    found: dict[str, Scheduling] = {}
    ends = clock() + budget_seconds
    for name in SCHEDULING_CALLS:
        for page in cloudtrail.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
                StartTime=now - timedelta(days=days), EndTime=now):
            if clock() > ends:
                return found, False
            for event in page.get("Events", []):
                scheduled = scheduling_of(event)
                if scheduled and (scheduled[0] not in found or found[scheduled[0]].at < scheduled[1].at):
                    found[scheduled[0]] = scheduled[1]
    return found, True


def pending_keys(kms: Any, stop: Callable[[], bool] = lambda: False) -> tuple[list[AtRisk], int]:
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
        if stop():  # little time left: counted as not described, and the email says so
            return None
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
            elif expires(meta):
                # Imported key material with an expiration date (DescribeKey ValidTo): KMS deletes it
                # then and the key turns PendingImport, unusable until the same material is imported again.
                found.append(AtRisk("material", meta["Arn"], ", ".join(sorted(aliases.get(key_id, []))),
                                    meta["KeyState"], utc(meta["ValidTo"])))
    return found, undescribed


def expires(meta: Mapping[str, Any]) -> bool:
    """A key whose imported key material still works and has an expiration date (DescribeKey:
    ExpirationModel KEY_MATERIAL_EXPIRES, ValidTo): once it passes, the key cannot be used."""
    return (meta.get("ExpirationModel") == "KEY_MATERIAL_EXPIRES" and bool(meta.get("ValidTo"))
            and meta.get("KeyState") not in ("PendingImport", *PENDING_KEY_STATES))


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


def carried_body(digest: Digest) -> str:
    """The carry-over entry: the count, and as many of the first events as fit in one SQS message
    (SQS refuses a body over 256 KiB; one CloudTrail event may be close to that alone)."""
    kept: list[dict[str, Any]] = []
    for event in digest.events[:MAX_DETAILS]:
        body_text = json.dumps({"detection": digest.detection, "carried": digest.count, "events": kept + [event]},
                               sort_keys=True)
        if len(body_text.encode()) > SQS_MESSAGE_BYTES and kept:
            break
        kept.append(event)
    body_text = json.dumps({"detection": digest.detection, "carried": digest.count, "events": kept}, sort_keys=True)
    if len(body_text.encode()) > SQS_MESSAGE_BYTES:  # one event alone too large: keep what names it
        detail = {k: v for k, v in (kept[0].get("detail") or {}).items() if k in CARRIED_DETAIL}
        body_text = json.dumps({"detection": digest.detection, "carried": digest.count,
                                "events": [{**kept[0], "detail": detail}]}, sort_keys=True)
    return body_text


class Notifier:
    """The handler's work, with its AWS clients and clock injected (tests pass moto's or stubs)."""

    def __init__(self, sns: Any, sqs: Any, dynamodb: Any, *, topic_arn: str, queue_url: str,
                 claim_table: str, log_group: str, region: str, specs: Mapping[str, Mapping[str, Any]],
                 clock: Callable[[], float] = time.time, log: Callable[[str], None] = print,
                 auto_cancel: str = "Off", reminder_days: str = "none", account: str = "",
                 clients: Callable[..., Any] | None = None, function_name: str = "",
                 remaining: Callable[[], float] = lambda: float("inf"), security_hub: str = "Disabled") -> None:
        self.sns, self.sqs, self.dynamodb = sns, sqs, dynamodb
        self.security_hub = security_hub == "Enabled"
        self.auto_cancel = auto_cancel
        self.reminder_days, self.account = parse_days(reminder_days), account
        # clients(service, region=None): kms, secretsmanager, cloudtrail, for the reads an alert and the
        # daily check make; None: no reads (the email says only what the record says).
        self.clients = clients
        self.topic_arn, self.queue_url, self.claim_table = topic_arn, queue_url, claim_table
        self.log_group, self.region, self.specs = log_group, region, specs
        self.clock, self.log = clock, log
        self.function_name, self.remaining = function_name, remaining
        self.cancels: dict[str, tuple[str, str]] = {}  # AutoCancelOnUse: resource -> (status, what it says)

    def handle(self, batch: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Process one batch; return the entries to retry (Lambda's partial batch response)."""
        digests: dict[str, Digest] = {}
        failed: list[str] = []
        self.cancels = {}
        rejected = 0
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
            problem = self.untrusted(name, events)
            if problem:  # not written by our rules or this function: logged and counted, never sent
                self.log(json.dumps({"rejected": message_id, "why": problem, "body": record.get("body")}))
                rejected += 1
                continue
            if not carried:  # persisted before anything else: the listing command finds it
                self.log(json.dumps({"detection": name, "messageId": message_id, "event": entry["event"]},
                                    sort_keys=True))
            digests.setdefault(name, Digest(name)).add(events, count, message_id, carried)
        # Alerts first: the daily check (the reminder) may take most of the function's time.
        for digest in sorted(digests.values(), key=lambda d: d.detection == REMINDER):
            try:
                self.notify(digest)
            except Exception as error:  # noqa: BLE001 - any failure: retry these entries later
                self.log(json.dumps({"failed": digest.detection, "error": repr(error)}))
                failed += digest.message_ids
        self.metrics(FailedEntries=len(failed), RejectedEntries=rejected)
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    def untrusted(self, name: str, events: Any) -> str:
        """Why an entry was not written by our rules (or carried over by this function), or "".
        A rule's entry holds an EventBridge event of its detection's service; the reminder's, the
        schedule's event."""
        if not isinstance(events, list) or not events or not all(isinstance(e, dict) for e in events):
            return "no events"
        if name == REMINDER:
            ok = all(e.get("source") == "aws.events" and e.get("detail-type") == "Scheduled Event" for e in events)
            return "" if ok else "a reminder entry that is not a scheduled event"
        service = self.specs[name].get("service")
        source = f"{service}.amazonaws.com"
        if not all(isinstance(e.get("detail"), dict) and e["detail"].get("eventSource") == source for e in events):
            return f"an event that is not a CloudTrail record of {source}"
        return ""

    def metrics(self, **counts: int) -> None:
        """The notifier's own counts as CloudWatch embedded metric format (one log line, no API call,
        no endpoint needed in a VPC); only non-zero counts are written. An alarm watches FailedEntries."""
        counts = {name: value for name, value in counts.items() if value}
        if not counts or not self.function_name:
            return
        self.log(json.dumps({"_aws": {"Timestamp": int(self.clock() * 1000), "CloudWatchMetrics": [{
            "Namespace": METRIC_NAMESPACE, "Dimensions": [["FunctionName"]],
            "Metrics": [{"Name": name, "Unit": "Count"} for name in counts]}]},
            "FunctionName": self.function_name, **counts}, sort_keys=True))

    def notify(self, digest: Digest) -> None:
        if digest.detection == REMINDER:
            self.remind(digest)
            return
        # Before the minute's claim: a digest held back for the next minute still cancels now.
        self.cancel_on_use(self.specs[digest.detection], digest)
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

    def claim(self, claim: str, expires: int, lease: int | None = None) -> bool:
        """True when this invocation is the first to claim ``claim`` (a detection's minute, a day's
        reminder, a secret's final notice). An expired claim counts as absent (DynamoDB's TTL deletes
        items only some time after they expire). With ``lease``, the claim is held for that many
        seconds until :meth:`done`: a run killed by its timeout (no except or finally runs) leaves a
        claim that lapses, and the redelivered entry does the work."""
        now = int(self.clock())
        item = {"claim": {"S": claim}, "expires": {"N": str(expires)}}
        condition = "attribute_not_exists(claim) OR expires < :now"
        values = {":now": {"N": str(now)}}
        if lease is not None:
            item.update({"state": {"S": "leased"}, "lease": {"N": str(now + lease)}})
            condition += " OR (#state = :leased AND lease < :now)"
            values[":leased"] = {"S": "leased"}
        try:
            self.dynamodb.put_item(
                TableName=self.claim_table, Item=item, ConditionExpression=condition,
                ExpressionAttributeValues=values, **({"ExpressionAttributeNames": {"#state": "state"}} if lease else {}))
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def done(self, claim: str, result: str = "") -> None:
        """The work of a leased claim is done: keep it (and what it came to) until it expires."""
        values = {":done": {"S": "done"}, **({":result": {"S": result}} if result else {})}
        self.dynamodb.update_item(TableName=self.claim_table, Key={"claim": {"S": claim}},
                                  UpdateExpression="SET #state = :done" + (", #result = :result" if result else "")
                                  + " REMOVE lease",
                                  ExpressionAttributeNames={"#state": "state", **({"#result": "result"} if result else {})},
                                  ExpressionAttributeValues=values)

    def release(self, claim: str) -> None:
        try:
            self.dynamodb.delete_item(TableName=self.claim_table, Key={"claim": {"S": claim}})
        except Exception as error:  # noqa: BLE001 - the claim expires anyway
            self.log(json.dumps({"release failed": claim, "error": repr(error)}))

    # ------------------------------------------------------------------ AutoCancelOnUse
    def cancel_target(self, spec: Mapping[str, Any], event: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """(resource, Region, account) of a use this stack cancels on, or None for any other call. The
        resource is "" when the record does not say which one is pending deletion: ReEncrypt lists two
        keys, and only the refusal's message names the pending one (KMS guide, ct-reencrypt)."""
        fields = spec["fields"]
        name = field_value(event, fields["eventName"])
        if name not in spec.get("auto_cancel_operations", ()):
            return None
        exact = spec.get("auto_cancel_exact") or {}
        sources = exact["sources"] if name in exact.get("operations", ()) else fields[spec["resource"]]
        return (field_value(event, sources) or "", field_value(event, fields["region"]) or self.region,
                field_value(event, fields["account"]) or "")

    def cancel_on_use(self, spec: Mapping[str, Any], digest: Digest) -> None:
        """AutoCancelOnUse: cancel the deletion of each key (restore each secret) that a use in this
        digest names, in this account; once per CANCEL_SECONDS per resource, however many uses and
        invocations (a claim), so an application that retries a thousand times makes one call. The
        result is kept with the claim: the alert that describes the use says it, whichever run sends it."""
        texts = spec.get("auto_cancel") or {}
        if self.auto_cancel not in AUTO_CANCEL_MODES or not texts or self.clients is None:
            return
        targets: dict[str, str] = {}
        for event in digest.events:
            found = self.cancel_target(spec, event)
            if found and found[0] and (not self.account or not found[2] or found[2] == self.account):
                targets.setdefault(found[0], found[1])
        for n, (resource, region) in enumerate(targets.items()):
            if resource in self.cancels:
                continue
            if n >= MAX_CANCELS or self.time_is_short():
                self.cancels[resource] = ("failed", texts["skipped"].format(limit=MAX_CANCELS))
                continue
            claim = f"cancel#{resource}"
            if not self.claim(claim, int(self.clock()) + CANCEL_SECONDS, lease=LEASE_SECONDS):
                continue  # made, or under way, in another run: the alert reads its result
            self.cancels[resource] = self.cancel(spec, texts, resource, region)
            self.done(claim, "|".join(self.cancels[resource]))

    def cancel(self, spec: Mapping[str, Any], texts: Mapping[str, str], resource: str, region: str) -> tuple[str, str]:
        """Make the one call (CancelKeyDeletion or RestoreSecret): (status, what the alert says)."""
        call, at = texts["call"], utc(self.clock()).strftime("%H:%M")
        try:
            if spec["service"] == "kms":
                self.clients("kms", region).cancel_key_deletion(KeyId=resource)
            else:
                self.clients("secretsmanager", region).restore_secret(SecretId=resource)
        except Exception as error:  # noqa: BLE001 - any failure is said in the alert, with the way by hand
            code = error_code(error)
            message = getattr(error, "response", {}).get("Error", {}).get("Message") or ""
            detail = f"{call}: {code}" + (f": {message}" if message else "")
            self.log(json.dumps({"auto-cancel failed": resource, "call": call, "error": repr(error)}))
            if "already" in texts and code == "KMSInvalidStateException" and "is not pending deletion" in message:
                return "already", texts["already"].format(error=detail)
            if code in DENIED_CODES and self.auto_cancel == "Tagged":
                return "refused", texts["refused"].format(error=detail)
            return "failed", texts["failed"].format(call=call, error=detail)
        self.log(json.dumps({"auto-cancel": resource, "call": call}))
        return "done", texts["done"].format(mode=self.auto_cancel, at=at)

    def cancel_result(self, texts: Mapping[str, str], resource: str) -> tuple[str, str] | None:
        """What became of the cancel of ``resource``: this run's, or another's within CANCEL_SECONDS."""
        if resource in self.cancels:
            return self.cancels[resource]
        try:
            item = self.dynamodb.get_item(TableName=self.claim_table, Key={"claim": {"S": f"cancel#{resource}"}},
                                          ConsistentRead=True).get("Item")
        except Exception as error:  # noqa: BLE001 - the alert goes out; the line says what is not known
            self.log(json.dumps({"cancel result not read": resource, "error": repr(error)}))
            return "unknown", texts["unknown"].format(call=texts["call"])
        now = int(self.clock())
        if not item or int(item["expires"]["N"]) < now:
            return None
        if "result" not in item:
            started = int(item["expires"]["N"]) - CANCEL_SECONDS
            return "underway", texts["underway"].format(call=texts["call"], at=utc(started).strftime("%H:%M"))
        status, _, text = item["result"]["S"].partition("|")
        return status, texts["earlier"].format(result=text)

    def describe_cancel(self, spec: Mapping[str, Any], row: Row) -> None:
        """The row's line about the automatic cancel: what it did, or why it did not act."""
        texts = spec.get("auto_cancel") or {}
        if self.auto_cancel not in AUTO_CANCEL_MODES or not texts or row.event is None:
            return
        found = self.cancel_target(spec, row.event)
        if found is None:
            row.values["autoCancel"] = texts["not_a_use"].format(mode=self.auto_cancel)
            return
        resource, _, account = found
        if not resource:
            row.values["autoCancel"] = texts["unnamed"]
        elif self.account and account and account != self.account:
            row.values["autoCancel"] = texts["elsewhere"].format(account=account)
        elif result := self.cancel_result(texts, resource):
            row.values["autoCancel"] = result[1]
            if result[0] == "failed":
                row.values["autoCancelFailed"] = "yes"
            elif result[0] == "done":  # nothing left to undo: only what comes next (enable the key)
                row.outcome = {**row.outcome, "name": row.outcome["name"] + "AutoCancelled", "undo": texts["next"],
                               "undo_label": "Next", "what_to_do": texts["next_to_do"]}

    def time_is_short(self) -> bool:
        return self.remaining() < RESERVE_SECONDS

    # ------------------------------------------------------------------ the daily reminder
    def remind(self, digest: Digest) -> None:
        """The daily check: once per calendar day (UTC) of the schedule's event, however often the
        entry is delivered or retried, and again after a run that was killed before it sent."""
        for day in sorted({utc(e.get("time") or self.clock()).date() for e in digest.events}):
            claim = f"{REMINDER}#{day.isoformat()}"
            if not self.claim(claim, int(self.clock()) + 2 * DAY_SECONDS, lease=LEASE_SECONDS):
                self.log(json.dumps({"reminder": day.isoformat(), "skipped": "already sent or under way"}))
                continue
            try:
                self.check(day)
            except Exception:
                self.release(claim)
                raise
            self.done(claim)

    def check(self, day: date) -> None:
        """List what is pending deletion here; email the due reminders and the final notices."""
        assert self.clients is not None, "the daily check needs kms, secretsmanager and cloudtrail clients"
        now = utc(self.clock())
        history, complete = scheduling_history(self.clients("cloudtrail"), now)
        keys, undescribed = pending_keys(self.clients("kms"), self.time_is_short)
        secrets, present = pending_secrets(self.clients("secretsmanager"), history)
        pending = keys + secrets
        for item in pending:
            scheduled = history.get(item.arn)
            if scheduled and item.resource != "material":
                item.caller, item.scheduled_at = scheduled.caller, iso(scheduled.at)
        due = sorted((p for p in pending if p.deletion and days_until(p.deletion, day) in self.reminder_days),
                     key=lambda p: (p.deletion, p.arn))
        self.uses_since(due[:MAX_SINCE], history, now)
        gone = self.finally_deleted(history, present, now)
        self.log(json.dumps({"reminder": day.isoformat(), "pending": len(pending), "due": len(due),
                             "deleted": len(gone), "undescribed keys": undescribed, "history complete": complete}))
        # Final notices first, each claimed for good once sent: a retry after a failed reminder does not
        # repeat them; a run killed before sending leaves leases that lapse.
        expires = int(self.clock()) + FINAL_CLAIM_TTL_SECONDS
        fresh = [item for item in gone if self.claim(f"final#{item.arn}", expires, lease=LEASE_SECONDS)]
        try:
            if fresh:
                self.publish_final(day, fresh)
        except Exception:
            for item in fresh:
                self.release(f"final#{item.arn}")
            raise
        for item in fresh:
            self.done(f"final#{item.arn}")
        if due:
            expiring = sum(p.resource == "material" for p in pending)
            self.publish_reminder(day, due, len(pending) - expiring, undescribed, complete, expiring)

    def uses_since(self, due: list[AtRisk], history: Mapping[str, Scheduling], now: datetime) -> None:
        """For each due key or secret with a known scheduling: who tried to use it since, from its own
        event history (a BatchGetSecretValue read is logged as a GetSecretValue entry per secret, API
        reference: counted here whether or not that entry carries the refusal). Bounded: SINCE_PAGES
        pages each, and only while the function has time."""
        uses = self.specs[REMINDER].get("uses", {})
        for item in due:
            scheduled = history.get(item.arn)
            if item.resource == "material" or not scheduled or item.resource not in uses:
                continue
            if self.time_is_short():
                item.used_since = "not read (the check was short of time)"
                continue
            try:
                found = resource_history(self.clients("cloudtrail"), item.arn, now, pages=SINCE_PAGES)
                item.used_since = use_summary(found, uses[item.resource]["operations"], uses[item.resource]["nothing"],
                                              after=scheduled.at)
            except Exception as error:  # noqa: BLE001 - the reminder goes out without it
                item.used_since = f"not read (LookupEvents: {error_code(error)})"

    @staticmethod
    def finally_deleted(history: Mapping[str, Scheduling], present: set[str], now: datetime) -> list[AtRisk]:
        """Secrets whose last DeleteSecret had a recovery window that has ended and which no longer
        exist: Secrets Manager deleted them (it emits no event of its own when it does)."""
        return [AtRisk("secret", arn, arn.rsplit(":", 1)[-1].rsplit("-", 1)[0], "Deleted", s.deletion,
                       s.date_note, caller=s.caller, scheduled_at=iso(s.at))
                for arn, s in sorted(history.items())
                if ":secretsmanager:" in arn and not s.force and s.deletion and s.deletion <= now
                and arn not in present]

    def _publish(self, subject_text: str, message: str, kind: str, count: int, steps: list[str] | None = None,
                 attributes: Mapping[str, str] | None = None) -> None:
        """One notification: the text for email (and SQS, Lambda), the custom-notification form for
        chat; the message attributes name what it is about."""
        subject_text = sns_subject(subject_text)
        keywords = [kind, self.account, self.region]
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=subject_text,
            MessageStructure="json",
            Message=per_protocol(subject_text, message, steps or [], keywords),
            MessageAttributes={"detection": {"DataType": "String", "StringValue": kind},
                               "count": {"DataType": "Number", "StringValue": str(count)},
                               **{name: {"DataType": "String", "StringValue": value}
                                  for name, value in (attributes or {}).items() if value}})
        self.log(json.dumps({"notified": kind, "count": count}))

    def publish_reminder(self, day: date, due: list[AtRisk], pending: int, undescribed: int,
                         complete: bool = True, expiring: int = 0) -> None:
        spec = self.specs[REMINDER]
        head = {"account": self.account, "region": self.region,
                "count": plural(len(due), "key or secret", "keys or secrets"),
                "days": plural(max(days_until(p.deletion, day) for p in due if p.deletion), "day")}
        reminds_at = sorted(self.reminder_days, reverse=True)
        out = [spec["title"].upper(), "",
               f"Checked {day.isoformat()} (UTC) in {self.account} {self.region}: {pending:,} pending deletion"
               + (f", and {plural(expiring, 'key')} whose imported key material expires" if expiring else "")
               + f"; {len(due):,} due in {' or '.join(filter(None, [', '.join(map(str, reminds_at[:-1])), str(reminds_at[-1])]))} "
               f"{'day' if reminds_at == [1] else 'days'}, the days this stack reminds at."]
        steps: list[str] = []
        for i, item in enumerate(due[:MAX_LISTED], 1):
            values = item.values(self.account, self.region, day)
            lines = [text for text in (render_line(line, values) for line in spec["lines"][item.resource]) if text]
            steps += [line.split(": ", 1)[1].strip() for line in lines if line.startswith("Undo: ")][:1]
            out.append("")
            out += [(f"{i}. " if j == 0 else "   ") + text for j, text in enumerate(lines)]
        if len(due) > MAX_LISTED:
            out += ["", f"... and {len(due) - MAX_LISTED} more."]
        if not complete:
            out += ["", f"CloudTrail event history was read for {HISTORY_BUDGET_SECONDS:.0f} seconds, not to its end "
                        "(many deletions in this account): who scheduled some of these, and final notices of "
                        "older deletions, may be missing."]
        if undescribed:
            out += ["", f"{plural(undescribed, 'key')} could not be described (their key policies do not let IAM "
                        "policies allow kms:DescribeKey, or the check ran out of time): they were not checked."]
        out += ["", "What it means: " + spec["meaning"], "What to do: " + spec["what_to_do"]]
        self._publish(render(spec["subject"], head), "\n".join(out), REMINDER, len(due), steps)

    def publish_final(self, day: date, gone: list[AtRisk]) -> None:
        spec = self.specs[REMINDER]
        out = [spec["final_title"], ""]
        for i, item in enumerate(gone[:MAX_LISTED], 1):
            values = item.values(self.account, self.region, day)
            lines = [text for text in (render_line(line, values) for line in spec["final_lines"]) if text]
            out += [(f"{i}. " if j == 0 else "   ") + text for j, text in enumerate(lines)]
        if len(gone) > MAX_LISTED:
            out += [f"... and {len(gone) - MAX_LISTED} more."]
        head = {"account": self.account, "region": self.region, "count": plural(len(gone), "secret")}
        self._publish(render(spec["final_subject"], head), "\n".join(out), REMINDER + "Final", len(gone))

    def carry_over(self, digest: Digest) -> None:
        """Another invocation sent this minute's digest: hold these events until the next minute
        begins (SQS DelaySeconds), so that they are sent in it."""
        delay = CLAIM_SECONDS - int(self.clock()) % CLAIM_SECONDS
        self.sqs.send_message(QueueUrl=self.queue_url, DelaySeconds=delay, MessageBody=carried_body(digest))

    def listing(self, detection: str) -> str:
        return ("Every event is logged: aws logs filter-log-events --region %s --log-group-name %s "
                "--filter-pattern '{ $.detection = \"%s\" }'" % (self.region, self.log_group, detection))

    # ------------------------------------------------------------------ what KMS and Secrets Manager say now
    def enrich(self, spec: Mapping[str, Any], rows: list[Row]) -> None:
        """Add to each row what the record cannot say: the key's aliases and state or the secret's
        name and state (DescribeKey, ListAliases, DescribeSecret: read-only, in this account), and the
        deletion date with the time left. Where nothing can be read, one plain sentence says why."""
        now = utc(self.clock())
        cache: dict[tuple[str, str], dict[str, str | None]] = {}
        for row in rows:
            values = row.values
            resource = values.get(spec["resource"])
            read: dict[str, str | None] = {}
            if resource and self.clients is not None:
                where = (resource, values.get("region") or self.region)
                if where not in cache:
                    cache[where] = self.read_resource(spec, resource, values)
                read = cache[where]
            deletion = None
            if row.outcome["pending"]:
                deletion, note = self.deletion_date(values, read, now)
                if deletion:
                    values.update(deletion=iso(deletion), daysLeft=time_left(deletion, now))
                    if note:
                        values["deletionNote"] = f"({note})"
                elif note:
                    values["deletionUnknown"] = note
            for name, value in read.items():
                if name != "deletion" and value and not values.get(name):
                    values[name] = value

    def read_resource(self, spec: Mapping[str, Any], resource: str, values: Mapping[str, Any]) -> dict[str, str | None]:
        """What KMS or Secrets Manager says about ``resource`` now, or a readNote saying why not."""
        account, region = values.get("account"), values.get("region") or self.region
        kind = "keys" if spec["service"] == "kms" else "secrets"
        if account and self.account and account != self.account:
            return {"readNote": f"From account {account}: this notifier runs in account {self.account} and cannot "
                                f"read that account's {kind} nor its event history; `deletion-alarms inventory "
                                "--organization` lists their deletion dates, who used them and the secrets "
                                "encrypted under each key."}
        if self.time_is_short():
            return {"readNote": f"Not read from {spec['service']}: the notifier was short of time."}
        try:
            if spec["service"] == "kms":
                kms = self.clients("kms", region)
                meta = kms.describe_key(KeyId=resource)["KeyMetadata"]
                aliases = sorted(a["AliasName"] for a in kms.list_aliases(KeyId=meta["Arn"]).get("Aliases", []))
                read = {"aliases": ", ".join(aliases) or None, "description": meta.get("Description") or None,
                        "state": meta.get("KeyState"), "keyStore": meta.get("CustomKeyStoreId") or None,
                        "deletion": iso(utc(meta["DeletionDate"])) if meta.get("DeletionDate") else None}
                read.update(self.recent_use(spec, meta["Arn"], region, aliases))
                return read
            secret = self.clients("secretsmanager", region).describe_secret(SecretId=resource)
            return {"secretName": secret.get("Name"), "description": secret.get("Description") or None,
                    "state": "scheduled for deletion" if secret.get("DeletedDate") else "not scheduled for deletion",
                    "deletedDate": iso(utc(secret["DeletedDate"])) if secret.get("DeletedDate") else None,
                    **self.recent_use(spec, secret.get("ARN") or resource, region)}
        except Exception as error:  # noqa: BLE001 - the alert goes out with what the record says
            code = error_code(error)
            call = "DescribeKey" if spec["service"] == "kms" else "DescribeSecret"
            if code in ("NotFoundException", "ResourceNotFoundException"):
                return {"state": f"deleted ({call}: {code})"}
            self.log(json.dumps({"read failed": resource, "call": call, "error": repr(error)}))
            return {"readNote": f"Could not read the {kind[:-1]} now ({call}: {code}): its current state and "
                                "deletion date are not shown."}

    def recent_use(self, spec: Mapping[str, Any], arn: str, region: str,
                   aliases: Iterable[str] = ()) -> dict[str, str]:
        """Who used the key or secret lately and, for a key, which secrets are encrypted under it: the
        blast radius of the deletion. Each read that fails is one short line; the alert goes out."""
        wanted = spec.get("recent_use") or {}
        read: dict[str, str] = {}
        if not wanted or self.time_is_short():
            return read
        try:
            history = resource_history(self.clients("cloudtrail", region), arn, utc(self.clock()))
            read["recentUse"] = use_summary(history, wanted["operations"], wanted["nothing"])
        except Exception as error:  # noqa: BLE001 - the alert goes out without it
            read["recentUse"] = f"not read (LookupEvents: {error_code(error)})"
        if spec["service"] == "kms" and not self.time_is_short():
            try:
                entries, complete = secret_keys(self.clients("secretsmanager", region))
                read["encryptedSecrets"] = secrets_summary(encrypted_under(entries, arn, aliases), len(entries),
                                                           complete)
            except Exception as error:  # noqa: BLE001
                read["encryptedSecrets"] = f"not read (ListSecrets: {error_code(error)})"
        return read

    @staticmethod
    def deletion_date(values: Mapping[str, Any], read: Mapping[str, Any], now: datetime) -> tuple[datetime | None, str]:
        """When the resource is deleted: the record's deletionDate (any documented form), else what the
        service says now, else the event time plus the window; with a note when it is not exact."""
        if values.get("keyState") == "PendingReplicaDeletion" or read.get("state") == "PendingReplicaDeletion":
            # A multi-Region primary's waiting period starts when its last replica is deleted (KMS guide).
            return None, f"at least {values.get('window') or DEFAULT_WINDOW_DAYS} days after its last replica is deleted"
        if values.get("deletionDate"):
            try:
                return utc(values["deletionDate"]), ""
            except (ValueError, OverflowError):
                pass
        if read.get("deletion"):
            return utc(read["deletion"]), ""
        if read.get("deletedDate"):
            # DescribeSecret's DeletedDate is the deletion date (API reference); the ListSecrets reference
            # calls it the time of the delete request (UNCONFIRMED which): a date already past is the latter.
            deleted = utc(read["deletedDate"])
            if deleted > now:
                return deleted, "DescribeSecret DeletedDate"
            return None, (f"scheduled at {iso(deleted)} UTC by DescribeSecret's DeletedDate; deleted when its "
                          "7 to 30 day recovery window ends")
        if values.get("eventName") in ("ScheduleKeyDeletion", "DeleteSecret") and values.get("time"):
            try:
                at = utc(values["time"])
            except ValueError:
                return None, ""
            deletion, note = scheduled_deletion(values.get("deletionDate"), at, {
                "pendingWindowInDays": values.get("window")})
            return deletion, note
        return None, ""

    def publish(self, digest: Digest) -> None:
        spec = self.specs[digest.detection]
        rows = digest.details(spec)
        self.enrich(spec, rows)
        for row in rows:
            self.describe_cancel(spec, row)
        first = rows[0] if rows else Row({}, choose_outcome(spec, {}))
        steps = [c for c in (render_if(c, first.values) for c in first.outcome["undo"]) if c]
        self._publish(subject(spec, digest, first),
                      body(spec, digest, rows, self.listing(digest.detection), self.account),
                      digest.detection, digest.count, steps,
                      {"resource": first.values.get(spec["resource"]) or "", "outcome": first.outcome["name"]})
        if self.security_hub:
            self.import_findings(spec, rows)

    # ------------------------------------------------------------------ AWS Security Hub (optional)
    def finding(self, spec: Mapping[str, Any], row: Row) -> dict[str, Any] | None:
        """The ASFF finding of one described key or secret of this account: one per resource (its Id
        is the resource's, so each alert updates it), archived by a cancel or a restore. None for an
        event of another account: BatchImportFindings takes only this account's (default product)."""
        values, shape = row.values, spec["finding"]
        resource = values.get(spec["resource"]) or ""
        if not resource.startswith("arn:") or (values.get("account") or self.account) != self.account:
            return None
        partition = resource.split(":")[1]
        now = iso(utc(self.clock()))
        try:
            created = iso(utc(values.get("time") or now))
        except (ValueError, TypeError, OverflowError):
            created = now
        undo = [c for c in (render_if(c, values) for c in row.outcome["undo"]) if c]
        facts = [f"{name}: {values[key]}" for name, key in (("Caller", "caller"), ("Time", "time"),
                                                            ("Deletion date", "deletion"), ("Time left", "daysLeft"),
                                                            ("State now", "state")) if values.get(key)]
        return {
            "SchemaVersion": "2018-10-08",
            "Id": f"deletion-alarms/{resource}",
            "ProductArn": f"arn:{partition}:securityhub:{self.region}:{self.account}:product/{self.account}/default",
            "GeneratorId": f"deletion-alarms/{spec['name']}",
            "AwsAccountId": self.account,
            "Types": list(FINDING_TYPES),
            "CreatedAt": created,
            "UpdatedAt": now,
            "Severity": {"Label": shape["severities"][row.outcome["rank"]]},
            # BatchImportFindings ignores top-level Severity and Types on a finding that exists; a provider
            # updates them through FindingProviderFields (API reference): the archive's INFORMATIONAL too.
            "FindingProviderFields": {"Severity": {"Label": shape["severities"][row.outcome["rank"]]},
                                      "Types": list(FINDING_TYPES)},
            "Title": shorten(f"{row.headline}: {short_name(spec, values)}", 256),
            "Description": shorten(" ".join([row.outcome["meaning"] or spec["title"], "; ".join(facts)]).strip(), 1024),
            "Resources": [{"Type": shape["resource_type"], "Id": resource, "Partition": partition,
                           "Region": values.get("region") or self.region}],
            "Remediation": {"Recommendation": {"Text": shorten(
                " ".join([row.outcome["what_to_do"], *(f"Run: {c}" for c in undo)]).strip() or spec["title"], 512)}},
            "ProductFields": {"deletion-alarms/Detection": spec["name"], "deletion-alarms/Outcome": row.outcome["name"]},
            "RecordState": "ARCHIVED" if row.outcome["rank"] in shape["archive_ranks"] else "ACTIVE",
        }

    def import_findings(self, spec: Mapping[str, Any], rows: list[Row]) -> None:
        """Send the digest's findings after its email: the email is the alert, so a finding Security
        Hub refuses (not enabled here, throttled, an invalid field) is logged, never retried."""
        findings: dict[str, dict[str, Any]] = {}
        for row in rows:  # one per resource: the worst outcome of the digest (rows are worst first)
            found = self.finding(spec, row)
            if found and found["Id"] not in findings:
                findings[found["Id"]] = found
        if not findings or self.clients is None:
            return
        try:
            answer = self.clients("securityhub", self.region).batch_import_findings(Findings=list(findings.values()))
        except Exception as error:  # noqa: BLE001 - the email went out; the finding is a copy
            self.log(json.dumps({"findings": len(findings), "imported": 0, "error": error_code(error)}))
            return
        self.log(json.dumps({"findings": len(findings), "imported": answer.get("SuccessCount", 0),
                             "failed": answer.get("FailedFindings", [])}, sort_keys=True, default=str))


def from_environment(context: Any = None) -> Notifier:
    import boto3  # in the Lambda runtime
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
                    max_pool_connections=DESCRIBE_THREADS + 4)

    def client(service: str, region: str | None = None) -> Any:
        return boto3.client(service, region_name=region, config=config)

    env = os.environ
    remaining = (lambda: context.get_remaining_time_in_millis() / 1000) if context is not None else (
        lambda: float("inf"))
    return Notifier(client("sns"), client("sqs"), client("dynamodb"),
                    topic_arn=env["TOPIC_ARN"], queue_url=env["EVENT_QUEUE_URL"], claim_table=env["CLAIM_TABLE"],
                    log_group=env.get("AWS_LAMBDA_LOG_GROUP_NAME", "(this function's log group)"),
                    region=env.get("AWS_REGION", ""), specs=SPECS, auto_cancel=env.get("AUTO_CANCEL", "Off"),
                    reminder_days=env.get("REMINDER_DAYS", "none"), account=env.get("ACCOUNT_ID", ""),
                    clients=client, function_name=env.get("AWS_LAMBDA_FUNCTION_NAME", ""), remaining=remaining,
                    security_hub=env.get("SECURITY_HUB", "Disabled"))


def handler(event: Mapping[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """Lambda entry point (``index.handler`` once CloudFormation writes the code inline)."""
    return from_environment(context).handle(event)
