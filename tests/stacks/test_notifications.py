"""The alert topic, its email subscription, its topic policy, and the existing-topic option."""

from __future__ import annotations

import pytest

from tests.helpers import ALERT_TOPIC, ConditionEvaluator, has_properties, parameter_values, resources_of_type


def test_email_subscription_to_the_topic(workload) -> None:
    subs = resources_of_type(workload, "AWS::SNS::Subscription")
    assert len(subs) == 1
    (sub,) = subs.values()
    assert sub["Condition"] == "SubscribeEmail"
    assert has_properties(sub, {"Protocol": "email", "Endpoint": {"Ref": "NotificationEmail"},
                                "TopicArn": {"Ref": "AlertTopic"}})


def test_topic_has_no_fixed_name_and_is_encrypted(workload) -> None:
    # A fixed name would collide between two stacks, or one StackSet in several Regions.
    topic = workload["Resources"]["AlertTopic"]
    assert "TopicName" not in topic["Properties"]
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::If": [
        "CreateTopicKey", {"Fn::GetAtt": ["AlertTopicKey", "Arn"]},
        {"Fn::If": ["UseExistingTopicKey", {"Ref": "TopicKmsKeyArn"}, {"Ref": "AWS::NoValue"}]}]}


def policy_document(workload) -> dict:
    (policy,) = resources_of_type(workload, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": "AlertTopic"}]
    return policy["Properties"]["PolicyDocument"]


def test_topic_policy_lets_only_this_accounts_alarms_publish(workload) -> None:
    """EventBridge does not publish (rules raise alarms), so only cloudwatch.amazonaws.com is named;
    tests/stacks/test_delivery.py evaluates the policy on the calls AWS makes."""
    allows = [s for s in policy_document(workload)["Statement"] if s["Effect"] == "Allow"]
    assert [s["Principal"]["Service"] for s in allows] == ["cloudwatch.amazonaws.com"]
    (statement,) = allows
    assert statement["Action"] == ["sns:Publish"] and statement["Resource"] == [{"Ref": "AlertTopic"}]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"}}


def test_topic_policy_denies_publishing_without_tls(workload) -> None:
    denies = [s for s in policy_document(workload)["Statement"] if s["Effect"] == "Deny"]
    assert denies == [{
        "Sid": "DenyPublishWithoutTls", "Effect": "Deny", "Principal": "*",
        "Action": ["sns:Publish"], "Resource": [{"Ref": "AlertTopic"}],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]


@pytest.mark.parametrize(("overrides", "created"), [
    ({"NotificationEmail": "a@example.com"},
     {"AlertTopic", "AlertTopicPolicy", "AlertEmailSubscription", "AlertTopicKey", "AlertTopicKeyAlias"}),
    ({"NotificationEmail": "a@example.com", "TopicEncryption": "ExistingKey",
      "TopicKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
     {"AlertTopic", "AlertTopicPolicy", "AlertEmailSubscription"}),
    ({"NotificationEmail": "a@example.com", "TopicEncryption": "Disabled"},
     {"AlertTopic", "AlertTopicPolicy", "AlertEmailSubscription"}),
    ({"ExistingTopicArn": "arn:aws:sns:us-east-1:111122223333:security-alerts"}, set()),
    ({"ExistingTopicArn": "arn:aws:sns:us-east-1:111122223333:security-alerts",
      "NotificationEmail": "a@example.com"}, set()),
])
def test_topic_resources_per_choice(workload, overrides, created) -> None:
    params = parameter_values(workload, **overrides)
    evaluator = ConditionEvaluator(workload, params)
    assert evaluator.failed_rules() == []
    topic_resources = {"AlertTopic", "AlertTopicPolicy", "AlertEmailSubscription", "AlertTopicKey",
                       "AlertTopicKeyAlias"}
    assert evaluator.deployed() & topic_resources == created
    # alarms and rules send to the created topic, or to the existing one
    expected = "AlertTopic" if created else overrides["ExistingTopicArn"]
    assert evaluator.value(ALERT_TOPIC) == expected


@pytest.mark.parametrize(("overrides", "message"), [
    ({}, "Give NotificationEmail, or ExistingTopicArn"),
    ({"NotificationEmail": "a@example.com", "TopicEncryption": "ExistingKey"}, "TopicKmsKeyArn is required"),
    ({"NotificationEmail": "a@example.com",
      "TopicKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
     "used only when TopicEncryption is ExistingKey"),
])
def test_rules_reject_incomplete_choices(workload, overrides, message) -> None:
    failed = ConditionEvaluator(workload, parameter_values(workload, **overrides)).failed_rules()
    assert len(failed) == 1 and message in failed[0]
