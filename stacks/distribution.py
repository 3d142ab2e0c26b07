"""The artifacts in dist/: which templates exist, how they are rendered, linted and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from troposphere import Template

from stacks import docs
from stacks.cfct import make_manifest, render_manifest
from stacks.chat import make_chat_template
from stacks.collector import make_collector_template
from stacks.cost import cost_table
from detections.errors import UserError
from stacks.threats import threat_model_table
from stacks.guardrails import (
    PROTECTION_WITH_RCP, GuardrailOptions, layout_sizes_table, make_guardrails_template, merged_scp_fits,
    render_protection_scp, render_rcp, render_scp,
)
from stacks.servicecatalog import make_launch_role_template, make_service_catalog_template
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
    offered: Callable[[GuardrailOptions], bool] = lambda _: True
    """Whether the build makes it with these options (the one-SCP layout may not fit)."""


def render(template: Template) -> str:
    """Deterministic JSON: sorted keys, one value per line without indentation or spaces (diffable,
    and compact), trailing newline."""
    return json.dumps(template.to_dict(), sort_keys=True, indent=0, separators=(",", ":"),
                      ensure_ascii=False) + "\n"


WORKLOAD_FILE = "deletion-alarms.json"
SERVICE_CATALOG_FILE = "deletion-alarms-service-catalog.json"
LAUNCH_ROLE_FILE = "deletion-alarms-launch-role.json"
STACKSET_FILE = "deletion-alarms-stackset.json"
COLLECTOR_FILE = "deletion-alarms-collector.json"
CHAT_FILE = "deletion-alarms-chat.json"
GUARDRAILS_FILE = "deletion-guardrails.json"
SCP_FILE = "deletion-guardrails-scp.json"
PROTECTION_SCP_FILE = "deletion-alarms-protection-scp.json"
RCP_FILE = "deletion-guardrails-rcp.json"
PROTECTION_WITH_RCP_FILE = "deletion-alarms-protection-scp-with-rcp.json"
CFCT_MANIFEST_FILE = "deletion-alarms-cfct-manifest.yaml"
CHECKOUT = Path(__file__).resolve().parents[1]
CORPUS_DIR = CHECKOUT / "tests" / "corpus"
ALERTS_DOC = "docs/alerts.md"
ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(WORKLOAD_FILE, lambda _: render(make_workload_template())),
    Artifact(SERVICE_CATALOG_FILE,
             lambda _: render(make_service_catalog_template(make_workload_template().to_dict()))),
    Artifact(LAUNCH_ROLE_FILE,
             lambda _: render(make_launch_role_template(make_workload_template().to_dict()))),
    Artifact(STACKSET_FILE,
             lambda _: render(make_stackset_template(make_workload_template().to_dict()))),
    Artifact(COLLECTOR_FILE, lambda _: render(make_collector_template())),
    Artifact(CHAT_FILE, lambda _: render(make_chat_template())),
    Artifact(GUARDRAILS_FILE, lambda options: render(make_guardrails_template(options))),
    Artifact(SCP_FILE, render_scp, is_template=False),
    Artifact(PROTECTION_SCP_FILE, render_protection_scp, is_template=False),
    Artifact(RCP_FILE, render_rcp, is_template=False),
    Artifact(PROTECTION_WITH_RCP_FILE, lambda options: render_scp(options, PROTECTION_WITH_RCP), is_template=False,
             offered=merged_scp_fits),
    Artifact(CFCT_MANIFEST_FILE, lambda _: render_manifest(make_manifest(
        COLLECTOR_FILE, WORKLOAD_FILE, (SCP_FILE, PROTECTION_SCP_FILE))), is_template=False),
)


def render_all(options: GuardrailOptions | None = None) -> dict[str, str]:
    """Every dist/ file name mapped to its content, as the code produces it now (guardrails
    with ``options``, the defaults when None)."""
    options = options or GuardrailOptions()
    return {a.filename: a.build(options) for a in ARTIFACTS if a.offered(options)}


def example_records() -> dict[str, dict]:
    """The labelled corpus's records by class (the package carries them too)."""
    from detections.patterntest import load_samples

    return {s.cls: s.record for s in load_samples(CORPUS_DIR)}


def notifier_code(rendered: dict[str, str]) -> str:
    return json.loads(rendered[WORKLOAD_FILE])["Resources"]["NotifierFunction"]["Properties"]["Code"]["ZipFile"]


def render_docs(rendered: dict[str, str]) -> dict[str, str]:
    """Generated pages under docs/, by path relative to the checkout."""
    head = ("# What a person receives\n\nGenerated by `python build.py` from the template's own notifier code "
            "(`functions/notifier.py`, inline in `dist/deletion-alarms.json`) and labelled records of "
            "`tests/corpus/`, one of each outcome: do not edit. The key and secret are read as KMS and Secrets "
            f"Manager would answer (the key has the alias `{docs.EXAMPLE_ALIAS}`; both are deleted "
            f"{docs.EXAMPLE_DAYS_LEFT} days after the event); the email is sent five minutes after the event.\n\n")
    return {ALERTS_DOC: head + docs.alert_examples(notifier_code(rendered), example_records()) + "\n"}


# The hand-written pages, relative to the checkout, whose generated sections the build refreshes.
HAND_PAGES = ("README.md", "docs/detections.md", "docs/parameters.md", "docs/operations.md", "docs/security.md")


def generated_sections(rendered: dict[str, str]) -> dict[str, Callable[[], str]]:
    """Each generated section (between ``<!-- name:start -->`` and ``<!-- name:end -->``) and what
    makes it: from the templates, the catalog and the notifier's code, so that no page can drift."""
    workload = json.loads(rendered[WORKLOAD_FILE])
    return {
        "parameters": lambda: docs.parameter_table(workload),
        "iam-roles": lambda: docs.iam_roles(workload),
        "example-alert": lambda: docs.alert_examples(notifier_code(rendered), example_records(), only_first=True),
        "detections": docs.detection_reference,
        "threats": threat_model_table,
        "cost": cost_table,
        "scp-layouts": layout_sizes_table,
    }


def render_pages(pages: dict[str, str], rendered: dict[str, str]) -> dict[str, str]:
    """The hand-written ``pages`` (path -> text) with their generated sections refreshed. Each
    section stands in exactly one page."""
    out = dict(pages)
    for name, make in generated_sections(rendered).items():
        holders = [path for path, text in pages.items() if f"<!-- {name}:start -->" in text]
        if len(holders) != 1:
            raise BuildError(f"the generated section {name!r} must stand in exactly one page; it is in "
                             f"{', '.join(holders) or 'none'}")
        out[holders[0]] = docs.replace_section(out[holders[0]], name, make())
    return out


def lint_regions(body: str) -> list[str]:
    """The Regions a template is linted for: every Region cfn-lint knows in which AWS offers all
    of the template's resource types (Service Catalog, for one, is missing in a few)."""
    from cfnlint.helpers import REGIONS
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    types = {r["Type"] for r in json.loads(body).get("Resources", {}).values()}
    return [r for r in REGIONS if types <= set(PROVIDER_SCHEMA_MANAGER.get_resource_types(r))]


# Regions of the AWS GovCloud (US) and China partitions: every template but the chat one must deploy
# there (CloudFormation refuses a resource type a Region does not have, even under a false condition).
OTHER_PARTITION_REGIONS = ("us-gov-west-1", "us-gov-east-1", "cn-north-1", "cn-northwest-1")
COMMERCIAL_ONLY = frozenset({CHAT_FILE})  # AWS Chatbot is not offered in those partitions


def lint(body: str) -> list[str]:
    """cfn-lint findings for a template body in every Region of :func:`lint_regions`, as text."""
    from cfnlint.api import ManualArgs, lint as cfn_lint  # heavy import: only when linting

    matches = cfn_lint(body, config=ManualArgs(regions=lint_regions(body), include_checks=["I"]))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches]


def stale_files(dist: Path, rendered: dict[str, str]) -> list[str]:
    """Names of dist/ files that differ from ``rendered``, are missing, or are not built."""
    stale = [name for name, body in rendered.items()
             if not (dist / name).is_file() or (dist / name).read_text() != body]
    extra = [p.name for p in sorted([*dist.glob("*.json"), *dist.glob("*.yaml")]) if p.name not in rendered]
    return sorted(stale + extra)


def write_all(dist: Path, rendered: dict[str, str]) -> None:
    """Write the rendered files to dist/, only once every one of them passed its checks."""
    dist.mkdir(parents=True, exist_ok=True)
    for name, body in rendered.items():
        (dist / name).write_text(body)
    for p in [*dist.glob("*.json"), *dist.glob("*.yaml")]:
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
