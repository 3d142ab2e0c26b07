"""The text an EventBridge rule writes to the event queue for each matching event: an
InputTransformer that answers who, what, where, and how to undo it, built from a detection's
catalog entry.

The template is a series of quoted lines (EventBridge's documented form for a text message with
several lines); each value sits on a labelled line, so a field missing from a record leaves an
empty value rather than a broken sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from detections.catalog import Detection, Kind, Service

PREDEFINED = {"aws.events.rule-name", "aws.events.rule-arn", "aws.events.event.ingestion-time"}
INPUT_TEMPLATE_LIMIT = 8192  # EventBridge's maximum InputTemplate length
MAX_INPUT_PATHS = 100

COMMON_PATHS = {
    "account": "$.account",
    "region": "$.region",
    "time": "$.detail.eventTime",
    "principal": "$.detail.userIdentity.arn",
    "identityType": "$.detail.userIdentity.type",
    "invokedBy": "$.detail.userIdentity.invokedBy",
    "eventSource": "$.detail.eventSource",
    "eventName": "$.detail.eventName",
    "errorCode": "$.detail.errorCode",
    "errorMessage": "$.detail.errorMessage",
    "sourceIp": "$.detail.sourceIPAddress",
    "userAgent": "$.detail.userAgent",
}

SERVICE_PATHS = {
    Service.KMS: {
        "keyArn": "$.detail.resources[0].ARN",
        "keyId": "$.detail.requestParameters.keyId",
        "window": "$.detail.requestParameters.pendingWindowInDays",
        "deletionDate": "$.detail.responseElements.deletionDate",
        "keyState": "$.detail.responseElements.keyState",
    },
    Service.SECRETS_MANAGER: {
        "secretId": "$.detail.requestParameters.secretId",
        "secretArn": "$.detail.responseElements.aRN",
        "window": "$.detail.requestParameters.recoveryWindowInDays",
        "force": "$.detail.requestParameters.forceDeleteWithoutRecovery",
        "deletionDate": "$.detail.responseElements.deletionDate",
    },
}


@dataclass(frozen=True)
class Message:
    """An EventBridge InputTransformer: paths to extract and the template that uses them."""

    input_paths: dict[str, str]
    input_template: str


def _resource_lines(detection: Detection) -> list[str]:
    if detection.service is Service.KMS:
        # Crypto calls (Decrypt) carry no keyId parameter; the record's resources name the key.
        key = "<keyArn>" if detection.kind is Kind.ACCESS else "<keyId>"
        lines = [
            "Key: <keyArn>   (as requested: <keyId>)",
            "Deletion date: <deletionDate>   Waiting period (days): <window>   Key state: <keyState>",
            "Console: https://<region>.console.aws.amazon.com/kms/home?region=<region>#/kms/keys",
        ]
        if detection.kind is Kind.RECOVERY:
            return lines + [f"Enable the key again if it is needed: aws kms enable-key --region <region> --key-id {key}"]
        return lines + [
            f"Cancel the deletion: aws kms cancel-key-deletion --region <region> --key-id {key}",
            f"Then enable the key: aws kms enable-key --region <region> --key-id {key}",
        ]
    lines = [
        "Secret: <secretId>   ARN: <secretArn>",
        "Deletion date: <deletionDate>   Recovery window (days): <window>   "
        "Force delete without recovery: <force>",
        "Console: https://<region>.console.aws.amazon.com/secretsmanager/secret?name=<secretId>&region=<region>",
    ]
    if detection.kind is Kind.RECOVERY:
        return lines
    return lines + [
        "Restore the secret: aws secretsmanager restore-secret --region <region> --secret-id <secretId>",
        "(A secret deleted with force delete without recovery cannot be restored.)",
    ]


def _quote(line: str) -> str:
    return '"' + line.replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_message(detection: Detection) -> Message:
    """The InputTransformer for ``detection``'s rule: one entry of the event queue. What the
    detection means and what to do is in the alarm's email; this names the event's particulars."""
    lines = [
        detection.title.upper() if detection.kind is not Kind.RECOVERY else detection.title,
        "",
        "Account: <account>   Region: <region>   Time: <time>",
        "Principal: <principal>   Type: <identityType>   Via service: <invokedBy>",
        "API call: <eventSource> <eventName>   Source IP: <sourceIp>   User agent: <userAgent>",
        "Error: <errorCode> <errorMessage>",
        *_resource_lines(detection),
        "",
        f"Detection: {detection.name}, rule <aws.events.rule-name>",
    ]
    template = "\n".join(_quote(line) for line in lines)
    paths = {**COMMON_PATHS, **SERVICE_PATHS[detection.service]}
    placeholders = set(re.findall(r"<([^<>]*)>", template))
    unknown = placeholders - set(paths) - PREDEFINED
    if unknown:  # EventBridge would reject or garble them
        raise ValueError(f"{detection.name}: unknown placeholders {sorted(unknown)} in its message")
    used = {name: path for name, path in paths.items() if name in placeholders}
    return Message(used, template)
