"""The IAM evaluator against the rules of the IAM User Guide, one documented rule per case."""

from __future__ import annotations

import pytest

from tests.iam_evaluator import (
    ALLOW,
    EXPLICIT_DENY,
    FULL_AWS_ACCESS,
    IMPLICIT_DENY,
    RCP_FULL_AWS_ACCESS,
    Request,
    condition_holds,
    evaluate,
)

ROLE = "arn:aws:iam::111122223333:role/Admin"
OTHER = "arn:aws:iam::444455556666:role/Admin"
QUEUE = "arn:aws:sqs:us-east-1:111122223333:alerts"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# reference_policies_elements_condition_operators.html, per operator: (operator, key, policy values,
# context, expected)
CONDITIONS = [
    ("StringEquals", "k", "a", {"k": "a"}, True),
    ("StringEquals", "k", "a", {"k": "A"}, False),  # case sensitive
    ("StringEquals", "k", ["a", "b"], {"k": "b"}, True),  # values are ORed
    ("StringEquals", "k", "a", {}, False),  # absent key: no match
    ("StringNotEquals", "k", "a", {}, True),  # negated operator on an absent key: match
    ("StringNotEquals", "k", ["a", "b"], {"k": "b"}, False),
    ("StringEqualsIgnoreCase", "k", "a", {"k": "A"}, True),
    ("StringLike", "k", "a*", {"k": "abc"}, True),
    ("StringLike", "k", "a?c", {"k": "abbc"}, False),
    ("StringNotLike", "k", "a*", {"k": "abc"}, False),
    ("StringEqualsIfExists", "k", "a", {}, True),  # IfExists: absent key matches
    ("StringEqualsIfExists", "k", "a", {"k": "b"}, False),
    ("NumericLessThan", "k", "30", {"k": 7}, True),
    ("NumericLessThan", "k", "30", {"k": 30}, False),
    ("NumericLessThan", "k", "30", {}, False),
    ("NumericGreaterThanEquals", "k", "7", {"k": "7"}, True),
    ("Bool", "k", "true", {"k": True}, True),
    ("Bool", "k", "false", {"k": "true"}, False),
    ("BoolIfExists", "k", "false", {}, True),
    ("Null", "k", "true", {}, True),  # Null true: the key is absent
    ("Null", "k", "false", {}, False),
    ("Null", "k", "false", {"k": "x"}, True),
    ("ArnLike", "k", "arn:aws:events:*:111122223333:rule/*", {"k": "arn:aws:events:us-east-1:111122223333:rule/r"}, True),
    ("ArnEquals", "k", "arn:aws:events:us-east-1:111122223333:rule/r", {"k": "arn:aws:events:us-east-1:111122223333:rule/x"}, False),
    ("ArnNotLike", "k", "arn:aws:iam::*:role/Break*", {"k": ROLE}, True),
    ("ArnNotLike", "k", "arn:aws:iam::*:role/Admin", {"k": ROLE}, False),
    ("ArnNotLike", "k", "arn:aws:iam::*:role/Admin", {}, True),
    ("ForAnyValue:StringLike", "k", "alias/x*", {"k": ["alias/y", "alias/x-1"]}, True),
    ("ForAnyValue:StringLike", "k", "alias/x*", {}, False),  # empty set: ForAnyValue is false
    ("ForAllValues:StringEquals", "k", ["a", "b"], {"k": ["a", "b"]}, True),
    ("ForAllValues:StringEquals", "k", ["a"], {"k": ["a", "b"]}, False),
    ("ForAllValues:StringEquals", "k", ["a"], {}, True),  # empty set: ForAllValues is true
]


@pytest.mark.parametrize(("operator", "key", "values", "context", "expected"), CONDITIONS)
def test_condition_operators(operator, key, values, context, expected) -> None:
    assert condition_holds(operator, key, values, context) is expected


def test_unknown_operators_and_policy_variables_are_refused() -> None:
    with pytest.raises(NotImplementedError):
        condition_holds("DateLessThan", "aws:CurrentTime", "2020-01-01", {"aws:CurrentTime": "x"})
    with pytest.raises(NotImplementedError):
        condition_holds("StringEquals", "k", "${aws:username}", {"k": "x"})
    # a variable present in the request takes its value
    assert condition_holds("StringNotEquals", "aws:PrincipalAccount", "${aws:ResourceAccount}",
                           {"aws:PrincipalAccount": "444455556666", "aws:ResourceAccount": "111122223333"})
    assert not condition_holds("StringNotEquals", "aws:PrincipalAccount", "${aws:ResourceAccount}",
                               {"aws:PrincipalAccount": "111122223333", "aws:ResourceAccount": "111122223333"})


SEND = Request("sqs:SendMessage", QUEUE, "events.amazonaws.com",
               {"aws:SourceArn": "arn:aws:events:us-east-1:111122223333:rule/r"})
QUEUE_POLICY = doc({"Sid": "Events", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage", "Resource": QUEUE,
                    "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:111122223333:rule/r"}}})
READ = Request("sqs:ReceiveMessage", QUEUE, ROLE)
ADMIN = doc({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})
DENY_SQS = doc({"Effect": "Deny", "Action": "sqs:*", "Resource": "*"})


@pytest.mark.parametrize(("request_", "kwargs", "expected"), [
    # A service principal needs the resource policy to allow it (no identity policy exists).
    (SEND, {"resource_policy": QUEUE_POLICY}, ALLOW),
    (Request("sqs:SendMessage", QUEUE, "events.amazonaws.com",
             {"aws:SourceArn": "arn:aws:events:us-east-1:444455556666:rule/r"}), {"resource_policy": QUEUE_POLICY}, IMPLICIT_DENY),
    (Request("sqs:SendMessage", QUEUE, "sns.amazonaws.com", SEND.context), {"resource_policy": QUEUE_POLICY}, IMPLICIT_DENY),
    # SCPs do not restrict service principals.
    (SEND, {"resource_policy": QUEUE_POLICY, "scps": [DENY_SQS]}, ALLOW),
    # Same account: the identity policy alone suffices; an SCP deny wins; no SCP allow denies.
    (READ, {"identity_policies": [ADMIN], "resource_policy": QUEUE_POLICY}, ALLOW),
    (READ, {"identity_policies": [ADMIN], "scps": [FULL_AWS_ACCESS, DENY_SQS]}, EXPLICIT_DENY),
    (READ, {"identity_policies": [ADMIN], "scps": [doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})]}, IMPLICIT_DENY),
    (READ, {"identity_policies": [ADMIN], "scps": [FULL_AWS_ACCESS]}, ALLOW),
    (READ, {}, IMPLICIT_DENY),
    # An explicit deny in the resource policy wins over the identity allow.
    (READ, {"identity_policies": [ADMIN], "resource_policy": doc(
        {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE})}, EXPLICIT_DENY),
    # NotAction and NotResource.
    (READ, {"identity_policies": [doc({"Effect": "Allow", "NotAction": "sqs:ReceiveMessage", "Resource": "*"})]}, IMPLICIT_DENY),
    (READ, {"identity_policies": [doc({"Effect": "Allow", "Action": "sqs:*", "NotResource": QUEUE})]}, IMPLICIT_DENY),
    # Actions are case-insensitive.
    (READ, {"identity_policies": [doc({"Effect": "Allow", "Action": "SQS:receivemessage", "Resource": QUEUE})]}, ALLOW),
    # Cross-account: both sides must allow.
    (Request("sqs:ReceiveMessage", QUEUE, OTHER), {"identity_policies": [ADMIN], "resource_account": "111122223333"}, IMPLICIT_DENY),
    (Request("sqs:ReceiveMessage", QUEUE, OTHER), {"identity_policies": [ADMIN], "resource_account": "111122223333",
     "resource_policy": doc({"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "sqs:*", "Resource": QUEUE})}, ALLOW),
])
def test_evaluation_logic(request_, kwargs, expected) -> None:
    assert evaluate(request_, **kwargs) == expected


KEY = "arn:aws:kms:us-east-1:111122223333:key/k"
DECRYPT = Request("kms:Decrypt", KEY, ROLE)
KMS_ADMIN = doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})


@pytest.mark.parametrize(("key_policy", "expected"), [
    # The key policy allows the account this action: IAM policies then count.
    (doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}), ALLOW),
    # It allows the account only other actions: the identity policy does not help.
    (doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:Describe*", "Resource": "*"}), IMPLICIT_DENY),
    # It names only a service: IAM policies never count.
    (doc({"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "kms:*", "Resource": "*"}), IMPLICIT_DENY),
])
def test_kms_key_policies_gate_identity_policies(key_policy, expected) -> None:
    assert evaluate(DECRYPT, resource_policy=key_policy, identity_policies=[KMS_ADMIN], key_policy=True) == expected


ROOT = "arn:aws:iam::111122223333:root"
DEFAULT_KEY_POLICY = doc({"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT},
                          "Action": "kms:*", "Resource": "*"})


@pytest.mark.parametrize(("key_policy", "identity", "expected"), [
    # KMS developer guide, key-policy-default: the default key policy "allows access to the AWS account
    # and enables IAM policies": a role may use the key only if its IAM policy allows it too.
    (DEFAULT_KEY_POLICY, [], IMPLICIT_DENY),
    (DEFAULT_KEY_POLICY, [KMS_ADMIN], ALLOW),
    (DEFAULT_KEY_POLICY, [doc({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"})], IMPLICIT_DENY),
    # The account ID form is the same delegation.
    (doc({"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"}), [], IMPLICIT_DENY),
    # A key policy that names the role itself grants it, with no IAM policy (key-policy-overview).
    (doc({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}), [], ALLOW),
    # A delegation with a condition holds only with it: the IAM policy cannot lift it.
    (doc({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:Decrypt", "Resource": "*",
          "Condition": {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}}), [KMS_ADMIN], IMPLICIT_DENY),
])
def test_an_account_in_a_key_policy_delegates_it_does_not_grant(key_policy, identity, expected) -> None:
    assert evaluate(DECRYPT, resource_policy=key_policy, identity_policies=identity, key_policy=True) == expected


def test_the_account_root_user_is_granted_by_its_own_arn() -> None:
    root_decrypt = Request("kms:Decrypt", KEY, ROOT)
    assert evaluate(root_decrypt, resource_policy=DEFAULT_KEY_POLICY, key_policy=True) == ALLOW


def test_an_account_in_a_queue_policy_delegates_too() -> None:
    """Same account: naming the account in a resource policy grants none of its roles by itself;
    another account: it delegates, and that account's identity policy must allow."""
    policy = doc({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sqs:*", "Resource": QUEUE})
    assert evaluate(READ, resource_policy=policy) == IMPLICIT_DENY
    assert evaluate(READ, resource_policy=policy, identity_policies=[ADMIN]) == ALLOW
    foreign = doc({"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "sqs:*", "Resource": QUEUE})
    other = Request("sqs:ReceiveMessage", QUEUE, OTHER)
    assert evaluate(other, resource_policy=foreign, resource_account="111122223333") == IMPLICIT_DENY


# AWS Organizations, resource control policies: an RCP limits what any principal may do to the
# resources of the accounts it is attached to, inside the organization or not; it grants nothing;
# it does not apply to service-linked roles; RCPFullAWSAccess is attached by default.
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DENY_SCHEDULING = doc({"Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"})
KEY_POLICY_FOR_BOTH = doc({"Effect": "Allow", "Principal": {"AWS": [ROLE, OTHER, "arn:aws:iam::111122223333:root"]},
                           "Action": "kms:*", "Resource": "*"})


@pytest.mark.parametrize(("principal", "rcps", "expected"), [
    (ROLE, [RCP_FULL_AWS_ACCESS, DENY_SCHEDULING], EXPLICIT_DENY),
    (OTHER, [RCP_FULL_AWS_ACCESS, DENY_SCHEDULING], EXPLICIT_DENY),  # another account, another organization
    ("arn:aws:iam::111122223333:role/aws-service-role/replication.kms.amazonaws.com/AWSServiceRoleForKeyManagementServiceMultiRegionKeys",
     [RCP_FULL_AWS_ACCESS, DENY_SCHEDULING], ALLOW),  # a service-linked role: RCPs do not apply
    (ROLE, [RCP_FULL_AWS_ACCESS], ALLOW),  # an RCP grants nothing and, allowing all, limits nothing
    (ROLE, [DENY_SCHEDULING], EXPLICIT_DENY),
    (ROLE, [doc({"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"})], IMPLICIT_DENY),
])
def test_resource_control_policies(principal, rcps, expected) -> None:
    identity = [doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})]
    request = Request("kms:ScheduleKeyDeletion", KEY, principal)
    assert evaluate(request, resource_policy=KEY_POLICY_FOR_BOTH, identity_policies=identity, rcps=rcps,
                    resource_account="111122223333", key_policy=True) == expected


@pytest.mark.parametrize(("identity", "expected"), [
    ([doc({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})], ALLOW),
    ([], IMPLICIT_DENY),
])
def test_a_key_policy_naming_a_principal_of_another_account_needs_its_iam_policy_too(identity, expected) -> None:
    """KMS guide, allowing users in other accounts: the key policy names the external principal (or
    account), and IAM policies in the external account must allow it as well."""
    key_policy = doc({"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "kms:Decrypt", "Resource": "*"})
    assert evaluate(Request("kms:Decrypt", KEY, OTHER), resource_policy=key_policy, identity_policies=identity,
                    resource_account="111122223333", key_policy=True) == expected
