"""Delivery-path proof: every call AWS makes to bring an alert to a person is allowed by the policies
the template deploys (topic policy, key policy, queue policy) and by the guardrail SCP, evaluated by
tests/iam_evaluator.py on the request context AWS documents for that call; and nothing else is.

The facts, one per call, each with the AWS page it rests on:
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest
from troposphere import encode_to_dict

from detections.catalog import DETECTIONS
from stacks.encryption import make_publisher_statement, make_publishing_through_sns_statement
from stacks.distribution import CHAT_FILE, COLLECTOR_FILE, render_all
from stacks.guardrails import PROTECTED_TAG_KEY, SCP_NAMES, GuardrailOptions, render_scp
from stacks.notifications import make_alarm_publish_statement
from tests.helpers import SCAN_CONFIGS, ConcreteTemplate, parameter_values, resources_of_type
from tests.iam_evaluator import ALLOW, FULL_AWS_ACCESS, Request, evaluate

ACCOUNT, REGION, STACK = "111122223333", "us-east-1", "deletion-alarms"
OTHER_ACCOUNT = "444455556666"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/SecurityAdmin"
# Organization mode: the collector lives in another account and Region.
ORG, OTHER_ORG = "o-a1b2c3d4e5", "o-zzzzzzzzzz"
COLLECTOR_ACCOUNT, COLLECTOR_REGION, COLLECTOR_STACK = OTHER_ACCOUNT, "eu-west-1", "deletion-alarms-collector"
BUS_NAME = "deletion-alarms-collector"
COLLECTOR_BUS_ARN = f"arn:aws:events:{COLLECTOR_REGION}:{COLLECTOR_ACCOUNT}:event-bus/{BUS_NAME}"
COLLECTOR_PARAMS = {"OrganizationId": ORG, "EventBusName": BUS_NAME, "NotificationEmail": "security-team@example.com"}
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["sqs:*", "kms:*"], "Resource": "*"}]}
SCPS = [FULL_AWS_ACCESS, *(json.loads(render_scp(GuardrailOptions(), name)) for name in SCP_NAMES)]

# FACT 1. A CloudWatch alarm publishes to SNS as the service principal cloudwatch.amazonaws.com, with
# aws:SourceArn = the alarm's ARN and aws:SourceAccount = its account; over TLS.
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html
# https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
# FACT 2. To publish to an encrypted topic, that service principal needs kms:GenerateDataKey* and
# kms:Decrypt on the topic's key, granted in the key policy.
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html (compatibility with AWS services)
# UNCONFIRMED: whether CloudWatch's KMS requests carry aws:SourceAccount/aws:SourceArn (the page says
# EventBridge's do not support them, and is silent on CloudWatch): both contexts must be allowed.
# FACT 3. An EventBridge rule sends to an SQS target as events.amazonaws.com with aws:SourceArn = the
# rule's ARN; the queue policy must allow sqs:SendMessage.
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions
# FACT 4. A rule's dead-letter queue receives failed events the same way (events.amazonaws.com,
# sqs:SendMessage, aws:SourceArn = the rule's ARN).
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
# FACT 5. A queue with SQS-managed encryption (SSE-SQS) is read with SQS permissions alone; a queue
# encrypted with a KMS key also needs kms:Decrypt on that key for the reader.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-server-side-encryption.html
# FACT 6. SCPs restrict the IAM users and roles of member accounts, not AWS service principals.
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html
# FACT 7. AWS/Events MatchedEvents is published per rule with the dimension RuleName (default bus),
# or EventBusName and RuleName (custom bus).
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html
# FACT 8. A rule sends to an event bus of another account (and Region) with an execution role of
# its own account: EventBridge assumes the role as events.amazonaws.com, and the role's PutEvents
# must be allowed by its own policy and by the receiving bus's policy, which can admit an
# organization with aws:PrincipalOrgID.
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html
# FACT 9. An event source mapping reads an SQS queue with the function's execution role: it needs
# sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes on the queue (and kms:Decrypt for
# a queue under a customer managed key; SSE-SQS needs none, FACT 5).
# https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html (execution role permissions)
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-lambda-function-trigger.html
# FACT 10. Lambda assumes the execution role as lambda.amazonaws.com; the function's own calls are
# signed with that role's session, so its identity policy decides them (with the resource's policy,
# if any, in the same account). https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html
# UNCONFIRMED: whether Lambda's AssumeRole carries aws:SourceAccount/aws:SourceArn: the trust is
# evaluated with and without them.
# FACT 11. Publishing to a topic encrypted with a customer managed key needs kms:GenerateDataKey*
# and kms:Decrypt on that key for the publisher; SNS calls KMS for it, so the request carries
# kms:ViaService = sns.<Region>.amazonaws.com and kms:CallerAccount = the publisher's account.
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html (publisher permissions)
# https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html (kms:ViaService, kms:CallerAccount)
# FACT 13. The notifier reads what an alert names with its own role (FACT 10): kms:DescribeKey on the
# key, kms:ListAliases (no resource type), secretsmanager:DescribeSecret on the secret, and for a key
# or secret scheduled for deletion who used it, cloudtrail:LookupEvents (no resource type), and for a
# key the secrets encrypted under it, secretsmanager:ListSecrets (no resource type) (Service
# Authorization Reference, AWS KMS, AWS Secrets Manager and AWS CloudTrail). A key's policy must also let IAM policies
# allow DescribeKey (the default key policy does); one that does not is refused, and the email says so
# (tests/functions/test_alert_outcomes.py).
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html
# FACT 12. A message received maxReceiveCount times moves to the queue's dead-letter queue: SQS moves
# it itself, no principal's request (so no policy to prove), where the dead-letter queue's redrive
# allow policy admits the source queue.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
FACT_CONTEXTS_FOR_KMS = ("with source keys", "without source keys")


def physical(template: dict[str, Any], account: str = ACCOUNT, region: str = REGION, stack: str = STACK,
             bus: str = BUS_NAME) -> dict[str, dict[str, str]]:
    """The names and ARNs CloudFormation would give every resource of ``stack``."""
    out: dict[str, dict[str, str]] = {}
    for logical_id, resource in template["Resources"].items():
        name = f"{stack}-{logical_id}-1A2B3C4D"
        kind = resource["Type"]
        if kind == "AWS::SNS::Topic":
            out[logical_id] = {"Ref": f"arn:aws:sns:{region}:{account}:{name}", "TopicName": name}
        elif kind == "AWS::SQS::Queue":
            out[logical_id] = {"Ref": f"https://sqs.{region}.amazonaws.com/{account}/{name}",
                               "Arn": f"arn:aws:sqs:{region}:{account}:{name}", "QueueName": name}
        elif kind == "AWS::Events::Rule" and "EventBusName" in resource["Properties"]:
            # On a custom bus, Ref gives "bus|rule" (AWS::Events::Rule return values).
            out[logical_id] = {"Ref": f"{bus}|{name}", "Arn": f"arn:aws:events:{region}:{account}:rule/{bus}/{name}"}
        elif kind == "AWS::Events::Rule":
            out[logical_id] = {"Ref": name, "Arn": f"arn:aws:events:{region}:{account}:rule/{name}"}
        elif kind == "AWS::Events::EventBus":
            out[logical_id] = {"Ref": bus, "Name": bus, "Arn": f"arn:aws:events:{region}:{account}:event-bus/{bus}"}
        elif kind == "AWS::KMS::Key":
            key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
            out[logical_id] = {"Ref": key_id, "Arn": f"arn:aws:kms:{region}:{account}:key/{key_id}"}
        elif kind == "AWS::IAM::Role":
            out[logical_id] = {"Ref": name, "Arn": f"arn:aws:iam::{account}:role/{name}"}
        elif kind == "AWS::DynamoDB::Table":
            out[logical_id] = {"Ref": name, "Arn": f"arn:aws:dynamodb:{region}:{account}:table/{name}"}
        elif kind == "AWS::Lambda::Function":
            out[logical_id] = {"Ref": name, "Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"}
        else:
            out[logical_id] = {"Ref": name}
    return out


@dataclass
class Deployment:
    """One configuration of the workload as deployed, with the policies that govern each path."""

    stack: ConcreteTemplate
    deployed: set[str]
    account: str = ACCOUNT
    region: str = REGION

    def of_type(self, kind: str) -> list[str]:
        return sorted(set(resources_of_type(self.stack.template, kind)) & self.deployed)

    def topic_policy(self, topic_arn: str) -> dict:
        for logical_id in self.of_type("AWS::SNS::TopicPolicy"):
            props = self.stack.properties(logical_id)
            if topic_arn in props["Topics"]:
                return props["PolicyDocument"]
        # An existing topic: the statement the parameter's description tells its owner to add.
        return {"Version": "2012-10-17",
                "Statement": [self.stack.value(encode_to_dict(make_alarm_publish_statement(topic_arn)))]}

    def topic_key(self, topic_arn: str) -> tuple[str, dict] | None:
        """The topic's key ARN and key policy; None for an unencrypted or existing topic."""
        for logical_id in self.of_type("AWS::SNS::Topic"):
            if self.stack.physical[logical_id]["Ref"] == topic_arn:
                key_arn = self.stack.properties(logical_id).get("KmsMasterKeyId")
                if key_arn is None:
                    return None
                for key_id in self.of_type("AWS::KMS::Key"):
                    if self.stack.physical[key_id]["Arn"] == key_arn:
                        return key_arn, self.stack.properties(key_id)["KeyPolicy"]
                # ExistingKey: the statements the parameter's description tells its owner to add.
                return key_arn, {"Version": "2012-10-17", "Statement": [
                    self.stack.value(encode_to_dict(make_publisher_statement())),
                    self.stack.value(encode_to_dict(make_publishing_through_sns_statement()))]}
        return None

    def queue_policy(self, queue_arn: str) -> dict | None:
        for logical_id in self.of_type("AWS::SQS::QueuePolicy"):
            props = self.stack.properties(logical_id)
            urls = {self.stack.physical[q]["Arn"]: self.stack.physical[q]["Ref"]
                    for q in self.of_type("AWS::SQS::Queue")}
            if urls.get(queue_arn) in props["Queues"]:
                return props["PolicyDocument"]
        return None


def deploy(template: dict, account: str = ACCOUNT, region: str = REGION, stack_name: str = STACK,
           **params: str) -> Deployment:
    values = parameter_values(template, **params)
    values.update({"AWS::AccountId": account, "AWS::Region": region})
    stack = ConcreteTemplate(template, values, physical(template, account, region, stack_name), stack_name)
    return Deployment(stack, stack.deployed(), account, region)


def deploy_collector(**params: str) -> Deployment:
    collector = json.loads(render_all()[COLLECTOR_FILE])
    return deploy(collector, COLLECTOR_ACCOUNT, COLLECTOR_REGION, COLLECTOR_STACK, **{**COLLECTOR_PARAMS, **params})


def alarm_paths(d: Deployment) -> list[str]:
    """FACTS 1, 2 and 6: every alarm's notification reaches its topic through the topic's key."""
    problems = []
    for alarm_id in d.of_type("AWS::CloudWatch::Alarm"):
        props = d.stack.properties(alarm_id)
        alarm_arn = f"arn:aws:cloudwatch:{d.region}:{d.account}:alarm:{props['AlarmName']}"
        if not props.get("AlarmActions"):
            problems.append(f"{alarm_id}: notifies no one")
        for topic in props.get("AlarmActions", []):
            context = {"aws:SourceArn": alarm_arn, "aws:SourceAccount": d.account, "aws:SecureTransport": "true"}
            publish = Request("sns:Publish", topic, "cloudwatch.amazonaws.com", context)
            if evaluate(publish, resource_policy=d.topic_policy(topic), scps=SCPS) != ALLOW:
                problems.append(f"{alarm_id}: cloudwatch.amazonaws.com may not publish to {topic}")
            key = d.topic_key(topic)
            if key is None:
                continue
            key_arn, key_policy = key
            for label, kms_context in zip(FACT_CONTEXTS_FOR_KMS, ({"aws:SourceArn": alarm_arn,
                                                                   "aws:SourceAccount": d.account}, {})):
                for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                    call = Request(action, key_arn, "cloudwatch.amazonaws.com", kms_context)
                    if evaluate(call, resource_policy=key_policy, key_policy=True, scps=SCPS) != ALLOW:
                        problems.append(f"{alarm_id}: cloudwatch.amazonaws.com may not {action} "
                                        f"on the topic key ({label})")
    return problems


def rule_paths(d: Deployment) -> list[str]:
    """FACTS 3, 4 and 6: every rule delivers to its queue and dead-letter queue, and the notifier's
    event source mapping reads that queue."""
    problems = []
    read = {d.stack.properties(m)["EventSourceArn"] for m in d.of_type("AWS::Lambda::EventSourceMapping")}
    for rule_id in d.of_type("AWS::Events::Rule"):
        rule_arn = d.stack.physical[rule_id]["Arn"]
        for target in d.stack.properties(rule_id)["Targets"]:
            queues = [(target["DeadLetterConfig"]["Arn"], "DLQ")]
            if ":sqs:" in target["Arn"]:
                queues.append((target["Arn"], "target"))
                if target["Arn"] not in read:
                    problems.append(f"{rule_id}: no notifier reads its queue")
            for queue_arn, what in queues:
                call = Request("sqs:SendMessage", queue_arn, "events.amazonaws.com",
                               {"aws:SourceArn": rule_arn, "aws:SourceAccount": d.account})
                if evaluate(call, resource_policy=d.queue_policy(queue_arn), scps=SCPS) != ALLOW:
                    problems.append(f"{rule_id}: events.amazonaws.com may not send to its {what}")
    return problems


def reader_paths(d: Deployment) -> list[str]:
    """FACTS 5 and 6: an administrator of the account reads the queued events and moves dead letters back."""
    problems = []
    for queue_id in d.of_type("AWS::SQS::Queue"):
        queue_arn = d.stack.physical[queue_id]["Arn"]
        props = d.stack.properties(queue_id)
        # Reading is free; deleting entries is the notifier's alone (the protection SCP), and dead
        # letters go back to the event queue with a message move task, for the notifier to send.
        tagged = {f"aws:ResourceTag/{PROTECTED_TAG_KEY}": "true"}
        for action in ("sqs:ReceiveMessage", "sqs:StartMessageMoveTask"):
            call = Request(action, queue_arn, f"arn:aws:iam::{d.account}:role/SecurityAdmin", tagged)
            if evaluate(call, resource_policy=d.queue_policy(queue_arn), identity_policies=[ADMIN_POLICY],
                        scps=SCPS) != ALLOW:
                problems.append(f"{queue_id}: the administrator may not {action}")
        if "KmsMasterKeyId" in props:
            key_arn = props["KmsMasterKeyId"]
            key_policy = next((d.stack.properties(k)["KeyPolicy"] for k in d.of_type("AWS::KMS::Key")
                               if d.stack.physical[k]["Arn"] == key_arn), None)
            call = Request("kms:Decrypt", key_arn, f"arn:aws:iam::{d.account}:role/SecurityAdmin")
            if evaluate(call, resource_policy=key_policy, identity_policies=[ADMIN_POLICY], key_policy=True,
                        scps=SCPS) != ALLOW:
                problems.append(f"{queue_id}: the administrator may not decrypt its messages")
        elif props.get("SqsManagedSseEnabled") is not True:
            problems.append(f"{queue_id}: not encrypted")
    return problems


def _by_physical(d: Deployment, kind: str, attribute: str, value: str) -> str | None:
    return next((r for r in d.of_type(kind) if d.stack.physical[r].get(attribute) == value), None)


def notifier_paths(d: Deployment) -> list[str]:
    """FACTS 5, 9 to 12: the event source mapping reads its queue, and the function claims minutes
    in its table, carries events over, publishes to the topic (SNS using the topic's key for it)
    and writes its logs, all with its execution role; what it cannot send reaches the dead-letter
    queue by the queue's redrive policy, and an alarm watches that queue."""
    problems = []
    for mapping_id in d.of_type("AWS::Lambda::EventSourceMapping"):
        mapping = d.stack.properties(mapping_id)
        function_id = _by_physical(d, "AWS::Lambda::Function", "Ref", mapping["FunctionName"])
        function = d.stack.properties(function_id)
        role_id = _by_physical(d, "AWS::IAM::Role", "Arn", function["Role"])
        role = d.stack.properties(role_id)
        for context in ({"aws:SourceAccount": d.account,
                         "aws:SourceArn": d.stack.physical[function_id]["Arn"]}, {}):
            assume = Request("sts:AssumeRole", function["Role"], "lambda.amazonaws.com", context)
            if evaluate(assume, resource_policy=role["AssumeRolePolicyDocument"]) != ALLOW:
                problems.append(f"{role_id}: Lambda may not assume it ({'with' if context else 'without'} source keys)")
        identity = [policy["PolicyDocument"] for policy in role["Policies"]]
        env = function["Environment"]["Variables"]
        queue_arn = mapping["EventSourceArn"]
        queue_id = _by_physical(d, "AWS::SQS::Queue", "Arn", queue_arn)
        if env["EVENT_QUEUE_URL"] != d.stack.physical[queue_id]["Ref"]:
            problems.append(f"{function_id}: carries events over to another queue than it reads")
        table_id = _by_physical(d, "AWS::DynamoDB::Table", "Ref", env["CLAIM_TABLE"])
        log_group = f"arn:aws:logs:{d.region}:{d.account}:log-group:/aws/lambda/{d.stack.physical[function_id]['Ref']}"
        topic = env["TOPIC_ARN"]
        calls = [(action, queue_arn, d.queue_policy(queue_arn)) for action in (
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
            "sqs:SendMessage")]
        calls += [(action, d.stack.physical[table_id]["Arn"], None) for action in (
            "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")]
        # FACT 13: what an alert names, read in this account, in its Region or another.
        for region in (d.region, "eu-central-1"):
            calls += [("kms:DescribeKey", f"arn:aws:kms:{region}:{d.account}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                       None),
                      ("secretsmanager:DescribeSecret",
                       f"arn:aws:secretsmanager:{region}:{d.account}:secret:prod/db-a1B2c3", None)]
        calls += [("kms:ListAliases", "*", None), ("cloudtrail:LookupEvents", "*", None),
                  ("secretsmanager:ListSecrets", "*", None)]
        # the claims the notifier reads back (an automatic cancel's result)
        calls += [("dynamodb:GetItem", d.stack.physical[table_id]["Arn"], None)]
        if env.get("SECURITY_HUB") == "Enabled":  # SecurityHubFindings: this account's default product
            calls += [("securityhub:BatchImportFindings",
                       f"arn:aws:securityhub:{d.region}:{d.account}:product/{d.account}/default", None)]
        calls += [("sns:Publish", topic, d.topic_policy(topic)), ("logs:CreateLogStream", log_group, None),
                  ("logs:PutLogEvents", f"{log_group}:log-stream:2026/11/30/[$LATEST]0123", None)]
        # Every resource of the product carries the protection tag (test_guardrails checks it), and
        # the role's tags are its sessions' principal tags: the SCP's notifier-data statement sees both.
        tags = {f"aws:PrincipalTag/{t['Key']}": t["Value"] for t in role.get("Tags", [])}
        tags[f"aws:ResourceTag/{PROTECTED_TAG_KEY}"] = "true"
        for action, resource, resource_policy in calls:
            call = Request(action, resource, function["Role"], {"aws:SecureTransport": "true", **tags})
            if evaluate(call, identity_policies=identity, resource_policy=resource_policy, scps=SCPS) != ALLOW:
                problems.append(f"{role_id}: the notifier may not {action} on {resource}")
        key = d.topic_key(topic)
        if key is not None:
            key_arn, key_policy = key
            via_sns = {"kms:ViaService": f"sns.{d.region}.amazonaws.com", "kms:CallerAccount": d.account}
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                call = Request(action, key_arn, function["Role"], via_sns)
                if evaluate(call, identity_policies=identity, resource_policy=key_policy, key_policy=True,
                            scps=SCPS) != ALLOW:
                    problems.append(f"{role_id}: the notifier may not {action} on the topic key through SNS")
        redrive = d.stack.properties(queue_id).get("RedrivePolicy", {})
        dead_letter = _by_physical(d, "AWS::SQS::Queue", "Arn", redrive.get("deadLetterTargetArn", ""))
        if dead_letter is None or not 1 <= redrive.get("maxReceiveCount", 0) <= 10:
            problems.append(f"{queue_id}: no dead-letter queue after at most 10 receives")
            continue
        allow = d.stack.properties(dead_letter).get("RedriveAllowPolicy", {"redrivePermission": "allowAll"})
        if allow["redrivePermission"] == "denyAll" or (
                allow["redrivePermission"] == "byQueue" and queue_arn not in allow.get("sourceQueueArns", [])):
            problems.append(f"{dead_letter}: does not admit {queue_id}'s redrive")
        watched = [a for a in d.of_type("AWS::CloudWatch::Alarm")
                   if {"Name": "QueueName", "Value": d.stack.physical[dead_letter]["QueueName"]}
                   in d.stack.properties(a).get("Dimensions", [])]
        if not watched:
            problems.append(f"{dead_letter}: no alarm watches it")
    return problems


def forwarding_paths(member: Deployment, collector: Deployment) -> list[str]:
    """FACTS 6 and 8: each forwarding rule's role is assumable by EventBridge for this account, may
    put events on the collector's bus, and the bus's policy admits it; nothing else."""
    problems = []
    (bus_id,) = collector.of_type("AWS::Events::EventBus")
    bus_arn = collector.stack.physical[bus_id]["Arn"]
    bus_policy = collector.stack.properties(bus_id)["Policy"]
    for rule_id in member.of_type("AWS::Events::Rule"):
        rule_arn = member.stack.physical[rule_id]["Arn"]
        for target in member.stack.properties(rule_id)["Targets"]:
            if target["Arn"] != bus_arn:
                problems.append(f"{rule_id}: forwards to {target['Arn']}, not the collector's bus")
                continue
            (role_id,) = [r for r in member.of_type("AWS::IAM::Role")
                          if member.stack.physical[r]["Arn"] == target["RoleArn"]]
            role = member.stack.properties(role_id)
            assume = Request("sts:AssumeRole", target["RoleArn"], "events.amazonaws.com",
                             {"aws:SourceArn": rule_arn, "aws:SourceAccount": member.account})
            if evaluate(assume, resource_policy=role["AssumeRolePolicyDocument"]) != ALLOW:
                problems.append(f"{rule_id}: EventBridge may not assume {role_id}")
            # The confused deputy: another account's rule naming this role (IAM guide, cross-service
            # confused deputy prevention: aws:SourceAccount).
            foreign = Request("sts:AssumeRole", target["RoleArn"], "events.amazonaws.com",
                              {"aws:SourceArn": rule_arn.replace(member.account, "444455556666"),
                               "aws:SourceAccount": "444455556666"})
            if evaluate(foreign, resource_policy=role["AssumeRolePolicyDocument"]) == ALLOW:
                problems.append(f"{rule_id}: another account's rule may assume {role_id}")
            identity = [p["PolicyDocument"] for p in role["Policies"]]
            context = {"aws:PrincipalOrgID": ORG, "aws:PrincipalAccount": member.account}
            put = Request("events:PutEvents", bus_arn, target["RoleArn"], context)
            if evaluate(put, identity_policies=identity, resource_policy=bus_policy,
                        resource_account=collector.account, scps=SCPS) != ALLOW:
                problems.append(f"{rule_id}: {role_id} may not put events on the collector's bus")
            elsewhere = Request("events:PutEvents", bus_arn.replace(BUS_NAME, "default"), target["RoleArn"], context)
            if evaluate(elsewhere, identity_policies=identity, resource_account=collector.account) == ALLOW:
                problems.append(f"{rule_id}: {role_id} may put events on another bus")
            stranger = Request("events:PutEvents", bus_arn, "arn:aws:iam::999988887777:role/x",
                               {"aws:PrincipalOrgID": OTHER_ORG, "aws:PrincipalAccount": "999988887777"})
            if evaluate(stranger, identity_policies=[FULL_AWS_ACCESS], resource_policy=bus_policy,
                        resource_account=collector.account) == ALLOW:
                problems.append("an account outside the organization may put events on the bus")
    return problems


def delivery_problems(template: dict, **params: str) -> list[str]:
    d = deploy(template, **params)
    problems = alarm_paths(d) + rule_paths(d) + reader_paths(d) + notifier_paths(d)
    if "CollectorForwardingRole" in d.deployed:  # forwarding: the rest of the way is the collector's
        problems += forwarding_paths(d, deploy_collector())
    return problems


def collector_problems(**params: str) -> list[str]:
    d = deploy_collector(**params)
    return alarm_paths(d) + rule_paths(d) + reader_paths(d) + notifier_paths(d)


@pytest.mark.parametrize("config", sorted(SCAN_CONFIGS))
def test_every_delivery_path_is_allowed(workload, config) -> None:
    assert delivery_problems(workload, **SCAN_CONFIGS[config]) == []


@pytest.mark.parametrize("params", [{}, {"TopicEncryption": "Disabled"}, {
    "HttpsEndpoint": "https://events.example.com/x"}], ids=["defaults", "unencrypted", "https"])
def test_every_delivery_path_of_the_collector_is_allowed(params) -> None:
    d = deploy_collector(**params)
    assert len(d.of_type("AWS::Events::Rule")) == len(DETECTIONS)  # not vacuous
    assert len(d.of_type("AWS::Lambda::EventSourceMapping")) == 1
    assert collector_problems(**params) == []


def test_one_account_forwards_its_regions_to_a_collector_of_its_own(workload) -> None:
    """Without OrganizationId, the bus admits this account only: the forwarding role of another
    Region of the same account may put events on it (its own policy allows it, within the account),
    a role of another account may not, even with full access. The bus policy names the account: that
    delegates to the account's identity policies, it grants no role by itself (IAM guide, AWS
    account principals), so the role's own policy is what the path rests on."""
    collector = deploy_collector(OrganizationId="")
    (bus_id,) = collector.of_type("AWS::Events::EventBus")
    bus_arn, bus_policy = collector.stack.physical[bus_id]["Arn"], collector.stack.properties(bus_id)["Policy"]
    member = deploy(workload, COLLECTOR_ACCOUNT, "us-east-1", CollectorEventBusArn=bus_arn, NotificationEmail="")
    role = member.stack.properties("CollectorForwardingRole")
    role_arn = member.stack.physical["CollectorForwardingRole"]["Arn"]
    identity = [policy["PolicyDocument"] for policy in role["Policies"]]
    put = Request("events:PutEvents", bus_arn, role_arn, {"aws:PrincipalAccount": COLLECTOR_ACCOUNT})
    assert evaluate(put, identity_policies=identity, resource_policy=bus_policy,
                    resource_account=COLLECTOR_ACCOUNT, scps=SCPS) == ALLOW
    assert evaluate(put, identity_policies=[], resource_policy=bus_policy,  # the bus policy alone
                    resource_account=COLLECTOR_ACCOUNT, scps=SCPS) != ALLOW
    stranger = Request("events:PutEvents", bus_arn, f"arn:aws:iam::{ACCOUNT}:role/x",
                       {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalOrgID": ORG})
    assert evaluate(stranger, identity_policies=[FULL_AWS_ACCESS], resource_policy=bus_policy,
                    resource_account=COLLECTOR_ACCOUNT) != ALLOW


def test_the_chat_channel_role_is_assumable_by_aws_chatbot_only() -> None:
    """A Chatbot channel configuration names a role that AWS Chatbot assumes
    (https://docs.aws.amazon.com/chatbot/latest/adminguide/chatbot-iam-policies.html); it holds no
    permission of its own, and the channel's guardrail is AWSDenyAll. The chat template, on the
    collector's topic."""
    chat = json.loads(render_all()[CHAT_FILE])
    d = deploy(chat, COLLECTOR_ACCOUNT, COLLECTOR_REGION, "deletion-alarms-chat", SlackWorkspaceId="T0123ABCD",
               SlackChannelId="C0123ABCDE",
               AlertTopicArn=f"arn:aws:sns:{COLLECTOR_REGION}:{COLLECTOR_ACCOUNT}:deletion-alarms-collector-AlertTopic-1")
    role = d.stack.properties("ChatChannelRole")
    arn = d.stack.physical["ChatChannelRole"]["Arn"]
    trust = role["AssumeRolePolicyDocument"]
    assert evaluate(Request("sts:AssumeRole", arn, "chatbot.amazonaws.com"), resource_policy=trust) == ALLOW
    assert evaluate(Request("sts:AssumeRole", arn, "events.amazonaws.com"), resource_policy=trust) != ALLOW
    assert "Policies" not in role and "ManagedPolicyArns" not in role
    assert d.stack.properties("SlackChannel")["GuardrailPolicies"] == ["arn:aws:iam::aws:policy/AWSDenyAll"]


def test_forwarding_deploys_rules_and_a_role_and_nothing_that_alerts_here(workload) -> None:
    d = deploy(workload, **SCAN_CONFIGS["forwarding-to-a-collector"])
    assert d.of_type("AWS::IAM::Role") == ["CollectorForwardingRole"]  # no notifier here
    for kind in ("AWS::SNS::Topic", "AWS::SNS::Subscription", "AWS::KMS::Key", "AWS::CloudWatch::Alarm",
                 "AWS::Lambda::Function", "AWS::DynamoDB::Table"):
        assert d.of_type(kind) == [], kind
    assert d.of_type("AWS::SQS::Queue") == ["AlertDeliveryDeadLetterQueue"]  # what could not be forwarded
    assert len(d.of_type("AWS::Events::Rule")) == len(DETECTIONS)


def test_the_proof_covers_every_path_of_the_defaults(workload) -> None:
    """Not vacuous: the defaults deploy rules, their alarms, both queues, a topic key."""
    d = deploy(workload, **SCAN_CONFIGS["defaults"])
    assert len(d.of_type("AWS::Events::Rule")) == len(DETECTIONS) + 1  # and the daily reminder's
    assert len(d.of_type("AWS::SQS::Queue")) == 2 and d.of_type("AWS::KMS::Key") == ["AlertTopicKey"]
    assert len(d.of_type("AWS::CloudWatch::Alarm")) == 4
    assert d.of_type("AWS::Lambda::EventSourceMapping") == ["NotifierEventSourceMapping"]


# ------------------------------------------------------------------------- and nothing else
def _deny_cases(d: Deployment) -> list[tuple[str, Request, dict, bool]]:
    topic = d.stack.physical["AlertTopic"]["Ref"]
    key_arn, key_policy = d.topic_key(topic)
    queue = d.stack.physical["AlertEventQueue"]["Arn"]
    foreign_alarm = f"arn:aws:cloudwatch:{REGION}:{OTHER_ACCOUNT}:alarm:x"
    other_rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-elses-rule"
    topic_policy, queue_policy = d.topic_policy(topic), d.queue_policy(queue)
    return [
        ("events may not publish to the topic (it has no need)",
         Request("sns:Publish", topic, "events.amazonaws.com", {"aws:SourceAccount": ACCOUNT,
                 "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r", "aws:SecureTransport": "true"}),
         topic_policy, False),
        ("another account's alarm may not publish",
         Request("sns:Publish", topic, "cloudwatch.amazonaws.com", {"aws:SourceAccount": OTHER_ACCOUNT,
                 "aws:SourceArn": foreign_alarm, "aws:SecureTransport": "true"}), topic_policy, False),
        ("no publishing without TLS",
         Request("sns:Publish", topic, "cloudwatch.amazonaws.com", {"aws:SourceAccount": ACCOUNT,
                 "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a", "aws:SecureTransport": "false"}),
         topic_policy, False),
        ("another account's role may not publish",
         Request("sns:Publish", topic, f"arn:aws:iam::{OTHER_ACCOUNT}:role/X", {"aws:SecureTransport": "true"}),
         topic_policy, False),
        ("events may not use the topic key", Request("kms:Decrypt", key_arn, "events.amazonaws.com"), key_policy, True),
        ("cloudwatch may not encrypt arbitrary data", Request("kms:Encrypt", key_arn, "cloudwatch.amazonaws.com"),
         key_policy, True),
        ("an administrator may not decrypt with the topic key",
         Request("kms:Decrypt", key_arn, ADMIN), key_policy, True),
        ("another stack's rule may not send to the queue",
         Request("sqs:SendMessage", queue, "events.amazonaws.com", {"aws:SourceArn": other_rule}), queue_policy, False),
        ("sns may not send to the queue",
         Request("sqs:SendMessage", queue, "sns.amazonaws.com", {"aws:SourceArn": topic}), queue_policy, False),
    ]


def test_nothing_else_is_allowed(workload) -> None:
    d = deploy(workload, **SCAN_CONFIGS["defaults"])
    allowed = [what for what, call, policy, is_key in _deny_cases(d)
               if evaluate(call, resource_policy=policy, key_policy=is_key,
                           identity_policies=[ADMIN_POLICY] if not call.is_service and call.account == ACCOUNT else [],
                           resource_account=ACCOUNT) == ALLOW]
    assert allowed == []


def test_the_notifier_reads_no_value_and_nothing_of_another_account(workload) -> None:
    """FACT 13 from the other side: what an alert reads is names and dates, never a secret's value or
    a decryption, and only in this account."""
    d = deploy(workload, **SCAN_CONFIGS["defaults"])
    role = d.stack.properties("NotifierRole")
    identity = [policy["PolicyDocument"] for policy in role["Policies"]]
    role_arn = d.stack.physical["NotifierRole"]["Arn"]
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-a1B2c3"
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    refused = [("secretsmanager:GetSecretValue", secret), ("secretsmanager:RestoreSecret", secret),
               ("kms:Decrypt", key), ("kms:CancelKeyDeletion", key),
               ("kms:DescribeKey", key.replace(ACCOUNT, OTHER_ACCOUNT)),
               ("secretsmanager:DescribeSecret", secret.replace(ACCOUNT, OTHER_ACCOUNT))]
    allowed = [(action, resource) for action, resource in refused
               if evaluate(Request(action, resource, role_arn), identity_policies=identity, scps=SCPS) == ALLOW]
    assert allowed == []


def test_the_notifier_uses_the_topic_key_only_through_sns(workload) -> None:
    """FACT 11 from the other side: the role's grant on the key holds through SNS only, so the
    function's credentials cannot decrypt or encrypt anything else with it."""
    d = deploy(workload, **SCAN_CONFIGS["defaults"])
    key_arn, key_policy = d.topic_key(d.stack.physical["AlertTopic"]["Ref"])
    role = d.stack.properties("NotifierRole")
    identity = [policy["PolicyDocument"] for policy in role["Policies"]]
    role_arn = d.stack.physical["NotifierRole"]["Arn"]

    def may(action: str, context: dict) -> bool:
        return evaluate(Request(action, key_arn, role_arn, context), identity_policies=identity,
                        resource_policy=key_policy, key_policy=True, scps=SCPS) == ALLOW

    assert may("kms:Decrypt", {"kms:ViaService": f"sns.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT})
    assert not may("kms:Decrypt", {"kms:CallerAccount": ACCOUNT})  # directly
    assert not may("kms:Decrypt", {"kms:ViaService": f"sqs.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT})
    assert not may("kms:Encrypt", {"kms:ViaService": f"sns.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT})


# ------------------------------------------------------------------- the proof can fail
def _mutated(workload: dict, change) -> dict:
    template = copy.deepcopy(workload)
    change(template["Resources"])
    return template


def _source_account_on_the_key_grant(resources: dict) -> None:
    statement = next(s for s in resources["AlertTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
                     if s["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]})
    statement["Condition"] = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def _drop_a_rule_from_the_queue_policy(resources: dict) -> None:
    deliver = resources["AlertEventQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    deliver["Condition"]["ArnEquals"]["aws:SourceArn"].pop(0)


def _dead_letter_queue_under_the_topic_key(resources: dict) -> None:
    props = resources["AlertDeliveryDeadLetterQueue"]["Properties"]
    del props["SqsManagedSseEnabled"]
    props["KmsMasterKeyId"] = {"Fn::GetAtt": ["AlertTopicKey", "Arn"]}


def _alarm_arns_of_another_region(resources: dict) -> None:
    statement = resources["AlertTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    statement["Condition"]["ArnLike"]["aws:SourceArn"] = {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:eu-west-1:${AWS::AccountId}:alarm:*"}


def _forwarding_role_trusts_anyone(resources: dict) -> None:
    resources["CollectorForwardingRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = {
        "Service": "sns.amazonaws.com"}


def _forwarding_role_trusts_any_account(resources: dict) -> None:
    resources["CollectorForwardingRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0].pop("Condition")


def _forwarding_role_may_put_nowhere(resources: dict) -> None:
    policy = resources["CollectorForwardingRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"][0]["Resource"] = ["arn:aws:events:*:*:event-bus/default"]


def _notifier_statement(resources: dict, sid: str) -> dict:
    policy = resources["NotifierRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    return next(s for s in policy["Statement"] if s["Sid"] == sid)


def _mapping_cannot_receive(resources: dict) -> None:
    _notifier_statement(resources, "ReadTheEventQueue")["Action"].remove("sqs:ReceiveMessage")


def _notifier_publishes_elsewhere(resources: dict) -> None:
    _notifier_statement(resources, "PublishToTheTopic")["Resource"] = [
        {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:another-topic"}]


def _key_delegated_through_another_service(resources: dict) -> None:
    statement = next(s for s in resources["AlertTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
                     if s["Sid"] == "AllowThisAccountsPublishersThroughSns")
    statement["Condition"]["StringEquals"]["kms:ViaService"] = {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}


def _claims_without_delete(resources: dict) -> None:
    _notifier_statement(resources, "ClaimAMinute")["Action"] = ["dynamodb:PutItem"]


def _notifier_role_without_its_key_statement(resources: dict) -> None:
    """Caught only since the evaluator treats the key policy's account statement as the delegation
    it is (#33): before, the key policy alone 'granted' the role."""
    policy = resources["NotifierRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "EncryptForTheTopic"]


def _notifier_reads_nothing(resources: dict) -> None:
    policy = resources["NotifierRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "ReadWhatAnAlertNames"]


def _notifier_lists_no_secrets(resources: dict) -> None:
    statement = _notifier_statement(resources, "ListKeyAliases")
    statement["Action"] = [a for a in statement["Action"] if a != "secretsmanager:ListSecrets"]


# The daily reminder's policy grants ListSecrets too: without reminders, the alert's own statement is
# what lets the notifier name the secrets encrypted under a key.
_notifier_lists_no_secrets.params = {"ReminderDays": "none"}  # type: ignore[attr-defined]


def _notifier_reads_no_history(resources: dict) -> None:
    statement = _notifier_statement(resources, "ListKeyAliases")
    statement["Action"] = [a for a in statement["Action"] if a != "cloudtrail:LookupEvents"]


# The daily reminder's policy grants LookupEvents too: without reminders, the alert's own statement is
# what lets the notifier say who used a key.
_notifier_reads_no_history.params = {"ReminderDays": "none"}  # type: ignore[attr-defined]


def _role_trusts_another_service(resources: dict) -> None:
    resources["NotifierRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = {
        "Service": "events.amazonaws.com"}


def _notifier_role_without_the_tag(resources: dict) -> None:
    del resources["NotifierRole"]["Properties"]["Tags"]


def _event_queue_without_redrive(resources: dict) -> None:
    del resources["AlertEventQueue"]["Properties"]["RedrivePolicy"]


def _dead_letter_queue_refuses_redrive(resources: dict) -> None:
    resources["AlertDeliveryDeadLetterQueue"]["Properties"]["RedriveAllowPolicy"] = {"redrivePermission": "denyAll"}


@pytest.mark.parametrize(("mutation", "expected"), [
    (_mapping_cannot_receive, "NotifierRole: the notifier may not sqs:ReceiveMessage"),
    (_notifier_publishes_elsewhere, "NotifierRole: the notifier may not sns:Publish"),
    (_key_delegated_through_another_service, "the notifier may not kms:GenerateDataKey on the topic key through SNS"),
    (_claims_without_delete, "the notifier may not dynamodb:DeleteItem"),
    (_notifier_reads_nothing, "the notifier may not kms:DescribeKey"),
    (_notifier_reads_no_history, "the notifier may not cloudtrail:LookupEvents"),
    (_notifier_lists_no_secrets, "the notifier may not secretsmanager:ListSecrets"),
    (_notifier_role_without_its_key_statement, "the notifier may not kms:GenerateDataKey on the topic key through SNS"),
    (_role_trusts_another_service, "NotifierRole: Lambda may not assume it (without source keys)"),
    (_event_queue_without_redrive, "AlertEventQueue: no dead-letter queue"),
    (_notifier_role_without_the_tag, "NotifierRole: the notifier may not sqs:DeleteMessage"),
    (_dead_letter_queue_refuses_redrive, "AlertDeliveryDeadLetterQueue: does not admit AlertEventQueue's redrive"),
    (_forwarding_role_trusts_anyone, "EventBridge may not assume CollectorForwardingRole"),
    (_forwarding_role_may_put_nowhere, "may not put events on the collector's bus"),
    (_forwarding_role_trusts_any_account, "another account's rule may assume CollectorForwardingRole"),
    (_source_account_on_the_key_grant, "may not kms:GenerateDataKey on the topic key (without source keys)"),
    (_drop_a_rule_from_the_queue_policy, "KmsKeyPendingDeletionUseRule: events.amazonaws.com may not send to its target"),
    (_dead_letter_queue_under_the_topic_key, "AlertDeliveryDeadLetterQueue: the administrator may not decrypt"),
    (_alarm_arns_of_another_region, "cloudwatch.amazonaws.com may not publish"),
])
def test_each_mutation_breaks_the_proof(workload, mutation, expected) -> None:
    config = "forwarding-to-a-collector" if "orwarding" in mutation.__name__ else "defaults"
    problems = delivery_problems(_mutated(workload, mutation), **{**SCAN_CONFIGS[config],
                                                                  **getattr(mutation, "params", {})})
    assert any(expected in p for p in problems), problems
