"""The threat model is complete: every mutating action of the Service Authorization Reference (the
copy parliament keeps) on every resource type the product creates is denied by the SCPs on a
protected resource, or accepted in stacks/threats.py with a reason; nothing else."""

from __future__ import annotations

import copy
import json

import pytest

from stacks.distribution import render_all
from stacks.guardrails import PROTECTED_TAG_KEY, SCP_NAMES, GuardrailOptions, render_scp
from stacks.threats import ADMINISTRATION_TYPES, RESOURCE_LESS_ACTIONS, RESOURCE_TYPES, accepted_actions
from tests.iam_evaluator import EXPLICIT_DENY, FULL_AWS_ACCESS, Request, evaluate

SAR = {service["prefix"]: service for service in __import__("parliament").iam_definition}
MUTATING = ("Write", "Permissions management", "Tagging")
ACCOUNT = "111122223333"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
# A resource of the product in a member account, as each service names it (the trail's log group
# for metric filters: the filters live inside it).
SAMPLE_ARNS = {
    "logs": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-cloudtrail-logs-{ACCOUNT}-1a2b",
    "cloudformation": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/SC-{ACCOUNT}-pp-abc/1",
    "iam": f"arn:aws:iam::{ACCOUNT}:role/deletion-alarms-NotifierRole-1A2B",
}


def scps() -> list[dict]:
    return [FULL_AWS_ACCESS, *(json.loads(render_scp(GuardrailOptions(), name)) for name in SCP_NAMES)]


def product_types() -> set[str]:
    types = {"stack"}
    for name, text in render_all().items():
        if not name.endswith(".json"):  # the CfCT manifest names no resource type
            continue
        document = json.loads(text)
        types |= {r["Type"] for r in document.get("Resources", {}).values()}
    return types


def candidates() -> set[str]:
    """Every mutating action on a resource type of the product."""
    found: set[str] = set()
    for kind in product_types():
        for entry in RESOURCE_TYPES.get(kind, ()):
            service, resource = entry.split(":", 1)
            found |= {f"{service}:{p['privilege']}" for p in SAR[service]["privileges"]
                      if p["access_level"] in MUTATING
                      and any(t["resource_type"].rstrip("*") == resource for t in p["resource_types"])}
        found |= set(RESOURCE_LESS_ACTIONS.get(kind, ()))
    return found


def denied(action: str, policies: list[dict]) -> bool:
    """Whether an administrator is denied ``action`` on a protected resource of the product (the
    worst case for tag actions: the protection tag among the keys)."""
    service = action.split(":")[0]
    resource = SAMPLE_ARNS.get(service, f"arn:aws:{service}:us-east-1:{ACCOUNT}:deletion-alarms-resource")
    context = {f"aws:ResourceTag/{PROTECTED_TAG_KEY}": "true", "aws:TagKeys": [PROTECTED_TAG_KEY],
               "aws:PrincipalArn": ADMIN}
    return evaluate(Request(action, resource, ADMIN, context), identity_policies=[FULL_AWS_ACCESS],
                    scps=policies) == EXPLICIT_DENY


def unclassified(policies: list[dict]) -> list[str]:
    accepted = accepted_actions()
    return sorted(a for a in candidates() if not denied(a, policies) and a not in accepted)


def test_every_resource_type_of_the_product_is_in_the_model() -> None:
    known = set(RESOURCE_TYPES) | set(RESOURCE_LESS_ACTIONS) | set(ADMINISTRATION_TYPES)
    assert sorted(product_types() - known) == []


def test_every_mapped_resource_type_is_in_the_reference() -> None:
    for entries in RESOURCE_TYPES.values():
        for entry in entries:
            service, resource = entry.split(":", 1)
            assert resource in {r["resource"] for r in SAR[service]["resources"]}, entry


def test_every_candidate_is_denied_or_accepted() -> None:
    assert len(candidates()) > 150  # not vacuous
    assert unclassified(scps()) == []


def test_nothing_is_accepted_that_is_no_candidate_or_is_denied() -> None:
    policies = scps()
    for action in accepted_actions():
        assert action in candidates(), f"{action} is accepted but no candidate: remove it"
        assert not denied(action, policies), f"{action} is denied: it needs no reason"


@pytest.mark.parametrize("dropped", ["sqs:PurgeQueue", "lambda:Put*", "iam:PassRole"])
def test_dropping_a_protected_action_fails_the_model(dropped: str) -> None:
    """The proof can fail: without one pattern of the protection SCP, its actions are unclassified."""
    policies = copy.deepcopy(scps())
    for policy in policies[1:]:
        for statement in policy["Statement"]:
            if dropped in statement["Action"]:
                statement["Action"].remove(dropped)
    assert unclassified(policies) != []
