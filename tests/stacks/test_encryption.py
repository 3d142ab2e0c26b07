"""The topic's customer managed key: policy, rotation, retention."""

from __future__ import annotations

from tests.helpers import has_properties


def statements(workload) -> dict[str, dict]:
    policy = workload["Resources"]["AlertTopicKey"]["Properties"]["KeyPolicy"]
    return {s["Sid"]: s for s in policy["Statement"]}


def test_key_is_rotated_retained_and_symmetric(workload) -> None:
    key = workload["Resources"]["AlertTopicKey"]
    assert key["Condition"] == "CreateTopicKey"
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    assert has_properties(key, {"EnableKeyRotation": True, "PendingWindowInDays": 30,
                                "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT"})
    alias = workload["Resources"]["AlertTopicKeyAlias"]
    assert has_properties(alias, {"TargetKeyId": {"Ref": "AlertTopicKey"},
                                  "AliasName": {"Fn::Sub": "alias/${AWS::StackName}-alerts"}})


def test_account_administers_without_kms_star_or_crypto(workload) -> None:
    admin = statements(workload)["AllowKeyAdministrationByThisAccount"]
    assert admin["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    actions = admin["Action"]
    assert "kms:*" not in actions and "*" not in actions
    for crypto in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:Sign"):
        assert crypto not in actions
    assert {"kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:Put*"} <= set(actions)


def test_only_alarms_and_publishers_through_sns_use_the_key(workload) -> None:
    """Alarms publish as CloudWatch; whether CloudWatch's KMS calls carry source keys is unconfirmed,
    so that grant has none (tests/stacks/test_delivery.py proves both contexts). The notifier's role
    publishes, and SNS uses the key for it: the account may delegate that use, through SNS only."""
    publish = statements(workload)["AllowCloudWatchAlarmsToPublishToTheTopic"]
    assert publish["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}
    assert publish["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert "Condition" not in publish
    through_sns = statements(workload)["AllowThisAccountsPublishersThroughSns"]
    assert through_sns["Condition"] == {"StringEquals": {
        "kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"},
        "kms:CallerAccount": {"Fn::Sub": "${AWS::AccountId}"}}}
    allows = [s for s in statements(workload).values() if s["Effect"] == "Allow"]
    assert len(allows) == 3


def test_grants_only_for_aws_services(workload) -> None:
    """Control Tower CT.KMS.PR.3: a Deny of kms:CreateGrant to every principal unless an AWS
    service asks, with BoolIfExists on both condition keys."""
    deny = statements(workload)["DenyGrantsExceptForAwsServices"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Resource"] == ["*"]
    assert deny["Action"] == ["kms:CreateGrant"]
    assert deny["Condition"] == {"BoolIfExists": {
        "kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}}


def test_alias_aws_sns_cannot_be_given(workload) -> None:
    import re
    pattern = workload["Parameters"]["TopicKmsKeyArn"]["AllowedPattern"]
    assert not re.fullmatch(pattern, "alias/aws/sns")
    assert not re.fullmatch(pattern, "arn:aws:kms:us-east-1:111122223333:alias/aws/sns")
    assert re.fullmatch(pattern, "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    assert re.fullmatch(pattern, "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab")
    assert "alias/aws/sns" in workload["Parameters"]["TopicEncryption"]["Description"]
