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


# ------------------------------------------------------------------ what a person receives
# One record of each outcome, by corpus class: the examples the build renders through the template's
# own notifier code (docs/alerts.md; the first one also in the README).
ALERT_EXAMPLES = (
    ("kms-decrypt-pending-deletion-kmsinvalidstateexception", "KmsKeyPendingDeletionUse"),
    ("secretsmanager-getsecretvalue-marked-for-deletion-new-wording", "SecretPendingDeletionUse"),
    ("kms-decrypt-pending-import", "KmsKeyUnusableUse"),
    ("kms-schedulekeydeletion-success", "KmsKeyDisableOrDeletion"),
    ("kms-schedulekeydeletion-multi-region-primary", "KmsKeyDisableOrDeletion"),
    ("kms-disablekey", "KmsKeyDisableOrDeletion"),
    ("kms-schedulekeydeletion-denied", "KmsKeyDisableOrDeletion"),
    ("secretsmanager-deletesecret-recovery-window", "SecretDeletion"),
    ("secretsmanager-deletesecret-force", "SecretDeletion"),
    ("secretsmanager-deletesecret-denied", "SecretDeletion"),
    ("kms-deleteimportedkeymaterial", "KmsKeyMaterialDeletion"),
    ("kms-disconnectcustomkeystore", "KmsKeyMaterialDeletion"),
    ("kms-deletekey-service-event", "KmsKeyDeleted"),
    ("secretsmanager-removeregionsfromreplication", "SecretReplicaDeletion"),
    ("kms-putkeypolicy-lockout-check-bypassed", "KmsKeyPolicyLockoutRisk"),
    ("kms-cancelkeydeletion", "KmsKeyDeletionCancelled"),
    ("secretsmanager-restoresecret", "SecretRestored"),
)
# With AutoCancelOnUse: the call made, and the call refused (corpus class, detection, error code or None).
AUTO_CANCEL_EXAMPLES = (
    ("kms-decrypt-pending-deletion-kmsinvalidstateexception", "KmsKeyPendingDeletionUse", None),
    ("kms-decrypt-pending-deletion-kmsinvalidstateexception", "KmsKeyPendingDeletionUse", "AccessDeniedException"),
    ("secretsmanager-getsecretvalue-marked-for-deletion-new-wording", "SecretPendingDeletionUse", None),
)
EXAMPLE_ALIAS = "alias/orders-db"
EXAMPLE_DAYS_LEFT = 7


def load_inline(code: str, name: str = "inline_notifier_docs") -> Any:
    """The notifier module as Lambda loads the template's inline code (index.py)."""
    import sys
    import types

    module = types.ModuleType(name)
    sys.modules[name] = module  # its dataclasses look their module up there
    exec(compile(code, "index.py", "exec"), module.__dict__)  # noqa: S102 - our own template's code
    return module


class _Reads:
    """Stands for KMS and Secrets Manager as the notifier reads them, with the documented response
    shapes, in the state the record left the key or secret in: a key has an alias; what is pending
    deletion goes EXAMPLE_DAYS_LEFT days after the event; a force-deleted secret is gone."""

    class NotFound(Exception):
        response = {"Error": {"Code": "ResourceNotFoundException"}}

    class Refused(Exception):
        def __init__(self, code: str) -> None:
            super().__init__(code)
            self.response = {"Error": {"Code": code, "Message": "User: arn:aws:sts::111122223333:assumed-role/"
                                       "deletion-alarms-NotifierRole-1A2B3C4D/notifier is not authorized to "
                                       "perform this operation"}}

    def __init__(self, record: Mapping[str, Any], deletion: Any, refuse: str | None = None) -> None:
        self.record, self.deletion, self.refuse = record, deletion, refuse
        self.cancelled = False

    def cancel_key_deletion(self, KeyId: str) -> dict:  # noqa: N803
        if self.refuse:
            raise self.Refused(self.refuse)
        self.cancelled = True
        return {"KeyId": KeyId}

    def restore_secret(self, SecretId: str) -> dict:  # noqa: N803
        return self.cancel_key_deletion(SecretId)

    def _state(self) -> str:
        record = self.record
        message = record.get("errorMessage") or ""
        for words, state in (("is pending import", "PendingImport"), ("is unavailable", "Unavailable")):
            if words in message:
                return state
        if record.get("errorCode") and "pending" not in message:
            return "Enabled"
        if self.cancelled:
            return "Disabled"
        return ((record.get("responseElements") or {}).get("keyState")
                or {"DisableKey": "Disabled", "CancelKeyDeletion": "Disabled", "DeleteImportedKeyMaterial":
                    "PendingImport", "PutKeyPolicy": "Enabled", "CreateKey": "Enabled"}.get(record["eventName"],
                                                                                           "PendingDeletion"))

    def describe_key(self, KeyId: str) -> dict:  # noqa: N803 - boto3's parameter name
        if self.record["eventName"] == "DeleteKey":
            raise self.NotFound()
        state = self._state()
        return {"KeyMetadata": {"Arn": KeyId, "KeyId": KeyId.rsplit("/", 1)[-1], "KeyState": state,
                                "Description": "orders database",
                                **({"DeletionDate": self.deletion} if state == "PendingDeletion" else {})}}

    def get_paginator(self, name: str) -> Any:
        """CloudTrail LookupEvents by the key or secret (event history's response shape): an
        application role that used it every day, newest first; and ListSecrets: two secrets of this
        Region, one encrypted under the example key (by its alias, as DescribeSecret may show it)."""
        import json
        from datetime import timedelta

        role = "arn:aws:sts::111122223333:assumed-role/orders-app/i-0123456789abcdef0"
        secrets = [{"ARN": "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db/password-AbCdEf",
                    "Name": "prod/db/password", "KmsKeyId": EXAMPLE_ALIAS},
                   {"ARN": "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/api/token-GhIjKl",
                    "Name": "prod/api/token"}]

        def pages(**kwargs: Any) -> Any:
            if name == "list_secrets":
                return iter([{"SecretList": secrets}])
            assert name == "lookup_events"
            secret = ":secretsmanager:" in kwargs["LookupAttributes"][0]["AttributeValue"]
            calls = ("GetSecretValue",) if secret else ("Decrypt", "GenerateDataKey")
            events = [{"EventName": call, "EventTime": self.deletion - timedelta(days=EXAMPLE_DAYS_LEFT, hours=day),
                       "CloudTrailEvent": json.dumps({"userIdentity": {"arn": role}, "eventName": call})}
                      for day in range(1, 31) for call in calls]
            return iter([{"Events": events}])

        return type("Pages", (), {"paginate": lambda _, **kwargs: pages(**kwargs)})()

    def list_aliases(self, KeyId: str) -> dict:  # noqa: N803
        return {"Aliases": [{"AliasName": EXAMPLE_ALIAS, "TargetKeyId": KeyId}]}

    def describe_secret(self, SecretId: str) -> dict:  # noqa: N803
        record = self.record
        if (record.get("requestParameters") or {}).get("forceDeleteWithoutRecovery") and not record.get("errorCode"):
            raise self.NotFound()
        scheduled = not self.cancelled and ((record["eventName"] == "DeleteSecret" and not record.get("errorCode")) or
                                            "marked for deletion" in (record.get("errorMessage") or ""))
        return {"ARN": SecretId, "Name": "prod/db/password", **({"DeletedDate": self.deletion} if scheduled else {})}


def render_alert(module: Any, detection: str, record: Mapping[str, Any], auto_cancel: str = "Off",
                 refuse: str | None = None) -> tuple[str, str, dict]:
    """Subject, email text and chat notification of one record, as the notifier publishes them, five
    minutes after the event, in the record's account; with ``auto_cancel``, after the notifier's own
    cancel, made or refused with ``refuse``."""
    import json
    from datetime import datetime, timedelta

    event_time = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
    sent: list[dict] = []
    topic = type("Topic", (), {"publish": lambda self, **call: sent.append(call)})()
    reads = _Reads(record, event_time + timedelta(days=EXAMPLE_DAYS_LEFT), refuse)
    notifier = module.Notifier(
        topic, None, None, topic_arn="arn:aws:sns:us-east-1:111122223333:deletion-alarms-AlertTopic",
        queue_url="", claim_table="", log_group="/aws/lambda/deletion-alarms-NotifierFunction-1A2B3C4D", region=record["awsRegion"],
        specs=module.SPECS, clock=lambda: (event_time + timedelta(minutes=5)).timestamp(), log=lambda line: None,
        account=record.get("recipientAccountId", ""), clients=lambda service, region=None: reads)
    event = {"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": f"aws.{record['eventSource'].split('.')[0]}",
             "account": record.get("recipientAccountId"), "region": record["awsRegion"], "detail": record}
    digest = module.Digest(detection)
    digest.add([event], 1, "example", False)
    if auto_cancel != "Off":  # the call cancel_on_use makes, without its claim table
        notifier.auto_cancel, spec = auto_cancel, module.SPECS[detection]
        resource, region, _ = notifier.cancel_target(spec, event)
        notifier.cancels[resource] = notifier.cancel(spec, spec["auto_cancel"], resource, region)
    notifier.publish(digest)
    (call,) = sent
    message = json.loads(call["Message"])
    return call["Subject"], message["email"], json.loads(message["https"])


def alert_examples(code: str, records: Mapping[str, Mapping[str, Any]], only_first: bool = False) -> str:
    """Markdown: each example alert's subject and email, generated from the template's notifier;
    the first one's chat notification too."""
    import json

    module = load_inline(code)
    blocks = []
    cases = [(cls, detection, "Off", None) for cls, detection in ALERT_EXAMPLES]
    cases += [(cls, detection, "All", refuse) for cls, detection, refuse in AUTO_CANCEL_EXAMPLES]
    for i, (cls, detection, mode, refuse) in enumerate(cases[:1] if only_first else cases):
        subject, text, chat = render_alert(module, detection, records[cls], mode, refuse)
        how = "" if mode == "Off" else f", with AutoCancelOnUse={mode}" + (
            f" and the call refused ({refuse})" if refuse else " and the call made")
        blocks.append("\n".join([
            f"{'####' if only_first else '##'} {subject}{' (auto-cancel)' if mode != 'Off' else ''}", "",
            f"From the record `{cls}` ({detection}{how}).", "",
            "```text", f"Subject: {subject}", "", text, "```"]))
        if i == 0 and not only_first:  # the README keeps the email; docs/alerts.md has the chat form
            blocks.append("\n".join([
                "What a Slack or Microsoft Teams channel receives through AWS Chatbot (Amazon Q Developer in "
                "chat applications), its custom-notification form; an HTTPS subscriber (PagerDuty, a "
                "webhook) receives the same JSON:", "", "```json", json.dumps(chat, indent=2, sort_keys=True),
                "```"]))
    if not only_first:
        blocks.append(reminder_example(module))
        blocks.append(finding_example(module, records["kms-schedulekeydeletion-success"]))
    return "\n\n".join(blocks)


def finding_example(module: Any, record: Mapping[str, Any]) -> str:
    """Markdown: the Security Hub finding (SecurityHubFindings) of a scheduled key deletion, as the
    notifier imports it, read as KMS would answer."""
    import json
    from datetime import datetime, timedelta

    event_time = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
    reads = _Reads(record, event_time + timedelta(days=EXAMPLE_DAYS_LEFT), None)
    notifier = module.Notifier(
        None, None, None, topic_arn="", queue_url="", claim_table="", log_group="", region=record["awsRegion"],
        specs=module.SPECS, clock=lambda: (event_time + timedelta(minutes=5)).timestamp(), log=lambda line: None,
        account=record.get("recipientAccountId", ""), clients=lambda service, region=None: reads,
        security_hub="Enabled")
    event = {"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.kms",
             "account": record.get("recipientAccountId"), "region": record["awsRegion"], "detail": record}
    spec = module.SPECS["KmsKeyDisableOrDeletion"]
    digest = module.Digest("KmsKeyDisableOrDeletion")
    digest.add([event], 1, "example", False)
    (row,) = digest.details(spec)
    notifier.enrich(spec, [row])
    finding = notifier.finding(spec, row)
    return "\n".join(["## The Security Hub finding of the same deletion (`SecurityHubFindings`)", "",
                      "What the notifier imports after the email (BatchImportFindings, this account's default "
                      "product); a cancel imports the same `Id` with `RecordState` `ARCHIVED`.", "",
                      "```json", json.dumps(finding, indent=2, sort_keys=True), "```"])


def reminder_example(module: Any) -> str:
    """Markdown: the daily reminder as the notifier publishes it, on the day a key, a secret and a key's
    imported key material each have 7 days left (AtRisk items as the daily check finds them)."""
    import json
    from datetime import datetime, timedelta, timezone

    day = datetime(2026, 11, 28, 8, tzinfo=timezone.utc)
    sent: list[dict] = []
    topic = type("Topic", (), {"publish": lambda self, **call: sent.append(call)})()
    notifier = module.Notifier(
        topic, None, None, topic_arn="arn:aws:sns:us-east-1:111122223333:deletion-alarms-AlertTopic",
        queue_url="", claim_table="", log_group="", region="us-east-1", specs=module.SPECS, clock=day.timestamp,
        log=lambda line: None, account="111122223333", reminder_days="7,3,1")
    week = day + timedelta(days=7, hours=6)
    # The secret's own event history: an application still reading it since its deletion (refused).
    scheduled = datetime(2026, 11, 21, 9, 12, tzinfo=timezone.utc)
    role = "arn:aws:sts::111122223333:assumed-role/orders-app/i-0123456789abcdef0"
    reads = module.ResourceHistory([{"EventName": "GetSecretValue", "EventTime": scheduled + timedelta(hours=h),
                                     "CloudTrailEvent": json.dumps({"userIdentity": {"arn": role}})}
                                    for h in range(1, 100, 6)], True)
    uses = module.SPECS[module.REMINDER]["uses"]["secret"]
    secret_used = module.use_summary(reads, uses["operations"], uses["nothing"], after=scheduled)
    due = [module.AtRisk("key", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                         EXAMPLE_ALIAS, "PendingDeletion", week, caller="arn:aws:iam::111122223333:user/Alice",
                         scheduled_at="2026-11-05T14:03:27Z"),
           module.AtRisk("secret", "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db/password-a1B2c3",
                         "prod/db/password", "ScheduledForDeletion", week, caller="arn:aws:iam::111122223333:user/Bob",
                         scheduled_at=module.iso(scheduled), used_since=secret_used),
           module.AtRisk("material", "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321",
                         "alias/hsm-exported", "Enabled", week)]
    notifier.publish_reminder(day.date(), due, pending=2, undescribed=0, expiring=1)
    (call,) = sent
    text = json.loads(call["Message"])["email"]
    return "\n".join([f"## The daily reminder: {call['Subject']}", "",
                      "What the daily check (`ReminderDays`) sends when a deletion, or the expiry of imported key "
                      "material, is 7, 3 or 1 days away.", "", "```text", f"Subject: {call['Subject']}", "", text,
                      "```"])


def iam_roles(template: Mapping[str, Any]) -> str:
    """Markdown: every IAM role the template creates, when, who assumes it, what it may do (from the
    template itself, so the README cannot claim otherwise)."""
    rows = ["| Role | Created when | Assumed by | Permissions |", "|---|---|---|---|"]
    for logical_id, resource in sorted(template["Resources"].items()):
        if not resource["Type"].startswith("AWS::IAM::"):
            continue
        props = resource.get("Properties", {})
        principals = sorted({value for statement in props.get("AssumeRolePolicyDocument", {}).get("Statement", [])
                             for kind, values in statement.get("Principal", {}).items()
                             for value in (values if isinstance(values, list) else [values])})
        policies = []
        for policy in props.get("Policies", []):
            if "Fn::If" in policy:  # a conditional inline policy: [condition, policy, NoValue]
                condition, inner = policy["Fn::If"][0], policy["Fn::If"][1]
                policies.append(f"`{inner['PolicyName']}` (when {condition})")
            else:
                policies.append(f"`{policy['PolicyName']}`")
        if props.get("ManagedPolicyArns"):
            policies.append("AWS managed `AWSLambdaVPCAccessExecutionRole` (in a VPC only)")
        named = " (named)" if any(n in props for n in ("RoleName", "UserName")) else ""
        rows.append(f"| `{logical_id}`{named} | {resource.get('Condition', 'always')} | "
                    f"{', '.join(f'`{p}`' for p in principals)} | {', '.join(policies)} |")
    return "\n".join(rows)
