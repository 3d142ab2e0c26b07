"""SQL for Amazon Athena that finds the records a detection matches, in the standard CloudTrail table
(the one the CloudTrail console or the Athena documentation creates, columns in lower case), so
that terabytes of history can be backtested where they are.

Generated from the same filter patterns. Field mapping: top-level string fields are columns
(``$.eventSource`` -> ``eventsource``); ``$.userIdentity.*`` is a struct; ``$.resources[0].ARN`` an
array of structs (1-based in SQL); ``$.requestParameters``, ``$.responseElements``,
``$.additionalEventData`` and ``$.serviceEventDetails`` are JSON strings read with
``json_extract_scalar``. SQL cannot tell a JSON null from an absent field: ``IS NULL`` and
``NOT EXISTS`` both become ``IS NULL``. A missing value makes a comparison NULL, and each
comparison is wrapped in ``COALESCE(..., FALSE)``, which keeps the filter pattern's rule that a
comparison on an absent field does not match. ``json_extract_scalar`` renders JSON numbers and
booleans as text, so a string comparison on such a field inside the JSON columns matches in SQL
where the filter pattern does not (the detections compare only string fields).
"""

from __future__ import annotations

from detections.catalog import Detection
from detections.patterns import And, Node, NumberValue, Or, Predicate, RegexValue, Selector, parse

JSON_COLUMNS = {"requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"}
STRUCT_COLUMNS = {"userIdentity", "tlsDetails"}
ARRAY_COLUMNS = {"resources"}


class SqlTranslationError(ValueError):
    """The pattern uses a selector the CloudTrail table cannot address."""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def column(selector: Selector) -> str:
    """The SQL expression for a selector in the CloudTrail table."""
    head, *rest = selector.path
    if not isinstance(head, str):
        raise SqlTranslationError(f"{selector}: the record is an object, not an array")
    if head in JSON_COLUMNS:
        path = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in rest)
        return f"json_extract_scalar({head.lower()}, {_quote(path)})" if rest else head.lower()
    expression = head.lower()
    for key in rest:
        if isinstance(key, int):
            if head not in ARRAY_COLUMNS:
                raise SqlTranslationError(f"{selector}: {head} is not an array column")
            expression += f"[{key + 1}]"
        else:
            if head not in STRUCT_COLUMNS | ARRAY_COLUMNS:
                raise SqlTranslationError(f"{selector}: {head} is a string column, it has no fields")
            expression += f".{key.lower()}"
    return expression


def _like(glob: str) -> str:
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
    return f"LIKE {_quote(escaped)} ESCAPE '\\'"


def condition(node: Node) -> str:
    """A SQL boolean expression equivalent to the filter pattern tree."""
    if isinstance(node, (And, Or)):
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(condition(i) for i in node.items) + ")"
    col = column(node.selector)
    if isinstance(node, Predicate):
        if node.test in ("IS NULL", "NOT EXISTS"):
            return f"({col} IS NULL)"
        return f"COALESCE(CAST({col} AS VARCHAR) = {_quote(node.test.split()[1].lower())}, FALSE)"
    value = node.value
    if isinstance(value, NumberValue):
        op = "<>" if node.op == "!=" else node.op
        return f"COALESCE(TRY_CAST({col} AS DOUBLE) {op} {float(value.number)!r}, FALSE)"
    if isinstance(value, RegexValue):
        test = f"regexp_like({col}, {_quote(value.regex)})"
    elif value.has_wildcard:
        test = f"{col} {_like(value.text)}"
    else:
        test = f"{col} = {_quote(value.text)}"
    return f"COALESCE({'NOT ' if node.op == '!=' else ''}({test}), FALSE)"


def detection_sql(detection: Detection, table: str = "cloudtrail_logs", start: str | None = None,
                  end: str | None = None) -> str:
    """A query listing the records of ``table`` that ``detection`` matches."""
    where = [condition(parse(detection.filter_pattern))]
    if start:
        where.append(f"eventtime >= {_quote(start)}")
    if end:
        where.append(f"eventtime < {_quote(end)}")
    return (
        f"-- {detection.name}: {detection.title}\n"
        "SELECT eventid, eventtime, recipientaccountid, awsregion, eventsource, eventname, errorcode,\n"
        "       errormessage, coalesce(useridentity.arn, useridentity.invokedby) AS principal\n"
        f"FROM {table}\n"
        f"WHERE {' AND '.join(where)}\n"
        "ORDER BY eventtime;"
    )
