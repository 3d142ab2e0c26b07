"""The backtest on Amazon Athena, where an organization's CloudTrail archive lives: one query for
every detection over a table with partition projection (detections/athena.py), the bytes it will
read estimated from S3 and confirmed first, then the same report as the local engine.

Calls, as IAM actions (README lists them; a test records them): athena:StartQueryExecution,
athena:GetQueryExecution, athena:GetQueryResults, athena:StopQueryExecution (Ctrl-C); glue:GetTable,
glue:CreateTable (the table, once) and glue:GetDatabase, through Athena; s3:ListBucket on the trail's
bucket (the estimate); s3:GetObject on it and s3:PutObject on the query results location, through
Athena.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

from deletion_alarms.awsclient import aws_errors
from deletion_alarms.backtest import DetectionStats, Options, Report
from detections import exclusions
from detections.athena import RESULT_COLUMNS, combined_sql, partition_days, record_of, table_ddl
from detections.errors import UsageError, UserError

# The calls it makes, as IAM actions (a test records them; the README lists them). Athena itself
# then needs glue:GetTable (glue:CreateTable with --create-table) and s3:GetObject on the trail's
# bucket, s3:PutObject on the results location (Athena user guide, access to the data and Glue).
CALLS = ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
         "athena:StopQueryExecution", "s3:ListBucket")
PRICE_PER_TB_USD = 5.0  # Athena SQL, per TB scanned (us-east-1 list price)
POLL_SECONDS = 1.0
ESTIMATE_PARTITIONS = 200  # daily partitions listed for the estimate at most (evenly spread)
DONE, FAILED = "SUCCEEDED", ("FAILED", "CANCELLED")
# The projected days start here (CloudTrail's launch): every query names its days, so a long range
# costs nothing (Athena user guide, partition projection).
PROJECTION_START = "2013/11/01"


@dataclass(frozen=True)
class AthenaTarget:
    """Where the query runs and what it reads."""

    table: str
    database: str
    workgroup: str
    output: str | None  # s3:// results location; None: the workgroup's
    location: str  # the trail's s3://bucket/[prefix/]AWSLogs/[o-id/]
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    late_days: int = 1  # daily partitions read past the window, for records delivered late


def days(first: str, last: str) -> list[str]:
    """Every YYYY/MM/DD from ``first`` to ``last``, both included."""
    day, end = datetime.strptime(first, "%Y/%m/%d"), datetime.strptime(last, "%Y/%m/%d")
    out = []
    while day <= end:
        out.append(day.strftime("%Y/%m/%d"))
        day += timedelta(days=1)
    return out


def estimate_bytes(s3: Any, target: AthenaTarget, start: str, end: str,
                   limit: int = ESTIMATE_PARTITIONS) -> tuple[int, int, int]:
    """Bytes the query will read: the sizes of the log files in its daily partitions (Athena reads
    each file whole), listed for up to ``limit`` partitions spread over all of them and scaled.
    Returns (bytes, partitions listed, partitions)."""
    bucket, _, key_prefix = target.location.removeprefix("s3://").partition("/")
    partitions = [(a, r, d) for a in target.accounts for r in target.regions
                  for d in days(*partition_days(start, end, target.late_days))]
    step = max(1, len(partitions) // limit)
    chosen = partitions[::step][:limit]
    total = 0
    with aws_errors(f"listing s3://{bucket}/{key_prefix}"):
        for account, region, day in chosen:
            prefix = f"{key_prefix}{account}/CloudTrail/{region}/{day}/"
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                total += sum(o.get("Size", 0) for o in page.get("Contents", []))
    return round(total * len(partitions) / max(1, len(chosen))), len(chosen), len(partitions)


def usd(scanned: int) -> float:
    return scanned / 1e12 * PRICE_PER_TB_USD


def run_query(athena: Any, sql: str, target: AthenaTarget, what: str,
              progress: Callable[[int], None] | None = None,
              sleep: Callable[[float], None] = time.sleep) -> tuple[Iterator[list[str | None]], int]:
    """Run ``sql``; wait, reporting the bytes scanned so far; return its rows (as text, header
    dropped, read page by page) and the bytes scanned. Ctrl-C stops the query, then propagates."""
    request: dict[str, Any] = {"QueryString": sql, "QueryExecutionContext": {"Database": target.database},
                               "WorkGroup": target.workgroup}
    if target.output:
        request["ResultConfiguration"] = {"OutputLocation": target.output}
    with aws_errors(f"starting the Athena query ({what})"):
        query_id = athena.start_query_execution(**request)["QueryExecutionId"]
    try:
        with aws_errors(f"Athena query {query_id} ({what})"):
            while True:
                execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
                scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
                if progress:
                    progress(scanned)
                state = execution["Status"]["State"]
                if state == DONE:
                    break
                if state in FAILED:
                    reason = execution["Status"].get("StateChangeReason", "no reason given")
                    raise UserError(f"Athena query {query_id} ({what}) {state.lower()}: {reason}")
                sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        try:
            athena.stop_query_execution(QueryExecutionId=query_id)
        except Exception:  # noqa: BLE001 - interrupted: the user is told to check it
            print(f"could not stop Athena query {query_id}: stop it in the Athena console", file=sys.stderr)
        raise

    def rows() -> Iterator[list[str | None]]:
        first = True
        with aws_errors(f"reading the results of Athena query {query_id}"):
            for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
                for row in page["ResultSet"]["Rows"][1 if first else 0:]:
                    yield [cell.get("VarCharValue") for cell in row["Data"]]
                first = False
    return rows(), scanned


def report_from_rows(rows: Iterator[list[str | None]], options: Options, scanned: int) -> Report:
    """The local engine's report, from the rows of detections/athena.py combined_sql: the same
    statistics, the same expected-deleter exclusions."""
    detections = options.detections()
    report = Report({d.name: DetectionStats() for d in detections}, scanned_bytes=scanned)
    width = len(RESULT_COLUMNS)
    skips, expected = options.skips(), exclusions.compile_patterns(options.expected_deleters)
    for values in rows:
        record = record_of(values[:width])
        report.records += 1
        for detection, matched in zip(detections, values[width:]):
            if matched != "true":
                continue
            if detection.name in skips and exclusions.is_expected(record, expected):
                report.detections[detection.name].excluded += 1
            else:
                report.detections[detection.name].add(record, options.period_seconds)
    return report


def backtest(athena: Any, s3: Any, target: AthenaTarget, options: Options, create_table: str | None,
             confirm: Callable[[str], bool], progress: Callable[[int], None] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> Report:
    """Create the table when asked (``create_table``: the first day it projects), estimate and
    confirm the scan, run the one query, and build the report."""
    if not options.start or not options.end:
        raise UsageError("--athena needs --start and --end: the window decides which partitions are read")
    if create_table:
        ddl = table_ddl(target.table, target.location, target.accounts, target.regions, create_table)
        rows, _ = run_query(athena, ddl, target, "create table", sleep=sleep)
        list(rows)
    estimate, listed, partitions = estimate_bytes(s3, target, options.start, options.end)
    how = "listed" if listed == partitions else f"estimated from {listed} of {partitions} daily partitions"
    if not confirm(f"The query reads about {estimate:,} bytes ({how}), about {usd(estimate):.2f} USD at "
                   f"{PRICE_PER_TB_USD:.0f} USD per TB. Run it?"):
        raise UserError("not run: the scan was not confirmed (pass --yes to run without asking)")
    sql = combined_sql(options.detections(), target.table, options.start, options.end,
                       target.accounts, target.regions, target.late_days)
    rows, scanned = run_query(athena, sql, target, "backtest", progress, sleep)
    return report_from_rows(rows, options, scanned)
