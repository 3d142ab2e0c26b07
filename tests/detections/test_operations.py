"""Every operation of the KMS and Secrets Manager API models (botocore's) is classified as a use or
as management, once: a new operation fails here until someone decides which it is."""

from __future__ import annotations

import botocore.session
import pytest

from detections.catalog import Service
from detections.operations import MANAGEMENT, USES, is_use

MODEL = {Service.KMS: "kms", Service.SECRETS_MANAGER: "secretsmanager"}


@pytest.mark.parametrize("service", list(MODEL), ids=lambda s: s.value)
def test_every_operation_is_classified_exactly_once(service) -> None:
    operations = set(botocore.session.get_session().get_service_model(MODEL[service]).operation_names)
    assert not USES[service] & MANAGEMENT[service]
    assert operations - USES[service] - MANAGEMENT[service] == set(), "unclassified"
    assert (USES[service] | MANAGEMENT[service]) - operations == set(), "not in the API model"


@pytest.mark.parametrize(("service", "operation", "use"), [
    # KMS API reference: cryptographic operations use the key.
    (Service.KMS, "Decrypt", True), (Service.KMS, "GenerateDataKey", True), (Service.KMS, "ReEncrypt", True),
    (Service.KMS, "Sign", True), (Service.KMS, "CreateGrant", True),
    # Refused on a pending key with the same message, but no sign that anything needs the key.
    (Service.KMS, "TagResource", False), (Service.KMS, "ScheduleKeyDeletion", False),
    (Service.KMS, "DisableKey", False), (Service.KMS, "EnableKeyRotation", False),
    (Service.KMS, "UpdateKeyDescription", False), (Service.KMS, "CreateAlias", False),
    (Service.SECRETS_MANAGER, "GetSecretValue", True), (Service.SECRETS_MANAGER, "BatchGetSecretValue", True),
    (Service.SECRETS_MANAGER, "PutSecretValue", False), (Service.SECRETS_MANAGER, "TagResource", False),
    (Service.SECRETS_MANAGER, "DeleteSecret", False), (Service.SECRETS_MANAGER, "GetResourcePolicy", False),
])
def test_uses_and_management(service, operation, use) -> None:
    assert is_use(service, operation) is use
