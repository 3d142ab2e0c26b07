"""The detection catalog: every detection this product deploys, defined once, as data.

Each entry documents itself like a guard rule (detects, source records, fires when, not covered, what
to do) and carries the CloudWatch Logs filter pattern that is the single definition of what it
matches. Templates, tests, the README and the tools all read these entries; nothing else spells a
pattern. Adding a detection is one entry here plus its sample records under ``tests/corpus/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Service(Enum):
    """The AWS service whose CloudTrail records a detection reads."""

    KMS = "kms"
    SECRETS_MANAGER = "secretsmanager"

    @property
    def event_source(self) -> str:
        """CloudTrail's ``eventSource`` for this service."""
        return f"{self.value}.amazonaws.com"

    @property
    def subject(self) -> str:
        """The noun used in logical IDs and parameter names (``KmsKey``, ``Secret``)."""
        return {"kms": "KmsKey", "secretsmanager": "Secret"}[self.value]


class Kind(Enum):
    """What a detection signals; ``DetectionMode`` selects detections by kind."""

    ACCESS = "Access"  # something still uses a key or secret that is pending deletion
    DELETION = "Deletion"  # someone disables a key or schedules a deletion
    RECOVERY = "Recovery"  # a deletion was cancelled: the "resolved" notice (EventBridge only)


@dataclass(frozen=True)
class Detection:
    """One detection: what it means, how it matches, and what a responder should do."""

    name: str
    """Stable identifier and logical-ID prefix (``<Subject><Role>``); renaming replaces resources."""
    title: str
    service: Service
    kind: Kind
    filter_pattern: str
    """CloudWatch Logs filter pattern (JSON form): the single definition of what this matches."""
    detects: str
    source_records: str
    fires_when: str
    not_covered: str
    what_to_do: str
    metric_alarm: bool = True
    """Also deployed as a metric filter and alarm (recovery notices exist only as rules)."""
    immediate: bool = False
    """The loss happens at once: no waiting period, so no command undoes it (what_to_do says what
    is left to do)."""
    cancellable: bool = False
    """A use refused because of a scheduled deletion, which CancelKeyDeletion or RestoreSecret undoes:
    what AutoCancelOnUse acts on (one such detection per service)."""

    @property
    def alarm_description(self) -> str:
        """Text for the alarm's description and notification: what happened and what to do."""
        return f"{self.title}. {self.fires_when} What to do: {self.what_to_do}"


KMS_CONSOLE = "KMS console > Customer managed keys (Region of the alarm)"
SECRETS_CONSOLE = "Secrets Manager console > Secrets > Preferences: show secrets scheduled for deletion"

KMS_KEY_PENDING_DELETION_USE = Detection(
    name="KmsKeyPendingDeletionUse",
    title="A KMS key that is pending deletion is still being used",
    service=Service.KMS,
    kind=Kind.ACCESS,
    cancellable=True,
    # Match the message, not the error code: KMS answers KMSInvalidStateException or
    # DisabledException for a pending-deletion key, and external key stores reuse
    # KMSInvalidStateException for unrelated failures. The second alternative covers the
    # multi-Region primary whose exact wording (pending replica deletion) AWS does not publish.
    # Only KMS's own record counts: S3 and other callers log their own failure with
    # eventSource of their service.
    filter_pattern=(
        '{ ($.eventSource = "kms.amazonaws.com") && '
        '(($.errorMessage = "*is pending deletion*") || '
        '($.errorMessage = "*is pending replica deletion*")) }'
    ),
    detects="Any KMS operation that fails because its key is scheduled for deletion.",
    source_records=(
        "CloudTrail records with eventSource kms.amazonaws.com and errorMessage "
        "'<key ARN> is pending deletion.' (errorCode KMSInvalidStateException or DisabledException), "
        "from any caller, including AWS services such as S3 or EBS acting for a principal."
    ),
    fires_when=(
        "Something called KMS with a key that is scheduled for deletion: an application, user or "
        "AWS service still depends on it, and the deletion is probably a mistake."
    ),
    not_covered=(
        "Successful calls on the key (DescribeKey, GetKeyPolicy, List*, CancelKeyDeletion); calls "
        "that never reach KMS; records over 256 KB, which CloudTrail does not deliver to CloudWatch "
        "Logs or EventBridge; a trail that excludes KMS events or read events."
    ),
    what_to_do=(
        f"Open the {KMS_CONSOLE}, find the key in the CloudTrail record (errorMessage), and if it is "
        "still needed run: aws kms cancel-key-deletion --key-id <key ARN>, then aws kms enable-key "
        "--key-id <key ARN>."
    ),
)

SECRET_PENDING_DELETION_USE = Detection(
    name="SecretPendingDeletionUse",
    title="A Secrets Manager secret that is marked for deletion is still being used",
    service=Service.SECRETS_MANAGER,
    kind=Kind.ACCESS,
    cancellable=True,
    # Both wordings AWS has used; wildcards around the apostrophe-free part so that either
    # apostrophe form matches. InvalidRequestException alone is not enough: it is used for many
    # unrelated failures.
    filter_pattern=(
        '{ ($.eventSource = "secretsmanager.amazonaws.com") && '
        '(($.errorMessage = "*because it was marked for deletion*") || '
        '($.errorMessage = "*currently marked deleted*")) }'
    ),
    detects=(
        "Any Secrets Manager operation (GetSecretValue, PutSecretValue, UpdateSecret, RotateSecret, "
        "...) that fails because the secret is marked for deletion."
    ),
    source_records=(
        "CloudTrail records with eventSource secretsmanager.amazonaws.com, errorCode "
        "InvalidRequestException and errorMessage 'You can't perform this operation on the secret "
        "because it was marked for deletion.' or the older 'You tried to perform the operation on a "
        "secret that's currently marked deleted.'"
    ),
    fires_when=(
        "Something tried to read or change a secret that is scheduled for deletion: an application "
        "or user still depends on it, and the deletion is probably a mistake."
    ),
    not_covered=(
        "DescribeSecret and RestoreSecret (they succeed); CreateSecret reusing the name of a deleted "
        "secret; secrets already deleted for good (ResourceNotFoundException); records over 256 KB; "
        "a trail that does not log read events. BatchGetSecretValue: AWS logs one GetSecretValue entry "
        "per secret it reads (API reference) and returns per-secret errors in its response, which "
        "CloudTrail does not log; whether that entry carries the refusal is UNCONFIRMED. The daily "
        "reminder and deletion-alarms inventory count every read of the secret since its deletion "
        "either way. To confirm in an account: run aws secretsmanager batch-get-secret-value "
        "--secret-id-list <a secret scheduled for deletion> and look in CloudTrail for its GetSecretValue "
        "entry and its errorMessage."
    ),
    what_to_do=(
        f"Open the {SECRETS_CONSOLE}, find the secret named in the CloudTrail record "
        "(requestParameters.secretId), and if it is still needed run: "
        "aws secretsmanager restore-secret --secret-id <secret ARN>."
    ),
)

KMS_KEY_DISABLE_OR_DELETION = Detection(
    name="KmsKeyDisableOrDeletion",
    title="A KMS key was disabled or scheduled for deletion",
    service=Service.KMS,
    kind=Kind.DELETION,
    # Exactly the pattern Security Hub CloudWatch.7 (CIS AWS Foundations 3.7 / 4.7) requires,
    # character for character: adding anything makes the control fail.
    filter_pattern=(
        "{($.eventSource=kms.amazonaws.com) && "
        "(($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}"
    ),
    detects="Every DisableKey and ScheduleKeyDeletion call, successful, failed or denied.",
    source_records=(
        "CloudTrail records with eventSource kms.amazonaws.com and eventName DisableKey or "
        "ScheduleKeyDeletion; requestParameters.pendingWindowInDays gives the grace period."
    ),
    fires_when=(
        "Someone disabled a KMS key or scheduled its deletion (or tried to: denied attempts count). "
        "Data encrypted under the key is lost for good when the waiting period ends."
    ),
    not_covered=(
        "Key material deleted without a waiting period (KmsKeyMaterialDeletion); deletion of a "
        "multi-Region replica's primary in another Region (watch that Region too); the final DeleteKey "
        "at the end of the window."
    ),
    what_to_do=(
        f"Check in the {KMS_CONSOLE} that the change was intended; if not, run: aws kms "
        "cancel-key-deletion --key-id <key ARN>, then aws kms enable-key --key-id <key ARN>."
    ),
)

SECRET_DELETION = Detection(
    name="SecretDeletion",
    title="A Secrets Manager secret was scheduled for deletion",
    service=Service.SECRETS_MANAGER,
    kind=Kind.DELETION,
    filter_pattern=(
        '{ ($.eventSource = "secretsmanager.amazonaws.com") && ($.eventName = "DeleteSecret") }'
    ),
    detects=(
        "Every DeleteSecret call, with a recovery window or ForceDeleteWithoutRecovery, successful, "
        "failed or denied."
    ),
    source_records=(
        "CloudTrail records with eventSource secretsmanager.amazonaws.com and eventName "
        "DeleteSecret; requestParameters.recoveryWindowInDays or forceDeleteWithoutRecovery, "
        "responseElements.deletionDate."
    ),
    fires_when=(
        "Someone scheduled a secret for deletion (or tried to). With ForceDeleteWithoutRecovery the "
        "secret is gone at once and cannot be restored."
    ),
    not_covered=(
        "RemoveRegionsFromReplication, which deletes replica secrets at once (SecretReplicaDeletion); "
        "deletion of the secret's KMS key (see the KMS detections)."
    ),
    what_to_do=(
        f"Check in the {SECRETS_CONSOLE} that the deletion was intended; if not, run: "
        "aws secretsmanager restore-secret --secret-id <secret ARN>."
    ),
)

KMS_KEY_DELETION_CANCELLED = Detection(
    name="KmsKeyDeletionCancelled",
    title="Resolved: the deletion of a KMS key was cancelled",
    service=Service.KMS,
    kind=Kind.RECOVERY,
    filter_pattern=(
        '{ ($.eventSource = "kms.amazonaws.com") && ($.eventName = "CancelKeyDeletion") && '
        "($.errorCode NOT EXISTS) }"
    ),
    detects="Every successful CancelKeyDeletion.",
    source_records="CloudTrail records with eventSource kms.amazonaws.com, eventName "
    "CancelKeyDeletion and no errorCode.",
    fires_when="Someone cancelled a scheduled key deletion: the key is back, in the Disabled state.",
    not_covered="Failed or denied cancellations (the deletion is still scheduled).",
    what_to_do="Enable the key again if applications need it: aws kms enable-key --key-id <key ARN>.",
    metric_alarm=False,
)

SECRET_RESTORED = Detection(
    name="SecretRestored",
    title="Resolved: a Secrets Manager secret was restored",
    service=Service.SECRETS_MANAGER,
    kind=Kind.RECOVERY,
    filter_pattern=(
        '{ ($.eventSource = "secretsmanager.amazonaws.com") && ($.eventName = "RestoreSecret") && '
        "($.errorCode NOT EXISTS) }"
    ),
    detects="Every successful RestoreSecret.",
    source_records="CloudTrail records with eventSource secretsmanager.amazonaws.com, eventName "
    "RestoreSecret and no errorCode.",
    fires_when="Someone restored a secret that was scheduled for deletion: it can be used again.",
    not_covered="Failed or denied restores (the deletion is still scheduled).",
    what_to_do="Nothing, if the restore was intended; check that applications read the secret again.",
    metric_alarm=False,
)

KMS_KEY_MATERIAL_DELETION = Detection(
    name="KmsKeyMaterialDeletion",
    title="KMS key material was deleted or made unreachable, with no waiting period",
    service=Service.KMS,
    kind=Kind.DELETION,
    filter_pattern=(
        '{ ($.eventSource = "kms.amazonaws.com") && (($.eventName = "DeleteImportedKeyMaterial") || '
        '($.eventName = "DeleteExpiredKeyMaterial") || ($.eventName = "DeleteCustomKeyStore") || '
        '($.eventName = "DisconnectCustomKeyStore")) }'
    ),
    detects=(
        "The ways KMS key material goes without a waiting period: DeleteImportedKeyMaterial, the "
        "expiry of imported key material (KMS's own DeleteExpiredKeyMaterial service event), and "
        "deleting or disconnecting a custom key store; successful, failed or denied."
    ),
    source_records=(
        "CloudTrail records with eventSource kms.amazonaws.com and eventName DeleteImportedKeyMaterial "
        "(requestParameters.keyId), DeleteExpiredKeyMaterial (eventType AwsServiceEvent, "
        "resources[0].ARN), DeleteCustomKeyStore or DisconnectCustomKeyStore "
        "(requestParameters.customKeyStoreId); AWS KMS developer guide, logging with CloudTrail."
    ),
    fires_when=(
        "The key material of a KMS key was deleted, expired, or its key store was deleted or "
        "disconnected: the key cannot decrypt anything from now on, with no waiting period to undo it."
    ),
    not_covered=(
        "Key material held outside AWS (an external key store's proxy or an HSM taken away) without "
        "any KMS call; ScheduleKeyDeletion (KmsKeyDisableOrDeletion)."
    ),
    what_to_do=(
        f"Find the key or key store in the {KMS_CONSOLE}. Deleted or expired imported material comes "
        "back only by importing the same material again (aws kms get-parameters-for-import, then aws kms "
        "import-key-material), from the copy you kept; a disconnected key store by aws kms "
        "connect-custom-key-store --custom-key-store-id <store ID>. Until then, every use of the key fails."
    ),
    immediate=True,
)

KMS_KEY_DELETED = Detection(
    name="KmsKeyDeleted",
    title="A KMS key was deleted at the end of its waiting period",
    service=Service.KMS,
    kind=Kind.DELETION,
    filter_pattern='{ ($.eventSource = "kms.amazonaws.com") && ($.eventName = "DeleteKey") }',
    detects="KMS's DeleteKey service event: the key is deleted when its waiting period ends.",
    source_records=(
        "CloudTrail records with eventSource kms.amazonaws.com, eventName DeleteKey and eventType "
        "AwsServiceEvent; the key in resources[0].ARN (and responseElements.keyId since December 2022); "
        "AWS KMS developer guide, ct-delete-key."
    ),
    fires_when=(
        "A key scheduled for deletion reached the end of its waiting period and KMS deleted it: the final "
        "notice. Everything encrypted under it can no longer be decrypted."
    ),
    not_covered=(
        "The end of a secret's recovery window: Secrets Manager documents no event for it; the daily "
        "reminder (ReminderDays) sends a final notice when a secret whose window ended is gone."
    ),
    what_to_do=(
        f"Nothing brings the key back (the {KMS_CONSOLE} no longer lists it). Find what it encrypted "
        "(CloudTrail: its earlier Decrypt and "
        "GenerateDataKey calls; the resources whose KMS key setting names it), and restore that data "
        "from copies under another key."
    ),
    immediate=True,
)

SECRET_REPLICA_DELETION = Detection(
    name="SecretReplicaDeletion",
    title="Replicas of a Secrets Manager secret were deleted, with no recovery window",
    service=Service.SECRETS_MANAGER,
    kind=Kind.DELETION,
    filter_pattern=(
        '{ ($.eventSource = "secretsmanager.amazonaws.com") && ($.eventName = "RemoveRegionsFromReplication") }'
    ),
    detects="Every RemoveRegionsFromReplication call, successful, failed or denied.",
    source_records=(
        "CloudTrail records with eventSource secretsmanager.amazonaws.com and eventName "
        "RemoveRegionsFromReplication; requestParameters.secretId and removeReplicaRegions."
    ),
    fires_when=(
        "Someone removed Regions from a secret's replication: Secrets Manager deletes those replica "
        "secrets at once, with no recovery window, and applications reading them there fail."
    ),
    not_covered="Deleting the primary secret (SecretDeletion); a replica's own KMS key (the KMS detections).",
    what_to_do=(
        f"Check in the {SECRETS_CONSOLE} (the primary's Region) that it was intended; if not, replicate "
        "the secret to those Regions again: aws secretsmanager replicate-secret-to-regions --secret-id "
        "<secret ARN> --add-replica-regions Region=<Region>. The replicas come back from the primary."
    ),
    immediate=True,
)

KMS_KEY_POLICY_LOCKOUT_RISK = Detection(
    name="KmsKeyPolicyLockoutRisk",
    title="A KMS key policy was set with the lockout safety check bypassed",
    service=Service.KMS,
    kind=Kind.DELETION,
    # The boolean is in every PutKeyPolicy and CreateKey record's requestParameters (KMS guide,
    # ct-put-key-policy: "bypassPolicyLockoutSafetyCheck": false); only true is an alert.
    filter_pattern=(
        '{ ($.eventSource = "kms.amazonaws.com") && (($.eventName = "PutKeyPolicy") || '
        '($.eventName = "CreateKey")) && ($.requestParameters.bypassPolicyLockoutSafetyCheck IS TRUE) }'
    ),
    detects=(
        "A key policy set, by PutKeyPolicy or CreateKey, with BypassPolicyLockoutSafetyCheck true: KMS "
        "then does not check that the caller can still manage the key, and AWS warns that such a "
        "policy can make the key unmanageable (KMS API reference, PutKeyPolicy)."
    ),
    source_records=(
        "CloudTrail records with eventSource kms.amazonaws.com, eventName PutKeyPolicy or CreateKey and "
        "requestParameters.bypassPolicyLockoutSafetyCheck true (AWS KMS developer guide, "
        "ct-put-key-policy); successful, failed or denied."
    ),
    fires_when=(
        "Someone bypassed the lockout safety check: if the new policy lets no principal manage the key, "
        "nobody in the account can change or delete it, nor use it where the policy does not allow, "
        "until AWS Support restores access."
    ),
    not_covered=(
        "A policy that keeps the check but still removes access (KMS refuses it only when the caller "
        "itself loses PutKeyPolicy); grants; policies changed through CloudFormation, which calls "
        "PutKeyPolicy and is covered the same way."
    ),
    what_to_do=(
        f"Find the key in the {KMS_CONSOLE} (Key policy tab), or read its policy (aws kms get-key-policy "
        "--key-id <key ARN> --policy-name default), and check that an administrator can still manage "
        "the key; if not, contact AWS Support. "
        "Prefer keeping the safety check: it is on unless a call turns it off."
    ),
)

KMS_KEY_UNUSABLE_USE = Detection(
    name="KmsKeyUnusableUse",
    title="A KMS key whose key material is gone or out of reach is still being used",
    service=Service.KMS,
    kind=Kind.ACCESS,
    # The key-state table's refusals for the two states in which a key exists but cannot work:
    # PendingImport (its imported key material was deleted or expired) and Unavailable (its custom
    # key store is disconnected). "is unavailable" only after a key ARN (":key/"): a generic
    # "service is unavailable" is not this. Only KMS's own record counts, as for pending deletion.
    filter_pattern=(
        '{ ($.eventSource = "kms.amazonaws.com") && '
        '(($.errorMessage = "*is pending import*") || ($.errorMessage = "*:key/* is unavailable*")) }'
    ),
    detects=(
        "Any KMS operation refused because its key has no key material (PendingImport: imported material "
        "deleted or expired) or its custom key store is disconnected (Unavailable)."
    ),
    source_records=(
        "CloudTrail records with eventSource kms.amazonaws.com and errorMessage '<key ARN> is pending "
        "import.' or '<key ARN> is unavailable.' (AWS KMS developer guide, key states; "
        "KMSInvalidStateException), from any caller, AWS services acting for a principal included."
    ),
    fires_when=(
        "Something still needs a key that cannot work now: its imported key material is gone, or its key "
        "store is disconnected. Until the same material is imported again, or the store connected again, "
        "everything encrypted under the key is unreadable."
    ),
    not_covered=(
        "The deletion or expiry of the material and the disconnection themselves (KmsKeyMaterialDeletion); "
        "a key store whose backing keys fail while it stays connected (other error messages); records "
        "over 256 KB; a trail that excludes KMS events or read events."
    ),
    what_to_do=(
        f"Find the key in the {KMS_CONSOLE} or run aws kms describe-key --key-id <key ARN>: "
        "PendingImport: import the same key material again (aws kms get-parameters-for-import, then aws "
        "kms import-key-material); Unavailable: connect its custom key store again (aws kms "
        "connect-custom-key-store --custom-key-store-id <CustomKeyStoreId>)."
    ),
)

DETECTIONS: tuple[Detection, ...] = (
    KMS_KEY_PENDING_DELETION_USE,
    SECRET_PENDING_DELETION_USE,
    KMS_KEY_UNUSABLE_USE,
    KMS_KEY_DISABLE_OR_DELETION,
    SECRET_DELETION,
    KMS_KEY_MATERIAL_DELETION,
    KMS_KEY_DELETED,
    SECRET_REPLICA_DELETION,
    KMS_KEY_POLICY_LOCKOUT_RISK,
    KMS_KEY_DELETION_CANCELLED,
    SECRET_RESTORED,
)


def by_name(name: str) -> Detection:
    """Return the detection called ``name``; raise KeyError naming the known ones otherwise."""
    for detection in DETECTIONS:
        if detection.name == name:
            return detection
    known = ", ".join(d.name for d in DETECTIONS)
    raise KeyError(f"unknown detection {name!r}; known: {known}")


# DetectionMode parameter values and the kinds of detection each one deploys. Recovery notices
# are not a mode's choice: they have their own switch.
DETECTION_MODES: dict[str, frozenset[Kind]] = {
    "AccessAndDeletion": frozenset({Kind.ACCESS, Kind.DELETION}),
    "AccessOnly": frozenset({Kind.ACCESS}),
    "DeletionOnly": frozenset({Kind.DELETION}),
}
DEFAULT_DETECTION_MODE = "AccessAndDeletion"


def detections_for_mode(mode: str, recovery: bool = True) -> tuple[Detection, ...]:
    """The detections a stack deploys in ``mode`` (with the recovery notices unless
    ``recovery`` is false); raise ValueError naming the allowed modes."""
    if mode not in DETECTION_MODES:
        allowed = ", ".join(DETECTION_MODES)
        raise ValueError(f"DetectionMode {mode!r} is not one of: {allowed}")
    kinds = DETECTION_MODES[mode] | ({Kind.RECOVERY} if recovery else set())
    return tuple(d for d in DETECTIONS if d.kind in kinds)


def metric_alarm_detections() -> tuple[Detection, ...]:
    """The detections that the CloudWatch Logs engine deploys as metric filters and alarms."""
    return tuple(d for d in DETECTIONS if d.metric_alarm)
