"""Expected deleters: principals whose deletions a team expects, such as the pipelines that tear down
ephemeral environments every day.

They are skipped by the deletion detections of the EventBridge engine only: the use detections never
skip anyone (a pending-deletion key in use is a problem whoever uses it), and the CloudWatch Logs
engine keeps the exact CIS / Security Hub CloudWatch.7 filter, to which nothing may be added.

A pattern is an EventBridge wildcard over the record's ``userIdentity.arn``: ``*`` matches any run of
characters, ``\\*`` a literal star (EventBridge user guide, content filtering, wildcard matching). In
the event pattern the exclusion is an ``anything-but`` wildcard list
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html), or'ed
with "no ``userIdentity.arn`` at all": ``anything-but`` needs the field to exist, and an AWS
service's own records have no ARN; without the second branch they would stop matching.
"""

from __future__ import annotations

import re
from typing import Any

from detections.catalog import Detection, Kind

NO_EXCLUSION = "none"
"""The parameter value that excludes no one (EventBridge needs a non-empty list; no ARN is 'none')."""
# What a pattern may look like: an IAM or STS ARN with * wildcards, never two in a row (EventBridge
# rejects consecutive wildcards).
PATTERN = re.compile(r"arn:(aws[a-z-]*|\*):(iam|sts)::(\d{12}|\*):[A-Za-z0-9+=,.@_/*-]+")


def applies_to(detection: Detection) -> bool:
    """Whether ``detection`` skips expected deleters (the deletion detections only)."""
    return detection.kind is Kind.DELETION


def validate(pattern: str) -> str:
    """Return ``pattern``, or raise ValueError saying what an expected-deleter pattern must be."""
    if not PATTERN.fullmatch(pattern) or "**" in pattern:
        raise ValueError(f"expected deleter {pattern!r} is not an IAM or STS ARN pattern such as "
                         "arn:aws:sts::111122223333:assumed-role/pipeline-*/* (* wildcards, never two in a row)")
    return pattern


def with_exclusions(pattern: dict[str, Any], patterns: Any) -> dict[str, Any]:
    """``pattern`` that also requires the caller not to match ``patterns`` (a list, or a
    CloudFormation expression that gives one)."""
    if "$or" in pattern:  # one $or per pattern: the two would have to be combined by hand
        raise ValueError("this event pattern already has an $or; exclusions cannot be added")
    return {**pattern, "$or": [
        {"detail": {"userIdentity": {"arn": [{"anything-but": {"wildcard": patterns}}]}}},
        {"detail": {"userIdentity": {"arn": [{"exists": False}]}}},
    ]}


def _regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\\\*|\\\\|\*)", pattern)
    text = "".join({"*": ".*", "\\*": re.escape("*"), "\\\\": re.escape("\\")}.get(p, re.escape(p))
                   for p in parts)
    return re.compile(text, re.DOTALL)


def compile_patterns(patterns: tuple[str, ...]) -> list[re.Pattern[str]]:
    return [_regex(p) for p in patterns]


def is_expected(record: dict[str, Any], compiled: list[re.Pattern[str]]) -> bool:
    """Whether the record's caller matches an expected-deleter pattern, as EventBridge decides it."""
    identity = record.get("userIdentity")
    arn = identity.get("arn") if isinstance(identity, dict) else None
    return isinstance(arn, str) and any(p.fullmatch(arn) for p in compiled)
