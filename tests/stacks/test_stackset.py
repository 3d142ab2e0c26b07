"""The StackSet template, and the StackSet safety of the workload template."""

from __future__ import annotations

import json

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
            assert lid in ("CollectorForwardingRole", "NotifierRole", "AutoCancelAutomationRole", "AutoCancelEventsRole") and "RoleName" not in resource["Properties"], lid


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
