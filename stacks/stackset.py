"""The StackSet template for the management or delegated administrator account: the workload in
every account of the target OUs and in every target Region, with the workload's parameters passed
through and new accounts covered as they join."""

from __future__ import annotations

import json

import copy
from typing import Any

from troposphere import Output, Parameter, Ref, Template
from troposphere.cloudformation import (
    AutoDeployment, DeploymentTargets, OperationPreferences, StackInstances, StackSet,
)
from troposphere.cloudformation import Parameter as StackSetParameter

from stacks.guardrails import protected_tags
from stacks.servicecatalog import TEMPLATE_URL_PATTERN

GROUP = "Rollout"


# IAM resource properties that name the resource: with one, CloudFormation asks for CAPABILITY_NAMED_IAM
# (CloudFormation user guide, "Acknowledging IAM resources in CloudFormation templates").
IAM_NAME_PROPERTIES = ("RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName")


def required_capabilities(template: dict[str, Any]) -> list[str]:
    """The capabilities CloudFormation requires to deploy ``template``: CAPABILITY_IAM for any IAM
    resource, CAPABILITY_NAMED_IAM when one has a custom name, CAPABILITY_AUTO_EXPAND for a macro
    (a Transform, or Fn::Transform anywhere). Derived from the template, not written by hand."""
    iam = [r for r in template.get("Resources", {}).values() if r.get("Type", "").startswith("AWS::IAM::")]
    named = any(name in r.get("Properties", {}) for r in iam for name in IAM_NAME_PROPERTIES)
    needed = (["CAPABILITY_IAM"] if iam else []) + (["CAPABILITY_NAMED_IAM"] if named else [])
    if "Transform" in template or "Fn::Transform" in json.dumps(template):
        needed.append("CAPABILITY_AUTO_EXPAND")
    return needed


def make_stackset_template(workload: dict[str, Any]) -> Template:
    """The StackSet template; ``workload`` is the rendered workload template, whose parameters
    (with their constraints, labels and Rules) are passed through unchanged."""
    t = Template(Description="Deletion alarms: the workload in every account of the target OUs and Regions")
    t.set_version("2010-09-09")

    def param(name: str, label: str, **props: object) -> Parameter:
        p = t.add_parameter(Parameter(name, **props))
        t.add_parameter_to_group(p, GROUP)
        t.set_parameter_label(p, label)
        return p

    url = param("TemplateUrl", "Workload template URL", Type="String",
                Description="https URL of dist/deletion-alarms.json in S3, as printed by 'deletion-alarms publish'.",
                AllowedPattern=TEMPLATE_URL_PATTERN, ConstraintDescription="must be an https S3 URL of a .json template")
    ous = param("TargetOuIds", "Target OU IDs", Type="CommaDelimitedList",
                Description="Organizational units (ou-...) or the root (r-...) whose accounts get the workload, "
                            "including accounts that join later. The management account is never included.")
    regions = param("TargetRegions", "Target Regions", Type="CommaDelimitedList",
                    Description="Regions to deploy to, e.g. us-east-1,eu-west-1. With DetectionEngine "
                                "EventBridge (the default) every Region works.")
    tolerance = param("FailureTolerancePercentage", "Failure tolerance (%)", Type="Number", Default="0",
                      MinValue=0, MaxValue=100,
                      Description="Share of accounts per Region that may fail before CloudFormation stops "
                                  "the operation in that Region. 0 stops at the first failure.")
    concurrency = param("MaxConcurrentPercentage", "Maximum concurrent accounts (%)", Type="Number",
                        Default="25", MinValue=1, MaxValue=100,
                        Description="Share of accounts deployed at the same time.")
    retain = param("RetainStacksOnAccountRemoval", "Keep stacks when an account leaves", Type="String",
                   Default="true", AllowedValues=["true", "false"],
                   Description="true: an account that leaves the target OUs keeps its alarms.")
    call_as = param("CallAs", "Call as", Type="String", Default="SELF", AllowedValues=["SELF", "DELEGATED_ADMIN"],
                    Description="SELF in the management account, DELEGATED_ADMIN in a delegated administrator account.")

    # The workload's own parameters, constraints, console labels and Rules, unchanged.
    interface = workload["Metadata"]["AWS::CloudFormation::Interface"]
    labels = interface["ParameterLabels"]
    passed = []
    for group in interface["ParameterGroups"]:
        for name in group["Parameters"]:
            spec = copy.deepcopy(workload["Parameters"][name])
            p = t.add_parameter(Parameter(name, **spec))
            t.add_parameter_to_group(p, f"Workload: {group['Label']['default']}")
            t.set_parameter_label(p, labels[name]["default"])
            passed.append(StackSetParameter(ParameterKey=name, ParameterValue=Ref(p)))
    for name, rule in workload.get("Rules", {}).items():
        t.add_rule(name, copy.deepcopy(rule))

    stackset = t.add_resource(StackSet(
        "WorkloadStackSet",
        StackSetName="deletion-alarms",
        Description="Alerts when a KMS key or Secrets Manager secret is about to be lost",
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment=AutoDeployment(Enabled=True, RetainStacksOnAccountRemoval=Ref(retain)),
        CallAs=Ref(call_as),
        TemplateURL=Ref(url),
        Parameters=passed,
        # Reaches every stack instance and its resources: the guardrail SCP protects them by tag.
        Tags=protected_tags(),
        Capabilities=required_capabilities(workload),
        OperationPreferences=OperationPreferences(
            FailureTolerancePercentage=Ref(tolerance),
            MaxConcurrentPercentage=Ref(concurrency),
            RegionConcurrencyType="PARALLEL",
            # With the default STRICT_FAILURE_TOLERANCE, concurrency is capped at the failure
            # tolerance + 1: one account at a time for a tolerance of 0.
            ConcurrencyMode="SOFT_FAILURE_TOLERANCE",
        ),
        StackInstancesGroup=[StackInstances(
            DeploymentTargets=DeploymentTargets(OrganizationalUnitIds=Ref(ous)),
            Regions=Ref(regions),
        )],
    ))
    t.add_output(Output("StackSetId", Value=Ref(stackset)))
    return t
