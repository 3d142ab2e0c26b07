"""What a person reads about each detection: the rule's queue entry, rendered as EventBridge would
(moto's implementation of the input transformer), then the email the notifier makes of it."""

from __future__ import annotations

import copy
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
def test_the_subject_fits_and_keeps_account_and_region(detection) -> None:
    """SNS takes a Subject "less than 100 characters" of printable ASCII: the longest names are
    shortened, never the account and Region at the end."""
    record = copy.deepcopy(next(c.record for c in load_corpus() if detection.name in c.expect))
    record["recipientAccountId"], record["awsRegion"] = "111122223333", "ap-southeast-2"
    for where in ("requestParameters", "responseElements"):
        for name in ("secretId", "aRN", "name"):
            if name in (record.get(where) or {}):
                record[where][name] = "x" * 200 + "\u00e9"
    spec = notification_spec(detection)
    digest = Digest(detection.name)
    digest.add([cloudtrail_event(record)] * 1000, 1000, "m1", False)
    text = subject(spec, digest, digest.details(spec)[0])
    assert len(text) <= SUBJECT_LIMIT < 100 and text.startswith("[1000] ")
    assert text.endswith(" (111122223333 ap-southeast-2)"), text
    assert MISSING not in text and all(" " <= c <= "~" for c in text)


def test_key_used_while_pending_deletion(workload) -> None:
    text = message(workload, "KmsKeyPendingDeletionUse", "kms-decrypt-pending-deletion-kmsinvalidstateexception")
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert text.startswith("KMS KEY PENDING DELETION WAS USED\n")
    assert "Account: 111122223333   Region: us-east-1   Time: 2026-11-28T14:03:27Z" in text
    assert "Caller: arn:aws:sts::111122223333:assumed-role/app-role/app-session" in text
    assert "kms.amazonaws.com Decrypt" in text and "Source IP: 198.51.100.7" in text
    assert f"Error: KMSInvalidStateException   {key} is pending deletion." in text
    assert f"Key: {key}" in text
    assert f"aws kms cancel-key-deletion --region us-east-1 --key-id {key}" in text
    assert "https://us-east-1.console.aws.amazon.com/kms/home?region=us-east-1#/kms/keys" in text


def test_aws_service_caller_is_named(workload) -> None:
    text = message(workload, "KmsKeyPendingDeletionUse", "kms-creategrant-pending-deletion-by-aws-service")
    assert "Caller: ebs.amazonaws.com   type AWSService   through ebs.amazonaws.com" in text
    s3 = message(workload, "KmsKeyPendingDeletionUse", "kms-decrypt-pending-deletion-by-s3")
    assert "assumed-role/uploader/uploader" in s3 and "through s3.amazonaws.com" in s3


def test_an_absent_field_is_left_out_not_printed(workload) -> None:
    """A record without an error, a window or an invoking service shows none of those lines."""
    text = message(workload, "SecretDeletion", "secretsmanager-deletesecret-default-window")
    assert "Error:" not in text and "through" not in text and MISSING not in text
    assert "restore-secret" in text


def test_an_unknown_field_in_a_message_is_refused(monkeypatch) -> None:
    from detections import messages

    bad = [dict(o, headline=o["headline"] + " {nosuchfield}") for o in messages.OUTCOMES["SecretDeletion"]]
    monkeypatch.setitem(messages.OUTCOMES, "SecretDeletion", bad)
    with pytest.raises(ValueError, match="nosuchfield"):
        notification_spec(by_name("SecretDeletion"))


def test_the_deployed_function_carries_every_spec(workload) -> None:
    code = workload["Resources"]["NotifierFunction"]["Properties"]["Code"]["ZipFile"]
    namespace: dict = {}
    exec(compile(code, "index.py", "exec"), namespace)  # the inline module, as Lambda loads it
    assert namespace["SPECS"] == json.loads(json.dumps({**{d.name: notification_spec(d) for d in DETECTIONS},
                                                        REMINDER: reminder_spec()}))


@pytest.mark.parametrize("detection", [d for d in DETECTIONS if d.immediate], ids=lambda d: d.name)
def test_an_immediate_loss_offers_nothing_that_pretends_to_undo_it(detection) -> None:
    """No cancel or restore for what has no waiting period, in any of its outcomes."""
    from detections.messages import outcomes

    for o in outcomes(detection):
        assert not any("cancel-key-deletion" in c or "restore-secret" in c for c in o["undo"]), o["name"]
        assert not o["pending"]
