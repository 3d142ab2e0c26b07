"""The Customizations for Control Tower manifest (dist/deletion-alarms-cfct-manifest.yaml): valid
under CfCT's manifest schema v2 (version 2021-03-15), restated below in our words from CfCT's
published schema (aws-solutions/aws-control-tower-customizations, source/src/cfct/validation/
manifest-v2.schema.yaml: a kwalify schema, where a map admits only the keys it lists); every file
it names is one the build writes; every stack set's parameters are the template's and pass its
Rules; and the SCPs it deploys let CfCT's own execution role update the product."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest
import yaml

from deletion_alarms.publishing import failed_rules
from stacks import cfct
from stacks.distribution import CFCT_MANIFEST_FILE, render_all
from stacks.guardrails import SCP_NAMES, GuardrailOptions, render_scp
from tests.iam_evaluator import Request, matching_sids

RENDERED = render_all()

# CfCT's manifest v2 schema: each map's keys, required or not, and what each value must be.
STR, BOOL, DATE, ANY = "str", "bool", "date", "any"
PARAMETER = {"parameter_key": (True, STR), "parameter_value": (True, ANY)}
OUTPUT = {"name": (True, STR), "value": (True, STR)}
TARGETS = {"accounts": (False, [ANY]), "organizational_units": (False, [STR])}
RESOURCE = {"name": (True, STR), "description": (False, STR), "resource_file": (True, STR),
            "deployment_targets": (True, TARGETS), "parameter_file": (False, STR), "parameters": (False, [PARAMETER]),
            "deploy_method": (True, ("scp", "stack_set", "rcp")), "regions": (False, ["unique", STR]),
            "export_outputs": (False, [OUTPUT])}
MANIFEST = {"region": (True, STR), "version": (True, (date(2021, 3, 15),)), "enable_stack_set_deletion": (False, BOOL),
            "resources": (False, [RESOURCE])}


def problems(value: Any, rule: Any, where: str = "manifest") -> list[str]:
    """What in ``value`` breaks ``rule`` (a map of keys, a [item rule], a tuple of allowed values, a
    type name), as text."""
    if isinstance(rule, dict):
        if not isinstance(value, dict):
            return [f"{where}: not a map"]
        found = [f"{where}: unknown key {k!r}" for k in value if k not in rule]
        found += [f"{where}: missing {k!r}" for k, (required, _) in rule.items() if required and k not in value]
        return found + [p for k, (_, sub) in rule.items() if k in value for p in problems(value[k], sub, f"{where}.{k}")]
    if isinstance(rule, list):
        if not isinstance(value, list):
            return [f"{where}: not a sequence"]
        item = rule[-1]
        found = [f"{where}: repeated items"] if rule[0] == "unique" and len(set(map(str, value))) != len(value) else []
        return found + [p for i, v in enumerate(value) for p in problems(v, item, f"{where}[{i}]")]
    if isinstance(rule, tuple):
        return [] if value in rule else [f"{where}: {value!r} is not one of {list(rule)}"]
    kinds = {STR: str, BOOL: bool, DATE: date, ANY: object}
    return [] if isinstance(value, kinds[rule]) else [f"{where}: {value!r} is not a {rule}"]


def manifest() -> dict:
    return yaml.safe_load(RENDERED[CFCT_MANIFEST_FILE])


def test_the_manifest_is_valid_under_cfcts_schema() -> None:
    assert problems(manifest(), MANIFEST) == []


@pytest.mark.parametrize(("break_it", "expected"), [
    (lambda m: m["resources"][0].pop("deploy_method"), "missing 'deploy_method'"),
    (lambda m: m["resources"][2].update(deploy_method="policy"), "is not one of"),
    (lambda m: m.update(version="2021-03-15"), "'2021-03-15' is not one of"),  # a string, not a YAML date
    (lambda m: m["resources"][1].update(regions=["us-east-1", "us-east-1"]), "repeated items"),
    (lambda m: m["resources"][1].update(template="x"), "unknown key 'template'"),
])
def test_the_schema_check_catches_a_broken_manifest(break_it, expected) -> None:
    broken = manifest()
    break_it(broken)
    assert any(expected in p for p in problems(broken, MANIFEST)), problems(broken, MANIFEST)


def test_every_file_it_names_is_built_and_scps_go_to_ous_only() -> None:
    for resource in manifest()["resources"]:
        folder, name = resource["resource_file"].split("/")
        assert name in RENDERED, name
        if resource["deploy_method"] == "scp":  # CfCT attaches SCPs to OUs; it takes no accounts for them
            assert folder == "policies" and "accounts" not in resource["deployment_targets"]
            assert "parameters" not in resource and json.loads(RENDERED[name])["Statement"]
        else:
            assert folder == "templates" and resource["regions"] and "Resources" in json.loads(RENDERED[name])


def test_each_stack_set_takes_its_templates_parameters_and_passes_its_rules() -> None:
    import re

    names = [r["name"] for r in manifest()["resources"]]
    assert names.index("deletion-alarms-collector") < names.index("deletion-alarms")  # the bus exists first
    for resource in (r for r in manifest()["resources"] if r["deploy_method"] == "stack_set"):
        template = json.loads(RENDERED[resource["resource_file"].split("/")[1]])
        values = {p["parameter_key"]: str(p["parameter_value"]) for p in resource["parameters"]}
        for key, value in values.items():
            spec = template["Parameters"][key]
            assert re.fullmatch(spec.get("AllowedPattern", ".*"), value), (key, value)
            assert value in spec.get("AllowedValues", [value]), (key, value)
        assert failed_rules(template, values) == [], resource["name"]
    workload = next(r for r in manifest()["resources"] if r["name"] == "deletion-alarms")
    collector = next(r for r in manifest()["resources"] if r["name"] == "deletion-alarms-collector")
    bus = next(p["parameter_value"] for p in workload["parameters"] if p["parameter_key"] == "CollectorEventBusArn")
    account = str(collector["deployment_targets"]["accounts"][0])
    assert bus == f"arn:aws:events:{collector['regions'][0]}:{account}:event-bus/{cfct.COLLECTOR_BUS_NAME}"


def scp_denies(options: GuardrailOptions, action: str, resource: str, principal: str, **context: Any) -> set[str]:
    denied: set[str] = set()
    for name in SCP_NAMES:
        policy = json.loads(render_scp(options, name))
        denied |= set(matching_sids(policy, Request(action, resource, principal,
                                                    {"aws:PrincipalArn": principal, **context}), "Deny"))
    return denied


def test_cfct_updates_the_product_only_with_its_role_exempted() -> None:
    """CfCT's stack sets run as AWSControlTowerExecution in each account. With the manifest's
    advice (--deploy-role-arn for that role) it may update a protected alarm through CloudFormation;
    with the default SCPs it may not (the rollout steps say so); a person still may not."""
    role = "arn:aws:iam::444455556666:role/AWSControlTowerExecution"
    alarm = "arn:aws:cloudwatch:us-east-1:444455556666:alarm:deletion-alarms-SecretDeletion"
    update = ("cloudwatch:PutMetricAlarm", alarm)
    tagged = {"aws:ResourceTag/deletion-alarms:protected": "true", "aws:CalledVia": ["cloudformation.amazonaws.com"]}
    advised = GuardrailOptions(deploy_role_arns=(*GuardrailOptions().deploy_role_arns, cfct.CONTROL_TOWER_EXECUTION_ROLE))
    assert scp_denies(advised, *update, role, **tagged) == set()
    assert scp_denies(GuardrailOptions(), *update, role, **tagged) != set()
    assert scp_denies(advised, *update, "arn:aws:iam::444455556666:role/Admin", **tagged) != set()
    # The exemption's own door: nobody else may create or re-trust a role of that name.
    assert scp_denies(advised, "iam:UpdateAssumeRolePolicy", role, "arn:aws:iam::444455556666:role/Admin") != set()
