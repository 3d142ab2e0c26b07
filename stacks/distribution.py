"""The artifacts in dist/: which templates exist, how they are rendered, linted and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from troposphere import Template

from stacks import docs
from stacks.collector import make_collector_template
from stacks.cost import cost_table
from detections.errors import UserError
from stacks.threats import threat_model_table
from stacks.guardrails import GuardrailOptions, make_guardrails_template, render_protection_scp, render_scp
from stacks.servicecatalog import make_service_catalog_template
from stacks.stackset import make_stackset_template
from stacks.workload import make_workload_template

# CloudFormation's limit for a template read from S3 (TemplateURL), which StackSets, Service
# Catalog and `aws cloudformation deploy --s3-bucket` use. (A body sent inline may have 51,200
# bytes: the workload outgrew that when the tag protection and exclusions came.)
TEMPLATE_URL_LIMIT_BYTES = 1_048_576


class BuildError(UserError):
    """A build step failed; the message is meant for the user, on one line."""


@dataclass(frozen=True)
class Artifact:
    """One file of dist/: its name, how it is built, and whether it is a CloudFormation template
    (linted, size-checked) or a policy document."""

    filename: str
    build: Callable[[GuardrailOptions], str]
    is_template: bool = True


def render(template: Template) -> str:
    """Deterministic JSON: sorted keys, one value per line without indentation or spaces (diffable,
    and compact), trailing newline."""
    return json.dumps(template.to_dict(), sort_keys=True, indent=0, separators=(",", ":"),
                      ensure_ascii=False) + "\n"


WORKLOAD_FILE = "deletion-alarms.json"
SERVICE_CATALOG_FILE = "deletion-alarms-service-catalog.json"
STACKSET_FILE = "deletion-alarms-stackset.json"
COLLECTOR_FILE = "deletion-alarms-collector.json"
GUARDRAILS_FILE = "deletion-guardrails.json"
SCP_FILE = "deletion-guardrails-scp.json"
PROTECTION_SCP_FILE = "deletion-alarms-protection-scp.json"
ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(WORKLOAD_FILE, lambda _: render(make_workload_template())),
    Artifact(SERVICE_CATALOG_FILE,
             lambda _: render(make_service_catalog_template(make_workload_template().to_dict()))),
    Artifact(STACKSET_FILE,
             lambda _: render(make_stackset_template(make_workload_template().to_dict()))),
    Artifact(COLLECTOR_FILE, lambda _: render(make_collector_template())),
    Artifact(GUARDRAILS_FILE, lambda options: render(make_guardrails_template(options))),
    Artifact(SCP_FILE, render_scp, is_template=False),
    Artifact(PROTECTION_SCP_FILE, render_protection_scp, is_template=False),
)


def render_all(options: GuardrailOptions | None = None) -> dict[str, str]:
    """Every dist/ file name mapped to its content, as the code produces it now (guardrails
    with ``options``, the defaults when None)."""
    options = options or GuardrailOptions()
    return {a.filename: a.build(options) for a in ARTIFACTS}


def render_readme(readme: str, rendered: dict[str, str]) -> str:
    """The README with its generated sections (parameter table, detection reference) refreshed."""
    readme = docs.replace_section(
        readme, "parameters", docs.parameter_table(json.loads(rendered[WORKLOAD_FILE])))
    readme = docs.replace_section(readme, "detections", docs.detection_reference())
    readme = docs.replace_section(readme, "threats", threat_model_table())
    return docs.replace_section(readme, "cost", cost_table())


def lint_regions(body: str) -> list[str]:
    """The Regions a template is linted for: every Region cfn-lint knows in which AWS offers all
    of the template's resource types (Service Catalog, for one, is missing in a few)."""
    from cfnlint.helpers import REGIONS
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    types = {r["Type"] for r in json.loads(body).get("Resources", {}).values()}
    return [r for r in REGIONS if types <= set(PROVIDER_SCHEMA_MANAGER.get_resource_types(r))]


def lint(body: str) -> list[str]:
    """cfn-lint findings for a template body in every Region of :func:`lint_regions`, as text."""
    from cfnlint.api import ManualArgs, lint as cfn_lint  # heavy import: only when linting

    matches = cfn_lint(body, config=ManualArgs(regions=lint_regions(body), include_checks=["I"]))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches]


def stale_files(dist: Path, rendered: dict[str, str]) -> list[str]:
    """Names of dist/ files that differ from ``rendered``, are missing, or are not built."""
    stale = [name for name, body in rendered.items()
             if not (dist / name).is_file() or (dist / name).read_text() != body]
    extra = [p.name for p in sorted(dist.glob("*.json")) if p.name not in rendered]
    return sorted(stale + extra)


def write_all(dist: Path, rendered: dict[str, str]) -> None:
    """Write the rendered files to dist/, only once every one of them passed its checks."""
    dist.mkdir(parents=True, exist_ok=True)
    for name, body in rendered.items():
        (dist / name).write_text(body)
    for p in dist.glob("*.json"):
        if p.name not in rendered:
            p.unlink()


def check_artifact(name: str, body: str) -> None:
    """Raise BuildError when a rendered template is too large to deploy from S3 or lints dirty
    (policy documents are checked as they are built)."""
    if not next((a.is_template for a in ARTIFACTS if a.filename == name), True):
        return
    size = len(body.encode())
    if size > TEMPLATE_URL_LIMIT_BYTES:
        raise BuildError(f"{name} is {size} bytes, over CloudFormation's {TEMPLATE_URL_LIMIT_BYTES}-byte limit")
    findings = lint(body)
    if findings:
        raise BuildError(f"{name} fails cfn-lint: " + "; ".join(findings))
