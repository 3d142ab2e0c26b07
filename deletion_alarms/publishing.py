"""Publish the templates and roll them out: S3 upload, Service Catalog product versions, StackSets.

Every function takes boto3 clients (so tests hand in clients for a moto server or a Stubber) and
reports progress through ``say``. Each step is idempotent: running it again with the same inputs
changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import botocore.exceptions

from deletion_alarms.awsclient import aws_errors
from deletion_alarms.words import plural
from detections.errors import UsageError, UserError
from stacks.guardrails import PROTECTED_TAG_KEY, PROTECTED_TAG_VALUE

Say = Callable[[str], None]
OU_PATTERN = re.compile(r"(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})")
ACCOUNT_PATTERN = re.compile(r"[0-9]{12}")
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
DONE = {"SUCCEEDED", "FAILED", "STOPPED"}

# The stack set's tags reach every stack instance and its resources: the guardrail SCP then
# protects the stacks by tag, whatever their names.
STACK_TAGS = [{"Key": PROTECTED_TAG_KEY, "Value": PROTECTED_TAG_VALUE}]


def capabilities() -> list[str]:
    """What CloudFormation requires of the bundled workload template (derived from it)."""
    import json

    from deletion_alarms import bundled
    from stacks.stackset import required_capabilities

    return required_capabilities(json.loads((bundled.folder("templates") / "deletion-alarms.json").read_text()))


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# ----------------------------------------------------------------------------------------- publish
@dataclass(frozen=True)
class Published:
    filename: str
    key: str
    url: str
    uploaded: bool


def s3_url(bucket: str, region: str, key: str) -> str:
    """Virtual-hosted-style https URL, the form CloudFormation and Service Catalog take."""
    suffix = ".cn" if region.startswith("cn-") else ""
    return f"https://{bucket}.s3.{region}.amazonaws.com{suffix}/{key}"


def publish(s3: Any, bucket: str, prefix: str, version: str, files: Iterable[Path], region: str,
            say: Say) -> list[Published]:
    """Upload each file under ``<prefix><version>/<sha256[:16]>/<name>``, unless that key is
    already there (the key names the content, so an existing key holds the same bytes)."""
    results = []
    with aws_errors(f"S3 bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
                raise UserError(f"S3 bucket {bucket} does not exist (create it, or pass another --bucket)") from None
            raise
        for path in files:
            body = path.read_bytes()
            key = f"{prefix}{version}/{content_hash(body)[:16]}/{path.name}"
            try:
                s3.head_object(Bucket=bucket, Key=key)
                uploaded = False
            except botocore.exceptions.ClientError as error:
                if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                    raise
                s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json",
                              ServerSideEncryption="AES256")
                uploaded = True
            result = Published(path.name, key, s3_url(bucket, region, key), uploaded)
            say(f"{'uploaded ' if uploaded else 'unchanged'} {result.url}")
            results.append(result)
    return results


# --------------------------------------------------------------------------------- service catalog
@dataclass(frozen=True)
class ProductResult:
    product_id: str
    artifact_id: str
    created_product: bool
    created_version: bool
    deprecated: tuple[str, ...]


def _hash_tag(digest: str) -> str:
    return f"sha256:{digest}"


def ensure_product(sc: Any, name: str, owner: str, template_url: str, version: str, digest: str,
                   deprecate_older: bool, say: Say) -> ProductResult:
    """Create the product if absent; add a version only when the template content is new
    (versions carry the content hash in their description); optionally deprecate the others."""
    with aws_errors("Service Catalog"):
        try:
            product = sc.describe_product_as_admin(Name=name)
        except sc.exceptions.ResourceNotFoundException:
            product = None
        params = {"Name": version, "Description": f"deletion-alarms {version} {_hash_tag(digest)}",
                  "Info": {"LoadTemplateFromURL": template_url}, "Type": "CLOUD_FORMATION_TEMPLATE"}
        if product is None:
            created = sc.create_product(
                Name=name, Owner=owner, ProductType="CLOUD_FORMATION_TEMPLATE",
                Description="Warns when a KMS key or secret is scheduled for deletion or used while pending deletion.",
                ProvisioningArtifactParameters=params, IdempotencyToken=f"create-{digest[:32]}")
            product_id = created["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
            artifact_id = created["ProvisioningArtifactDetail"]["Id"]
            say(f"created product {name} ({product_id}) with version {version}")
            return ProductResult(product_id, artifact_id, True, True, ())
        product_id = product["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
        artifacts = product.get("ProvisioningArtifactSummaries", [])
        same = [a for a in artifacts if _hash_tag(digest) in a.get("Description", "")]
        if same:
            artifact_id, created_version = same[0]["Id"], False
            say(f"product {name} already has this template as version {same[0]['Name']}: nothing to add")
        else:
            if any(a["Name"] == version for a in artifacts):
                raise UserError(f"product {name} already has a version named {version} with other "
                                "content: give a new --version")
            artifact_id = sc.create_provisioning_artifact(
                ProductId=product_id, Parameters=params, IdempotencyToken=f"add-{digest[:32]}",
            )["ProvisioningArtifactDetail"]["Id"]
            created_version = True
            say(f"added version {version} ({artifact_id}) to product {name}")
        deprecated = []
        if deprecate_older:
            for a in artifacts:
                if a["Id"] != artifact_id:
                    sc.update_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=a["Id"],
                                                    Guidance="DEPRECATED")
                    deprecated.append(a["Id"])
                    say(f"deprecated version {a['Name']} ({a['Id']})")
        return ProductResult(product_id, artifact_id, False, created_version, tuple(deprecated))


# --------------------------------------------------------------------------------------- stacksets
def validate_targets(ous: list[str], accounts: list[str], regions: list[str], known_regions: set[str]) -> None:
    """Raise UserError naming the first bad OU ID, account ID or Region."""
    if bool(ous) == bool(accounts):
        raise UsageError("give either --ou (service-managed StackSet) or --account (self-managed), not both or neither")
    for ou in ous:
        if not OU_PATTERN.fullmatch(ou):
            raise UsageError(f"--ou {ou!r} is not an OU ID (ou-xxxx-xxxxxxxx) or root ID (r-xxxx)")
    for account in accounts:
        if not ACCOUNT_PATTERN.fullmatch(account):
            raise UsageError(f"--account {account!r} is not a 12-digit account ID")
    if not regions:
        raise UsageError("give at least one --target-region")
    for region in regions:
        if not REGION_PATTERN.fullmatch(region) or (known_regions and region not in known_regions):
            raise UsageError(f"--target-region {region!r} is not a known AWS Region")


def validate_parameters(parameters: dict[str, str], template: dict) -> None:
    """Check every --parameter against the workload template it deploys, before any call: a known
    name, and a value its AllowedValues or AllowedPattern accepts (CloudFormation matches the whole
    value; Java and Python agree on these patterns)."""
    declared = template["Parameters"]
    for name, value in parameters.items():
        if name not in declared:
            raise UsageError(f"--parameter {name}: not a parameter of the template; known: {', '.join(sorted(declared))}")
        spec = declared[name]
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(v) for v in allowed]:
            raise UsageError(f"--parameter {name}={value!r}: allowed values are {', '.join(map(str, allowed))}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise UsageError(f"--parameter {name}={value!r}: {spec.get('ConstraintDescription', 'invalid value')}")
    refused = failed_rules(template, parameters)
    if refused:  # every stack instance would fail the same way, one account and Region at a time
        name, message = refused[0]
        raise UsageError(f"the template's rule {name} refuses these parameters: {message}")


_RULE_FUNCTIONS: dict[str, Any] = {
    "Fn::Equals": lambda args: args[0] == args[1],
    "Fn::Not": lambda args: not args[0],
    "Fn::And": all,
    "Fn::Or": any,
}


def failed_rules(template: dict, parameters: dict[str, str]) -> list[tuple[str, str]]:
    """The template's Rules whose assertions fail with ``parameters`` (the others at their
    defaults), as CloudFormation evaluates them before it creates a stack (CloudFormation user guide,
    rules section: Fn::And, Fn::Equals, Fn::Not, Fn::Or, Ref). A rule using anything else is left to
    CloudFormation. Returns (rule name, its AssertDescription)."""
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    values.update(parameters)

    class Unknown(Exception):
        pass

    def value(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (function, args), = node.items()
            if function == "Ref" and args in values:
                return values[args]
            if function in _RULE_FUNCTIONS:
                return _RULE_FUNCTIONS[function]([value(a) for a in args] if isinstance(args, list) else [value(args)])
            raise Unknown(function)
        if isinstance(node, (dict, list)):
            raise Unknown(type(node).__name__)
        return node

    failed = []
    for name, rule in sorted(template.get("Rules", {}).items()):
        try:
            if "RuleCondition" in rule and not value(rule["RuleCondition"]):
                continue
            failed += [(name, a.get("AssertDescription", "")) for a in rule["Assertions"] if not value(a["Assert"])]
        except Unknown:
            continue
    return failed


def describe_stackset_plan(name: str, template_url: str, parameters: dict[str, str], ous: list[str],
                           accounts: list[str], regions: list[str]) -> str:
    """What the stackset command will do, for the confirmation prompt and --dry-run."""
    targets = (f"every account of {', '.join(ous)} (service-managed; the count is known to AWS only)"
               if ous else f"{plural(len(accounts), 'account')}: {', '.join(accounts)} (self-managed)")
    instances = "" if ous else f", {plural(len(accounts) * len(regions), 'stack instance')}"
    lines = [f"Stack set {name}, template {template_url}:",
             f"  targets: {targets}",
             f"  Regions: {', '.join(regions)} ({len(regions)}){instances}",
             "  parameters: " + (", ".join(f"{k}={v}" for k, v in sorted(parameters.items())) or "the template's defaults")]
    return "\n".join(lines)


def validate_topic_region(parameters: dict[str, str], regions: list[str]) -> None:
    """An existing topic must be in each stack's Region (alarm actions are same-Region), which a
    CloudFormation Rule cannot check (rule functions have no string operations): refuse here a
    topic in another Region than a target Region."""
    topic = parameters.get("ExistingTopicArn", "")
    if not topic:
        return
    parts = topic.split(":")
    topic_region = parts[3] if len(parts) > 3 else ""
    others = sorted(r for r in regions if r != topic_region)
    if others:
        raise UsageError(f"ExistingTopicArn is in {topic_region or 'no Region'}, but alarms notify only a topic "
                        f"of their own Region: not {', '.join(others)}. Deploy to {topic_region} only, give "
                        "one topic per Region, or send everything to a collector (CollectorEventBusArn)")


@dataclass(frozen=True)
class InstanceStatus:
    account: str
    region: str
    status: str
    reason: str

    @property
    def failed(self) -> bool:
        return self.status not in ("CURRENT", "SUCCEEDED")


def deploy_stackset(cfn: Any, name: str, template_url: str, parameters: dict[str, str],
                    ous: list[str], accounts: list[str], regions: list[str], *,
                    failure_tolerance: int = 0, max_concurrent: int = 25, timeout: float = 3600,
                    poll: float = 10, say: Say, sleep: Callable[[float], None] = time.sleep) -> list[InstanceStatus]:
    """Create or update the stack set, add the missing instances, wait, and return every instance's
    status. Never deletes an instance."""
    service_managed = bool(ous)
    # SOFT_FAILURE_TOLERANCE: with the default STRICT mode, concurrency is capped at the failure
    # tolerance + 1, one account at a time for a tolerance of 0 (StackSetOperationPreferences API).
    prefs = {"FailureTolerancePercentage": failure_tolerance, "MaxConcurrentPercentage": max_concurrent,
             "RegionConcurrencyType": "PARALLEL", "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE"}
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())]
    # Accounts go in their own argument (DeploymentTargets is for OUs in service-managed sets).
    targets = {"DeploymentTargets": {"OrganizationalUnitIds": ous}} if service_managed else {"Accounts": accounts}
    with aws_errors(f"stack set {name}"):
        try:
            cfn.describe_stack_set(StackSetName=name)
            exists = True
        except cfn.exceptions.StackSetNotFoundException:
            exists = False
        if not exists:
            create: dict[str, Any] = {"StackSetName": name, "TemplateURL": template_url, "Parameters": params,
                                       "Tags": STACK_TAGS, "Capabilities": capabilities(),
                                       "Description": "deletion-alarms: alerts when a KMS key or secret is "
                                                      "about to be lost"}
            if service_managed:
                create |= {"PermissionModel": "SERVICE_MANAGED",
                           "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": True}}
            cfn.create_stack_set(**create)
            say(f"created stack set {name}")
        else:
            operation = cfn.update_stack_set(StackSetName=name, TemplateURL=template_url, Parameters=params,
                                             Tags=STACK_TAGS, Capabilities=capabilities(),
                                             OperationPreferences=prefs)["OperationId"]
            say(f"updating stack set {name} (operation {operation})")
            _wait(cfn, name, operation, timeout, poll, say, sleep)
        existing = {(i["Account"], i["Region"]) for i in _instances(cfn, name)}
        missing_regions = [r for r in regions if not any(reg == r for _, reg in existing)] if service_managed \
            else [r for r in regions if any((a, r) not in existing for a in accounts)]
        if missing_regions:
            operation = cfn.create_stack_instances(
                StackSetName=name, Regions=missing_regions, OperationPreferences=prefs, **targets)["OperationId"]
            say(f"adding instances in {', '.join(missing_regions)} (operation {operation})")
            _wait(cfn, name, operation, timeout, poll, say, sleep)
        return [InstanceStatus(i["Account"], i["Region"], i.get("StackInstanceStatus", {}).get("DetailedStatus")
                               or i.get("Status", "UNKNOWN"), i.get("StatusReason", ""))
                for i in _instances(cfn, name)]


def delete_instances(cfn: Any, name: str, ous: list[str], accounts: list[str], regions: list[str],
                     retain_stacks: bool, timeout: float, poll: float, say: Say,
                     sleep: Callable[[float], None] = time.sleep) -> None:
    """Remove instances (only when asked); the stacks themselves are kept unless retain_stacks is false."""
    targets = {"DeploymentTargets": {"OrganizationalUnitIds": ous}} if ous else {"Accounts": accounts}
    with aws_errors(f"stack set {name}"):
        operation = cfn.delete_stack_instances(StackSetName=name, Regions=regions, RetainStacks=retain_stacks,
                                               **targets)["OperationId"]
        say(f"removing instances in {', '.join(regions)} ({'stacks kept' if retain_stacks else 'stacks deleted'})")
        _wait(cfn, name, operation, timeout, poll, say, sleep)


def _instances(cfn: Any, name: str) -> list[dict]:
    found: list[dict] = []
    for page in cfn.get_paginator("list_stack_instances").paginate(StackSetName=name):
        found += page["Summaries"]
    return found


def _wait(cfn: Any, name: str, operation: str, timeout: float, poll: float, say: Say,
          sleep: Callable[[float], None]) -> None:
    waited = 0.0
    while True:
        status = cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation)["StackSetOperation"]["Status"]
        progress = ", ".join(f"{i['Account']}/{i['Region']}: {i.get('StackInstanceStatus', {}).get('DetailedStatus') or i.get('Status')}"
                             for i in _instances(cfn, name))
        say(f"  {status.lower():<10} {progress}")
        if status in DONE:
            if status != "SUCCEEDED":
                say(f"operation {operation} ended {status}")
            return
        if waited >= timeout:
            raise UserError(f"operation {operation} still {status} after {int(timeout)} s; it goes on in "
                            f"AWS: follow it with aws cloudformation describe-stack-set-operation "
                            f"--stack-set-name {name} --operation-id {operation}")
        sleep(poll)
        waited += poll
