"""The inventory against a moto server on 127.0.0.1: keys and secrets in several states and Regions,
in two accounts (the second through STS), list exactly the pending ones with their days left; the
event history (which moto does not keep) through botocore's Stubber; the days-left arithmetic at
its boundaries."""

from __future__ import annotations

import re
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber

from deletion_alarms import cli
from deletion_alarms import inventory as inv
from detections.catalog import Service
from detections.errors import UserError

HOME, OTHER = "123456789012", "444455556666"  # moto's default account, and one reached by STS


def other_account(aws, region: str) -> boto3.Session:
    creds = aws.client("sts").assume_role(RoleArn=f"arn:aws:iam::{OTHER}:role/Reader",
                                          RoleSessionName="setup")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=region)


def seed(aws) -> dict[str, str]:
    """Per account and Region, keys and secrets in every state; the pending ones, by what they are."""
    pending = {}
    kms, kms_eu = aws.client("kms"), aws.client("kms", "eu-west-1")
    kms.create_key(Description="in use")
    seven = kms.create_key(Description="scheduled, 7 days")["KeyMetadata"]
    kms.create_alias(AliasName="alias/payments", TargetKeyId=seven["KeyId"])
    kms.schedule_key_deletion(KeyId=seven["KeyId"], PendingWindowInDays=7)
    pending["payments key"] = seven["Arn"]
    thirty = kms_eu.create_key(Description="scheduled, 30 days")["KeyMetadata"]
    kms_eu.schedule_key_deletion(KeyId=thirty["KeyId"], PendingWindowInDays=30)
    pending["eu key"] = thirty["Arn"]
    disabled = kms.create_key(Description="disabled only")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)
    secrets = aws.client("secretsmanager")
    secrets.create_secret(Name="prod/app", SecretString="x")
    secrets.create_secret(Name="prod/db", SecretString="x")
    pending["db secret"] = secrets.delete_secret(SecretId="prod/db", RecoveryWindowInDays=10)["ARN"]
    secrets.create_secret(Name="gone", SecretString="x")
    secrets.delete_secret(SecretId="gone", ForceDeleteWithoutRecovery=True)
    other_kms = other_account(aws, "us-east-1").client("kms", endpoint_url=aws.endpoint)
    other = other_kms.create_key(Description="other account")["KeyMetadata"]
    other_kms.schedule_key_deletion(KeyId=other["KeyId"], PendingWindowInDays=8)
    pending["other key"] = other["Arn"]
    return pending


def run(aws, capsys, *extra: str) -> tuple[int, str, str]:
    code = cli.main(aws.cli("inventory", "--account", HOME, "--account", OTHER, "--role-name", "Reader",
                            "--regions", "us-east-1,eu-west-1", *extra))
    out, err = capsys.readouterr()
    return code, out, err


def test_lists_exactly_the_pending_keys_and_secrets_with_their_days_left(aws, capsys) -> None:
    pending = seed(aws)
    code, out, err = run(aws, capsys, "--format", "json")
    assert code == 0, err
    found = {row["arn"]: row for row in json.loads(out)}
    assert set(found) == set(pending.values())
    expected = {"payments key": (HOME, "us-east-1", 7), "eu key": (HOME, "eu-west-1", 30),
                "db secret": (HOME, "us-east-1", 10), "other key": (OTHER, "us-east-1", 8)}
    for what, (account, region, days) in expected.items():
        row = found[pending[what]]
        assert (row["account"], row["region"]) == (account, region), what
        assert days - 0.1 <= row["days_left"] <= days, (what, row["days_left"])
    assert found[pending["payments key"]]["name"] == "alias/payments"
    assert found[pending["db secret"]]["name"] == "prod/db"
    assert [row["days_left"] for row in json.loads(out)] == sorted(row["days_left"] for row in json.loads(out))


def test_fail_within_is_an_exit_status_for_cron_and_says_which(aws, capsys) -> None:
    pending = seed(aws)
    code, _, err = run(aws, capsys, "--fail-within", "7")
    assert code == 1
    (line,) = [line for line in err.splitlines() if "--fail-within" in line]
    assert "alias/payments" in line and f"{HOME} us-east-1" in line and pending["payments key"] in line
    code, _, err = run(aws, capsys, "--fail-within", "5")
    assert code == 0 and "--fail-within" not in err


def test_a_key_that_cannot_be_described_is_counted_and_the_rest_is_listed(aws, capsys, monkeypatch) -> None:
    """A key policy that does not let IAM policies allow DescribeKey refuses it for that key alone."""
    from botocore.exceptions import ClientError

    pending = seed(aws)
    locked = aws.client("kms").create_key(Description="locked")["KeyMetadata"]["KeyId"]
    import botocore.client

    real = botocore.client.BaseClient._make_api_call

    def call(self, operation, params):
        if operation == "DescribeKey" and params.get("KeyId") == locked:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, operation)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    code, out, err = run(aws, capsys, "--format", "json")
    assert code == 0, err
    assert {row["arn"] for row in json.loads(out)} == set(pending.values())
    assert f"deletion-alarms: {HOME} us-east-1: 1 KMS key could not be described (AccessDeniedException): " \
           "not checked" in err


def test_a_global_service_takes_any_real_region() -> None:
    """organizations and iam have no Region of their own in botocore's list: us-east-1 must do."""
    from deletion_alarms import awsclient

    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    assert awsclient.make_client(session, "organizations").meta.service_model.service_name == "organizations"
    with pytest.raises(UserError, match="unknown Region 'moon-east-1' for organizations"):
        awsclient.make_client(boto3.Session(region_name="moon-east-1", aws_access_key_id="x",
                                            aws_secret_access_key="x"), "organizations")


def test_unread_history_is_said_not_shown_as_a_question_mark() -> None:
    row = inv.Pending("111122223333", "us-east-1", "KMS key", "arn:k", "alias/a", "PendingDeletion",
                      "2026-12-05T00:00:00Z", 5.0, "", "", None).row()
    assert "?" not in row and row.count(inv.NOT_READ) == 3
    row = inv.Pending("111122223333", "us-east-1", "KMS key", "arn:k", "alias/a", "PendingDeletion",
                      "2026-12-05T00:00:00Z", 5.0, "", "", 0).row()
    assert row.count(inv.NOT_FOUND) == 2 and "0" in row


@pytest.mark.parametrize("text", ["Dec 5, 2026, 2:03:27 PM", "May 3, 2018 5:51:02 PM", "Apr 12, 2021 18:58:30 PM",
                                  "Jan 1, 2027, 12:00:01 AM", "Feb 30, 2026, 1:00:00 PM", "2026-12-05", ""])
def test_the_inventory_and_the_notifier_read_deletion_dates_alike(text) -> None:
    """Two rooms, one answer: the notifier cannot import the package, so its parser is held to the
    inventory's on every documented form and on what is no date."""
    from functions.notifier import cloudtrail_date

    try:
        expected = cloudtrail_date(text)
    except ValueError:
        expected = None
    assert inv._cloudtrail_date(text) == expected


def test_table_and_csv(aws, capsys) -> None:
    pending = seed(aws)
    code, out, _ = run(aws, capsys, "--format", "csv")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("account,region,kind,name,days left")
    assert len(lines) == 1 + len(pending)
    code, out, _ = run(aws, capsys)
    assert code == 0 and "alias/payments" in out and pending["db secret"] in out


def test_html_lists_every_pending_one_soonest_first_and_escapes_names(aws, capsys, tmp_path) -> None:
    pending = seed(aws)
    hostile = aws.client("secretsmanager").create_secret(Name="x<img src=y>", SecretString="s")["ARN"]
    aws.client("secretsmanager").delete_secret(SecretId=hostile, RecoveryWindowInDays=20)
    page = tmp_path / "inventory.html"
    code, _, err = run(aws, capsys, "--html", str(page), "--fail-within", "7")
    assert code == 1, err  # the payments key is within 7 days
    html = re.sub(r'<wbr>|<span class="w">|</span>', "", page.read_text())  # the cells' break points
    assert "<script" not in html and 'name="viewport"' in html and "<img" not in html
    assert "x&lt;img src=y&gt;" in html
    positions = [html.index(arn) for arn in (pending["payments key"], pending["other key"], pending["db secret"],
                                             pending["eu key"])]
    assert positions == sorted(positions)  # 7, 8, 10, 30 days
    assert "<tr style=\"font-weight:bold\">" in html and "Within 7 days</th><td>1<" in html


def test_html_into_a_missing_folder_fails_before_reading(capsys, tmp_path) -> None:
    code = cli.main(["inventory", "--region", "us-east-1", "--html", str(tmp_path / "no" / "x.html")])
    assert code == cli.EXIT_USAGE and "--html: folder" in capsys.readouterr().err


def test_the_inventory_reads_with_adaptive_retries(aws, capsys, monkeypatch) -> None:
    from deletion_alarms import awsclient

    made = []
    real = awsclient.make_client

    def spy(*args, **kwargs):
        client = real(*args, **kwargs)
        made.append((args[1], client.meta.config.retries["mode"]))
        return client

    monkeypatch.setattr(awsclient, "make_client", spy)
    assert cli.main(aws.cli("inventory", "--regions", "us-east-1")) == 0
    regional = {mode for service, mode in made if service in ("kms", "secretsmanager", "cloudtrail")}
    assert regional == {"adaptive"}


def test_nothing_pending_says_so(aws, capsys) -> None:
    code = cli.main(aws.cli("inventory", "--regions", "us-east-1"))
    assert code == 0 and capsys.readouterr().out.strip() == "nothing pending deletion"


@pytest.mark.parametrize(("args", "message"), [
    (["--account", "4444"], "--account '4444' is not a 12-digit account ID"),
    (["--account", OTHER], "give --role-name"),
    (["--regions", "moon-east-1"], "unknown Region moon-east-1"),
])
def test_bad_input_is_one_line(args, message, capsys) -> None:
    code = cli.main(["inventory", "--region", "us-east-1", *args])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and message in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------ arithmetic
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("deletion", "days"), [
    (NOW + timedelta(days=7), 7.0),
    (NOW + timedelta(days=7) - timedelta(seconds=1), 6.9),  # never more time than there is
    (NOW + timedelta(hours=2, minutes=23), 0.0),
    (NOW + timedelta(hours=2, minutes=24), 0.1),
    (datetime(2026, 12, 1, 2, 0, tzinfo=timezone(timedelta(hours=14))), 0.0),  # 11-30 12:00 UTC: now
    (datetime(2026, 11, 30, 23, 0, tzinfo=timezone(timedelta(hours=-12))), 0.9),  # 12-01 11:00 UTC: 23 h
    (NOW - timedelta(hours=1), -0.1),  # past due: deletion is about to happen
])
def test_days_left(deletion, days) -> None:
    assert inv.days_left(deletion, NOW) == days


# --------------------------------------------------------------------------------- history
def test_history_names_who_scheduled_it_and_counts_the_uses_since() -> None:
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    scheduler = "arn:aws:sts::111122223333:assumed-role/Admin/alice"

    def event(name: str, minutes: int, **record) -> dict:
        body = {"eventSource": "kms.amazonaws.com", "eventName": name, "userIdentity": {"arn": scheduler}, **record}
        return {"EventName": name, "EventTime": NOW - timedelta(days=2) + timedelta(minutes=minutes),
                "Username": "alice", "CloudTrailEvent": json.dumps(body)}

    use = {"errorCode": "KMSInvalidStateException", "errorMessage": f"{key} is pending deletion."}
    events = [event("Decrypt", -5), event("ScheduleKeyDeletion", 0), event("Decrypt", 10, **use),
              event("Decrypt", 20, **use), event("DescribeKey", 30)]
    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(cloudtrail) as stub:
        stub.add_response("lookup_events", {"Events": events}, {
            "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": key}],
            "StartTime": NOW - timedelta(days=90), "EndTime": NOW})
        past = inv.history(cloudtrail, key, Service.KMS, NOW)
        who, when, used = past.scheduled_by, past.scheduled_at, past.used_since
    assert (who, when, used) == (scheduler, "2026-11-28T12:00:00Z", 2)


def test_a_secrets_deletion_date_is_its_delete_records() -> None:
    """DeletedDate means the scheduled date in one API reference and the request time in another
    (UNCONFIRMED): the DeleteSecret record's deletionDate, request time plus the window, wins."""
    secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"
    body = {"eventSource": "secretsmanager.amazonaws.com", "eventName": "DeleteSecret",
            "userIdentity": {"arn": "arn:aws:iam::111122223333:user/bob"},
            "requestParameters": {"secretId": secret, "recoveryWindowInDays": 7},
            "responseElements": {"aRN": secret, "deletionDate": "Dec 5, 2026, 2:03:27 PM"}}
    events = [{"EventName": "DeleteSecret", "EventTime": NOW - timedelta(days=2), "CloudTrailEvent": json.dumps(body)}]
    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(cloudtrail) as stub:
        stub.add_response("lookup_events", {"Events": events}, None)
        past = inv.history(cloudtrail, secret, Service.SECRETS_MANAGER, NOW)
    assert past.deletion_date == datetime(2026, 12, 5, 14, 3, 27, tzinfo=timezone.utc)


def test_history_that_cannot_be_read_is_unknown_not_zero() -> None:
    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(cloudtrail) as stub:
        stub.add_client_error("lookup_events", "AccessDeniedException")
        assert inv.history(cloudtrail, "arn:x", Service.KMS, NOW) == inv.History(used_since=None)


def test_the_permissions_it_needs_are_the_calls_it_makes(aws, capsys, monkeypatch) -> None:
    """Every AWS call of a run over an organization and every enabled Region, as IAM actions,
    equals inventory.PERMISSIONS, and the README lists exactly those."""
    import re
    from pathlib import Path

    from tests.helpers import record_aws_calls

    seed(aws)
    organizations = aws.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    organizations.create_account(AccountName="other", Email="other@example.com")
    called = record_aws_calls(monkeypatch)
    assert cli.main(aws.cli("inventory", "--organization", "--role-name", "Reader")) == 0
    assert called == set(inv.PERMISSIONS)
    readme = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    paragraph = readme[readme.index("The inventory needs these read-only"):readme.index("## Backtest before deploying")]
    assert set(re.findall(r"`([a-z0-9]+:[A-Za-z]+)`", paragraph)) == set(inv.PERMISSIONS)


def test_a_failure_stops_the_reads_not_yet_started(monkeypatch) -> None:
    """One account-Region fails: its error ends the run, and the account-Regions still queued are
    not read (with 1,700 of them, the user would otherwise wait for every one)."""
    import threading
    import time

    started: list[str] = []
    lock = threading.Lock()

    def pending_in(clients, account, region, now, notes=None):
        with lock:
            started.append(region)
        if region == "r0":
            raise UserError("r0: access denied")
        time.sleep(0.01)
        return []

    monkeypatch.setattr(inv, "pending_in", pending_in)
    tasks = [("111122223333", f"r{i}", None) for i in range(200)]
    with pytest.raises(UserError, match="r0: access denied"):
        inv.collect(tasks, datetime.now(timezone.utc), workers=2)
    time.sleep(0.2)  # what still runs would have started more by now
    assert len(started) < 20, len(started)


def test_deleted_restored_and_deleted_again_both_readers_take_the_last_scheduling() -> None:
    """The notifier's daily check (scheduling_history) and the inventory (history) answer "the last
    scheduling of this secret" from the same event history: the second deletion, with its own date
    and caller, whatever came between. #33 item 4: one question, two codes, tested together."""
    from functions.notifier import scheduling_history

    secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-a1B2c3"

    def lookup_event(name: str, days_ago: int, who: str, **record) -> dict:
        at = NOW - timedelta(days=days_ago)
        body = {"eventSource": "secretsmanager.amazonaws.com", "eventName": name, "eventTime": at.strftime(
            "%Y-%m-%dT%H:%M:%SZ"), "userIdentity": {"arn": f"arn:aws:iam::111122223333:user/{who}"}, **record}
        return {"EventName": name, "EventTime": at, "Username": who, "CloudTrailEvent": json.dumps(body)}

    def deleted(days_ago: int, window: int, who: str) -> dict:
        date = (NOW - timedelta(days=days_ago) + timedelta(days=window)).strftime("%b %d, %Y, %I:%M:%S %p")
        return lookup_event("DeleteSecret", days_ago, who, requestParameters={
            "secretId": secret, "recoveryWindowInDays": window}, responseElements={"arn": secret, "deletionDate": date})

    # LookupEvents answers newest first (CloudTrail API reference).
    events = [deleted(2, 30, "second"), lookup_event("RestoreSecret", 15, "restorer", requestParameters={
        "secretId": secret}), deleted(20, 7, "first")]
    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cloudtrail)
    stub.add_response("lookup_events", {"Events": events}, None)  # the inventory: by resource
    stub.add_response("lookup_events", {"Events": [e for e in events if e["EventName"] == "ScheduleKeyDeletion"]}, None)
    stub.add_response("lookup_events", {"Events": [e for e in events if e["EventName"] == "DeleteSecret"]}, None)
    with stub:
        past = inv.history(cloudtrail, secret, Service.SECRETS_MANAGER, NOW)
        notifier_view, complete = scheduling_history(cloudtrail, NOW)
    expected = (NOW - timedelta(days=2) + timedelta(days=30)).replace(microsecond=0)
    assert complete and past.deletion_date == notifier_view[secret].deletion == expected
    assert past.scheduled_by == notifier_view[secret].caller == "arn:aws:iam::111122223333:user/second"


def pending(days_left: float | None) -> "inv.Pending":
    return inv.Pending("111122223333", "us-east-1", "KMS key", f"arn:aws:kms:us-east-1:111122223333:key/{days_left}",
                       "", "PendingDeletion", "", days_left, "", "", 0)


@pytest.mark.parametrize(("days_left", "fail_within", "within"), [
    (7.0, 7, True),   # the last day counts: "within 7 days" includes a key deleted in exactly 7.0
    (7.1, 7, False), (6.9, 7, True), (0.0, 0, True), (0.1, 0, False),
    (None, 30, False),  # a primary waiting for its replicas has no date yet
])
def test_fail_within_counts_the_last_day_and_never_a_date_not_set(days_left, fail_within, within) -> None:
    assert pending(days_left).within(fail_within) is within


def test_a_multi_region_primary_waiting_for_its_replicas_is_listed_last_without_a_date() -> None:
    """ScheduleKeyDeletion on a multi-Region primary with replicas: KeyState PendingReplicaDeletion
    and no DeletionDate until the last replica is deleted (KMS developer guide, deleting multi-Region
    keys). It is listed, after every dated one, and says why it has no date."""
    now = datetime(2026, 12, 5, tzinfo=timezone.utc)
    primary = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
    dated = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    class Kms:
        exceptions = type("E", (), {"ClientError": Exception})

        def get_paginator(self, name):
            pages = {"list_aliases": [{"Aliases": []}],
                     "list_keys": [{"Keys": [{"KeyId": primary.rsplit("/", 1)[1]}, {"KeyId": dated.rsplit("/", 1)[1]}]}]}
            return type("P", (), {"paginate": lambda self, **kw: pages[name]})()

        def describe_key(self, KeyId):  # noqa: N803
            if KeyId.startswith("mrk-"):
                return {"KeyMetadata": {"Arn": primary, "KeyState": "PendingReplicaDeletion", "MultiRegion": True}}
            return {"KeyMetadata": {"Arn": dated, "KeyState": "PendingDeletion",
                                    "DeletionDate": now + timedelta(days=9)}}

    class Nothing:
        def get_paginator(self, name):
            return type("P", (), {"paginate": lambda self, **kw: [{}]})()

    clients = {"kms": Kms(), "secretsmanager": Nothing(), "cloudtrail": Nothing()}
    found = inv.collect([("111122223333", "us-east-1", clients.get)], now=now)
    assert [p.arn for p in found] == [dated, primary]
    assert found[1].days_left is None and found[1].row()[4:6] == [inv.AFTER_REPLICAS] * 2
    assert "nan" not in inv.render(found, "table") and json.loads(inv.render(found, "json"))[1]["days_left"] is None
