"""Bursts do not silence the team: 1,000 matching events in one minute, driven through the delivery
chain as the template wires it, give at most one email per detection per minute, the email states
how many events there were and says where each is listed, every event stays listable for 14 days,
and the email subscription stays far below SNS's suspension threshold.

The chain, read from the deployed template (tests/helpers.ConcreteTemplate):
  CloudTrail event -> rule (its EventPattern, matched by moto's EventBridge matcher)
    -> its target (the event queue, or, in the mutation, the topic: one email per event)
    -> AWS/Events MatchedEvents per rule and minute (FACT 7 of test_delivery)
    -> the alarm on it (period, threshold, datapoints, missing data as wired)
    -> its AlarmActions on a state change only -> SNS -> the email subscription.
Facts: an alarm performs its actions only when its state changes
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html);
SNS suspends an email endpoint that receives more than 10 messages a second
(https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html).
"""

from __future__ import annotations

import copy
import json
from collections import Counter, defaultdict

import pytest
from moto.events.models import EventPattern

from detections.catalog import DETECTIONS, by_name
from detections.eventpatterns import cloudtrail_event
from stacks.rules import ALARM_DESCRIPTION_LIMIT, QUEUE_RETENTION_SECONDS
from tests.helpers import SCAN_CONFIGS, local_target
from tests.stacks.test_delivery import ACCOUNT, REGION, Deployment, deploy

SNS_EMAIL_LIMIT_PER_SECOND = 10
BURST = 1000
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-a1B2c3"
CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/i-0abc"


def records(detection: str, count: int, start: int = 0) -> list[tuple[float, dict]]:
    """``count`` CloudTrail records that the detection matches, spread over one minute from ``start``
    (seconds), as (time, record)."""
    base = {"eventVersion": "1.09", "awsRegion": REGION, "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "AssumedRole", "arn": CALLER, "accountId": ACCOUNT}}
    kind = {
        "KmsKeyPendingDeletionUse": {"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "readOnly": True,
                                     "errorCode": "KMSInvalidStateException",
                                     "errorMessage": f"{KEY} is pending deletion.",
                                     "resources": [{"ARN": KEY, "type": "AWS::KMS::Key"}]},
        "SecretPendingDeletionUse": {"eventSource": "secretsmanager.amazonaws.com", "eventName": "GetSecretValue",
                                     "errorCode": "InvalidRequestException",
                                     "errorMessage": "You can't perform this operation on the secret because it "
                                                     "was marked for deletion.",
                                     "requestParameters": {"secretId": SECRET}},
        "KmsKeyDisableOrDeletion": {"eventSource": "kms.amazonaws.com", "eventName": "ScheduleKeyDeletion",
                                    "requestParameters": {"keyId": KEY, "pendingWindowInDays": 7}},
        "SecretDeletion": {"eventSource": "secretsmanager.amazonaws.com", "eventName": "DeleteSecret",
                           "requestParameters": {"secretId": SECRET, "forceDeleteWithoutRecovery": True}},
        "KmsKeyDeletionCancelled": {"eventSource": "kms.amazonaws.com", "eventName": "CancelKeyDeletion",
                                    "requestParameters": {"keyId": KEY}},
        "SecretRestored": {"eventSource": "secretsmanager.amazonaws.com", "eventName": "RestoreSecret",
                           "requestParameters": {"secretId": SECRET}},
    }[detection]
    return [(start + 60 * i / count, {**base, **kind, "eventID": f"{detection}-{i}"}) for i in range(count)]


class Chain:
    """The deployed delivery chain, fed timed events, counting what reaches the email inbox."""

    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.topics = {d.stack.physical[t]["Ref"] for t in d.of_type("AWS::SNS::Topic")}
        self.queued: dict[str, list[dict]] = defaultdict(list)
        self.emails: list[tuple[float, str]] = []  # (time, what)
        self.matched: dict[str, Counter] = defaultdict(Counter)  # rule name -> minute -> count

    def put(self, timed_records: list[tuple[float, dict]]) -> None:
        for when, record in timed_records:
            event = cloudtrail_event(record)
            for rule_id in self.d.of_type("AWS::Events::Rule"):
                props = self.d.stack.properties(rule_id)
                if not EventPattern.load(json.dumps(props["EventPattern"])).matches_event(event):
                    continue
                self.matched[self.d.stack.physical[rule_id]["Ref"]][int(when // 60)] += 1
                for target in props["Targets"]:
                    if target["Arn"] in self.topics:  # a rule that emails each event itself
                        self.emails.append((when, rule_id))
                    else:
                        self.queued[target["Arn"]].append(event)

    def run_alarms(self, minutes: int) -> dict[str, list[float]]:
        """Evaluate every MatchedEvents alarm minute by minute; email on each state change whose
        actions name a topic. Returns each alarm's datapoints that raised it."""
        raised: dict[str, list[float]] = {}
        for alarm_id in self.d.of_type("AWS::CloudWatch::Alarm"):
            p = self.d.stack.properties(alarm_id)
            if p.get("MetricName") != "MatchedEvents":
                continue
            (rule_name,) = [dim["Value"] for dim in p["Dimensions"] if dim["Name"] == "RuleName"]
            period_minutes = int(p["Period"]) // 60
            state, window = "OK", []
            for end in range(period_minutes, minutes + 1, period_minutes):
                value = sum(self.matched[rule_name][m] for m in range(end - period_minutes, end))
                missing = value == 0  # EventBridge publishes MatchedEvents only when it is not zero
                breaching = (not missing and value >= float(p["Threshold"])) or (
                    missing and p["TreatMissingData"] == "breaching")
                window = (window + [breaching])[-int(p["EvaluationPeriods"]):]
                new = "ALARM" if sum(window) >= int(p.get("DatapointsToAlarm", p["EvaluationPeriods"])) else "OK"
                if new != state:
                    actions = p.get("AlarmActions", []) if new == "ALARM" else p.get("OKActions", [])
                    self.emails += [(end * 60.0, alarm_id) for a in actions if a in self.topics]
                    if new == "ALARM":
                        raised.setdefault(alarm_id, []).append(value)
                state = new
        return raised

    def max_emails(self, seconds: float) -> int:
        """The most emails in any window of ``seconds``."""
        times = sorted(t for t, _ in self.emails)
        return max((sum(1 for u in times if t <= u < t + seconds) for t in times), default=0)


def burst(d: Deployment, detections: list[str], count: int = BURST) -> tuple[Chain, dict[str, list[float]]]:
    chain = Chain(d)
    for name in detections:
        chain.put(records(name, count, start=60))  # the burst fills minute 1
    return chain, chain.run_alarms(minutes=10)


@pytest.mark.parametrize("detection", [d.name for d in DETECTIONS])
def test_a_burst_gives_one_email_that_counts_it(workload, detection) -> None:
    d = deploy(workload, **SCAN_CONFIGS["defaults"])
    chain, raised = burst(d, [detection])
    assert len(chain.emails) == 1, chain.emails
    ((alarm_id, values),) = raised.items()
    assert values == [BURST]  # the count of the burst, as the email's state reason states it
    description = d.stack.properties(alarm_id)["AlarmDescription"]
    queue_url = d.stack.physical["AlertEventQueue"]["Ref"]
    assert by_name(detection).title in description and f"--queue-url {queue_url}" in description
    assert len(description) <= ALARM_DESCRIPTION_LIMIT


def test_every_event_stays_listable_for_14_days(workload) -> None:
    d = deploy(workload, **SCAN_CONFIGS["defaults"])
    chain, _ = burst(d, [d.name for d in DETECTIONS])
    queue_arn = d.stack.physical["AlertEventQueue"]["Arn"]
    assert len(chain.queued[queue_arn]) == BURST * len(DETECTIONS)
    assert {e["detail"]["eventID"] for e in chain.queued[queue_arn]} == {
        f"{n.name}-{i}" for n in DETECTIONS for i in range(BURST)}
    retention = d.stack.properties("AlertEventQueue")["MessageRetentionPeriod"]
    assert retention == QUEUE_RETENTION_SECONDS >= 14 * 86_400


def test_bursts_of_every_detection_at_once_stay_under_the_sns_email_limit(workload) -> None:
    d = deploy(workload, **SCAN_CONFIGS["defaults"])
    chain, _ = burst(d, [d.name for d in DETECTIONS])
    per_minute = Counter((int(t // 60), what) for t, what in chain.emails)
    assert max(per_minute.values()) == 1  # at most one email per detection per minute
    assert chain.max_emails(1.0) <= SNS_EMAIL_LIMIT_PER_SECOND
    assert len(chain.emails) == len(DETECTIONS)


def test_longer_alarm_periods_still_email_once(workload) -> None:
    d = deploy(workload, AlarmPeriodSeconds="300", **SCAN_CONFIGS["defaults"])
    chain, raised = burst(d, ["KmsKeyPendingDeletionUse"])
    assert len(chain.emails) == 1 and list(raised.values()) == [[BURST]]


def test_the_limit_fails_when_a_rule_emails_each_event(workload) -> None:
    """The first release's wiring (rule -> topic) suspends the subscription: the test can fail."""
    template = copy.deepcopy(workload)
    for rule in (r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"):
        local_target(rule)["Arn"] = {"Ref": "AlertTopic"}
    chain, _ = burst(deploy(template, **SCAN_CONFIGS["defaults"]), ["KmsKeyPendingDeletionUse"])
    assert chain.max_emails(1.0) > SNS_EMAIL_LIMIT_PER_SECOND
