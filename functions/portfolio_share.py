"""Custom resource handler: shares the Service Catalog portfolio through AWS Organizations.

CloudFormation's AWS::ServiceCatalog::PortfolioShare takes one account ID and no organization node
(cloudformation-coverage-roadmap issue 594), so this function calls CreatePortfolioShare with an
OrganizationNode for each organization, OU or account ID it is given, and DeletePortfolioShare for
those removed. Both are asynchronous: each returns a token whose status DescribePortfolioShareStatus
reports (Service Catalog API reference).

It runs inside AWS Lambda, with the runtime's libraries only, and follows CloudFormation's custom
resource protocol (request and response reference): it always answers the presigned ResponseURL,
SUCCESS or FAILED with the reason, before Lambda's timeout would kill it, so that a stack never
waits for the custom resource's own timeout (AWS knowledge center, custom resource best practices).
Each request is idempotent: what is already shared is not shared again, what is gone is not
deleted again; a second delivery of the same request changes nothing.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any, Callable

import boto3

# Organizations' ID formats (AWS Organizations API reference: Organization.Id,
# OrganizationalUnit.Id, Account.Id).
NODE_TYPES = (
    (re.compile(r"o-[a-z0-9]{10,32}"), "ORGANIZATION"),
    (re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}"), "ORGANIZATIONAL_UNIT"),
    (re.compile(r"[0-9]{12}"), "ACCOUNT"),
)
PARAMETER = "ShareWith"  # the template's parameter the node IDs come from, named in errors
DONE, FAILED_STATES = "COMPLETED", ("COMPLETED_WITH_ERRORS", "ERROR")
POLL_SECONDS = 5
# Time kept to answer CloudFormation before Lambda's timeout (the answer is retried three times).
ANSWER_SECONDS = 40
RESPONSE_LIMIT_BYTES = 4096  # CloudFormation's limit for a custom resource response


class ShareError(Exception):
    """A share that cannot be made, with a message for the person reading the stack's events."""


def node(value: str) -> dict[str, str]:
    """The OrganizationNode for an organization (o-...), OU (ou-...) or account (12 digits) ID."""
    for pattern, kind in NODE_TYPES:
        if pattern.fullmatch(value):
            return {"Type": kind, "Value": value}
    hint = ("; for the whole organization give its ID: aws organizations describe-organization"
            if value.startswith("r-") else "")  # a root ID, as StackSets take it
    raise ShareError(f"{PARAMETER}: {value!r} is not an organization ID (o-...), an OU ID (ou-...) or an "
                     f"account ID (12 digits){hint}")


def wanted_nodes(properties: dict[str, Any], strict: bool = True) -> list[str]:
    """The node IDs of ``properties`` (a list, or one comma-separated string), in order, without
    blanks or repeats; with ``strict`` False, invalid ones are left out instead of raising (a delete
    after a create that refused them)."""
    raw = properties.get("OrganizationNodes") or []
    values = raw.split(",") if isinstance(raw, str) else list(raw)
    seen: list[str] = []
    for value in (str(v).strip() for v in values):
        if not value or value in seen:
            continue
        try:
            node(value)
        except ShareError:
            if strict:
                raise
            continue
        seen.append(value)
    return seen


def share_principals(properties: dict[str, Any]) -> bool:
    """CloudFormation hands every property value over as a string."""
    return str(properties.get("SharePrincipals", "false")).lower() == "true"


class Clock:
    """How long this invocation may still work before it must answer CloudFormation."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def left(self) -> float:
        return self.context.get_remaining_time_in_millis() / 1000 - ANSWER_SECONDS

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)


def current_shares(sc: Any, portfolio: str) -> dict[str, bool]:
    """The portfolio's shares with organization nodes: node ID (PrincipalId, an ID by the API
    model's pattern) -> whether principals are shared. A portfolio that no longer exists has none."""
    shares: dict[str, bool] = {}
    for kind in ("ORGANIZATION", "ORGANIZATIONAL_UNIT", "ACCOUNT"):
        token = None
        while True:
            try:
                page = sc.describe_portfolio_shares(PortfolioId=portfolio, Type=kind,
                                                    **({"PageToken": token} if token else {}))
            except sc.exceptions.ResourceNotFoundException:
                return {}
            for detail in page.get("PortfolioShareDetails", []):
                shares[detail["PrincipalId"]] = bool(detail.get("SharePrincipals"))
            token = page.get("NextPageToken")
            if not token:
                break
    return shares


def wait(sc: Any, tokens: dict[str, str], clock: Clock) -> None:
    """Wait until every share operation (node ID -> token) is done; raise ShareError naming each
    node that failed, or those still running when the time to answer comes."""
    pending, errors = dict(tokens), []
    while pending:
        for value, token in list(pending.items()):
            status = sc.describe_portfolio_share_status(PortfolioShareToken=token)
            state = status.get("Status")
            if state == DONE:
                del pending[value]
            elif state in FAILED_STATES:
                del pending[value]
                for error in status.get("ShareDetails", {}).get("ShareErrors", []):
                    accounts = ", ".join(error.get("Accounts", [])) or value
                    errors.append(f"{value}: {error.get('Error', state)} ({accounts}): {error.get('Message', '')}")
                if not status.get("ShareDetails", {}).get("ShareErrors"):
                    errors.append(f"{value}: {state}")
        if errors:
            raise ShareError("; ".join(errors))
        if not pending:
            return
        if clock.left() < POLL_SECONDS:
            running = ", ".join(f"{v} (token {t})" for v, t in pending.items())
            raise ShareError(f"still in progress when the function had to answer: {running}; the stack "
                             "rolls back: see aws servicecatalog describe-portfolio-share-status "
                             "--portfolio-share-token TOKEN, then deploy again")
        clock.sleep(POLL_SECONDS)


def apply(sc: Any, portfolio: str, wanted: list[str], principals: bool, removed: list[str],
          clock: Clock) -> str:
    """Share ``portfolio`` with every node of ``wanted`` (principal name sharing as ``principals``),
    stop sharing it with ``removed``; return what was done, in words."""
    have = current_shares(sc, portfolio)
    tokens, done = {}, []
    for value in wanted:
        request = {"PortfolioId": portfolio, "OrganizationNode": node(value), "SharePrincipals": principals}
        if value not in have:
            tokens[value] = sc.create_portfolio_share(**request)["PortfolioShareToken"]
            done.append(f"shared with {value}")
        elif have[value] != principals:
            tokens[value] = sc.update_portfolio_share(**request)["PortfolioShareToken"]
            done.append(f"updated the share with {value}")
    for value in removed:
        if value in have and value not in wanted:
            tokens[value] = sc.delete_portfolio_share(
                PortfolioId=portfolio, OrganizationNode=node(value))["PortfolioShareToken"]
            done.append(f"stopped sharing with {value}")
    wait(sc, tokens, clock)
    return "; ".join(done) or "nothing to change"


def physical_id(properties: dict[str, Any]) -> str:
    return f"{properties.get('PortfolioId', 'unknown')}/organization-shares"


def handle(event: dict[str, Any], sc: Any, clock: Clock) -> tuple[str, str]:
    """Carry out one request; return (PhysicalResourceId, what was done)."""
    properties = event.get("ResourceProperties", {})
    portfolio = str(properties.get("PortfolioId", ""))
    kind = event["RequestType"]
    if kind == "Delete":
        # Also after a create that failed or never answered: whatever of it was shared goes.
        removed = wanted_nodes(properties, strict=False)
        return physical_id(properties), apply(sc, portfolio, [], False, removed, clock)
    wanted, principals = wanted_nodes(properties), share_principals(properties)
    removed: list[str] = []
    if kind == "Update":
        old = event.get("OldResourceProperties", {})
        # Another portfolio: a new physical ID, and CloudFormation deletes the old one's shares.
        if physical_id(old) == physical_id(properties):
            removed = wanted_nodes(old, strict=False)
    return physical_id(properties), apply(sc, portfolio, wanted, principals, removed, clock)


def response_body(event: dict[str, Any], status: str, physical: str, reason: str) -> bytes:
    """The response CloudFormation reads, cut to its size limit (the reason is shortened)."""
    answer = {"Status": status, "PhysicalResourceId": physical, "StackId": event["StackId"],
              "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"],
              "NoEcho": False, "Data": {}, "Reason": reason}
    body = json.dumps(answer).encode()
    while len(body) > RESPONSE_LIMIT_BYTES:
        answer["Reason"] = answer["Reason"][: len(answer["Reason"]) - (len(body) - RESPONSE_LIMIT_BYTES) - 4] + " ..."
        body = json.dumps(answer).encode()
    return body


def answer(event: dict[str, Any], body: bytes, sleep: Callable[[float], None] = time.sleep) -> None:
    """PUT the response to the presigned URL (no content type: the URL is signed without one),
    retried three times; the URL itself is never logged."""
    for attempt in range(3):
        request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                         headers={"Content-Type": "", "Content-Length": str(len(body))})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                reply.read()
            return
        except (urllib.error.URLError, OSError) as error:
            print(json.dumps({"answer_failed": str(error), "attempt": attempt + 1}))
            if attempt == 2:
                raise
            sleep(2 ** attempt)


def handler(event: dict[str, Any], context: Any) -> None:
    clock = Clock(context)
    physical = event.get("PhysicalResourceId") or physical_id(event.get("ResourceProperties", {}))
    try:
        physical, reason = handle(event, boto3.client("servicecatalog"), clock)
        status = "SUCCESS"
    except Exception as error:  # every failure is answered, never left to CloudFormation's timeout
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    print(json.dumps({"request": event.get("RequestType"), "status": status, "reason": reason,
                      "physical": physical}))
    answer(event, response_body(event, status, physical, reason), clock.sleep)
