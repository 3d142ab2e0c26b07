"""Backtest: the corpus, written as CloudTrail writes it, replayed through the detections."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from deletion_alarms import archive, cli
from deletion_alarms import backtest as bt
from detections.catalog import DETECTIONS, detections_for_mode
from detections.patterns import compile_pattern
from tests.conftest import load_corpus

CASES = load_corpus()
RECORDS = [c.record for c in CASES]


def write_archive(folder: Path, broken: bool = True) -> Path:
    """The corpus as CloudTrail log files (gzip, Records), one JSON-lines export with CloudWatch
    Logs timestamps with a line that is not JSON, and (``broken``) a corrupt file, in nested
    folders. A file it cannot read makes the command exit 1: its tests of other things leave it out."""
    (folder / "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/28").mkdir(parents=True)
    half = len(RECORDS) // 2
    day = folder / "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/28"
    for i, chunk in enumerate((RECORDS[:10], RECORDS[10:half])):
        with gzip.open(day / f"111122223333_CloudTrail_us-east-1_2026112814{i:02}Z_x.json.gz", "wt") as f:
            json.dump({"Records": chunk}, f)
    lines = [f"2026-11-28T14:03:27.000Z {json.dumps(r)}" for r in RECORDS[half:]] + ["not json at all"]
    (folder / "export.jsonl").write_text("\n".join(lines) + "\n")
    if broken:
        (folder / "broken.json.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated")
    return folder


def expected_counts(mode: str = "AccessAndDeletion", engine: str = "EventBridge") -> dict[str, int]:
    chosen = {d.name for d in detections_for_mode(mode, recovery=engine != "CloudWatchLogs")}
    counts = Counter(name for c in CASES for name in c.expect if name in chosen)
    return {name: counts.get(name, 0) for name in chosen}


@pytest.mark.parametrize(("data", "records", "failures"), [
    (b'{"Records": [{"eventName": "A"}, {"eventName": "B"}]}', 2, 0),
    (gzip.compress(b'{"Records": [{"eventName": "A"}, 7]}'), 1, 1),
    (b'{"eventName": "A"}\n{"eventName": "B"}\n', 2, 0),
    (b'2026-11-28T14:03:27.000Z {"eventName": "A"}\n\ngarbage\n', 1, 1),
    (b'{"eventName": "A"}', 1, 0),
])
def test_parse_records_reads_every_format(data: bytes, records: int, failures: int) -> None:
    got, bad = bt.parse_records(data)
    assert (len(got), bad) == (records, failures)


# Content larger than many of inflate's pieces, not very compressible.
BIG = b"".join(b"%08d," % (i * 7919 % 100003) for i in range(60_000))
GOOD = gzip.compress(BIG)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1:]


# inflate sizes its first call by the last member's trailer: right for one member, too small or
# too large for the first of several.
@pytest.mark.parametrize("data", [
    GOOD, GOOD + gzip.compress(b"second member"), gzip.compress(b"first") + GOOD, GOOD + gzip.compress(b""),
    gzip.compress(b""), b'{"Records": []}', GOOD + bytes(10), GOOD + bytes(3) + gzip.compress(b"second member"),
], ids=["one-member", "small-last-member", "large-last-member", "empty-last-member", "empty", "not-gzip",
        "zero-padding", "zeros-between-members"])
def test_inflate_reads_what_gzip_reads(data: bytes) -> None:
    assert len(BIG) > 4 * bt.INFLATE_PIECE
    expected = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    assert bt.inflate(data) == expected


@pytest.mark.parametrize(("data", "message"), [
    (GOOD[:-3], "truncated"),
    (GOOD[: len(GOOD) // 2], "truncated"),
    (_flip(GOOD, len(GOOD) - 6), "corrupt"),  # the CRC-32 in the trailer
    (_flip(GOOD, len(GOOD) - 2), "corrupt"),  # the size in the trailer
    (GOOD + b"garbage after the member", "corrupt"),
], ids=["trailer-cut", "half", "crc", "size", "trailing-garbage"])
def test_inflate_refuses_what_gzip_refuses(data: bytes, message: str) -> None:
    with pytest.raises((OSError, EOFError)):
        gzip.decompress(data)
    with pytest.raises(OSError, match=message):
        bt.inflate(data)


def test_matcher_dispatch_agrees_with_every_pattern() -> None:
    matcher = bt.Matcher.build(DETECTIONS)
    odd_names = [{**r, "eventName": v} for r in RECORDS[:40] for v in (5, None, ["ScheduleKeyDeletion"], "Other")]
    for record in RECORDS + odd_names + [{"eventSource": 5}, {}, {"eventSource": "kms.amazonaws.com"}]:
        plain = [d.name for d in DETECTIONS if compile_pattern(d.filter_pattern).matches(record)]
        assert sorted(matcher.matches(record)) == sorted(plain)


@pytest.mark.parametrize(("pattern", "names"), [
    ('{ $.eventName = "A" }', {"A"}),
    ('{ $.eventName = "A" || $.eventName = "B" }', {"A", "B"}),
    ('{ ($.eventName = "A" || $.eventName = "B") && $.eventName = "B" }', {"B"}),
    ('{ $.eventName = "A*" }', None),  # a wildcard admits names nobody can list
    ('{ $.eventName != "A" }', None),
    ('{ $.eventName = "A" || $.errorCode = "X" }', None),  # the other branch admits any name
    ('{ $.errorMessage = "*pending*" }', None),
    ('{ $.eventName = "A" && $.errorCode = "X" }', {"A"}),
])
def test_required_names(pattern, names) -> None:
    from detections.patterns import parse

    assert bt.required_names(parse(pattern)) == (None if names is None else frozenset(names))


@pytest.mark.parametrize("workers", [1, 2])
def test_counts_match_the_labels(tmp_path: Path, workers: int) -> None:
    report = bt.run(bt.local_files([str(write_archive(tmp_path))]), bt.Options(), workers=workers)
    assert report.files == 4 and report.records == len(RECORDS)
    assert report.parse_failures == 1 and len(report.failed_files) == 1 and "broken.json.gz" in report.failed_files[0]
    assert {n: s.matches for n, s in report.detections.items()} == expected_counts()


@pytest.mark.parametrize(("mode", "engine"), [("AccessOnly", "CloudWatchLogs"), ("DeletionOnly", "Both")])
def test_mode_and_engine_select_detections(tmp_path: Path, mode: str, engine: str) -> None:
    report = bt.run(bt.local_files([str(write_archive(tmp_path))]), bt.Options(mode, engine), workers=1)
    assert {n: s.matches for n, s in report.detections.items()} == expected_counts(mode, engine)


def test_report_details(tmp_path: Path) -> None:
    folder = tmp_path / "a"
    folder.mkdir()
    records = [dict(r, eventTime=t) for r, t in zip(
        [c.record for c in CASES if c.cls == "kms-schedulekeydeletion-success"] * 3,
        ["2026-11-01T10:00:05Z", "2026-11-01T10:00:55Z", "2026-11-02T08:30:00Z"], strict=True)]
    (folder / "x.json").write_text(json.dumps({"Records": records}))
    report = bt.run(bt.local_files([str(folder)]), bt.Options(), workers=1)
    stats = report.detections["KmsKeyDisableOrDeletion"]
    assert stats.matches == 3 and len(stats.periods) == 2  # two in one minute, one the next day
    assert (stats.first, stats.last) == ("2026-11-01T10:00:05Z", "2026-11-02T08:30:00Z")
    assert stats.principals.most_common(1) == [("arn:aws:iam::111122223333:user/Alice", 3)]
    assert stats.resources.most_common(1)[0][0].startswith("arn:aws:kms:us-east-1:111122223333:key/")
    hourly = bt.run(bt.local_files([str(folder)]), bt.Options(period_seconds=86400), workers=1)
    assert len(hourly.detections["KmsKeyDisableOrDeletion"].periods) == 2
    window = bt.run(bt.local_files([str(folder)]), bt.Options(start="2026-11-02T00:00:00Z"), workers=1)
    assert window.detections["KmsKeyDisableOrDeletion"].matches == 1 and window.outside_window == 2


def test_cli_text_and_json(tmp_path: Path, capsys) -> None:
    folder = write_archive(tmp_path, broken=False)
    assert cli.main(["backtest", str(folder), "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert f"3 files, {len(RECORDS)} records, 1 unparsable" in text
    assert f"KmsKeyPendingDeletionUse: {expected_counts()['KmsKeyPendingDeletionUse']} matches" in text
    assert cli.main(["backtest", str(folder), "--format", "json", "--workers", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {n: d["matches"] for n, d in data["detections"].items()} == expected_counts()


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert cli.main(["backtest", str(tmp_path / "missing")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    assert cli.main(["backtest"]) == cli.EXIT_USAGE
    assert "needs at least one SOURCE" in capsys.readouterr().err


def test_s3_archive_is_read_object_by_object(aws, tmp_path: Path, capsys) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="org-trail-111122223333")
    folder = write_archive(tmp_path, broken=False)
    for path in bt.local_files([str(folder)]):
        s3.put_object(Bucket="org-trail-111122223333", Key="AWSLogs/" + Path(path).name, Body=Path(path).read_bytes())
    s3.put_object(Bucket="org-trail-111122223333", Key="other/ignored.json.gz", Body=b"{}")
    args = aws.cli("backtest", "s3://org-trail-111122223333/AWSLogs/", "--format", "json", "--workers", "2")
    assert cli.main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == 3 and data["records"] == len(RECORDS)
    assert {n: d["matches"] for n, d in data["detections"].items()} == expected_counts()


def test_an_archived_s3_object_is_named_and_the_rest_is_read(aws, tmp_path: Path, capsys) -> None:
    """An object in a Glacier class cannot be read until restored (GetObject: InvalidObjectState):
    that object fails, the others are reported, and the run exits 1."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="org-trail-111122223333")
    folder = write_archive(tmp_path, broken=False)
    paths = list(bt.local_files([str(folder)]))
    for i, path in enumerate(paths):
        s3.put_object(Bucket="org-trail-111122223333", Key=f"AWSLogs/{i}-" + Path(path).name,
                      Body=Path(path).read_bytes(), StorageClass="GLACIER" if i == 0 else "STANDARD")
    args = aws.cli("backtest", "s3://org-trail-111122223333/AWSLogs/", "--format", "json", "--workers", "1")
    assert cli.main(args) == cli.EXIT_FAILED
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["files"] == len(paths) and data["failed_files"] == [
        f"s3://org-trail-111122223333/AWSLogs/0-{Path(paths[0]).name}: InvalidObjectState: "
        f"{archive.OBJECT_ERRORS['InvalidObjectState']}"]
    assert 0 < data["records"] < len(RECORDS)
    assert "1 of 3 files could not be read" in captured.err


@pytest.mark.parametrize(("source", "says"), [
    ("s3://org-trail-111122223333/AWSLogs/o-abc123/111122223333/CloudTrial/",
     "s3://org-trail-111122223333/AWSLogs/o-abc123/111122223333/ holds CloudTrail/, CloudTrail-Digest/, "
     "CloudTrail-Insight/ (did you mean s3://org-trail-111122223333/AWSLogs/o-abc123/111122223333/CloudTrail/?)"),
    ("s3://org-trail-111122223333/AWSLog/", "s3://org-trail-111122223333/ holds AWSLogs/ (did you mean "
                                            "s3://org-trail-111122223333/AWSLogs/?)"),
    ("s3://org-trail-111122223333/nothing/at/all/", "s3://org-trail-111122223333/nothing/at/ holds no folder"),
])
def test_a_mistyped_s3_prefix_names_the_folders_there(aws, capsys, source, says) -> None:
    trail_archive(aws.client("s3"))
    assert cli.main(aws.cli("backtest", source, "--start", "2026-11-01", "--end", "2026-11-03")) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"nothing under {source}" in err and says in err, err


TRAIL_BUCKET = "org-trail-111122223333"


def trail_archive(s3) -> list[str]:
    """An organization trail's keys: two accounts, two Regions, a log file a day (delivered at
    noon) from Nov 1 to 6, digest and Insights files beside them, and a file of another name at
    the top."""
    s3.create_bucket(Bucket=TRAIL_BUCKET)
    keys = ["AWSLogs/o-abc123/notes.json"]
    for account in ("111122223333", "444455556666"):
        for region in ("us-east-1", "eu-west-1"):
            for day in range(1, 7):
                delivered = datetime(2026, 11, day, 12, 0)
                keys.append(log_name(delivered, f"AWSLogs/o-abc123/{account}/CloudTrail/{region}/").replace(
                    "111122223333_CloudTrail_us-east-1", f"{account}_CloudTrail_{region}"))
                keys.append(f"AWSLogs/o-abc123/{account}/CloudTrail-Digest/{region}/{delivered:%Y/%m/%d}/"
                            f"{account}_CloudTrail-Digest_{region}_trail_{region}_{delivered:%Y%m%dT%H%M%S}Z.json.gz")
                keys.append(f"AWSLogs/o-abc123/{account}/CloudTrail-Insight/{region}/{delivered:%Y/%m/%d}/"
                            f"{account}_CloudTrail-Insight_{region}_{delivered:%Y%m%dT%H%M}Z_Mu0KsOhtH1ar15ZZ.json.gz")
    for key in keys:
        s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=b"{}")
    return keys


@pytest.mark.parametrize("prefix", [
    "", "AWSLogs/", "AWSLogs/o-abc123/", "AWSLogs/o-abc123/4444",
    "AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/",  # a Region folder
    "AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/",  # below one: listed whole
])
@pytest.mark.parametrize(("start", "end", "late_days"), [
    ("2026-11-03", "2026-11-04", 1), ("2026-11-03", None, 0), (None, "2026-11-02T12:30:00Z", 0),
])
def test_a_window_lists_only_the_day_folders_it_needs(aws, prefix, start, end, late_days) -> None:
    """Walking the trail's folders with a window reads the same log files as listing everything and
    keeping those whose names may hold the window (digests are skipped either way; Insights events
    match nothing), without listing day folders two days or more outside it, or the digest and
    Insights folders."""
    from deletion_alarms.archive import s3_objects

    trail_archive(aws.client("s3"))
    options = bt.Options(start=start, end=end, late_days=late_days)
    url = f"s3://{TRAIL_BUCKET}/{prefix}"
    walked = [o.key for o in s3_objects(url, endpoint_url=aws.endpoint, days=options.delivery_days())]
    everything = [o.key for o in s3_objects(url, endpoint_url=aws.endpoint)]
    assert len(walked) == len(set(walked))
    read = lambda keys: {k for k in keys if options.may_hold_window(k) and not bt.is_digest(k)  # noqa: E731
                         and "/CloudTrail-Insight/" not in k}
    assert read(walked) == read(everything) and read(walked)
    if "/2026/" not in prefix:
        # Two days or more before the start's day, or after the end's day plus the late days.
        first = datetime.fromisoformat(start[:10]) - timedelta(days=2) if start else None
        last = datetime.fromisoformat(end[:10]) + timedelta(days=late_days + 2) if end else None
        far = [f"2026/11/{d:02d}/" for d in range(1, 7)
               if (first and datetime(2026, 11, d) <= first) or (last and datetime(2026, 11, d) >= last)]
        assert far and not [k for k in walked if any(d in k for d in far)], far
        assert not [k for k in walked if "CloudTrail-Digest" in k or "CloudTrail-Insight" in k]


def test_the_object_errors_are_getobjects_own() -> None:
    """Every error GetObject's model names is classified as the object's (the run goes on);
    a new one fails here until it is."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("s3").operation_model("GetObject")
    assert set(archive.OBJECT_ERRORS) == {shape.name for shape in model.error_shapes}


class FakeStream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_progress_only_on_a_terminal() -> None:
    quiet = FakeStream(False)
    progress = bt.Progress(4, quiet)
    progress(bt.Report({}, files=3, records=12_000), 2.0)
    progress.close()
    assert quiet.text == ""
    stream = FakeStream(True)
    progress = bt.Progress(4, stream)
    progress(bt.Report({}, files=3, records=12_000), 2.0)
    progress.close()
    last = stream.text.split("\r")[-1]
    assert "75%" in last and "3/4" in last and "12,000 records" in last  # total, percentage, ETA's basis


APP_ROLE = "arn:aws:sts::111122223333:assumed-role/app-role/*"


def test_expected_deleters_are_skipped_and_counted(tmp_path: Path, capsys) -> None:
    """The noise the ExpectedDeleterArns parameter would remove, before deploying: the deletion
    detections skip the app role's calls (counted apart); the use detections keep them."""
    folder = write_archive(tmp_path, broken=False)
    report = bt.run(bt.local_files([str(folder)]), bt.Options(expected_deleters=(APP_ROLE,)), workers=1)
    app = {c.cls for c in CASES if (c.record.get("userIdentity") or {}).get("arn", "").startswith(
        "arn:aws:sts::111122223333:assumed-role/app-role/")}
    for name, total in expected_counts().items():
        skipped = sum(1 for c in CASES if name in c.expect and c.cls in app)
        stats = report.detections[name]
        if name in ("KmsKeyDisableOrDeletion", "SecretDeletion"):
            assert (stats.matches, stats.excluded) == (total - skipped, skipped) and skipped > 0
        else:
            assert (stats.matches, stats.excluded) == (total, 0)
    assert cli.main(["backtest", str(folder), "--workers", "1", "--expected-deleter", APP_ROLE]) == 0
    assert "made by expected deleters, skipped" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--expected-deleter", "app-role"], "--expected-deleter"),
    (["--expected-deleter", APP_ROLE, "--engine", "Both"], "EventBridge engine only"),
])
def test_expected_deleter_errors_are_one_line(tmp_path: Path, capsys, args, message) -> None:
    assert cli.main(["backtest", str(tmp_path), *args]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_digest_files_and_other_json_are_skipped_and_counted(tmp_path: Path, capsys) -> None:
    """An AWSLogs tree holds CloudTrail-Digest files (log file validation) and may hold other JSON:
    neither is a record nor a failure."""
    folder = write_archive(tmp_path, broken=False)
    digest = folder / "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/28"
    digest.mkdir(parents=True)
    with gzip.open(digest / "111122223333_CloudTrail-Digest_us-east-1_x_20261128T150000Z.json.gz", "wt") as f:
        json.dump({"awsAccountId": "111122223333", "digestStartTime": "2026-11-28T14:00:00Z",
                   "digestPublicKeyFingerprint": "0123", "logFiles": [{"s3Object": "x", "hashValue": "y"}]}, f)
    (folder / "config.json").write_text(json.dumps({"trail": "org-trail", "version": 2}))
    report = bt.run(bt.local_files([str(folder)]), bt.Options(), workers=1)
    assert (report.files, report.skipped_files, report.records) == (3, 2, len(RECORDS))
    assert {n: s.matches for n, s in report.detections.items()} == expected_counts()
    assert cli.main(["backtest", str(folder), "--workers", "1"]) == 0
    assert "2 files without records skipped" in capsys.readouterr().out


# ------------------------------------------------ the fast path selects what the general path selects
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

INTERESTING = ["kms.amazonaws.com", "secretsmanager.amazonaws.com", "ScheduleKeyDeletion", "DisableKey",
               "DeleteSecret", "RestoreSecret", "CancelKeyDeletion", "Decrypt", "KMSInvalidStateException",
               "arn:aws:kms:us-east-1:111122223333:key/k is pending deletion.",
               "You can't perform this operation on the secret because it was marked for deletion.",
               "2026-11-28T14:03:27Z", "arn:aws:sts::111122223333:assumed-role/app-role/s", ""]
scalars = st.one_of(st.sampled_from(INTERESTING), st.text(max_size=8), st.integers(), st.floats(allow_nan=False),
                    st.none(), st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.sampled_from(["arn", "ARN", "keyId", "type"]),
                                                                      inner, max_size=3)), max_leaves=6)
KEYS = ["eventSource", "eventName", "errorCode", "errorMessage", "eventTime", "userIdentity", "resources",
        "requestParameters", "responseElements", "recipientAccountId", "awsRegion"]
records = st.dictionaries(st.sampled_from(KEYS), values, max_size=len(KEYS))


def scan(file_records: list, fast: bool, **options) -> bt.Report:
    opts = bt.Options(**options)
    decoder = bt.FastDecoder(opts.detections()) if fast else None
    data = json.dumps({"Records": file_records}).encode()
    return bt.scan_bytes("f.json", data, opts, bt.Matcher.build(opts.detections()), decoder)


def matched(report: bt.Report) -> dict[str, int]:
    return {n: s.matches for n, s in report.detections.items()}


def test_the_fast_path_reads_cloudtrail_files() -> None:
    """Not vacuous: the corpus as one log file goes through the fast decoder."""
    opts = bt.Options()
    assert bt.FastDecoder(opts.detections()).records(json.dumps({"Records": RECORDS}).encode()) is not None


@pytest.mark.parametrize("options", [{}, {"mode": "AccessOnly"}, {"expected_deleters": (APP_ROLE,)},
                                     {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}])
def test_fast_and_general_paths_agree_on_the_corpus(options) -> None:
    assert scan(RECORDS, True, **options).to_dict() == scan(RECORDS, False, **options).to_dict()
    for record in RECORDS:  # record by record
        assert matched(scan([record], True, **options)) == matched(scan([record], False, **options))


@settings(max_examples=300, deadline=None)
@given(st.lists(records, min_size=1, max_size=5))
def test_fast_and_general_paths_agree_on_generated_records(generated) -> None:
    """Numbers where strings are usual, null, arrays, objects, missing parents."""
    assert scan(generated, True).to_dict() == scan(generated, False).to_dict()


def test_a_file_the_fast_decoder_cannot_read_goes_the_general_way() -> None:
    mixed = [RECORDS[0], 7]  # a record that is not an object
    opts = bt.Options()
    assert bt.FastDecoder(opts.detections()).records(json.dumps({"Records": mixed}).encode()) is None
    report = scan(mixed, True)
    assert (report.records, report.parse_failures) == (1, 1)
    assert report.to_dict() == scan(mixed, False).to_dict()


def test_text_from_records_cannot_drive_the_terminal() -> None:
    from deletion_alarms.backtest import clean

    assert clean("arn:aws:iam::111122223333:user/\x1b[2J\x1b]0;owned\x07alice") == (
        "arn:aws:iam::111122223333:user/\\x1b[2J\\x1b]0;owned\\x07alice")
    assert clean("plain text") == "plain text"


def test_the_report_shows_escape_sequences_from_records_as_text(tmp_path, capsys) -> None:
    import copy
    import json as _json

    from deletion_alarms import cli
    from tests.conftest import load_corpus

    record = copy.deepcopy(next(s.record for s in load_corpus() if s.expect == {"KmsKeyDisableOrDeletion"}))
    record["userIdentity"]["arn"] = "arn:aws:iam::111122223333:user/\x1b[2Jmallory"
    (tmp_path / "events.jsonl").write_text(_json.dumps(record) + "\n")
    assert cli.main(["backtest", str(tmp_path), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "user/\\x1b[2Jmallory" in out and "\x1b" not in out


# ------------------------------------------------------------------ files delivered outside the window
def log_name(delivered: datetime, prefix: str = "AWSLogs/111122223333/CloudTrail/us-east-1/") -> str:
    """A log file's name as CloudTrail writes it (user guide, "CloudTrail log file name format")."""
    return (f"{prefix}{delivered:%Y/%m/%d}/111122223333_CloudTrail_us-east-1_"
            f"{delivered:%Y%m%dT%H%M}Z_Mu0KsOhtH1ar15ZZ.json.gz")


@pytest.mark.parametrize(("name", "expected"), [
    (log_name(datetime(2026, 11, 28, 14, 5)), datetime(2026, 11, 28, 14, 5, tzinfo=timezone.utc)),
    ("s3://org-trail-111122223333/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/28/"
     "111122223333_CloudTrail_eu-west-1_20261128T0000Z_abcdefghijklmnop.json.gz",
     datetime(2026, 11, 28, tzinfo=timezone.utc)),
    ("C:\\logs\\111122223333_CloudTrail_us-east-1_20261128T1405Z_Mu0KsOhtH1ar15ZZ.json.gz",
     datetime(2026, 11, 28, 14, 5, tzinfo=timezone.utc)),
    ("111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20261128T1405Z.json.gz", None),
    ("111122223333_CloudTrail_us-east-1_20261399T9999Z_Mu0KsOhtH1ar15ZZ.json.gz", None),  # no date
    ("111122223333_CloudTrail_us-east-1_20261128T1405Z_Mu0KsOhtH1ar15ZZ.json.gz/renamed.json", None),
    ("export.jsonl", None),
])
def test_delivery_time_from_the_name(name: str, expected: datetime | None) -> None:
    assert bt.delivery_time(name) == expected


@pytest.mark.parametrize(("delivered", "start", "end", "late_days", "read"), [
    # a file holds records written before its delivery minute ends
    ((2026, 11, 28, 14, 5), "2026-11-28T14:05:30Z", None, 1, True),
    ((2026, 11, 28, 14, 4), "2026-11-28T14:05:30Z", None, 1, False),
    ((2026, 11, 28, 14, 4), "2026-11-28T14:05:00Z", None, 1, False),
    ((2026, 11, 28, 14, 5), "2026-11-28T14:05:00Z", None, 1, True),
    # late records: files delivered up to late_days after the end
    ((2026, 11, 29, 23, 59), None, "2026-11-29T00:00:00Z", 1, True),
    ((2026, 11, 30, 0, 0), None, "2026-11-29T00:00:00Z", 1, False),
    ((2026, 11, 28, 23, 59), None, "2026-11-29T00:00:00Z", 0, True),
    ((2026, 11, 29, 0, 0), None, "2026-11-29T00:00:00Z", 0, False),
    ((2026, 1, 1, 0, 0), None, None, 0, True),  # no window: every file
])
def test_may_hold_window(delivered, start, end, late_days, read) -> None:
    options = bt.Options(start=start, end=end, late_days=late_days)
    assert options.may_hold_window(log_name(datetime(*delivered))) is read
    assert options.may_hold_window("export.jsonl")  # a name without a delivery time: always read


@settings(max_examples=300, deadline=None)
@given(start=st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31)),
       length=st.timedeltas(timedelta(seconds=1), timedelta(days=40)), at=st.floats(0, 1, exclude_max=True),
       late_days=st.integers(0, 3), share=st.floats(0, 1))
def test_a_file_with_a_record_of_the_window_is_read(start, length, at, late_days, share) -> None:
    """Whatever the window: a file holding a record of the window, delivered after the record was
    written and at most late_days after it, is read (the CloudTrail docs' promise, plus the
    delivery delay the option allows)."""
    start = start.replace(microsecond=0)
    seconds = max(int(length.total_seconds()), 1)
    end = start + timedelta(seconds=seconds)
    event = start + timedelta(seconds=min(int(seconds * at), seconds - 1))
    assert start <= event < end
    delivered = event + timedelta(days=late_days) * share
    options = bt.Options(start=f"{start:%Y-%m-%dT%H:%M:%S}Z", end=f"{end:%Y-%m-%dT%H:%M:%S}Z", late_days=late_days)
    assert options.may_hold_window(log_name(delivered))


def test_files_delivered_outside_the_window_are_not_read_and_counted(tmp_path: Path, capsys) -> None:
    record = next(c.record for c in CASES if c.expect == {"KmsKeyDisableOrDeletion"})
    days = [datetime(2026, 11, d, 12, 0) for d in (1, 2, 3, 4, 5)]
    for day in days:
        path = tmp_path / log_name(day)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(json.dumps(
            {"Records": [dict(record, eventTime=f"{day - timedelta(minutes=3):%Y-%m-%dT%H:%M:%S}Z")]}).encode()))
    (tmp_path / "unnamed.json").write_text(json.dumps({"Records": [dict(record, eventTime="2026-11-03T00:00:00Z")]}))
    args = ["backtest", str(tmp_path), "--workers", "1", "--start", "2026-11-02", "--end", "2026-11-04"]
    assert cli.main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # read: Nov 2, 3 (window), 4 (one late day) and the unnamed file; not read: Nov 1 and 5
    assert (data["files"], data["files_outside_window"], data["records"], data["outside_window"]) == (4, 2, 4, 1)
    assert data["detections"]["KmsKeyDisableOrDeletion"]["matches"] == 3
    assert cli.main([*args, "--late-days", "0"]) == 0
    assert "3 files delivered outside the window not read" in capsys.readouterr().out


def test_local_and_s3_backtests_of_the_same_files_say_the_same_or_why_not(aws, tmp_path: Path, capsys) -> None:
    """The same trail folders, local and in S3, with a window: the same records are read; the local
    scan counts every file outside the window, the S3 scan never lists far day folders and says so."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=TRAIL_BUCKET)
    body = gzip.compress(json.dumps({"Records": RECORDS}).encode())
    for day in (3, 4, 20, 25):  # 20 and 25: far outside the window
        key = log_name(datetime(2026, 11, day, 12, 0))
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(body)
        s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=body)
    window = ["--start", "2026-11-03", "--end", "2026-11-05", "--format", "json", "--workers", "1"]
    assert cli.main(["backtest", str(tmp_path / "AWSLogs"), *window]) == 0
    local = json.loads(capsys.readouterr().out)
    assert cli.main(aws.cli("backtest", f"s3://{TRAIL_BUCKET}/AWSLogs/", *window)) == 0
    remote = json.loads(capsys.readouterr().out)
    assert local["records"] == remote["records"] and local["files"] == remote["files"] == 2
    assert local["files_outside_window"] == 2 and remote["files_outside_window"] == 0
    assert not local["folders_not_listed"] and remote["folders_not_listed"]  # the text says it:
    assert "S3 day folders outside the window not listed" in bt.Report({}, folders_not_listed=True).read_summary()
