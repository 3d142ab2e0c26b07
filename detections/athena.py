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

import re
from datetime import datetime, timedelta

from detections.catalog import Detection
from detections.errors import UsageError
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
            # element_at, not [i]: Trino fails the whole query on an index past the end of an
            # array (a record without resources); element_at gives NULL.
            expression = f"element_at({expression}, {key + 1})"
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


# ------------------------------------------------------------------ one scan for every detection
# The columns the report reads of a matched record (deletion_alarms/backtest.py DetectionStats and
# the exclusions), as (SQL expression, record path).
RESULT_COLUMNS = (
    ("eventid", ("eventID",)), ("eventtime", ("eventTime",)), ("eventsource", ("eventSource",)),
    ("eventname", ("eventName",)), ("errorcode", ("errorCode",)), ("errormessage", ("errorMessage",)),
    ("recipientaccountid", ("recipientAccountId",)), ("awsregion", ("awsRegion",)),
    ("useridentity.type", ("userIdentity", "type")), ("useridentity.arn", ("userIdentity", "arn")),
    ("useridentity.invokedby", ("userIdentity", "invokedBy")),
    ("element_at(resources, 1).arn", ("resources", 0, "ARN")),
    ("requestparameters", ("requestParameters",)),
)
PARTITION_DAY = "%Y/%m/%d"  # CloudTrail's S3 layout: .../CloudTrail/<region>/YYYY/MM/DD/
# CloudTrail names a log file by the time it delivers it, and "a log file delivered at a specific
# time can contain records written at any point before that time" (CloudTrail user guide, log file
# name format): by default the scan reads one day past the window; eventtime keeps the window exact.
LATE_DELIVERY_DAYS = 1


def flag(index: int) -> str:
    return f"m{index}"


def partition_days(start: str, end: str, late_days: int = LATE_DELIVERY_DAYS) -> tuple[str, str]:
    """The first and last daily partition (YYYY/MM/DD) that hold records of [start, end) delivered
    at most ``late_days`` days after the window."""
    first = datetime.fromisoformat(start.replace("Z", ""))
    last = datetime.fromisoformat(end.replace("Z", "")) - timedelta(seconds=1) + timedelta(days=late_days)
    return first.strftime(PARTITION_DAY), last.strftime(PARTITION_DAY)


def combined_sql(detections: tuple[Detection, ...], table: str, start: str, end: str,
                 accounts: tuple[str, ...] = (), regions: tuple[str, ...] = (),
                 late_days: int = LATE_DELIVERY_DAYS) -> str:
    """ONE query for every detection over the table of :func:`table_ddl`: restricted to the
    window's daily partitions (and the accounts and Regions given) so that Athena reads only
    those, each row flagged with the detections it matches (``m0``, ``m1``... in the order of
    ``detections``). ``start`` and ``end`` are eventTime strings ("2026-11-01T00:00:00Z")."""
    first, last = partition_days(start, end, late_days)
    where = [f'"timestamp" BETWEEN {_quote(first)} AND {_quote(last)}',
             f"eventtime >= {_quote(start)}", f"eventtime < {_quote(end)}"]
    if accounts:
        where.append(f"account IN ({', '.join(_quote(a) for a in accounts)})")
    if regions:
        where.append(f"region IN ({', '.join(_quote(r) for r in regions)})")
    columns = ",\n       ".join(f"{expression} AS c{i}" for i, (expression, _) in enumerate(RESULT_COLUMNS))
    flags = ",\n       ".join(f"{condition(parse(d.filter_pattern))} AS {flag(i)}" for i, d in enumerate(detections))
    legend = ", ".join(f"{flag(i)} {d.name}" for i, d in enumerate(detections))
    return (
        f"-- deletion-alarms backtest: {len(detections)} detections in one scan ({legend})\n"
        "SELECT * FROM (\n"
        f"SELECT {columns},\n       {flags}\n"
        f"FROM {table}\n"
        f"WHERE {chr(10).join(('  AND ' if i else '') + w for i, w in enumerate(where))}\n"
        ")\n"
        f"WHERE {' OR '.join(flag(i) for i in range(len(detections)))}\n"
        "ORDER BY c1"
    )


def record_of(values: list[str | None]) -> dict:
    """A result row of :func:`combined_sql` (its RESULT_COLUMNS, as text) back as the CloudTrail
    record fields the report reads."""
    import json

    record: dict = {}
    for (_, path), value in zip(RESULT_COLUMNS, values):
        if value is None:
            continue
        if path == ("requestParameters",):
            try:
                record["requestParameters"] = json.loads(value)
            except ValueError:
                continue
        elif path[0] == "resources":
            record["resources"] = [{"ARN": value}]
        elif len(path) == 2:
            record.setdefault(path[0], {})[path[1]] = value
        else:
            record[path[0]] = value
    return record


# ------------------------------------------------------------------ the table, with partition projection
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ORGANIZATION = re.compile(r"^o-[a-z0-9]{10,32}$")
ACCOUNT = re.compile(r"^[0-9]{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
TABLE_COLUMNS = """    eventversion STRING,
    useridentity STRUCT<type: STRING, principalid: STRING, arn: STRING, accountid: STRING,
                        invokedby: STRING, accesskeyid: STRING, username: STRING>,
    eventtime STRING,
    eventsource STRING,
    eventname STRING,
    awsregion STRING,
    sourceipaddress STRING,
    useragent STRING,
    errorcode STRING,
    errormessage STRING,
    requestparameters STRING,
    responseelements STRING,
    additionaleventdata STRING,
    requestid STRING,
    eventid STRING,
    readonly STRING,
    resources ARRAY<STRUCT<arn: STRING, accountid: STRING, type: STRING>>,
    eventtype STRING,
    apiversion STRING,
    recipientaccountid STRING,
    serviceeventdetails STRING,
    sharedeventid STRING,
    vpcendpointid STRING,
    eventcategory STRING"""


def check_scope(accounts: tuple[str, ...], regions: tuple[str, ...]) -> None:
    """--accounts are 12-digit account IDs and --regions Region names, at least one of each."""
    bad_accounts = [a for a in accounts if not ACCOUNT.match(a)]
    bad_regions = [r for r in regions if not REGION.match(r)]
    if bad_accounts or not accounts:
        raise UsageError(f"--accounts needs 12-digit account IDs, comma-separated; not: {', '.join(bad_accounts) or 'none given'}")
    if bad_regions or not regions:
        raise UsageError(f"--regions needs Region names such as us-east-1, comma-separated; not: "
                        f"{', '.join(bad_regions) or 'none given'}")


def trail_prefix(bucket: str, prefix: str = "", organization_id: str = "") -> str:
    """s3://bucket/[prefix/]AWSLogs/[o-id/]: where CloudTrail writes a trail's (or an organization
    trail's) logs, one folder per account below."""
    if not BUCKET.match(bucket):
        raise UsageError(f"--trail-bucket {bucket!r} is not an S3 bucket name")
    if organization_id and not ORGANIZATION.match(organization_id):
        raise UsageError(f"--organization-id {organization_id!r} is not an organization ID (o-exampleorgid)")
    parts = [bucket, prefix.strip("/"), "AWSLogs", organization_id]
    return "s3://" + "/".join(p for p in parts if p) + "/"


def table_ddl(table: str, location: str, accounts: tuple[str, ...], regions: tuple[str, ...], first_day: str) -> str:
    """CREATE EXTERNAL TABLE for CloudTrail logs at ``location`` (trail_prefix), the table of the
    Athena user guide ("Create the table for CloudTrail logs in Athena using partition
    projection"), with two more projected partitions, ``account`` and ``region`` (enums), so that
    one table covers an organization trail and a query reads only the accounts, Regions and days
    it names. ``first_day`` (YYYY/MM/DD) starts the projected range."""
    if not TABLE.match(table):
        raise UsageError(f"--athena-table {table!r}: use lower-case letters, digits and underscores")
    check_scope(accounts, regions)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {table} (\n{TABLE_COLUMNS}\n)\n"
        "PARTITIONED BY (account STRING, region STRING, `timestamp` STRING)\n"
        "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\n"
        "STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION {_quote(location)}\n"
        "TBLPROPERTIES (\n"
        "  'projection.enabled'='true',\n"
        f"  'projection.account.type'='enum', 'projection.account.values'={_quote(','.join(accounts))},\n"
        f"  'projection.region.type'='enum', 'projection.region.values'={_quote(','.join(regions))},\n"
        "  'projection.timestamp.type'='date', 'projection.timestamp.format'='yyyy/MM/dd',\n"
        f"  'projection.timestamp.range'={_quote(first_day + ',NOW')},\n"
        "  'projection.timestamp.interval'='1', 'projection.timestamp.interval.unit'='DAYS',\n"
        f"  'storage.location.template'={_quote(location + '${account}/CloudTrail/${region}/${timestamp}')}\n"
        ")"
    )
