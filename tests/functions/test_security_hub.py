"""SecurityHubFindings: each key or secret an alert describes becomes an ASFF finding, imported by
the notifier (the inline code the template deploys) with BatchImportFindings after its email; a
cancel or restore archives the same finding. The shape is checked against botocore's model of
BatchImportFindings (Stubber validates every request) and the ASFF required attributes (Security Hub
user guide: the model marks all but Severity and Types required); the text limits are ASFF's."""

from __future__ import annotations

import json
import types
from datetime import datetime, timezone

import boto3
import botocore.session
import pytest
from botocore.stub import ANY, Stubber

from detections.eventpatterns import cloudtrail_event
from tests.conftest import load_corpus
from tests.functions.test_alert_outcomes import Topic  # stands for SNS Publish

SAMPLES = {s.cls: s for s in load_corpus()}
NOW = datetime(2026, 11, 28, 14, 10, tzinfo=timezone.utc)
ACCOUNT = "111122223333"
MODEL = botocore.session.get_session().get_service_model("securityhub")
REQUIRED = set(MODEL.shape_for("AwsSecurityFinding").required_members) | {"Severity", "Types"}
LIMITS = {"Title": 256, "Description": 1024}  # ASFF: Title, Description; Remediation text 512


@pytest.fixture(scope="module")
def inline(workload) -> types.ModuleType:
    from stacks.docs import load_inline

    return load_inline(workload["Resources"]["NotifierFunction"]["Properties"]["Code"]["ZipFile"], "inline_hub")


def alert(inline, detection: str, records: list[dict], hub: str = "Enabled", answer: dict | str | None = None,
          account: str = ACCOUNT) -> tuple[list[dict], Topic, list[str]]:
    """Publish one digest of ``records``; the findings sent to Security Hub, the topic, the log."""
    client = boto3.client("securityhub", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    sent: list[dict] = []
    stub = Stubber(client)
    if isinstance(answer, str):
        stub.add_client_error("batch_import_findings", answer)
    elif answer is not False:
        stub.add_response("batch_import_findings", answer or {"FailedCount": 0, "SuccessCount": 1, "FailedFindings": []},
                          {"Findings": ANY})
    real = client.batch_import_findings

    def record(**call):
        sent.extend(call["Findings"])
        return real(**call)

    client.batch_import_findings = record
    logs: list[str] = []
    topic = Topic()
    notifier = inline.Notifier(topic, None, None, topic_arn=f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts", queue_url="q",
                               claim_table="c", log_group="/aws/lambda/n", region="us-east-1", specs=inline.SPECS,
                               clock=lambda: NOW.timestamp(), log=logs.append, account=account,
                               clients=lambda name, region=None: {"securityhub": client}[name], security_hub=hub)
    digest = inline.Digest(detection)
    digest.add([cloudtrail_event(r) for r in records], len(records), "m1", False)
    with stub:
        notifier.publish(digest)
    return sent, topic, logs


@pytest.mark.parametrize(("cls", "detection", "severity"), [
    ("kms-schedulekeydeletion-success", "KmsKeyDisableOrDeletion", "HIGH"),
    ("kms-decrypt-pending-deletion-kmsinvalidstateexception", "KmsKeyPendingDeletionUse", "HIGH"),
    ("secretsmanager-deletesecret-force", "SecretDeletion", "CRITICAL"),
    ("secretsmanager-deletesecret-denied", "SecretDeletion", "MEDIUM"),
    ("kms-decrypt-pending-import", "KmsKeyUnusableUse", "HIGH"),
])
def test_each_alert_is_a_finding_with_asffs_required_fields(inline, cls, detection, severity) -> None:
    record = SAMPLES[cls].record
    (finding,), topic, _ = alert(inline, detection, [record])
    assert REQUIRED <= set(finding), REQUIRED - set(finding)
    assert finding["ProductArn"] == f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"
    assert finding["AwsAccountId"] == ACCOUNT and finding["Severity"] == {"Label": severity}
    assert finding["RecordState"] == "ACTIVE" and finding["Types"] == ["Effects/Data Destruction"]
    (resource,) = finding["Resources"]
    assert resource["Id"] in finding["Id"] and resource["Id"].startswith("arn:aws:")
    assert resource["Type"] == ("AwsKmsKey" if record["eventSource"].startswith("kms") else "AwsSecretsManagerSecret")
    assert all(len(finding[k]) <= n for k, n in LIMITS.items())
    assert len(finding["Remediation"]["Recommendation"]["Text"]) <= 512
    assert (record.get("userIdentity") or {}).get("arn", "") in finding["Description"]  # who
    assert len(topic.sent) == 1  # the email went first


def test_a_cancel_archives_the_same_finding(inline) -> None:
    scheduled = SAMPLES["kms-schedulekeydeletion-success"].record
    cancelled = json.loads(json.dumps(SAMPLES["kms-cancelkeydeletion"].record))
    (opened,), _, _ = alert(inline, "KmsKeyDisableOrDeletion", [scheduled])
    (closed,), _, _ = alert(inline, "KmsKeyDeletionCancelled", [cancelled])
    assert closed["Id"] == opened["Id"] and closed["RecordState"] == "ARCHIVED"
    # On an existing finding, BatchImportFindings takes Severity and Types only from FindingProviderFields
    # (API reference, BatchImportFindings).
    assert closed["FindingProviderFields"] == {"Severity": {"Label": "INFORMATIONAL"},
                                               "Types": ["Effects/Data Destruction"]}
    assert opened["FindingProviderFields"]["Severity"] == opened["Severity"] == {"Label": "HIGH"}


def test_another_accounts_event_and_a_disabled_option_send_nothing(inline) -> None:
    record = SAMPLES["kms-schedulekeydeletion-success"].record
    assert alert(inline, "KmsKeyDisableOrDeletion", [record], account="444455556666", answer=False)[0] == []
    assert alert(inline, "KmsKeyDisableOrDeletion", [record], hub="Disabled", answer=False)[0] == []


@pytest.mark.parametrize("error", ["InvalidAccessException", "AccessDeniedException", "LimitExceededException"])
def test_a_refused_import_is_logged_and_the_email_stands(inline, error) -> None:
    record = SAMPLES["kms-schedulekeydeletion-success"].record
    sent, topic, logs = alert(inline, "KmsKeyDisableOrDeletion", [record], answer=error)
    assert len(sent) == 1 and len(topic.sent) == 1
    assert any(f'"error": "{error}"' in line for line in logs)
