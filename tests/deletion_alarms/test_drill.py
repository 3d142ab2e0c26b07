"""The fire drill, end to end against a moto server on 127.0.0.1 (KMS, Secrets Manager, SQS, SNS,
CloudFormation, CloudWatch, DynamoDB). moto runs no EventBridge-to-Lambda path and evaluates no
alarm, so the test plays AWS when the drill waits: it hands CloudTrail-shaped records of the
drill's own calls to the real notifier (``functions.notifier``, publishing to the stack's topic
through moto), and publishes alarm notifications as CloudWatch would; the drill must see them
through the queue it subscribed, and read them. botocore's Stubber covers a guardrail that denies
the 7-day window."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Callable

import boto3
import pytest
from botocore.stub import Stubber

from deletion_alarms import cli
from deletion_alarms import drill as dr
from detections.catalog import DETECTIONS
from detections.errors import UserError
from detections.eventpatterns import cloudtrail_event
from detections.messages import notification_specs
from functions.notifier import Notifier

STACK = "deletion-alarms"
ACCOUNT = "123456789012"  # moto's default account


def deploy_stack(aws, **params: str) -> str:
    """A stand-in of a deployed workload: its topic, parameters and AlertTopicArn output."""
    topic = aws.client("sns").create_topic(Name="deletion-alarms-AlertTopic-1A2B")["TopicArn"]
    values = {"DetectionEngine": "EventBridge", "DetectionMode": "AccessAndDeletion", "KmsKeyMonitoring": "Enabled",
              "SecretMonitoring": "Enabled", "RecoveryNotices": "Enabled", "CollectorEventBusArn": "", **params}
    aws.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps({
        "Parameters": {k: {"Type": "String", "Default": ""} for k in values},
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"AlertTopicArn": {"Value": topic}}}),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()])
    return topic


def clients(aws) -> dict:
    return {name: aws.client(name) for name in ("kms", "secretsmanager", "sqs", "sns", "cloudwatch")}


def drill_records(key_id: str, secret_arn: str, material_key_id: str = "0987dcba-09fe-87dc-65ba-ab0987654321",
                  region: str = "us-east-1") -> dict[str, dict]:
    """What CloudTrail records for the drill's calls (fields as the KMS and Secrets Manager
    CloudTrail pages show them), by the detection each one triggers."""
    key_arn = f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"
    common = {"eventVersion": "1.09", "awsRegion": region, "recipientAccountId": ACCOUNT,
              "eventTime": "2026-11-30T08:00:00Z", "sourceIPAddress": "192.0.2.10", "userAgent": "drill",
              "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/drill"},
              "eventType": "AwsApiCall", "managementEvent": True}
    kms, secrets = {**common, "eventSource": "kms.amazonaws.com"}, {**common, "eventSource": "secretsmanager.amazonaws.com"}
    return {
        "KmsKeyDisableOrDeletion": {**kms, "eventName": "ScheduleKeyDeletion",
                                    "requestParameters": {"keyId": key_id, "pendingWindowInDays": 7},
                                    "responseElements": {"keyId": key_arn, "keyState": "PendingDeletion",
                                                         "deletionDate": "Dec 7, 2026, 8:00:00 AM",
                                                         "pendingWindowInDays": 7}},
        "KmsKeyPendingDeletionUse": {**kms, "eventName": "Encrypt", "errorCode": "KMSInvalidStateException",
                                     "errorMessage": f"{key_arn} is pending deletion.",
                                     "requestParameters": {"keyId": key_id}, "responseElements": None},
        "KmsKeyUnusableUse": {**kms, "eventName": "Encrypt", "errorCode": "KMSInvalidStateException",
                              "errorMessage": f"arn:aws:kms:{region}:{ACCOUNT}:key/{material_key_id} is pending import.",
                              "requestParameters": {"keyId": material_key_id}, "responseElements": None},
        "KmsKeyPolicyLockoutRisk": {**kms, "eventName": "PutKeyPolicy",
                                    "requestParameters": {"keyId": key_id, "policyName": "default", "policy": "{}",
                                                          "bypassPolicyLockoutSafetyCheck": True},
                                    "responseElements": None,
                                    "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key_arn}]},
        "KmsKeyDeletionCancelled": {**kms, "eventName": "CancelKeyDeletion", "requestParameters": {"keyId": key_id},
                                    "responseElements": {"keyId": key_arn}},
        "SecretDeletion": {**secrets, "eventName": "DeleteSecret",
                           "requestParameters": {"secretId": secret_arn, "recoveryWindowInDays": 7},
                           "responseElements": {"aRN": secret_arn, "deletionDate": "Dec 7, 2026, 8:00:00 AM"}},
        "SecretPendingDeletionUse": {**secrets, "eventName": "GetSecretValue", "errorCode": "InvalidRequestException",
                                     "errorMessage": "You can't perform this operation on the secret because it "
                                                     "was marked for deletion.",
                                     "requestParameters": {"secretId": secret_arn}, "responseElements": None},
        "SecretRestored": {**secrets, "eventName": "RestoreSecret", "requestParameters": {"secretId": secret_arn},
                           "responseElements": {"aRN": secret_arn}},
    }


class AwsStandIn:
    """Plays EventBridge, Lambda and CloudWatch the first time the drill waits: the real notifier
    turns records of the drill's calls into digests on the topic (each its own minute, as the
    drill's calls are spread out), and alarm notifications are published as CloudWatch would.
    ``skip`` leaves detections out; ``other`` replaces the key or secret of the records of the
    detections it names (a digest about something else)."""

    def __init__(self, sns, dynamodb, topic: str, drill: Callable[[], dr.Drill], alarms: list[str] = (),
                 skip: tuple[str, ...] = (), other: tuple[str, ...] = ()) -> None:
        self.sns, self.dynamodb, self.topic, self.drill = sns, dynamodb, topic, drill
        self.alarms, self.skip, self.other, self.done = list(alarms), skip, other, False

    def __call__(self, seconds: float) -> None:
        if self.done:
            return
        self.done = True
        created = self.drill().created
        records = drill_records(created["key_id"], created["secret_arn"], created.get("material_key_id", "none"))
        decoys = drill_records("1234abcd-12ab-34cd-56ef-1234567890ab",
                               f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-AbCdEf")
        table = "claims"
        self.dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                                   AttributeDefinitions=[{"AttributeName": "claim", "AttributeType": "S"}],
                                   KeySchema=[{"AttributeName": "claim", "KeyType": "HASH"}])
        minute = iter(range(0, 6000, 60))
        notifier = Notifier(self.sns, None, self.dynamodb, topic_arn=self.topic, queue_url="unused",
                            claim_table=table, log_group="/aws/lambda/notifier", region="us-east-1",
                            specs=notification_specs(), clock=lambda: float(next(minute)), log=lambda line: None)
        for name, record in records.items():
            if name in self.skip:
                continue
            event = cloudtrail_event(decoys[name] if name in self.other else record)
            batch = {"Records": [{"messageId": name, "body": json.dumps({"detection": name, "event": event}),
                                  "eventSource": "aws:sqs"}]}
            assert notifier.handle(batch) == {"batchItemFailures": []}
        for name in self.alarms:
            self.sns.publish(TopicArn=self.topic, Subject=f'ALARM: "{name}"', Message=json.dumps({
                "AlarmName": name, "NewStateValue": "ALARM", "OldStateValue": "OK",
                "NewStateReason": "Threshold Crossed: 1 datapoint [1.0] was greater than or equal to the threshold (1.0)",
                "StateChangeTime": datetime.now(timezone.utc).isoformat()}))


def alarm_names(plan: dr.Plan) -> list[str]:
    return [e.alarm_name for e in plan.expectations if e.alarm_name]


ALL = {d.name for d in DETECTIONS if not d.immediate}  # what the drill triggers


@pytest.mark.parametrize(("params", "digests", "alarms"), [
    ({}, ALL, set()),
    ({"DetectionEngine": "CloudWatchLogs", "DetectionMode": "DeletionOnly"},
     set(), {f"{STACK}-KmsKeyDisableOrDeletion", f"{STACK}-SecretDeletion", f"{STACK}-KmsKeyPolicyLockoutRisk"}),
    ({"SecretMonitoring": "Disabled", "RecoveryNotices": "Disabled", "DetectionEngine": "Both"},
     {"KmsKeyPendingDeletionUse", "KmsKeyDisableOrDeletion", "KmsKeyPolicyLockoutRisk", "KmsKeyUnusableUse"},
     {f"{STACK}-KmsKeyPendingDeletionUse", f"{STACK}-KmsKeyDisableOrDeletion", f"{STACK}-KmsKeyPolicyLockoutRisk",
      f"{STACK}-KmsKeyUnusableUse"}),
])
def test_the_plan_expects_what_the_stack_deploys(aws, params, digests, alarms) -> None:
    deploy_stack(aws, **params)
    plan = dr.make_plan(aws.client("cloudformation"), STACK)
    assert {e.detection.name for e in plan.expectations if e.path == dr.NOTIFIER} == digests
    assert set(alarm_names(plan)) == alarms


@pytest.fixture
def record(tmp_path) -> dr.RunRecord:
    return dr.RunRecord(tmp_path / "drill-runs.json", f"{ACCOUNT}/us-east-1/{STACK}")


def run_drill(aws, plan: dr.Plan, topic: str, record: dr.RunRecord, clock=None, timeout: float = 30,
              say=print, **stand_in) -> tuple[dr.Drill, list]:
    holder: list[dr.Drill] = []
    sleep = AwsStandIn(aws.client("sns"), aws.client("dynamodb"), topic, lambda: holder[0], **stand_in)
    drill = dr.Drill(clients(aws), plan, say, sleep=sleep, **({"clock": clock} if clock else {}))
    holder.append(drill)
    return drill, dr.run(clients(aws), plan, timeout=timeout, record=record, say=say, drill=drill)


def test_the_drill_says_what_it_still_waits_for(aws, record) -> None:
    topic = deploy_stack(aws)
    plan = dr.make_plan(aws.client("cloudformation"), STACK)
    assert "waits up to 900 s" in dr.describe(plan, 900)
    clock = iter(range(0, 10_000, 5))
    said: list[str] = []
    run_drill(aws, plan, topic, record, clock=lambda: float(next(clock)), timeout=40, say=said.append,
              skip=("SecretDeletion",))
    assert any(line.endswith("s of 40: waiting for 1: SecretDeletion") for line in said), said


def test_a_drill_sees_every_alert_and_cleans_up(aws, record) -> None:
    topic = deploy_stack(aws, DetectionEngine="Both")
    plan = dr.make_plan(aws.client("cloudformation"), STACK)
    drill, results = run_drill(aws, plan, topic, record, alarms=alarm_names(plan))
    assert record.runs() == {}  # cleaned up: nothing left to remember
    assert len(results) == 8 + 6 and all(r.delivered for r in results), [r.line() for r in results]
    assert all(r.delivered_at >= r.triggered_at - 1 for r in results)
    assert_cleaned_up(aws, drill)


def assert_cleaned_up(aws, drill: dr.Drill) -> None:
    sqs, sns, kms, secrets = (aws.client(s) for s in ("sqs", "sns", "kms", "secretsmanager"))
    assert not sqs.list_queues(QueueNamePrefix=dr.NAME_PREFIX).get("QueueUrls")
    assert all(s["Endpoint"] != drill.created.get("queue_url") and dr.NAME_PREFIX not in s["Endpoint"]
               for s in sns.list_subscriptions()["Subscriptions"])
    for key in ("key_id", "material_key_id"):
        if key in drill.created:
            assert kms.describe_key(KeyId=drill.created[key])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    if "secret_arn" in drill.created:
        assert secrets.describe_secret(SecretId=drill.created["secret_arn"]).get("DeletedDate")


def test_a_missing_alert_is_reported_and_the_drill_still_cleans_up(aws, record) -> None:
    topic = deploy_stack(aws)
    plan = dr.make_plan(aws.client("cloudformation"), STACK)
    clock = iter(range(0, 10_000, 5))
    drill, results = run_drill(aws, plan, topic, record, clock=lambda: float(next(clock)), timeout=20,
                               skip=("SecretDeletion",))
    missing = [r for r in results if not r.delivered]
    assert [r.expectation.detection.name for r in missing] == ["SecretDeletion"]
    assert "no notification within 20 s" in missing[0].line()
    assert_cleaned_up(aws, drill)


@pytest.mark.parametrize("detection", ["KmsKeyPendingDeletionUse", "SecretDeletion", "SecretRestored"])
def test_a_digest_that_names_another_key_or_secret_counts_as_missing(aws, record, detection) -> None:
    topic = deploy_stack(aws)
    plan = dr.make_plan(aws.client("cloudformation"), STACK)
    clock = iter(range(0, 10_000, 5))
    drill, results = run_drill(aws, plan, topic, record, clock=lambda: float(next(clock)), timeout=20, other=(detection,))
    missing = [r for r in results if not r.delivered]
    assert [r.expectation.detection.name for r in missing] == [detection]
    assert "1 arrived naming something else" in missing[0].line()


@pytest.mark.parametrize(("text", "undo", "named"), [
    ("Key: arn:aws:kms:us-east-1:111122223333:key/K\nUndo: aws kms cancel-key-deletion --key-id arn:...:key/K",
     True, True),
    ("Key: arn:aws:kms:us-east-1:111122223333:key/K\nUndo: aws kms cancel-key-deletion --key-id (missing)",
     True, False),  # named, but not where a person copies the command from
    ("Key: arn:aws:kms:us-east-1:111122223333:key/K", False, True),
    ("Key: arn:aws:kms:us-east-1:111122223333:key/OTHER", False, False),
])
def test_what_names_the_resource(text, undo, named) -> None:
    assert dr.names_resource(text, "key/K", undo) is named


def test_an_alarm_already_in_alarm_is_named_not_awaited(aws) -> None:
    deploy_stack(aws, DetectionEngine="CloudWatchLogs")
    plan = dr.make_plan(aws.client("cloudformation"), STACK)
    first = alarm_names(plan)[0]
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName=first, MetricName="MatchedEvents", Namespace="AWS/Events", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    aws.client("cloudwatch").set_alarm_state(AlarmName=first, StateValue="ALARM", StateReason="earlier")
    drill = dr.Drill(clients(aws), plan, print, sleep=lambda s: None)
    drill.observe()
    try:
        results = drill.wait({}, timeout=0)
    finally:
        drill.cleanup()
    (result,) = [r for r in results if r.expectation.alarm_name == first]
    assert "already in ALARM" in result.line()


def test_an_interrupted_drill_cleans_up_what_it_made(aws, record, monkeypatch) -> None:
    deploy_stack(aws)
    plan = dr.make_plan(aws.client("cloudformation"), STACK)
    drill = dr.Drill(clients(aws), plan, print)
    monkeypatch.setattr(drill, "trigger", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        dr.run(clients(aws), plan, timeout=5, record=record, say=print, drill=drill)
    assert {"queue_url", "subscription_arn", "key_id", "secret_arn"} <= set(drill.created)
    assert_cleaned_up(aws, drill)
    assert record.runs() == {}


def test_a_later_run_cleans_up_what_the_record_holds_and_nothing_else(aws, record) -> None:
    topic = deploy_stack(aws)
    plan = dr.make_plan(aws.client("cloudformation"), STACK)
    crashed = dr.Drill(clients(aws), plan, print, record=record)
    crashed.observe()
    crashed.create_resources()  # and then the process died: no cleanup, but a record
    assert set(record.runs()[crashed.run_id]) == {"queue_url", "subscription_arn", "key_id", "secret_arn",
                                                  "material_key_id"}
    # Anyone with tag permissions can make a key look like a drill's: the tag proves nothing.
    kms = aws.client("kms")
    lookalike = kms.create_key(Description="deletion-alarms drill 0123: throwaway, safe to delete",
                               Tags=[{"TagKey": dr.DRILL_TAG, "TagValue": "0123"}])["KeyMetadata"]["KeyId"]
    said: list[str] = []
    assert dr.sweep_leftovers(clients(aws), plan, record, said.append) == []
    assert_cleaned_up(aws, crashed)
    assert kms.describe_key(KeyId=lookalike)["KeyMetadata"]["KeyState"] == "Enabled"
    assert record.runs() == {} and any(crashed.run_id in line for line in said)
    assert aws.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    # A second sweep finds nothing to do, and a record of another account is not this one's.
    other = dr.RunRecord(record.path, "444455556666/us-east-1/x")
    other.save("feedbeef0000", {"key_id": lookalike})
    assert dr.sweep_leftovers(clients(aws), plan, record, said.append) == []
    assert kms.describe_key(KeyId=lookalike)["KeyMetadata"]["KeyState"] == "Enabled"


def test_an_access_denied_trigger_is_a_permission_problem_not_a_missing_alert(aws, record, monkeypatch) -> None:
    from botocore.exceptions import ClientError

    topic = deploy_stack(aws)
    plan = dr.make_plan(aws.client("cloudformation"), STACK)
    secrets = clients(aws)["secretsmanager"]

    def denied(**_):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "explicit deny in an SCP"}},
                          "GetSecretValue")

    holder: list[dr.Drill] = []
    sleep = AwsStandIn(aws.client("sns"), aws.client("dynamodb"), topic, lambda: holder[0],
                       skip=("SecretPendingDeletionUse",))
    members = {**clients(aws), "secretsmanager": secrets}
    monkeypatch.setattr(secrets, "get_secret_value", denied)
    drill = dr.Drill(members, plan, print, sleep=sleep)
    holder.append(drill)
    results = dr.run(members, plan, timeout=30, record=record, say=print, drill=drill)
    (result,) = [r for r in results if r.expectation.detection.name == "SecretPendingDeletionUse"]
    assert not result.delivered and result.line().startswith("DENIED")
    assert "secretsmanager:GetSecretValue was denied (AccessDeniedException)" in result.line()
    assert all(r.delivered for r in results if r is not result)


def test_an_unreadable_record_is_named(tmp_path) -> None:
    path = tmp_path / "drill-runs.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match="run record .* unreadable"):
        dr.RunRecord(path, "x").runs()


def test_a_guardrail_that_denies_seven_days_gets_thirty() -> None:
    kms = boto3.client("kms", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    said: list[str] = []
    with Stubber(kms) as stub:
        stub.add_response("describe_key", {"KeyMetadata": {"KeyId": "k", "KeyState": "Enabled"}})
        stub.add_client_error("schedule_key_deletion", "AccessDeniedException", expected_params={
            "KeyId": "k", "PendingWindowInDays": 7})
        stub.add_response("schedule_key_deletion", {"KeyId": "k"}, {"KeyId": "k", "PendingWindowInDays": 30})
        dr.delete_key(kms, "k", said.append)
        stub.assert_no_pending_responses()
    assert said[-1] == "drill key k scheduled for deletion in 30 days"


def test_another_error_is_the_users_to_see() -> None:
    kms = boto3.client("kms", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(kms) as stub:
        stub.add_response("describe_key", {"KeyMetadata": {"KeyId": "k", "KeyState": "Enabled"}})
        stub.add_client_error("schedule_key_deletion", "NotFoundException")
        with pytest.raises(UserError, match="NotFoundException"):
            dr.delete_key(kms, "k", print)


def test_the_command_refuses_an_unknown_stack_and_a_silent_confirmation(aws, capsys, monkeypatch) -> None:
    assert cli.main(aws.cli("drill", "--stack-name", "nope")) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    deploy_stack(aws)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(aws.cli("drill", "--stack-name", STACK)) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert "confirm with --yes" in captured.err and "two KMS keys (1 USD a month each" in captured.out
    assert not aws.client("kms").list_keys()["Keys"]  # nothing created


def test_a_forwarding_stack_needs_its_collector(aws) -> None:
    deploy_stack(aws, CollectorEventBusArn="arn:aws:events:eu-west-1:444455556666:event-bus/c")
    with pytest.raises(UserError, match="give --collector-stack"):
        dr.make_plan(aws.client("cloudformation"), STACK)


def test_a_forwarding_stack_is_drilled_through_its_collector(aws, tmp_path) -> None:
    """Resources and calls in the member account; the queue on the collector's topic, in the
    collector's account and Region; the alarms are the collector stack's."""
    deploy_stack(aws, CollectorEventBusArn="arn:aws:events:eu-west-1:444455556666:event-bus/c")
    creds = aws.client("sts").assume_role(RoleArn="arn:aws:iam::444455556666:role/admin",
                                          RoleSessionName="collector")["Credentials"]
    collector = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                              aws_session_token=creds["SessionToken"], region_name="eu-west-1")
    watch = {n: collector.client(n, endpoint_url=aws.endpoint) for n in ("cloudformation", "sqs", "sns", "cloudwatch")}
    topic = watch["sns"].create_topic(Name="deletion-alarms-collector-AlertTopic-1A2B")["TopicArn"]
    watch["cloudformation"].create_stack(StackName="deletion-alarms-collector", TemplateBody=json.dumps({
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"AlertTopicArn": {"Value": topic}}}))
    plan = dr.make_plan(aws.client("cloudformation"), STACK, watch["cloudformation"], "deletion-alarms-collector")
    assert plan.topic_arn == topic
    members = {"kms": aws.client("kms"), "secretsmanager": aws.client("secretsmanager"),
               "sqs": watch["sqs"], "sns": watch["sns"], "cloudwatch": watch["cloudwatch"]}
    holder: list[dr.Drill] = []
    stand_in = AwsStandIn(watch["sns"], collector.client("dynamodb", endpoint_url=aws.endpoint), topic,
                          lambda: holder[0])
    drill = dr.Drill(members, plan, print, sleep=stand_in)
    holder.append(drill)
    record = dr.RunRecord(tmp_path / "drill-runs.json", "collector")
    results = dr.run(members, plan, timeout=30, record=record, say=print, drill=drill)
    assert [r.delivered for r in results] == [True] * 8
    assert not watch["sqs"].list_queues(QueueNamePrefix=dr.NAME_PREFIX).get("QueueUrls")
    assert aws.client("kms").describe_key(KeyId=drill.created["key_id"])["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_the_observer_queue_admits_the_stacks_topic_only() -> None:
    from tests.iam_evaluator import ALLOW, Request, evaluate

    queue = "arn:aws:sqs:us-east-1:111122223333:deletion-alarms-drill-0123"
    topic = "arn:aws:sns:us-east-1:111122223333:deletion-alarms-AlertTopic-1A2B"
    policy = dr.observer_queue_policy(queue, topic)
    assert evaluate(Request("sqs:SendMessage", queue, "sns.amazonaws.com", {"aws:SourceArn": topic}),
                    resource_policy=policy) == ALLOW
    assert evaluate(Request("sqs:SendMessage", queue, "sns.amazonaws.com", {"aws:SourceArn": topic + "x"}),
                    resource_policy=policy) != ALLOW
    assert evaluate(Request("sqs:SendMessage", queue, "events.amazonaws.com", {"aws:SourceArn": topic}),
                    resource_policy=policy) != ALLOW


def test_the_drill_triggers_every_detection_but_the_immediate_losses() -> None:
    """A new detection must be drilled, or be an immediate loss the drill cannot cause safely."""
    assert dr.DRILLED == {d.name for d in DETECTIONS if not d.immediate}
