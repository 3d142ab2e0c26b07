"""What the person on call reads, for every detection and every outcome a record can have.

Each case is a labelled CloudTrail record of tests/corpus/ (AWS's documented samples among them), put
through the template's own inline notifier as Lambda loads it. The expectations are written here
from what AWS documents each call to do, not from the notifier's message data:

- a denied or failed call changed nothing: no undo, and it says so in the subject;
- a key only disabled is enabled again (cancel-key-deletion fails on a key that is not pending
  deletion: KMS API reference); a key scheduled for deletion is cancelled, then enabled
  (CancelKeyDeletion leaves it Disabled);
- a secret deleted with ForceDeleteWithoutRecovery cannot be restored (DeleteSecret reference): no
  restore-secret anywhere; a secret in its recovery window is restored;
- replicas removed are replicated again to the Regions the record names;
- an immediate loss offers nothing that pretends to undo it.
"""

from __future__ import annotations

import json
import re
import types
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber

from detections.eventpatterns import cloudtrail_event
from tests.conftest import load_corpus

SAMPLES = {s.cls: s for s in load_corpus()}
NOW = datetime(2026, 11, 28, 14, 10, tzinfo=timezone.utc)
OWN_ACCOUNT = "111122223333"
CANCEL, ENABLE, RESTORE = "aws kms cancel-key-deletion", "aws kms enable-key", "aws secretsmanager restore-secret"
REPLICATE, CONNECT = "aws secretsmanager replicate-secret-to-regions", "aws kms connect-custom-key-store"
DESCRIBE = "aws kms describe-key"

# corpus class, detection, how the subject begins, the undo commands in order.
CASES = [
    ("kms-decrypt-pending-deletion-kmsinvalidstateexception", "KmsKeyPendingDeletionUse",
     "KMS key pending deletion was used", [CANCEL, ENABLE]),
    ("kms-decrypt-pending-deletion-disabledexception", "KmsKeyPendingDeletionUse",
     "KMS key pending deletion was used", [CANCEL, ENABLE]),
    ("kms-reencrypt-pending-deletion-kmsinvalidstateexception", "KmsKeyPendingDeletionUse",
     "KMS key pending deletion was used", [CANCEL, ENABLE]),
    ("kms-decrypt-pending-replica-deletion", "KmsKeyPendingDeletionUse",
     "KMS key pending deletion was used", [CANCEL, ENABLE]),
    ("kms-decrypt-pending-import", "KmsKeyUnusableUse", "KMS key without usable key material was used", [DESCRIBE]),
    ("kms-decrypt-external-key-store-unavailable", "KmsKeyUnusableUse",
     "KMS key without usable key material was used", [DESCRIBE]),
    ("kms-encrypt-unavailable-cloudhsm-key-store", "KmsKeyUnusableUse",
     "KMS key without usable key material was used", [DESCRIBE]),
    ("kms-schedulekeydeletion-success", "KmsKeyDisableOrDeletion", "KMS key scheduled for deletion in 7 days",
     [CANCEL, ENABLE]),
    ("kms-schedulekeydeletion-default-window-role", "KmsKeyDisableOrDeletion",
     "KMS key scheduled for deletion in 30 days", [CANCEL, ENABLE]),
    ("kms-schedulekeydeletion-docs-sample", "KmsKeyDisableOrDeletion",
     "KMS key scheduled for deletion in 20 days", [CANCEL, ENABLE]),
    ("kms-schedulekeydeletion-multi-region-primary", "KmsKeyDisableOrDeletion",
     "KMS key scheduled for deletion after its replicas", [CANCEL, ENABLE]),
    ("kms-schedulekeydeletion-denied", "KmsKeyDisableOrDeletion", "Denied: attempt to schedule KMS key deletion", []),
    ("kms-schedulekeydeletion-already-pending", "KmsKeyDisableOrDeletion",
     "Failed: attempt to schedule KMS key deletion", []),
    ("kms-disablekey", "KmsKeyDisableOrDeletion", "KMS key disabled", [ENABLE]),
    ("kms-disablekey-denied", "KmsKeyDisableOrDeletion", "Denied: attempt to disable KMS key", []),
    ("kms-deleteimportedkeymaterial", "KmsKeyMaterialDeletion", "KMS key material deleted", []),
    ("kms-deleteimportedkeymaterial-denied", "KmsKeyMaterialDeletion", "Denied: attempt to delete KMS key material",
     []),
    ("kms-deleteexpiredkeymaterial-service-event", "KmsKeyMaterialDeletion", "KMS key material expired", []),
    ("kms-disconnectcustomkeystore", "KmsKeyMaterialDeletion", "KMS custom key store disconnected", [CONNECT]),
    ("kms-deletecustomkeystore", "KmsKeyMaterialDeletion", "KMS custom key store deleted", []),
    ("kms-deletekey-service-event", "KmsKeyDeleted", "KMS key deleted for good", []),
    ("kms-cancelkeydeletion", "KmsKeyDeletionCancelled", "Resolved: KMS key deletion cancelled", [ENABLE]),
    ("secretsmanager-getsecretvalue-marked-for-deletion-new-wording", "SecretPendingDeletionUse",
     "Secret marked for deletion was used", [RESTORE]),
    ("secretsmanager-getsecretvalue-marked-for-deletion-old-wording", "SecretPendingDeletionUse",
     "Secret marked for deletion was used", [RESTORE]),
    ("secretsmanager-deletesecret-recovery-window", "SecretDeletion", "Secret scheduled for deletion in 7 days",
     [RESTORE]),
    ("secretsmanager-deletesecret-default-window", "SecretDeletion", "Secret scheduled for deletion in 30 days",
     [RESTORE]),
    ("secretsmanager-deletesecret-docs-sample", "SecretDeletion", "Secret scheduled for deletion in 30 days",
     [RESTORE]),
    ("secretsmanager-deletesecret-force", "SecretDeletion", "Secret deleted for good (force delete)", []),
    ("secretsmanager-deletesecret-denied", "SecretDeletion", "Denied: attempt to delete secret", []),
    ("secretsmanager-deletesecret-already-marked", "SecretDeletion", "Failed: attempt to delete secret", []),
    ("secretsmanager-removeregionsfromreplication", "SecretReplicaDeletion", "Secret replicas deleted", [REPLICATE]),
    ("secretsmanager-removeregionsfromreplication-denied", "SecretReplicaDeletion",
     "Denied: attempt to delete secret replicas", []),
    ("secretsmanager-restoresecret", "SecretRestored", "Resolved: secret restored", []),
]


@pytest.fixture(scope="module")
def inline(workload) -> types.ModuleType:
    """The notifier exactly as the template deploys it (index.py from Code.ZipFile)."""
    from stacks.docs import load_inline

    return load_inline(workload["Resources"]["NotifierFunction"]["Properties"]["Code"]["ZipFile"], "inline_notifier")


class Topic:
    """Stands for SNS Publish: validates what the Publish API validates that matters here."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def publish(self, **call) -> dict:
        assert call["MessageStructure"] == "json" and "default" in json.loads(call["Message"])
        assert len(call["Message"].encode()) <= 256 * 1024  # SNS's message size limit
        self.sent.append(call)
        return {"MessageId": "m"}


def notifier(inline, clients=None, account: str = OWN_ACCOUNT):
    return inline.Notifier(Topic(), None, None, topic_arn="arn:aws:sns:us-east-1:111122223333:alerts",
                           queue_url="q", claim_table="c", log_group="/aws/lambda/notifier", region="us-east-1",
                           specs=inline.SPECS, clock=lambda: NOW.timestamp(), log=lambda line: None,
                           account=account, clients=clients)


def send(inline, detection: str, records: list[dict], **kwargs) -> tuple[str, str, dict]:
    """Subject, email text and chat form of the digest of ``records``."""
    n = notifier(inline, **kwargs)
    digest = inline.Digest(detection)
    digest.add([cloudtrail_event(r) for r in records], len(records), "m1", False)
    n.publish(digest)
    (call,) = n.sns.sent
    message = json.loads(call["Message"])
    assert message["email"] == message["sqs"] == message["lambda"] and message["default"] == message["https"]
    assert message["sms"] == call["Subject"]
    return call["Subject"], message["email"], json.loads(message["https"])


def resource_of(record: dict) -> str:
    """The key or secret ARN (or ID) a record is about, read here from AWS's documented fields."""
    if record["eventSource"] == "kms.amazonaws.com":
        found = re.match(r"(arn:aws:kms:\S+?) is pending", record.get("errorMessage") or "")
        if found:
            return found[1]
        return ((record.get("responseElements") or {}).get("keyId") or (record.get("resources") or [{}])[0].get("ARN")
                or record["requestParameters"].get("keyId") or record["requestParameters"]["customKeyStoreId"])
    response = record.get("responseElements") or {}
    return response.get("arn") or response.get("aRN") or record["requestParameters"]["secretId"]


def short_of(record: dict) -> str:
    """What a person knows it by, without aliases: the key ID, the store ID or the secret's name."""
    resource = resource_of(record)
    if record["eventSource"] == "kms.amazonaws.com":
        return resource.rsplit("/", 1)[-1]
    return (record.get("responseElements") or {}).get("name") or re.sub(r"^.*:secret:(.+)-\w{6}$", r"\1", resource)


def undo_commands_in(text: str) -> list[str]:
    """The commands of the Undo (or Next) block of the first event described."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"\s+(Undo|Next)\b.*?: aws ", line)), None)
    if start is None:
        return []
    commands = [lines[start].split(": ", 1)[1]]
    for line in lines[start + 1:]:
        if not re.match(r"\s+aws ", line):
            break
        commands.append(line.strip())
    return commands


@pytest.mark.parametrize("cls, detection, headline, undo", CASES, ids=[c[0] for c in CASES])
def test_each_outcome_has_its_own_subject_words_and_undo(inline, cls, detection, headline, undo) -> None:
    record = SAMPLES[cls].record
    assert detection in SAMPLES[cls].expect
    subject, text, chat = send(inline, detection, [record])
    account, region = record["recipientAccountId"], record["awsRegion"]
    assert subject.startswith(headline + ": "), subject
    assert subject.endswith(f" ({account} {region})") and len(subject) <= 99, subject
    name = short_of(record)
    assert name in subject or "..." in subject, subject
    assert "(not in the record)" not in text and "(not in the record)" not in subject
    commands = undo_commands_in(text)
    assert [c.split(" --")[0] for c in commands] == undo, commands
    for command in commands:
        assert f"--region {region} " in command
        assert command.endswith(resource_of(record)) or REPLICATE in command, command
    if not undo:
        assert "Undo:" not in text and CANCEL not in text and RESTORE not in text, text
    if REPLICATE in undo:
        regions = record["requestParameters"]["removeReplicaRegions"]
        assert commands[0].endswith(" ".join(f"Region={r}" for r in regions)) and resource_of(record) in commands[0]
    assert chat["version"] == "1.0" and chat["source"] == "custom" and chat["content"]["title"] == subject
    assert [step.strip("`") for step in chat["content"]["nextSteps"]] == commands


def test_every_positive_record_has_an_outcome_of_its_own(inline) -> None:
    """No record a detection matches falls through to the generic wording."""
    for sample in load_corpus():
        for detection in sample.expect:
            spec = inline.SPECS[detection]
            digest = inline.Digest(detection)
            digest.add([cloudtrail_event(sample.record)], 1, "m", False)
            (row,) = digest.details(spec)
            assert row.outcome["name"] != "Other", (sample.cls, detection)


def test_the_worst_outcome_names_the_subject_of_a_mixed_digest(inline) -> None:
    records = [SAMPLES["secretsmanager-deletesecret-denied"].record, SAMPLES["secretsmanager-deletesecret-force"].record]
    subject, text, _ = send(inline, "SecretDeletion", records)
    assert subject.startswith("[2] Secret deleted for good (force delete): prod/db/password"), subject
    assert text.index("Secret deleted for good") < text.index("Denied: attempt to delete secret")


@pytest.mark.parametrize("cls", ["kms-schedulekeydeletion-docs-sample", "secretsmanager-deletesecret-docs-sample",
                                 "secretsmanager-deletesecret-recovery-window"])
def test_every_documented_date_form_gives_the_deletion_date(inline, cls) -> None:
    """AWS's samples write deletionDate as "Apr 12, 2021 18:58:30 PM", "May 3, 2018 5:51:02 PM" and
    "Dec 5, 2026, 2:03:27 PM": each is the event time plus the window it asked for."""
    record = SAMPLES[cls].record
    window = (record["requestParameters"].get("pendingWindowInDays")
              or record["requestParameters"].get("recoveryWindowInDays"))
    expected = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
    parsed = inline.utc(record["responseElements"]["deletionDate"])
    assert abs(parsed - expected - timedelta(days=window)) <= timedelta(days=1), (parsed, expected)
    _, text, _ = send(inline, "KmsKeyDisableOrDeletion" if "kms" in cls else "SecretDeletion", [record])
    assert f"Deletion date: {parsed:%Y-%m-%dT%H:%M:%SZ} UTC" in text and "computed" not in text


def test_a_date_in_no_known_form_is_computed_from_the_window_and_says_so(inline) -> None:
    record = json.loads(json.dumps(SAMPLES["secretsmanager-deletesecret-recovery-window"].record))
    record["responseElements"]["deletionDate"] = "2026/12/05 14:03"
    _, text, _ = send(inline, "SecretDeletion", [record])
    assert "Deletion date: 2026-12-05T14:03:27Z UTC" in text and "computed: event time + 7 days" in text


# ------------------------------------------------------------------ what KMS and Secrets Manager say now
def stubbed(service: str):
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_a_key_use_says_its_alias_and_how_long_is_left(inline) -> None:
    record = SAMPLES["kms-decrypt-pending-deletion-kmsinvalidstateexception"].record
    key = resource_of(record)
    kms, stub = stubbed("kms")
    deletion = NOW + timedelta(days=6, hours=23, minutes=30)
    stub.add_response("describe_key", {"KeyMetadata": {
        "KeyId": key.rsplit("/", 1)[-1], "Arn": key, "KeyState": "PendingDeletion", "DeletionDate": deletion,
        "Description": "orders database"}}, {"KeyId": key})
    stub.add_response("list_aliases", {"Aliases": [{"AliasName": "alias/orders-db", "TargetKeyId": key}]},
                      {"KeyId": key})
    with stub:
        subject, text, _ = send(inline, "KmsKeyPendingDeletionUse", [record], clients=lambda name, region=None: kms)
    stub.assert_no_pending_responses()
    assert subject == "KMS key pending deletion was used: alias/orders-db (111122223333 us-east-1)"
    assert "Aliases: alias/orders-db" in text and "Description: orders database" in text
    assert f"Deletion date: {deletion:%Y-%m-%dT%H:%M:%SZ} UTC   6 days 23 hours left" in text
    assert "State now: PendingDeletion" in text


def test_a_key_that_cannot_be_read_is_said_in_one_sentence(inline) -> None:
    record = SAMPLES["kms-decrypt-pending-deletion-kmsinvalidstateexception"].record
    kms, stub = stubbed("kms")
    stub.add_client_error("describe_key", "AccessDeniedException", "not authorized", 400)
    with stub:
        subject, text, _ = send(inline, "KmsKeyPendingDeletionUse", [record], clients=lambda name, region=None: kms)
    assert "1234abcd-12ab-34cd-56ef-1234567890ab (111122223333 us-east-1)" in subject
    assert ("Could not read the key now (DescribeKey: AccessDeniedException): its current state and deletion "
            "date are not shown.") in text
    assert "Deletion date" not in text and "Aliases" not in text and "None" not in text


@pytest.mark.parametrize("days, shown", [(5, "Deletion date: 2026-12-03T14:10:00Z UTC   5 days left"),
                                         (-2, "scheduled at 2026-11-26T14:10:00Z UTC by DescribeSecret's DeletedDate")])
def test_a_secret_use_says_when_it_goes_under_either_reading_of_deleted_date(inline, days, shown) -> None:
    """DescribeSecret calls DeletedDate the deletion date; ListSecrets, the time of the request
    (UNCONFIRMED which): a date ahead is the first, a date past can only be the second."""
    record = SAMPLES["secretsmanager-getsecretvalue-marked-for-deletion-new-wording"].record
    secret = resource_of(record)
    client, stub = stubbed("secretsmanager")
    stub.add_response("describe_secret", {"ARN": secret, "Name": "prod/db/password",
                                          "DeletedDate": NOW + timedelta(days=days)}, {"SecretId": secret})
    with stub:
        subject, text, _ = send(inline, "SecretPendingDeletionUse", [record], clients=lambda name, region=None: client)
    assert shown in text and "State now: scheduled for deletion" in text


def test_an_event_of_another_account_is_not_read_and_its_undo_says_where_to_run_it(inline) -> None:
    record = SAMPLES["kms-schedulekeydeletion-success"].record
    never = types.SimpleNamespace()  # any call on it fails the test

    subject, text, _ = send(inline, "KmsKeyDisableOrDeletion", [record], clients=lambda name, region=None: never,
                            account="444455556666")
    assert subject.endswith("(111122223333 us-east-1)")
    assert ("From account 111122223333: this notifier runs in account 444455556666 and cannot read that "
            "account's keys nor its event history; `deletion-alarms inventory --organization` lists their deletion "
            "dates, who used them and the secrets encrypted under each key.") in text
    assert "Recent use:" not in text and "Secrets encrypted under it:" not in text
    assert "Undo (with credentials of account 111122223333): aws kms cancel-key-deletion" in text


def test_an_alert_reads_exactly_what_the_role_grants(inline, monkeypatch) -> None:
    """The reads an alert makes, recorded from the SDK, are the template's ALERT_* actions."""
    from stacks.notifier import ALERT_LIST_ACTIONS, ALERT_READ_ACTIONS
    from tests.helpers import record_aws_calls

    called = record_aws_calls(monkeypatch)
    kms, kms_stub = stubbed("kms")
    secrets, secrets_stub = stubbed("secretsmanager")
    key_record = SAMPLES["kms-decrypt-pending-deletion-kmsinvalidstateexception"].record
    secret_record = SAMPLES["secretsmanager-getsecretvalue-marked-for-deletion-new-wording"].record
    kms_stub.add_response("describe_key", {"KeyMetadata": {"KeyId": "k", "Arn": resource_of(key_record)}})
    kms_stub.add_response("list_aliases", {"Aliases": []})
    secrets_stub.add_response("describe_secret", {"ARN": resource_of(secret_record), "Name": "prod/db/password"})
    scheduled = SAMPLES["kms-schedulekeydeletion-success"].record
    kms_stub.add_response("describe_key", {"KeyMetadata": {"KeyId": "k", "Arn": resource_of(scheduled)}})
    kms_stub.add_response("list_aliases", {"Aliases": []})
    cloudtrail, cloudtrail_stub = stubbed("cloudtrail")
    cloudtrail_stub.add_response("lookup_events", {"Events": []})
    clients = {"kms": kms, "secretsmanager": secrets, "cloudtrail": cloudtrail}
    with kms_stub, secrets_stub, cloudtrail_stub:
        send(inline, "KmsKeyPendingDeletionUse", [key_record], clients=lambda name, region=None: clients[name])
        send(inline, "SecretPendingDeletionUse", [secret_record], clients=lambda name, region=None: clients[name])
        send(inline, "KmsKeyDisableOrDeletion", [scheduled], clients=lambda name, region=None: clients[name])
    assert called == set(ALERT_READ_ACTIONS) | set(ALERT_LIST_ACTIONS)



# ------------------------------------------------------------------ who used a key scheduled for deletion
def history_event(name: str, who: str, hours_ago: int) -> dict:
    """One entry of LookupEvents' answer (CloudTrail API reference, Event): the record as a string."""
    at = NOW - timedelta(hours=hours_ago)
    return {"EventId": f"{name}-{hours_ago}", "EventName": name, "EventTime": at, "EventSource": "kms.amazonaws.com",
            "CloudTrailEvent": json.dumps({"eventName": name, "userIdentity": {"arn": who}})}


def alert_lines(inline, pages: list[list[dict]], fail: str | None = None, secrets: list[dict] | None = None,
                sample: str = "kms-schedulekeydeletion-success") -> str:
    """The email of one scheduling record, with its event history (``pages``) and this Region's secrets."""
    record = SAMPLES[sample].record
    kms, kms_stub = stubbed("kms")
    secretsmanager, secrets_stub = stubbed("secretsmanager")
    if record["eventSource"] == "kms.amazonaws.com":
        kms_stub.add_response("describe_key", {"KeyMetadata": {"KeyId": "k", "Arn": resource_of(record)}})
        kms_stub.add_response("list_aliases", {"Aliases": [{"AliasName": "alias/payments"}]})
    else:
        secrets_stub.add_response("describe_secret", {"ARN": resource_of(record), "Name": "prod/db"})
    cloudtrail, cloudtrail_stub = stubbed("cloudtrail")
    if fail:
        cloudtrail_stub.add_client_error("lookup_events", fail)
    for i, events in enumerate(pages):
        cloudtrail_stub.add_response("lookup_events", {"Events": events, **({"NextToken": f"t{i}"} if i < len(pages) - 1
                                                                             else {})})
    if record["eventSource"] == "kms.amazonaws.com":
        if secrets is None:
            secrets_stub.add_client_error("list_secrets", "AccessDeniedException")
        else:
            secrets_stub.add_response("list_secrets", {"SecretList": secrets})
    clients = {"kms": kms, "cloudtrail": cloudtrail, "secretsmanager": secretsmanager}
    with kms_stub, cloudtrail_stub, secrets_stub:
        detection = "KmsKeyDisableOrDeletion" if record["eventSource"] == "kms.amazonaws.com" else "SecretDeletion"
        _, text, _ = send(inline, detection, [record], clients=lambda name, region=None: clients[name])
        for stub in (kms_stub, secrets_stub):  # the history may be read in part
            stub.assert_no_pending_responses()
    return text


def recent_use_line(inline, pages: list[list[dict]], fail: str | None = None) -> str:
    (line,) = [line.strip() for line in alert_lines(inline, pages, fail).splitlines() if "Recent use:" in line]
    return line


APP = "arn:aws:sts::111122223333:assumed-role/orders-app/i-0abc"
BATCH = "arn:aws:sts::111122223333:assumed-role/nightly-batch/run"


def test_the_alert_says_who_used_the_key_the_busiest_first(inline) -> None:
    events = ([history_event("Decrypt", APP, h) for h in range(1, 40)] + [history_event("Encrypt", BATCH, 50)]
              + [history_event("TagResource", BATCH, 60), history_event("DescribeKey", BATCH, 61)])  # not uses
    line = recent_use_line(inline, [events])
    assert line == (f"Recent use: 40 uses by 2 principals in the last 90 days of CloudTrail event history: "
                    f"{APP} (Decrypt 39); {BATCH} (Encrypt 1)")


def test_a_key_nobody_used_says_so(inline) -> None:
    line = recent_use_line(inline, [[history_event("DescribeKey", BATCH, 3)]])
    assert line.startswith("Recent use: no use in the last 90 days of CloudTrail event history")


def test_a_long_history_is_read_in_part_and_says_how_far(inline) -> None:
    pages = [[history_event("Decrypt", APP, page * 50 + i) for i in range(50)] for page in range(8)]
    line = recent_use_line(inline, pages)
    oldest = (NOW - timedelta(hours=5 * 50 + 49)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"300 uses by 1 principal in the newest 300 events of its history, back to {oldest} UTC" in line
    assert "(the rest not read)" in line


def test_history_that_cannot_be_read_is_said_in_a_few_words(inline) -> None:
    assert recent_use_line(inline, [], fail="AccessDeniedException") == (
        "Recent use: not read (LookupEvents: AccessDeniedException)")


def test_a_key_alert_names_the_secrets_encrypted_under_it(inline) -> None:
    """Secrets Manager keeps each secret's KmsKeyId (the key ID, ARN, alias name or alias ARN it was
    given); the key's loss makes those secrets unreadable. The line names them, or says none is."""
    key = resource_of(SAMPLES["kms-schedulekeydeletion-success"].record)
    alias_arn = key.split(":key/")[0] + ":alias/payments"
    arn = "arn:aws:secretsmanager:us-west-2:111122223333:secret:"
    secrets = [{"ARN": arn + "prod/db-1", "Name": "prod/db", "KmsKeyId": alias_arn},
               {"ARN": arn + "prod/api-2", "Name": "prod/api", "KmsKeyId": key.rsplit("/", 1)[-1]},
               {"ARN": arn + "other-3", "Name": "other", "KmsKeyId": "alias/other"},
               {"ARN": arn + "default-4", "Name": "default"}]
    text = alert_lines(inline, [[]], secrets=secrets)
    assert ("Secrets encrypted under it: 2 of the 4 secrets in this Region: prod/api, prod/db (Secrets Manager "
            "cannot decrypt them while the key is disabled, nor ever once it is deleted)") in text
    text = alert_lines(inline, [[]], secrets=secrets[2:])
    assert "Secrets encrypted under it: none of the 2 secrets in this Region" in text
    text = alert_lines(inline, [[]])
    assert "Secrets encrypted under it: not read (ListSecrets: AccessDeniedException)" in text


def test_a_secret_deletion_says_who_read_it(inline) -> None:
    """The same history, for a secret: GetSecretValue and BatchGetSecretValue are its uses."""
    def read(name: str, who: str, hours_ago: int) -> dict:
        return {**history_event(name, who, hours_ago), "EventSource": "secretsmanager.amazonaws.com"}

    events = [read("GetSecretValue", APP, h) for h in range(1, 4)] + [read("DescribeSecret", BATCH, 5),
                                                                     read("BatchGetSecretValue", BATCH, 6)]
    text = alert_lines(inline, [events], sample="secretsmanager-deletesecret-recovery-window")
    assert (f"Recent use: 4 uses by 2 principals in the last 90 days of CloudTrail event history: {APP} "
            f"(GetSecretValue 3); {BATCH} (BatchGetSecretValue 1)") in text
    text = alert_lines(inline, [[read("DescribeSecret", BATCH, 5)]], sample="secretsmanager-deletesecret-recovery-window")
    assert "Recent use: no use in the last 90 days of CloudTrail event history: nothing read its value" in text
    text = alert_lines(inline, [[]], sample="secretsmanager-deletesecret-recovery-window")
    assert ("Recent use: no event in the last 90 days of CloudTrail event history names it (nothing called it, or "
            "event history does not find its calls by ARN: check the trail)") in text


def test_a_key_in_a_disconnected_key_store_names_its_store_to_connect(inline) -> None:
    """DescribeKey's CustomKeyStoreId (the record of a refused use does not carry it) on the Key store
    line, with the state: what the person needs for connect-custom-key-store."""
    record = SAMPLES["kms-encrypt-unavailable-cloudhsm-key-store"].record
    kms, stub = stubbed("kms")
    stub.add_response("describe_key", {"KeyMetadata": {"KeyId": "k", "Arn": resource_of(record), "KeyState": "Unavailable",
                                                       "CustomKeyStoreId": "cks-1234567890abcdef0"}})
    stub.add_response("list_aliases", {"Aliases": []})
    with stub:
        _, text, _ = send(inline, "KmsKeyUnusableUse", [record], clients=lambda name, region=None: kms)
    assert "Key store: cks-1234567890abcdef0" in text and "State now: Unavailable" in text
    assert "connect-custom-key-store" in text and "Cancelled" not in text and CANCEL not in text
