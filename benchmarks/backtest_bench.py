#!/usr/bin/env python3
"""Benchmark: records per second of the backtest against baselines measured in the same run, on a
generated archive of CloudTrail log files (gzip, 5,000 records each: 200 files a million):

  (a) decompressing the same files with `xargs -P N zcat` (N = workers),
  (b) decompressing them with igzip (ISA-L), N at a time, output to /dev/null: the floor of any
      reader of these files; and with the same library in N Python processes (python-isal),
      each file inflated into memory as the backtest reads it (deletion_alarms.backtest.inflate),
  (c) counting the records exactly (a JSON parse keeping no field), and reading and decoding them
      with no matching at all (same processes, same decoding),
  (d) DuckDB reading the same files and counting the same records with the Athena SQL's conditions
      (detections/athena.py), all cores,
  (e) jq selecting the same records (gzip -dc | jq, one pipeline).

    python benchmarks/backtest_bench.py [--records 1000000] [--workers N] [--repeat 3]

Each tool runs --repeat times (default 3) and its best time is kept. Prints the rates and the
backtest's time against each baseline (goal: within 2x of ISA-L). Every tool counts the same
records, or the run fails. Needs jq, gzip, zcat and xargs on the PATH, and duckdb (the test extra).
Not part of the test suite (it takes minutes); its numbers are in the README.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deletion_alarms import backtest as bt  # noqa: E402
from detections.catalog import DETECTIONS  # noqa: E402
from detections.patterns import And, Comparison, Node, Or, Predicate, StringValue, parse  # noqa: E402

PER_FILE = 5000
POSITIVE_SHARE = 0.02


def corpus() -> list[dict]:
    cases = []
    for path in sorted((ROOT / "tests" / "corpus").glob("*.json")):
        cases += json.loads(path.read_text())
    return cases


def generate(folder: Path, records: int, seed: int = 1) -> int:
    """Write the archive; return how many records match exactly one detection (the positives)."""
    rng = random.Random(seed)
    cases = corpus()
    positives = [c["record"] for c in cases if len(c["expect"]) == 1]
    negatives = [c["record"] for c in cases if not c["expect"]]
    noise = [{**negatives[0], "eventSource": s, "eventName": n, "errorCode": None, "errorMessage": None}
             for s, n in (("s3.amazonaws.com", "GetObject"), ("ec2.amazonaws.com", "DescribeInstances"),
                          ("sts.amazonaws.com", "AssumeRole"), ("kms.amazonaws.com", "Decrypt"),
                          ("secretsmanager.amazonaws.com", "GetSecretValue"), ("iam.amazonaws.com", "ListRoles"))]
    noise = [{k: v for k, v in r.items() if v is not None} for r in noise] + negatives
    matched = 0
    for start in range(0, records, PER_FILE):
        batch = []
        for i in range(start, min(start + PER_FILE, records)):
            if rng.random() < POSITIVE_SHARE:
                base, matched = rng.choice(positives), matched + 1
            else:
                base = rng.choice(noise)
            batch.append({**base, "eventID": f"{i:012d}-bench",
                          "eventTime": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}Z"})
        with gzip.open(folder / f"111122223333_CloudTrail_us-east-1_{start:09d}.json.gz", "wt", compresslevel=6) as f:
            json.dump({"Records": batch}, f)
    return matched


_DECODER: list = []


def _parse_only(path: str) -> int:
    if not _DECODER:
        _DECODER.append(bt.FastDecoder(bt.Options().detections()))
    with open(path, "rb") as f:
        data = bt.inflate(f.read())
    records = _DECODER[0].records(data)
    if records is None:
        records, _ = bt.parse_records(data)
    n = 0
    for _record in records:  # touch every record, as the backtest loop does
        n += 1
    return n


def parse_only(files: list[str], workers: int) -> int:
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(_parse_only, files, chunksize=4))


_COUNTER: list = []


def _count_only(path: str) -> int:
    if not _COUNTER:
        import msgspec
        empty = msgspec.defstruct("Empty", [])
        _COUNTER.append(msgspec.json.Decoder(msgspec.defstruct("File", [("Records", list[empty])])))
    with open(path, "rb") as f:
        return len(_COUNTER[0].decode(bt.inflate(f.read())).Records)


def count_only(files: list[str], workers: int) -> int:
    """Inflate and count the records exactly (a JSON parse that keeps no field, with msgspec): the
    floor of a reader in Python that counts what it reads."""
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(_count_only, files, chunksize=4))


def _inflate_only(path: str) -> int:
    with open(path, "rb") as f:
        return len(bt.inflate(f.read()))


def inflate_in_process(files: list[str], workers: int) -> int:
    """The backtest's own reading (deletion_alarms.backtest.inflate: python-isal) of every file, in
    ``workers`` processes: no decoding."""
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(_inflate_only, files, chunksize=4))


def igzip(files: list[str], workers: int) -> str:
    """ISA-L's igzip decompressing every file to /dev/null, workers at a time (Debian's package
    isal); without the binary, the same library in-process (python-isal), workers processes."""
    if shutil.which("igzip"):
        subprocess.run(["sh", "-c", f"xargs -0 -P {workers} -n 8 igzip -d -c > /dev/null"],
                       input="\0".join(files).encode(), check=True)
        return f"xargs -P {workers} igzip -dc"
    with ProcessPoolExecutor(workers) as pool:
        sum(pool.map(_inflate_only, files, chunksize=4))
    return f"python-isal inflate, {workers} processes (no igzip on the PATH)"


def duckdb_count(folder: Path) -> int:
    """DuckDB reading the archive (CloudTrail's Records arrays) and counting the records any
    detection matches, with the conditions of the Athena SQL."""
    import duckdb

    from detections.athena import condition

    con = duckdb.connect()
    con.execute("CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)")
    con.execute("CREATE MACRO regexp_like(s, r) AS regexp_matches(s, r)")
    con.execute("CREATE MACRO element_at(l, i) AS l[i]")
    record = ("STRUCT(eventVersion VARCHAR, userIdentity STRUCT(type VARCHAR, arn VARCHAR, invokedBy VARCHAR), "
              "eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR, errorCode VARCHAR, "
              "errorMessage VARCHAR, requestParameters JSON, responseElements JSON, additionalEventData JSON, "
              "serviceEventDetails JSON, eventID VARCHAR, eventType VARCHAR, recipientAccountId VARCHAR, "
              "resources STRUCT(ARN VARCHAR, accountId VARCHAR, type VARCHAR)[])")
    con.execute(f"""CREATE VIEW cloudtrail_logs AS SELECT unnest(Records, recursive := true) FROM
                    read_json('{folder}/*.json.gz', columns={{'Records': '{record}[]'}},
                    maximum_object_size=1000000000)""")
    where = " OR ".join(condition(parse(d.filter_pattern)) for d in bt.Options().detections())
    return con.execute(f"SELECT count(*) FROM cloudtrail_logs WHERE {where}").fetchone()[0]


def zcat(files: list[str], workers: int) -> None:
    """Decompress every file to /dev/null, workers at a time: the floor a backtest can reach."""
    subprocess.run(["sh", "-c", f"xargs -0 -P {workers} -n 8 zcat > /dev/null"],
                   input="\0".join(files).encode(), check=True)


def jq_expression(node: Node) -> str:
    """The jq test for a filter pattern (only what the detections use)."""
    if isinstance(node, (And, Or)):
        return "(" + (" and " if isinstance(node, And) else " or ").join(jq_expression(i) for i in node.items) + ")"
    path = "." + ".".join(str(k) for k in node.selector.path)
    if isinstance(node, Predicate):
        assert node.test == "NOT EXISTS"
        return f"({path} == null)"
    assert isinstance(node, Comparison) and isinstance(node.value, StringValue) and node.op == "="
    text = node.value.text
    if "*" not in text:
        return f"({path} == {json.dumps(text)})"
    import re
    regex = "^" + ".*".join(re.escape(p) for p in text.split("*")) + "$"
    return f"(({path} | type) == \"string\" and ({path} | test({json.dumps(regex)})))"


def jq_count(folder: Path) -> int:
    test = " or ".join(jq_expression(parse(d.filter_pattern)) for d in DETECTIONS)
    command = (f"find {folder} -name '*.json.gz' -print0 | sort -z | xargs -0 gzip -dc | "
               f"jq -c '.Records[] | select({test}) | .eventID' | wc -l")
    return int(subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout)


def timed(fn, *args, repeat: int = 1):
    """The best of ``repeat`` runs (as timeit reports): the least disturbed by other work on the machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool; the best time is kept")
    args = parser.parse_args()
    for tool in ("jq", "gzip", "zcat", "xargs"):
        if not shutil.which(tool):
            print(f"backtest_bench: {tool} is not on the PATH", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t_gen, positives = timed(generate, folder, args.records)
        files = sorted(str(p) for p in folder.glob("*.json.gz"))
        size = sum(os.path.getsize(f) for f in files)
        print(f"archive: {args.records:,} records in {len(files)} files, {size / 1e6:.1f} MB gzip "
              f"(generated in {t_gen:.1f} s); {positives:,} positives; {args.workers} workers")
        t_zcat, _ = timed(zcat, files, args.workers, repeat=args.repeat)
        t_isal, isal_how = timed(igzip, files, args.workers, repeat=args.repeat)
        t_inflate, _ = timed(inflate_in_process, files, args.workers, repeat=args.repeat)
        t_count, counted = timed(count_only, files, args.workers, repeat=args.repeat)
        t_parse, parsed = timed(parse_only, files, args.workers, repeat=args.repeat)
        t_bt, report = timed(bt.run, files, bt.Options(), args.workers, repeat=args.repeat)
        t_duck, duck_matched = timed(duckdb_count, folder, repeat=args.repeat)
        t_jq, jq_matched = timed(jq_count, folder, repeat=args.repeat)
    matched = sum(s.matches for s in report.detections.values())
    assert counted == parsed == report.records == args.records, (counted, parsed, report.records)
    assert matched == positives == jq_matched == duck_matched, (matched, positives, jq_matched, duck_matched)
    rate = lambda t: args.records / t  # noqa: E731
    rows = [("zcat", t_zcat, f"xargs -P {args.workers} zcat"), ("igzip", t_isal, isal_how),
            ("inflate only", t_inflate, f"python-isal, {args.workers} processes, as the backtest reads"),
            ("count only", t_count, "a JSON parse keeping no field"), ("decode only", t_parse, "no matching"),
            ("backtest", t_bt, f"{matched:,} matches"),
            ("DuckDB", t_duck, f"{duck_matched:,} records counted"), ("jq", t_jq, f"{jq_matched:,} records selected")]
    for label, seconds, note in rows:
        print(f"{label:<14}: {seconds:7.2f} s  {rate(seconds):>12,.0f} records/s  ({note})")
    print(f"backtest time / igzip time: {t_bt / t_isal:.2f} (goal: at most 2.00)")
    print(f"backtest time / zcat time: {t_bt / t_zcat:.2f}")
    print(f"counting only / igzip time: {t_count / t_isal:.2f} (the floor of a Python reader that counts exactly)")
    print(f"backtest speed-up over DuckDB: {t_duck / t_bt:.1f}x; over jq: {t_jq / t_bt:.1f}x")
    print(f"matching overhead over decoding: {(t_bt - t_parse) / t_parse:+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
