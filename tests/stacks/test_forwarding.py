"""Organization mode end to end on a moto server on 127.0.0.1: a CloudTrail-shaped event put on a
member account's default bus reaches, through the workload's forwarding rule and role, the
collector's bus in another account and Region, and through the collector's rule its event queue.

Everything is created from the two templates as CloudFormation would resolve them (rule patterns,
targets, the role's policies, the bus policy, the input transformer). moto's CloudFormation skips
some of these resource types, so they are created through the APIs. The collector's queue is the
real target here; its topic and alarms (which moto does not evaluate) are proven by
tests/stacks/test_delivery.py and test_burst.py. moto cannot parse an input template of quoted text
lines (EventBridge's documented form for text), so the queue target is set without its
InputTransformer and the test renders the template's transformer on the event that arrived
(the queue entry is JSON now, which moto renders itself; the notifier's text is made from it). moto
rewrites the event's account and Region to the receiving bus's when it forwards; the entry still
names the source account through the caller's ARN, which the test checks.
"""

from __future__ import annotations

import json
import time

import boto3

from stacks.distribution import COLLECTOR_FILE, render_all
from detections.catalog import by_name
from detections.messages import notification_spec
from functions.notifier import Digest, body
from tests.helpers import ConcreteTemplate, parameter_values

MEMBER, MEMBER_REGION = "123456789012", "us-east-1"  # moto's default account
COLLECTOR, COLLECTOR_REGION = "444455556666", "eu-west-1"
ORG = "o-a1b2c3d4e5"
CALLER = f"arn:aws:sts::{MEMBER}:assumed-role/Developer/alice@example.com"
RECORD = {
    "eventVersion": "1.09", "eventSource": "kms.amazonaws.com", "eventName": "ScheduleKeyDeletion",
    "awsRegion": MEMBER_REGION, "recipientAccountId": MEMBER,
    "userIdentity": {"type": "AssumedRole", "arn": CALLER, "accountId": MEMBER},
    "requestParameters": {"keyId": f"arn:aws:kms:{MEMBER_REGION}:{MEMBER}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                          "pendingWindowInDays": 7},
}


def collector_session(aws) -> boto3.Session:
    """Credentials of the collector account (moto maps an assumed role to its account)."""
    sts = aws.client("sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{COLLECTOR}:role/admin", RoleSessionName="collector")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=COLLECTOR_REGION)


def deploy_collector(aws) -> tuple[str, str, dict]:
    """The collector's bus (with its policy), its event queue and the KmsKeyDisableOrDeletion rule."""
    session = collector_session(aws)
    events = session.client("events", endpoint_url=aws.endpoint)
    sqs = session.client("sqs", endpoint_url=aws.endpoint)
    template = json.loads(render_all()[COLLECTOR_FILE])
    queue_url = sqs.create_queue(QueueName="deletion-alarms-collector-AlertEventQueue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus_arn = f"arn:aws:events:{COLLECTOR_REGION}:{COLLECTOR}:event-bus/deletion-alarms-collector"
    physical = {"CollectorEventBus": {"Ref": "deletion-alarms-collector", "Arn": bus_arn},
                "AlertEventQueue": {"Arn": queue_arn, "Ref": queue_url},
                "AlertDeliveryDeadLetterQueue": {"Arn": queue_arn}}
    stack = ConcreteTemplate(template, {**parameter_values(template, OrganizationId=ORG,
                             NotificationEmail="security-team@example.com"),
                             "AWS::AccountId": COLLECTOR, "AWS::Region": COLLECTOR_REGION}, physical)
    bus = stack.properties("CollectorEventBus")
    assert events.create_event_bus(Name=bus["Name"])["EventBusArn"] == bus_arn
    events.put_permission(EventBusName=bus["Name"], Policy=json.dumps(bus["Policy"]))
    rule = stack.properties("KmsKeyDisableOrDeletionRule")
    events.put_rule(Name="KmsKeyDisableOrDeletionRule", EventBusName=bus["Name"],
                    EventPattern=json.dumps(rule["EventPattern"]), State=rule["State"])
    (target,) = rule["Targets"]
    events.put_targets(Rule="KmsKeyDisableOrDeletionRule", EventBusName=bus["Name"], Targets=[
        {"Id": target["Id"], "Arn": target["Arn"], "InputTransformer": target["InputTransformer"]}])
    return bus_arn, queue_url, target["InputTransformer"]


def deploy_member(aws, bus_arn: str) -> None:
    """The workload in forwarding mode: its role and its KmsKeyDisableOrDeletion rule."""
    workload = json.loads(render_all()["deletion-alarms.json"])
    role_arn = f"arn:aws:iam::{MEMBER}:role/deletion-alarms-CollectorForwardingRole-1A2B"
    physical = {"CollectorForwardingRole": {"Arn": role_arn}, "AlertDeliveryDeadLetterQueue": {
        "Arn": f"arn:aws:sqs:{MEMBER_REGION}:{MEMBER}:deletion-alarms-AlertDeliveryDeadLetterQueue"}}
    stack = ConcreteTemplate(workload, {**parameter_values(workload, CollectorEventBusArn=bus_arn),
                                        "AWS::AccountId": MEMBER, "AWS::Region": MEMBER_REGION}, physical)
    assert "CollectorForwardingRole" in stack.deployed() and "AlertTopic" not in stack.deployed()
    role = stack.properties("CollectorForwardingRole")
    iam = aws.client("iam")
    iam.create_role(RoleName=role_arn.split("/")[-1], AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]))
    for policy in role["Policies"]:
        iam.put_role_policy(RoleName=role_arn.split("/")[-1], PolicyName=policy["PolicyName"],
                            PolicyDocument=json.dumps(policy["PolicyDocument"]))
    rule = stack.properties("KmsKeyDisableOrDeletionRule")
    (target,) = rule["Targets"]
    assert target["Arn"] == bus_arn and target["RoleArn"] == role_arn
    events = aws.client("events", MEMBER_REGION)
    events.put_rule(Name="KmsKeyDisableOrDeletionRule", EventPattern=json.dumps(rule["EventPattern"]),
                    State=rule["State"])
    events.put_targets(Rule="KmsKeyDisableOrDeletionRule", Targets=[
        {"Id": target["Id"], "Arn": target["Arn"], "RoleArn": target["RoleArn"]}])


def test_an_event_in_a_member_account_reaches_the_collectors_queue(aws) -> None:
    bus_arn, queue_url, transformer = deploy_collector(aws)
    deploy_member(aws, bus_arn)
    member_events = aws.client("events", MEMBER_REGION)
    result = member_events.put_events(Entries=[{
        "Source": "aws.kms", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(RECORD)}])
    assert result["FailedEntryCount"] == 0
    sqs = collector_session(aws).client("sqs", endpoint_url=aws.endpoint)
    messages = []
    for _ in range(20):  # delivery is asynchronous in moto too
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            break
        time.sleep(0.1)
    (message,) = messages
    entry = json.loads(message["Body"])  # the collector rule's queue entry, made by moto's EventBridge
    assert entry["detection"] == "KmsKeyDisableOrDeletion" and entry["event"]["detail"] == RECORD
    spec = notification_spec(by_name("KmsKeyDisableOrDeletion"))
    digest = Digest("KmsKeyDisableOrDeletion")
    digest.add([entry["event"]], 1, message["MessageId"], False)
    text = body(spec, digest, digest.details(spec), "listing")
    assert text.startswith("KMS KEY SCHEDULED FOR DELETION IN 7 DAYS\n")
    assert f"Caller: {CALLER}" in text and f"Account: {MEMBER}" in text  # the member account
    assert f"aws kms cancel-key-deletion --region {MEMBER_REGION} --key-id {RECORD['requestParameters']['keyId']}" in text


def test_an_event_of_another_kind_is_not_forwarded(aws) -> None:
    bus_arn, queue_url, _ = deploy_collector(aws)
    deploy_member(aws, bus_arn)
    other = {**RECORD, "eventName": "DescribeKey"}
    aws.client("events", MEMBER_REGION).put_events(Entries=[{
        "Source": "aws.kms", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(other)}])
    time.sleep(0.5)
    sqs = collector_session(aws).client("sqs", endpoint_url=aws.endpoint)
    assert sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []) == []
