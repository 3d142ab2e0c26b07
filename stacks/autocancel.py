"""Opt-in automatic cancel on use (``AutoCancelOnUse``: Off, Tagged, All).

When a key pending deletion is used, the notifier, which already reads every use alert, cancels
the deletion (the key stays Disabled until someone enables it); when a secret scheduled for deletion
is read, it restores it (functions/notifier.py, ``cancel_on_use``). It acts only on a use
(detections/operations.py), on the key the refusal names (ReEncrypt lists two), once per key or
secret per few minutes however many uses arrive, and the alert that describes the use says what
the call did, or that it failed and what to run by hand.

This step grants the notifier's role those two calls and nothing else, on this account's keys and
secrets; with Tagged, only on resources whose owners tagged them ``deletion-alarms:auto-cancel`` =
``true`` (KMS and Secrets Manager both authorize on ``aws:ResourceTag``: Service Authorization
Reference). A key policy that does not let the account's IAM policies act (the default key policy
does) refuses the cancel; the alert says so.
"""

from __future__ import annotations

from awacs.aws import Action, Allow, Statement
from troposphere import If, NoValue, Sub, Template
from troposphere.iam import Policy

from detections.catalog import Service
from stacks.notifier import NotifierRefs
from stacks.parameters import AUTO_CANCEL_ANY, AUTO_CANCEL_TAGGED, auto_cancel_condition

OWNER_TAG_KEY = "deletion-alarms:auto-cancel"
OWNER_TAG_VALUE = "true"
# The one call per resource kind, and the resources it may act on (this account, any Region: one
# account may send every Region's events to its home Region, as for the alert's reads).
ACTIONS = {
    Service.KMS: ("kms", "CancelKeyDeletion", "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"),
    Service.SECRETS_MANAGER: ("secretsmanager", "RestoreSecret",
                              "arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:*"),
}
POLICY_NAME = "cancel-on-use"


def make_cancel_policy() -> dict:
    """Cancel and restore, nothing else, each only where its service is watched; with Tagged, only
    where the owner's tag says so."""
    owner_tagged = If(AUTO_CANCEL_TAGGED, {"StringEquals": {f"aws:ResourceTag/{OWNER_TAG_KEY}": OWNER_TAG_VALUE}},
                      NoValue)
    statements = []
    for service, (prefix, api, resource) in ACTIONS.items():
        statements.append(If(auto_cancel_condition(service), Statement(
            Sid=api, Effect=Allow, Action=[Action(prefix, api)], Resource=[Sub(resource)], Condition=owner_tagged),
            NoValue))
    # A plain document: awacs's PolicyDocument takes no Fn::If among its statements.
    return {"Version": "2012-10-17", "Statement": statements}


def add_auto_cancel(template: Template, notifier: NotifierRefs) -> None:
    """Give the notifier's role the cancel policy, when AutoCancelOnUse is on."""
    notifier.role.Policies.append(If(AUTO_CANCEL_ANY, Policy(PolicyName=POLICY_NAME,
                                                             PolicyDocument=make_cancel_policy()), NoValue))
