"""The Service Catalog portfolio template."""

from __future__ import annotations

import json
import re

import pytest

from functions import portfolio_share
from stacks.distribution import LAUNCH_ROLE_FILE, SERVICE_CATALOG_FILE, lint, render_all
from deletion_alarms.publishing import s3_url
from stacks.guardrails import SHARED_LAUNCH_ROLE_NAME, GuardrailOptions
from stacks.servicecatalog import (
    NOT_IN_REFERENCE, SHARE_FUNCTION_SOURCE, UNSCOPED_ACTIONS, UNSET_PROPERTY_PERMISSIONS,
)
from tests.helpers import ConcreteTemplate, ConditionEvaluator, parameter_values, resources_of_type
from tests.iam_evaluator import ALLOW, Request, evaluate, wildcard

TEMPLATE = json.loads(render_all()[SERVICE_CATALOG_FILE])
URL = s3_url("templates-111122223333", "eu-west-1", "deletion-alarms/0.1.0/0123456789abcdef/deletion-alarms.json")


def decided(**params: str) -> dict:
    """The Service Catalog template as CloudFormation acts on it with these parameters."""
    return ConditionEvaluator(TEMPLATE, parameter_values(TEMPLATE, TemplateUrl=URL, **params)).resolved_template()


SHARED = {"ShareWith": "o-a1b2c3d4e5,ou-ab12-11111111", "SharedPrincipalName": "PlatformEngineers"}


def test_portfolio_product_and_constraint() -> None:
    template = decided()
    types = sorted(r["Type"] for r in template["Resources"].values())
    assert types == sorted([
        "AWS::ServiceCatalog::Portfolio", "AWS::ServiceCatalog::CloudFormationProduct",
        "AWS::ServiceCatalog::PortfolioProductAssociation",
        "AWS::ServiceCatalog::LaunchRoleConstraint", "AWS::ServiceCatalog::LaunchTemplateConstraint",
        "AWS::IAM::Role"])
    (product,) = resources_of_type(template, "AWS::ServiceCatalog::CloudFormationProduct").values()
    (artifact,) = product["Properties"]["ProvisioningArtifactParameters"]
    assert artifact["Info"] == {"LoadTemplateFromURL": {"Ref": "TemplateUrl"}}
    assert artifact["Name"] == {"Ref": "ProductVersion"}
    (constraint,) = resources_of_type(template, "AWS::ServiceCatalog::LaunchRoleConstraint").values()
    assert constraint["Properties"]["RoleArn"] == {"Fn::GetAtt": ["LaunchRole", "Arn"]}
    assert "LocalRoleName" not in constraint["Properties"]
    assert constraint["DependsOn"] == "PortfolioProduct"  # a constraint needs the association
    for r in TEMPLATE["Resources"].values():
        if "Tags" in r.get("Properties", {}):
            assert {"Key": "Product", "Value": "deletion-alarms"} in r["Properties"]["Tags"]


# ------------------------------------------------------------- shared through AWS Organizations
def test_a_shared_portfolio_launches_with_the_launch_role_template_role_of_each_account() -> None:
    template = decided(**SHARED)
    resources = template["Resources"]
    assert "LaunchRole" not in resources and "LaunchRoleArn" not in template["Outputs"]
    constraint = resources["LaunchConstraint"]["Properties"]
    assert "RoleArn" not in constraint
    launch_role_template = json.loads(render_all()[LAUNCH_ROLE_FILE])
    (role,) = launch_role_template["Resources"].values()
    # The name the constraint gives is the role the launch role template creates in each account ...
    assert constraint["LocalRoleName"] == role["Properties"]["RoleName"] == SHARED_LAUNCH_ROLE_NAME
    assert "Path" not in role["Properties"]
    # ... with the same permissions and trust as the portfolio's own launch role.
    own = TEMPLATE["Resources"]["LaunchRole"]["Properties"]
    assert role["Properties"]["Policies"] == own["Policies"]
    assert role["Properties"]["AssumeRolePolicyDocument"] == own["AssumeRolePolicyDocument"]
    # ... and a deploy role of the guardrail SCP, whose exemption matches it by name.
    arn = f"arn:aws:iam::{ACCOUNT}:role/{SHARED_LAUNCH_ROLE_NAME}"
    assert any(wildcard(p.replace("arn:*:", "arn:aws:"), arn) for p in GuardrailOptions().deploy_role_arns)


def test_a_shared_portfolio_is_shared_after_its_product_and_constraints_with_principal_names() -> None:
    resources = decided(**SHARED)["Resources"]
    share = resources["PortfolioOrganizationShare"]
    assert share["Type"] == "AWS::CloudFormation::CustomResource"
    assert share["Properties"]["OrganizationNodes"] == {"Ref": "ShareWith"}
    assert share["Properties"]["SharePrincipals"] == "true"
    # A recipient never sees the product without its launch and template constraints.
    assert set(share["DependsOn"]) == {"PortfolioProduct", "LaunchConstraint", "EndUserConstraint"}
    function = resources["ShareFunction"]["Properties"]
    assert function["Code"]["ZipFile"] == SHARE_FUNCTION_SOURCE.read_text()
    # The function answers before Lambda's timeout; CloudFormation waits a little longer than that.
    assert function["Timeout"] == 900 < share["Properties"]["ServiceTimeout"] <= 3600
    assert portfolio_share.ANSWER_SECONDS + portfolio_share.POLL_SECONDS < function["Timeout"]
    principal = resources["PortfolioSharedPrincipal"]["Properties"]
    assert principal["PrincipalType"] == "IAM_PATTERN"
    arn = ConcreteTemplate(TEMPLATE, SHARED, {}).value(principal["PrincipalARN"])
    assert arn == "arn:aws:iam:::role/PlatformEngineers"
    assert re.fullmatch(TEMPLATE["Parameters"]["SharedPrincipalName"]["AllowedPattern"],
                        "aws-reserved/sso.amazonaws.com/AWSReservedSSO_PlatformEngineers_*")


def test_an_unshared_portfolio_creates_nothing_of_the_share() -> None:
    resources = decided()["Resources"]
    assert not {"PortfolioOrganizationShare", "ShareFunction", "ShareFunctionRole", "PortfolioSharedPrincipal"} & set(resources)


@pytest.mark.parametrize("params", [{}, SHARED, {"ShareWith": "ou-ab12-11111111"}], ids=["own", "shared", "no-principal"])
def test_each_decided_configuration_lints_clean_with_no_check_ignored(params: dict) -> None:
    """The launch constraint's Fn::If between RoleArn and LocalRoleName is beyond cfn-lint, which the
    template tells to ignore E3003 and E3018 there: decided, each configuration passes them."""
    template = decided(**params)
    for resource in template["Resources"].values():
        resource.pop("Metadata", None)
    # (warnings left out: a decided template no longer uses the parameters of what it dropped)
    assert [f for f in lint(json.dumps(template)) if f.startswith("E")] == []


def share_function_request(action: str, resource: str) -> str:
    (policy,) = TEMPLATE["Resources"]["ShareFunctionRole"]["Properties"]["Policies"]
    document = ConcreteTemplate(TEMPLATE, {"AWS::AccountId": ACCOUNT}, {"Portfolio": {"Ref": "port-abcdefghijklm"}}
                                ).value(policy["PolicyDocument"])
    role = f"arn:aws:iam::{ACCOUNT}:role/deletion-alarms-portfolio-ShareFunctionRole-1A2B"
    return evaluate(Request(action, resource, role), identity_policies=[document])


PORTFOLIO_ARN = "arn:aws:catalog:us-east-1:111122223333:portfolio/port-abcdefghijklm"


@pytest.mark.parametrize(("action", "resource", "allowed"), [
    ("servicecatalog:CreatePortfolioShare", PORTFOLIO_ARN, True),
    ("servicecatalog:DeletePortfolioShare", PORTFOLIO_ARN, True),
    ("servicecatalog:UpdatePortfolioShare", PORTFOLIO_ARN, True),
    ("servicecatalog:DescribePortfolioShares", PORTFOLIO_ARN, True),
    ("servicecatalog:DescribePortfolioShareStatus", "*", True),
    # Not another portfolio, and nothing that changes what the portfolio holds or who launches it.
    ("servicecatalog:CreatePortfolioShare", "arn:aws:catalog:us-east-1:111122223333:portfolio/port-other0000000", False),
    ("servicecatalog:AssociatePrincipalWithPortfolio", PORTFOLIO_ARN, False),
    ("servicecatalog:CreateConstraint", "*", False),
    ("organizations:DescribeOrganization", "*", False),
])
def test_the_share_function_may_share_its_portfolio_and_nothing_else(action: str, resource: str, allowed: bool) -> None:
    assert (share_function_request(action, resource) == ALLOW) is allowed


def test_the_share_functions_actions_take_the_resource_types_the_reference_gives() -> None:
    """Scoped to the portfolio where the Service Authorization Reference gives the action the
    Portfolio resource type; "*" only for DescribePortfolioShareStatus, which has none."""
    (policy,) = TEMPLATE["Resources"]["ShareFunctionRole"]["Properties"]["Policies"]
    for statement in policy["PolicyDocument"]["Statement"]:
        for action in statement["Action"]:
            service, name = action.split(":")
            if service != "servicecatalog":
                continue
            types = {r["resource_type"] for r in SAR["servicecatalog"][name.lower()]["resource_types"]}
            assert (statement["Resource"] == ["*"]) is (types == {""}), action


def test_principal_association_only_when_given() -> None:
    assoc = TEMPLATE["Resources"]["PortfolioPrincipal"]
    for value, created in (("", False), ("arn:aws:iam::111122223333:role/Developers", True)):
        evaluator = ConditionEvaluator(TEMPLATE, {"PrincipalArn": value})
        assert evaluator.condition(assoc["Condition"]) is created


@pytest.mark.parametrize(("url", "ok"), [
    (URL, True),
    ("https://templates.s3.amazonaws.com/deletion-alarms.json", True),
    ("http://templates.s3.eu-west-1.amazonaws.com/deletion-alarms.json", False),
    ("https://example.com/deletion-alarms.json", False),
    ("https://templates.s3.eu-west-1.amazonaws.com/deletion-alarms.yaml", False),
])
def test_template_url_is_an_s3_https_url(url: str, ok: bool) -> None:
    assert bool(re.fullmatch(TEMPLATE["Parameters"]["TemplateUrl"]["AllowedPattern"], url)) is ok


def test_launch_role_has_no_name_and_is_assumed_by_service_catalog() -> None:
    role = TEMPLATE["Resources"]["LaunchRole"]
    assert "RoleName" not in role["Properties"]  # IAM names are global: no collision across Regions
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "servicecatalog.amazonaws.com"},
                      "Action": ["sts:AssumeRole"]}]


# ----------------------------------------------------- what CloudFormation's handlers call, allowed
ACCOUNT = "111122223333"
STACK = f"SC-{ACCOUNT}-pp-abcdefghijklm"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-LaunchRole-1A2B3C"
SAR = {service["prefix"]: {p["privilege"].lower(): p for p in service["privileges"]}
       for service in __import__("parliament").iam_definition}
# A resource of each type as a launched product names it (CloudFormation names them after the stack).
SAMPLE_ARNS = {
    "alarm": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{STACK}-KmsKeyPendingDeletionUseRule",
    "rule-on-default-event-bus": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{STACK}-SecretDeletionRule-1A2B",
    "role": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-ForwardingRole-1A2B",
    "key": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "alias": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/{STACK}-alerts",
    "log-group": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-cloudtrail-logs-{ACCOUNT}",
    "topic": f"arn:aws:sns:us-east-1:{ACCOUNT}:{STACK}-AlertTopic-1A2B",
    "queue": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{STACK}-AlertEventQueue-1A2B",
    "table": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{STACK}-NotifierClaimTable-1A2B",
    "function": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{STACK}-NotifierFunction-1A2B",
    "eventSourceMapping": f"arn:aws:lambda:us-east-1:{ACCOUNT}:event-source-mapping:1a2b3c4d-5678-90ab-cdef-1234567890ab",
    "log-stream": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{STACK}-NotifierFunction-1A2B:log-stream:x",
    "import": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{STACK}-NotifierClaimTable-1A2B/import/01234567",
    "code signing config": f"arn:aws:lambda:us-east-1:{ACCOUNT}:code-signing-config:csc-0123456789abcdef0",
    "layerVersion": f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:{STACK}-layer:1",
    "dynamodb:stream": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{STACK}-NotifierClaimTable-1A2B/stream/2026",
    # properties the workload never sets (stream destinations, file systems, code from S3)
    "stream": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{STACK}-stream",
    "file-system": f"arn:aws:elasticfilesystem:us-east-1:{ACCOUNT}:file-system/{STACK}-fs",
    "object": f"arn:aws:s3:::{STACK.lower()}/code.zip",
    "bucket": f"arn:aws:s3:::{STACK.lower()}/x",
}
CONTEXT = {"kms:CreateKey": {"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyUsage": "ENCRYPT_DECRYPT"},
           "iam:PassRole": {"iam:PassedToService": "events.amazonaws.com"}}
WORKLOAD = json.loads(render_all()["deletion-alarms.json"])


def launch_policy() -> dict:
    (policy,) = TEMPLATE["Resources"]["LaunchRole"]["Properties"]["Policies"]
    return ConditionEvaluator(TEMPLATE, {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT}).value(
        _subs(policy["PolicyDocument"]))


def _subs(node):
    """Fn::Sub with pseudo parameters only, rendered (the evaluator needs plain strings)."""
    if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
        return node["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", ACCOUNT)
    if isinstance(node, dict):
        return {k: _subs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_subs(v) for v in node]
    return node


def needed_by_the_schemas(template: dict) -> dict[str, set[str]]:
    """Action -> the resource types (and handlers) that need it, read afresh from the schemas;
    a resource retained on deletion and replacement never runs its delete handler."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    needed: dict[str, set[str]] = {}
    for resource in template["Resources"].values():
        handlers = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource["Type"]).schema["handlers"]
        retained = resource.get("DeletionPolicy") == resource.get("UpdateReplacePolicy") == "Retain"
        for handler in ("create", "read", "update") + (() if retained else ("delete",)):
            for action in handlers.get(handler, {}).get("permissions", []):
                if iam_knows(action):
                    needed.setdefault(action, set()).add(f"{resource['Type']} {handler}")
    return needed


def iam_knows(action: str) -> bool:
    """cfn-lint's IAM action list: a schema permission IAM does not know cannot be granted."""
    from pathlib import Path

    import cfnlint

    service, name = action.split(":")
    actions = json.loads((Path(cfnlint.__file__).parent / "data/AdditionalSpecs/Policies.json").read_text())
    return name.lower() in actions.get(service, {}).get("Actions", {})


def resources_for(action: str) -> list[str]:
    """The resources IAM checks for ``action``: "*" when the Service Authorization Reference gives
    it no resource type, else a product resource of each required type it names."""
    service, name = action.split(":")
    if name.lower() not in SAR.get(service, {}):  # newer than the reference: the product's resources
        return [a for t, a in SAMPLE_ARNS.items() if a.split(":")[2] == service][:1] or [
            f"arn:aws:{service}:us-east-1:{ACCOUNT}:x/{STACK}"]
    types = [t["resource_type"] for t in SAR[service][name.lower()]["resource_types"]]
    required = [t.rstrip("*") for t in types if t.endswith("*")]
    named = [t for t in types if t]
    if not named:
        return ["*"]
    chosen = required or [t for t in named if t in SAMPLE_ARNS][:1]
    return [SAMPLE_ARNS.get(f"{service}:{t}", SAMPLE_ARNS[t]) for t in chosen]


NEEDED = needed_by_the_schemas(WORKLOAD)


@pytest.mark.parametrize("action", sorted(NEEDED))
def test_launch_role_allows_every_handler_permission(action: str) -> None:
    for resource in resources_for(action):
        call = Request(action, resource, ROLE, CONTEXT.get(action, {}))
        assert evaluate(call, identity_policies=[launch_policy()]) == ALLOW, (resource, NEEDED[action])


def test_launch_role_allows_nothing_else() -> None:
    granted = {a for s in launch_policy()["Statement"] for a in s["Action"]}
    assert not any("*" in a for a in granted)
    stack_management = {a for a in granted if a.startswith("cloudformation:")} | {"s3:GetObject"}
    assert "s3:GetObject" in NEEDED  # Lambda's create handler (code from S3): the tagged copy grant
    assert granted - stack_management == set(NEEDED) - {"s3:GetObject"}
    # kept resources (the topic key, the queues) are never deleted by CloudFormation
    assert "kms:ScheduleKeyDeletion" not in granted and "sqs:DeleteQueue" not in granted


def scoping_problems(policy: dict) -> list[str]:
    """Granted actions that reach another team's resource of the same type (a name that is not the
    launched product's): each scoped grant stops at the product's names. Keys (random IDs) and the
    trail's log group (a parameter) cannot be told apart by name: they are the documented exceptions."""
    problems = []
    for action in sorted(NEEDED):
        for resource in resources_for(action):
            if STACK not in resource or action.startswith("logs:"):
                continue  # "*" (no resource type), a key ID, or log groups (granted on log-group:*, for the trail's)
            foreign = resource.replace(STACK, "payments-prod")
            call = Request(action, foreign, ROLE, CONTEXT.get(action, {}))
            if evaluate(call, identity_policies=[policy]) == ALLOW:
                problems.append(f"{action} on {foreign}")
    return problems


def test_launch_role_stops_at_the_products_resources() -> None:
    assert scoping_problems(launch_policy()) == []


def test_the_scoping_proof_fails_on_a_grant_to_every_resource() -> None:
    import copy

    policy = copy.deepcopy(launch_policy())
    for statement in policy["Statement"]:
        statement["Resource"] = ["*"]
    problems = scoping_problems(policy)
    assert any(p.startswith("iam:") for p in problems) and any(p.startswith("lambda:") for p in problems), problems


def test_the_schemas_cover_every_resource_type() -> None:
    """A new resource type cannot be forgotten: each one's handlers contribute permissions."""
    for kind in {r["Type"] for r in WORKLOAD["Resources"].values()}:
        assert any(kind in " ".join(sorted(v)) for v in NEEDED.values()), kind


def test_actions_unknown_to_the_reference_are_exactly_those_listed() -> None:
    unknown = {a for a in NEEDED if a.split(":")[1].lower() not in SAR.get(a.split(":")[0], {})}
    assert unknown == set(NOT_IN_REFERENCE)


def test_unscoped_actions_are_exactly_those_without_resource_types() -> None:
    without = {a for a in NEEDED if resources_for(a) == ["*"]}
    assert without == set(UNSCOPED_ACTIONS) & set(NEEDED)


def test_permissions_of_unset_properties_belong_to_properties_the_workload_never_sets() -> None:
    for action, properties in UNSET_PROPERTY_PERMISSIONS.items():
        assert action in NEEDED
        for entry in properties:
            kind, prop = entry.split(" ", 1)
            top = prop.split(" ")[0]
            for resource in resources_of_type(WORKLOAD, kind).values():
                value = resource.get("Properties", {}).get(top)
                if prop.endswith("RoleArn") and top == "Targets":
                    assert all("RoleArn" not in t for t in value), entry
                elif top == "Enabled":
                    assert value in (None, True), entry
                else:
                    assert value is None, entry


def test_service_catalogs_template_copy_is_readable_and_nothing_else_in_s3() -> None:
    copy = "arn:aws:s3:::cf-templates-sc-1a2b3c-us-east-1/provisioning/deletion-alarms.json"
    tagged = {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}
    assert evaluate(Request("s3:GetObject", copy, ROLE, tagged), identity_policies=[launch_policy()]) == ALLOW
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::payroll/2026.csv", ROLE, {}),
                    identity_policies=[launch_policy()]) != ALLOW


def test_a_missing_permission_fails_the_proof() -> None:
    """Mutation: drop sns:GetSubscriptionAttributes (the first release lacked it)."""
    policy = launch_policy()
    for statement in policy["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "sns:GetSubscriptionAttributes"]
    call = Request("sns:GetSubscriptionAttributes", "*", ROLE)
    assert evaluate(call, identity_policies=[policy]) != ALLOW


def end_user_failures(required_email: str = "", required_bus: str = "", **params: str) -> list[str]:
    """The template constraint's Rules as deployed (the administrator's choices substituted),
    evaluated on the parameter values an end user gives."""
    from stacks.servicecatalog import end_user_rules
    from tests.helpers import ConditionEvaluator, parameter_values

    text = json.dumps(end_user_rules()).replace("${RequiredEmail}", required_email).replace(
        "${RequiredBus}", required_bus)
    workload = json.loads(render_all()["deletion-alarms.json"])
    values = parameter_values(workload, **{"NotificationEmail": "team@example.com", **params})
    return [f.split(":")[0] for f in ConditionEvaluator({"Rules": json.loads(text), "Resources": {}},
                                                        values).failed_rules()]


@pytest.mark.parametrize(("required", "params", "failing"), [
    ({}, {}, []),
    ({}, {"DetectionEngine": "Both", "CloudTrailLogGroupName": "aws-cloudtrail-logs"}, []),
    ({}, {"KmsKeyMonitoring": "Disabled"}, ["EveryDetectionStaysOn"]),
    ({}, {"SecretMonitoring": "Disabled"}, ["EveryDetectionStaysOn"]),
    ({}, {"DetectionMode": "AccessOnly"}, ["EveryDetectionStaysOn"]),
    ({}, {"DetectionEngine": "CloudWatchLogs", "CloudTrailLogGroupName": "x"}, ["EveryDetectionStaysOn"]),
    ({}, {"ExpectedDeleterArns": "arn:aws:iam::*:*"}, ["NobodyIsExempt"]),
    ({"required_email": "team@example.com"}, {}, []),
    ({"required_email": "team@example.com"}, {"NotificationEmail": "me@example.com"},
     ["AlertsGoWhereTheAdministratorsSay"]),
    ({"required_email": "team@example.com"}, {"NotificationEmail": "",  # a topic of the user's own
                                              "ExistingTopicArn": "arn:aws:sns:us-east-1:111122223333:mine"},
     ["AlertsGoWhereTheAdministratorsSay"]),
    ({}, {"CollectorEventBusArn": "arn:aws:events:us-east-1:444455556666:event-bus/mine", "NotificationEmail": ""},
     ["AlertsGoWhereTheAdministratorsSay"]),
    ({"required_bus": "arn:aws:events:eu-west-1:444455556666:event-bus/deletion-alarms-collector"},
     {"CollectorEventBusArn": "arn:aws:events:eu-west-1:444455556666:event-bus/deletion-alarms-collector",
      "NotificationEmail": ""}, []),
])
def test_end_users_cannot_silence_the_product(required, params, failing) -> None:
    assert end_user_failures(**required, **params) == failing


def test_the_template_constraint_carries_the_rules() -> None:
    template = json.loads(render_all()["deletion-alarms-service-catalog.json"])
    constraint = template["Resources"]["EndUserConstraint"]
    assert constraint["Type"] == "AWS::ServiceCatalog::LaunchTemplateConstraint"
    text, variables = constraint["Properties"]["Rules"]["Fn::Sub"]
    assert json.loads(text) == json.loads(json.dumps(__import__("stacks.servicecatalog").servicecatalog.end_user_rules(),
                                                     sort_keys=True))
    assert variables == {"RequiredEmail": {"Ref": "RequiredNotificationEmail"},
                         "RequiredBus": {"Ref": "RequiredCollectorEventBusArn"}}
