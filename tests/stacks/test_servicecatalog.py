"""The Service Catalog portfolio template."""

from __future__ import annotations

import json
import re

import pytest

from stacks.distribution import SERVICE_CATALOG_FILE, render_all
from deletion_alarms.publishing import s3_url
from tests.helpers import ConditionEvaluator, resources_of_type

TEMPLATE = json.loads(render_all()[SERVICE_CATALOG_FILE])
URL = s3_url("templates-111122223333", "eu-west-1", "deletion-alarms/0.1.0/0123456789abcdef/deletion-alarms.json")


def test_portfolio_product_and_constraint() -> None:
    types = sorted(r["Type"] for r in TEMPLATE["Resources"].values())
    assert types == sorted([
        "AWS::ServiceCatalog::Portfolio", "AWS::ServiceCatalog::CloudFormationProduct",
        "AWS::ServiceCatalog::PortfolioProductAssociation", "AWS::ServiceCatalog::PortfolioPrincipalAssociation",
        "AWS::ServiceCatalog::LaunchRoleConstraint", "AWS::IAM::Role"])
    (product,) = resources_of_type(TEMPLATE, "AWS::ServiceCatalog::CloudFormationProduct").values()
    (artifact,) = product["Properties"]["ProvisioningArtifactParameters"]
    assert artifact["Info"] == {"LoadTemplateFromURL": {"Ref": "TemplateUrl"}}
    assert artifact["Name"] == {"Ref": "ProductVersion"}
    (constraint,) = resources_of_type(TEMPLATE, "AWS::ServiceCatalog::LaunchRoleConstraint").values()
    assert constraint["Properties"]["RoleArn"] == {"Fn::GetAtt": ["LaunchRole", "Arn"]}
    assert constraint["DependsOn"] == "PortfolioProduct"  # a constraint needs the association
    for r in TEMPLATE["Resources"].values():
        if "Tags" in r.get("Properties", {}):
            assert {"Key": "Product", "Value": "deletion-alarms"} in r["Properties"]["Tags"]


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


def test_launch_role_has_no_name_and_reads_only_the_template_bucket() -> None:
    role = TEMPLATE["Resources"]["LaunchRole"]
    assert "RoleName" not in role["Properties"]  # IAM names are global: no collision across Regions
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "servicecatalog.amazonaws.com"},
                      "Action": ["sts:AssumeRole"]}]
    (policy,) = role["Properties"]["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    evaluator = ConditionEvaluator(TEMPLATE, {"TemplateUrl": URL, "AWS::Partition": "aws"})
    assert evaluator.value(statements["ReadTheProductTemplate"]["Resource"][0]) == \
        "arn:aws:s3:::templates-111122223333/*"


def test_launch_role_is_least_privilege() -> None:
    (policy,) = TEMPLATE["Resources"]["LaunchRole"]["Properties"]["Policies"]
    for s in policy["PolicyDocument"]["Statement"]:
        assert s["Effect"] == "Allow"
        assert not any(a.endswith(":*") or a == "*" for a in s["Action"]), s["Sid"]
        assert not any(a.startswith("iam:") for a in s["Action"])  # the workload creates no IAM
        if s["Resource"] == ["*"]:  # only what has no resource to scope to
            assert s["Sid"] in ("ReadTemplates", "CreateAlertTopicKey")
            if s["Sid"] == "CreateAlertTopicKey":
                assert s["Condition"] == {"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT",
                                                           "kms:KeyUsage": "ENCRYPT_DECRYPT"}}
