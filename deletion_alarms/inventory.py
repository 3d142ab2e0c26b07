"""What is at risk now: every KMS key pending deletion, every key whose imported key material expires
(ValidTo), and every secret scheduled for deletion, in
every Region of one or more accounts, with the days left, who scheduled it, whether it was used since,
who used it in the last 90 days (CloudTrail event history) and, for a key, the secrets encrypted
under it. The lists and the history are read by the notifier's own functions (functions/notifier.py:
the daily check and the alert), so both answer alike.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from deletion_alarms.awsclient import aws_errors
from deletion_alarms.words import plural
from detections.catalog import Service
from detections.messages import NO_USE
from detections.operations import USES
from functions import notifier

# The calls it makes, as IAM actions: all read-only (a test records them; the README lists them).
# sts:GetCallerIdentity needs no permission; sts:AssumeRole and organizations:ListAccounts only
# for other accounts.
PERMISSIONS = ("kms:ListKeys", "kms:DescribeKey", "kms:ListAliases", "secretsmanager:ListSecrets",
               "cloudtrail:LookupEvents", "ec2:DescribeRegions", "sts:GetCallerIdentity", "sts:AssumeRole",
               "organizations:ListAccounts")
HISTORY_DAYS = 90  # CloudTrail event history keeps 90 days of management events
# Event history answers 2 requests a second per account and Region: the scheduling calls are read for
# at most this long, and each pending key's or secret's own history for at most USE_PAGES pages of 50.
HISTORY_BUDGET_SECONDS = 120.0
USE_PAGES = 20


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
    recent_use: str = ""  # who used it in 90 days (functions/notifier.py use_summary); "": not read
    encrypted_secrets: str = ""  # a key: the secrets encrypted under it; "": not read or a secret
    used_since_partial: bool = False  # the history was not read back to the scheduling: at least used_since

    def row(self) -> list[str]:
        unread = self.used_since is None  # event history could not be read (no permission, throttled)
        used = NOT_READ if unread else f"{self.used_since}{'+' if self.used_since_partial else ''}"
        if self.kind == MATERIAL:  # nothing was scheduled: the expiry was set when the material was imported
            used = "-"
        by = self.scheduled_by or (NOT_READ if unread else NOT_FOUND)
        days = f"{self.days_left:.1f}" if self.days_left is not None else AFTER_REPLICAS
        return [self.account, self.region, self.kind, self.name or "-", days, self.deletion_date or AFTER_REPLICAS,
                by, self.scheduled_at or (NOT_READ if unread else NOT_FOUND), used,
                self.recent_use or NOT_READ, self.encrypted_secrets or "-", self.arn]

    def within(self, days: int) -> bool:
        """Deleted within ``days`` days from now, the last day included; never for a primary that
        waits for its replicas, whose date is not set yet."""
        return self.days_left is not None and self.days_left <= days


NOT_READ = "(history not read)"
MATERIAL = "KMS key material"  # a key whose imported key material expires (DescribeKey ValidTo)
KINDS = {"key": "KMS key", "secret": "secret", "material": MATERIAL}
SET_AT_IMPORT = "(its expiry, set at import)"
AFTER_REPLICAS = "(after its replicas are deleted)"  # KMS sets no DeletionDate until then
NOT_FOUND = "(not in 90 days of history)"
COLUMNS = ["account", "region", "kind", "name", "days left", "deletion date", "scheduled by", "scheduled at",
           "used since", "recent use", "secrets encrypted under it", "arn"]


def days_left(deletion: datetime, now: datetime) -> float:
    """Days from ``now`` to ``deletion``, rounded down to a tenth (never more time than there is)."""
    return math.floor((deletion - now).total_seconds() / 8640) / 10


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def pending_in(clients: Callable[[str], Any], account: str, region: str, now: datetime,
               notes: list[str] | None = None) -> list[Pending]:
    """Every key pending deletion and every secret scheduled for deletion in one account and Region,
    read as the notifier's daily check reads them (the same functions: functions/notifier.py), with
    who scheduled each, who used it and, for a key, the secrets encrypted under it; what could not be
    checked is added to ``notes``."""
    kms, secrets, cloudtrail = clients("kms"), clients("secretsmanager"), clients("cloudtrail")
    notes = notes if notes is not None else []
    try:
        schedulings, complete = notifier.scheduling_history(cloudtrail, now, HISTORY_BUDGET_SECONDS,
                                                            days=HISTORY_DAYS)
        if not complete:
            notes.append(f"{account} {region}: CloudTrail event history read for {HISTORY_BUDGET_SECONDS:.0f} s, "
                         "not to its end: who scheduled some deletions may be missing")
    except Exception as error:  # noqa: BLE001 - history is a nicety: the inventory stands without it
        schedulings, cloudtrail = {}, None
        notes.append(f"{account} {region}: CloudTrail event history not read ({notifier.error_code(error)})")
    with aws_errors(f"KMS keys in {account} {region}"):
        keys, undescribed = notifier.pending_keys(kms)
    if undescribed:
        notes.append(f"{account} {region}: {plural(undescribed, 'KMS key')} could not be described "
                     "(AccessDeniedException or NotFoundException): not checked")
    with aws_errors(f"secrets in {account} {region}"):
        at_risk, _ = notifier.pending_secrets(secrets, schedulings)
        entries, listed_all = notifier.secret_keys(secrets, pages=10**6) if keys else ([], True)
    return [pending(account, region, item, schedulings.get(item.arn) if item.resource != "material" else None,
                    cloudtrail, now,
                    notifier.secrets_summary(notifier.encrypted_under(entries, item.arn, item.name.split(", ")
                                                                      if item.name else ()), len(entries), listed_all)
                    if item.resource != "secret" else "")
            for item in keys + at_risk]


def pending(account: str, region: str, item: "notifier.AtRisk", scheduled: "notifier.Scheduling | None",
            cloudtrail: Any, now: datetime, encrypted: str) -> Pending:
    """One row: the item as the notifier lists it, its own event history read for who used it."""
    service = Service.SECRETS_MANAGER if item.resource == "secret" else Service.KMS
    used: int | None = None
    recent, partial = "", False
    if cloudtrail is not None:
        try:
            history = notifier.resource_history(cloudtrail, item.arn, now, pages=USE_PAGES)
        except Exception as error:  # noqa: BLE001 - one row without it; the others are read
            recent = f"not read (LookupEvents: {notifier.error_code(error)})"
        else:
            recent = notifier.use_summary(history, USES[service], NO_USE[service])
            since = notifier.uses_by_principal(history, USES[service], after=scheduled.at) if scheduled else {}
            used = sum(sum(per.values()) for per in since.values())
            oldest = history.oldest()
            partial = bool(scheduled and not history.complete and oldest and oldest > scheduled.at)
    deletion = item.deletion
    by, at = (scheduled.caller, _iso(scheduled.at)) if scheduled else ("", "")
    if item.resource == "material":
        by, at = SET_AT_IMPORT, "-"
    return Pending(account, region, KINDS[item.resource], item.arn, item.name, item.state,
                   _iso(deletion) if deletion else "", days_left(deletion, now) if deletion else None,
                   by, at, used, recent, encrypted, partial)


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
