"""Athena SQL from the filter patterns, run on DuckDB over the corpus loaded into a table shaped like
Athena's CloudTrail table, returns exactly the records the offline engine matches."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from detections.athena import (SqlTranslationError, column, combined_sql, condition, detection_sql, flag,
                               partition_days, record_of, table_ddl, trail_prefix)
from detections.errors import UserError
from detections.catalog import DETECTIONS
from detections.patterns import Selector, compile_pattern, parse
from tests.conftest import load_corpus

CASES = load_corpus()
COLUMNS = {  # the standard CloudTrail table of the Athena documentation, as DuckDB types
    "eventversion": "VARCHAR",
    "useridentity": "STRUCT(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, "
                    "invokedby VARCHAR, accesskeyid VARCHAR, username VARCHAR)",
    "eventtime": "VARCHAR", "eventsource": "VARCHAR", "eventname": "VARCHAR", "awsregion": "VARCHAR",
    "sourceipaddress": "VARCHAR", "useragent": "VARCHAR", "errorcode": "VARCHAR", "errormessage": "VARCHAR",
    "requestparameters": "VARCHAR", "responseelements": "VARCHAR", "additionaleventdata": "VARCHAR",
    "requestid": "VARCHAR", "eventid": "VARCHAR", "readonly": "VARCHAR",
    "resources": "STRUCT(arn VARCHAR, accountid VARCHAR, type VARCHAR)[]",
    "eventtype": "VARCHAR", "recipientaccountid": "VARCHAR", "serviceeventdetails": "VARCHAR",
}


def athena_row(record: dict) -> dict:
    """How Athena's CloudTrail SerDe presents a record: lower-case columns, JSON strings."""
    row = {}
    for key, value in record.items():
        name = key.lower()
        if name not in COLUMNS:
            continue
        if name in ("requestparameters", "responseelements", "additionaleventdata", "serviceeventdetails"):
            row[name] = None if value is None else json.dumps(value)
        elif name == "useridentity":
            row[name] = {k.lower(): v for k, v in value.items() if not isinstance(v, dict)}
        elif name == "resources":
            row[name] = [{k.lower(): v for k, v in r.items()} for r in value]
        else:
            row[name] = value if isinstance(value, str) or value is None else json.dumps(value)
    return row


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = Path(tmp_path_factory.mktemp("athena")) / "records.jsonl"
    path.write_text("\n".join(json.dumps(athena_row(c.record)) for c in CASES) + "\n")
    con = duckdb.connect()
    # Athena (Trino) function names, on DuckDB
    con.execute("CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)")
    con.execute("CREATE MACRO regexp_like(s, r) AS regexp_matches(s, r)")
    con.execute("CREATE MACRO element_at(l, i) AS l[i]")  # Trino's: NULL past the end
    columns = ", ".join(f"{k!r}: {v!r}" for k, v in COLUMNS.items())
    con.execute(f"CREATE TABLE cloudtrail_logs AS SELECT * FROM read_json('{path}', columns={{{columns}}})")
    yield con
    con.close()


@pytest.mark.parametrize("detection", DETECTIONS, ids=[d.name for d in DETECTIONS])
def test_sql_returns_what_the_engine_matches(db, detection) -> None:
    rows = db.execute(detection_sql(detection)).fetchall()
    got = {r[0] for r in rows}
    pattern = compile_pattern(detection.filter_pattern)
    assert got == {c.record["eventID"] for c in CASES if pattern.matches(c.record)}
    assert got  # every detection has positive records in the corpus


@pytest.mark.parametrize("filter_pattern", [
    '{ $.requestParameters.pendingWindowInDays < 30 }',
    '{ $.requestParameters.secretId = "prod/*" }',
    '{ $.userIdentity.type = "AssumedRole" && $.errorCode NOT EXISTS }',
    '{ $.resources[0].ARN = "arn:aws:kms:*:key/mrk-*" }',
    '{ $.eventName != "Decrypt" && $.eventSource = "kms.amazonaws.com" }',
    '{ $.errorMessage = %pending.[a-z.]*deletion% }',  # regexes admit no space or parentheses
    '{ $.userIdentity.invokedBy = "*.amazonaws.com" || $.sourceIPAddress = "198.51.100.*" }',
])
def test_other_constructs_agree_on_the_corpus(db, filter_pattern: str) -> None:
    sql = f"SELECT eventid FROM cloudtrail_logs WHERE {condition(parse(filter_pattern))}"
    got = {r[0] for r in db.execute(sql).fetchall()}
    pattern = compile_pattern(filter_pattern)
    expected = {c.record["eventID"] for c in CASES if pattern.matches(c.record)}
    assert got == expected


def test_time_window_and_table_name() -> None:
    sql = detection_sql(DETECTIONS[0], "org_trail", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert "FROM org_trail" in sql and "eventtime >= '2026-11-01T00:00:00Z'" in sql
    assert "eventtime < '2026-12-01T00:00:00Z'" in sql


def test_selectors_the_table_cannot_address() -> None:
    with pytest.raises(SqlTranslationError):
        column(Selector(("eventName", "x")))
    with pytest.raises(SqlTranslationError):
        column(Selector(("userIdentity", 0)))
    assert column(Selector(("requestParameters", "keyId"))) == "json_extract_scalar(requestparameters, '$.keyId')"
    assert column(Selector(("resources", 0, "ARN"))) == "element_at(resources, 1).arn"



# ------------------------------------------------------------------ one scan, partitions
WINDOW = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")


def partitioned(con, path: Path, rows_by_day: dict[str, list[dict]], corrupt: set[str] = frozenset()) -> str:
    """A view over hive-partitioned files (account=/region=/timestamp=YYYY-MM-DD), the layout a
    projected table reads; the days in ``corrupt`` hold a file that is not JSON: a query that
    reads them fails."""
    for day, rows in rows_by_day.items():
        folder = path / "account=111122223333" / "region=us-east-1" / f"timestamp={day.replace('/', '-')}"
        folder.mkdir(parents=True)
        text = "\n".join(json.dumps(r) for r in rows) + "\n" if day not in corrupt else "{not json\n"
        (folder / "part.jsonl").write_text(text)
    columns = ", ".join(f"{k!r}: {v!r}" for k, v in COLUMNS.items())
    con.execute(f"""CREATE OR REPLACE VIEW parts AS SELECT * REPLACE (replace(CAST("timestamp" AS VARCHAR), '-', '/')
                    AS "timestamp") FROM read_json('{path}/*/*/*/*.jsonl', columns={{{columns}}},
                    hive_partitioning=true, hive_types={{'account': VARCHAR, 'region': VARCHAR, 'timestamp': VARCHAR}})""")
    return "parts"


def test_one_query_flags_exactly_what_the_six_queries_find(db) -> None:
    """Record for record: the single query's flags equal each detection's own query."""
    con = db
    con.execute("CREATE OR REPLACE VIEW one AS SELECT *, '111122223333' AS account, 'us-east-1' AS region, "
                "'2026/11/30' AS \"timestamp\" FROM cloudtrail_logs")
    rows = con.execute(combined_sql(DETECTIONS, "one", *WINDOW)).fetchall()
    width = len(rows[0]) - len(DETECTIONS)
    flagged = {d.name: {r[0] for r in rows if r[width + i]} for i, d in enumerate(DETECTIONS)}
    for detection in DETECTIONS:
        alone = {r[0] for r in con.execute(detection_sql(detection)).fetchall()}
        assert flagged[detection.name] == alone, detection.name
    union = set().union(*flagged.values())
    assert {r[0] for r in rows} == union  # and nothing else comes back
    assert all(any(r[width:]) for r in rows)


def test_the_rows_carry_what_the_report_reads(db) -> None:
    con = db
    con.execute("CREATE OR REPLACE VIEW one AS SELECT *, '111122223333' AS account, 'us-east-1' AS region, "
                "'2026/11/30' AS \"timestamp\" FROM cloudtrail_logs")
    rows = con.execute(combined_sql(DETECTIONS, "one", *WINDOW)).fetchall()
    by_id = {c.record["eventID"]: c.record for c in CASES}
    width = len(rows[0]) - len(DETECTIONS)
    for row in rows:
        record = record_of([None if v is None else str(v) for v in row[:width]])
        original = by_id[record["eventID"]]
        for key in ("eventTime", "eventName", "errorMessage", "recipientAccountId", "awsRegion"):
            assert record.get(key) == original.get(key)
        assert record.get("userIdentity", {}).get("arn") == (original.get("userIdentity") or {}).get("arn")
        assert record.get("requestParameters") == (original.get("requestParameters") or None)


def test_a_one_day_window_reads_only_that_days_partitions(tmp_path) -> None:
    """The other days' files are not JSON: reading any of them would fail the query. The day after
    the window is read too: CloudTrail files a record under the day it delivers it."""
    con = duckdb.connect()
    con.execute("CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)")
    con.execute("CREATE MACRO regexp_like(s, r) AS regexp_matches(s, r)")
    con.execute("CREATE MACRO element_at(l, i) AS l[i]")
    use = next(c.record for c in CASES if c.expect == {"KmsKeyPendingDeletionUse"})
    inside = {**use, "eventTime": "2026-11-30T23:59:00Z", "eventID": "inside"}
    late = {**use, "eventTime": "2026-11-30T23:58:00Z", "eventID": "delivered-after-midnight"}
    after = {**use, "eventTime": "2026-12-01T00:01:00Z", "eventID": "after-the-window"}
    days = {"2026/11/28": [], "2026/11/29": [], "2026/11/30": [athena_row(inside)],
            "2026/12/01": [athena_row(late), athena_row(after)], "2026/12/02": []}
    table = partitioned(con, tmp_path, days, corrupt={"2026/11/28", "2026/11/29", "2026/12/02"})
    sql = combined_sql(DETECTIONS, table, "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z")
    assert {r[0] for r in con.execute(sql).fetchall()} == {"inside", "delivered-after-midnight"}
    # Mutation: without the partition predicate the scan reaches the corrupt days and fails.
    with pytest.raises(duckdb.Error):
        con.execute(sql.replace('"timestamp" BETWEEN', "'x' NOT BETWEEN")).fetchall()
    # With no late days (--late-days 0), the window's own day only: the next day is not JSON either.
    table = partitioned(con, tmp_path / "strict", {"2026/11/29": [], "2026/11/30": [athena_row(inside)],
                                                   "2026/12/01": []}, corrupt={"2026/11/29", "2026/12/01"})
    only = combined_sql(DETECTIONS, table, "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", late_days=0)
    assert "BETWEEN '2026/11/30' AND '2026/11/30'" in only
    assert {r[0] for r in con.execute(only).fetchall()} == {"inside"}


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", ("2026/11/30", "2026/12/01")),
    ("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z", ("2026/11/30", "2026/12/01")),
    ("2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z", ("2026/12/31", "2027/01/01")),
    ("2026-11-01T00:00:00Z", "2026-12-01T00:00:01Z", ("2026/11/01", "2026/12/02")),
])
def test_partition_days_of_a_window(start, end, expected) -> None:
    assert partition_days(start, end) == expected


def test_the_table_follows_cloudtrails_s3_layout() -> None:
    location = trail_prefix("amzn-s3-demo-bucket", "trails", "o-exampleorgid")
    assert location == "s3://amzn-s3-demo-bucket/trails/AWSLogs/o-exampleorgid/"
    ddl = table_ddl("cloudtrail_org", location, ("111122223333", "444455556666"), ("us-east-1",), "2026/01/01")
    assert ("'storage.location.template'='s3://amzn-s3-demo-bucket/trails/AWSLogs/o-exampleorgid/"
            "${account}/CloudTrail/${region}/${timestamp}'") in ddl
    assert "'projection.account.values'='111122223333,444455556666'" in ddl
    assert "'projection.timestamp.format'='yyyy/MM/dd'" in ddl and "'2026/01/01,NOW'" in ddl
    assert "com.amazon.emr.cloudtrail.CloudTrailInputFormat" in ddl
    assert trail_prefix("amzn-s3-demo-bucket") == "s3://amzn-s3-demo-bucket/AWSLogs/"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: trail_prefix("Bad_Bucket"), "--trail-bucket 'Bad_Bucket' is not an S3 bucket name"),
    (lambda: trail_prefix("amzn-s3-demo-bucket", "", "org-1"), "not an organization ID"),
    (lambda: table_ddl("t", "s3://b/AWSLogs/", ("1234",), ("us-east-1",), "2026/01/01"), "--accounts .* 1234"),
    (lambda: table_ddl("t", "s3://b/AWSLogs/", ("111122223333",), ("US-East",), "2026/01/01"), "--regions .* US-East"),
    (lambda: table_ddl("t", "s3://b/AWSLogs/", ("111122223333",), (), "2026/01/01"), "--regions .* none given"),
    (lambda: table_ddl("Bad-Table", "s3://b/AWSLogs/", ("111122223333",), ("us-east-1",), "2026/01/01"), "Bad-Table"),
])
def test_bad_table_input_names_the_value(call, message) -> None:
    with pytest.raises(UserError, match=message):
        call()


def test_a_record_at_either_end_of_the_window_is_counted_as_the_local_engine_counts_it(db, tmp_path) -> None:
    """The window is [start, end): a record at exactly the start is in, one at exactly the end is
    out, one a second before the end is in; Athena's query and the local engine agree."""
    from deletion_alarms import backtest as bt

    start, end = "2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"
    base = next(c.record for c in CASES if c.expect == {"SecretDeletion"})
    times = {"at-start": start, "before-end": "2026-11-28T23:59:59Z", "at-end": end,
             "before-start": "2026-11-27T23:59:59Z"}
    records = [{**base, "eventID": name, "eventTime": at} for name, at in times.items()]
    con = db
    con.execute("CREATE OR REPLACE TABLE edges AS SELECT * FROM cloudtrail_logs LIMIT 0")
    for record in records:
        row = athena_row(record)
        con.execute("INSERT INTO edges SELECT " + ", ".join(f"?::{COLUMNS[name]}" for name in COLUMNS),
                    [row.get(name) for name in COLUMNS])
    con.execute("CREATE OR REPLACE VIEW edged AS SELECT *, '111122223333' AS account, 'us-east-1' AS region, "
                "'2026/11/28' AS \"timestamp\" FROM edges")
    athena = {r[0] for r in con.execute(combined_sql(DETECTIONS, "edged", start, end)).fetchall()}
    assert athena == {"at-start", "before-end"}
    path = tmp_path / "edges.json"
    path.write_text(json.dumps({"Records": records}))
    report = bt.run(bt.local_files([str(path)]), bt.Options(start=start, end=end), workers=1)
    assert report.detections["SecretDeletion"].matches == len(athena) and report.outside_window == 2
