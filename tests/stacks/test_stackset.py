"""The StackSet template, and the StackSet safety of the workload template."""

from __future__ import annotations

import copy
import json

import pytest

from stacks.distribution import STACKSET_FILE, WORKLOAD_FILE, lint_regions, render_all
from tests.helpers import resources_of_type

RENDERED = render_all()
TEMPLATE = json.loads(RENDERED[STACKSET_FILE])
WORKLOAD = json.loads(RENDERED[WORKLOAD_FILE])


def test_service_managed_with_automatic_deployment() -> None:
    (stack_set,) = resources_of_type(TEMPLATE, "AWS::CloudFormation::StackSet").values()
    props = stack_set["Properties"]
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": {"Ref": "RetainStacksOnAccountRemoval"}}
    assert props["TemplateURL"] == {"Ref": "TemplateUrl"}
    assert props["CallAs"] == {"Ref": "CallAs"}
    (group,) = props["StackInstancesGroup"]
    assert group == {"DeploymentTargets": {"OrganizationalUnitIds": {"Ref": "TargetOuIds"}},
                     "Regions": {"Ref": "TargetRegions"}}
    assert props["OperationPreferences"] == {"FailureTolerancePercentage": {"Ref": "FailureTolerancePercentage"},
                                             "MaxConcurrentPercentage": {"Ref": "MaxConcurrentPercentage"},
                                             "RegionConcurrencyType": "PARALLEL",
                                             # not one account at a time (STRICT with tolerance 0)
                                             "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE"}


def test_safe_defaults() -> None:
    p = TEMPLATE["Parameters"]
    assert p["FailureTolerancePercentage"]["Default"] == "0"  # stop at the first failure
    assert int(p["MaxConcurrentPercentage"]["Default"]) <= 25
    assert p["RetainStacksOnAccountRemoval"]["Default"] == "true"  # never lose alarms silently


def test_every_workload_parameter_and_rule_passes_through_unchanged() -> None:
    (stack_set,) = resources_of_type(TEMPLATE, "AWS::CloudFormation::StackSet").values()
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Properties"]["Parameters"]}
    assert passed == {name: {"Ref": name} for name in WORKLOAD["Parameters"]}
    for name, spec in WORKLOAD["Parameters"].items():
        assert TEMPLATE["Parameters"][name] == spec
    assert {k: v for k, v in TEMPLATE["Rules"].items()} == WORKLOAD["Rules"]


# Properties that give a resource a name that is unique per account (IAM: per account across
# every Region): a fixed value collides when a StackSet puts the workload in several Regions.
NAME_PROPERTIES = {"RoleName", "TopicName", "QueueName", "RuleName", "Name", "AlarmName", "AliasName",
                   "FilterName", "ManagedPolicyName", "UserName", "GroupName", "InstanceProfileName"}


def test_workload_is_stackset_safe() -> None:
    assert "Transform" not in WORKLOAD
    for lid, resource in WORKLOAD["Resources"].items():
        for prop in NAME_PROPERTIES & set(resource.get("Properties", {})):
            value = resource["Properties"][prop]
            assert isinstance(value, dict) and "${AWS::StackName}" in json.dumps(value), (lid, prop)
        if resource["Type"].startswith("AWS::IAM::"):  # the forwarding and notifier roles, unnamed
            assert lid in ("CollectorForwardingRole", "NotifierRole") and "RoleName" not in resource["Properties"], lid


def test_workload_and_stackset_lint_in_every_region() -> None:
    from cfnlint.helpers import REGIONS

    assert lint_regions(RENDERED[WORKLOAD_FILE]) == REGIONS
    assert lint_regions(RENDERED[STACKSET_FILE]) == REGIONS


def test_service_catalog_lints_wherever_service_catalog_exists() -> None:
    from cfnlint.helpers import REGIONS
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    from stacks.distribution import SERVICE_CATALOG_FILE

    regions = lint_regions(RENDERED[SERVICE_CATALOG_FILE])
    missing = set(REGIONS) - set(regions)
    assert len(regions) >= len(REGIONS) - 6
    for region in missing:  # left out only where AWS does not offer Service Catalog resources
        assert "AWS::ServiceCatalog::Portfolio" not in PROVIDER_SCHEMA_MANAGER.get_resource_types(region)


ROLE = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}}


@pytest.mark.parametrize(("resources", "extra", "expected"), [
    ({"Q": {"Type": "AWS::SQS::Queue"}}, {}, []),
    ({"R": ROLE}, {}, ["CAPABILITY_IAM"]),
    ({"R": {**ROLE, "Properties": {**ROLE["Properties"], "RoleName": "x"}}}, {}, ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]),
    ({"P": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"ManagedPolicyName": "p"}}}, {},
     ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]),
    ({"Q": {"Type": "AWS::SQS::Queue"}}, {"Transform": "AWS::Serverless-2016-10-31"}, ["CAPABILITY_AUTO_EXPAND"]),
    ({"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Fn::Transform": {"Name": "AWS::Include"}}}}, {},
     ["CAPABILITY_AUTO_EXPAND"]),
])
def test_capabilities_are_derived_from_the_template(resources, extra, expected) -> None:
    """CloudFormation user guide, acknowledging IAM resources and macros."""
    from stacks.stackset import required_capabilities

    assert required_capabilities({"Resources": resources, **extra}) == expected


def test_the_stack_set_and_the_command_ask_for_what_the_workload_needs() -> None:
    from deletion_alarms.publishing import capabilities
    from stacks.stackset import make_stackset_template, required_capabilities

    (stack_set,) = resources_of_type(TEMPLATE, "AWS::CloudFormation::StackSet").values()
    assert stack_set["Properties"]["Capabilities"] == required_capabilities(WORKLOAD) == capabilities()
    assert "CAPABILITY_IAM" in capabilities()  # the notifier's and the forwarding roles
    named = copy.deepcopy(WORKLOAD)  # a role given a name: the stack set must ask for NAMED_IAM
    named["Resources"]["NotifierRole"]["Properties"]["RoleName"] = "deletion-alarms-notifier"
    rendered = make_stackset_template(named).to_dict()
    (mutated,) = resources_of_type(rendered, "AWS::CloudFormation::StackSet").values()
    assert "CAPABILITY_NAMED_IAM" in mutated["Properties"]["Capabilities"]
