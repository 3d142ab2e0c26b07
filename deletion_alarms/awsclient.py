"""boto3 sessions for the commands that call AWS, and one-line explanations of their failures.

Imported only by those commands: template code stays offline.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import boto3
import botocore.exceptions
import botocore.parsers
from botocore.config import Config

from detections.errors import UsageError, UserError

# Standard retry mode: exponential backoff with jitter on throttling and transient errors; bounded
# waits, so that an endpoint that never answers costs at most about ATTEMPTS x (connect + read).
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 30
ATTEMPTS = 4
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": ATTEMPTS},
                      connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS)
# Adaptive mode adds client-side rate limiting on throttling: for many calls at once against one
# service's quota (the inventory's DescribeKey in every Region, several at a time).
ADAPTIVE_CONFIG = RETRY_CONFIG.merge(Config(retries={"mode": "adaptive", "max_attempts": ATTEMPTS}))


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A session from the usual sources (environment, profile, SSO, instance role)."""
    # The AWS CLI and SDKs read AWS_REGION as well as AWS_DEFAULT_REGION; botocore only the latter.
    region = region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or None
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as error:
        raise UsageError(f"AWS profile not found: {error.kwargs.get('profile', profile)}") from None


def make_client(session: boto3.Session, service: str, endpoint_url: str | None = None,
                adaptive: bool = False) -> Any:
    """A client with standard-mode retries (``adaptive``: adaptive mode); ``endpoint_url`` is for
    tests and emulators."""
    if session.region_name is None:
        raise UsageError("no AWS Region: pass --region or set AWS_REGION (or a profile's region)")
    known = {r for p in session.get_available_partitions()
             for r in session.get_available_regions(service, p)}
    if not known:  # a global service (organizations, iam): botocore lists no Region; any real one routes to it
        known = {r for p in session.get_available_partitions() for r in session.get_available_regions("ec2", p)}
    if session.region_name not in known and not endpoint_url:
        raise UsageError(f"unknown Region {session.region_name!r} for {service}")
    return session.client(service, config=ADAPTIVE_CONFIG if adaptive else RETRY_CONFIG, endpoint_url=endpoint_url)


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
    except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError) as error:
        raise UserError(f"{action}: {explain(error)}") from None
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        message = error.response.get("Error", {}).get("Message", "")
        if message.lstrip().startswith("<"):
            message = "an HTML page, not an AWS response (a proxy's error page?)"
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            raise UserError(f"{action}: access denied ({message})") from None
        raise UserError(f"{action}: {code}: {message}") from None
    except botocore.exceptions.ParamValidationError:
        raise  # the user's value: a usage error (exit 2), reported once by the command
    except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError) as error:
        raise UserError(f"{action}: {explain(error)}") from None


def describe_stack(cfn: Any, stack_name: str) -> dict:
    """The stack, or a UserError that names the Region looked in when there is none: a stack in
    another Region is the usual cause (CloudFormation answers ValidationError "does not exist")."""
    try:
        with aws_errors(f"stack {stack_name}"):
            return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except UserError as error:
        if "does not exist" not in str(error):
            raise
        region = cfn.meta.region_name
        raise UserError(f"no stack {stack_name} in {region}: give the Region it is in (--region), or the "
                        "stack's name as CloudFormation shows it") from None


def explain(error: Exception) -> str:
    """One line for any botocore failure: what happened, where, in words a user can act on."""
    endpoint = getattr(error, "kwargs", {}).get("endpoint_url", "the endpoint")
    if isinstance(error, botocore.exceptions.ReadTimeoutError):
        return (f"no answer from {endpoint} after {READ_TIMEOUT_SECONDS} s, {ATTEMPTS} attempts "
                "(a proxy, a firewall, or the service is down)")
    if isinstance(error, botocore.exceptions.ConnectTimeoutError):
        return f"no connection to {endpoint} after {CONNECT_TIMEOUT_SECONDS} s, {ATTEMPTS} attempts"
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return f"cannot reach {endpoint}"
    if isinstance(error, botocore.exceptions.ParamValidationError):
        return f"invalid request: {error.kwargs.get('report', error)}"
    if isinstance(error, botocore.parsers.ResponseParserError):
        return "the endpoint answered with something that is not an AWS response (a proxy's error page?)"
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "Error")
        message = error.response.get("Error", {}).get("Message", "")
        if message.lstrip().startswith("<"):
            message = "an HTML page, not an AWS response (a proxy's error page?)"
        return f"{error.operation_name}: {code}: {message}"
    return str(error)
