"""The Customizations for Control Tower (CfCT) manifest: the collector, the workload and the two
service control policies as one CfCT configuration (manifest version 2021-03-15), from the same
build as dist/.

CfCT reads ``manifest.yaml`` at the root of its configuration package and deploys each resource
with its ``deploy_method``: ``stack_set`` (a CloudFormation template, to accounts or OUs, in the
Regions listed) or ``scp`` (a policy document, to OUs only). The ``resource_file`` paths are in the
package: copy dist/ templates under ``templates/`` and the SCPs (built with the options your
organization needs) under ``policies/``. The names in angle brackets of the README's rollout steps
are placeholders here: the Audit account, the OU, the Regions, the organization ID.

CfCT deploys its stack sets with the AWSControlTowerExecution role in each account: build the
protection SCP with ``--deploy-role-arn 'arn:*:iam::*:role/AWSControlTowerExecution'`` or it denies
CfCT's own updates of the product (tests/stacks/test_cfct.py proves it with the IAM evaluator).
"""

from __future__ import annotations

from datetime import date
from typing import Any

MANIFEST_VERSION = date(2021, 3, 15)  # the only version CfCT's manifest v2 schema accepts
CONTROL_TOWER_EXECUTION_ROLE = "arn:*:iam::*:role/AWSControlTowerExecution"
# Placeholders (documentation values): replace them in the package.
HOME_REGION = "us-east-1"
AUDIT_ACCOUNT = "111122223333"
WORKLOAD_OU = "Workloads"
WORKLOAD_REGIONS = ("us-east-1", "eu-west-1")
ORGANIZATION_ID = "o-a1b2c3d4e5"
ALERT_EMAIL = "security-team@example.com"
COLLECTOR_BUS_NAME = "deletion-alarms-collector"


SCP_DESCRIPTIONS = {
    "deletion-guardrails-scp.json": "Deletion guardrails: minimum waiting periods, no force delete, trails kept",
    "deletion-alarms-protection-scp.json": "Protection of the deletion-alarms resources and their deploy roles",
}


def make_manifest(collector_file: str, workload_file: str, scp_files: tuple[str, ...]) -> dict[str, Any]:
    """The manifest as data: the collector in the Audit account (home Region), the workload in the
    OU's accounts forwarding to it, and the SCPs on the OU. Order matters to CfCT: it deploys in
    manifest order, so the collector's bus exists before the workload forwards to it."""
    bus = f"arn:aws:events:{HOME_REGION}:{AUDIT_ACCOUNT}:event-bus/{COLLECTOR_BUS_NAME}"

    def parameters(**values: str) -> list[dict[str, str]]:
        return [{"parameter_key": k, "parameter_value": v} for k, v in sorted(values.items())]

    resources: list[dict[str, Any]] = [
        {"name": "deletion-alarms-collector",
         "description": "One alert stream for the organization (in the Audit account)",
         "resource_file": f"templates/{collector_file}", "deploy_method": "stack_set",
         "deployment_targets": {"accounts": [AUDIT_ACCOUNT]}, "regions": [HOME_REGION],
         "parameters": parameters(OrganizationId=ORGANIZATION_ID, NotificationEmail=ALERT_EMAIL,
                                  EventBusName=COLLECTOR_BUS_NAME)},
        {"name": "deletion-alarms",
         "description": "Deletion alarms in every account of the OU, forwarding to the collector",
         "resource_file": f"templates/{workload_file}", "deploy_method": "stack_set",
         "deployment_targets": {"organizational_units": [WORKLOAD_OU]}, "regions": list(WORKLOAD_REGIONS),
         "parameters": parameters(CollectorEventBusArn=bus, NotificationEmail="")},
    ]
    resources += [{"name": name.removesuffix(".json"), "description": SCP_DESCRIPTIONS[name],
                   "resource_file": f"policies/{name}", "deploy_method": "scp",
                   "deployment_targets": {"organizational_units": [WORKLOAD_OU]}} for name in scp_files]
    return {"region": HOME_REGION, "version": MANIFEST_VERSION, "resources": resources}


def render_manifest(manifest: dict[str, Any]) -> str:
    """YAML as CfCT reads it (PyYAML: the date stays a YAML date), keys sorted, deterministic."""
    import yaml  # cfn-lint's dependency: the build and the tests have it; the installed command does not need it

    head = ("# Customizations for Control Tower manifest for deletion-alarms (python build.py writes it).\n"
            "# Replace the placeholders (Audit account, OU, Regions, organization ID, email) before use;\n"
            "# copy the templates under templates/ and the SCPs, built with\n"
            f"#   --deploy-role-arn '{CONTROL_TOWER_EXECUTION_ROLE}'\n"
            "# (CfCT deploys stack sets with that role), under policies/.\n")
    return head + "---\n" + yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False, width=120)
