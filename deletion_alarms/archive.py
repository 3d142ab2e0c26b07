"""CloudTrail archives in S3 as backtest sources: listed page by page, each object read only when
a worker scans it, so the archive is never held in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

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


def s3_objects(url: str, profile: str | None = None, region: str | None = None,
               endpoint_url: str | None = None) -> Iterator[S3Object]:
    """Every object under ``s3://bucket/prefix``, listed lazily."""
    from deletion_alarms.awsclient import aws_errors

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = _client(profile, region, endpoint_url)
    with aws_errors(f"listing {url}"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    yield S3Object(bucket, item["Key"], profile, region, endpoint_url)
