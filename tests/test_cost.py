"""The cost estimate counts what the template really deploys in each configuration."""

from __future__ import annotations

import itertools

import pytest

from stacks import cost
from tests.helpers import ConditionEvaluator, parameter_values, resources_of_type

CONFIGS = list(itertools.product(["EventBridge", "CloudWatchLogs", "Both"],
                                 ["AccessAndDeletion", "AccessOnly", "DeletionOnly"],
                                 [True, False], [True, False], [True, False]))


@pytest.mark.parametrize(("engine", "mode", "kms", "secrets", "recovery"), CONFIGS)
def test_estimate_matches_the_template(workload, engine, mode, kms, secrets, recovery) -> None:
    on = {True: "Enabled", False: "Disabled"}
    params = parameter_values(workload, DetectionEngine=engine, DetectionMode=mode, KmsKeyMonitoring=on[kms],
                              SecretMonitoring=on[secrets], RecoveryNotices=on[recovery])
    deployed = ConditionEvaluator(workload, params).deployed()
    count = {t: len(set(resources_of_type(workload, t)) & deployed)
             for t in ("AWS::CloudWatch::Alarm", "AWS::Logs::MetricFilter", "AWS::Events::Rule")}
    e = cost.estimate(engine, mode, kms, secrets, recovery)
    assert (e.alarms, e.custom_metrics, e.rules) == (
        count["AWS::CloudWatch::Alarm"], count["AWS::Logs::MetricFilter"], count["AWS::Events::Rule"])
    assert e.monthly_usd == round(0.10 * e.alarms + 0.30 * e.custom_metrics, 2)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="EventBridge, CloudWatchLogs, Both"):
        cost.estimate("Lambda", "AccessOnly")


def test_table_has_every_engine_and_mode() -> None:
    table = cost.cost_table()
    assert len(table.splitlines()) == 2 + 9
    assert "| `EventBridge` | `AccessAndDeletion` | 1 | 0 | 6 | 0.10 |" in table
