"""The detection catalog: every entry is complete, valid, and proven on the CloudTrail corpus."""

from __future__ import annotations

import itertools

import pytest

from detections.catalog import DETECTION_MODES, DETECTIONS, Kind, Service, by_name, detections_for_mode
from detections.patterns import compile_pattern, parse
from tests.conftest import load_corpus
from tests.helpers import ConditionEvaluator, parameter_values, resources_of_type

# Security Hub control CloudWatch.7 (CIS AWS Foundations Benchmark 3.7 / 4.7) checks for this exact
# filter pattern, as printed in the Security Hub documentation.
CIS_KMS_PATTERN = (
    "{($.eventSource=kms.amazonaws.com) && "
    "(($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}"
)

CASES = load_corpus()
NAMES = [d.name for d in DETECTIONS]


def test_names_are_unique_and_documented() -> None:
    assert len(set(NAMES)) == len(NAMES)
    for d in DETECTIONS:
        for field in ("title", "detects", "source_records", "fires_when", "not_covered", "what_to_do"):
            assert getattr(d, field).strip(), f"{d.name}.{field} is empty"
        assert len(d.alarm_description) <= 1024  # CloudWatch's AlarmDescription limit


@pytest.mark.parametrize("detection", DETECTIONS, ids=NAMES)
def test_filter_patterns_are_valid(detection) -> None:
    parse(detection.filter_pattern)
    assert len(detection.filter_pattern) <= 1024


def test_kms_deletion_is_exactly_the_cis_pattern() -> None:
    assert by_name("KmsKeyDisableOrDeletion").filter_pattern == CIS_KMS_PATTERN


def test_every_kind_and_service_combination_is_covered() -> None:
    """A detection per kind and service; deletion has a second per service for the losses that
    skip the waiting period (immediate: no undo command)."""
    combos = {(d.kind, d.service, d.immediate) for d in DETECTIONS}
    assert combos == {(kind, service, False) for kind in Kind for service in Service} | {
        (Kind.DELETION, service, True) for service in Service}
    assert {d.name for d in DETECTIONS if d.immediate} == {"KmsKeyMaterialDeletion", "KmsKeyDeleted",
                                                           "SecretReplicaDeletion"}
    assert all(d.kind is Kind.DELETION for d in DETECTIONS if d.immediate)
    assert {d.name for d in DETECTIONS if not d.metric_alarm} == {"KmsKeyDeletionCancelled", "SecretRestored"}


def test_modes() -> None:
    assert set(DETECTION_MODES) == {"AccessAndDeletion", "AccessOnly", "DeletionOnly"}
    assert {d.name for d in detections_for_mode("AccessOnly", recovery=False)} == {
        "KmsKeyPendingDeletionUse", "SecretPendingDeletionUse", "KmsKeyUnusableUse"}
    assert {d.name for d in detections_for_mode("DeletionOnly", recovery=False)} == {
        "KmsKeyDisableOrDeletion", "SecretDeletion", "KmsKeyMaterialDeletion", "KmsKeyDeleted",
        "SecretReplicaDeletion", "KmsKeyPolicyLockoutRisk"}
    assert len(detections_for_mode("AccessAndDeletion", recovery=False)) == 9
    assert len(detections_for_mode("AccessOnly")) == 5
    with pytest.raises(ValueError, match="AccessOnly"):
        detections_for_mode("Everything")
    with pytest.raises(KeyError, match="SecretDeletion"):
        by_name("Nope")


def test_corpus_labels_name_real_detections_and_cover_each_one() -> None:
    labels = [name for case in CASES for name in case.expect]
    assert set(labels) <= set(NAMES)
    for name in NAMES:
        assert labels.count(name) >= 2, f"{name} has fewer than 2 positive records"
    assert sum(1 for c in CASES if not c.expect) >= 15
    classes = [c.cls for c in CASES]
    assert len(classes) == len(set(classes))


@pytest.mark.parametrize("case", CASES, ids=[c.cls for c in CASES])
def test_each_record_triggers_exactly_its_detections(case) -> None:
    got = {d.name for d in DETECTIONS if compile_pattern(d.filter_pattern).matches(case.record)}
    assert got == set(case.expect), case.why


@pytest.mark.parametrize(("mode", "kms", "secrets"), list(itertools.product(
    DETECTION_MODES, ["Enabled", "Disabled"], ["Enabled", "Disabled"])))
def test_deployed_metric_filters_prove_out_in_every_configuration(workload, mode, kms, secrets) -> None:
    """Read the patterns from the rendered template, as deployed with these parameters."""
    params = parameter_values(workload, NotificationEmail="a@example.com", CloudTrailLogGroupName="trail",
                              DetectionMode=mode, KmsKeyMonitoring=kms, SecretMonitoring=secrets)
    params["DetectionEngine"] = "CloudWatchLogs"
    deployed = ConditionEvaluator(workload, params).deployed()
    filters = {lid.removesuffix("MetricFilter"): compile_pattern(res["Properties"]["FilterPattern"])
               for lid, res in resources_of_type(workload, "AWS::Logs::MetricFilter").items()
               if lid in deployed}
    kinds = DETECTION_MODES[mode]
    wanted = {d.name for d in DETECTIONS if d.kind in kinds and d.metric_alarm
              and {"kms": kms, "secretsmanager": secrets}[d.service.value] == "Enabled"}
    assert set(filters) == wanted
    for case in CASES:
        got = {name for name, f in filters.items() if f.matches(case.record)}
        assert got == set(case.expect) & wanted, case.cls


def test_access_detections_ignore_the_error_code() -> None:
    """Both error codes KMS uses for a pending-deletion key appear among the positive records."""
    codes = {c.record.get("errorCode") for c in CASES if "KmsKeyPendingDeletionUse" in c.expect}
    assert {"KMSInvalidStateException", "DisabledException"} <= codes
    assert all(d.kind in Kind for d in DETECTIONS)


def test_auto_cancel_acts_on_one_use_per_service_the_pending_deletion_one() -> None:
    """AutoCancelOnUse cancels a deletion: only a use refused because of one is cancellable (a key
    pending import or unavailable has nothing to cancel)."""
    from detections.catalog import DETECTIONS, Kind, Service

    cancellable = {d.service: d.name for d in DETECTIONS if d.cancellable}
    assert cancellable == {Service.KMS: "KmsKeyPendingDeletionUse", Service.SECRETS_MANAGER: "SecretPendingDeletionUse"}
    assert all(d.kind is Kind.ACCESS for d in DETECTIONS if d.cancellable)
