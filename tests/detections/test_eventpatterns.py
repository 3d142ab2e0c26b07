"""Filter pattern -> EventBridge pattern: exact translation, proven with moto's EventBridge matcher
(the offline reference) against our filter-pattern engine."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import assume, given, settings, strategies as st
from moto.events.models import EventPattern

from detections import exclusions
from detections.catalog import DETECTION_MODES, DETECTIONS
from detections.eventpatterns import TranslationError, cloudtrail_event, event_pattern, translate
from detections.patterns import And, Comparison, Or, Predicate, Selector, StringValue, compile_node, compile_pattern, parse
from tests.conftest import load_corpus
from tests.helpers import ConcreteTemplate, parameter_values, resources_of_type

CASES = load_corpus()


def eb_matches(pattern: dict, event: dict) -> bool:
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


@pytest.mark.parametrize(("filter_pattern", "expected"), [
    ('{ $.a = "x" }', {"a": ["x"]}),
    ('{ $.a.b = "x*y" }', {"a": {"b": [{"wildcard": "x*y"}]}}),
    ('{ $.a != "x" }', {"a": [{"anything-but": "x"}]}),
    ('{ $.a != "x*" }', {"a": [{"anything-but": {"wildcard": "x*"}}]}),
    ("{ $.a >= 5 }", {"a": [{"numeric": [">=", 5]}]}),
    ("{ $.a = 1.5 }", {"a": [{"numeric": ["=", 1.5]}]}),
    ("{ $.a != 5 }", {"a": [{"numeric": ["<", 5]}, {"numeric": [">", 5]}]}),
    ("{ $.a IS NULL }", {"a": [None]}),
    ("{ $.a IS TRUE }", {"a": [True]}),
    ("{ $.a IS FALSE }", {"a": [False]}),
    ("{ $.a NOT EXISTS }", {"a": [{"exists": False}]}),
    ('{ $.a = "x" && $.b = "y" }', {"a": ["x"], "b": ["y"]}),
    ('{ $.a = "x" || $.a = "y" }', {"a": ["x", "y"]}),
    ('{ $.a = "x" || $.b = "y" }', {"$or": [{"a": ["x"]}, {"b": ["y"]}]}),
    ('{ $.s = "k" && ($.a = "x" || $.b = "y") }', {"s": ["k"], "$or": [{"a": ["x"]}, {"b": ["y"]}]}),
    ('{ $.a = "back\\\\slash*" }', {"a": [{"wildcard": "back\\\\slash*"}]}),
])
def test_translation_table(filter_pattern: str, expected: dict) -> None:
    assert translate(parse(filter_pattern)) == expected


@pytest.mark.parametrize(("filter_pattern", "problem"), [
    ("{ $.a = %x% }", "regular expressions"),
    ('{ $.a[0] = "x" }', "array index"),
    ('{ $.a = "x" && $.a = "y" }', "joined by &&"),
])
def test_untranslatable_patterns_are_refused(filter_pattern: str, problem: str) -> None:
    with pytest.raises(TranslationError, match=problem):
        translate(parse(filter_pattern))


def test_rules_read_the_catalog_patterns(workload) -> None:
    """Each rule's pattern is its detection's; the deletion rules also skip ExpectedDeleterArns."""
    for d in DETECTIONS:
        rule = workload["Resources"][f"{d.name}Rule"]["Properties"]
        expected = event_pattern(parse(d.filter_pattern), d.service.event_source)
        if exclusions.applies_to(d):
            expected = exclusions.with_exclusions(expected, {"Fn::Split": [",", {"Ref": "ExpectedDeleterArns"}]})
        assert rule["EventPattern"] == expected
        assert rule["EventPattern"]["source"] == [f"aws.{d.service.value}"]


def rule_patterns(workload, **params: str) -> dict[str, dict]:
    """Each deployed rule's event pattern as CloudFormation resolves it (ExpectedDeleterArns)."""
    stack = ConcreteTemplate(workload, parameter_values(workload, **params), {})
    deployed = stack.deployed()
    return {lid.removesuffix("Rule"): stack.value(stack.resolve(r["Properties"]["EventPattern"]))
            for lid, r in resources_of_type(workload, "AWS::Events::Rule").items()
            if lid in deployed and "EventPattern" in r["Properties"]}  # not the reminder's schedule


@pytest.mark.parametrize("case", CASES, ids=[c.cls for c in CASES])
def test_each_rule_gives_the_filter_patterns_verdict(workload, case) -> None:
    """Rule patterns are read from the rendered template and run through moto's matcher."""
    event = cloudtrail_event(case.record)
    patterns = rule_patterns(workload)
    for d in DETECTIONS:
        rule = patterns[d.name]
        ours = compile_pattern(d.filter_pattern).matches(case.record)
        assert eb_matches(rule, event) == ours == (d.name in case.expect), d.name


@pytest.mark.parametrize(("mode", "recovery"), list(itertools.product(DETECTION_MODES, ["Enabled", "Disabled"])))
def test_deployed_rules_match_exactly_the_labels_in_every_mode(workload, mode, recovery) -> None:
    rules = rule_patterns(workload, DetectionMode=mode, RecoveryNotices=recovery)
    kinds = {k.value for k in DETECTION_MODES[mode]} | ({"Recovery"} if recovery == "Enabled" else set())
    wanted = {d.name for d in DETECTIONS if d.kind.value in kinds}
    assert set(rules) == wanted
    for case in CASES:
        got = {name for name, pattern in rules.items() if eb_matches(pattern, cloudtrail_event(case.record))}
        assert got == set(case.expect) & wanted, case.cls


@pytest.mark.parametrize(("record", "filter_pattern"), [
    ({"n": 5}, "{ $.n = 5 }"), ({"n": 5}, "{ $.n != 5 }"), ({"n": 4}, "{ $.n != 5 }"),
    ({"n": 6}, "{ $.n > 5 }"), ({"n": 5}, "{ $.n >= 5 }"), ({"n": 5.5}, "{ $.n < 6 }"),
    ({"n": -1}, "{ $.n <= -1 }"), ({"n": "5"}, "{ $.n = 5 }"), ({}, "{ $.n = 5 }"),
    ({"f": True}, "{ $.f IS TRUE }"), ({"f": False}, "{ $.f IS TRUE }"), ({"f": False}, "{ $.f IS FALSE }"),
    ({"f": None}, "{ $.f IS NULL }"), ({"f": "null"}, "{ $.f IS NULL }"), ({}, "{ $.f IS NULL }"),
    ({}, "{ $.f NOT EXISTS }"), ({"f": None}, "{ $.f NOT EXISTS }"), ({"f": "x"}, "{ $.f NOT EXISTS }"),
])
def test_numbers_and_predicates_agree_with_eventbridge(record, filter_pattern) -> None:
    pattern = {"detail": translate(parse(filter_pattern))}
    assert eb_matches(pattern, {"detail": record}) == compile_pattern(filter_pattern).matches(record)


# Property: on records of strings, nulls and objects (the shape of the CloudTrail fields the
# detections read), a translated pattern and the original agree on every record.
keys = st.sampled_from(["a", "b", "c"])
string_leaves = st.one_of(
    st.builds(lambda path, op, text: Comparison(Selector(path), op, StringValue(text)),
              st.lists(keys, min_size=1, max_size=2).map(tuple), st.sampled_from(["=", "!="]),
              st.sampled_from(["x", "xy", "*", "x*", "*y", "*x*", ""])),
    st.builds(lambda path, test: Predicate(Selector(path), test),
              st.lists(keys, min_size=1, max_size=2).map(tuple), st.sampled_from(["IS NULL", "NOT EXISTS"])),
)
trees = st.recursive(string_leaves, lambda kids: st.one_of(
    st.builds(lambda xs: And(tuple(xs)), st.lists(kids, min_size=2, max_size=3)),
    st.builds(lambda xs: Or(tuple(xs)), st.lists(kids, min_size=2, max_size=3))), max_leaves=5)
values = st.recursive(st.one_of(st.none(), st.sampled_from(["x", "xy", "yx", "", "y"])),
                      lambda kids: st.dictionaries(keys, kids, min_size=1, max_size=3), max_leaves=6)
records = st.dictionaries(keys, values, max_size=3)


def outside_scalar_domain(tree, record) -> bool:
    """True where the translation's documented domain ends: NOT EXISTS on an object, != on
    anything but a string or an absent field."""
    if isinstance(tree, Predicate) and tree.test == "NOT EXISTS":
        return isinstance(resolve(record, tree.selector.path), dict)
    if isinstance(tree, Comparison) and tree.op == "!=":
        value = resolve(record, tree.selector.path)
        return value is not MISSING and not isinstance(value, str)
    return any(outside_scalar_domain(item, record) for item in getattr(tree, "items", ()))


MISSING = object()


def resolve(record, path):
    for key in path:
        if not isinstance(record, dict) or key not in record:
            return MISSING
        record = record[key]
    return record


@settings(max_examples=400, deadline=None)
@given(trees, records)
def test_translation_agrees_with_the_filter_engine(tree, record) -> None:
    try:
        pattern = translate(tree)
    except TranslationError:
        assume(False)
    # CloudTrail's eventSource, eventName, errorCode and errorMessage are strings when present.
    assume(not outside_scalar_domain(tree, record))
    assert eb_matches({"detail": pattern}, {"detail": record}) == compile_node(tree)(record)
