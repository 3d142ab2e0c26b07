"""What is at risk now: every KMS key pending deletion and every secret scheduled for deletion, in
every Region of one or more accounts, with the days left, who scheduled it and whether it was used
since (CloudTrail event history, 90 days, where still available).

Read-only. Per account and Region: kms ListKeys, DescribeKey and ListAliases; secretsmanager
ListSecrets with IncludePlannedDeletion (without it, ListSecrets hides secrets scheduled for
deletion); cloudtrail LookupEvents for the history. Accounts are reached with a role the user names
(sts AssumeRole); the Regions are those enabled for the account (ec2 DescribeRegions).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from deletion_alarms.awsclient import aws_errors
from deletion_alarms.words import plural
from detections.catalog import DETECTIONS, Kind, Service
from detections.patterns import compile_pattern

# The calls it makes, as IAM actions: all read-only (a test records them; the README lists them).
# sts:GetCallerIdentity needs no permission; sts:AssumeRole and organizations:ListAccounts only
# for other accounts.
PERMISSIONS = ("kms:ListKeys", "kms:DescribeKey", "kms:ListAliases", "secretsmanager:ListSecrets",
               "cloudtrail:LookupEvents", "ec2:DescribeRegions", "sts:GetCallerIdentity", "sts:AssumeRole",
               "organizations:ListAccounts")
PENDING_KEY_STATES = ("PendingDeletion", "PendingReplicaDeletion")
SCHEDULING_CALLS = {"ScheduleKeyDeletion", "DeleteSecret"}
HISTORY_DAYS = 90  # CloudTrail event history keeps 90 days of management events
USE_PATTERNS = [(d.service, compile_pattern(d.filter_pattern)) for d in DETECTIONS if d.kind is Kind.ACCESS]


@dataclass(frozen=True)
class Pending:
    """One key or secret that is about to be lost."""

    account: str
    region: str
    kind: str  # "KMS key" or "secret"
    arn: str
    name: str  # the key's aliases, or the secret's name
    state: str
    deletion_date: str  # ISO 8601, UTC
    days_left: float | None  # None: a multi-Region primary, deleted only after its replicas (no date yet)
    scheduled_by: str
    scheduled_at: str
    used_since: int | None  # use attempts seen in event history since it was scheduled; None: unknown

    def row(self) -> list[str]:
        unread = self.used_since is None  # event history could not be read (no permission, throttled)
        used = NOT_READ if unread else str(self.used_since)
        by = self.scheduled_by or (NOT_READ if unread else NOT_FOUND)
        days = f"{self.days_left:.1f}" if self.days_left is not None else AFTER_REPLICAS
        return [self.account, self.region, self.kind, self.name or "-", days, self.deletion_date or AFTER_REPLICAS,
                by, self.scheduled_at or (NOT_READ if unread else NOT_FOUND), used, self.arn]


    def within(self, days: int) -> bool:
        """Deleted within ``days`` days from now, the last day included; never for a primary that
        waits for its replicas, whose date is not set yet."""
        return self.days_left is not None and self.days_left <= days


NOT_READ = "(history not read)"
AFTER_REPLICAS = "(after its replicas are deleted)"  # KMS sets no DeletionDate until then
NOT_FOUND = "(not in 90 days of history)"
COLUMNS = ["account", "region", "kind", "name", "days left", "deletion date", "scheduled by", "scheduled at",
           "used since", "arn"]


def days_left(deletion: datetime, now: datetime) -> float:
    """Days from ``now`` to ``deletion``, rounded down to a tenth (never more time than there is)."""
    return math.floor((deletion - now).total_seconds() / 8640) / 10


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(value), timezone.utc)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class History:
    """What event history says of one resource's deletion."""

    scheduled_by: str = ""
    scheduled_at: str = ""
    used_since: int | None = None  # None: the history could not be read
    deletion_date: datetime | None = None  # the scheduling record's responseElements.deletionDate


# responseElements.deletionDate in every form AWS's samples show: "Dec 5, 2026, 2:03:27 PM",
# "May 3, 2018 5:51:02 PM" (Secrets Manager guide), "Apr 12, 2021 18:58:30 PM" (KMS guide: 24-hour
# with PM). The notifier (its own room, standard library only) parses them alike; a test holds both
# to the same answers.
_DATE = re.compile(r"^([A-Z][a-z]{2}) (\d{1,2}), (\d{4}),? (\d{1,2}):(\d{2}):(\d{2})(?: ([AP]M))?$")
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


def _cloudtrail_date(text: Any) -> datetime | None:
    """A CloudTrail deletionDate as UTC; None when it is in no known form."""
    found = _DATE.match(text.strip()) if isinstance(text, str) else None
    if not found or found[1] not in _MONTHS:
        return None
    hour = int(found[4])
    if found[7] and hour <= 12:
        hour = hour % 12 + (12 if found[7] == "PM" else 0)
    try:
        return datetime(int(found[3]), _MONTHS[found[1]], int(found[2]), hour, int(found[5]), int(found[6]),
                        tzinfo=timezone.utc)
    except ValueError:
        return None


def history(cloudtrail: Any, resource: str, service: Service, now: datetime) -> History:
    """Who scheduled the deletion and when, the deletion date it was given, and how many use
    attempts followed, from event history; History() when it cannot be read (no permission)."""
    try:
        events = []
        for page in cloudtrail.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": resource}],
                StartTime=now - timedelta(days=HISTORY_DAYS), EndTime=now):
            events += page.get("Events", [])
    except Exception:  # noqa: BLE001 - history is a nicety: the inventory stands without it
        return History()
    scheduled = sorted((e for e in events if e.get("EventName") in SCHEDULING_CALLS),
                       key=lambda e: _utc(e["EventTime"]))
    if not scheduled:
        return History(used_since=0)
    last = scheduled[-1]
    when = _utc(last["EventTime"])
    try:
        record = json.loads(last.get("CloudTrailEvent", "{}"))
    except ValueError:
        record = {}
    who = (record.get("userIdentity") or {}).get("arn") or last.get("Username", "")
    deletion = _cloudtrail_date((record.get("responseElements") or {}).get("deletionDate"))
    used = 0
    for event in events:
        if _utc(event["EventTime"]) <= when:
            continue
        try:
            record = json.loads(event.get("CloudTrailEvent", "{}"))
        except ValueError:
            continue
        used += any(s is service and pattern.matches(record) for s, pattern in USE_PATTERNS)
    return History(who, _iso(when), used, deletion)


def pending_in(clients: Callable[[str], Any], account: str, region: str, now: datetime,
               notes: list[str] | None = None) -> list[Pending]:
    """Every key pending deletion and every secret scheduled for deletion in one account and Region;
    what could not be checked is added to ``notes``."""
    kms, secrets, cloudtrail = clients("kms"), clients("secretsmanager"), clients("cloudtrail")
    found: list[Pending] = []
    with aws_errors(f"KMS keys in {account} {region}"):
        aliases: dict[str, list[str]] = {}
        for page in kms.get_paginator("list_aliases").paginate():
            for alias in page.get("Aliases", []):
                if alias.get("TargetKeyId"):
                    aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
        undescribed: dict[str, int] = {}
        for page in kms.get_paginator("list_keys").paginate():
            for key in page.get("Keys", []):
                try:
                    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
                except kms.exceptions.ClientError as error:
                    # A key policy that does not let IAM policies allow DescribeKey, or a key deleted
                    # since it was listed: that key is not checked, the others are, and the run says so.
                    code = error.response.get("Error", {}).get("Code", "")
                    if code not in ("AccessDeniedException", "NotFoundException"):
                        raise
                    undescribed[code] = undescribed.get(code, 0) + 1
                    continue
                if meta.get("KeyState") not in PENDING_KEY_STATES:
                    continue
                deletion = _utc(meta["DeletionDate"]) if meta.get("DeletionDate") else None
                past = history(cloudtrail, meta["Arn"], Service.KMS, now)
                found.append(Pending(account, region, "KMS key", meta["Arn"], ", ".join(sorted(aliases.get(key["KeyId"], []))),
                                     meta["KeyState"], _iso(deletion) if deletion else "",
                                     days_left(deletion, now) if deletion else None,
                                     past.scheduled_by, past.scheduled_at, past.used_since))
        if notes is not None:
            notes += [f"{account} {region}: {plural(n, 'KMS key')} could not be described ({code}): not checked"
                      for code, n in sorted(undescribed.items())]
    with aws_errors(f"secrets in {account} {region}"):
        for page in secrets.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
            for secret in page.get("SecretList", []):
                if not secret.get("DeletedDate"):
                    continue
                past = history(cloudtrail, secret["ARN"], Service.SECRETS_MANAGER, now)
                # The DeleteSecret record's deletionDate (request time plus the recovery window, API
                # reference) when event history has it; else DeletedDate, which the DescribeSecret
                # reference calls the scheduled date and the ListSecrets reference the time of the
                # deletion request (UNCONFIRMED which; functions/notifier.py pending_secrets).
                deletion = past.deletion_date or _utc(secret["DeletedDate"])
                found.append(Pending(account, region, "secret", secret["ARN"], secret.get("Name", ""),
                                     "ScheduledForDeletion", _iso(deletion), days_left(deletion, now),
                                     past.scheduled_by, past.scheduled_at, past.used_since))
    return found


def collect(tasks: Iterable[tuple[str, str, Callable[[str], Any]]], now: datetime, workers: int = 8,
            progress: Callable[[], None] | None = None, notes: list[str] | None = None) -> list[Pending]:
    """Run ``pending_in`` for every (account, Region, client factory), a few at a time; sorted by
    days left. A failure in one account or Region stops the run with its one-line error; keys that
    cannot be described are counted in ``notes``."""
    found: list[Pending] = []
    with ThreadPoolExecutor(max(1, workers)) as pool:
        futures = [pool.submit(pending_in, clients, account, region, now, notes)
                   for account, region, clients in tasks]
        try:
            for future in futures:
                found += future.result()
                if progress:
                    progress()
        except BaseException:  # a failure or Ctrl-C: the account-Regions not started are not read
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return sorted(found, key=lambda p: (p.days_left is None, p.days_left or 0.0, p.account, p.region, p.arn))


def render(found: list[Pending], form: str) -> str:
    """The inventory as a table, JSON or CSV."""
    if form == "json":
        return json.dumps([asdict(p) for p in found], indent=2)
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(p.row() for p in found)
        return out.getvalue().rstrip("\n")
    if not found:
        return "nothing pending deletion"
    rows = [COLUMNS] + [p.row() for p in found]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1] for r in rows)
