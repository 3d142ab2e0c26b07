"""Translate a CloudWatch Logs filter pattern into the EventBridge event pattern that means the same.

A CloudTrail record is the ``detail`` of its EventBridge event, so ``$.a.b`` becomes
``{"detail": {"a": {"b": [...]}}}``. The translation is exact for the constructs it accepts, on
scalar fields (which is what CloudTrail's eventSource, eventName, errorCode and errorMessage are):

===========================  ==========================================================
filter pattern               event pattern
===========================  ==========================================================
``$.f = "text"``             ``{"f": ["text"]}``
``$.f = "te*t"``             ``{"f": [{"wildcard": "te*t"}]}``
``$.f != "text"``            ``{"f": [{"anything-but": "text"}]}`` (and wildcard form)
``$.f > 5`` (``= < <= >=``)  ``{"f": [{"numeric": [">", 5]}]}``
``$.f != 5``                 ``{"f": [{"numeric": ["<", 5]}, {"numeric": [">", 5]}]}``
``IS NULL/TRUE/FALSE``       ``[null]`` / ``[true]`` / ``[false]``
``NOT EXISTS``               ``[{"exists": false}]``
``a && b``                   both patterns merged (distinct fields)
``a || b``                   one field: its value lists joined; otherwise ``{"$or": [a, b]}``
===========================  ==========================================================

What EventBridge cannot express is refused with :class:`TranslationError`: ``%regex%`` values,
array indexes, and an ``&&`` of two conditions on one field. Outside scalar fields the two
languages part: EventBridge matches an array when any element matches, its ``exists`` sees only
leaves (so ``NOT EXISTS`` on an object matches), and ``anything-but`` also matches numbers
and null.
"""

from __future__ import annotations

import copy
from typing import Any

from detections.patterns import And, Comparison, Node, NumberValue, Predicate, RegexValue, StringValue

# CloudTrail records reach EventBridge under these detail types (API calls and service events).
CLOUDTRAIL_DETAIL_TYPES = ["AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"]


class TranslationError(ValueError):
    """The filter pattern uses something no EventBridge pattern can say exactly."""


def _number(value: NumberValue) -> int | float:
    # EventBridge compares numbers as doubles (15 digits): the pattern says no more than that.
    number = value.number
    return int(number) if number == number.to_integral_value() else float(number)


def _escape_wildcard(text: str) -> str:
    # In an EventBridge wildcard, backslash escapes; a filter-pattern '*' is always a wildcard.
    return text.replace("\\", "\\\\")


def _leaf_filters(node: Comparison | Predicate) -> list[Any]:
    if isinstance(node, Predicate):
        filters: dict[str, list[Any]] = {"IS NULL": [None], "IS TRUE": [True], "IS FALSE": [False],
                                         "NOT EXISTS": [{"exists": False}]}
        return filters[node.test]
    value = node.value
    if isinstance(value, RegexValue):
        raise TranslationError(f"{node}: EventBridge patterns have no regular expressions")
    if isinstance(value, NumberValue):
        n = _number(value)
        if node.op == "!=":
            return [{"numeric": ["<", n]}, {"numeric": [">", n]}]
        return [{"numeric": [node.op, n]}]
    assert isinstance(value, StringValue)
    if value.text == "*" and node.op == "=":
        raise TranslationError(f"{node}: '= *' also matches numbers in CloudWatch Logs; an EventBridge "
                               "wildcard matches strings only")
    matcher: Any = {"wildcard": _escape_wildcard(value.text)} if value.has_wildcard else value.text
    return [{"anything-but": matcher}] if node.op == "!=" else [matcher]


def _nest(path: tuple[str | int, ...], filters: list[Any]) -> dict[str, Any]:
    if any(isinstance(k, int) for k in path):
        raise TranslationError(f"array index in {path}: EventBridge patterns cannot address one element")
    pattern: Any = filters
    for key in reversed(path):
        pattern = {key: pattern}
    return pattern


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """AND of two patterns: their fields together; the same field twice cannot be ANDed."""
    out = copy.deepcopy(a)
    for key, value in b.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _merge(out[key], value)
        else:
            raise TranslationError(f"two conditions on {key!r} joined by &&")
    return out


def _single_field(pattern: dict[str, Any]) -> tuple[tuple[str, ...], list[Any]] | None:
    """(path, filters) when the pattern constrains exactly one field, else None."""
    path: list[str] = []
    node: Any = pattern
    while isinstance(node, dict):
        if len(node) != 1 or "$or" in node:
            return None
        (key, node), = node.items()
        path.append(key)
    return tuple(path), node


def translate(node: Node) -> dict[str, Any]:
    """The event pattern (for the record, i.e. the event's ``detail``) equivalent to ``node``."""
    if isinstance(node, (Comparison, Predicate)):
        return _nest(node.selector.path, _leaf_filters(node))
    parts = [translate(item) for item in node.items]
    if isinstance(node, And):
        merged: dict[str, Any] = {}
        for part in parts:
            merged = _merge(merged, part)
        return merged
    fields = [_single_field(p) for p in parts]
    if all(fields) and len({f[0] for f in fields if f}) == 1:
        path = fields[0][0] if fields[0] else ()
        joined: list[Any] = []
        for f in fields:
            assert f is not None
            joined += [x for x in f[1] if x not in joined]
        return _nest(path, joined)
    return {"$or": parts}


def event_pattern(tree: Node, event_source: str) -> dict[str, Any]:
    """The complete rule pattern for CloudTrail records of ``event_source`` matching ``tree``."""
    source = "aws." + event_source.split(".", 1)[0]
    return {"source": [source], "detail-type": list(CLOUDTRAIL_DETAIL_TYPES), "detail": translate(tree)}


def cloudtrail_event(record: dict[str, Any]) -> dict[str, Any]:
    """Wrap a CloudTrail record as the EventBridge event that carries it."""
    detail_type = ("AWS Service Event via CloudTrail" if record.get("eventType") == "AwsServiceEvent"
                   else "AWS API Call via CloudTrail")
    return {
        "version": "0",
        "id": record.get("eventID", "00000000-0000-0000-0000-000000000000"),
        "detail-type": detail_type,
        "source": "aws." + str(record.get("eventSource", "unknown")).split(".", 1)[0],
        "account": record.get("recipientAccountId", "111122223333"),
        "time": record.get("eventTime", "2026-01-01T00:00:00Z"),
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": record,
    }
