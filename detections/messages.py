"""What a person is told about each detection: the single definition of an alert's content.

Two halves, both built from a detection's catalog entry:

- :func:`make_queue_entry`, the EventBridge InputTransformer of a rule's target: a JSON document that
  names the detection and carries the whole event (``<aws.events.event.json>``, EventBridge user
  guide, input transformation: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html).
- :func:`notification_spec`, data the notifier function (``functions/notifier.py``) renders into
  the email: the subject, the lines of each event's details, and where in a CloudTrail event each
  value is found. The build embeds every detection's spec in the function's inline code.

A field lists its sources in order; the first one present in the event wins, so a record that lacks
one (a crypto call has no ``keyId`` parameter; an AWS service acting for a user has no ARN) still
names the key and the caller. ``{name}`` in a line is replaced by the field's value.
"""

from __future__ import annotations

import re
from typing import Any

from detections.catalog import DETECTIONS, KMS_CONSOLE, SECRETS_CONSOLE, Detection, Kind, Service, by_name

INPUT_TEMPLATE_LIMIT = 8192  # EventBridge's maximum InputTemplate length

Source = dict[str, str]  # {"path": "$.a.b[0]"} or {"path": ..., "match": regex with one group}


def _paths(*paths: str) -> list[Source]:
    return [{"path": p} for p in paths]


COMMON_FIELDS: dict[str, list[Source]] = {
    # recipientAccountId and awsRegion are in the CloudTrail record itself: they survive forwarding
    # to a collector's bus unchanged, whatever the envelope says.
    "account": _paths("$.detail.recipientAccountId", "$.account"),
    "region": _paths("$.detail.awsRegion", "$.region"),
    "time": _paths("$.detail.eventTime", "$.time"),
    "caller": _paths("$.detail.userIdentity.arn", "$.detail.userIdentity.invokedBy",
                     "$.detail.userIdentity.principalId"),
    "identityType": _paths("$.detail.userIdentity.type"),
    "invokedBy": _paths("$.detail.userIdentity.invokedBy"),
    "eventSource": _paths("$.detail.eventSource"),
    "eventName": _paths("$.detail.eventName"),
    "errorCode": _paths("$.detail.errorCode"),
    "errorMessage": _paths("$.detail.errorMessage"),
    "sourceIp": _paths("$.detail.sourceIPAddress"),
    "userAgent": _paths("$.detail.userAgent"),
}

# The key a use detection is about is the one KMS names in the error ("<key ARN> is pending
# deletion."): a ReEncrypt record lists two keys in its resources.
KEY_IN_ERROR = {"path": "$.detail.errorMessage", "match": r"^(arn:aws[a-z-]*:kms:\S+?) is pending"}

SERVICE_FIELDS: dict[Service, dict[str, list[Source]]] = {
    Service.KMS: {
        "key": [KEY_IN_ERROR, *_paths("$.detail.responseElements.keyId", "$.detail.resources[0].ARN",
                                      "$.detail.requestParameters.keyId",
                                      # a custom key store's calls name the store, not a key
                                      "$.detail.requestParameters.customKeyStoreId")],
        "window": _paths("$.detail.requestParameters.pendingWindowInDays"),
        "deletionDate": _paths("$.detail.responseElements.deletionDate"),
        "keyState": _paths("$.detail.responseElements.keyState"),
    },
    Service.SECRETS_MANAGER: {
        "secret": _paths("$.detail.responseElements.aRN", "$.detail.requestParameters.secretId",
                         "$.detail.resources[0].ARN"),
        "window": _paths("$.detail.requestParameters.recoveryWindowInDays"),
        "force": _paths("$.detail.requestParameters.forceDeleteWithoutRecovery"),
        "deletionDate": _paths("$.detail.responseElements.deletionDate"),
    },
}
RESOURCE_FIELD = {Service.KMS: "key", Service.SECRETS_MANAGER: "secret"}


AUTO_CANCEL_TEXT = {
    Service.KMS: ("AutoCancelOnUse={mode}: SSM Automation cancels the deletion of the key{scope}; it then stays "
                  "Disabled until someone runs the enable-key command above."),
    Service.SECRETS_MANAGER: "AutoCancelOnUse={mode}: SSM Automation restores the secret{scope}.",
}
AUTO_CANCEL_SCOPE = {"Tagged": " if its owners tagged it deletion-alarms:auto-cancel=true", "All": ""}


def undo_commands(detection: Detection) -> list[str]:
    """The commands that undo what the detection saw, naming the resource from the event."""
    if detection.immediate:  # nothing to cancel or restore: what_to_do says what is left
        return []
    if detection.service is Service.KMS:
        enable = "aws kms enable-key --region {region} --key-id {key}"
        if detection.kind is Kind.RECOVERY:
            return [enable]
        return ["aws kms cancel-key-deletion --region {region} --key-id {key}", enable]
    if detection.kind is Kind.RECOVERY:
        return []
    return ["aws secretsmanager restore-secret --region {region} --secret-id {secret}"]


def _detail_lines(detection: Detection) -> list[str]:
    lines = [
        "Account: {account}   Region: {region}   Time: {time}",
        "Caller: {caller}   (type {identityType}; via service {invokedBy})",
        "API call: {eventSource} {eventName}   Source IP: {sourceIp}   User agent: {userAgent}",
        "Error: {errorCode} {errorMessage}",
    ]
    if detection.service is Service.KMS:
        lines += [
            "Key: {key}",
            "Deletion date: {deletionDate}   Waiting period (days): {window}   Key state: {keyState}",
            "Console: https://{region}.console.aws.amazon.com/kms/home?region={region}#/kms/keys",
        ]
    else:
        lines += [
            "Secret: {secret}",
            "Deletion date: {deletionDate}   Recovery window (days): {window}   "
            "Force delete without recovery: {force}",
            "Console: https://{region}.console.aws.amazon.com/secretsmanager/secret?name={secret}&region={region}",
        ]
    undo = undo_commands(detection)
    if undo:
        lines.append("Undo: " + undo[0])
        lines += ["      " + command for command in undo[1:]]
    if detection.immediate:
        lines.append("No waiting period: nothing cancels this. See What to do.")
    elif detection.service is Service.SECRETS_MANAGER and detection.kind is Kind.DELETION:
        lines.append("(Force delete without recovery = true: the secret is gone and nothing can restore it.)")
    return lines


def notification_spec(detection: Detection) -> dict[str, Any]:
    """The data the notifier renders for ``detection``: JSON-serializable, embedded by the build."""
    fields = {**COMMON_FIELDS, **SERVICE_FIELDS[detection.service]}
    lines = _detail_lines(detection)
    subject = f"{detection.headline}: {{{RESOURCE_FIELD[detection.service]}}} ({{account}} {{region}})"
    used = set(re.findall(r"\{(\w+)\}", "\n".join(lines) + subject))
    unknown = used - set(fields)
    if unknown:  # a typo would render as a literal placeholder in every email
        raise ValueError(f"{detection.name}: unknown fields {sorted(unknown)} in its message")
    return {
        "name": detection.name,
        "title": detection.title,
        "kind": detection.kind.value,
        "subject": subject,
        "resource": RESOURCE_FIELD[detection.service],
        "fields": {name: sources for name, sources in fields.items() if name in used | {"caller"}},
        "lines": lines,
        "meaning": detection.fires_when,
        "what_to_do": detection.what_to_do,
        # Shown when the stack cancels on use (AutoCancelOnUse Tagged or All): what the automation does.
        "auto_cancel": AUTO_CANCEL_TEXT.get(detection.service, "") if detection.kind is Kind.ACCESS else "",
        "auto_cancel_scope": AUTO_CANCEL_SCOPE,
    }


REMINDER = "DeletionReminder"
"""The daily check's entry in the alert queue (not a detection: it reads the account, not a record)."""
# The scheduling detection of each kind: its undo commands are the reminder's.
REMINDED_BY = {Service.KMS: "KmsKeyDisableOrDeletion", Service.SECRETS_MANAGER: "SecretDeletion"}


def reminder_spec() -> dict[str, Any]:
    """What the daily reminder says about each key or secret whose deletion is near, and about each
    secret that was finally deleted. Placeholders: account, region, key or secret (the ARN), name,
    deletion (ISO 8601 UTC), days, state, caller, scheduledAt, dateSource."""
    lines = {}
    for service, resource in RESOURCE_FIELD.items():
        subject = "KMS key" if service is Service.KMS else "Secret"
        names = "Aliases" if service is Service.KMS else "Name"
        undo = undo_commands(by_name(REMINDED_BY[service]))
        lines[resource] = [
            f"{subject}: {{{resource}}}   {names}: {{name}}",
            "Deleted on: {deletion} UTC, in {days} day(s)   State: {state}{dateSource}",
            "Scheduled by: {caller} at {scheduledAt}",
            "Undo: " + undo[0], *["      " + command for command in undo[1:]],
        ]
    return {
        "name": REMINDER,
        "kind": "Reminder",
        "title": "Keys and secrets that will be deleted soon",
        "subject": "Deletion reminder: {count} key(s) or secret(s) deleted within {days} days ({account} {region})",
        "final_subject": "Deleted for good: {count} secret(s) ({account} {region})",
        "lines": lines,
        "final_title": "SECRETS DELETED FOR GOOD (their recovery window ended; nothing can restore them)",
        "final_lines": ["Secret: {secret}   Name: {name}",
                        "Recovery window ended: {deletion} UTC   Scheduled by: {caller} at {scheduledAt}"],
        "meaning": ("These keys and secrets are scheduled for deletion and the day is near. After it, data "
                    "encrypted under a key cannot be decrypted, and a secret's value is gone."),
        "what_to_do": (f"If a deletion is not intended, run its Undo command today ({KMS_CONSOLE}; "
                       f"{SECRETS_CONSOLE}). Every pending deletion in every Region: deletion-alarms inventory."),
    }


def notification_specs(detections: tuple[Detection, ...] = DETECTIONS) -> dict[str, dict[str, Any]]:
    """Every detection's spec, by name, and the daily reminder's."""
    return {**{d.name: notification_spec(d) for d in detections}, REMINDER: reminder_spec()}


def queue_entry(name: str) -> dict[str, Any]:
    """A rule target's InputTransformer: ``{"detection": NAME, "event": <the whole event>}``.
    ``aws.events.event.json`` is the full event, usable only as a JSON value (it is not escaped)."""
    template = '{"detection": "%s", "event": <aws.events.event.json>}' % name
    assert len(template) <= INPUT_TEMPLATE_LIMIT and re.fullmatch(r"\w+", name)
    return {"InputTemplate": template}


def make_queue_entry(detection: Detection) -> dict[str, Any]:
    """The InputTransformer of ``detection``'s rule target."""
    return queue_entry(detection.name)
