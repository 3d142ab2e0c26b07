"""An evaluator of AWS IAM policies, for proving that AWS would allow (or deny) the calls the product
depends on. No maintained evaluator on the package index covers resource policies, service
principals and the condition operators used here, so this is our own; tests/test_iam_evaluator.py
checks each rule below against the IAM documentation's examples.

What it implements, from the IAM User Guide (https://docs.aws.amazon.com/IAM/latest/UserGuide/):
- Policy evaluation logic (reference_policies_evaluation-logic.html): an explicit Deny in any
  applicable policy wins; SCPs must allow (and apply only to IAM principals of member accounts,
  never to AWS service principals); within one account an Allow in either the identity policy or the
  resource policy suffices, except for KMS keys, where identity policies count only when the key
  policy grants the account (kms key-policy-default.html). A resource policy that names an account
  (its ID or root ARN) delegates to that account: it grants none of its principals by itself
  (reference_policies_elements_principal.html, "AWS account principals").
- Elements: Principal (AWS account/ARN, Service, "*"), NotPrincipal, Action/NotAction and
  Resource/NotResource with the * and ? wildcards (actions case-insensitive, resources not).
- Conditions (reference_policies_elements_condition_operators.html): String*, Numeric*, Bool,
  Arn*, Null, the ...IfExists suffix, ForAnyValue:/ForAllValues: prefixes; several values of one
  key are ORed, keys and operators ANDed; a key absent from the request does not match, except
  for the negated operators (...Not...), IfExists and ForAllValues, which then match.
Anything else (policy variables, Date, IpAddress) raises, so a policy cannot silently evaluate wrong.
"""

from __future__ import annotations

import re

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"
FULL_AWS_ACCESS = {"Version": "2012-10-17",
                   "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# The RCP AWS Organizations attaches everywhere once RCPs are enabled (RCPFullAWSAccess).
RCP_FULL_AWS_ACCESS = {"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Request:
    """One API call as AWS authorizes it: who, what, on which resource, with which context keys."""

    action: str
    resource: str
    principal: str
    """An IAM ARN (role, user, assumed-role, account root), or a service principal name."""
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_service(self) -> bool:
        return not self.principal.startswith("arn:")

    @property
    def account(self) -> str | None:
        return None if self.is_service else self.principal.split(":")[4]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's * and ? wildcards; no other character is special."""
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


DIRECT, ACCOUNT = "direct", "account"


def principal_match(element: Any, request: Request) -> str | None:
    """How a Principal element covers the request: DIRECT (the principal itself, a service, "*"),
    ACCOUNT (the account's ID or root ARN: that delegates to the account, whose identity policies
    must then allow: IAM guide, reference_policies_elements_principal, "AWS account principals";
    KMS guide, key-policy-default, "allows access to the AWS account and enables IAM policies"), or
    None. The account's root user is covered directly by its own root ARN."""
    if element == "*":
        return DIRECT
    found = None
    for kind, values in element.items():
        for value in _as_list(values):
            if value == "*":
                return DIRECT
            if kind == "Service" and request.is_service and value == request.principal:
                return DIRECT
            if kind == "AWS" and not request.is_service:
                if value == request.principal:
                    return DIRECT
                if value == request.account or value == f"arn:{request.principal.split(':')[1]}:iam::{request.account}:root":
                    found = ACCOUNT
    return found


def _principal_matches(element: Any, request: Request) -> bool:
    return principal_match(element, request) is not None


_NUMERIC = {
    "NumericEquals": lambda a, b: a == b, "NumericNotEquals": lambda a, b: a != b,
    "NumericLessThan": lambda a, b: a < b, "NumericLessThanEquals": lambda a, b: a <= b,
    "NumericGreaterThan": lambda a, b: a > b, "NumericGreaterThanEquals": lambda a, b: a >= b,
}


def _value_matches(operator: str, policy_value: str, value: Any) -> bool:
    """The positive form of ``operator`` for one policy value and one request value."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if operator in ("StringEquals", "ArnEquals"):
        return text == policy_value if operator == "StringEquals" else wildcard(policy_value, text)
    if operator == "StringEqualsIgnoreCase":
        return text.lower() == policy_value.lower()
    if operator in ("StringLike", "ArnLike"):
        return wildcard(policy_value, text)
    if operator == "Bool":
        return text.lower() == str(policy_value).lower()
    if operator in _NUMERIC:
        return _NUMERIC[operator](float(text), float(policy_value))
    raise NotImplementedError(f"condition operator {operator} is not implemented")


_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


def condition_holds(operator: str, key: str, policy_values: Any, context: Mapping[str, Any]) -> bool:
    """One operator on one key, as IAM evaluates it."""
    values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(policy_values)]
    # A policy variable takes the request's value of its key (IAM, policy variables); one whose key
    # the request lacks is refused rather than guessed.
    for name in re.findall(r"\$\{([^}]+)\}", "".join(values)):
        if name not in context or not isinstance(context[name], str):
            raise NotImplementedError(f"policy variable ${{{name}}} without a string value in the request")
        values = [v.replace(f"${{{name}}}", context[name]) for v in values]
    quantifier = ""
    if ":" in operator:
        quantifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    present = key in context and context[key] is not None
    if operator == "Null":
        return any((v == "true") != present for v in values)
    if not present:
        return if_exists or operator in _NEGATED or operator == "NumericNotEquals" or quantifier == "ForAllValues"
    request_values = _as_list(context[key])
    negated = operator in _NEGATED
    positive = _NEGATED.get(operator, operator)

    def one(value: Any) -> bool:
        return any(_value_matches(positive, v, value) for v in values)

    if quantifier == "ForAnyValue":
        hit = any(one(v) for v in request_values)
        return not hit if negated else hit
    if quantifier == "ForAllValues":
        hit = all(one(v) for v in request_values)
        return not hit if negated else hit
    if quantifier:
        raise NotImplementedError(f"set operator {quantifier}")
    hit = any(one(v) for v in request_values)
    return not hit if negated else hit


def statement_applies(statement: Mapping[str, Any], request: Request, resource_policy: bool) -> bool:
    """Whether ``statement`` covers ``request`` (principal, action, resource and conditions)."""
    if resource_policy:
        if "Principal" in statement and not _principal_matches(statement["Principal"], request):
            return False
        if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], request):
            return False
    if "Action" in statement:
        if not any(wildcard(a, request.action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif any(wildcard(a, request.action, ignore_case=True) for a in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(wildcard(r, request.resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(wildcard(r, request.resource) for r in _as_list(statement["NotResource"])):
        return False
    return all(condition_holds(op, key, values, request.context)
               for op, pairs in statement.get("Condition", {}).items() for key, values in pairs.items())


def matching_sids(policy: Mapping[str, Any], request: Request, effect: str,
                  resource_policy: bool = False) -> list[str]:
    """Sids (or positions) of the statements of ``effect`` that cover the request."""
    return [s.get("Sid", str(i)) for i, s in enumerate(_as_list(policy["Statement"]))
            if s["Effect"] == effect and statement_applies(s, request, resource_policy)]


def evaluate(request: Request, *, resource_policy: Mapping[str, Any] | None = None,
             identity_policies: Iterable[Mapping[str, Any]] = (),
             scps: Iterable[Mapping[str, Any]] = (), resource_account: str | None = None,
             key_policy: bool = False, rcps: Iterable[Mapping[str, Any]] = ()) -> str:
    """Allow, ExplicitDeny or ImplicitDeny for ``request``.

    ``scps`` are the SCPs attached at one level (the account): they apply to IAM principals only
    (AWS Organizations: SCPs do not restrict service principals), and one of them must allow the
    action (FullAWSAccess does) while none denies it. ``key_policy`` marks
    ``resource_policy`` as a KMS key policy, where identity policies count only if it grants the
    account. Cross-account requests need an Allow on both sides.

    ``rcps`` are the resource control policies attached to the resource's account: they apply to
    every principal that calls it, of the organization or not, except service-linked roles (AWS
    Organizations, RCPs: "RCPs don't apply to ... actions performed by service-linked roles"); their
    statements name their principal ("*"), and one must allow (RCPFullAWSAccess does).
    """
    identity_policies, scps = list(identity_policies), list(scps)
    applicable_scps = [] if request.is_service else scps
    applicable_rcps = [] if ":role/aws-service-role/" in request.principal else list(rcps)
    for policy in applicable_rcps:
        if matching_sids(policy, request, "Deny", resource_policy=True):
            return EXPLICIT_DENY
    if applicable_rcps and not any(matching_sids(p, request, "Allow", resource_policy=True) for p in applicable_rcps):
        return IMPLICIT_DENY
    for policy in applicable_scps + identity_policies:
        if matching_sids(policy, request, "Deny"):
            return EXPLICIT_DENY
    if resource_policy and matching_sids(resource_policy, request, "Deny", resource_policy=True):
        return EXPLICIT_DENY
    if applicable_scps and not any(matching_sids(p, request, "Allow") for p in applicable_scps):
        return IMPLICIT_DENY
    # The resource policy's Allow statements that cover the request, by how their principal does.
    covering = [principal_match(s.get("Principal", "*"), request) for s in _as_list((resource_policy or {}).get(
        "Statement", [])) if s["Effect"] == "Allow" and statement_applies(s, request, resource_policy=True)]
    resource_grants = DIRECT in covering  # the resource policy names this principal (or a service, or *)
    resource_delegates = ACCOUNT in covering  # it names the principal's account: identity policies decide
    identity_allows = any(matching_sids(p, request, "Allow") for p in identity_policies)
    same_account = resource_account is None or request.account in (None, resource_account)
    if key_policy and same_account:
        # A KMS key: in its own account, IAM policies count only where the key policy delegates this
        # action (with these conditions) to the account (kms key-policy-default). From another
        # account, the key policy names that account or the principal, and the principal's own IAM
        # policy must allow too (kms key-policy-modifying-external-accounts): the rule below.
        identity_allows = identity_allows and resource_delegates
    if request.is_service:
        return ALLOW if resource_grants else IMPLICIT_DENY
    if same_account:
        return ALLOW if resource_grants or identity_allows else IMPLICIT_DENY
    # Another account: its resource policy must name the principal or delegate to its account, and the
    # principal's own identity policy must allow too.
    return ALLOW if (resource_grants or resource_delegates) and identity_allows else IMPLICIT_DENY
