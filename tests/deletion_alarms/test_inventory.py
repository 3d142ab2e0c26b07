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
    assert f"deletion-alarms: {HOME} us-east-1: 1 KMS key could not be described (AccessDeniedException or " \
           "NotFoundException): not checked" in err


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
    assert "?" not in row and row.count(inv.NOT_READ) == 4
    row = inv.Pending("111122223333", "us-east-1", "KMS key", "arn:k", "alias/a", "PendingDeletion",
                      "2026-12-05T00:00:00Z", 5.0, "", "", 0).row()
    assert row.count(inv.NOT_FOUND) == 2 and "0" in row


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
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-a1B2c3"
ALICE = "arn:aws:sts::111122223333:assumed-role/Admin/alice"
APP = "arn:aws:sts::111122223333:assumed-role/orders-app/i-0abc"


def lookup_event(name: str, at: datetime, who: str = ALICE, source: str = "kms.amazonaws.com", **record) -> dict:
    """One entry of LookupEvents' answer (CloudTrail API reference, Event): the record as a string."""
    body = {"eventSource": source, "eventName": name, "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "userIdentity": {"arn": who}, **record}
    return {"EventName": name, "EventTime": at, "Username": who.rsplit("/", 1)[-1], "CloudTrailEvent": json.dumps(body)}


def scheduled(at: datetime, window: int = 7, who: str = ALICE) -> dict:
    return lookup_event("ScheduleKeyDeletion", at, who, requestParameters={"keyId": KEY, "pendingWindowInDays": window},
                        responseElements={"keyId": KEY, "keyState": "PendingDeletion", "deletionDate": (
                            at + timedelta(days=window)).strftime("%b %d, %Y, %I:%M:%S %p")})


def deleted(at: datetime, window: int, who: str) -> dict:
    date = (at + timedelta(days=window)).strftime("%b %d, %Y, %I:%M:%S %p")
    return lookup_event("DeleteSecret", at, who, "secretsmanager.amazonaws.com", requestParameters={
        "secretId": SECRET, "recoveryWindowInDays": window}, responseElements={"arn": SECRET, "deletionDate": date})


def inventory_of(keys: list[dict], secrets: list[dict], lookups: list[list[dict]] | str,
                 secret_list: list[dict] | None = None) -> tuple[list["inv.Pending"], list[str]]:
    """pending_in over botocore Stubbers (moto keeps no event history). ``lookups``: LookupEvents'
    answers in the order the reads ask (ScheduleKeyDeletion, DeleteSecret, then each pending key's
    and secret's own history), or an error code for every one."""
    def client(name: str):
        return boto3.client(name, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")

    kms, secretsmanager, cloudtrail = client("kms"), client("secretsmanager"), client("cloudtrail")
    stubs = [Stubber(kms), Stubber(secretsmanager), Stubber(cloudtrail)]
    kms_stub, secrets_stub, cloudtrail_stub = stubs
    if isinstance(lookups, str):
        cloudtrail_stub.add_client_error("lookup_events", lookups)
    else:
        for events in lookups:
            cloudtrail_stub.add_response("lookup_events", {"Events": events})
    kms_stub.add_response("list_aliases", {"Aliases": [{"AliasName": "alias/payments", "TargetKeyId": k["KeyId"],
                                                        "AliasArn": k["Arn"].split(":key/")[0] + ":alias/payments"}
                                                       for k in keys]})
    kms_stub.add_response("list_keys", {"Keys": [{"KeyId": k["KeyId"], "KeyArn": k["Arn"]} for k in keys]})
    for key in keys:
        kms_stub.add_response("describe_key", {"KeyMetadata": key})
    secrets_stub.add_response("list_secrets", {"SecretList": secrets})
    if keys:
        secrets_stub.add_response("list_secrets", {"SecretList": secret_list if secret_list is not None else secrets})
    notes: list[str] = []
    with kms_stub, secrets_stub, cloudtrail_stub:
        found = inv.pending_in({"kms": kms, "secretsmanager": secretsmanager, "cloudtrail": cloudtrail}.get,
                               "111122223333", "us-east-1", NOW, notes)
        for stub in stubs:
            stub.assert_no_pending_responses()
    return found, notes


PENDING_KEY = {"KeyId": KEY.rsplit("/", 1)[1], "Arn": KEY, "KeyState": "PendingDeletion",
               "DeletionDate": NOW + timedelta(days=5)}


def test_history_names_who_scheduled_it_who_used_it_and_counts_the_uses_since() -> None:
    at = NOW - timedelta(days=2)
    use = {"errorCode": "KMSInvalidStateException", "errorMessage": f"{KEY} is pending deletion."}
    own = [lookup_event("DescribeKey", at + timedelta(minutes=30)),  # not a use
           lookup_event("Decrypt", at + timedelta(minutes=20), APP, **use),
           lookup_event("Decrypt", at + timedelta(minutes=10), APP, **use),
           scheduled(at), lookup_event("Decrypt", at - timedelta(minutes=5), APP)]  # newest first
    (found,), notes = inventory_of([PENDING_KEY], [], [[scheduled(at)], [], own])
    assert (found.scheduled_by, found.scheduled_at, found.used_since) == (ALICE, "2026-11-28T12:00:00Z", 2)
    assert found.recent_use == (f"3 uses by 1 principal in the last 90 days of CloudTrail event history: {APP} "
                                "(Decrypt 3)")
    assert found.name == "alias/payments" and notes == []


def test_a_history_read_in_part_says_the_uses_since_are_a_lower_bound() -> None:
    at = NOW - timedelta(days=20)
    pages = [[lookup_event("Decrypt", NOW - timedelta(minutes=n * 50 + i), APP) for i in range(50)]
             for n in range(inv.USE_PAGES + 1)]
    kms, secretsmanager, cloudtrail = (boto3.client(n, region_name="us-east-1", aws_access_key_id="t",
                                                    aws_secret_access_key="t") for n in ("kms", "secretsmanager",
                                                                                         "cloudtrail"))
    with Stubber(cloudtrail) as stub:
        for i, events in enumerate(pages):
            stub.add_response("lookup_events", {"Events": events, "NextToken": f"t{i}"})
        history = inv.notifier.resource_history(cloudtrail, KEY, NOW, pages=inv.USE_PAGES)
    item = inv.notifier.AtRisk("key", KEY, "", "PendingDeletion", NOW + timedelta(days=5))
    schedule = inv.notifier.Scheduling(ALICE, at, NOW + timedelta(days=5), False)

    class Replay:  # the history just read, answered again
        def get_paginator(self, name):
            return type("P", (), {"paginate": lambda self, **kw: [{"Events": e, "NextToken": "t"} for e in pages]})()

    row = inv.pending("111122223333", "us-east-1", item, schedule, Replay(), NOW, "")
    assert not history.complete and row.used_since == 1000 and row.used_since_partial
    assert row.row()[8] == "1000+" and "(the rest not read)" in row.recent_use


def test_imported_key_material_that_expires_is_listed_with_its_date() -> None:
    """The inventory lists what the daily check reminds of: a key whose imported material expires
    (DescribeKey ValidTo) counts for --fail-within like a deletion; its secrets are at risk too."""
    material = {**PENDING_KEY, "KeyState": "Enabled", "Origin": "EXTERNAL", "ExpirationModel": "KEY_MATERIAL_EXPIRES",
                "ValidTo": NOW + timedelta(days=3)}
    material.pop("DeletionDate")
    secrets = [{"ARN": SECRET, "Name": "prod/db", "KmsKeyId": "alias/payments"}]
    (found,), _ = inventory_of([material], [], [[], [], []], secret_list=secrets)
    assert (found.kind, found.days_left, found.deletion_date) == ("KMS key material", 3.0, "2026-12-03T12:00:00Z")
    assert found.within(3) and not found.within(2)
    row = found.row()
    assert row[6:9] == [inv.SET_AT_IMPORT, "-", "-"] and row[10].startswith("1 of the 1 secret in this Region: prod/db")


def test_a_secrets_deletion_date_is_its_delete_records() -> None:
    """DeletedDate means the scheduled date in one API reference and the request time in another
    (UNCONFIRMED): the DeleteSecret record's deletionDate, request time plus the window, wins."""
    at = NOW - timedelta(days=2)
    listed = {"ARN": SECRET, "Name": "prod/db", "DeletedDate": at}
    (found,), _ = inventory_of([], [listed], [[], [deleted(at, 7, ALICE)], []])
    assert found.deletion_date == "2026-12-05T12:00:00Z" and found.days_left == 5.0
    assert found.recent_use.startswith("no event in the last 90 days of CloudTrail event history names it")


def test_history_that_cannot_be_read_is_unknown_not_zero() -> None:
    (found,), notes = inventory_of([PENDING_KEY], [], "AccessDeniedException")
    assert found.used_since is None and found.recent_use == "" and found.row().count(inv.NOT_READ) == 4
    assert notes == ["111122223333 us-east-1: CloudTrail event history not read (AccessDeniedException)"]


def test_the_secrets_encrypted_under_a_pending_key_by_id_arn_alias_or_alias_arn() -> None:
    """DescribeSecret: KmsKeyId is "the key ID or alias ARN"; a secret created with the key's ARN or
    alias name keeps that form. Each names the key; another key and aws/secretsmanager do not."""
    alias_arn = KEY.split(":key/")[0] + ":alias/payments"
    secrets = [{"ARN": f"{SECRET}{i}", "Name": name, "KmsKeyId": key_id} for i, (name, key_id) in enumerate([
        ("by-id", KEY.rsplit("/", 1)[1]), ("by-arn", KEY), ("by-alias", "alias/payments"), ("by-alias-arn", alias_arn),
        ("other-key", KEY[:-4] + "ffff"), ("other-alias", "alias/other")])] + [{"ARN": SECRET, "Name": "default"}]
    (found,), _ = inventory_of([PENDING_KEY], [], [[], [], []], secret_list=secrets)
    assert found.encrypted_secrets == (
        "4 of the 7 secrets in this Region: by-alias, by-alias-arn, by-arn and 1 more (Secrets Manager cannot "
        "decrypt them while the key is disabled, nor ever once it is deleted)")
    (found,), _ = inventory_of([PENDING_KEY], [], [[], [], []], secret_list=secrets[4:])
    assert found.encrypted_secrets == "none of the 3 secrets in this Region"


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
    """The notifier's daily check and the inventory answer "the last scheduling of this secret" with
    one function (functions/notifier.py scheduling_history): the second deletion, with its own date
    and caller, whatever came between. #33 item 4: one logic, tested here with both callers."""
    from functions.notifier import scheduling_history

    first, restored, second = NOW - timedelta(days=20), NOW - timedelta(days=15), NOW - timedelta(days=2)
    # LookupEvents answers newest first (CloudTrail API reference); by EventName, only that name.
    deletions = [deleted(second, 30, "arn:aws:iam::111122223333:user/second"),
                 deleted(first, 7, "arn:aws:iam::111122223333:user/first")]
    own = [deletions[0], lookup_event("RestoreSecret", restored, source="secretsmanager.amazonaws.com"), deletions[1]]
    listed = {"ARN": SECRET, "Name": "prod/db", "DeletedDate": second}
    (row,), _ = inventory_of([], [listed], [[], deletions, own])
    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(cloudtrail) as stub:
        stub.add_response("lookup_events", {"Events": []})
        stub.add_response("lookup_events", {"Events": deletions})
        notifier_view, complete = scheduling_history(cloudtrail, NOW)
    expected = second + timedelta(days=30)
    assert complete and notifier_view[SECRET].deletion == expected
    assert row.deletion_date == expected.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row.scheduled_by == notifier_view[SECRET].caller == "arn:aws:iam::111122223333:user/second"


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
