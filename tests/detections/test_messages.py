"""The alert text of each rule, rendered against sample events as EventBridge would."""

from __future__ import annotations

import pytest

from detections.catalog import by_name
from detections.eventpatterns import cloudtrail_event
from tests.conftest import load_corpus
from tests.helpers import local_target, render_input_transformer

SAMPLES = {c.cls: c.record for c in load_corpus()}


def message(workload, detection: str, sample: str, missing: str = "") -> str:
    target = local_target(workload["Resources"][f"{detection}Rule"])
    return render_input_transformer(target["InputTransformer"], cloudtrail_event(SAMPLES[sample]),
                                    missing=missing)


def test_key_used_while_pending_deletion(workload) -> None:
    text = message(workload, "KmsKeyPendingDeletionUse", "kms-decrypt-pending-deletion-kmsinvalidstateexception")
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert "A KMS KEY THAT IS PENDING DELETION IS STILL BEING USED" in text
    assert "Account: 111122223333   Region: us-east-1   Time: 2026-11-28T14:03:27Z" in text
    assert "Principal: arn:aws:sts::111122223333:assumed-role/app-role/app-session" in text
    assert "kms.amazonaws.com Decrypt" in text and "Source IP: 198.51.100.7" in text
    assert f"Error: KMSInvalidStateException {key} is pending deletion." in text
    assert f"Key: {key}" in text
    assert f"aws kms cancel-key-deletion --region us-east-1 --key-id {key}" in text
    assert "https://us-east-1.console.aws.amazon.com/kms/home?region=us-east-1#/kms/keys" in text


def test_aws_service_caller_is_named(workload) -> None:
    text = message(workload, "KmsKeyPendingDeletionUse", "kms-creategrant-pending-deletion-by-aws-service")
    assert "Type: AWSService   Via service: ebs.amazonaws.com" in text
    s3 = message(workload, "KmsKeyPendingDeletionUse", "kms-decrypt-pending-deletion-by-s3")
    assert "assumed-role/uploader/uploader" in s3 and "Via service: s3.amazonaws.com" in s3


def test_secret_deletion_shows_window_and_restore_command(workload) -> None:
    text = message(workload, "SecretDeletion", "secretsmanager-deletesecret-recovery-window")
    secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db/password-a1B2c3"
    assert "A SECRETS MANAGER SECRET WAS SCHEDULED FOR DELETION" in text
    assert "Principal: arn:aws:iam::111122223333:user/Alice   Type: IAMUser" in text
    assert "Deletion date: Dec 5, 2026, 2:03:27 PM   Recovery window (days): 7" in text
    assert f"aws secretsmanager restore-secret --region us-east-1 --secret-id {secret}" in text
    assert f"secretsmanager/secret?name={secret}&region=us-east-1" in text


def test_force_delete_is_visible(workload) -> None:
    text = message(workload, "SecretDeletion", "secretsmanager-deletesecret-force")
    assert "Force delete without recovery: true" in text
    assert "cannot be restored" in text


def test_key_deletion_window_and_keyid_command(workload) -> None:
    text = message(workload, "KmsKeyDisableOrDeletion", "kms-schedulekeydeletion-success")
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert "Waiting period (days): 7   Key state: PendingDeletion" in text
    assert f"aws kms cancel-key-deletion --region us-east-1 --key-id {key}" in text


@pytest.mark.parametrize("missing", ["", "null"])
def test_record_without_error_still_reads_well(workload, missing: str) -> None:
    # Whether EventBridge leaves an absent field empty or writes null, each value keeps its label.
    text = message(workload, "SecretDeletion", "secretsmanager-deletesecret-default-window", missing=missing)
    assert f"Error: {missing} {missing}" in text
    assert "Recovery window (days): " + missing in text
    assert "restore-secret" in text


def test_recovery_notice_says_resolved(workload) -> None:
    text = message(workload, "KmsKeyDeletionCancelled", "kms-cancelkeydeletion")
    assert text.startswith(by_name("KmsKeyDeletionCancelled").title)
    assert "cancel-key-deletion" not in text and "aws kms enable-key" in text
    restored = message(workload, "SecretRestored", "secretsmanager-restoresecret")
    assert restored.startswith("Resolved: a Secrets Manager secret was restored")
    assert "restore-secret" not in restored


def test_every_placeholder_is_mapped(workload) -> None:
    import re
    for lid, rule in workload["Resources"].items():
        if rule["Type"] != "AWS::Events::Rule":
            continue
        t = local_target(rule)["InputTransformer"]
        used = set(re.findall(r"<([^<>]+)>", t["InputTemplate"]))
        assert used - {"aws.events.rule-name"} == set(t["InputPathsMap"]), lid
