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


def test_topic_policy_lets_only_this_accounts_alarms_and_this_stacks_rules_publish(workload) -> None:
    (policy,) = resources_of_type(workload, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": "AlertTopic"}]
    condition, with_rules, without_rules = policy["Properties"]["PolicyDocument"]["Fn::If"]
    assert condition == "CreateDeliveryQueue"
    rule_ids = sorted(k for k, v in workload["Resources"].items() if v["Type"] == "AWS::Events::Rule")
    for document, principals in ((with_rules, ["cloudwatch", "events"]), (without_rules, ["cloudwatch"])):
        statements = document["Statement"]
        assert [s["Principal"]["Service"] for s in statements] == [f"{p}.amazonaws.com" for p in principals]
        for statement in statements:
            assert statement["Effect"] == "Allow"
            assert statement["Action"] == ["sns:Publish"]
            assert statement["Resource"] == [{"Ref": "AlertTopic"}]
            assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    events = with_rules["Statement"][1]
    arns = events["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(a["Fn::If"][1]["Fn::GetAtt"][0] for a in arns) == rule_ids
