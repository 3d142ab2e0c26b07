"""Confirm the offline engine against AWS: run the samples through CloudWatch Logs'
TestMetricFilter API and report every verdict where AWS and our engine differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from deletion_alarms.awsclient import aws_errors
from detections.catalog import Detection
from detections.patterntest import Sample, local_verdicts

BATCH_SIZE = 50  # TestMetricFilter accepts 1 to 50 log event messages per call


@dataclass(frozen=True)
class Disagreement:
    detection: str
    cls: str
    ours: bool
    aws: bool


def aws_matches(logs_client: Any, pattern: str, samples: list[Sample]) -> set[str]:
    """Classes of the samples that AWS says ``pattern`` matches, in batches of 50."""
    matched: set[str] = set()
    for start in range(0, len(samples), BATCH_SIZE):
        batch = samples[start:start + BATCH_SIZE]
        by_message = {s.message: s.cls for s in batch}
        with aws_errors("TestMetricFilter"):
            response = logs_client.test_metric_filter(
                filterPattern=pattern, logEventMessages=[s.message for s in batch])
        # Identify matches by message rather than by eventNumber, whose base the API
        # documentation does not state.
        matched |= {by_message[m["eventMessage"]] for m in response.get("matches", [])
                    if m.get("eventMessage") in by_message}
    return matched


def compare_with_aws(logs_client: Any, samples: Iterable[Sample],
                     detections: Iterable[Detection]) -> list[Disagreement]:
    """Every (detection, sample) where AWS's verdict differs from our engine's."""
    samples, detections = list(samples), list(detections)
    ours = {(v.detection, v.cls): v.got for v in local_verdicts(samples, detections)}
    disagreements = []
    for d in detections:
        theirs = aws_matches(logs_client, d.filter_pattern, samples)
        for s in samples:
            if ours[(d.name, s.cls)] != (s.cls in theirs):
                disagreements.append(Disagreement(d.name, s.cls, ours[(d.name, s.cls)], s.cls in theirs))
    return disagreements
