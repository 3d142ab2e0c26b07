"""AutoCancelOnUse, end to end on a moto server: use records, in the shapes CloudTrail writes them,
through the notifier exactly as the template deploys it (its inline code), against KMS, Secrets
Manager, DynamoDB, SQS and SNS on 127.0.0.1.

What AWS documents, and what is asserted here:
- only a use cancels; a management call refused on a pending key does not (KMS guide, key states);
- ReEncrypt lists the source key first and the destination second (KMS guide, ct-reencrypt): only the
  key the refusal names is cancelled, never the healthy one;
- CancelKeyDeletion's request quota is 5 a second (KMS quotas): a burst of a thousand uses makes one call;
- CancelKeyDeletion leaves the key Disabled (API reference): the alert says so, and gives enable-key;
- a cancel that fails reaches the alert topic, with the commands to run by hand.
Each proof has a mutation that breaks it, below it.
"""

from __future__ import annotations

import copy
import json
import types

import pytest

from detections.catalog import by_name
from detections.eventpatterns import cloudtrail_event
from tests.conftest import load_corpus

SAMPLES = {s.cls: s for s in load_corpus()}
ACCOUNT = "123456789012"  # moto's account
START = 1_764_511_200.0  # 2025-11-30T14:00:00Z, a minute's start


@pytest.fixture(scope="module")
def inline(workload) -> types.ModuleType:
    from stacks.docs import load_inline

    return load_inline(workload["Resources"]["NotifierFunction"]["Properties"]["Code"]["ZipFile"], "auto_cancel_notifier")


class Calls:
    """The clients the notifier makes, recording every cancel and restore it calls."""

    def __init__(self, aws, fail: str | None = None) -> None:
        self.aws, self.fail, self.made = aws, fail, []

    def __call__(self, service: str, region: str | None = None):
        client = self.aws.client(service, region or "us-east-1")
        for operation in ("cancel_key_deletion", "restore_secret"):
            if hasattr(client, operation):
                setattr(client, operation, self.recorded(operation, getattr(client, operation), client))
        return client

    def recorded(self, operation, call, client):
        def wrapper(**kwargs):
            self.made.append((operation, kwargs))
            if operation == "cancel_key_deletion":
                # KMS takes a key ID or key ARN (API reference); moto's CancelKeyDeletion only the ID.
                kwargs = {"KeyId": kwargs["KeyId"].rsplit("/", 1)[-1]}
            if self.fail:
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": self.fail, "Message": "User: arn:aws:sts::123456789012:"
                                             "assumed-role/NotifierRole/x is not authorized to perform: "
                                             "kms:CancelKeyDeletion"}}, operation)
            return call(**kwargs)
        return wrapper


@pytest.fixture
def world(aws, inline):
    """Topic with a queue for an inbox, the event queue, the claim table; a clock the test moves."""
    sns, sqs, ddb = aws.client("sns"), aws.client("sqs"), aws.client("dynamodb")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    events = sqs.create_queue(QueueName="events")["QueueUrl"]
    ddb.create_table(TableName="claims", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "claim", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "claim", "KeyType": "HASH"}])
    now = [START]

    def notifier(mode: str = "All", calls: Calls | None = None):
        return inline.Notifier(sns, sqs, ddb, topic_arn=topic, queue_url=events, claim_table="claims",
                               log_group="/aws/lambda/notifier", region="us-east-1", specs=inline.SPECS,
                               clock=lambda: now[0], log=lambda line: None, auto_cancel=mode, account=ACCOUNT,
                               clients=calls or Calls(aws))

    def emails() -> list[str]:
        found = []
        while batch := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            for m in batch:
                found.append(json.loads(m["Body"])["Message"])  # SNS hands the queue its "sqs" text
                sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
        return found

    return types.SimpleNamespace(aws=aws, notifier=notifier, emails=emails, now=now)


def pending_key(aws) -> str:
    kms = aws.client("kms")
    meta = kms.create_key(Description="orders")["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    return meta["Arn"]


def healthy_key(aws) -> str:
    return aws.client("kms").create_key(Description="payments")["KeyMetadata"]["Arn"]


def key_state(aws, arn: str) -> str:
    return aws.client("kms").describe_key(KeyId=arn)["KeyMetadata"]["KeyState"]


def use_record(cls: str, key: str, resources: list[str] | None = None, **changes) -> dict:
    """A corpus record of ``cls`` about ``key`` in this account: the refusal names ``key``;
    ``resources`` lists the record's keys (ReEncrypt: source first, then destination)."""
    record = copy.deepcopy(SAMPLES[cls].record)
    record.update({"recipientAccountId": ACCOUNT, "errorMessage": f"{key} is pending deletion.", **changes})
    record["resources"] = [{"ARN": arn, "accountId": ACCOUNT, "type": "AWS::KMS::Key"}
                           for arn in (resources or [key])]
    return record


def entries(records: list[dict], detection: str = "KmsKeyPendingDeletionUse", start: int = 0) -> dict:
    """The SQS batch Lambda hands the notifier (shape from the Lambda guide, with-sqs)."""
    return {"Records": [{"messageId": f"m{start + i}", "receiptHandle": f"r{start + i}", "eventSource": "aws:sqs",
                         "body": json.dumps({"detection": detection, "event": cloudtrail_event(r)})}
                        for i, r in enumerate(records)]}


def cancels(calls: Calls) -> list[str]:
    return [kwargs.get("KeyId") or kwargs.get("SecretId") for _, kwargs in calls.made]


DECRYPT = "kms-decrypt-pending-deletion-kmsinvalidstateexception"
REENCRYPT = "kms-reencrypt-pending-deletion-kmsinvalidstateexception"


# ------------------------------------------------------------------ one use: one cancel, of that key
def test_a_use_cancels_that_key_once_and_the_alert_says_it_stays_disabled(world) -> None:
    key = pending_key(world.aws)
    calls = Calls(world.aws)
    assert world.notifier("All", calls).handle(entries([use_record(DECRYPT, key)])) == {"batchItemFailures": []}
    assert cancels(calls) == [key]
    assert key_state(world.aws, key) == "Disabled"  # what KMS does on CancelKeyDeletion
    (email,) = world.emails()
    assert "Cancelled automatically (AutoCancelOnUse=All, CancelKeyDeletion at 14:00 UTC)" in email
    assert "Disabled" in email and f"aws kms enable-key --region us-east-1 --key-id {key}" in email
    assert "FAILED" not in email


def reencrypt_problems(world, spec_change=None) -> list[str]:
    """ReEncrypt from a healthy key to a key pending deletion: what went wrong."""
    source, destination = healthy_key(world.aws), pending_key(world.aws)
    record = use_record(REENCRYPT, destination, resources=[source, destination])
    record["requestParameters"]["destinationKeyId"] = destination
    calls = Calls(world.aws)
    notifier = world.notifier("All", calls)
    if spec_change:
        notifier.specs = spec_change(copy.deepcopy(notifier.specs))
    notifier.handle(entries([record]))
    (email,) = world.emails()
    problems = []
    if cancels(calls) != [destination]:
        problems.append(f"cancelled {cancels(calls)}, not the destination")
    if key_state(world.aws, destination) != "Disabled":
        problems.append("the key pending deletion is still pending")
    if key_state(world.aws, source) != "Enabled":
        problems.append("the healthy key was acted on")
    if "Cancelled automatically" not in email:
        problems.append("the alert does not say the cancel was made")
    return problems


def test_reencrypt_cancels_the_key_the_refusal_names_never_the_other(world) -> None:
    assert reencrypt_problems(world) == []


def test_the_reencrypt_proof_fails_when_the_key_is_taken_from_the_records_first_resource(world) -> None:
    def first_resource(specs):  # what the former automation was given: $.detail.resources[0].ARN
        specs["KmsKeyPendingDeletionUse"]["auto_cancel_exact"] = {}
        specs["KmsKeyPendingDeletionUse"]["fields"]["key"] = [{"path": "$.detail.resources[0].ARN"}]
        return specs

    assert "the key pending deletion is still pending" in reencrypt_problems(world, first_resource)


def test_reencrypt_whose_refusal_names_no_key_cancels_nothing_and_says_so(world) -> None:
    source, destination = healthy_key(world.aws), pending_key(world.aws)
    record = use_record(REENCRYPT, destination, resources=[source, destination])
    record["errorMessage"] = "Key is pending deletion."  # no ARN in it
    calls = Calls(world.aws)
    world.notifier("All", calls).handle(entries([record]))
    assert cancels(calls) == [] and key_state(world.aws, source) == "Enabled"
    (email,) = world.emails()
    assert "does not say which is pending deletion" in email


# ------------------------------------------------------------------ a burst: one call per key
def burst(world, claims_work: bool = True) -> Calls:
    """A thousand Decrypt refusals of one key, in batches of 100, from two concurrent notifiers, over
    three minutes; ``claims_work=False`` is the mutation: every cancel claim succeeds."""
    key = pending_key(world.aws)
    calls = Calls(world.aws)
    notifiers = [world.notifier("All", calls), world.notifier("All", calls)]
    if not claims_work:
        for n in notifiers:
            original = n.claim
            n.claim = lambda claim, expires, lease=None, original=original: (
                True if claim.startswith("cancel#") else original(claim, expires, lease))
    for batch in range(10):
        world.now[0] = START + batch * 18
        result = notifiers[batch % 2].handle(entries([use_record(DECRYPT, key)] * 100, start=batch * 100))
        assert result == {"batchItemFailures": []}
    return calls


def test_a_burst_of_a_thousand_uses_makes_one_call(world) -> None:
    calls = burst(world)
    assert len(calls.made) == 1
    emails = world.emails()
    assert emails and all("Cancelled automatically" in e for e in emails[:1])
    # later digests say what the earlier run did, not that nothing happened
    assert all("an earlier run of the notifier" in e for e in emails[1:])


def test_the_burst_proof_fails_without_the_claim(world) -> None:
    assert len(burst(world, claims_work=False).made) > 1


# ------------------------------------------------------------------ only a use
def test_a_management_call_refused_on_a_pending_key_cancels_nothing(world) -> None:
    key = pending_key(world.aws)
    record = use_record(DECRYPT, key, eventName="TagResource", readOnly=False)
    calls = Calls(world.aws)
    world.notifier("All", calls).handle(entries([record]))
    assert calls.made == [] and key_state(world.aws, key) == "PendingDeletion"
    (email,) = world.emails()
    assert "not a use of it" in email


def test_an_event_of_another_account_is_not_acted_on(world) -> None:
    key = pending_key(world.aws).replace(ACCOUNT, "444455556666")
    calls = Calls(world.aws)
    world.notifier("All", calls).handle(entries([use_record(DECRYPT, key, recipientAccountId="444455556666")]))
    assert calls.made == []
    (email,) = world.emails()
    assert "it is in account 444455556666" in email


def test_off_makes_no_call_and_says_nothing_of_it(world) -> None:
    key = pending_key(world.aws)
    calls = Calls(world.aws)
    world.notifier("Off", calls).handle(entries([use_record(DECRYPT, key)]))
    assert calls.made == [] and "automatically" not in world.emails()[0]


# ------------------------------------------------------------------ a failed cancel reaches a person
@pytest.mark.parametrize(("mode", "says", "top"), [
    ("All", "AUTOMATIC CancelKeyDeletion FAILED (CancelKeyDeletion: AccessDeniedException", True),
    ("Tagged", "Not cancelled automatically: AutoCancelOnUse=Tagged, and the cancel was refused", False),
])
def test_a_cancel_that_fails_is_in_the_alert_with_the_commands_to_run_by_hand(world, mode, says, top) -> None:
    key = pending_key(world.aws)
    calls = Calls(world.aws, fail="AccessDeniedException")
    assert world.notifier(mode, calls).handle(entries([use_record(DECRYPT, key)])) == {"batchItemFailures": []}
    assert key_state(world.aws, key) == "PendingDeletion"
    (email,) = world.emails()
    assert says in email
    assert ("AUTOMATIC CANCEL FAILED for 1 of the events below" in email) is top
    assert f"aws kms cancel-key-deletion --region us-east-1 --key-id {key}" in email


def test_a_failed_cancel_is_not_retried_within_the_minutes_of_its_claim(world) -> None:
    """An application retrying against a key whose cancel is refused: one call per CANCEL_SECONDS."""
    key = pending_key(world.aws)
    calls = Calls(world.aws, fail="ThrottlingException")
    notifier = world.notifier("All", calls)
    notifier.handle(entries([use_record(DECRYPT, key)]))
    world.now[0] += 120
    notifier.handle(entries([use_record(DECRYPT, key)], start=1))
    assert len(calls.made) == 1
    second = world.emails()[1]
    assert "AUTOMATIC CancelKeyDeletion FAILED" in second and "an earlier run" in second
    world.now[0] += 300
    notifier.handle(entries([use_record(DECRYPT, key)], start=2))
    assert len(calls.made) == 2


# ------------------------------------------------------------------ secrets
def test_a_read_of_a_secret_scheduled_for_deletion_restores_it(world) -> None:
    secrets = world.aws.client("secretsmanager")
    arn = secrets.create_secret(Name="prod/db/password", SecretString="x")["ARN"]
    secrets.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    record = copy.deepcopy(SAMPLES["secretsmanager-getsecretvalue-marked-for-deletion-new-wording"].record)
    record.update(recipientAccountId=ACCOUNT, requestParameters={"secretId": arn})
    calls = Calls(world.aws)
    world.notifier("All", calls).handle(entries([record] * 3, "SecretPendingDeletionUse"))
    assert cancels(calls) == [arn]
    assert "DeletedDate" not in secrets.describe_secret(SecretId=arn)
    (email,) = world.emails()
    assert "Restored automatically (AutoCancelOnUse=All, RestoreSecret at 14:00 UTC)" in email


# ------------------------------------------------------------------ every operation, every refusal
def _operations(service: str) -> list[str]:
    import botocore.session

    return sorted(botocore.session.get_session().get_service_model(service).operation_names)


REFUSALS = {  # detection -> the refusal messages its labelled records carry
    detection: sorted({s.record["errorMessage"] for s in load_corpus() if detection in s.expect})
    for detection in ("KmsKeyPendingDeletionUse", "SecretPendingDeletionUse")}


@pytest.mark.parametrize(("detection", "model"), [("KmsKeyPendingDeletionUse", "kms"),
                                                  ("SecretPendingDeletionUse", "secretsmanager")])
def test_every_operation_of_the_api_model_with_every_refusal_cancels_only_if_it_is_a_use(
        inline, detection, model) -> None:
    """Each operation of botocore's service model, refused with each message the use detection
    matches: the notifier cancels for a use (KMS cryptographic operations, CreateGrant,
    GetPublicKey; a read of a secret's value), never for a management call."""
    from detections.catalog import Service
    from detections.operations import is_use
    from detections.patterns import compile_pattern

    service = Service.KMS if model == "kms" else Service.SECRETS_MANAGER
    notifier = inline.Notifier(None, None, None, topic_arn="", queue_url="", claim_table="", log_group="",
                               region="us-east-1", specs=inline.SPECS, auto_cancel="All", account=ACCOUNT)
    spec = inline.SPECS[detection]
    base = next(s.record for s in load_corpus() if detection in s.expect)
    pattern = compile_pattern(by_name(detection).filter_pattern)
    assert REFUSALS[detection]
    wrong = []
    for operation in _operations(model):
        for message in REFUSALS[detection]:
            record = {**copy.deepcopy(base), "eventName": operation, "errorMessage": message}
            if not pattern.matches(record):  # never reaches the notifier; a use always must
                assert not is_use(service, operation), (operation, message)
                continue
            target = notifier.cancel_target(spec, cloudtrail_event(record))
            if (target is not None) != is_use(service, operation):
                wrong.append((operation, message))
    assert wrong == []


def test_a_cancel_made_by_a_run_that_was_stopped_is_not_reported_as_failed(world) -> None:
    """A run killed after its call and before it recorded the result: the redelivered entry calls
    again, and KMS answers that the key is not pending deletion (KMS guide, key states)."""
    key = pending_key(world.aws)
    world.aws.client("kms").cancel_key_deletion(KeyId=key.rsplit("/", 1)[-1])

    class Kms:  # what KMS answers; moto's CancelKeyDeletion does not check the key's state
        def __init__(self, client):
            self.client = client

        def __getattr__(self, name):
            return getattr(self.client, name)

        def cancel_key_deletion(self, KeyId):  # noqa: N803
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "KMSInvalidStateException",
                                         "Message": f"{KeyId} is not pending deletion."}}, "CancelKeyDeletion")

    clients = lambda service, region=None: Kms(world.aws.client(service)) if service == "kms" else \
        world.aws.client(service, region or "us-east-1")  # noqa: E731
    world.notifier("All", clients).handle(entries([use_record(DECRYPT, key)]))
    (email,) = world.emails()
    assert "Not needed: KMS answered that the key is not pending deletion" in email
    assert "FAILED" not in email


def test_a_result_that_cannot_be_read_does_not_hold_the_alert_back(world) -> None:
    """Another run made the call; reading its result fails (DynamoDB throttles): the alert still goes
    out, and says what is not known."""
    key = pending_key(world.aws)
    world.notifier("All", Calls(world.aws)).handle(entries([use_record(DECRYPT, key)]))
    world.emails()
    world.now[0] += 60
    later = world.notifier("All", Calls(world.aws))

    def throttled(**call):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                          "GetItem")

    later.dynamodb = type("Table", (), {"get_item": staticmethod(throttled), "put_item": later.dynamodb.put_item,
                                        "update_item": later.dynamodb.update_item,
                                        "delete_item": later.dynamodb.delete_item,
                                        "exceptions": later.dynamodb.exceptions})()
    assert later.handle(entries([use_record(DECRYPT, key)], start=1)) == {"batchItemFailures": []}
    (email,) = world.emails()
    assert "The result of the automatic CancelKeyDeletion could not be read now" in email
