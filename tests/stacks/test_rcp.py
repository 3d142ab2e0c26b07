"""The deletion guardrails as a resource control policy (dist/deletion-guardrails-rcp.json), in the
IAM evaluator with AWS Organizations' RCP rules: it stops what the SCP cannot, a principal of
another organization that a key policy lets in; it keeps the SCP's exemptions for this account's
deploy roles, never for a role of that name elsewhere; service-linked roles are out of its reach
(AWS Organizations, RCPs). Which controls move and which stay SCPs: stacks/guardrails.py."""

from __future__ import annotations

import json

import pytest

from stacks.distribution import RCP_FILE, render_all
from stacks.guardrails import DELETION_RCP, RCP_STATEMENTS, GuardrailOptions, make_guardrails_template, render_rcp
from tests.iam_evaluator import (
    ALLOW, EXPLICIT_DENY, FULL_AWS_ACCESS, RCP_FULL_AWS_ACCESS, Request, evaluate,
)

ACCOUNT, OTHER_ORG = "111122223333", "999988887777"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-a1B2c3"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/stacksets-exec-0123456789abcdef"
PARTNER = f"arn:aws:iam::{OTHER_ORG}:role/Partner"
PARTNER_NAMED_LIKE_A_DEPLOYER = f"arn:aws:iam::{OTHER_ORG}:role/stacksets-exec-0123456789abcdef"
RECOVERY = f"arn:aws:iam::{OTHER_ORG}:role/Recovery"
SERVICE_LINKED = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/replication.kms.amazonaws.com/"
                  "AWSServiceRoleForKeyManagementServiceMultiRegionKeys")
EVERYONE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": {
    "AWS": [f"arn:aws:iam::{ACCOUNT}:root", PARTNER, PARTNER_NAMED_LIKE_A_DEPLOYER, RECOVERY]}}]}


def rcp(**options) -> dict:
    return json.loads(render_rcp(GuardrailOptions(**options)))


def request(action: str, resource: str, principal: str, **keys) -> Request:
    account = principal.split(":")[4]
    return Request(action, resource, principal, {"aws:PrincipalArn": principal, "aws:PrincipalAccount": account,
                                                  "aws:ResourceAccount": ACCOUNT, **keys})


def decide(req: Request, rcps: list[dict], scps: list[dict] = ()) -> str:
    """A key (or secret) whose policy lets in this account and the partner; each principal's own
    identity policy allows everything."""
    return evaluate(req, resource_policy=EVERYONE, identity_policies=[FULL_AWS_ACCESS], scps=scps, rcps=rcps,
                    resource_account=ACCOUNT, key_policy=req.action.startswith("kms:"))


SHORT_KEY = dict(action="kms:ScheduleKeyDeletion", resource=KEY, **{"kms:ScheduleKeyDeletionPendingWindowInDays": 7})
FORCE = dict(action="secretsmanager:DeleteSecret", resource=SECRET, **{"secretsmanager:ForceDeleteWithoutRecovery": True})


def call(spec: dict, principal: str) -> Request:
    spec = dict(spec)
    return request(spec.pop("action"), spec.pop("resource"), principal, **spec)


@pytest.mark.parametrize(("what", "spec", "principal", "expected"), [
    ("an administrator, short window", SHORT_KEY, ADMIN, EXPLICIT_DENY),
    ("this account's deploy role", SHORT_KEY, DEPLOYER, ALLOW),
    ("a partner of another organization", SHORT_KEY, PARTNER, EXPLICIT_DENY),
    ("another account's role named like a deploy role", SHORT_KEY, PARTNER_NAMED_LIKE_A_DEPLOYER, EXPLICIT_DENY),
    ("a service-linked role (RCPs do not apply)", SHORT_KEY, SERVICE_LINKED, ALLOW),
    ("a partner force-deletes a secret", FORCE, PARTNER, EXPLICIT_DENY),
    ("a partner with a 30-day window", {**SHORT_KEY, "kms:ScheduleKeyDeletionPendingWindowInDays": 30}, PARTNER, ALLOW),
])
def test_the_rcp_holds_for_every_principal_but_this_accounts_deployers(what, spec, principal, expected) -> None:
    assert decide(call(spec, principal), [RCP_FULL_AWS_ACCESS, rcp()]) == expected


def test_the_scp_alone_does_not_stop_a_principal_of_another_organization() -> None:
    """The reason for the RCP: an SCP limits this organization's principals only, so the partner,
    whose account has none of ours, schedules the deletion; the RCP on the key's account stops it."""
    from stacks.guardrails import SCP_NAMES, render_scp

    scps = [FULL_AWS_ACCESS] + [json.loads(render_scp(GuardrailOptions(), n)) for n in SCP_NAMES]
    assert decide(call(SHORT_KEY, ADMIN), [], scps) == EXPLICIT_DENY  # in the organization: the SCP holds
    assert decide(call(SHORT_KEY, PARTNER), []) == ALLOW  # outside it: no SCP of ours applies
    assert decide(call(SHORT_KEY, PARTNER), [RCP_FULL_AWS_ACCESS, rcp()]) == EXPLICIT_DENY


def test_a_break_glass_role_with_an_account_id_holds_from_anywhere_a_name_pattern_only_at_home() -> None:
    precise = RECOVERY
    assert decide(call(SHORT_KEY, precise), [RCP_FULL_AWS_ACCESS, rcp(break_glass_arns=(precise,))]) == ALLOW
    pattern = "arn:aws:iam::*:role/Recovery"
    assert decide(call(SHORT_KEY, precise), [RCP_FULL_AWS_ACCESS, rcp(break_glass_arns=(pattern,))]) == EXPLICIT_DENY


def test_the_rcp_is_the_scps_deletion_statements_with_a_principal_and_fits() -> None:
    document = json.loads(render_all()[RCP_FILE])
    sids = [s["Sid"] for s in document["Statement"]]
    assert sids == [x for sid in RCP_STATEMENTS for x in (sid, f"{sid}FromOtherAccounts")]
    assert all(s["Principal"] == "*" and s["Effect"] == "Deny" for s in document["Statement"])
    assert len(render_all()[RCP_FILE].rstrip("\n")) <= 5120


def test_the_guardrails_template_attaches_the_rcp_only_where_asked() -> None:
    template = json.loads(json.dumps(make_guardrails_template(GuardrailOptions()).to_dict()))
    policy = template["Resources"]["DeletionGuardrailsRcp"]
    assert policy["Condition"] == "AttachRcp" and policy["Properties"]["Type"] == "RESOURCE_CONTROL_POLICY"
    assert policy["Properties"]["Name"] == DELETION_RCP and template["Parameters"]["RcpTargetIds"]["Default"] == ""
    assert json.loads(policy["Properties"]["Content"]) == rcp()


# ------------------------------------------------- one SCP and the RCP: a slot freed, nothing lost
def layouts(layout: str, **options) -> tuple[list[dict], list[dict]]:
    """(SCPs, RCPs) attached to an account in ``layout`` of the guardrails template."""
    from stacks.guardrails import GUARDRAILS_SCP, PROTECTION_SCP, PROTECTION_WITH_RCP, render_scp

    o = GuardrailOptions(**options)
    scp = lambda name: json.loads(render_scp(o, name))  # noqa: E731
    if layout == "two SCPs":
        return [FULL_AWS_ACCESS, scp(GUARDRAILS_SCP), scp(PROTECTION_SCP)], []
    return [FULL_AWS_ACCESS, scp(PROTECTION_WITH_RCP)], [RCP_FULL_AWS_ACCESS, rcp(**options)]


def in_account_decision(case: tuple, layout: str) -> str:
    options, action, resource, context = case[1:5]
    scps, rcps = layouts(layout, **options)
    principal = context["aws:PrincipalArn"]
    keys = {"aws:PrincipalAccount": principal.split(":")[4], "aws:ResourceAccount": ACCOUNT, **context}
    return evaluate(Request(action, resource, principal, keys), identity_policies=[FULL_AWS_ACCESS],
                    scps=scps, rcps=rcps)


def guardrail_cases() -> list[tuple]:
    from tests.stacks.test_guardrails import CASES

    return CASES


@pytest.mark.parametrize("case", guardrail_cases(), ids=[c[0] for c in guardrail_cases()])
def test_one_scp_and_the_rcp_decide_every_guardrail_case_as_the_two_scps(case: tuple) -> None:
    """Every request of the guardrails' table, made in the account (the case the SCPs were made for):
    allowed or denied alike in both layouts, so moving the deletion controls to the RCP loses nothing.
    Where the case's build options make the one SCP too long, the build does not offer it."""
    from stacks.guardrails import merged_scp_fits

    two = in_account_decision(case, "two SCPs")
    assert two == (EXPLICIT_DENY if case[5] else ALLOW)  # the table's own expectation, not vacuous
    if not merged_scp_fits(GuardrailOptions(**case[1])):
        assert "deletion-alarms-protection-scp-with-rcp.json" not in render_all(GuardrailOptions(**case[1]))
        return
    assert in_account_decision(case, "one SCP and the RCP") == two


def test_the_one_scp_layout_frees_a_slot_and_fits_with_the_default_options() -> None:
    from stacks.distribution import PROTECTION_WITH_RCP_FILE

    rendered = render_all()
    assert len(rendered[PROTECTION_WITH_RCP_FILE].rstrip("\n")) <= 5120
    scps, _ = layouts("one SCP and the RCP")
    assert len(scps) - 1 == 1  # beside FullAWSAccess: one slot of the five, where the default takes two


def test_the_guardrails_template_attaches_one_scp_and_the_rcp_to_the_targets_when_asked() -> None:
    from stacks.distribution import PROTECTION_WITH_RCP_FILE
    from tests.helpers import ConditionEvaluator

    template = json.loads(json.dumps(make_guardrails_template(GuardrailOptions()).to_dict()))
    params = {"TargetIds": "ou-ab12-11111111", "RcpTargetIds": "", "DeletionControls": "ResourceControlPolicy"}
    evaluator = ConditionEvaluator(template, params)
    resources = evaluator.resolved_template()["Resources"]
    assert set(resources) == {"ProductProtectionPolicy", "DeletionGuardrailsRcp"}
    assert resources["ProductProtectionPolicy"]["Properties"]["Content"] == render_all()[PROTECTION_WITH_RCP_FILE].rstrip("\n")
    assert resources["DeletionGuardrailsRcp"]["Properties"]["TargetIds"] == {"Ref": "TargetIds"}
    assert evaluator.failed_rules() == []
    # The RCP on other targets than the SCP would leave TargetIds without the deletion controls.
    assert ConditionEvaluator(template, {**params, "RcpTargetIds": "r-ab12"}).failed_rules() != []
    default = ConditionEvaluator(template, {**params, "DeletionControls": "ServiceControlPolicy"}).resolved_template()
    assert set(default["Resources"]) == {"DeletionGuardrailsPolicy", "ProductProtectionPolicy"}


def test_with_too_many_exemptions_for_one_scp_only_the_two_scps_are_offered(tmp_path) -> None:
    from stacks.distribution import PROTECTION_WITH_RCP_FILE
    from stacks.guardrails import merged_scp_fits

    many = (f"arn:aws:iam::{ACCOUNT}:role/BreakGlass",)
    assert not merged_scp_fits(GuardrailOptions(break_glass_arns=many))
    rendered = render_all(GuardrailOptions(break_glass_arns=many))
    assert PROTECTION_WITH_RCP_FILE not in rendered
    template = json.loads(rendered["deletion-guardrails.json"])
    assert template["Parameters"]["DeletionControls"]["AllowedValues"] == ["ServiceControlPolicy"]
