"""Which API operations are a *use* of a key or a secret, and which manage it: the line an automatic
cancel must not cross. KMS refuses every call on a key pending deletion with the same message,
management calls included (TagResource, DisableKey, a second ScheduleKeyDeletion: KMS developer
guide, key states table); only a use says that something still needs the key.

The classification covers every operation of the services' API models (tests/detections/
test_operations.py reads botocore's, so a new operation fails until it is classified here).
"""

from __future__ import annotations

from detections.catalog import Service

# KMS API reference, "cryptographic operations", and the two calls that hand a key's use to someone:
# CreateGrant (how AWS services such as EBS and RDS come to use a key on a principal's behalf) and
# GetPublicKey (an application that verifies or encrypts with the public key outside KMS).
KMS_USES = frozenset({
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext", "GenerateMac", "VerifyMac", "ReEncrypt", "Sign", "Verify",
    "DeriveSharedSecret", "Encapsulate", "Decapsulate", "CreateGrant", "GetPublicKey",
})
KMS_MANAGEMENT = frozenset({
    "CancelKeyDeletion", "ConnectCustomKeyStore", "CreateAlias", "CreateCustomKeyStore", "CreateKey",
    "DeleteAlias", "DeleteCustomKeyStore", "DeleteImportedKeyMaterial", "DescribeCustomKeyStores", "DescribeKey",
    "DisableKey", "DisableKeyRotation", "DisconnectCustomKeyStore", "EnableKey", "EnableKeyRotation",
    "GenerateRandom", "GetKeyLastUsage", "GetKeyPolicy", "GetKeyRotationStatus", "GetParametersForImport",
    "ImportKeyMaterial", "ListAliases", "ListGrants", "ListKeyPolicies", "ListKeyRotations", "ListKeys",
    "ListResourceTags", "ListRetirableGrants", "PutKeyPolicy", "ReplicateKey", "RetireGrant", "RevokeGrant",
    "RotateKeyOnDemand", "ScheduleKeyDeletion", "TagResource", "UntagResource", "UpdateAlias",
    "UpdateCustomKeyStore", "UpdateKeyDescription", "UpdatePrimaryRegion",
})
# A secret is used when its value is read. BatchGetSecretValue is logged as one GetSecretValue entry
# per secret it reads (Secrets Manager API reference, BatchGetSecretValue).
SECRETS_USES = frozenset({"GetSecretValue", "BatchGetSecretValue"})
SECRETS_MANAGEMENT = frozenset({
    "AssociateCrossAccountReplica", "CancelRotateSecret", "CreateSecret", "DeleteResourcePolicy", "DeleteSecret",
    "DescribeSecret", "DisassociateCrossAccountReplica", "GetRandomPassword", "GetResourcePolicy",
    "ListResourcePolicies", "ListSecretVersionIds", "ListSecrets", "PutResourcePolicy", "PutSecretValue",
    "RemoveRegionsFromReplication", "ReplicateSecretToRegions", "RestoreSecret", "RotateSecret",
    "StopReplicationToReplica", "TagResource", "UntagResource", "UpdateSecret", "UpdateSecretVersionStage",
    "ValidateResourcePolicy",
})
USES = {Service.KMS: KMS_USES, Service.SECRETS_MANAGER: SECRETS_USES}
MANAGEMENT = {Service.KMS: KMS_MANAGEMENT, Service.SECRETS_MANAGER: SECRETS_MANAGEMENT}
# A use whose CloudTrail record names two keys (resources: the source, then the destination: KMS
# developer guide, ct-reencrypt): the key pending deletion is named only in the refusal's message.
TWO_KEY_USES = frozenset({"ReEncrypt"})


def is_use(service: Service, operation: str) -> bool:
    """Whether ``operation`` of ``service`` uses the key or reads the secret's value."""
    return operation in USES[service]
