"""Deploying, updating and deleting the product works with the SCPs attached, by each documented
path: every permission of every handler (create, update, delete) of every resource, from the
CloudFormation provider schemas, is evaluated against both SCPs for the principal that path uses,
with the protection tag present (the worst case: the handlers set it first). A person's own
credentials are not a path: the same evaluation shows where they are denied."""

from __future__ import annotations

import json

import pytest

from stacks.distribution import COLLECTOR_FILE, WORKLOAD_FILE, render_all
from stacks.guardrails import PROTECTED_TAG_KEY, SCP_NAMES, GuardrailOptions, render_scp
from stacks.servicecatalog import HANDLERS, handler_permissions
from tests.iam_evaluator import EXPLICIT_DENY, FULL_AWS_ACCESS, Request, evaluate

ACCOUNT = "111122223333"
PIPELINE = f"arn:aws:iam::{ACCOUNT}:role/cfn-deployer"
PATHS = {
    # StackSets with service-managed permissions run as stacksets-exec-<id>; self-managed as
    # AWSCloudFormationStackSetExecutionRole; Service Catalog as the launch role under /deletion-alarms/.
    "service-managed StackSets": (f"arn:aws:iam::{ACCOUNT}:role/stacksets-exec-0123456789abcdef", GuardrailOptions()),
    "self-managed StackSets": (f"arn:aws:iam::{ACCOUNT}:role/AWSCloudFormationStackSetExecutionRole",
                               GuardrailOptions()),
    "Service Catalog": (f"arn:aws:iam::{ACCOUNT}:role/deletion-alarms/SC-LaunchRole-1A2B", GuardrailOptions()),
    # A portfolio shared through AWS Organizations: the role of dist/deletion-alarms-launch-role.json.
    "Service Catalog, shared portfolio": (f"arn:aws:iam::{ACCOUNT}:role/deletion-alarms-launch", GuardrailOptions()),
    # One account or the collector: a CloudFormation service role (--role-arn) named in the build.
    "a CloudFormation service role": (PIPELINE, GuardrailOptions(
        deploy_role_arns=GuardrailOptions().deploy_role_arns + (PIPELINE,))),
}


def calls(file: str) -> list[tuple[str, str, str]]:
    """(resource, handler, permission) of every handler call the template's resources make."""
    template = json.loads(render_all()[file])
    out = []
    for logical_id, resource in template["Resources"].items():
        permissions = handler_permissions(resource["Type"])
        for handler in HANDLERS:
            out += [(logical_id, handler, p) for p in sorted(permissions[handler])]
    return out


def denials(principal: str, options: GuardrailOptions, file: str, via_cloudformation: bool) -> list[str]:
    scps = [FULL_AWS_ACCESS, *(json.loads(render_scp(options, name)) for name in SCP_NAMES)]
    context = {"aws:PrincipalArn": principal, f"aws:ResourceTag/{PROTECTED_TAG_KEY}": "true",
               "aws:TagKeys": [PROTECTED_TAG_KEY]}
    if via_cloudformation:
        context["aws:CalledVia"] = ["cloudformation.amazonaws.com"]
    found = []
    for logical_id, handler, permission in calls(file):
        service = permission.split(":")[0]
        request = Request(permission, f"arn:aws:{service}:us-east-1:{ACCOUNT}:deletion-alarms-{logical_id}",
                          principal, context)
        if evaluate(request, identity_policies=[FULL_AWS_ACCESS], scps=scps) == EXPLICIT_DENY:
            found.append(f"{logical_id} {handler} {permission}")
    return found


@pytest.mark.parametrize("file", [WORKLOAD_FILE, COLLECTOR_FILE])
@pytest.mark.parametrize("path", sorted(PATHS))
def test_every_handler_call_of_a_documented_path_is_allowed(path: str, file: str) -> None:
    principal, options = PATHS[path]
    assert len(calls(file)) > 100  # not vacuous
    assert denials(principal, options, file, via_cloudformation=False) == []


def test_a_persons_own_credentials_are_denied_where_the_tag_is_set_and_changed() -> None:
    """Why the README names deploy roles: CloudFormation with an administrator's credentials may
    not set the protection tag, nor change what carries it."""
    found = denials(f"arn:aws:iam::{ACCOUNT}:role/Admin", GuardrailOptions(), WORKLOAD_FILE, via_cloudformation=True)
    assert any(f.startswith("AlertTopic create sns:TagResource") for f in found), found
    assert any(f.startswith("AlertEventQueue update sqs:SetQueueAttributes") for f in found), found
