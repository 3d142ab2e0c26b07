"""backtest --athena against botocore's Stubber: the one query's rows (computed by DuckDB from the
corpus, as Athena would return them: text cells, a header row, pages) give the same report as the
local engine reading the same records; the estimate lists only the window's partitions; a failed
query, access denied, an unconfirmed scan and Ctrl-C each end in one line (Ctrl-C stops the query)."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import boto3
import duckdb
import pytest
from botocore.stub import ANY, Stubber

from deletion_alarms import athena_backtest as ab
from deletion_alarms import backtest as bt
from detections.athena import combined_sql
from detections.errors import UserError
from tests.conftest import load_corpus
from tests.detections.test_athena import COLUMNS, athena_row
from tests.helpers import record_aws_calls

CASES = load_corpus()
START, END = "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"
TARGET = ab.AthenaTarget("cloudtrail_org", "default", "primary", "s3://athena-results-111122223333/",
                         "s3://cloudtrail-111122223333/AWSLogs/o-exampleorgid/", ("111122223333",), ("us-east-1",))


def client(service: str):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")


def athena_rows(options: bt.Options) -> tuple[list[str], list[list[str | None]]]:
    """What Athena returns for the one query over the corpus: DuckDB runs it on a table of the
    corpus shaped like Athena's; every cell becomes text, NULL an empty cell, booleans true/false."""
    con = duckdb.connect()
    con.execute("CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)")
    con.execute("CREATE MACRO regexp_like(s, r) AS regexp_matches(s, r)")
    con.execute("CREATE MACRO element_at(l, i) AS l[i]")
    rows = [athena_row(c.record) for c in CASES]
    con.execute("CREATE TABLE corpus (" + ", ".join(f'"{k}" {v}' for k, v in COLUMNS.items()) + ")")
    for row in rows:
        con.execute("INSERT INTO corpus SELECT * FROM (SELECT " + ", ".join(
            f"?::{v} AS {k}" for k, v in COLUMNS.items()) + ")", [row.get(k) for k in COLUMNS])
    con.execute("""CREATE VIEW cloudtrail_org AS SELECT *, '111122223333' AS account, 'us-east-1' AS region,
                   '2026/11/30' AS "timestamp" FROM corpus""")
    result = con.execute(combined_sql(options.detections(), "cloudtrail_org", START, END, TARGET.accounts, TARGET.regions))
    header = [d[0] for d in result.description]
    text = [[None if v is None else (str(v).lower() if isinstance(v, bool) else str(v)) for v in row]
            for row in result.fetchall()]
    return header, text


def result_pages(header: list[str], rows: list[list[str | None]], size: int = 7) -> list[dict]:
    """GetQueryResults pages (Athena API reference): the header row first, then the rows."""
    cells = [[{"VarCharValue": v} if v is not None else {} for v in r] for r in [header] + rows]
    pages = []
    for i in range(0, len(cells), size):
        page = {"ResultSet": {"Rows": [{"Data": r} for r in cells[i:i + size]]}}
        if i + size < len(cells):
            page["NextToken"] = f"t{i}"
        pages.append(page)
    return pages


def stub_run(athena, s3, pages, states=("RUNNING", "SUCCEEDED"), scanned=123_456_789) -> tuple[Stubber, Stubber]:
    s3_stub, stub = Stubber(s3), Stubber(athena)
    for day in ("2026/11/30", "2026/12/01"):
        s3_stub.add_response("list_objects_v2", {"Contents": [{"Key": f"k/{day}/a.json.gz", "Size": 1000}]},
                             {"Bucket": "cloudtrail-111122223333",
                              "Prefix": f"AWSLogs/o-exampleorgid/111122223333/CloudTrail/us-east-1/{day}/"})
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"}, {
        "QueryString": ANY, "QueryExecutionContext": {"Database": "default"}, "WorkGroup": "primary",
        "ResultConfiguration": {"OutputLocation": "s3://athena-results-111122223333/"}})
    for state in states:
        stub.add_response("get_query_execution", {"QueryExecution": {
            "QueryExecutionId": "q-1", "Status": {"State": state, **({"StateChangeReason": "TABLE_NOT_FOUND: "
                                                                     "Table default.cloudtrail_org does not exist"}
                                                                    if state == "FAILED" else {})},
            "Statistics": {"DataScannedInBytes": scanned}}}, {"QueryExecutionId": "q-1"})
    for i, page in enumerate(pages):
        stub.add_response("get_query_results", page, {"QueryExecutionId": "q-1", **({"NextToken": f"t{(i - 1) * 7}"} if i else {})})
    s3_stub.activate()
    stub.activate()
    return stub, s3_stub


def local_report(tmp_path, options: bt.Options) -> bt.Report:
    path = tmp_path / "corpus.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": [c.record for c in CASES]}).encode()))
    return bt.run([str(path)], options, workers=1)


@pytest.mark.parametrize("expected_deleters", [(), ("arn:aws:sts::*:assumed-role/pipeline-*/*",)])
def test_athena_gives_the_local_engines_report(tmp_path, expected_deleters) -> None:
    options = bt.Options(start="2026-11-30T00:00:00Z", end="2026-12-01T00:00:00Z", expected_deleters=expected_deleters)
    wide = bt.Options(start=START, end=END, expected_deleters=expected_deleters)
    header, rows = athena_rows(wide)
    athena, s3 = client("athena"), client("s3")
    stub, s3_stub = stub_run(athena, s3, result_pages(header, rows))
    asked = []
    report = ab.backtest(athena, s3, TARGET, options, None, lambda q: asked.append(q) or True, sleep=lambda s: None)
    stub.assert_no_pending_responses()
    s3_stub.assert_no_pending_responses()
    assert "about 2,000 bytes (listed)" in asked[0]
    local = local_report(tmp_path, wide)
    ours, theirs = bt.format_report(report, options).splitlines(), bt.format_report(local, wide).splitlines()
    assert ours[0].startswith("Athena scanned 123,456,789 bytes")
    assert ours[1:] == theirs[1:]
    assert sum(s.matches for s in report.detections.values()) > 0
    if expected_deleters:
        assert any(s.excluded for s in report.detections.values()) == any(s.excluded for s in local.detections.values())


def test_the_one_query_names_the_window_partitions_accounts_and_regions() -> None:
    options = bt.Options(start="2026-11-30T00:00:00Z", end="2026-12-01T00:00:00Z")
    athena, s3 = client("athena"), client("s3")
    stub, _ = stub_run(athena, s3, result_pages(["c0"], []))
    sent = []
    athena.meta.events.register("before-parameter-build.athena.StartQueryExecution",
                                lambda params, **kw: sent.append(params["QueryString"]))
    ab.backtest(athena, s3, TARGET, options, None, lambda q: True, sleep=lambda s: None)
    (sql,) = sent
    assert "\"timestamp\" BETWEEN '2026/11/30' AND '2026/12/01'" in sql
    assert "account IN ('111122223333')" in sql and "region IN ('us-east-1')" in sql
    assert sql.count("FROM cloudtrail_org") == 1  # one scan


def test_a_failed_query_is_one_line_with_athenas_reason() -> None:
    options = bt.Options(start="2026-11-30T00:00:00Z", end="2026-12-01T00:00:00Z")
    athena, s3 = client("athena"), client("s3")
    stub_run(athena, s3, [], states=("QUEUED", "FAILED"))
    with pytest.raises(UserError, match="q-1 .backtest. failed: TABLE_NOT_FOUND"):
        ab.backtest(athena, s3, TARGET, options, None, lambda q: True, sleep=lambda s: None)


def test_access_denied_is_one_line() -> None:
    options = bt.Options(start="2026-11-30T00:00:00Z", end="2026-12-01T00:00:00Z")
    athena, s3 = client("athena"), client("s3")
    s3_stub = Stubber(s3)
    for _ in range(2):
        s3_stub.add_response("list_objects_v2", {}, None)
    s3_stub.activate()
    stub = Stubber(athena)
    stub.add_client_error("start_query_execution", "AccessDeniedException", "not authorized to StartQueryExecution")
    stub.activate()
    with pytest.raises(UserError, match="starting the Athena query .backtest.: access denied"):
        ab.backtest(athena, s3, TARGET, options, None, lambda q: True, sleep=lambda s: None)


def test_an_unconfirmed_scan_runs_nothing() -> None:
    options = bt.Options(start="2026-11-30T00:00:00Z", end="2026-12-01T00:00:00Z")
    athena, s3 = client("athena"), client("s3")
    stub, _ = stub_run(athena, s3, [], states=())
    with pytest.raises(UserError, match="not confirmed"):
        ab.backtest(athena, s3, TARGET, options, None, lambda q: False, sleep=lambda s: None)
    with pytest.raises(AssertionError):
        stub.assert_no_pending_responses()  # the start is still waiting: never called


def test_ctrl_c_stops_the_query() -> None:
    options = bt.Options(start="2026-11-30T00:00:00Z", end="2026-12-01T00:00:00Z")
    athena, s3 = client("athena"), client("s3")
    stub, _ = stub_run(athena, s3, [], states=("RUNNING",))
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ab.backtest(athena, s3, TARGET, options, None, lambda q: True, sleep=interrupted)
    stub.assert_no_pending_responses()  # StopQueryExecution was called


def test_a_window_is_needed() -> None:
    with pytest.raises(UserError, match="--start and --end"):
        ab.backtest(client("athena"), client("s3"), TARGET, bt.Options(), None, lambda q: True)


def test_creating_the_table_runs_its_ddl_first() -> None:
    options = bt.Options(start="2026-11-30T00:00:00Z", end="2026-12-01T00:00:00Z")
    athena, s3 = client("athena"), client("s3")
    sent = []
    athena.meta.events.register("before-parameter-build.athena.StartQueryExecution",
                                lambda params, **kw: sent.append(params["QueryString"]))
    stub = Stubber(athena)
    stub.add_response("start_query_execution", {"QueryExecutionId": "ddl"}, None)
    stub.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}, None)
    stub.add_response("get_query_results", {"ResultSet": {"Rows": []}}, None)
    stub.add_client_error("start_query_execution", "InvalidRequestException", "WorkGroup primary is disabled")
    stub.activate()
    s3_stub = Stubber(s3)
    for _ in range(2):
        s3_stub.add_response("list_objects_v2", {}, None)
    s3_stub.activate()
    with pytest.raises(UserError, match="InvalidRequestException: WorkGroup primary is disabled"):
        ab.backtest(athena, s3, TARGET, options, ab.PROJECTION_START, lambda q: True, sleep=lambda s: None)
    assert sent[0].startswith("CREATE EXTERNAL TABLE IF NOT EXISTS cloudtrail_org")
    assert "'2013/11/01,NOW'" in sent[0]


def test_the_permissions_it_needs_are_the_calls_it_makes(monkeypatch) -> None:
    options = bt.Options(start="2026-11-30T00:00:00Z", end="2026-12-01T00:00:00Z")
    athena, s3 = client("athena"), client("s3")
    stub_run(athena, s3, result_pages(["c0"], []))
    called = record_aws_calls(monkeypatch)
    ab.backtest(athena, s3, TARGET, options, None, lambda q: True, sleep=lambda s: None)
    iam = {"s3:ListObjectsV2": "s3:ListBucket"}  # the IAM action of the S3 call
    assert {iam.get(c, c) for c in called} | {"athena:StopQueryExecution"} == set(ab.CALLS)
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    own = readme[readme.index("- Permissions: `athena:"):readme.index("for Athena\n  itself")]
    assert set(re.findall(r"`([a-z0-9]+:[A-Za-z]+)`", own)) == set(ab.CALLS)


@pytest.mark.parametrize(("first", "last", "count"), [("2026/11/30", "2026/12/01", 2), ("2026/12/31", "2027/01/01", 2),
                                                      ("2028/02/28", "2028/03/01", 3)])
def test_days(first, last, count) -> None:
    got = ab.days(first, last)
    assert len(got) == count and got[0] == first and got[-1] == last
    assert all(datetime.strptime(d, "%Y/%m/%d") for d in got)


def test_a_query_cancelled_elsewhere_ends_the_run_in_one_line() -> None:
    """Someone stops the query in the console: Athena reports CANCELLED, which must end the wait."""
    options = bt.Options(start="2026-11-30T00:00:00Z", end="2026-12-01T00:00:00Z")
    athena, s3 = client("athena"), client("s3")
    stub, _ = stub_run(athena, s3, [], states=("RUNNING", "CANCELLED"))
    with pytest.raises(UserError, match="q-1 .backtest. cancelled: no reason given"):
        ab.backtest(athena, s3, TARGET, options, None, lambda q: True, sleep=lambda s: None)
    stub.assert_no_pending_responses()


def test_the_estimate_over_more_partitions_than_listed_is_scaled_to_all_of_them() -> None:
    """Fewer partitions listed than the window holds: the estimate is the total, not the sample."""
    s3 = client("s3")
    stub = Stubber(s3)
    stub.add_response("list_objects_v2", {"Contents": [{"Key": "k", "Size": 1000}]}, None)
    stub.add_response("list_objects_v2", {"Contents": [{"Key": "k", "Size": 3000}]}, None)
    stub.activate()
    estimate, listed, partitions = ab.estimate_bytes(s3, TARGET, "2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z",
                                                     limit=2)
    assert listed == 2 and partitions >= 10  # the window's ten days at least
    assert estimate == round((1000 + 3000) / 2 * partitions)  # the mean listed partition, times all of them
