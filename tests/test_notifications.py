"""The alert topic, its email subscription and its topic policy."""

from __future__ import annotations

from tests.helpers import has_properties, resources_of_type


def test_email_subscription_to_the_topic(workload) -> None:
    subs = resources_of_type(workload, "AWS::SNS::Subscription")
    assert len(subs) == 1
    (sub,) = subs.values()
    assert has_properties(sub, {"Protocol": "email", "Endpoint": {"Ref": "NotificationEmail"},
                                "TopicArn": {"Ref": "AlertTopic"}})


def test_topic_has_no_fixed_name(workload) -> None:
    # A fixed name would collide between two stacks, or one StackSet in several Regions.
    topic = workload["Resources"]["AlertTopic"]
    assert "TopicName" not in topic["Properties"]


def test_topic_policy_lets_only_cloudwatch_of_this_account_publish(workload) -> None:
    (policy,) = resources_of_type(workload, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": "AlertTopic"}]
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allows, "no Allow statement"
    for statement in allows:
        assert statement["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]} or \
            statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert statement["Action"] == ["sns:Publish"]
        assert statement["Resource"] == [{"Ref": "AlertTopic"}]
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
