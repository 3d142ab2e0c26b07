"""boto3 sessions for the commands that call AWS, and one-line explanations of their failures.

Imported only by those commands: template code stays offline.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import boto3
import botocore.exceptions
from botocore.config import Config

from detections.errors import UserError

# Standard retry mode: exponential backoff with jitter on throttling and transient errors.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10})


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A session from the usual sources (environment, profile, SSO, instance role)."""
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as error:
        raise UserError(f"AWS profile not found: {error.kwargs.get('profile', profile)}") from None


def make_client(session: boto3.Session, service: str, endpoint_url: str | None = None) -> Any:
    """A client with standard-mode retries; ``endpoint_url`` is for tests and emulators."""
    if session.region_name is None:
        raise UserError("no AWS Region: pass --region or set AWS_REGION (or a profile's region)")
    known = {r for p in session.get_available_partitions()
             for r in session.get_available_regions(service, p)}
    if session.region_name not in known and not endpoint_url:
        raise UserError(f"unknown Region {session.region_name!r} for {service}")
    return session.client(service, config=RETRY_CONFIG, endpoint_url=endpoint_url)


def regional_clients(service: str, profile: str | None = None,
                     endpoint_url: str | None = None) -> Callable[[str], Any]:
    """A function giving a client of ``service`` in a Region, made once per Region."""
    clients: dict[str, Any] = {}

    def client_in(region: str) -> Any:
        if region not in clients:
            clients[region] = make_client(make_session(profile, region), service, endpoint_url)
        return clients[region]
    return client_in


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore failures inside the block into a UserError that says what failed and why."""
    try:
        yield
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
        raise UserError(f"{action}: no AWS credentials found (set AWS_PROFILE, run 'aws configure' "
                        "or 'aws sso login')") from None
    except botocore.exceptions.TokenRetrievalError as error:
        raise UserError(f"{action}: AWS SSO session expired: {error}") from None
    except botocore.exceptions.EndpointConnectionError as error:
        raise UserError(f"{action}: cannot reach {error.kwargs.get('endpoint_url')}") from None
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        message = error.response.get("Error", {}).get("Message", "")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            raise UserError(f"{action}: access denied ({message})") from None
        raise UserError(f"{action}: {code}: {message}") from None
