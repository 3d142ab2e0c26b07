"""The portfolio share custom resource (functions/portfolio_share.py), driven as CloudFormation and
Lambda drive it: a request shaped as the custom resource request reference shows it, a context whose
remaining time runs down, Service Catalog behind botocore's Stubber (each request checked against the
service model), and the answer read from a real HTTP server on 127.0.0.1 standing in for the
presigned response URL."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber

from functions import portfolio_share as share

PORTFOLIO = "port-abcdefghijklm"
STACK = "arn:aws:cloudformation:us-east-1:111122223333:stack/deletion-alarms-portfolio/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
ORG, OU, ACCOUNT = "o-a1b2c3d4e5", "ou-ab12-11111111", "444455556666"
PHYSICAL = f"{PORTFOLIO}/organization-shares"


class Answers(http.server.BaseHTTPRequestHandler):
    """The presigned S3 URL: keeps every PUT body and its headers."""

    received: list[tuple[dict, dict]] = []

    def do_PUT(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Answers.received.append((json.loads(body), dict(self.headers)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def response_url() -> Iterator[str]:
    Answers.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/cloudformation-custom-resource-response?X-Amz-Signature=abc"
    server.shutdown()
    server.server_close()


class Context:
    """Lambda's context: the remaining time falls by what the function sleeps."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)

    def sleep(self, seconds: float) -> None:
        self.seconds -= seconds


def request(kind: str, url: str, nodes: list[str], old: list[str] | None = None, principals: str = "true",
            portfolio: str = PORTFOLIO, old_portfolio: str = PORTFOLIO) -> dict:
    """A custom resource request as CloudFormation sends it (every property value a string, a
    CommaDelimitedList a list of strings)."""
    event = {
        "RequestType": kind, "ResponseURL": url, "StackId": STACK,
        "RequestId": "unique-id-for-this-create-request", "ResourceType": "AWS::CloudFormation::CustomResource",
        "LogicalResourceId": "PortfolioOrganizationShare",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:share",
                               "PortfolioId": portfolio, "OrganizationNodes": nodes, "SharePrincipals": principals},
    }
    if kind != "Create":
        event["PhysicalResourceId"] = f"{old_portfolio}/organization-shares"
    if old is not None:
        event["OldResourceProperties"] = {**event["ResourceProperties"], "OrganizationNodes": old,
                                          "PortfolioId": old_portfolio}
    return event


def node(value: str) -> dict:
    kind = {"o-": "ORGANIZATION", "ou": "ORGANIZATIONAL_UNIT"}.get(value[:2], "ACCOUNT")
    return {"Type": kind, "Value": value}


class Catalog:
    """Service Catalog behind the Stubber, with its documented responses."""

    def __init__(self) -> None:
        self.client = boto3.client("servicecatalog", region_name="us-east-1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing")
        self.stub = Stubber(self.client)

    def shares(self, existing: dict[str, bool] | None = None, missing: bool = False) -> "Catalog":
        existing = existing or {}
        for kind in ("ORGANIZATION", "ORGANIZATIONAL_UNIT", "ACCOUNT"):
            if missing:
                self.stub.add_client_error("describe_portfolio_shares", "ResourceNotFoundException",
                                           expected_params={"PortfolioId": PORTFOLIO, "Type": kind})
                return self
            details = [{"PrincipalId": v, "Type": node(v)["Type"], "Accepted": True, "SharePrincipals": p}
                       for v, p in existing.items() if node(v)["Type"] == kind]
            self.stub.add_response("describe_portfolio_shares", {"PortfolioShareDetails": details},
                                   {"PortfolioId": PORTFOLIO, "Type": kind})
        return self

    def create(self, value: str, principals: bool = True) -> "Catalog":
        self.stub.add_response("create_portfolio_share", {"PortfolioShareToken": f"share-{value}"},
                               {"PortfolioId": PORTFOLIO, "OrganizationNode": node(value),
                                "SharePrincipals": principals})
        return self

    def update(self, value: str, principals: bool) -> "Catalog":
        self.stub.add_response("update_portfolio_share", {"PortfolioShareToken": f"share-{value}",
                                                          "Status": "IN_PROGRESS"},
                               {"PortfolioId": PORTFOLIO, "OrganizationNode": node(value),
                                "SharePrincipals": principals})
        return self

    def delete(self, value: str) -> "Catalog":
        self.stub.add_response("delete_portfolio_share", {"PortfolioShareToken": f"share-{value}"},
                               {"PortfolioId": PORTFOLIO, "OrganizationNode": node(value)})
        return self

    def status(self, value: str, state: str, errors: list[dict] | None = None) -> "Catalog":
        response = {"PortfolioShareToken": f"share-{value}", "PortfolioId": PORTFOLIO,
                    "OrganizationNodeValue": value, "Status": state}
        if errors is not None:
            response["ShareDetails"] = {"SuccessfulShares": [], "ShareErrors": errors}
        self.stub.add_response("describe_portfolio_share_status", response, {"PortfolioShareToken": f"share-{value}"})
        return self


def run(event: dict, catalog: Catalog, seconds: float = 900, monkeypatch=None) -> tuple[dict, dict]:
    """Invoke the handler as Lambda would; return CloudFormation's answer and its headers."""
    context = Context(seconds)
    monkeypatch.setattr(share.boto3, "client", lambda service, **_: catalog.client)
    monkeypatch.setattr(share, "time", SimpleNamespace(sleep=context.sleep))
    with catalog.stub:
        share.handler(event, context)
        catalog.stub.assert_no_pending_responses()
    assert len(Answers.received) == 1
    return Answers.received[0]


def test_create_shares_with_each_node_and_answers_once_done(response_url, monkeypatch) -> None:
    catalog = (Catalog().shares().create(ORG).create(OU)
               .status(ORG, "IN_PROGRESS").status(OU, "COMPLETED").status(ORG, "COMPLETED"))
    answer, headers = run(request("Create", response_url, [ORG, OU]), catalog, monkeypatch=monkeypatch)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == PHYSICAL
    assert (answer["StackId"], answer["RequestId"], answer["LogicalResourceId"]) == (
        STACK, "unique-id-for-this-create-request", "PortfolioOrganizationShare")
    assert answer["Reason"] == f"shared with {ORG}; shared with {OU}"
    # The presigned URL is signed without a content type (custom resource response reference).
    assert headers.get("Content-Type", "") == ""


def test_a_bad_node_fails_before_any_share_naming_the_parameter(response_url, monkeypatch) -> None:
    answer, _ = run(request("Create", response_url, [OU, "r-ab12"]), Catalog(), monkeypatch=monkeypatch)
    assert answer["Status"] == "FAILED"
    assert "ShareWith: 'r-ab12' is not an organization ID (o-...), an OU ID (ou-...) or an account ID" in answer["Reason"]
    assert answer["Reason"].endswith("for the whole organization give its ID: aws organizations describe-organization")


def test_the_delete_after_that_failed_create_succeeds_and_removes_what_exists(response_url, monkeypatch) -> None:
    catalog = Catalog().shares({OU: True}).delete(OU).status(OU, "COMPLETED")
    event = request("Delete", response_url, [OU, "r-ab12"])
    answer, _ = run(event, catalog, monkeypatch=monkeypatch)
    assert (answer["Status"], answer["Reason"]) == ("SUCCESS", f"stopped sharing with {OU}")


def test_share_errors_fail_the_resource_with_the_accounts_and_message(response_url, monkeypatch) -> None:
    errors = [{"Accounts": ["777788889999"], "Message": "Account is not a member of the organization",
               "Error": "InvalidAccount"}]
    catalog = Catalog().shares().create(OU).status(OU, "COMPLETED_WITH_ERRORS", errors)
    answer, _ = run(request("Create", response_url, [OU]), catalog, monkeypatch=monkeypatch)
    assert answer["Status"] == "FAILED"
    assert f"{OU}: InvalidAccount (777788889999): Account is not a member of the organization" in answer["Reason"]


def test_it_answers_before_lambdas_timeout_when_a_share_is_still_running(response_url, monkeypatch) -> None:
    # 60 seconds left: 40 are kept to answer, so it polls four times, 5 seconds apart, then gives up.
    catalog = Catalog().shares().create(ORG)
    for _ in range(5):
        catalog.status(ORG, "IN_PROGRESS")
    answer, _ = run(request("Create", response_url, [ORG]), catalog, seconds=60, monkeypatch=monkeypatch)
    assert answer["Status"] == "FAILED"
    assert f"still in progress when the function had to answer: {ORG} (token share-{ORG})" in answer["Reason"]


def test_update_adds_and_removes_only_the_difference_keeping_the_physical_id(response_url, monkeypatch) -> None:
    catalog = (Catalog().shares({ORG: True, OU: True}).create(ACCOUNT).delete(ORG)
               .status(ACCOUNT, "COMPLETED").status(ORG, "COMPLETED"))
    answer, _ = run(request("Update", response_url, [OU, ACCOUNT], old=[ORG, OU]), catalog, monkeypatch=monkeypatch)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == PHYSICAL
    assert answer["Reason"] == f"shared with {ACCOUNT}; stopped sharing with {ORG}"


def test_turning_principal_sharing_off_updates_the_existing_share(response_url, monkeypatch) -> None:
    catalog = Catalog().shares({OU: True}).update(OU, False).status(OU, "COMPLETED")
    event = request("Update", response_url, [OU], old=[OU], principals="false")
    answer, _ = run(event, catalog, monkeypatch=monkeypatch)
    assert (answer["Status"], answer["Reason"]) == ("SUCCESS", f"updated the share with {OU}")


def test_a_second_delivery_of_a_create_changes_nothing(response_url, monkeypatch) -> None:
    catalog = Catalog().shares({ORG: True})
    answer, _ = run(request("Create", response_url, [ORG]), catalog, monkeypatch=monkeypatch)
    assert (answer["Status"], answer["Reason"]) == ("SUCCESS", "nothing to change")


def test_another_portfolio_gets_a_new_physical_id_and_the_old_ones_shares_stay_for_its_delete(
        response_url, monkeypatch) -> None:
    catalog = Catalog().shares().create(OU).status(OU, "COMPLETED")
    event = request("Update", response_url, [OU], old=[OU], old_portfolio="port-oldoldoldold")
    answer, _ = run(event, catalog, monkeypatch=monkeypatch)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == PHYSICAL != event["PhysicalResourceId"]


def test_deleting_when_the_portfolio_is_gone_succeeds(response_url, monkeypatch) -> None:
    catalog = Catalog().shares(missing=True)
    answer, _ = run(request("Delete", response_url, [OU]), catalog, monkeypatch=monkeypatch)
    assert (answer["Status"], answer["Reason"]) == ("SUCCESS", "nothing to change")


def test_an_unexpected_error_is_answered_not_left_to_cloudformations_timeout(response_url, monkeypatch) -> None:
    catalog = Catalog()
    catalog.stub.add_client_error("describe_portfolio_shares", "AccessDeniedException", "not authorized")
    answer, _ = run(request("Create", response_url, [OU]), catalog, monkeypatch=monkeypatch)
    assert answer["Status"] == "FAILED"
    assert "AccessDeniedException" in answer["Reason"]


def test_the_answer_fits_cloudformations_4096_bytes_whatever_the_reason() -> None:
    event = request("Create", "http://127.0.0.1/", [OU])
    body = share.response_body(event, "FAILED", PHYSICAL, "x" * 10_000)
    assert len(body) <= share.RESPONSE_LIMIT_BYTES
    assert json.loads(body)["Reason"].endswith(" ...")


def test_the_response_url_is_never_logged(response_url, monkeypatch, capsys) -> None:
    catalog = Catalog().shares({ORG: True})
    run(request("Create", response_url, [ORG]), catalog, monkeypatch=monkeypatch)
    assert "X-Amz-Signature" not in capsys.readouterr().out


@pytest.mark.parametrize("value, kind", [
    (ORG, "ORGANIZATION"), (OU, "ORGANIZATIONAL_UNIT"), (ACCOUNT, "ACCOUNT"),
    ("o-short", None), ("ou-ab12-1234567", None), ("12345678901", None), ("r-ab12", None), ("", None),
])
def test_node_ids_follow_the_service_models_pattern(value: str, kind: str | None) -> None:
    """The IDs accepted are those botocore's model accepts as an OrganizationNode value."""
    import re

    import botocore.session

    pattern = botocore.session.get_session().get_service_model("servicecatalog").shape_for(
        "OrganizationNodeValue").metadata["pattern"]
    if kind is None:
        with pytest.raises(share.ShareError):
            share.node(value)
    else:
        assert share.node(value) == {"Type": kind, "Value": value}
        assert re.search(pattern, value)
