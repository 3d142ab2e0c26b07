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
from detections.operations import TWO_KEY_USES, USES

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
KEY_IN_ERROR = {"path": "$.detail.errorMessage", "match": r"^(arn:aws[a-z-]*:kms:\S+?) is (?:pending|unavailable)"}
# A secret's name inside its ARN: Secrets Manager appends a hyphen and six random characters.
SECRET_NAME_IN_ARN = r":secret:(.+)-[A-Za-z0-9]{6}$"
DEFAULT_WINDOW_DAYS = "30"  # ScheduleKeyDeletion and DeleteSecret without a window: 30 days (API references)

SERVICE_FIELDS: dict[Service, dict[str, list[Source]]] = {
    Service.KMS: {
        "key": [KEY_IN_ERROR, *_paths("$.detail.responseElements.keyId", "$.detail.resources[0].ARN",
                                      "$.detail.requestParameters.keyId")],
        # a custom key store's calls name the store, not a key
        "keyStore": _paths("$.detail.requestParameters.customKeyStoreId"),
        "window": [*_paths("$.detail.requestParameters.pendingWindowInDays"), {"value": DEFAULT_WINDOW_DAYS}],
        "deletionDate": _paths("$.detail.responseElements.deletionDate"),
        "keyState": _paths("$.detail.responseElements.keyState"),
    },
    Service.SECRETS_MANAGER: {
        # responseElements.arn since February 2024, aRN before (Secrets Manager user guide,
        # cloudtrail_log_entries); the secret ID a caller gave may be a name or a partial ARN.
        "secret": _paths("$.detail.responseElements.arn", "$.detail.responseElements.aRN",
                         "$.detail.requestParameters.secretId", "$.detail.resources[0].ARN"),
        "secretName": [*_paths("$.detail.responseElements.name"),
                       {"path": "$.detail.responseElements.arn", "match": SECRET_NAME_IN_ARN},
                       {"path": "$.detail.responseElements.aRN", "match": SECRET_NAME_IN_ARN},
                       {"path": "$.detail.requestParameters.secretId", "match": SECRET_NAME_IN_ARN},
                       {"path": "$.detail.requestParameters.secretId", "match": r"^([^:]+)$"}],
        "window": [*_paths("$.detail.requestParameters.recoveryWindowInDays"), {"value": DEFAULT_WINDOW_DAYS}],
        "force": _paths("$.detail.requestParameters.forceDeleteWithoutRecovery"),
        "deletionDate": _paths("$.detail.responseElements.deletionDate"),
        "replicaRegions": [{"path": "$.detail.requestParameters.removeReplicaRegions", "join": ", "}],
        "replicaRegionArgs": [{"path": "$.detail.requestParameters.removeReplicaRegions", "join": " ",
                               "each": "Region=%s"}],
    },
}
RESOURCE_FIELD = {Service.KMS: "key", Service.SECRETS_MANAGER: "secret"}
NAME_FIELD = {Service.KMS: "key", Service.SECRETS_MANAGER: "secretName"}
"""What the subject names: the notifier shortens a key ARN to its alias or key ID."""
# Values the notifier adds from its own reads (DescribeKey, ListAliases, DescribeSecret) and its clock;
# a line that uses one is left out when the read was not possible.
# Fields the notifier itself reads from every record (the caller for distinct rows; dates and the window
# for the deletion date), whether or not a line shows them.
NOTIFIER_READS = frozenset({"caller", "time", "eventName", "window", "deletionDate"})
ENRICHED_FIELDS = ("aliases", "description", "state", "deletion", "daysLeft", "deletionNote", "deletionUnknown",
                   "readNote", "autoCancel", "recentUse", "encryptedSecrets")

# ------------------------------------------------------------------ what happened: the outcomes
# An outcome is what a record says happened, decided from the record alone (event name, error code,
# force flag, key state). Each has its own subject words, meaning and undo, so a denied attempt never
# reads like a deletion and a force delete is never offered a restore. The notifier takes the first
# outcome of a detection whose ``when`` holds: every field named must be present ("present"), absent
# ("absent"), or one of the values listed. ``rank`` orders a digest's events: the worst comes first
# and names the subject.
DENIED = ["AccessDenied", "AccessDeniedException"]  # CloudTrail's errorCode for a denied call
LOSS, USE, SCHEDULED, FAILED, REFUSED, RESOLVED = range(6)

ENABLE_KEY = "aws kms enable-key --region {region} --key-id {key}"
CANCEL_KEY_DELETION = "aws kms cancel-key-deletion --region {region} --key-id {key}"
RESTORE_SECRET = "aws secretsmanager restore-secret --region {region} --secret-id {secret}"

# What the notifier says when the stack cancels on use (AutoCancelOnUse Tagged or All): the notifier
# makes the one call itself, once per key or secret per few minutes, and reports its result in the
# alert that describes the use. Placeholders: mode, at (HH:MM UTC), error (code: message), account.
_BY_HAND = "The deletion is still scheduled: if the use is legitimate, run the undo commands below by hand."
AUTO_CANCEL = {
    Service.KMS: {
        "call": "CancelKeyDeletion",
        # After a cancel made, what is left to the person: it replaces the outcome's undo and what to do.
        "next": [ENABLE_KEY],
        "next_to_do": ("Find what still uses the key (the caller above). Enable the key if it needs it; schedule "
                       "the deletion again only once nothing does."),
        "done": ("Cancelled automatically (AutoCancelOnUse={mode}, CancelKeyDeletion at {at} UTC): the key is no "
                 "longer pending deletion. KMS leaves a cancelled key Disabled, so whatever used it keeps failing "
                 "(now with \"is disabled\") until its owner runs the enable-key command below. The key is not "
                 "enabled automatically: its owner may have disabled it on purpose before scheduling the deletion."),
        # CancelKeyDeletion on a key that is no longer pending deletion (KMS guide, key states): cancelled
        # already, by someone or by a run of the notifier that was stopped before it recorded its result.
        "already": ("Not needed: KMS answered that the key is not pending deletion ({error}): its deletion was "
                    "cancelled already. It stays Disabled until its owner runs the enable-key command below."),
        "refused": ("Not cancelled automatically: AutoCancelOnUse=Tagged, and the cancel was refused ({error}): the "
                    "key is not tagged deletion-alarms:auto-cancel=true, or its key policy does not let this "
                    "account's IAM policies cancel it. " + _BY_HAND),
    },
    Service.SECRETS_MANAGER: {
        "call": "RestoreSecret",
        "next": [],
        "next_to_do": "Find what still reads the secret (the caller above); delete it again only once nothing does.",
        "done": ("Restored automatically (AutoCancelOnUse={mode}, RestoreSecret at {at} UTC): the secret is no "
                 "longer scheduled for deletion, and can be read again."),
        "refused": ("Not restored automatically: AutoCancelOnUse=Tagged, and the restore was refused ({error}): the "
                    "secret is not tagged deletion-alarms:auto-cancel=true, or its resource policy denies it. "
                    + _BY_HAND),
    },
}
AUTO_CANCEL_COMMON = {
    "failed": "AUTOMATIC {call} FAILED ({error}). " + _BY_HAND,
    "earlier": "{result} (an earlier run of the notifier, at most a few minutes ago)",
    "underway": ("{call} was started at {at} UTC by another run of the notifier, and its result is not "
                 "recorded yet: check the state above, and run the undo commands below if it is still pending."),
    "unknown": ("The result of the automatic {call} could not be read now: check the state above, and run the "
                "undo commands below if it is still pending."),
    "skipped": ("Not attempted: more keys and secrets were used at once than one run cancels ({limit}), or the "
                "notifier was short of time. " + _BY_HAND),
    "elsewhere": ("Not cancelled automatically: it is in account {account}, and this notifier acts only in its "
                  "own account. " + _BY_HAND),
    "unnamed": ("Not cancelled automatically: the record names two keys, and its error message does not say which "
                "is pending deletion. " + _BY_HAND),
    "not_a_use": ("AutoCancelOnUse={mode}: these calls are not a use of it (management calls, such as a tag or a "
                  "second ScheduleKeyDeletion): nothing is cancelled automatically."),
}



def outcome(name: str, rank: int, headline: str, meaning: str, what_to_do: str, when: dict | None = None,
            undo: tuple[str, ...] = (), undo_label: str = "Undo", pending: bool = False) -> dict[str, Any]:
    """One outcome, as data the notifier evaluates (``pending``: the resource is now pending deletion,
    so the email gives its deletion date and the days left)."""
    return {"name": name, "rank": rank, "headline": headline, "meaning": meaning, "what_to_do": what_to_do,
            "when": when or {}, "undo": list(undo), "undo_label": undo_label, "pending": pending}


def attempts(event_name: str, action: str) -> list[dict[str, Any]]:
    """A call that was denied, or failed otherwise: nothing changed, nothing to undo."""
    return [
        outcome(f"{event_name}Denied", REFUSED, f"Denied: attempt to {action}",
                "The call was refused (an SCP, a key or resource policy, or IAM): nothing changed.",
                "Find out who tried and why (the caller above); if it was not expected, review that "
                "principal's access. Nothing needs undoing.",
                when={"eventName": [event_name], "errorCode": DENIED}),
        outcome(f"{event_name}Failed", FAILED, f"Failed: attempt to {action}",
                "The call failed with the error above: nothing changed by it.",
                "Find out who tried and why (the caller above); the error says why it failed. "
                "Nothing needs undoing.",
                when={"eventName": [event_name], "errorCode": "present"}),
    ]


KEY_RESTORE_STEPS = (
    "Cancelling leaves the key Disabled (KMS API reference, CancelKeyDeletion): run the enable-key "
    "command too if it was enabled before.")

OUTCOMES: dict[str, list[dict[str, Any]]] = {
    "KmsKeyPendingDeletionUse": [outcome(
        "Used", USE, "KMS key pending deletion was used",
        "Something called KMS with a key that is scheduled for deletion and was refused: an application, "
        "user or AWS service still depends on it, and the deletion is probably a mistake.",
        "If the key is still needed, cancel its deletion before the date above. " + KEY_RESTORE_STEPS,
        undo=(CANCEL_KEY_DELETION, ENABLE_KEY), pending=True)],
    "SecretPendingDeletionUse": [outcome(
        "Used", USE, "Secret marked for deletion was used",
        "Something tried to read or change a secret that is scheduled for deletion and was refused: an "
        "application or user still depends on it, and the deletion is probably a mistake.",
        "If the secret is still needed, restore it before the date above (the restore makes it readable "
        "again at once).",
        undo=(RESTORE_SECRET,), pending=True)],
    "KmsKeyUnusableUse": [outcome(
        "Used", USE, "KMS key without usable key material was used",
        "Something called KMS with a key that exists but cannot work, and was refused: the error above says "
        "which. 'is pending import': its imported key material was deleted or expired. 'is unavailable': "
        "its custom key store is disconnected. Data encrypted under the key is unreadable until then.",
        "'Pending import': import the same key material again from the copy you kept (aws kms "
        "get-parameters-for-import, then aws kms import-key-material). 'Unavailable': connect its key store "
        "again (aws kms connect-custom-key-store --custom-key-store-id with the key store ID above, or the one "
        "the Next command shows).",
        undo=("aws kms describe-key --region {region} --query 'KeyMetadata.[KeyState,Origin,CustomKeyStoreId]' "
              "--output text --key-id {key}",), undo_label="Next")],
    "KmsKeyDisableOrDeletion": [
        *attempts("ScheduleKeyDeletion", "schedule KMS key deletion"),
        *attempts("DisableKey", "disable KMS key"),
        outcome("Disabled", SCHEDULED, "KMS key disabled",
                "The key was disabled: every encrypt and decrypt with it fails until it is enabled again. "
                "Nothing is deleted.",
                "If the key is still needed, enable it again.", when={"eventName": ["DisableKey"]},
                undo=(ENABLE_KEY,)),
        outcome("ScheduledAfterReplicas", SCHEDULED, "KMS key scheduled for deletion after its replicas",
                "A multi-Region primary key was scheduled for deletion (PendingReplicaDeletion): KMS deletes it "
                "once its replica keys are deleted, and its waiting period starts then.",
                "If the key is still needed, cancel its deletion, and the deletion of its replicas in their "
                "Regions. " + KEY_RESTORE_STEPS,
                when={"eventName": ["ScheduleKeyDeletion"], "keyState": ["PendingReplicaDeletion"]},
                undo=(CANCEL_KEY_DELETION, ENABLE_KEY), pending=True),
        outcome("Scheduled", SCHEDULED, "KMS key scheduled for deletion in {window} days",
                "The key will be deleted when its waiting period ends; after that, data encrypted under it "
                "can never be decrypted.",
                "If the deletion was not intended, cancel it before the date above. " + KEY_RESTORE_STEPS,
                when={"eventName": ["ScheduleKeyDeletion"]}, undo=(CANCEL_KEY_DELETION, ENABLE_KEY), pending=True),
    ],
    "SecretDeletion": [
        *attempts("DeleteSecret", "delete secret"),
        outcome("ForceDeleted", LOSS, "Secret deleted for good (force delete)",
                "The secret was deleted with ForceDeleteWithoutRecovery: there is no recovery window and "
                "nothing can restore it.",
                "If it was needed: create the secret again under the same name with a new value (rotate the "
                "credential it held at its source) and update whoever reads it. Who read it recently: "
                "CloudTrail GetSecretValue records of this secret.",
                when={"force": ["true"]}),
        outcome("Scheduled", SCHEDULED, "Secret scheduled for deletion in {window} days",
                "The secret can no longer be read, and it is deleted for good when its recovery window ends.",
                "If the deletion was not intended, restore the secret before the date above.",
                undo=(RESTORE_SECRET,), pending=True),
    ],
    "KmsKeyMaterialDeletion": [
        *attempts("DeleteImportedKeyMaterial", "delete KMS key material"),
        *attempts("DeleteCustomKeyStore", "delete KMS key store"),
        *attempts("DisconnectCustomKeyStore", "disconnect KMS key store"),
        outcome("ImportedMaterialDeleted", LOSS, "KMS key material deleted",
                "The imported key material of the key was deleted: the key cannot encrypt or decrypt until the "
                "same material is imported again. There is no waiting period.",
                "Import the same key material again from the copy you kept: aws kms get-parameters-for-import, "
                "then aws kms import-key-material (KMS developer guide, importing key material).",
                when={"eventName": ["DeleteImportedKeyMaterial"]}),
        outcome("ImportedMaterialExpired", LOSS, "KMS key material expired",
                "The imported key material of the key reached its expiration date and KMS deleted it: the key "
                "cannot encrypt or decrypt until the same material is imported again.",
                "Import the same key material again from the copy you kept: aws kms get-parameters-for-import, "
                "then aws kms import-key-material (choose KEY_MATERIAL_DOES_NOT_EXPIRE or a later date).",
                when={"eventName": ["DeleteExpiredKeyMaterial"]}),
        outcome("KeyStoreDisconnected", LOSS, "KMS custom key store disconnected",
                "A custom key store was disconnected: every KMS key in it fails until it is connected again.",
                "If it was not intended, connect it again.", when={"eventName": ["DisconnectCustomKeyStore"]},
                undo=("aws kms connect-custom-key-store --region {region} --custom-key-store-id {keyStore}",)),
        outcome("KeyStoreDeleted", LOSS, "KMS custom key store deleted",
                "A custom key store was deleted (KMS allows it only once its keys are deleted).",
                "Nothing in AWS restores it; the keys it held were deleted before it.",
                when={"eventName": ["DeleteCustomKeyStore"]}),
    ],
    "KmsKeyDeleted": [outcome(
        "Deleted", LOSS, "KMS key deleted for good",
        "A key scheduled for deletion reached the end of its waiting period and KMS deleted it: everything "
        "encrypted under it can no longer be decrypted.",
        "Nothing brings the key back. Find what it encrypted (CloudTrail: its earlier Decrypt and "
        "GenerateDataKey calls; the resources whose KMS key setting names it) and restore that data from "
        "copies under another key.")],
    "KmsKeyPolicyLockoutRisk": [
        *attempts("PutKeyPolicy", "bypass a key's lockout check"),
        *attempts("CreateKey", "bypass a key's lockout check"),
        outcome("LockoutCheckBypassed", SCHEDULED, "KMS key lockout safety check bypassed",
                "The key's policy was set with BypassPolicyLockoutSafetyCheck: KMS did not check that anyone "
                "can still manage the key. If nobody can, nobody in the account can change, disable or "
                "delete it, nor use it beyond what the policy allows, until AWS Support restores access.",
                "Read the policy now and check that an administrator role can still manage the key (the "
                "command below); if none can, contact AWS Support with the key ARN. Ask the caller why the "
                "check was bypassed.",
                undo=("aws kms get-key-policy --region {region} --key-id {key} --policy-name default "
                      "--output text",), undo_label="Next"),
    ],
    "SecretReplicaDeletion": [
        *attempts("RemoveRegionsFromReplication", "delete secret replicas"),
        outcome("ReplicasDeleted", LOSS, "Secret replicas deleted",
                "Regions were removed from the secret's replication: Secrets Manager deleted those replicas at "
                "once, with no recovery window, and applications reading them there fail.",
                "If it was not intended, replicate the secret to those Regions again; the replicas come back "
                "from the primary.",
                undo=("aws secretsmanager replicate-secret-to-regions --region {region} --secret-id {secret} "
                      "--add-replica-regions {replicaRegionArgs}",)),
    ],
    "KmsKeyDeletionCancelled": [outcome(
        "Cancelled", RESOLVED, "Resolved: KMS key deletion cancelled",
        "Someone cancelled the key's scheduled deletion: the key is back, in the Disabled state.",
        "Enable the key again if applications need it.", undo=(ENABLE_KEY,), undo_label="Next")],
    "SecretRestored": [outcome(
        "Restored", RESOLVED, "Resolved: secret restored",
        "Someone restored a secret that was scheduled for deletion: it can be read again.",
        "Nothing, if the restore was intended; check that applications read the secret again.")],
}


def outcomes(detection: Detection) -> list[dict[str, Any]]:
    """``detection``'s outcomes, in the order the notifier tries them."""
    return OUTCOMES[detection.name]


def undo_commands(detection: Detection) -> list[str]:
    """The commands that undo what ``detection`` saw when the call succeeded (its last outcome, the
    one without an error), naming the resource from the event."""
    return list(outcomes(detection)[-1]["undo"])


def _detail_lines(detection: Detection) -> list[list[str]]:
    """The lines that describe one event. Each line is a list of parts; the notifier leaves out a part
    whose value is absent, and a line whose parts are all absent."""
    if detection.service is Service.KMS:
        what = [["Key: {key}"], ["Key store: {keyStore}"], ["Aliases: {aliases}"], ["Description: {description}"]]
        console = "https://{region}.console.aws.amazon.com/kms/home?region={region}#/kms/keys"
    else:
        what = [["Secret: {secretName}"], ["ARN: {secret}"], ["Description: {description}"],
                ["Replica Regions named: {replicaRegions}"]]
        console = "https://{region}.console.aws.amazon.com/secretsmanager/secret?name={secret}&region={region}"
    return [
        *what,
        ["Account: {account}", "Region: {region}", "Time: {time}"],
        ["Caller: {caller}", "type {identityType}", "through {invokedBy}"],
        ["API call: {eventSource} {eventName}", "Source IP: {sourceIp}", "User agent: {userAgent}"],
        ["Error: {errorCode}", "{errorMessage}"],
        ["State now: {state}"],
        ["Recent use: {recentUse}"],
        *([["Secrets encrypted under it: {encryptedSecrets}"]] if detection.service is Service.KMS else []),
        ["Deletion date: {deletion} UTC", "{daysLeft} left", "{deletionNote}"],
        ["Deletion date: {deletionUnknown}"],
        ["{readNote}"],
        ["{autoCancel}"],
        ["Console: " + console],
    ]


# The detections whose alert says who used the key or secret recently: the person deciding whether a
# scheduled deletion or a disabled key is a mistake needs that first (KMS guide, "Determining past usage
# of a KMS key"). Secrets: UNCONFIRMED whether event history finds GetSecretValue by the secret's ARN;
# the line says both readings when the history names nothing (functions/notifier.py use_summary).
RECENT_USE_OF = frozenset({"KmsKeyDisableOrDeletion", "SecretDeletion"})
# What "no use" means, said to the person who reads it.
NO_USE = {Service.KMS: "nothing called it with a cryptographic operation",
          Service.SECRETS_MANAGER: "nothing read its value"}


def notification_spec(detection: Detection) -> dict[str, Any]:
    """The data the notifier renders for ``detection``: JSON-serializable, embedded by the build."""
    fields = {**COMMON_FIELDS, **SERVICE_FIELDS[detection.service]}
    lines = _detail_lines(detection)
    texts = [part for line in lines for part in line]
    conditions: set[str] = set()
    for o in outcomes(detection):
        texts += [o["headline"], *o["undo"]]
        conditions |= set(o["when"])
    used = set(re.findall(r"\{(\w+)\}", "\n".join(texts))) | conditions
    unknown = used - set(fields) - set(ENRICHED_FIELDS)
    if unknown:  # a typo would render as a literal placeholder in every email
        raise ValueError(f"{detection.name}: unknown fields {sorted(unknown)} in its message")
    return {
        "name": detection.name,
        "title": detection.title,
        "kind": detection.kind.value,
        "service": detection.service.value,
        "resource": RESOURCE_FIELD[detection.service],
        "short": NAME_FIELD[detection.service],
        "fields": {name: sources for name, sources in fields.items() if name in used | NOTIFIER_READS},
        "lines": lines,
        "outcomes": outcomes(detection),
        # AutoCancelOnUse (Tagged or All): the call the notifier makes on a use, and what it says of it.
        "auto_cancel": {**AUTO_CANCEL_COMMON, **AUTO_CANCEL[detection.service]} if detection.cancellable
        else {},
        # Who still uses a key whose deletion or disabling this detection reports (its event history,
        # functions/notifier.py recent_use): the calls that count as a use.
        "recent_use": {"operations": sorted(USES[detection.service]), "nothing": NO_USE[detection.service]}
        if detection.name in RECENT_USE_OF else {},
        "finding": {"resource_type": FINDING_RESOURCE_TYPE[detection.service],
                    "severities": [FINDING_SEVERITY[rank] for rank in sorted(FINDING_SEVERITY)],
                    "archive_ranks": [RESOLVED]},
        # Only a use cancels (detections/operations.py): a management call refused on a pending key never does.
        "auto_cancel_operations": sorted(USES[detection.service]),
        # A use that names two keys (ReEncrypt: source and destination in its resources) cancels only the
        # one the refusal names; when the message does not name it, nothing is cancelled.
        "auto_cancel_exact": {"operations": sorted(TWO_KEY_USES), "sources": [KEY_IN_ERROR]}
        if detection.service is Service.KMS else {},
    }


# AWS Security Hub (SecurityHubFindings): each outcome's severity, by rank (LOSS ... RESOLVED), and
# the resource type ASFF names; a resolved outcome (a cancel, a restore) archives the finding.
FINDING_SEVERITY = {LOSS: "CRITICAL", USE: "HIGH", SCHEDULED: "HIGH", FAILED: "MEDIUM", REFUSED: "MEDIUM",
                    RESOLVED: "INFORMATIONAL"}
FINDING_RESOURCE_TYPE = {Service.KMS: "AwsKmsKey", Service.SECRETS_MANAGER: "AwsSecretsManagerSecret"}


REMINDER = "DeletionReminder"
"""The daily check's entry in the alert queue (not a detection: it reads the account, not a record)."""
# The scheduling detection of each kind: its undo commands are the reminder's.
REMINDED_BY = {Service.KMS: "KmsKeyDisableOrDeletion", Service.SECRETS_MANAGER: "SecretDeletion"}


def reminder_spec() -> dict[str, Any]:
    """What the daily reminder says about each key or secret whose deletion is near, and about each
    secret that was finally deleted. Placeholders: account, region, key or secret (the ARN), name,
    deletion (ISO 8601 UTC), days, state, caller, scheduledAt, dateSource. Each line is a list of
    parts, as in an alert: a part whose value is absent is left out."""
    lines = {}
    for service, resource in RESOURCE_FIELD.items():
        subject = "KMS key" if service is Service.KMS else "Secret"
        names = "Aliases" if service is Service.KMS else "Name"
        undo = undo_commands(by_name(REMINDED_BY[service]))
        lines[resource] = [
            [f"{subject}: {{{resource}}}", f"{names}: {{name}}"],
            ["Deleted on: {deletion} UTC, in {days}", "State: {state}", "({dateSource})"],
            ["Scheduled by: {caller}", "at {scheduledAt} UTC"],
            ["Used since: {usedSince}"],
            ["Undo: " + undo[0]], *[["      " + command] for command in undo[1:]],
        ]
    # A key whose imported key material expires (DescribeKey ValidTo): KMS deletes the material on that
    # date. Nothing cancels an expiry: the same material imported again, without an expiry or a later one.
    lines["material"] = [
        ["KMS key: {key}", "Aliases: {name}"],
        ["Key material expires: {deletion} UTC, in {days}", "State: {state}"],
        ["Next: aws kms get-parameters-for-import --region {region} --wrapping-algorithm RSAES_OAEP_SHA_256 "
         "--wrapping-key-spec RSA_4096 --key-id {key}"],
        ["      aws kms import-key-material --region {region} --encrypted-key-material "
         "fileb://EncryptedKeyMaterial.bin --import-token fileb://ImportToken.bin --expiration-model "
         "KEY_MATERIAL_DOES_NOT_EXPIRE --key-id {key}"],
    ]
    return {
        "name": REMINDER,
        "kind": "Reminder",
        # Who tried to use a due key or secret since its scheduling (functions/notifier.py uses_since).
        "uses": {resource: {"operations": sorted(USES[service]), "nothing": NO_USE[service]}
                 for service, resource in RESOURCE_FIELD.items()},
        "title": "Keys and secrets that will be deleted soon",
        # count and days carry their nouns ("1 key or secret", "7 days"): the notifier says them.
        "subject": "Deletion reminder: {count} deleted within {days} ({account} {region})",
        "final_subject": "Deleted for good: {count} ({account} {region})",
        "lines": lines,
        "final_title": "SECRETS DELETED FOR GOOD (their recovery window ended; nothing can restore them)",
        "final_lines": [["Secret: {secret}", "Name: {name}"],
                        ["Recovery window ended: {deletion} UTC", "({dateSource})"],
                        ["Scheduled by: {caller}", "at {scheduledAt} UTC"]],
        "meaning": ("These keys and secrets are scheduled for deletion and the day is near. After it, data "
                    "encrypted under a key cannot be decrypted, and a secret's value is gone. A key whose "
                    "imported key material expires stops working that day: KMS deletes the material, and the key "
                    "cannot be used until the same material is imported again."),
        "what_to_do": (f"If a deletion is not intended, run its Undo command today ({KMS_CONSOLE}; "
                       f"{SECRETS_CONSOLE}). For expiring key material, import the same material again before "
                       "the date (the Next commands: wrap it with the public key the first returns; KMS developer "
                       "guide, importing key material). Every pending deletion in every Region: "
                       "deletion-alarms inventory."),
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
