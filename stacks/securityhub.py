"""Opt-in AWS Security Hub findings (``SecurityHubFindings``: Disabled, Enabled).

The notifier sends each key or secret an alert describes to Security Hub as an ASFF finding
(functions/notifier.py ``findings``): BatchImportFindings with this account's default product ARN
(``arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default``), so that an administrator
account sees them through Security Hub's aggregation; one finding per key or secret (its Id is the
resource's), updated by each alert, archived (RecordState ARCHIVED) when the deletion is cancelled or
the secret restored. This step grants the notifier's role that one call on that one product ARN.
"""

from __future__ import annotations

from awacs.aws import Action, Allow, Statement
from troposphere import If, NoValue, Sub, Template
from troposphere.iam import Policy

from stacks.notifier import NotifierRefs
from stacks.parameters import SEND_FINDINGS

POLICY_NAME = "security-hub-findings"
# Service Authorization Reference, AWS Security Hub: BatchImportFindings requires the product resource
# (product*; parliament's copy of the Reference says the same). The API reference: with the default
# product ARN, the calling account must be the finding's AwsAccountId.
PRODUCT_ARN = "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"


def add_security_hub_findings(template: Template, notifier: NotifierRefs) -> None:
    """Let the notifier import findings to this account's default product, when enabled."""
    statement = Statement(Sid="ImportFindings", Effect=Allow, Action=[Action("securityhub", "BatchImportFindings")],
                          Resource=[Sub(PRODUCT_ARN)])
    notifier.role.Policies.append(If(SEND_FINDINGS, Policy(
        PolicyName=POLICY_NAME, PolicyDocument={"Version": "2012-10-17", "Statement": [statement]}), NoValue))
