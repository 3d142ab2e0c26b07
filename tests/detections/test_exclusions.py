"""Expected deleters: the EventBridge exclusion and the backtest's reading of it agree, record by
record, with EventBridge's own semantics (moto's matcher)."""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern

from detections import exclusions
from detections.catalog import DETECTIONS, Kind

PIPELINE = "arn:aws:sts::111122223333:assumed-role/pipeline-*/*"
ARNS = [
    "arn:aws:sts::111122223333:assumed-role/pipeline-deploy/1700000000",
    "arn:aws:sts::111122223333:assumed-role/pipeline/1700000000",
    "arn:aws:sts::111122223333:assumed-role/Developer/alice@example.com",
    "arn:aws:iam::111122223333:user/pipeline-x",
    "arn:aws:iam::111122223333:root",
    "arn:aws:sts::444455556666:assumed-role/pipeline-deploy/1",
]
PATTERNS = [
    [PIPELINE],
    ["arn:aws:iam::111122223333:root"],
    ["arn:aws:sts::*:assumed-role/pipeline-*/*", "arn:aws:iam::111122223333:user/*"],
    [exclusions.NO_EXCLUSION],
]


def eventbridge_keeps(patterns: list[str], identity: dict) -> bool:
    pattern = exclusions.with_exclusions({"source": ["aws.kms"]}, patterns)
    return EventPattern.load(json.dumps(pattern)).matches_event({"source": "aws.kms", "detail": {"userIdentity": identity}})


@pytest.mark.parametrize("patterns", PATTERNS, ids=str)
@pytest.mark.parametrize("arn", ARNS)
def test_the_backtest_skips_exactly_what_eventbridge_skips(patterns, arn) -> None:
    identity = {"type": "AssumedRole", "arn": arn}
    expected = exclusions.is_expected({"userIdentity": identity}, exclusions.compile_patterns(tuple(patterns)))
    assert eventbridge_keeps(patterns, identity) is not expected


def test_a_record_without_a_caller_arn_is_never_skipped() -> None:
    """AWS services' own records have no userIdentity.arn; anything-but alone would drop them."""
    identity = {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}
    assert eventbridge_keeps([PIPELINE], identity)
    assert not exclusions.is_expected({"userIdentity": identity}, exclusions.compile_patterns((PIPELINE,)))
    broken = {"source": ["aws.kms"], "detail": {"userIdentity": {"arn": [{"anything-but": {"wildcard": [PIPELINE]}}]}}}
    assert not EventPattern.load(json.dumps(broken)).matches_event({"source": "aws.kms", "detail": {"userIdentity": identity}})


def test_only_the_deletion_detections_skip() -> None:
    assert {d.name for d in DETECTIONS if exclusions.applies_to(d)} == {
        d.name for d in DETECTIONS if d.kind is Kind.DELETION}


@pytest.mark.parametrize(("pattern", "ok"), [
    (PIPELINE, True), ("arn:aws:iam::111122223333:role/teardown", True), ("arn:*:iam::*:role/ci-*", True),
    ("arn:aws-us-gov:sts::111122223333:assumed-role/x/*", True),
    ("pipeline-*", False), ("arn:aws:s3:::bucket", False), ("arn:aws:iam::111122223333:role/**", False),
    ("arn:aws:iam::111122223333:role/a b", False),
])
def test_patterns_are_validated(pattern, ok) -> None:
    if ok:
        assert exclusions.validate(pattern) == pattern
    else:
        with pytest.raises(ValueError, match="IAM or STS ARN pattern"):
            exclusions.validate(pattern)


def test_a_pattern_that_already_has_an_or_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\$or"):
        exclusions.with_exclusions({"$or": [{"a": ["b"]}, {"c": ["d"]}]}, [PIPELINE])
