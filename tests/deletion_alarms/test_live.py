"""``test-patterns --live``: the TestMetricFilter path, offline with botocore's Stubber
(moto does not implement TestMetricFilter)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from deletion_alarms import cli
from deletion_alarms import awsclient, live
from detections.catalog import DETECTIONS, by_name
from detections.errors import UserError
from detections.patterntest import Sample
from tests.conftest import load_corpus


MAKE_CLIENT = awsclient.make_client  # the real one, before any test patches it


def make_logs():
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                            region_name="us-east-1")
    return MAKE_CLIENT(session, "logs")


def respond_like_our_engine(stubber: Stubber, samples: list[Sample], flip: str | None = None) -> None:
    """Queue the answers AWS would give if it agreed with the labels (``flip``: one class it
    disagrees on), checking that each request carries at most 50 messages."""
    for d in DETECTIONS:
        for start in range(0, len(samples), live.BATCH_SIZE):
            batch = samples[start:start + live.BATCH_SIZE]
            matches = [
                {"eventNumber": i + 1, "eventMessage": s.message, "extractedValues": {}}
                for i, s in enumerate(batch) if (d.name in s.expect) != (s.cls == flip)
            ]
            stubber.add_response(
                "test_metric_filter", {"matches": matches},
                {"filterPattern": d.filter_pattern, "logEventMessages": [s.message for s in batch]})


def test_sends_batches_of_at_most_50_and_finds_no_disagreement() -> None:
    samples = load_corpus() * 2  # more than one batch
    samples = [Sample(f"{s.cls}-{i}", s.expect, s.why, s.record | {"eventID": f"copy-{i}"})
               for i, s in enumerate(samples)]
    assert len(samples) > live.BATCH_SIZE
    logs = make_logs()
    with Stubber(logs) as stubber:
        respond_like_our_engine(stubber, samples)
        assert live.compare_with_aws(logs, samples, DETECTIONS) == []
        stubber.assert_no_pending_responses()


def test_reports_where_aws_differs() -> None:
    samples = load_corpus()
    logs = make_logs()
    with Stubber(logs) as stubber:
        respond_like_our_engine(stubber, samples, flip="kms-decrypt-pending-deletion-by-s3")
        found = live.compare_with_aws(logs, samples, DETECTIONS)
    flipped = {(d.detection, d.ours, d.aws) for d in found if d.cls == "kms-decrypt-pending-deletion-by-s3"}
    assert flipped == {(d.name, d.name == "KmsKeyPendingDeletionUse", d.name != "KmsKeyPendingDeletionUse")
                       for d in DETECTIONS}
    assert all(d.cls == "kms-decrypt-pending-deletion-by-s3" for d in found)


def test_access_denied_becomes_one_line() -> None:
    logs = make_logs()
    with Stubber(logs) as stubber:
        stubber.add_client_error("test_metric_filter", "AccessDeniedException", "not allowed: logs:TestMetricFilter")
        with pytest.raises(UserError, match="TestMetricFilter: access denied"):
            live.aws_matches(logs, by_name("SecretDeletion").filter_pattern, load_corpus()[:1])


def test_live_command_exit_codes(monkeypatch, capsys) -> None:
    samples = load_corpus()
    for flip, code in ((None, 0), ("secretsmanager-deletesecret-force", 1)):
        logs = make_logs()
        stubber = Stubber(logs)
        respond_like_our_engine(stubber, samples, flip=flip)
        stubber.activate()
        sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        identity = Stubber(sts)
        identity.add_response("get_caller_identity", {"Account": "111122223333", "UserId": "AIDAEXAMPLE",
                                                      "Arn": "arn:aws:iam::111122223333:user/tester"})
        identity.activate()
        monkeypatch.setattr(awsclient, "make_client",
                            lambda session, service, *a, logs=logs, sts=sts, **k: sts if service == "sts" else logs)
        assert cli.main(["test-patterns", "--live", "--region", "us-east-1"]) == code
        out = capsys.readouterr().out
        assert ("AWS differs" in out) is (flip is not None)
        assert "disagreements" in out


def test_unknown_region_is_refused() -> None:
    session = boto3.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="moon-east-1")
    with pytest.raises(UserError, match="unknown Region 'moon-east-1'"):
        awsclient.make_client(session, "logs")
