"""The cost estimate counts what the template really deploys in each configuration."""

from __future__ import annotations

import itertools

import pytest

from stacks import cost
from tests.helpers import ConditionEvaluator, parameter_values, resources_of_type

CONFIGS = list(itertools.product(["EventBridge", "CloudWatchLogs", "Both"],
                                 ["AccessAndDeletion", "AccessOnly", "DeletionOnly"],
                                 [True, False], [True, False], [True, False], [True, False]))


@pytest.mark.parametrize(("engine", "mode", "kms", "secrets", "recovery", "key"), CONFIGS)
def test_estimate_matches_the_template(workload, engine, mode, kms, secrets, recovery, key) -> None:
    on = {True: "Enabled", False: "Disabled"}
    params = parameter_values(workload, DetectionEngine=engine, DetectionMode=mode, KmsKeyMonitoring=on[kms],
                              SecretMonitoring=on[secrets], RecoveryNotices=on[recovery],
                              TopicEncryption="CreateKey" if key else "Disabled")
    deployed = ConditionEvaluator(workload, params).deployed()
    types = ("AWS::CloudWatch::Alarm", "AWS::Logs::MetricFilter", "AWS::Events::Rule", "AWS::KMS::Key")
    count = [len(set(resources_of_type(workload, t)) & deployed) for t in types]
    e = cost.estimate(engine, mode, kms, secrets, recovery, topic_key=key)
    assert [e.alarms, e.custom_metrics, e.rules, e.kms_keys] == count
    # CloudWatch bills an alarm per metric it evaluates: a metric-math alarm per metric in it.
    evaluator = ConditionEvaluator(workload, params)
    alarm_metrics = sum(
        len([m for m in evaluator.resolve(workload["Resources"][a]["Properties"]).get("Metrics", []) if "MetricStat" in m])
        or 1 for a in set(resources_of_type(workload, "AWS::CloudWatch::Alarm")) & deployed)
    assert e.alarm_metrics == alarm_metrics
    notifier = "NotifierEventSourceMapping" in deployed  # it polls the event queue while idle
    assert e.sqs_requests == (5 * 3 * 60 * 24 * 30 if notifier else 0)
    assert e.monthly_usd == round(0.10 * alarm_metrics + 0.30 * e.custom_metrics + 1.00 * e.kms_keys
                                  + (0.26 if notifier else 0), 2)


@pytest.mark.parametrize("mode", ["AccessAndDeletion", "AccessOnly", "DeletionOnly"])
def test_forwarding_estimate_matches_the_template(workload, mode) -> None:
    params = parameter_values(workload, DetectionMode=mode, NotificationEmail="",
                              CollectorEventBusArn="arn:aws:events:eu-west-1:444455556666:event-bus/c")
    deployed = ConditionEvaluator(workload, params).deployed()
    e = cost.estimate("EventBridge", mode, forwarding=True)
    billed = ("AWS::CloudWatch::Alarm", "AWS::Logs::MetricFilter", "AWS::KMS::Key")
    assert [len(set(resources_of_type(workload, t)) & deployed) for t in billed] == [0, 0, 0]
    assert e.rules == len(set(resources_of_type(workload, "AWS::Events::Rule")) & deployed)
    assert e.monthly_usd == 0


@pytest.mark.parametrize(("keys", "usd"), [(0, 0.0), (664, 0.0), (665, 0.0), (1_000, 0.03), (10_000, 0.84)])
def test_the_reminders_kms_requests_are_free_up_to_about_660_keys(keys, usd) -> None:
    # 30 days x (a DescribeKey per key + ListKeys + ListAliases), 20,000 free, 0.03 USD per 10,000 after.
    assert cost.reminder_kms_usd(keys) == usd


def test_reminders_off_deploy_no_rule_of_their_own(workload) -> None:
    params = parameter_values(workload, ReminderDays="none")
    deployed = ConditionEvaluator(workload, params).deployed()
    e = cost.estimate("EventBridge", "AccessAndDeletion", reminders=False)
    assert e.rules == len(set(resources_of_type(workload, "AWS::Events::Rule")) & deployed)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="EventBridge, CloudWatchLogs, Both"):
        cost.estimate("Lambda", "AccessOnly")


def test_table_has_every_engine_and_mode() -> None:
    table = cost.cost_table()
    assert len(table.splitlines()) == 2 + 9 + 3 + 6  # engines x modes, forwarding x modes, a blank line and 5 notes
    # the backlog, dead-letter and lost-events alarms (a metric each) and the notifier's failure alarm
    # (two metrics), and the notifier's idle polling: 0.76 USD, 0.50 in the free tier; 11 detections'
    # rules and the reminder's
    assert "| `EventBridge` | `AccessAndDeletion` | 4 (5) | 0 | 12 | 648,000 (0.26) | 1.76 | 0.76 | 0.50 |" in table


def test_one_account_in_many_regions_pays_once_with_a_home_region() -> None:
    """By hand: 17 notifiers bill 17 x 5 alarm metrics x 0.10 = 8.50 and 17 x 648,000 requests, of which
    all but the free million are billed at 0.40 per million (4.01): 12.51. One home Region: 0.50, its
    polling in the free tier; the 16 forwarding Regions have no fixed cost."""
    from stacks.cost import GOAL_USD, many_regions_usd

    assert many_regions_usd(17, home_region=False) == 12.51
    assert many_regions_usd(17, home_region=True) == 0.50
    assert many_regions_usd(17, home_region=True) / 17 <= GOAL_USD < many_regions_usd(17, home_region=False) / 17
    assert many_regions_usd(1, home_region=False) == many_regions_usd(1, home_region=True) == 0.50


def test_the_alerts_blast_radius_reads_are_costed_as_the_notifier_bounds_them() -> None:
    """stacks/ may not import the function; the cost text's page counts are held to the notifier's."""
    from functions import notifier

    assert (cost.ALERT_HISTORY_PAGES, cost.ALERT_SECRET_PAGES) == (notifier.USE_PAGES, notifier.SECRET_PAGES)
