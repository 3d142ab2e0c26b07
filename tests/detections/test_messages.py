"""What a person reads about each detection: the rule's queue entry, rendered as EventBridge would
(moto's implementation of the input transformer), then the email the notifier makes of it."""

from __future__ import annotations

import json

import pytest
from moto.events.utils import EventTemplateParser

from detections.catalog import DETECTIONS, by_name
from detections.eventpatterns import cloudtrail_event
from detections.messages import REMINDER, make_queue_entry, notification_spec, reminder_spec
from functions.notifier import MISSING, SUBJECT_LIMIT, Digest, body, subject
from tests.conftest import load_corpus
from tests.helpers import local_target

SAMPLES = {c.cls: c.record for c in load_corpus()}


def queue_entry(workload, detection: str, record: dict) -> dict:
    """What the rule writes to the event queue for ``record``."""
    target = local_target(workload["Resources"][f"{detection}Rule"])
    event = {**cloudtrail_event(record), "ingestion-time": "2026-11-28T14:03:28Z"}
    return EventTemplateParser.parse(target["InputTransformer"]["InputTemplate"], {}, event)


def message(workload, detection: str, sample: str) -> str:
    entry = queue_entry(workload, detection, SAMPLES[sample])
    assert entry["detection"] == detection
    spec = notification_spec(by_name(detection))
    digest = Digest(detection)
    digest.add([entry["event"]], 1, "m1", False)
    return body(spec, digest, digest.details(spec), "listing")


@pytest.mark.parametrize("detection", DETECTIONS, ids=lambda d: d.name)
def test_the_queue_entry_names_the_detection_and_carries_the_whole_event(workload, detection) -> None:
    record = next(c.record for c in load_corpus() if detection.name in c.expect)
    entry = queue_entry(workload, detection.name, record)
    assert entry["detection"] == detection.name and entry["event"]["detail"] == record
    assert local_target(workload["Resources"][f"{detection.name}Rule"])["InputTransformer"] == make_queue_entry(detection)


@pytest.mark.parametrize("detection", DETECTIONS, ids=lambda d: d.name)
def test_the_subject_names_the_resource_and_fits(detection) -> None:
    record = next(c.record for c in load_corpus() if detection.name in c.expect)
    spec = notification_spec(detection)
    digest = Digest(detection.name)
    digest.add([cloudtrail_event(record)] * 3, 3, "m1", False)
    text = subject(spec, digest, digest.details(spec)[0])
    assert len(text) <= SUBJECT_LIMIT and text.startswith("[3] " + detection.headline)
    assert MISSING not in text and all(" " <= c <= "~" for c in text)


def test_key_used_while_pending_deletion(workload) -> None:
    text = message(workload, "KmsKeyPendingDeletionUse", "kms-decrypt-pending-deletion-kmsinvalidstateexception")
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert "A KMS KEY THAT IS PENDING DELETION IS STILL BEING USED" in text
    assert "Account: 111122223333   Region: us-east-1   Time: 2026-11-28T14:03:27Z" in text
    assert "Caller: arn:aws:sts::111122223333:assumed-role/app-role/app-session" in text
    assert "kms.amazonaws.com Decrypt" in text and "Source IP: 198.51.100.7" in text
    assert f"Error: KMSInvalidStateException {key} is pending deletion." in text
    assert f"Key: {key}" in text
    assert f"aws kms cancel-key-deletion --region us-east-1 --key-id {key}" in text
    assert "https://us-east-1.console.aws.amazon.com/kms/home?region=us-east-1#/kms/keys" in text


def test_aws_service_caller_is_named(workload) -> None:
    text = message(workload, "KmsKeyPendingDeletionUse", "kms-creategrant-pending-deletion-by-aws-service")
    assert "Caller: ebs.amazonaws.com   (type AWSService; via service ebs.amazonaws.com)" in text
    s3 = message(workload, "KmsKeyPendingDeletionUse", "kms-decrypt-pending-deletion-by-s3")
    assert "assumed-role/uploader/uploader" in s3 and "via service s3.amazonaws.com" in s3


def test_secret_deletion_shows_window_and_restore_command(workload) -> None:
    text = message(workload, "SecretDeletion", "secretsmanager-deletesecret-recovery-window")
    secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db/password-a1B2c3"
    assert "A SECRETS MANAGER SECRET WAS SCHEDULED FOR DELETION" in text
    assert "Caller: arn:aws:iam::111122223333:user/Alice   (type IAMUser;" in text
    assert "Deletion date: Dec 5, 2026, 2:03:27 PM   Recovery window (days): 7" in text
    assert f"aws secretsmanager restore-secret --region us-east-1 --secret-id {secret}" in text
    assert f"secretsmanager/secret?name={secret}&region=us-east-1" in text


def test_force_delete_is_visible(workload) -> None:
    text = message(workload, "SecretDeletion", "secretsmanager-deletesecret-force")
    assert "Force delete without recovery: true" in text
    assert "nothing can restore it" in text


def test_key_deletion_window_and_keyid_command(workload) -> None:
    text = message(workload, "KmsKeyDisableOrDeletion", "kms-schedulekeydeletion-success")
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert "Waiting period (days): 7   Key state: PendingDeletion" in text
    assert f"aws kms cancel-key-deletion --region us-east-1 --key-id {key}" in text


def test_record_without_error_still_reads_well(workload) -> None:
    text = message(workload, "SecretDeletion", "secretsmanager-deletesecret-default-window")
    assert f"Error: {MISSING} {MISSING}" in text
    assert "restore-secret" in text


def test_recovery_notice_says_resolved(workload) -> None:
    text = message(workload, "KmsKeyDeletionCancelled", "kms-cancelkeydeletion")
    assert text.startswith(by_name("KmsKeyDeletionCancelled").title)
    assert "cancel-key-deletion" not in text and "aws kms enable-key" in text
    restored = message(workload, "SecretRestored", "secretsmanager-restoresecret")
    assert restored.startswith("Resolved: a Secrets Manager secret was restored")
    assert "restore-secret" not in restored


def test_an_unknown_field_in_a_message_is_refused() -> None:
    import dataclasses

    bad = dataclasses.replace(by_name("SecretDeletion"), headline="Secret deleted {nosuchfield}")
    with pytest.raises(ValueError, match="nosuchfield"):
        notification_spec(bad)


def test_the_deployed_function_carries_every_spec(workload) -> None:
    code = workload["Resources"]["NotifierFunction"]["Properties"]["Code"]["ZipFile"]
    namespace: dict = {}
    exec(compile(code, "index.py", "exec"), namespace)  # the inline module, as Lambda loads it
    assert namespace["SPECS"] == json.loads(json.dumps({**{d.name: notification_spec(d) for d in DETECTIONS},
                                                        REMINDER: reminder_spec()}))


@pytest.mark.parametrize("detection", [d for d in DETECTIONS if d.immediate], ids=lambda d: d.name)
def test_an_immediate_loss_says_nothing_cancels_it(detection) -> None:
    """No undo command for what has no waiting period; the message says so, and where to go."""
    from detections.messages import notification_spec, undo_commands

    assert undo_commands(detection) == []
    lines = notification_spec(detection)["lines"]
    assert "No waiting period: nothing cancels this. See What to do." in lines
    assert not any(line.startswith("Undo:") for line in lines)
