"""Athena SQL from the filter patterns, run on DuckDB over the corpus loaded into a table shaped like
Athena's CloudTrail table, returns exactly the records the offline engine matches."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from detections.athena import SqlTranslationError, column, condition, detection_sql
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
    assert column(Selector(("resources", 0, "ARN"))) == "resources[1].arn"
