"""An offline engine for CloudWatch Logs filter patterns (the JSON form).

Parses a pattern such as ``{ ($.eventSource = "kms.amazonaws.com") && ($.errorMessage = "*x*") }``
into a small syntax tree, rejects what CloudWatch Logs rejects with the position and the problem,
and compiles the tree once into a matcher that is evaluated over many records.

Semantics, as documented in "Filter pattern syntax" of the CloudWatch Logs User Guide:

- A selector (``$.a.b``, ``$.a[0].b``) must lead to a scalar. A selector that is absent, or that
  leads to an object or an array, makes every comparison on it false (``NOT EXISTS`` excepted).
- ``=`` / ``!=`` with a string (quoted or bare) compare whole strings, case-sensitively; ``*``
  matches any run of characters. Only string fields match a string value.
- Numeric values (optional sign, decimals, exponent) use ``= != < > <= >=`` and match only number
  fields, compared as numbers.
- ``%regex%`` values match when the regex is found in the string field (at most two per pattern,
  no parentheses).
- ``IS NULL`` / ``IS TRUE`` / ``IS FALSE`` test for JSON null / true / false; ``NOT EXISTS`` for an
  absent field. ``IS NOT`` and ``EXISTS`` are not part of the syntax.
- ``&&`` binds tighter than ``||``; parentheses group.

Two points the documentation leaves open are decided here and can be confirmed against AWS itself
with ``deletion-alarms test-patterns --live``: ``!=`` on an absent field does not match, and a regex
value is searched for rather than matched against the whole string.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping, Union

MAX_PATTERN_LENGTH = 1024
MAX_REGEXES = 2

# --------------------------------------------------------------------------------------- syntax tree

Key = Union[str, int]


@dataclass(frozen=True)
class Selector:
    """A path into the JSON record: property names and array indexes."""

    path: tuple[Key, ...]

    def __str__(self) -> str:
        return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in self.path)


@dataclass(frozen=True)
class StringValue:
    text: str
    """The value with ``*`` meaning "any characters"; a literal ``*`` cannot be expressed."""

    def __str__(self) -> str:
        return '"' + self.text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    @property
    def has_wildcard(self) -> bool:
        return "*" in self.text


@dataclass(frozen=True)
class NumberValue:
    number: Decimal
    """Exact: an integer above 2**53 or a long decimal compares as written (AWS's docs promise
    precise numeric matching); Python compares Decimal with int and float exactly."""
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class RegexValue:
    regex: str

    def __str__(self) -> str:
        return f"%{self.regex}%"


Value = Union[StringValue, NumberValue, RegexValue]


@dataclass(frozen=True)
class Comparison:
    selector: Selector
    op: str  # = != < > <= >=
    value: Value

    def __str__(self) -> str:
        return f"({self.selector} {self.op} {self.value})"


@dataclass(frozen=True)
class Predicate:
    selector: Selector
    test: str  # "IS NULL", "IS TRUE", "IS FALSE", "NOT EXISTS"

    def __str__(self) -> str:
        return f"({self.selector} {self.test})"


@dataclass(frozen=True)
class And:
    items: tuple["Node", ...]

    def __str__(self) -> str:
        return "(" + " && ".join(str(i) for i in self.items) + ")"


@dataclass(frozen=True)
class Or:
    items: tuple["Node", ...]

    def __str__(self) -> str:
        return "(" + " || ".join(str(i) for i in self.items) + ")"


Node = Union[Comparison, Predicate, And, Or]


def format_pattern(node: Node) -> str:
    """Canonical text of a tree, fully parenthesised; ``parse(format_pattern(t)) == t``."""
    return "{ " + str(node) + " }"


# ------------------------------------------------------------------------------------------ parsing


class FilterPatternError(ValueError):
    """The pattern is not one CloudWatch Logs accepts; the message names the position."""

    def __init__(self, position: int, problem: str) -> None:
        super().__init__(f"position {position}: {problem}")
        self.position = position
        self.problem = problem


@dataclass(frozen=True)
class Token:
    kind: str  # { } ( ) && || OP SELECTOR STRING REGEX WORD END
    text: str
    position: int


NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
# Property names: alphanumerics, '-' and '_' (Filter pattern syntax, JSON log events); array
# indexes in brackets. '$.aws:x' is refused at the ':'.
_SELECTOR_RE = re.compile(r"\$((?:\.[A-Za-z0-9_-]+|\[\d+\])*)")
_SELECTOR_PART_RE = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")
# What an unquoted value may hold: the documentation's bare values are words, numbers, service
# names and addresses with wildcards (kms.amazonaws.com, 123.123.*); anything else (a=b, a&b) must
# be quoted.
_BARE_VALUE_RE = re.compile(r"[A-Za-z0-9_.:/@*+-]+")
# The characters a %regex% may contain: alphanumerics, the symbols : _ # = @ / ; , - and the
# operators ^ $ ? [ ] { } | \ * + . ("Supported regular expressions (regex) syntax",
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/regex-expressions.html): no
# parentheses, no '!', no space, no multibyte character.
_REGEX_ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_#=@/;,-^$?[]{}|\\*+.")
# Parentheses deeper than this are refused with the engine's own error (never a RecursionError).
MAX_NESTING = 100
_BARE_END = set(" \t\r\n(){}\"")
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_KEYWORDS = {"IS", "NOT", "NULL", "TRUE", "FALSE", "EXISTS"}


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c in "{}()":
            tokens.append(Token(c, c, i))
            i += 1
        elif text.startswith("&&", i) or text.startswith("||", i):
            tokens.append(Token(text[i:i + 2], text[i:i + 2], i))
            i += 2
        elif c in "!<>=":
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise FilterPatternError(i, f"unknown operator {c!r}; use = != < > <= >=")
            tokens.append(Token("OP", op, i))
            i += len(op)
        elif c == "$":
            m = _SELECTOR_RE.match(text, i)
            assert m is not None
            if not m.group(1):
                raise FilterPatternError(i, "a selector needs a property, as in $.eventName")
            end = m.end()
            if end < n and text[end] not in _BARE_END and not text.startswith(("&&", "||"), end) \
                    and text[end] not in "!<>=":
                raise FilterPatternError(end, f"unexpected {text[end]!r} in selector")
            tokens.append(Token("SELECTOR", m.group(0), i))
            i = end
        elif c == '"':
            j, out = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    out.append(text[j + 1])
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            if j >= n:
                raise FilterPatternError(i, "unterminated quoted string")
            tokens.append(Token("STRING", "".join(out), i))
            i = j + 1
        elif c == "%":
            j = text.find("%", i + 1)
            if j < 0:
                raise FilterPatternError(i, "unterminated %regex% value")
            tokens.append(Token("REGEX", text[i + 1:j], i))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in _BARE_END and not text.startswith(("&&", "||"), j):
                j += 1
            tokens.append(Token("WORD", text[i:j], i))
            i = j
    tokens.append(Token("END", "", n))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.regexes = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self, kind: str, what: str) -> Token:
        tok = self.tok
        if tok.kind != kind:
            found = "the end of the pattern" if tok.kind == "END" else repr(tok.text)
            raise FilterPatternError(tok.position, f"expected {what}, found {found}")
        self.i += 1
        return tok

    def pattern(self) -> Node:
        self.take("{", "'{' (only the JSON form of filter patterns is supported)")
        node = self.expr()
        self.take("}", "'}' or an operator (&&, ||)")
        self.take("END", "nothing after the closing '}'")
        return node

    def expr(self) -> Node:
        items = [self.conjunction()]
        while self.tok.kind == "||":
            self.i += 1
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Node:
        items = [self.primary()]
        while self.tok.kind == "&&":
            self.i += 1
            items.append(self.primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def primary(self) -> Node:
        if self.tok.kind == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise FilterPatternError(self.tok.position, f"parentheses nested deeper than {MAX_NESTING}")
            self.i += 1
            node = self.expr()
            self.take(")", "')' or an operator (&&, ||)")
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        sel_tok = self.take("SELECTOR", "a selector such as $.eventName or '('")
        selector = Selector(tuple(
            int(idx) if idx else name
            for name, idx in _SELECTOR_PART_RE.findall(sel_tok.text[1:])
        ))
        tok = self.tok
        if tok.kind == "WORD" and tok.text in _KEYWORDS:
            return self.keyword_test(selector)
        if tok.kind != "OP":
            found = "the end of the pattern" if tok.kind == "END" else repr(tok.text)
            raise FilterPatternError(
                tok.position, f"expected an operator (= != < > <= >=, IS, NOT EXISTS) after "
                f"{sel_tok.text}, found {found}")
        self.i += 1
        return Comparison(selector, tok.text, self.value(tok.text))

    def keyword_test(self, selector: Selector) -> Node:
        tok = self.tok
        self.i += 1
        if tok.text == "IS":
            nxt = self.tok
            if nxt.kind == "WORD" and nxt.text in ("NULL", "TRUE", "FALSE"):
                self.i += 1
                return Predicate(selector, f"IS {nxt.text}")
            if nxt.kind == "WORD" and nxt.text == "NOT":
                raise FilterPatternError(nxt.position, "IS NOT is not supported; use != or NOT EXISTS")
            raise FilterPatternError(nxt.position, "expected NULL, TRUE or FALSE after IS")
        if tok.text == "NOT":
            nxt = self.tok
            if nxt.kind == "WORD" and nxt.text == "EXISTS":
                self.i += 1
                return Predicate(selector, "NOT EXISTS")
            raise FilterPatternError(nxt.position, "expected EXISTS after NOT")
        if tok.text == "EXISTS":
            raise FilterPatternError(
                tok.position, "EXISTS is not supported; use NOT EXISTS, or compare the value")
        raise FilterPatternError(tok.position, f"unexpected keyword {tok.text}")

    def value(self, op: str) -> Value:
        tok = self.tok
        if tok.kind == "STRING":
            self.i += 1
            if op not in ("=", "!="):
                raise FilterPatternError(tok.position, f"{op} needs a number, not a string")
            return StringValue(tok.text)
        if tok.kind == "REGEX":
            self.i += 1
            return self.regex_value(tok, op)
        if tok.kind == "WORD":
            self.i += 1
            if NUMBER_RE.match(tok.text):
                return NumberValue(Decimal(tok.text), tok.text)
            if op not in ("=", "!="):
                raise FilterPatternError(tok.position, f"{op} needs a number, found {tok.text!r}")
            if not _BARE_VALUE_RE.fullmatch(tok.text):
                raise FilterPatternError(tok.position, f"{tok.text!r} must be quoted: an unquoted value "
                                         "holds only letters, digits and . : / @ * + - _")
            return StringValue(tok.text)
        found = "the end of the pattern" if tok.kind == "END" else repr(tok.text)
        raise FilterPatternError(tok.position, f"expected a value after {op}, found {found}")

    def regex_value(self, tok: Token, op: str) -> RegexValue:
        if op not in ("=", "!="):
            raise FilterPatternError(tok.position, f"{op} cannot take a %regex% value")
        self.regexes += 1
        if self.regexes > MAX_REGEXES:
            raise FilterPatternError(tok.position, f"at most {MAX_REGEXES} %regex% values per pattern")
        if not tok.text:
            raise FilterPatternError(tok.position, "empty %regex% value")
        bad = sorted(set(tok.text) - _REGEX_ALLOWED)
        if bad:
            raise FilterPatternError(tok.position, f"character(s) {' '.join(repr(c) for c in bad)} not allowed "
                                     "in a %regex% (parentheses, '!', spaces and multibyte characters are not)")
        try:
            re.compile(tok.text)
        except re.error as error:
            raise FilterPatternError(tok.position, f"invalid regex: {error}") from None
        return RegexValue(tok.text)


def parse(text: str) -> Node:
    """Parse a JSON filter pattern; raise FilterPatternError naming the position and the problem."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise FilterPatternError(MAX_PATTERN_LENGTH, f"pattern is {len(text)} characters; the limit is {MAX_PATTERN_LENGTH}")
    return _Parser(text).pattern()


# ---------------------------------------------------------------------------------------- matching

_MISSING = object()
MISSING = _MISSING
"""What a resolver returns for an absent value."""
Matcher = Callable[[Any], bool]


def resolve(record: Any, selector: Selector) -> Any:
    """The value at ``selector`` in ``record``, or the module's _MISSING sentinel."""
    value = record
    for key in selector.path:
        if isinstance(key, int):
            if not isinstance(value, list) or key >= len(value):
                return _MISSING
            value = value[key]
        else:
            if not isinstance(value, dict) or key not in value:
                return _MISSING
            value = value[key]
    return value


def make_resolver(selector: Selector) -> Callable[[Any], Any]:
    """A function returning the value at ``selector`` (or _MISSING); one dictionary lookup for
    the common one-property selector."""
    path = selector.path
    if len(path) == 1 and isinstance(path[0], str):
        key = path[0]
        return lambda record: record.get(key, _MISSING) if isinstance(record, dict) else _MISSING
    return lambda record: resolve(record, selector)


def _endswith(suffix: str, s: str) -> bool:
    return s.endswith(suffix)


def _startswith(prefix: str, s: str) -> bool:
    return s.startswith(prefix)


def _contains(middle: str, s: str) -> bool:
    return middle in s


def glob_matcher(glob: str) -> Callable[[str], bool]:
    """A function telling whether a whole string matches ``glob`` (``*`` = any characters)."""
    parts = glob.split("*")
    if len(parts) == 1:
        return glob.__eq__
    if len(parts) == 2 and not parts[0]:
        return partial(_endswith, parts[1])
    if len(parts) == 2 and not parts[1]:
        return partial(_startswith, parts[0])
    if len(parts) == 3 and not parts[0] and not parts[2]:
        return partial(_contains, parts[1])
    regex = re.compile(".*".join(re.escape(p) for p in parts), re.DOTALL)
    return lambda s: regex.fullmatch(s) is not None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


_NUMERIC_OPS: dict[str, Callable[[Any, Decimal], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


Resolvers = Callable[[Selector], Callable[[Any], Any]]


def _compile_comparison(node: Comparison, resolver: Resolvers = make_resolver) -> Matcher:
    get, value = resolver(node.selector), node.value
    negate = node.op == "!="
    if isinstance(value, NumberValue):
        op, number = _NUMERIC_OPS[node.op], value.number

        def numeric(record: Any) -> bool:
            v = get(record)
            if isinstance(v, float):  # a double read from JSON text: compare the text it came from
                if v != v or v in (float("inf"), float("-inf")):  # NaN, Infinity: no number to compare
                    return negate
                v = Decimal(repr(v))
            return _is_number(v) and op(v, number)
        return numeric
    if isinstance(value, StringValue) and value.text == "*" and node.op == "=":
        # "any value": AWS's example { $.latency = * } matches a number too (not an object or array).
        def any_value(record: Any) -> bool:
            v = get(record)
            return isinstance(v, str) or _is_number(v)
        return any_value
    if isinstance(value, RegexValue):
        regex = re.compile(value.regex)
        string_test: Callable[[str], bool] = lambda s: regex.search(s) is not None  # noqa: E731
    else:
        string_test = glob_matcher(value.text)

    def string(record: Any) -> bool:
        v = get(record)
        return isinstance(v, str) and string_test(v) != negate
    return string


def _compile_predicate(node: Predicate, resolver: Resolvers = make_resolver) -> Matcher:
    get = resolver(node.selector)
    if node.test == "NOT EXISTS":
        return lambda record: get(record) is _MISSING
    expected = {"IS NULL": None, "IS TRUE": True, "IS FALSE": False}[node.test]
    return lambda record: get(record) is expected


def _compile_string_alternatives(node: Or, resolver: Resolvers = make_resolver) -> Matcher | None:
    """``$.f = "a" || $.f = "b*" || ...`` as one lookup of ``$.f``, a set test for the exact
    values and the globs for the rest; None when the alternatives are not all of that form."""
    items = node.items
    if not all(isinstance(i, Comparison) and i.op == "=" and isinstance(i.value, StringValue)
               and i.value.text != "*"  # "any value" matches numbers too: compiled on its own
               and i.selector == items[0].selector for i in items):  # type: ignore[union-attr]
        return None
    exact = frozenset(i.value.text for i in items if not i.value.has_wildcard)  # type: ignore[union-attr]
    globs = tuple(glob_matcher(i.value.text) for i in items if i.value.has_wildcard)  # type: ignore[union-attr]
    get = resolver(items[0].selector)  # type: ignore[union-attr]

    def any_of(record: Any) -> bool:
        v = get(record)
        if not isinstance(v, str):
            return False
        if v in exact:
            return True
        for matches_glob in globs:
            if matches_glob(v):
                return True
        return False
    return any_of


def compile_node(node: Node, resolver: Resolvers = make_resolver) -> Matcher:
    """Turn a syntax tree into a function of a parsed JSON record. ``resolver`` gives, for a
    selector, the function that reads its value from a record (or _MISSING): by default from
    dicts and lists, as json gives them; a caller with records of its own shape passes its own."""
    if isinstance(node, Comparison):
        return _compile_comparison(node, resolver)
    if isinstance(node, Predicate):
        return _compile_predicate(node, resolver)
    if isinstance(node, Or):
        alternatives = _compile_string_alternatives(node, resolver)
        if alternatives is not None:
            return alternatives
    parts = tuple(compile_node(i, resolver) for i in node.items)
    # Plain loops: a generator inside all()/any() costs more than the comparisons themselves.
    if isinstance(node, And):
        def conjunction(record: Any) -> bool:
            for part in parts:
                if not part(record):
                    return False
            return True
        return conjunction

    def disjunction(record: Any) -> bool:
        for part in parts:
            if part(record):
                return True
        return False
    return disjunction


@dataclass(frozen=True)
class FilterPattern:
    """A parsed, compiled filter pattern. Build with :func:`compile_pattern`."""

    text: str
    tree: Node
    matches: Matcher
    """True when the parsed JSON record (a dict) matches."""

    def matches_message(self, message: str) -> bool:
        """True when a log event's message, as CloudWatch Logs stores it, matches."""
        try:
            record = json.loads(message, parse_float=Decimal)  # a long decimal stays exact
        except ValueError:
            return False
        return self.matches(record)


def compile_pattern(text: str) -> FilterPattern:
    """Parse and compile ``text`` once, for evaluation over many records."""
    tree = parse(text)
    return FilterPattern(text, tree, compile_node(tree))


def matches(pattern: str, record: Mapping[str, Any]) -> bool:
    """One-off convenience: does ``record`` match ``pattern``?"""
    return compile_pattern(pattern).matches(record)
