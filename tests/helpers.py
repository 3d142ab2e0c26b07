"""Assertion helpers over a template dict, in the style of CDK assertions, and a small evaluator
of CloudFormation conditions so tests can ask which resources a parameter set deploys."""

from __future__ import annotations

from typing import Any, Mapping


# Where alerts go: the topic this stack creates, or the existing one it is given.
ALERT_TOPIC = {"Fn::If": ["CreateTopic", {"Ref": "AlertTopic"}, {"Ref": "ExistingTopicArn"}]}


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict]:
    """Logical ID -> resource, for every resource of ``resource_type``."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def has_properties(resource: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """True when every key of ``expected`` is in the resource's Properties with that value."""
    props = resource.get("Properties", {})
    return all(props.get(k) == v for k, v in expected.items())


def parameter_values(template: Mapping[str, Any], **overrides: str) -> dict[str, str]:
    """The parameters' defaults, with ``overrides``; a parameter without default must be given."""
    values = {name: p["Default"] for name, p in template["Parameters"].items() if "Default" in p}
    values.update(overrides)
    return values


class ConditionEvaluator:
    """Evaluates Fn::Equals/And/Or/Not, Condition and Ref over parameter values."""

    def __init__(self, template: Mapping[str, Any], params: Mapping[str, str]) -> None:
        self.template = template
        self.params = dict(params)
        self.params.setdefault("AWS::Region", "us-east-1")
        self.params.setdefault("AWS::AccountId", "111122223333")
        self.params.setdefault("AWS::Partition", "aws")

    def value(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            (fn, arg), = expr.items()
            if fn == "Ref":
                if arg in self.template.get("Resources", {}):
                    return arg  # a resource stands for itself
                declared = self.template.get("Parameters", {}).get(arg, {})
                if declared.get("Type") == "CommaDelimitedList" and isinstance(self.params[arg], str):
                    return self.params[arg].split(",")  # what Ref gives for such a parameter
                return self.params[arg]
            if fn == "Fn::GetAtt":
                return ".".join(arg)
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Equals":
                return str(self.value(arg[0])) == str(self.value(arg[1]))
            if fn == "Fn::And":
                return all(self.value(a) for a in arg)
            if fn == "Fn::Or":
                return any(self.value(a) for a in arg)
            if fn == "Fn::Not":
                return not self.value(arg[0])
            if fn == "Fn::Split":
                return str(self.value(arg[1])).split(arg[0])
            if fn == "Fn::Select":
                return self.value(arg[1])[int(arg[0])]
            if fn == "Fn::Join":
                items = self.value(arg[1])
                return arg[0].join(str(self.value(a)) for a in items)
            if fn == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::Contains":
                return str(self.value(arg[1])) in [str(self.value(a)) for a in self.value(arg[0])]
            if fn == "Fn::EachMemberEquals":
                return all(str(self.value(a)) == str(self.value(arg[1])) for a in self.value(arg[0]))
            raise NotImplementedError(fn)
        if isinstance(expr, list):
            return [self.value(a) for a in expr]
        return expr

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def deployed(self) -> set[str]:
        """Logical IDs of the resources created with these parameter values."""
        return {
            name for name, res in self.template["Resources"].items()
            if "Condition" not in res or self.condition(res["Condition"])
        }

    def resolve(self, node: Any) -> Any:
        """``node`` with every Fn::If decided and AWS::NoValue removed; other functions kept."""
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, yes, no = node["Fn::If"]
                return self.resolve(yes if self.condition(name) else no)
            out = {}
            for k, v in node.items():
                r = self.resolve(v)
                if r != {"Ref": "AWS::NoValue"}:
                    out[k] = r
            return out
        if isinstance(node, list):
            return [r for r in (self.resolve(v) for v in node) if r != {"Ref": "AWS::NoValue"}]
        return node

    def resolved_template(self) -> dict[str, Any]:
        """The template CloudFormation would act on for these parameters: resources and outputs
        whose condition is false removed, Fn::If decided, and each parameter's Default set to
        the chosen value (so that scanners which read defaults see this configuration)."""
        t = {k: v for k, v in self.template.items() if k not in ("Conditions", "Rules")}
        t["Parameters"] = {name: {**p, "Default": self.params[name]} if name in self.params else p
                           for name, p in self.template["Parameters"].items()}
        for section in ("Resources", "Outputs"):
            kept = {}
            for name, item in self.template.get(section, {}).items():
                if "Condition" in item and not self.condition(item["Condition"]):
                    continue
                kept[name] = {k: v for k, v in self.resolve(item).items() if k != "Condition"}
            t[section] = kept
        return t

    def failed_rules(self) -> list[str]:
        """Names of the template Rules whose assertions fail (with their messages)."""
        failed = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.value(assertion["Assert"]):
                    failed.append(f"{name}: {assertion.get('AssertDescription', '')}")
        return failed


from functions.notifier import json_path  # noqa: E402 - one resolver of EventBridge paths


def render_input_transformer(transformer: Mapping[str, Any], event: Mapping[str, Any],
                             rule_name: str = "deletion-alarms-Rule-EXAMPLE", missing: str = "") -> str:
    """The text EventBridge sends for a template of quoted lines: each placeholder replaced by its
    value (``missing`` when the event lacks it), each line read as the JSON string it is."""
    import json
    import re

    values = {name: json_path(event, path) for name, path in transformer.get("InputPathsMap", {}).items()}
    values["aws.events.rule-name"] = rule_name

    def substitute(match: "re.Match[str]") -> str:
        value = values[match.group(1)]
        text = missing if value is None else (value if isinstance(value, str) else json.dumps(value))
        return json.dumps(text)[1:-1]  # inserted into a quoted string: JSON-escaped

    rendered = re.sub(r"<([^<>]+)>", substitute, transformer["InputTemplate"])
    return "\n".join(json.loads(line) for line in rendered.splitlines())


# Parameter sets for the scanners (cfn-guard, checkov): the defaults, and enough others that every
# Condition of the workload template is both true and false in one of them (a test checks this).
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SCAN_CONFIGS: dict[str, dict[str, str]] = {
    "defaults": {"NotificationEmail": "security-team@example.com"},
    "metric-filters-existing-key": {
        "NotificationEmail": "security-team@example.com", "DetectionEngine": "CloudWatchLogs",
        "CloudTrailLogGroupName": "aws-cloudtrail-logs-111122223333", "TopicEncryption": "ExistingKey",
        "TopicKmsKeyArn": KEY_ARN, "RecoveryNotices": "Disabled"},
    "both-engines-deletion-only-no-kms": {
        "NotificationEmail": "security-team@example.com", "DetectionEngine": "Both",
        "CloudTrailLogGroupName": "aws-cloudtrail-logs-111122223333", "DetectionMode": "DeletionOnly",
        "KmsKeyMonitoring": "Disabled"},
    "existing-topic-no-secrets": {
        "ExistingTopicArn": "arn:aws:sns:us-east-1:111122223333:security-alerts",
        "SecretMonitoring": "Disabled", "DetectionMode": "AccessOnly", "AutoCancelOnUse": "All"},
    "nothing-watched": {
        "NotificationEmail": "security-team@example.com", "KmsKeyMonitoring": "Disabled",
        "SecretMonitoring": "Disabled"},
    # Organization mode: the rules forward to the collector's bus; nothing alerts here.
    "forwarding-to-a-collector": {
        "CollectorEventBusArn": "arn:aws:events:eu-west-1:444455556666:event-bus/deletion-alarms-collector",
        "NotificationEmail": ""},
    # Where Control Tower's CT.LAMBDA.PR.3 requires functions in a VPC; with the organization's key.
    "notifier-in-a-vpc": {
        "NotificationEmail": "security-team@example.com", "TopicEncryption": "ExistingKey", "TopicKmsKeyArn": KEY_ARN,
        "NotifierSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
        "NotifierSecurityGroupIds": "sg-0123456789abcdef0", "AutoCancelOnUse": "Tagged",
        "SecurityHubFindings": "Enabled"},
    # The one configuration that is insecure by the user's explicit choice.
    "encryption-disabled": {"NotificationEmail": "security-team@example.com", "TopicEncryption": "Disabled"},
}


class ConcreteTemplate(ConditionEvaluator):
    """A template as deployed: conditions decided, and Ref, Fn::GetAtt and Fn::Sub replaced by the
    physical names and ARNs CloudFormation would give the resources (``physical`` maps a logical ID
    to its attributes, "Ref" included)."""

    def __init__(self, template: Mapping[str, Any], params: Mapping[str, str],
                 physical: Mapping[str, Mapping[str, str]], stack_name: str = "deletion-alarms") -> None:
        super().__init__(template, params)
        self.physical = physical
        self.params.setdefault("AWS::StackName", stack_name)

    def _attribute(self, logical_id: str, attribute: str) -> str:
        try:
            return self.physical[logical_id][attribute]
        except KeyError:
            raise KeyError(f"no physical {attribute} given for {logical_id}") from None

    def value(self, expr: Any) -> Any:
        import re

        if isinstance(expr, dict) and len(expr) == 1:
            (fn, arg), = expr.items()
            if fn == "Ref" and arg in self.template.get("Resources", {}):
                return self._attribute(arg, "Ref")
            if fn == "Fn::GetAtt":
                return self._attribute(arg[0], arg[1])
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def substitute(match: "re.Match[str]") -> str:
                    name = match.group(1)
                    if name in variables:
                        return str(self.value(variables[name]))
                    if "." in name:
                        return self._attribute(*name.split(".", 1))
                    return str(self.value({"Ref": name}))
                return re.sub(r"\$\{([^}!]+)\}", substitute, text)
            if fn in ("Ref", "Condition") or fn.startswith("Fn::"):
                return super().value(expr)
        if isinstance(expr, dict):
            out = {k: self.value(v) for k, v in expr.items()}
            return {k: v for k, v in out.items() if v != "AWS::NoValue"}
        if isinstance(expr, list):
            return [v for v in (self.value(a) for a in expr) if v != "AWS::NoValue"]
        return expr

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's Properties, fully resolved."""
        return self.value(self.resolve(self.template["Resources"][logical_id].get("Properties", {})))


def local_target(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A workload rule's target when the stack alerts in its own account (the else branch of the
    ForwardToCollector choice)."""
    (target,) = rule["Properties"]["Targets"]
    if "Fn::If" in target:
        condition, _forward, local = target["Fn::If"]
        assert condition == "ForwardToCollector"
        return local
    return target


def record_aws_calls(monkeypatch) -> set[str]:
    """From now on, every AWS call made in this process, as an IAM action ("kms:ListKeys"), is
    added to the returned set."""
    import botocore.client

    called: set[str] = set()
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        called.add(f"{self.meta.service_model.signing_name}:{operation}")
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return called
