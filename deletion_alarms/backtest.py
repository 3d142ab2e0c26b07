"""Replay CloudTrail history through the detections: how often would each have fired, on what,
and triggered by whom?

Sources are CloudTrail log files as CloudTrail writes them to S3 (``.json.gz``, a ``Records``
array), JSON lines (one record per line, optionally after the timestamp CloudWatch Logs puts in
front of an exported event), or, through :mod:`deletion_alarms.archive`, ``s3://bucket/prefix``. Files are
processed in parallel across cores; each worker compiles the patterns once.

The EventBridge engine is replayed with the same filter patterns: each rule's event pattern is
generated from them and proven to select the same records (tests/test_eventpatterns.py).
"""

from __future__ import annotations

import calendar
import json
import multiprocessing
import operator
import os
import re
import signal
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator

import msgspec
from isal import igzip_lib

from deletion_alarms.words import plural
from detections import exclusions
from detections.athena import LATE_DELIVERY_DAYS
from detections.catalog import Detection, detections_for_mode
from detections.errors import UsageError
from detections.patterns import (
    MISSING,
    And,
    Comparison,
    Node,
    Or,
    Resolvers,
    Selector,
    StringValue,
    compile_node,
    make_resolver,
    parse,
    resolve,
)

TOP = 5


# ------------------------------------------------------------------------------------------ inputs
# CloudTrail's log file integrity validation writes digest files beside the logs
# (AWSLogs/<account>/CloudTrail-Digest/...): they hold no records.
DIGEST_FOLDER = "CloudTrail-Digest"
RECORD_KEYS = ("eventVersion", "eventSource", "eventName")


# CloudTrail names a log file AccountID_CloudTrail_RegionName_YYYYMMDDTHHmmZ_UniqueString.json.gz,
# with the time it delivered the file (UTC), and "a log file delivered at a specific time can contain
# records written at any point before that time" (CloudTrail user guide, log file name format).
DELIVERY_TIME = re.compile(r"_CloudTrail_[^_/\\]+_(\d{8}T\d{4})Z_[^_/\\]+\.json(?:\.gz)?$")


def delivery_time(name: str) -> datetime | None:
    """When CloudTrail delivered the log file ``name`` (a path or an S3 key), None for any other name."""
    found = DELIVERY_TIME.search(name)
    if found is None:
        return None
    try:
        return datetime.strptime(found.group(1), "%Y%m%dT%H%M").replace(tzinfo=timezone.utc)
    except ValueError:  # digits that are no date
        return None


def _utc(event_time: str) -> datetime:
    return datetime.fromisoformat(event_time.replace("Z", "+00:00"))


class NotALogFile(ValueError):
    """A JSON document that is neither a CloudTrail log file (Records) nor a record: skipped."""


# After the first call, inflate in pieces of this size (a file of several gzip members, or over 4 GiB).
INFLATE_PIECE = 64 * 1024


def inflate(data: bytes) -> bytes:
    """The content of a gzip file, every member of it (ISA-L's inflate, about twice zlib's speed),
    or ``data`` when it is not gzip. A truncated or corrupt file (CRC or size in the trailer
    included) raises OSError."""
    if data[:2] != b"\x1f\x8b":
        return data
    # The last member's trailer holds its size (mod 2**32): a file of one member, as CloudTrail
    # writes them, is inflated by one call into one buffer of that size. Inflating in pieces and
    # joining them, or into a buffer that grows, cost 1.7x and 4x as much (copies, and the page
    # faults of fresh memory: the benchmark's 200 files read one after the other, 0.24 s, 0.41 s
    # and 1.0 s).
    first = max(int.from_bytes(data[-4:], "little"), 1)
    parts = []
    try:
        while data:
            member = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)
            parts.append(member.decompress(data, first))
            first = INFLATE_PIECE
            while not member.eof and not member.needs_input:
                parts.append(member.decompress(b"", INFLATE_PIECE))
            if not member.eof:
                raise OSError("truncated gzip file")
            data = member.unused_data.lstrip(b"\0")  # zeros after a member: padding, as gzip reads it
    except igzip_lib.IsalError as error:
        raise OSError(f"corrupt gzip file: {error}") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def is_digest(name: str) -> bool:
    return DIGEST_FOLDER in name.replace("\\", "/").split("/")


def parse_records(data: bytes) -> tuple[list[dict], int]:
    """Records in one file's bytes (gzip or not), and how many lines or documents failed to parse.
    Raise NotALogFile for a JSON document that holds no records (a digest file, say)."""
    data = inflate(data)
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    if isinstance(document, dict):
        records = document.get("Records")
        if isinstance(records, list):
            good = [r for r in records if isinstance(r, dict)]
            return good, len(records) - len(good)
        if any(key in document for key in RECORD_KEYS):
            return [document], 0
        raise NotALogFile("a JSON document without Records")
    if isinstance(document, list):
        return [r for r in document if isinstance(r, dict)], sum(1 for r in document if not isinstance(r, dict))
    records, failures = [], 0
    for line in data.splitlines():
        line = line.strip()
        if not line:
            continue
        start = line.find(b"{")  # CloudWatch Logs exports put a timestamp before the event
        try:
            record = json.loads(line[start:]) if start >= 0 else None
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            failures += 1
    return records, failures


# --------------------------------------------------------------------------------------- matching
def _split_event_source(tree: Node) -> tuple[str | None, Node | None]:
    """(the eventSource a pattern requires, the rest of the pattern): every detection names its
    event source, so records can be dispatched on it and the test need not run again."""
    items = tree.items if isinstance(tree, And) else (tree,)
    for i, item in enumerate(items):
        if (isinstance(item, Comparison) and item.op == "=" and item.selector.path == ("eventSource",)
                and isinstance(item.value, StringValue) and not item.value.has_wildcard):
            rest = items[:i] + items[i + 1:]
            return item.value.text, (None if not rest else rest[0] if len(rest) == 1 else And(rest))
    return None, tree


def _always(record: Any) -> bool:
    return True


def required_names(node: Node) -> frozenset[str] | None:
    """The eventNames a record must have (as a string) for ``node`` to match it; None when the
    pattern admits any. Exact: an ``=`` on a plain string matches only that string."""
    if isinstance(node, Comparison):
        if (node.op == "=" and node.selector.path == ("eventName",) and isinstance(node.value, StringValue)
                and not node.value.has_wildcard):
            return frozenset({node.value.text})
        return None
    if isinstance(node, Or):
        alternatives = [required_names(i) for i in node.items]
        return None if any(a is None for a in alternatives) else frozenset().union(*alternatives)  # type: ignore[arg-type]
    if isinstance(node, And):
        required = [r for r in (required_names(i) for i in node.items) if r is not None]
        return frozenset.intersection(*required) if required else None
    return None


Tests = list[tuple[str, Callable[[Any], bool]]]


@dataclass(frozen=True)
class Matcher:
    """Compiled patterns, dispatched by eventSource, then by eventName: a record outside KMS and
    Secrets Manager costs one dictionary lookup, and one inside runs only the tests of detections
    that admit its eventName (most admit a few names; the use detections any)."""

    by_source: dict[str, tuple[dict[str, Tests], Tests]]
    """Per eventSource: the tests for each eventName some detection names, and the tests for any
    other name (the detections that admit any name, and those that need no particular source)."""
    anywhere: Tests

    @classmethod
    def build(cls, detections: Iterable[Detection], resolver: Resolvers = make_resolver) -> "Matcher":
        named: dict[str, list[tuple[frozenset[str] | None, str, Callable[[Any], bool]]]] = {}
        anywhere: Tests = []
        for d in detections:
            source, rest = _split_event_source(parse(d.filter_pattern))
            test = compile_node(rest, resolver) if rest is not None else _always
            if source is None:
                anywhere.append((d.name, test))
            else:
                names = required_names(rest) if rest is not None else None
                named.setdefault(source, []).append((names, d.name, test))
        by_source = {}
        for source, entries in named.items():
            names = set().union(*(n for n, _, _ in entries if n is not None))
            by_name = {name: [(d, t) for n, d, t in entries if n is None or name in n] + anywhere for name in names}
            by_source[source] = (by_name, [(d, t) for n, d, t in entries if n is None] + anywhere)
        return cls(by_source, anywhere)

    def tests_for(self, source: Any, name: Any) -> Tests:
        if not isinstance(source, str) or source not in self.by_source:
            return self.anywhere
        by_name, other = self.by_source[source]
        return by_name.get(name, other) if isinstance(name, str) else other

    def matches(self, record: dict) -> list[str]:
        """Names of the detections ``record`` matches."""
        return [name for name, test in self.tests_for(record.get("eventSource"), record.get("eventName"))
                if test(record)]


# ------------------------------------------------------------------------------------ fast decoding
# What the report reads of a matched record, besides the fields the patterns select: scalars, and
# objects decoded only for the few records that match.
REPORT_SCALARS = ("eventTime", "recipientAccountId", "awsRegion")
REPORT_OBJECTS = ("userIdentity", "resources", "requestParameters")


def _selected_fields(node: Node) -> set[str]:
    if isinstance(node, (And, Or)):
        return set().union(*(_selected_fields(i) for i in node.items))
    first = node.selector.path[0]
    return {first} if isinstance(first, str) else set()


def _attribute_resolver(selector: Selector) -> Callable[[Any], Any]:
    """Read a selector's value from a decoded record: its first step an attribute (MISSING when the
    field was absent: the decoder's default), the rest through the dicts and lists json gives."""
    first, rest = selector.path[0], Selector(selector.path[1:])
    read = operator.attrgetter(first)  # type: ignore[arg-type]
    if not rest.path:
        return read

    def nested(record: Any) -> Any:
        value = read(record)
        return MISSING if value is MISSING else resolve(value, rest)
    return nested


class FastDecoder:
    """Decodes a CloudTrail log file into records holding only what the detections and the report
    read: the top-level fields the patterns select (values of any type, as json would give them),
    the report's scalars, and the report's objects as raw JSON decoded only for a matched record.
    A file it cannot read that way (JSON lines, a record that is not an object, no Records) goes
    to the general path: never to "no match"."""

    def __init__(self, detections: Iterable[Detection]) -> None:
        detections = tuple(detections)
        fields = {"eventSource", "eventName"}  # the dispatch reads them, whatever the patterns select
        for d in detections:
            fields |= _selected_fields(parse(d.filter_pattern))
        # The same patterns, compiled to read the decoded records' attributes.
        self.matcher = Matcher.build(detections, _attribute_resolver)
        self.match_fields = tuple(sorted(fields))
        self.scalars = tuple(f for f in REPORT_SCALARS if f not in fields)
        self.objects = tuple(f for f in REPORT_OBJECTS if f not in fields)
        self.decoder = None
        if all(f.isidentifier() and not f.startswith("_") for f in fields):
            # An absent field decodes to MISSING, what the compiled patterns take for "absent".
            record = msgspec.defstruct("FastRecord", [
                *((f, Any, MISSING) for f in self.match_fields + self.scalars),
                *((f, msgspec.Raw, MISSING) for f in self.objects)])
            self.decoder = msgspec.json.Decoder(msgspec.defstruct("FastFile", [("Records", list[record])]))

    def records(self, data: bytes) -> list[Any] | None:
        if self.decoder is None:
            return None
        try:
            return self.decoder.decode(data).Records
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def full(self, record: Any) -> dict[str, Any]:
        """What the report reads of a matched record, as a dict like json's."""
        out = {f: v for f in self.match_fields if (v := getattr(record, f)) is not MISSING}
        for f in self.scalars:
            if (v := getattr(record, f)) is not MISSING:
                out[f] = v
        for f in self.objects:
            if (v := getattr(record, f)) is not MISSING:
                out[f] = msgspec.json.decode(v)
        return out


# ----------------------------------------------------------------------------------------- results
def top(counter: Counter) -> list[tuple[Any, int]]:
    """The TOP most frequent, ties by name: the same whatever order the records came in (files in
    parallel, or Athena's rows)."""
    return sorted(counter.items(), key=lambda item: (-item[1], str(item[0])))[:TOP]


def _principal(record: dict) -> str:
    who = record.get("userIdentity") or {}
    if not isinstance(who, dict):
        return "unknown"
    return who.get("arn") or who.get("invokedBy") or who.get("type") or "unknown"


def _resource(record: dict) -> str:
    resources = record.get("resources")
    if isinstance(resources, list) and resources and isinstance(resources[0], dict) and resources[0].get("ARN"):
        return resources[0]["ARN"]
    params = record.get("requestParameters")
    if isinstance(params, dict):
        for key in ("keyId", "secretId"):
            if isinstance(params.get(key), str):
                return params[key]
    message = record.get("errorMessage")
    if isinstance(message, str) and message.startswith("arn:"):
        return message.split(" ", 1)[0]
    return "unknown"


def _epoch(event_time: str) -> float | None:
    """Seconds since the epoch of a CloudTrail eventTime (UTC, "2026-11-28T14:03:27Z")."""
    try:
        when = datetime.fromisoformat(event_time[:19])  # C-fast, where strptime is not
    except (TypeError, ValueError):
        return None
    return calendar.timegm(when.timetuple())


@dataclass
class DetectionStats:
    matches: int = 0
    excluded: int = 0
    """Matches made by an expected deleter, which the EventBridge rule skips (not in ``matches``)."""
    periods: set[int] = field(default_factory=set)
    first: str | None = None
    last: str | None = None
    principals: Counter = field(default_factory=Counter)
    resources: Counter = field(default_factory=Counter)
    accounts: Counter = field(default_factory=Counter)
    regions: Counter = field(default_factory=Counter)
    days: Counter = field(default_factory=Counter)
    """Matches per UTC day (YYYY-MM-DD), for the report's timeline."""

    def add(self, record: dict, period_seconds: int) -> None:
        self.matches += 1
        when = record.get("eventTime")
        if isinstance(when, str):
            self.days[when[:10]] += 1
            self.first = when if self.first is None or when < self.first else self.first
            self.last = when if self.last is None or when > self.last else self.last
            epoch = _epoch(when)
            if epoch is not None:
                self.periods.add(int(epoch // period_seconds))
        self.principals[_principal(record)] += 1
        self.resources[_resource(record)] += 1
        self.accounts[str(record.get("recipientAccountId", "unknown"))] += 1
        self.regions[str(record.get("awsRegion", "unknown"))] += 1

    def merge(self, other: "DetectionStats") -> None:
        self.matches += other.matches
        self.excluded += other.excluded
        self.periods |= other.periods
        for mine, theirs in ((self.principals, other.principals), (self.resources, other.resources),
                             (self.accounts, other.accounts), (self.regions, other.regions),
                             (self.days, other.days)):
            mine.update(theirs)
        times = [t for t in (self.first, self.last, other.first, other.last) if t]
        self.first, self.last = (min(times), max(times)) if times else (None, None)

    def to_dict(self) -> dict[str, Any]:
        return {"matches": self.matches, "excluded": self.excluded, "alarm_periods": len(self.periods), "first": self.first,
                "last": self.last, "top_principals": top(self.principals),
                "top_resources": top(self.resources), "accounts": top(self.accounts),
                "regions": top(self.regions)}


@dataclass
class Report:
    detections: dict[str, DetectionStats]
    files: int = 0
    records: int = 0
    parse_failures: int = 0
    outside_window: int = 0
    skipped_files: int = 0
    """Digest files and other JSON without records: neither records nor failures."""
    failed_files: list[str] = field(default_factory=list)
    unparsable_files: list[str] = field(default_factory=list)
    """Files with entries that are no CloudTrail record, each with how many."""
    files_outside_window: int = 0
    """CloudTrail log files not read: delivered outside the window (Options.may_hold_window)."""
    folders_not_listed: bool = False
    """An S3 archive was walked by day folders: files of folders outside the window were never
    listed, so they are not in ``files_outside_window`` (a local folder's are)."""
    scanned_bytes: int | None = None
    """Athena's DataScannedInBytes when the report comes from Athena (records: the matching ones)."""

    def read_summary(self) -> str:
        """What was read, in one line."""
        if self.scanned_bytes is not None:
            return (f"Athena scanned {plural(self.scanned_bytes, 'byte')} and returned "
                    f"{plural(self.records, 'matching record')} (one query for every detection)")
        pruned = (f"; {plural(self.files_outside_window, 'file')} delivered outside the window not read"
                  if self.files_outside_window else "")
        if self.folders_not_listed:
            pruned += "; S3 day folders outside the window not listed, their files not counted"
        return (f"{plural(self.files, 'file')}, {plural(self.records, 'record')}, {self.parse_failures:,} unparsable, "
                f"{self.outside_window:,} outside the time window, {plural(self.skipped_files, 'file')} without "
                f"records skipped (digests){pruned}")

    def merge(self, other: "Report") -> None:
        self.files += other.files
        self.skipped_files += other.skipped_files
        self.records += other.records
        self.parse_failures += other.parse_failures
        self.outside_window += other.outside_window
        self.files_outside_window += other.files_outside_window
        self.failed_files += other.failed_files
        self.unparsable_files += other.unparsable_files
        for name, stats in other.detections.items():
            self.detections[name].merge(stats)

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "skipped_files": self.skipped_files, "records": self.records,
                "parse_failures": self.parse_failures,
                "outside_window": self.outside_window, "files_outside_window": self.files_outside_window,
                "folders_not_listed": self.folders_not_listed, "failed_files": self.failed_files,
                "unparsable_files": self.unparsable_files,
                **({"athena_scanned_bytes": self.scanned_bytes} if self.scanned_bytes is not None else {}),
                "detections": {n: s.to_dict() for n, s in self.detections.items()}}


def utc_event_time(text: str, option: str) -> str:
    """An ISO 8601 date or time as CloudTrail writes eventTime (UTC, seconds, Z); a UsageError
    naming ``option`` otherwise. A date alone is its midnight UTC, a time without offset is UTC."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not an ISO 8601 date or time, e.g. 2026-11-01 or "
                        "2026-11-01T00:00:00Z") from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Options:
    mode: str = "AccessAndDeletion"
    engine: str = "EventBridge"
    start: str | None = None  # ISO 8601, compared with eventTime
    end: str | None = None
    period_seconds: int = 60
    expected_deleters: tuple[str, ...] = ()
    """Principal ARN patterns the EventBridge deletion rules skip (ExpectedDeleterArns)."""
    late_days: int = LATE_DELIVERY_DAYS
    """CloudTrail log files delivered up to this many days after --end are read (late records)."""

    def __post_init__(self) -> None:
        # eventTime is compared as text: the window's ends become the same UTC form first.
        for option in ("start", "end"):
            value = getattr(self, option)
            if value is not None:
                object.__setattr__(self, option, utc_event_time(value, f"--{option}"))
        if self.start and self.end and self.start >= self.end:
            raise UsageError(f"--start {self.start} is not before --end {self.end}: the window is empty")
        if self.expected_deleters and self.engine != "EventBridge":
            raise UsageError("expected deleters are skipped by the EventBridge engine only: use "
                            "--engine EventBridge with --expected-deleter")
        for pattern in self.expected_deleters:
            try:
                exclusions.validate(pattern)
            except ValueError as error:
                raise UsageError(f"--expected-deleter: {error}") from None

    def may_hold_window(self, name: str) -> bool:
        """False only for a CloudTrail log file that holds no record of the window by its name: a
        file holds records written before its delivery time (to the minute), so one delivered
        before --start holds none; one delivered over ``late_days`` after --end is taken to hold
        none (the same rule as the Athena engine's partitions). Any other file is read."""
        if not (self.start or self.end):
            return True
        delivered = delivery_time(name)
        if delivered is None:
            return True
        if self.start and delivered + timedelta(minutes=1) <= _utc(self.start):
            return False
        return not (self.end and delivered >= _utc(self.end) + timedelta(days=self.late_days))

    def delivery_days(self) -> tuple[date | None, date | None] | None:
        """The day folders (YYYY/MM/DD) that may hold files of the window, a day more on each side:
        the user guide says a file's name holds its delivery time, but not that its folder holds
        the same day (UNCONFIRMED); the names then decide (may_hold_window). None: no window."""
        if not (self.start or self.end):
            return None
        first = (_utc(self.start) - timedelta(days=1)).date() if self.start else None
        last = (_utc(self.end) + timedelta(days=self.late_days + 1)).date() if self.end else None
        return first, last

    def skips(self) -> frozenset[str]:
        """Names of the detections that skip expected deleters, when there are any."""
        if not self.expected_deleters:
            return frozenset()
        return frozenset(d.name for d in self.detections() if exclusions.applies_to(d))

    def detections(self) -> tuple[Detection, ...]:
        """The detections deployed with this mode and engine (recovery notices are rules only)."""
        return detections_for_mode(self.mode, recovery=self.engine != "CloudWatchLogs")


# ---------------------------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _init_worker(options: Options) -> None:
    _WORKER["options"] = options
    _WORKER["matcher"] = Matcher.build(options.detections())
    _WORKER["fast"] = FastDecoder(options.detections())


def _init_pool_worker(options: Options) -> None:
    # Ctrl-C reaches every process of the terminal's group: the parent handles it (it terminates
    # the pool and says so); a worker stopping on its own would only be replaced.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(options)


def _identity(record: Any) -> Any:
    return record


def _key(key: str) -> Callable[[dict], Any]:
    return lambda record: record.get(key)


def _attribute(name: str) -> Callable[[Any], Any]:
    """An attribute of a decoded record (MISSING, never a string, when it was absent)."""
    return operator.attrgetter(name)


def scan_bytes(name: str, data: bytes, options: Options, matcher: Matcher,
               fast: FastDecoder | None = None) -> Report:
    """The report for one file's content: through ``fast`` when it can read the file, the general
    path otherwise (both select the same records: tests/deletion_alarms/test_backtest.py)."""
    report = Report({d.name: DetectionStats() for d in options.detections()}, files=1)
    if is_digest(name):
        report.files, report.skipped_files = 0, 1
        return report
    try:
        data = inflate(data)
        records = fast.records(data) if fast is not None else None
        if records is not None:
            full, source_of, time_of = fast.full, _attribute("eventSource"), _attribute("eventTime")
            name_of, matcher = _attribute("eventName"), fast.matcher
        else:
            records, report.parse_failures = parse_records(data)
            full, source_of, time_of, name_of = _identity, _key("eventSource"), _key("eventTime"), _key("eventName")
    except NotALogFile:
        report.files, report.skipped_files = 0, 1
        return report
    except (OSError, EOFError) as error:  # a corrupt gzip file
        report.failed_files.append(f"{name}: {error}")
        return report
    report.records = len(records)
    if report.parse_failures:
        report.unparsable_files.append(f"{name} ({report.parse_failures})")
    start, end, period = options.start, options.end, options.period_seconds
    by_source, anywhere, stats = matcher.by_source.get, matcher.anywhere, report.detections
    skips, expected = options.skips(), exclusions.compile_patterns(options.expected_deleters)
    # The hot loop: one lookup for a record outside KMS and Secrets Manager, two inside.
    for record in records:
        if start or end:
            when = time_of(record)
            if not isinstance(when, str) or (start and when < start) or (end and when >= end):
                report.outside_window += 1
                continue
        source = source_of(record)
        dispatch = by_source(source) if source.__class__ is str else None
        if dispatch is None:
            tests = anywhere
        else:
            event_name = name_of(record)
            tests = dispatch[0].get(event_name, dispatch[1]) if event_name.__class__ is str else dispatch[1]
        for name_, test in tests:
            if test(record):
                whole = full(record)
                if name_ in skips and exclusions.is_expected(whole, expected):
                    stats[name_].excluded += 1
                else:
                    stats[name_].add(whole, period)
    return report


def source_name(source: Any) -> str:
    """A local path, or an S3 object's s3://bucket/key."""
    return source if isinstance(source, str) else source.name


def _read(source: Any) -> tuple[str, bytes | OSError]:
    """A source's name and content, or the error that kept it from being read (a dangling link,
    a file without permission, an archived S3 object): one failed file, not the end of the run."""
    name = source_name(source)
    try:
        if isinstance(source, str):
            with open(source, "rb") as f:
                return name, f.read()
        return name, source.read()
    except OSError as error:
        return name, error


# S3 reads in flight per worker process: more reads than cores keep a worker busy while objects
# arrive, and memory stays bounded by this many files a worker.
READS_PER_WORKER = 4


def _scan_batch(batch: list[Any]) -> Report:
    """Read a few sources at once (threads: the reads wait on the network), then scan them."""
    options, matcher, fast = _WORKER["options"], _WORKER["matcher"], _WORKER["fast"]
    report = Report({d.name: DetectionStats() for d in options.detections()})
    if len(batch) == 1 or all(isinstance(s, str) for s in batch):
        contents: Iterable[tuple[str, bytes]] = map(_read, batch)
    else:
        with ThreadPoolExecutor(len(batch)) as reads:
            contents = list(reads.map(_read, batch))
    for name, data in contents:
        if isinstance(data, OSError):
            report.files += 1
            report.failed_files.append(f"{name}: {data.strerror or data}")
            continue
        report.merge(scan_bytes(name, data, options, matcher, fast))
    return report


def _batches(sources: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for source in sources:
        batch.append(source)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def local_files(paths: Iterable[str]) -> Iterator[str]:
    """Every file under the given files and directories, in a stable order."""
    for path in paths:
        if os.path.isdir(path):
            for folder, _, names in sorted(os.walk(path)):
                for n in sorted(names):
                    if n.endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz", ".gz", ".log")):
                        yield os.path.join(folder, n)
        elif os.path.isfile(path):
            yield path
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")


def in_window(sources: list[Any], options: Options) -> tuple[list[Any], int]:
    """The sources that may hold records of the window, and how many others there were."""
    kept = [s for s in sources if options.may_hold_window(source_name(s))]
    return kept, len(sources) - len(kept)


def run(sources: Iterable[Any], options: Options, workers: int | None = None,
        progress: Callable[[Report, float], None] | None = None) -> Report:
    """Scan every source (a local path, or an S3 object of deletion_alarms.archive) in parallel."""
    report = Report({d.name: DetectionStats() for d in options.detections()})
    started = time.monotonic()
    workers = workers or os.cpu_count() or 1
    batches = _batches(sources, READS_PER_WORKER)
    if workers == 1:
        _init_worker(options)
        for partial in map(_scan_batch, batches):
            report.merge(partial)
            if progress:
                progress(report, time.monotonic() - started)
        return report
    # multiprocessing's Pool, not concurrent.futures': leaving the block for any reason (Ctrl-C
    # included) terminates the workers, where a ProcessPoolExecutor interrupted while it submits
    # is left waiting for workers that wait for work, and the command never exits.
    with multiprocessing.Pool(workers, initializer=_init_pool_worker, initargs=(options,)) as pool:
        for partial in pool.imap_unordered(_scan_batch, batches):
            report.merge(partial)
            if progress:
                progress(report, time.monotonic() - started)
    return report


class Progress:
    """A progress bar on a terminal (tqdm): files done of the total, percentage, rate, ETA, and the
    records read; nothing when the stream is not a terminal (a pipe, a log, CI)."""

    def __init__(self, total_files: int | None, stream: Any = None) -> None:
        from tqdm import tqdm

        stream = stream if stream is not None else sys.stderr
        self.bar = tqdm(total=total_files, unit="file", file=stream, dynamic_ncols=True, leave=True,
                        disable=not stream.isatty())

    def __call__(self, report: Report, elapsed: float) -> None:
        self.bar.set_postfix_str(f"{report.records:,} records", refresh=False)
        self.bar.update(report.files - self.bar.n)

    def close(self) -> None:
        self.bar.close()


SHOWN_FILES = 5  # failed or unparsable files named in the text report; JSON has them all


def clean(text: object) -> str:
    """Text from a CloudTrail record or a file name, safe for a terminal: control characters
    (escape sequences included) shown as \\xNN, never sent."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in str(text))


def format_report(report: Report, options: Options) -> str:
    """The readable report; every value taken from a record is cleaned for the terminal."""
    lines = [report.read_summary()]
    lines += [f"  failed: {clean(f)}" for f in report.failed_files[:SHOWN_FILES]]
    if len(report.failed_files) > SHOWN_FILES:
        lines.append(f"  ... and {len(report.failed_files) - SHOWN_FILES} more failed files (--format json lists all)")
    if report.unparsable_files:
        shown = ", ".join(clean(f) for f in report.unparsable_files[:SHOWN_FILES])
        more = len(report.unparsable_files) - SHOWN_FILES
        lines.append(f"  unparsable entries in: {shown}" + (f" and {more} more" if more > 0 else ""))
    for d in options.detections():
        s = report.detections[d.name]
        lines.append(f"\n{d.name}: {plural(s.matches, 'match', 'matches')}, would have fired in "
                     f"{plural(len(s.periods), 'alarm period')} of {options.period_seconds} s")
        if d.name in options.skips():
            lines.append(f"  {s.excluded} more made by expected deleters, skipped")
        if s.matches:
            lines.append(f"  first {clean(s.first)}, last {clean(s.last)}")
            for label, counter in (("principals", s.principals), ("keys/secrets", s.resources),
                                   ("accounts", s.accounts), ("Regions", s.regions)):
                lines.append(f"  top {label}: " + ", ".join(f"{clean(k)} ({v})" for k, v in top(counter)))
    return "\n".join(lines)

