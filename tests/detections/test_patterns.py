"""The filter-pattern engine: documented examples, rejections, and properties."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings, strategies as st

from detections.patterns import (
    resolve,
    And, Comparison, FilterPatternError, NumberValue, Or, Selector, StringValue, Predicate,
    compile_pattern, compile_node, format_pattern, glob_matcher, parse,
)

# The sample events of the CloudWatch Logs User Guide ("Using filter patterns to match terms in
# JSON log events"), with the verdicts the guide gives for its example patterns.
GUIDE_EVENT = {
    "eventType": "UpdateTrail",
    "sourceIPAddress": "111.111.111.111",
    "arrayKey": ["value", "another value"],
    "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
    "SomeObject": None,
    "ThisFlag": True,
}
COMPOUND_EVENT = {
    "user": {"id": 1, "email": "John.Stiles@example.com"},
    "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
    "actions": ["GET", "PUT", "DELETE"],
    "coordinates": [[0, 1], [2, 3]],
}
NUMBERS_EVENT = {"latency": 500, "bytes": 1.5e3, "negative": -7, "code": "404", "flag": False}

DOCUMENTED = [
    (GUIDE_EVENT, '{ $.eventType = "UpdateTrail" }', True),
    (GUIDE_EVENT, "{ $.eventType = UpdateTrail }", True),
    (GUIDE_EVENT, '{ $.eventType = "updatetrail" }', False),  # case sensitive
    (GUIDE_EVENT, "{ $.sourceIPAddress != 123.123.* }", True),
    (GUIDE_EVENT, "{ $.sourceIPAddress = 111.111.* }", True),
    (GUIDE_EVENT, '{ $.sourceIPAddress = "*.111" }', True),
    (GUIDE_EVENT, '{ $.arrayKey[0] = "value" }', True),
    (GUIDE_EVENT, '{ $.arrayKey[1] = "value" }', False),
    (GUIDE_EVENT, '{ $.arrayKey[5] = "value" }', False),
    (GUIDE_EVENT, "{ $.objectList[1].id = 2 }", True),
    (GUIDE_EVENT, "{ $.objectList[1].id > 1 }", True),
    (GUIDE_EVENT, "{ $.SomeObject IS NULL }", True),
    (GUIDE_EVENT, "{ $.eventType IS NULL }", False),
    (GUIDE_EVENT, "{ $.SomeOtherObject NOT EXISTS }", True),
    (GUIDE_EVENT, "{ $.SomeObject NOT EXISTS }", False),
    (GUIDE_EVENT, "{ $.ThisFlag IS TRUE }", True),
    (GUIDE_EVENT, "{ $.ThisFlag IS FALSE }", False),
    # selectors that lead to an object or an array match nothing
    (GUIDE_EVENT, '{ $.arrayKey = "*" }', False),
    (GUIDE_EVENT, '{ $.objectList[0] != "x" }', False),
    (GUIDE_EVENT, "{ $.objectList IS NULL }", False),
    (COMPOUND_EVENT, '{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
    (COMPOUND_EVENT, '{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', False),
    (COMPOUND_EVENT, '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }', True),
    (COMPOUND_EVENT, '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }', False),
    (COMPOUND_EVENT, "{ $.coordinates[1][0] = 2 }", True),
    (NUMBERS_EVENT, "{ $.latency >= 500 }", True),
    (NUMBERS_EVENT, "{ $.latency > 500 }", False),
    (NUMBERS_EVENT, "{ $.latency < 5e2 }", False),
    (NUMBERS_EVENT, "{ $.latency <= 5.0E+2 }", True),
    (NUMBERS_EVENT, "{ $.bytes = 1500 }", True),
    (NUMBERS_EVENT, "{ $.negative = -7 }", True),
    (NUMBERS_EVENT, "{ $.negative < -6.5 }", True),
    (NUMBERS_EVENT, "{ $.latency != 400 }", True),
    (NUMBERS_EVENT, "{ $.code > 400 }", False),  # a numeric string is not a number
    (NUMBERS_EVENT, "{ $.flag = 0 }", False),  # a boolean is not a number
    (NUMBERS_EVENT, "{ $.flag IS FALSE }", True),
    (NUMBERS_EVENT, "{ $.missing != 1 }", False),  # absent fields match no comparison
    (NUMBERS_EVENT, '{ $.missing != "x" }', False),
    (GUIDE_EVENT, "{ $.eventType = %Update% }", True),  # regexes are searched for
    (GUIDE_EVENT, "{ $.eventType = %^Trail% }", False),
    (GUIDE_EVENT, "{ $.eventType != %^Update% }", False),
    (GUIDE_EVENT, "{ $.sourceIPAddress = %^[0-9.]+$% }", True),
    # the patterns AWS publishes for this very problem
    ({"eventSource": "kms.amazonaws.com", "errorMessage": "arn:aws:kms:us-east-1:111122223333:key/x is pending deletion."},
     '{ $.eventSource = kms* && $.errorMessage = "* is pending deletion."}', True),
    ({"eventName": "GetSecretValue", "errorMessage": "You can't perform this operation on the secret because it was marked for deletion."},
     '{ $.eventName = "GetSecretValue" && $.errorMessage = "*secret because it was marked for deletion*" }', True),
]


@pytest.mark.parametrize(("event", "pattern", "expected"), DOCUMENTED)
def test_documented_examples(event: dict, pattern: str, expected: bool) -> None:
    assert compile_pattern(pattern).matches(event) is expected


@pytest.mark.parametrize(("message", "expected"), [
    ('{"eventType": "UpdateTrail"}', True),
    ("2026-11-28 ERROR UpdateTrail", False),  # not JSON: a JSON pattern cannot match
    ("[1, 2]", False),
])
def test_matches_message_parses_json(message: str, expected: bool) -> None:
    assert compile_pattern('{ $.eventType = "UpdateTrail" }').matches_message(message) is expected


REJECTED = [
    ("$.a = 1", "expected '{'"),
    ("{ $.a = 1", "expected '}'"),
    ("{ $.a = 1 }}", "nothing after"),
    ("{ ($.a = 1 }", "expected ')'"),
    ("{ $.a = 1) }", "expected '}'"),
    ("{ $.a IS NOT NULL }", "IS NOT is not supported"),
    ("{ $.a EXISTS }", "EXISTS is not supported"),
    ("{ $.a IS MAYBE }", "expected NULL, TRUE or FALSE"),
    ("{ $.a NOT NULL }", "expected EXISTS"),
    ("{ $.a = %x% && $.b = %y% && $.c = %z% }", "at most 2"),
    ("{ $.a = %(x|y)% }", "not allowed"),
    ("{ $.a = %x!% }", "not allowed"),
    ("{ $.a = %x }", "unterminated %regex%"),
    ("{ $.a = \"x }", "unterminated quoted string"),
    ("{ $.a > abc }", "needs a number"),
    ('{ $.a < "1" }', "needs a number"),
    ("{ $.a }", "expected an operator"),
    ("{ $.a = }", "expected a value"),
    ("{ $ = 1 }", "needs a property"),
    ("{ a = 1 }", "expected a selector"),
    ("{ $.a == 1 }", "expected a value"),
    ("{ $.a ! 1 }", "unknown operator"),
    ("{ $.a = 1 && }", "expected a selector"),
    ("{ $.a = 1 || || $.b = 2 }", "expected a selector"),
    ("{ " + " && ".join(["$.a = 1"] * 120) + " }", "limit is 1024"),
]


@pytest.mark.parametrize(("pattern", "problem"), REJECTED)
def test_rejects_what_aws_rejects(pattern: str, problem: str) -> None:
    with pytest.raises(FilterPatternError) as info:
        parse(pattern)
    assert problem in str(info.value)
    assert str(info.value).startswith("position ")


def test_error_names_the_position() -> None:
    with pytest.raises(FilterPatternError) as info:
        parse('{ $.eventName = "DeleteSecret" && $.x IS NOT NULL }')
    assert info.value.position == 41


def test_precedence_and_binds_tighter_than_or() -> None:
    tree = parse("{ $.a = 1 || $.b = 2 && $.c = 3 }")
    assert isinstance(tree, Or) and isinstance(tree.items[1], And)


@pytest.mark.parametrize(("glob", "text", "expected"), [
    ("abc", "abc", True), ("abc", "abcd", False), ("*", "", True), ("a*", "abc", True),
    ("*c", "abc", True), ("*b*", "abc", True), ("a*c", "abbbc", True), ("a*c", "abcd", False),
    ("a*b*c", "aXbYc", True), ("a*b*c", "acb", False), ("**", "x", True), ("a.c", "abc", False),
    ("*\n*", "x\ny", True),
])
def test_glob_wildcards(glob: str, text: str, expected: bool) -> None:
    assert glob_matcher(glob)(text) is expected


# --------------------------------------------------------------------------- property-based tests

names = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=6)
selectors = st.builds(lambda p: Selector(tuple(p)),
                      st.lists(st.one_of(names, st.integers(0, 3)), min_size=1, max_size=3)
                      .filter(lambda p: isinstance(p[0], str)))
strings = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
numbers = st.integers(-1000, 1000).map(lambda i: NumberValue(float(i), str(i)))
comparisons = st.one_of(
    st.builds(Comparison, selectors, st.sampled_from(["=", "!="]), st.builds(StringValue, strings)),
    st.builds(Comparison, selectors, st.sampled_from(["=", "!=", "<", ">", "<=", ">="]), numbers),
    st.builds(Predicate, selectors, st.sampled_from(["IS NULL", "IS TRUE", "IS FALSE", "NOT EXISTS"])),
)
trees = st.recursive(
    comparisons,
    lambda kids: st.one_of(
        st.builds(lambda xs: And(tuple(xs)), st.lists(kids, min_size=2, max_size=3)),
        st.builds(lambda xs: Or(tuple(xs)), st.lists(kids, min_size=2, max_size=3)),
    ),
    max_leaves=6,
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "a", "ab", "*", "x y"]))
records = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c", "0"]), kids, max_size=3)),
    max_leaves=8,
).filter(lambda r: isinstance(r, dict))
small_trees = st.recursive(
    st.builds(Comparison, st.builds(lambda k: Selector((k,)), st.sampled_from(["a", "b", "c"])),
              st.sampled_from(["=", "!="]), st.builds(StringValue, st.sampled_from(["a", "*", "a*", ""]))),
    lambda kids: st.one_of(st.builds(lambda xs: And(tuple(xs)), st.lists(kids, min_size=2, max_size=3)),
                           st.builds(lambda xs: Or(tuple(xs)), st.lists(kids, min_size=2, max_size=3))),
    max_leaves=5,
)


@settings(max_examples=300)
@given(trees)
def test_format_then_parse_round_trips(tree) -> None:
    text = format_pattern(tree)
    if len(text) <= 1024:
        assert parse(text) == tree


@settings(max_examples=300)
@given(small_trees, small_trees, records)
def test_and_or_follow_boolean_laws(a, b, record) -> None:
    fa, fb = compile_node(a)(record), compile_node(b)(record)
    assert compile_node(And((a, b)))(record) == (fa and fb) == compile_node(And((b, a)))(record)
    assert compile_node(Or((a, b)))(record) == (fa or fb) == compile_node(Or((b, a)))(record)
    assert compile_node(Or((a, a)))(record) == fa == compile_node(And((a, a)))(record)


@settings(max_examples=300)
@given(selectors, strings, records)
def test_equal_and_not_equal_split_existing_strings(selector, value, record) -> None:
    eq = compile_node(Comparison(selector, "=", StringValue(value)))(record)
    ne = compile_node(Comparison(selector, "!=", StringValue(value)))(record)
    exists_as_string = isinstance(resolve(record, selector), str)  # ('= *' matches numbers too)
    assert (eq or ne) == exists_as_string
    assert not (eq and ne)


@settings(max_examples=300)
@given(st.integers(-50, 50), st.integers(-50, 50))
def test_numeric_operators_agree_with_arithmetic(field: int, literal: int) -> None:
    record = {"n": field}
    verdict = {op: compile_pattern(f"{{ $.n {op} {literal} }}").matches(record)
               for op in ("=", "!=", "<", ">", "<=", ">=")}
    assert verdict == {"=": field == literal, "!=": field != literal, "<": field < literal,
                       ">": field > literal, "<=": field <= literal, ">=": field >= literal}


@settings(max_examples=200)
@given(strings, strings)
def test_wildcards_match_prefix_suffix_and_infix(left: str, right: str) -> None:
    text = left + "MID" + right
    assert glob_matcher("*MID*")(text)
    assert glob_matcher(left + "*")(text)
    assert glob_matcher("*" + right)(text) if "*" not in right else True


@given(records)
def test_message_and_record_agree(record) -> None:
    pattern = compile_pattern('{ ($.a = "a*") || ($.b IS NULL) || ($.c[0] NOT EXISTS) }')
    assert pattern.matches_message(json.dumps(record)) == pattern.matches(record)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["a", "ab", "a*", "*b", "", "*"]), min_size=2, max_size=4), records)
def test_alternatives_on_one_field_agree_with_each_comparison(values, record) -> None:
    # compiled as one lookup and a set test: must equal the alternatives one by one
    comparisons = [Comparison(Selector(("a",)), "=", StringValue(v)) for v in values]
    assert compile_node(Or(tuple(comparisons)))(record) == any(compile_node(c)(record) for c in comparisons)


# ------------------------------------------ fidelity to "Filter pattern syntax" (CloudWatch Logs)
@pytest.mark.parametrize(("record", "matches"), [
    ({"latency": 200}, True), ({"latency": 0.5}, True), ({"latency": "slow"}, True),
    ({"latency": None}, False), ({"latency": {"p99": 3}}, False), ({"latency": [1]}, False), ({}, False),
    ({"latency": True}, False),
])
def test_equals_star_matches_any_scalar_value_numbers_included(record, matches) -> None:
    """AWS's own example, { $.latency = * }, selects events with a numeric latency."""
    assert compile_pattern("{ $.latency = * }").matches(record) is matches
    assert compile_pattern('{ $.a = "x" || $.latency = * }').matches(record) is matches


@pytest.mark.parametrize("pattern", ["{ $.aws:x = 1 }", "{ $.a@b = 1 }", "{ $.a$ = 1 }"])
def test_selectors_hold_only_alphanumerics_dash_underscore_and_indexes(pattern) -> None:
    with pytest.raises(FilterPatternError, match="in selector"):
        parse(pattern)
    assert parse("{ $.a-b_c[0].D9 = 1 }")


@pytest.mark.parametrize("value", ["a=b", "a&b", "a'b", "a;b", "a,b"])
def test_unquoted_values_outside_the_documented_characters_must_be_quoted(value) -> None:
    with pytest.raises(FilterPatternError, match="must be quoted"):
        parse(f"{{ $.f = {value} }}")
    assert compile_pattern(f'{{ $.f = "{value}" }}').matches({"f": value})


@pytest.mark.parametrize("value", ["kms.amazonaws.com", "123.123.*", "arn:aws:iam::111122223333:root", "a+b@c/d"])
def test_unquoted_values_of_the_documentation_still_parse(value) -> None:
    assert compile_pattern(f"{{ $.f = {value} }}").matches({"f": value.replace("*", "9")})


@pytest.mark.parametrize("regex", ["a b", "a!", "(a)", "é"])
def test_regexes_hold_only_the_documented_characters(regex) -> None:
    """regex-expressions.html: alphanumerics, : _ # = @ / ; , - and ^ $ ? [ ] { } | \\ * + ."""
    with pytest.raises(FilterPatternError, match="not allowed in a %regex%"):
        parse(f"{{ $.f = %{regex}% }}")
    assert parse("{ $.f = %^[a-z]{2,3}:_#=@/;,-$|x\\d+.% }")


def test_deep_nesting_gives_the_engines_own_error_not_a_recursion_error() -> None:
    deep = "{ " + "(" * 400 + "$.a = 1" + ")" * 400 + " }"
    with pytest.raises(FilterPatternError, match="nested deeper than"):
        parse(deep[:1024] if len(deep) > 1024 else deep)
    parse("{ " + "(" * 50 + "$.a = 1" + ")" * 50 + " }")


@pytest.mark.parametrize(("pattern", "value", "matches"), [
    ("{ $.n = 9007199254740993 }", 9007199254740993, True),
    ("{ $.n = 9007199254740993 }", 9007199254740992, False),  # as a double, the two are one number
    ("{ $.n > 9007199254740992 }", 9007199254740993, True),
    ("{ $.n != 9007199254740993 }", 9007199254740992, True),
    ("{ $.n = 0.1 }", 0.1, True),
])
def test_numbers_compare_exactly(pattern, value, matches) -> None:
    """AWS promises precise numeric matching: no rounding through a double on either side."""
    import json as _json

    compiled = compile_pattern(pattern)
    assert compiled.matches({"n": value}) is matches
    assert compiled.matches_message(_json.dumps({"n": value})) is matches


def test_a_long_decimal_in_a_log_event_stays_exact() -> None:
    compiled = compile_pattern("{ $.n = 0.30000000000000001 }")
    assert compiled.matches_message('{"n": 0.30000000000000001}')
    assert not compiled.matches_message('{"n": 0.3000000000000001}')


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_number_matches_only_not_equal(value) -> None:
    assert not compile_pattern("{ $.n > 1 }").matches({"n": value})
    assert compile_pattern("{ $.n != 1 }").matches({"n": value})
