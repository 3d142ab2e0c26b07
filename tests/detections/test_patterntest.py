"""The proof matrix and the ``deletion-alarms test-patterns`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from detections.catalog import DETECTIONS
from detections.patterntest import Sample, format_matrix, load_samples, local_verdicts
from tests.conftest import CORPUS_DIR

ROOT = Path(__file__).resolve().parents[2]
KMS_RECORD = {"eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
              "errorCode": "KMSInvalidStateException",
              "errorMessage": "arn:aws:kms:us-east-1:111122223333:key/k is pending deletion."}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deletion_alarms", *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_verdicts_flag_mislabelled_records() -> None:
    wrong = Sample("kms-use-labelled-as-nothing", frozenset(), "deliberately wrong", KMS_RECORD)
    bad = [v for v in local_verdicts([wrong], DETECTIONS) if not v.ok]
    assert [(v.detection, v.expected, v.got) for v in bad] == [("KmsKeyPendingDeletionUse", False, True)]


def test_matrix_marks_mismatches() -> None:
    wrong = Sample("mislabelled", frozenset({"SecretDeletion"}), "wrong", KMS_RECORD)
    text = format_matrix(local_verdicts([wrong], DETECTIONS))
    row = next(line for line in text.splitlines() if line.startswith("mislabelled"))
    assert row.count("!") == 2 and "2 differ" in text


def test_command_passes_on_the_corpus() -> None:
    result = run("test-patterns")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(load_samples(CORPUS_DIR)) * len(DETECTIONS)} agree, 0 differ" in result.stdout
    for d in DETECTIONS:
        assert d.name in result.stdout


def test_command_fails_on_a_mismatch(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps([
        {"class": "mislabelled", "expect": [], "why": "wrong on purpose", "record": KMS_RECORD}]))
    result = run("test-patterns", "--corpus", str(tmp_path))
    assert result.returncode == 1
    assert "1 differ" in result.stdout


def test_command_reports_a_missing_corpus_in_one_line(tmp_path: Path) -> None:
    result = run("test-patterns", "--corpus", str(tmp_path / "nothing"))
    assert result.returncode == 2  # a --corpus that is no folder: a bad value
    assert len(result.stderr.strip().splitlines()) == 1 and "corpus" in result.stderr
