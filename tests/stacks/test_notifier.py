"""The notifier's failure alarm: it fires within 15 minutes when every entry fails, from the
documented behaviour of SQS and CloudWatch and the template's own settings, and the metric it
watches is the one the function writes."""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import load_corpus
from tests.functions.test_notifier import entry, sqs_record

GOAL_SECONDS = 900
# CloudWatch evaluates an alarm once its period's data has arrived; Lambda and embedded-metric data
# arrive within about a minute (UNCONFIRMED: AWS documents no bound). The proof leaves that much.
METRIC_DELAY_SECONDS = 60
BATCHING_WINDOW_SLACK = 10  # the mapping may wait this long before invoking


def alarm_of(workload: dict) -> dict:
    return workload["Resources"]["NotifierFailingAlarm"]["Properties"]


def first_alarm_time(failures: list[float], period: int, evaluation: int, to_alarm: int) -> float | None:
    """When an M-of-N alarm on the per-period sum of ``failures`` (threshold 1, missing data not
    breaching) first goes to ALARM: the end of the first period that completes M breaching
    periods among the last N (CloudWatch user guide, evaluating an alarm)."""
    if not failures:
        return None
    last = int(max(failures) // period) + evaluation
    breaching = {int(t // period) for t in failures}
    for p in range(last + 1):
        if sum(1 for q in range(p - evaluation + 1, p + 1) if q in breaching) >= to_alarm:
            return (p + 1) * period
    return None


def test_an_entry_that_always_fails_raises_the_alarm_within_15_minutes(workload) -> None:
    """An entry that fails comes back once per visibility timeout (SQS) and fails again; whatever the
    phase of the first failure against CloudWatch's periods, the alarm fires within the goal."""
    alarm = alarm_of(workload)
    queue = workload["Resources"]["AlertEventQueue"]["Properties"]
    visibility = queue["VisibilityTimeout"]
    (period,) = {m["MetricStat"]["Period"] for m in alarm["Metrics"] if "MetricStat" in m}
    worst = 0.0
    for phase in range(period):
        for slack in (0, BATCHING_WINDOW_SLACK):
            start = phase + slack
            failures = [start + k * visibility for k in range(8)]
            fired = first_alarm_time(failures, period, alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"])
            assert fired is not None
            worst = max(worst, fired + METRIC_DELAY_SECONDS - phase)
    assert worst <= GOAL_SECONDS, worst


def test_one_transient_failure_does_not_raise_it(workload) -> None:
    alarm = alarm_of(workload)
    assert alarm["DatapointsToAlarm"] >= 2 and alarm["Threshold"] == 1
    assert first_alarm_time([42.0], 300, alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) is None


def test_the_alarm_adds_the_functions_failed_entries_to_lambdas_errors(workload) -> None:
    alarm = alarm_of(workload)
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    (expression,) = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    assert set(stats) <= set(expression["Expression"].replace("(", " ").replace(")", " ").replace(",", " ").split())
    namespaces = {(m["Namespace"], m["MetricName"]) for m in stats.values()}
    assert namespaces == {("DeletionAlarms", "FailedEntries"), ("AWS/Lambda", "Errors")}
    for metric in stats.values():
        assert metric["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "NotifierFunction"}}]
    assert alarm["TreatMissingData"] == "notBreaching" and alarm["AlarmActions"]


def test_the_function_writes_the_metric_the_alarm_watches(workload) -> None:
    """The failed entries of a batch, as the template's own code logs them in CloudWatch embedded
    metric format, name the alarm's namespace, metric and dimension."""
    from stacks.docs import load_inline

    module = load_inline(workload["Resources"]["NotifierFunction"]["Properties"]["Code"]["ZipFile"],
                         "inline_notifier_metrics")

    class FailingTopic:
        def publish(self, **call):
            raise RuntimeError("KMS.AccessDeniedException")

    class Claims:
        class exceptions:
            ConditionalCheckFailedException = KeyError

        def put_item(self, **call):
            return {}

        def delete_item(self, **call):
            return {}

    logs: list[str] = []
    n = module.Notifier(FailingTopic(), None, Claims(), topic_arn="t", queue_url="q", claim_table="c",
                        log_group="g", region="us-east-1", specs=module.SPECS, clock=lambda: 1_795_000_000.0,
                        log=logs.append, function_name="stack-NotifierFunction-abc")
    record = next(s.record for s in load_corpus() if s.expect == {"KmsKeyDisableOrDeletion"})
    result = n.handle({"Records": [sqs_record(entry("KmsKeyDisableOrDeletion", record), f"m{i}") for i in range(3)]})
    assert len(result["batchItemFailures"]) == 3
    (emf,) = [json.loads(line) for line in logs if '"_aws"' in line]
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    alarm = alarm_of(workload)
    (watched,) = [m["MetricStat"]["Metric"] for m in alarm["Metrics"]
                  if "MetricStat" in m and m["MetricStat"]["Metric"]["Namespace"] != "AWS/Lambda"]
    assert directive["Namespace"] == watched["Namespace"]
    assert [m["Name"] for m in directive["Metrics"]] == [watched["MetricName"]]
    assert directive["Dimensions"] == [[d["Name"] for d in watched["Dimensions"]]]
    assert emf["FunctionName"] == "stack-NotifierFunction-abc" and emf[watched["MetricName"]] == 3
    assert math.isclose(emf["_aws"]["Timestamp"], 1_795_000_000_000)


@pytest.mark.parametrize("datapoints", [3])
def test_the_proof_fails_when_the_alarm_waits_for_three_periods(workload, datapoints) -> None:
    """The timing proof can fail: three breaching periods of three would take longer than the goal."""
    queue = workload["Resources"]["AlertEventQueue"]["Properties"]
    worst = max(first_alarm_time([p + k * queue["VisibilityTimeout"] for k in range(8)], 300, 3, datapoints)
                + METRIC_DELAY_SECONDS - p for p in range(300))
    assert worst > GOAL_SECONDS


def test_an_event_eventbridge_could_not_even_dead_letter_raises_an_alarm(workload) -> None:
    """InvocationsFailedToBeSentToDlq is the only trace of such an event (EventBridge user guide,
    eb-rule-dlq): summed over every rule of the Region, the reminder's and auto-cancel's included,
    one lost event in a period raises the alarm."""
    alarm = workload["Resources"]["EventDeliveryLostAlarm"]["Properties"]
    (query,) = alarm["Metrics"]
    assert query["ReturnData"] is True and query["Period"] <= 300
    assert query["Expression"] == 'SELECT SUM(InvocationsFailedToBeSentToDlq) FROM "AWS/Events"'  # no WHERE
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["AlarmActions"]
    assert workload["Resources"]["EventDeliveryLostAlarm"]["Condition"] == \
        workload["Resources"]["NotifierFunction"]["Condition"]


# ------------------------------------------------------------------ documented constraints cfn-lint does not check
def mapping_problems(template: dict) -> list[str]:
    """The event source mapping and its queue against the Lambda documentation:
    - CreateEventSourceMapping (API reference): for an SQS standard queue, BatchSize is 1 to 10,000,
      and above 10 MaximumBatchingWindowInSeconds must be at least 1; the window is at most 300 s.
    - Lambda developer guide, with-sqs ("Configuring a queue to use with Lambda"): the queue's
      visibility timeout at least six times the function's timeout plus the batching window.
    - ScalingConfig.MaximumConcurrency is 2 to 1,000 (services-sqs-scaling).
    - The function reports partial batch failures only with ReportBatchItemFailures; without it a
      normal return deletes the whole batch, failed entries included (with-sqs, partial batch)."""
    resources = template["Resources"]
    mapping = resources["NotifierEventSourceMapping"]["Properties"]
    function = resources["NotifierFunction"]["Properties"]
    queue = resources["AlertEventQueue"]["Properties"]
    problems = []
    size, window = mapping.get("BatchSize", 10), mapping.get("MaximumBatchingWindowInSeconds", 0)
    if not 1 <= size <= 10_000:
        problems.append(f"BatchSize {size} outside 1..10000")
    if size > 10 and window < 1:
        problems.append("BatchSize above 10 without a batching window of at least 1 s")
    if window > 300:
        problems.append(f"MaximumBatchingWindowInSeconds {window} above 300")
    if queue["VisibilityTimeout"] < 6 * function["Timeout"] + window:
        problems.append("visibility timeout below six times the function's timeout plus the window")
    concurrency = mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
    if concurrency is not None and not 2 <= concurrency <= 1000:
        problems.append(f"MaximumConcurrency {concurrency} outside 2..1000")
    if "ReportBatchItemFailures" not in mapping.get("FunctionResponseTypes", []):
        problems.append("no ReportBatchItemFailures: a failed entry would be deleted with its batch")
    return problems


def test_the_mapping_meets_the_documented_constraints(workload) -> None:
    assert mapping_problems(workload) == []


@pytest.mark.parametrize(("change", "expected"), [
    (lambda r: r["NotifierEventSourceMapping"]["Properties"].pop("MaximumBatchingWindowInSeconds"),
     "without a batching window"),
    (lambda r: r["NotifierFunction"]["Properties"].update(Timeout=120), "visibility timeout"),
    (lambda r: r["NotifierEventSourceMapping"]["Properties"].update(ScalingConfig={"MaximumConcurrency": 1}),
     "MaximumConcurrency 1"),
    (lambda r: r["NotifierEventSourceMapping"]["Properties"].pop("FunctionResponseTypes"), "ReportBatchItemFailures"),
])
def test_each_constraint_fails_when_broken(workload, change, expected) -> None:
    import copy

    mutated = copy.deepcopy(workload)
    change(mutated["Resources"])
    assert any(expected in p for p in mapping_problems(mutated))


# ------------------------------------------------------------------ the claim table's time to live
class RecordingTable:
    """DynamoDB as the notifier's claims meet it: every item written is kept for inspection."""

    exceptions = type("Exceptions", (), {"ConditionalCheckFailedException": type("C", (Exception,), {})})

    def __init__(self) -> None:
        self.written: list[dict] = []

    def put_item(self, **call) -> None:
        self.written.append(call["Item"])

    def update_item(self, **call) -> None:
        pass

    def get_item(self, **call) -> dict:
        return {}


def claims_written(clock: float) -> list[dict]:
    """The items of every kind of claim the notifier writes: a digest's minute, an automatic cancel,
    a day's reminder, a secret's final notice."""
    from functions.notifier import FINAL_CLAIM_TTL_SECONDS, LEASE_SECONDS, Notifier
    from tests.functions.test_notifier import SPECS

    table = RecordingTable()

    class Cancels:  # KMS as the cancel meets it
        def cancel_key_deletion(self, KeyId):  # noqa: N803
            return {"KeyId": KeyId}

    topic = type("Topic", (), {"publish": lambda self, **call: {"MessageId": "m"}})()
    notifier = Notifier(topic, None, table, topic_arn="t", queue_url="q", claim_table="claims", log_group="g",
                        region="us-east-1", specs=SPECS, clock=lambda: clock, log=lambda line: None,
                        auto_cancel="All", account="111122223333", clients=lambda service, region=None: Cancels())
    record = next(s.record for s in load_corpus() if s.cls == "kms-decrypt-pending-deletion-kmsinvalidstateexception")
    notifier.enrich = lambda spec, rows: None  # no reads: only the claims matter here
    notifier.handle({"Records": [sqs_record(entry("KmsKeyPendingDeletionUse", record), "m1")]})
    notifier.check = lambda day: None  # the day's claim is what is looked at
    notifier.remind(type("Digest", (), {"events": [{"time": "2026-12-05T08:00:00Z"}]})())
    # A secret's final notice is claimed for FINAL_CLAIM_TTL_SECONDS through the same claim().
    notifier.claim("final#arn:aws:secretsmanager:us-east-1:111122223333:secret:old-a1B2c3",
                   int(clock) + FINAL_CLAIM_TTL_SECONDS, lease=LEASE_SECONDS)
    return table.written


def ttl_problems(template: dict) -> list[str]:
    """Why DynamoDB would keep some claim for ever: TTL off, or an item without the template's TTL
    attribute as a Number of epoch seconds (DynamoDB developer guide, TTL: "formatting an item's TTL
    attribute"; an item without it, or with another type, is never deleted)."""
    ttl = template["Resources"]["NotifierClaimTable"]["Properties"]["TimeToLiveSpecification"]
    problems = [] if ttl["Enabled"] is True else ["TTL is off"]
    now = 1_764_921_600.0
    items = claims_written(now)
    kinds = {item["claim"]["S"].split("#")[0] for item in items}
    assert kinds == {"KmsKeyPendingDeletionUse", "cancel", "DeletionReminder", "final"}, kinds
    for item in items:
        value = item.get(ttl["AttributeName"], {})
        if set(value) != {"N"} or not now < int(value["N"]) <= now + 100 * 86_400:  # seconds, not ms
            problems.append(f"{item['claim']['S']}: no {ttl['AttributeName']} in epoch seconds")
    return problems


def test_every_claim_carries_the_templates_time_to_live_as_epoch_seconds(workload) -> None:
    assert ttl_problems(workload) == []


def test_the_time_to_live_proof_fails_on_another_attribute(workload) -> None:
    import copy

    mutated = copy.deepcopy(workload)
    mutated["Resources"]["NotifierClaimTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] = "ttl"
    assert len(ttl_problems(mutated)) == 4
