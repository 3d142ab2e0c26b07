"""README sections generated from the templates and the catalog, so the README cannot drift."""

from __future__ import annotations

import re
from typing import Any, Mapping

from detections.catalog import DETECTIONS


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def parameter_table(template: Mapping[str, Any]) -> str:
    """Markdown table of a template's parameters, in console order, from the template itself."""
    interface = template.get("Metadata", {}).get("AWS::CloudFormation::Interface", {})
    labels = interface.get("ParameterLabels", {})
    order = [p for g in interface.get("ParameterGroups", []) for p in g["Parameters"]]
    order += [p for p in template["Parameters"] if p not in order]
    rows = ["| Parameter | Label | Default | Allowed | Description |", "|---|---|---|---|---|"]
    for name in order:
        p = template["Parameters"][name]
        allowed = ", ".join(f"`{v}`" for v in p["AllowedValues"]) if "AllowedValues" in p else (
            _cell(p.get("ConstraintDescription", "")))
        default = f"`{p['Default']}`" if "Default" in p and p["Default"] != "" else (
            "(empty)" if "Default" in p else "required")
        rows.append(f"| `{name}` | {_cell(labels.get(name, {}).get('default', ''))} | {default} "
                    f"| {allowed} | {_cell(p.get('Description', ''))} |")
    return "\n".join(rows)


def detection_reference() -> str:
    """One block per detection of the catalog, in the guard-rule style."""
    blocks = []
    for d in DETECTIONS:
        blocks.append("\n".join([
            f"### {d.name}: {d.title}",
            "",
            f"- **Kind**: {d.kind.value} (service: {d.service.value})",
            f"- **Detects**: {d.detects}",
            f"- **Source records**: {d.source_records}",
            f"- **Fires when**: {d.fires_when}",
            f"- **Not covered**: {d.not_covered}",
            f"- **What to do**: {d.what_to_do}",
            f"- **Filter pattern**: `{d.filter_pattern}`",
        ]))
    return "\n\n".join(blocks)


def replace_section(text: str, name: str, body: str) -> str:
    """Replace what stands between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README has no <!-- {name}:start --> / <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
