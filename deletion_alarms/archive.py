"""CloudTrail archives in S3 as backtest sources: listed page by page, each object read only when
a worker scans it, so the archive is never held in memory."""

from __future__ import annotations

import difflib

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterator

from detections.errors import UsageError

_CLIENTS: dict[tuple, Any] = {}  # one S3 client per worker process and settings


@dataclass(frozen=True)
class S3Object:
    """One object of an archive; picklable, so it travels to worker processes."""

    bucket: str
    key: str
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read(self) -> bytes:
        """The object's bytes. OSError for what concerns this object only (GetObject's own errors:
        archived in a Glacier class and not restored, or gone since it was listed): the run names
        it and goes on. Anything else (denied, no network, expired credentials) would fail every
        object alike: a UserError that ends the run."""
        import botocore.exceptions

        from deletion_alarms.awsclient import aws_errors

        with aws_errors(f"reading {self.name}"):
            try:
                return _client(self.profile, self.region, self.endpoint_url).get_object(
                    Bucket=self.bucket, Key=self.key)["Body"].read()
            except botocore.exceptions.ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code in OBJECT_ERRORS:
                    raise OSError(f"{code}: {OBJECT_ERRORS[code]}") from None
                raise


# GetObject's modeled errors (botocore's S3 model; S3 API reference, GetObject), with what to do.
OBJECT_ERRORS = {
    "InvalidObjectState": "archived (S3 Glacier Flexible Retrieval, Deep Archive or an Intelligent-Tiering "
                          "archive tier): restore it with RestoreObject to read it",
    "NoSuchKey": "deleted since it was listed",
}


def _client(profile: str | None, region: str | None, endpoint_url: str | None) -> Any:
    key = (profile, region, endpoint_url)
    if key not in _CLIENTS:
        from deletion_alarms.awsclient import make_client, make_session

        _CLIENTS[key] = make_client(make_session(profile, region or "us-east-1"), "s3", endpoint_url)
    return _CLIENTS[key]


# A trail's Region folder: AWSLogs/[o-ID/]ACCOUNT/CloudTrail/REGION/. Its keys go on YYYY/MM/DD/:
# in key order, its log files are in day order.
REGION_FOLDER = re.compile(r"(?:^|/)CloudTrail/[^/]+/$")
BELOW_REGION_FOLDER = re.compile(r"(?:^|/)CloudTrail/[^/]+/.")
# Folders beside CloudTrail/ that no detection can match: digest files hold no records, and an
# Insights event names its API inside insightDetails, not in eventSource and eventName (CloudTrail
# user guide, "CloudTrail record contents for Insights events for trails").
NOTHING_TO_MATCH = ("CloudTrail-Digest", "CloudTrail-Insight")
DAY_FOLDER = "%Y/%m/%d"


def s3_objects(url: str, profile: str | None = None, region: str | None = None,
               endpoint_url: str | None = None, days: tuple[date | None, date | None] | None = None
               ) -> Iterator[S3Object]:
    """Every object under ``s3://bucket/prefix``, listed lazily. With ``days`` (the first and last
    day folder to read, either None for no bound), the prefix is walked folder by folder (S3's
    delimiter) down to the trail's Region folders, each listed from its first day's folder to its
    last day's only; folders of digest files and Insights events are not listed."""
    from deletion_alarms.awsclient import aws_errors

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = _client(profile, region, endpoint_url)
    pages = client.get_paginator("list_objects_v2").paginate

    def listed(prefix: str, start_after: str = "", stop_after: str = "") -> Iterator[S3Object]:
        """The objects under ``prefix`` in key order, from ``start_after`` to the last key that
        begins with ``stop_after``."""
        for page in pages(Bucket=bucket, Prefix=prefix, **({"StartAfter": start_after} if start_after else {})):
            for item in page.get("Contents", []):
                if stop_after and item["Key"][:len(stop_after)] > stop_after:
                    return
                if not item["Key"].endswith("/"):
                    yield S3Object(bucket, item["Key"], profile, region, endpoint_url)

    def walked(prefix: str, first: date | None, last: date | None) -> Iterator[S3Object]:
        if REGION_FOLDER.search(prefix):
            yield from listed(prefix, prefix + first.strftime(DAY_FOLDER) if first else "",
                              prefix + last.strftime(DAY_FOLDER) if last else "")
            return
        for page in pages(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    yield S3Object(bucket, item["Key"], profile, region, endpoint_url)
            for folder in page.get("CommonPrefixes", []):
                if folder["Prefix"].rstrip("/").rsplit("/", 1)[-1] not in NOTHING_TO_MATCH:
                    yield from walked(folder["Prefix"], first, last)

    with aws_errors(f"listing {url}"):
        if not client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount"):
            raise UsageError(nothing_under(client, bucket, prefix))
        if days is None or BELOW_REGION_FOLDER.search(prefix):
            yield from listed(prefix)
        else:
            yield from walked(prefix, *days)


def nothing_under(client: Any, bucket: str, prefix: str, shown: int = 8) -> str:
    """Why a prefix gave nothing, in one line: the folders its parent holds, the closest first (a
    mistyped account ID, Region or "CloudTrail" is the usual cause)."""
    parent = prefix[:prefix.rstrip("/").rfind("/") + 1] if "/" in prefix.rstrip("/") else ""
    page = client.list_objects_v2(Bucket=bucket, Prefix=parent, Delimiter="/", MaxKeys=1000)
    folders = [p["Prefix"][len(parent):] for p in page.get("CommonPrefixes", [])]
    wanted = prefix[len(parent):]
    close = difflib.get_close_matches(wanted, folders, n=shown, cutoff=0.5)
    ordered = close + [f for f in folders if f not in close]
    where = f"s3://{bucket}/{parent}"
    if not ordered:
        return f"nothing under s3://{bucket}/{prefix}, and {where} holds no folder"
    more = f" and {len(ordered) - shown} more" if len(ordered) > shown else ""
    hint = f" (did you mean {where}{close[0]}?)" if close else ""
    return f"nothing under s3://{bucket}/{prefix}; {where} holds {', '.join(ordered[:shown])}{more}{hint}"
