"""doctor, end to end against a moto server on 127.0.0.1 (CloudTrail, CloudWatch Logs,
CloudFormation, SNS); botocore's Stubber for an unconfirmed email subscription, which moto does
not model (it confirms at once)."""

from __future__ import annotations

import json
import time

import pytest

from detections.catalog import metric_alarm_detections
from deletion_alarms import cli

ACCOUNT = "123456789012"  # moto's account
GROUP = "aws-controltower/CloudTrailLogs-AbC123"  # Control Tower 4.0 adds a random suffix


def run(aws, capsys, *args, region="us-east-1") -> tuple[int, str]:
    code = cli.main(aws.cli("doctor", *args, region=region))
    out, err = capsys.readouterr()
    return code, out + err


def make_trail(aws, *, multi_region=True, logs_group: str | None = GROUP, logging=True, selectors=None,
               advanced=None, home="us-east-1"):
    aws.client("s3", home).create_bucket(Bucket="trail-bucket") if home == "us-east-1" else \
        aws.client("s3", home).create_bucket(Bucket="trail-bucket", CreateBucketConfiguration={"LocationConstraint": home})
    ct = aws.client("cloudtrail", home)
    extra = {}
    if logs_group:
        extra = {"CloudWatchLogsLogGroupArn": f"arn:aws:logs:{home}:{ACCOUNT}:log-group:{logs_group}:*",
                 "CloudWatchLogsRoleArn": f"arn:aws:iam::{ACCOUNT}:role/CloudTrailToLogs"}
    ct.create_trail(Name="org-trail", S3BucketName="trail-bucket", IsMultiRegionTrail=multi_region, **extra)
    if logging:
        ct.start_logging(Name="org-trail")
    if selectors is not None:
        ct.put_event_selectors(TrailName="org-trail", EventSelectors=selectors)
    if advanced is not None:
        ct.put_event_selectors(TrailName="org-trail", AdvancedEventSelectors=advanced)
    return ct


def make_group(aws, name=GROUP, records=True, filters=0, region="us-east-1"):
    logs = aws.client("logs", region)
    logs.create_log_group(logGroupName=name)
    if records:
        logs.create_log_stream(logGroupName=name, logStreamName="111122223333_CloudTrail_us-east-1")
        logs.put_log_events(logGroupName=name, logStreamName="111122223333_CloudTrail_us-east-1",
                            logEvents=[{"timestamp": int(time.time() * 1000), "message": '{"eventName":"Decrypt"}'}])
    for i in range(filters):
        logs.put_metric_filter(logGroupName=name, filterName=f"other-{i}", filterPattern='{ $.x = "y" }',
                               metricTransformations=[{"metricName": f"m{i}", "metricNamespace": "n", "metricValue": "1"}])


def test_no_trail(aws, capsys) -> None:
    code, out = run(aws, capsys)
    assert code == 1 and "[PROBLEM] logging trail: no trail is logging in us-east-1" in out
    assert "aws cloudtrail create-trail" in out


def test_trail_that_is_not_logging(aws, capsys) -> None:
    make_trail(aws, logging=False)
    code, out = run(aws, capsys)
    assert code == 1 and "no trail is logging" in out


def test_healthy_account_for_eventbridge(aws, capsys) -> None:
    make_trail(aws, selectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}])
    code, out = run(aws, capsys, region="eu-west-1")  # a multi-Region trail covers every Region
    assert code == 0, out
    assert "[OK     ] logging trail: org-trail logging in eu-west-1" in out
    assert "KMS and Secrets Manager management events, read and write, are logged" in out


@pytest.mark.parametrize(("selectors", "advanced", "problem"), [
    ([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}], None, "Read management events"),
    ([{"ReadWriteType": "All", "IncludeManagementEvents": False}], None, "Read management events"),
    ([{"ReadWriteType": "All", "IncludeManagementEvents": True, "ExcludeManagementEventSources": ["kms.amazonaws.com"]}],
     None, "excludes KMS management events"),
    (None, [{"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                                       {"Field": "readOnly", "Equals": ["false"]}]}],
     "Read management events"),
    (None, [{"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                                       {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}]}],
     "excludes KMS management events"),
])
def test_event_selectors_that_hide_the_records(aws, capsys, selectors, advanced, problem) -> None:
    make_trail(aws, selectors=selectors, advanced=advanced)
    code, out = run(aws, capsys)
    assert code == 1 and problem in out and "fix:" in out


def test_metric_filter_engine_healthy(aws, capsys) -> None:
    make_trail(aws)
    make_group(aws, filters=3)
    code, out = run(aws, capsys, "--engine", "CloudWatchLogs", "--log-group", GROUP)
    assert code == 0, out
    assert f"[OK     ] log group: {GROUP} receives trail org-trail" in out
    assert f"3 of 100 used, room for 97 (this stack adds up to {len(metric_alarm_detections())})" in out


def test_log_group_renamed_by_control_tower(aws, capsys) -> None:
    make_trail(aws)
    make_group(aws)
    code, out = run(aws, capsys, "--engine", "Both", "--log-group", "aws-controltower/CloudTrailLogs")
    assert code == 1
    assert f"use CloudTrailLogGroupName={GROUP}" in out


def test_log_group_in_the_trails_home_region_only(aws, capsys) -> None:
    make_trail(aws)
    make_group(aws)
    code, out = run(aws, capsys, "--engine", "CloudWatchLogs", region="eu-west-1")
    assert code == 1 and "delivers to" in out and "deploy the metric-filter engine in us-east-1" in out


def test_trail_without_cloudwatch_logs(aws, capsys) -> None:
    make_trail(aws, logs_group=None)
    code, out = run(aws, capsys, "--engine", "CloudWatchLogs")
    assert code == 1 and "no logging trail delivers to CloudWatch Logs" in out


def test_log_group_without_records_warns(aws, capsys) -> None:
    make_trail(aws)
    make_group(aws, records=False)
    code, out = run(aws, capsys, "--engine", "CloudWatchLogs")
    assert code == 0 and "[WARNING] records arriving" in out


def test_metric_filter_quota(aws, capsys) -> None:
    make_trail(aws)
    make_group(aws, filters=97)
    code, out = run(aws, capsys, "--engine", "CloudWatchLogs")
    assert code == 1 and f"has 97 of 100 metric filters; this stack adds up to {len(metric_alarm_detections())}" in out


def deploy_stack_with_subscription(aws) -> str:
    sns = aws.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="deletion-alarms", TemplateBody=(
        '{"Resources": {"T": {"Type": "AWS::SNS::Topic"}},'
        f' "Outputs": {{"AlertTopicArn": {{"Value": "{topic}"}}}}}}'))
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="security-team@example.com")
    return topic


def test_subscription_on_a_deployed_stack(aws, capsys) -> None:
    make_trail(aws)
    topic = deploy_stack_with_subscription(aws)
    code, out = run(aws, capsys, "--stack-name", "deletion-alarms")
    # moto confirms email subscriptions at once; the unconfirmed case is below, with a Stubber
    assert code == 0 and f"1 confirmed subscriber (email 1) on {topic}" in out


def stubbed_clients():
    """CloudFormation and SNS clients for botocore's Stubber (no server, no credentials)."""
    import boto3

    kwargs = {"region_name": "us-east-1", "aws_access_key_id": "t", "aws_secret_access_key": "t"}
    return boto3.client("cloudformation", **kwargs), boto3.client("sns", **kwargs)


def test_unconfirmed_subscription_is_a_problem() -> None:
    from botocore.stub import Stubber

    from deletion_alarms.doctor import check_subscriptions

    cfn, sns = stubbed_clients()
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:deletion-alarms-AlertTopic-1"
    with Stubber(cfn) as c, Stubber(sns) as s:
        c.add_response("describe_stacks", {"Stacks": [{
            "StackName": "deletion-alarms", "CreationTime": "2026-11-28T00:00:00Z", "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": "AlertTopicArn", "OutputValue": topic}]}]})
        s.add_response("list_subscriptions_by_topic", {"Subscriptions": [{
            "SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "security-team@example.com",
            "TopicArn": topic, "Owner": ACCOUNT}]})
        (finding,) = check_subscriptions(cfn, sns, "deletion-alarms")
    assert finding.level == "problem" and "not confirmed: security-team@example.com" in finding.detail


@pytest.mark.parametrize(("subscriptions", "level", "detail"), [
    ([], "warning", "has no subscriber"),
    # A chat channel of the chat template subscribes to the topic itself: one more way to the team.
    ([("email", "security-team@example.com"), ("https", "https://chat.example.com/sns")], "ok",
     "2 confirmed subscribers (email 1, https 1)"),
    ([("https", "https://chat.example.com/sns")], "ok", "1 confirmed subscriber (https 1)"),
])
def test_every_confirmed_subscriber_counts_as_a_way_to_the_team(subscriptions, level, detail) -> None:
    from botocore.stub import Stubber

    from deletion_alarms.doctor import check_subscriptions

    cfn, sns = stubbed_clients()
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:deletion-alarms-collector-AlertTopic-1"
    with Stubber(cfn) as c, Stubber(sns) as s:
        c.add_response("describe_stacks", {"Stacks": [{
            "StackName": "deletion-alarms-collector", "CreationTime": "2026-11-28T00:00:00Z",
            "StackStatus": "CREATE_COMPLETE", "Outputs": [{"OutputKey": "AlertTopicArn", "OutputValue": topic}]}]})
        s.add_response("list_subscriptions_by_topic", {"Subscriptions": [
            {"SubscriptionArn": f"{topic}:{i}", "Protocol": protocol, "Endpoint": endpoint, "TopicArn": topic,
             "Owner": ACCOUNT} for i, (protocol, endpoint) in enumerate(subscriptions)]})
        (finding,) = check_subscriptions(cfn, sns, "deletion-alarms-collector")
    assert finding.level == level and detail in finding.detail


def test_the_permissions_it_needs_are_the_calls_it_makes(aws, capsys, monkeypatch) -> None:
    """Every AWS call of a full run (metric-filter engine, a deployed stack), as IAM actions, equals
    doctor.PERMISSIONS, and the README lists exactly those."""
    import re
    from pathlib import Path

    from deletion_alarms.doctor import PERMISSIONS
    from tests.helpers import record_aws_calls

    make_trail(aws)
    make_group(aws)
    deploy_stack_with_subscription(aws)
    deploy_collector(aws)
    called = record_aws_calls(monkeypatch)
    run(aws, capsys, "--engine", "Both", "--log-group", GROUP, "--stack-name", "deletion-alarms")
    run(aws, capsys, "--collector-stack", "deletion-alarms-collector")
    assert called == set(PERMISSIONS)
    readme = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    paragraph = readme[readme.index("It needs these read-only"):readme.index("## What is at risk now")]
    assert set(re.findall(r"`([a-z]+:[A-Za-z]+)`", paragraph)) == set(PERMISSIONS)


ORG = "o-a1b2c3d4e5"


def deploy_collector(aws, policy: bool = True) -> str:
    """A stand-in collector stack: its topic (subscribed) and EventBusArn output, and the bus."""
    events = aws.client("events")
    bus_arn = events.create_event_bus(Name="deletion-alarms-collector")["EventBusArn"]
    if policy:
        events.put_permission(EventBusName="deletion-alarms-collector", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "AllowTheOrganizationToPutEvents", "Effect": "Allow", "Principal": "*",
                "Action": ["events:PutEvents"], "Resource": [bus_arn],
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}}}]}))
    sns = aws.client("sns")
    topic = sns.create_topic(Name="collector-alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="security-team@example.com")
    aws.client("cloudformation").create_stack(StackName="deletion-alarms-collector", TemplateBody=json.dumps({
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"AlertTopicArn": {"Value": topic}, "EventBusArn": {"Value": bus_arn}}}))
    return bus_arn


def test_collector_bus_and_delivery(aws, capsys) -> None:
    bus_arn = deploy_collector(aws)
    code, out = run(aws, capsys, "--collector-stack", "deletion-alarms-collector")
    assert code == 0, out
    assert f"{bus_arn} admits PutEvents from organization {ORG}" in out
    assert "1 confirmed subscriber" in out


def test_collector_bus_without_its_policy_is_a_problem(aws, capsys) -> None:
    deploy_collector(aws, policy=False)
    code, out = run(aws, capsys, "--collector-stack", "deletion-alarms-collector")
    assert code == 1 and "admits no PutEvents from the organization" in out


def test_a_forwarding_workload_says_where_its_events_go(aws, capsys) -> None:
    make_trail(aws)
    bus = "arn:aws:events:eu-west-1:444455556666:event-bus/deletion-alarms-collector"
    aws.client("cloudformation").create_stack(StackName="deletion-alarms", TemplateBody=json.dumps({
        "Parameters": {"CollectorEventBusArn": {"Type": "String"}},
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}}}),
        Parameters=[{"ParameterKey": "CollectorEventBusArn", "ParameterValue": bus}])
    code, out = run(aws, capsys, "--stack-name", "deletion-alarms")
    assert code == 0 and f"events go to the collector bus {bus}" in out


def test_a_topic_of_another_region_is_a_problem(aws, capsys) -> None:
    make_trail(aws)
    topic = aws.client("sns", "eu-west-1").create_topic(Name="security-alerts")["TopicArn"]
    aws.client("cloudformation").create_stack(StackName="deletion-alarms", TemplateBody=json.dumps({
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"AlertTopicArn": {"Value": topic}}}))
    code, out = run(aws, capsys, "--stack-name", "deletion-alarms")
    assert code == 1 and "is in eu-west-1, the stack in us-east-1" in out


def test_a_stack_in_another_region_is_named_with_the_region_looked_in(aws, capsys) -> None:
    """CloudFormation answers a stack of another Region with ValidationError "does not exist": the
    line says where the doctor looked, and what to give."""
    code = cli.main(aws.cli("doctor", "--stack-name", "deletion-alarms", region="eu-west-1"))
    err = capsys.readouterr().err
    assert code == cli.EXIT_FAILED and len(err.strip().splitlines()) == 1
    assert "no stack deletion-alarms in eu-west-1: give the Region it is in (--region)" in err



MANAGEMENT = {"Field": "eventCategory", "Equals": ["Management"]}


@pytest.mark.parametrize(("fields", "missing"), [
    ([MANAGEMENT], []),
    ([MANAGEMENT, {"Field": "readOnly", "Equals": ["true"]}], ["kms write", "secretsmanager write"]),
    ([MANAGEMENT, {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}], ["kms read", "kms write"]),
    ([MANAGEMENT, {"Field": "eventSource", "NotStartsWith": ["kms."]}], ["kms read", "kms write"]),
    ([MANAGEMENT, {"Field": "eventSource", "StartsWith": ["kms."]}], ["secretsmanager read", "secretsmanager write"]),
    ([MANAGEMENT, {"Field": "eventSource", "EndsWith": [".amazonaws.com"]}], []),
    ([MANAGEMENT, {"Field": "eventSource", "NotEndsWith": ["manager.amazonaws.com"]}],
     ["secretsmanager read", "secretsmanager write"]),
    ([MANAGEMENT, {"Field": "eventName", "NotEquals": ["Decrypt"]}], ["kms read"]),
    ([MANAGEMENT, {"Field": "eventName", "Equals": ["ScheduleKeyDeletion", "DeleteSecret"]}],
     ["kms read", "secretsmanager read"]),
    ([{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}],
     ["kms read", "kms write", "secretsmanager read", "secretsmanager write"]),
])
def test_every_operator_of_an_advanced_selector_is_read_as_cloudtrail_does(fields, missing) -> None:
    """Equals, StartsWith and EndsWith include; NotEquals, NotStartsWith and NotEndsWith exclude; the
    fields of one selector all hold (CloudTrail API reference, AdvancedFieldSelector)."""
    from deletion_alarms.doctor import NEEDED_EVENTS, logged

    selectors = {"AdvancedEventSelectors": [{"Name": "s", "FieldSelectors": fields}]}
    assert [name for name, event in NEEDED_EVENTS.items() if not logged(selectors, event)] == missing


def test_selectors_add_up_across_a_trails_selectors_and_trails() -> None:
    from deletion_alarms.doctor import NEEDED_EVENTS, logged

    reads = {"Name": "r", "FieldSelectors": [MANAGEMENT, {"Field": "readOnly", "Equals": ["true"]}]}
    writes = {"Name": "w", "FieldSelectors": [MANAGEMENT, {"Field": "readOnly", "Equals": ["false"]}]}
    both = {"AdvancedEventSelectors": [reads, writes]}
    assert all(logged(both, event) for event in NEEDED_EVENTS.values())
    assert logged({}, NEEDED_EVENTS["kms read"])  # no selector: every management event
