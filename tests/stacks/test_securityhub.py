"""SecurityHubFindings in the template: the notifier's role may BatchImportFindings on this
account's default product (Service Authorization Reference, AWS Security Hub: the product resource),
through both SCPs, in the IAM evaluator, and only when the option is on; the function is told so;
and the option is refused where there is no notifier to send them."""

from __future__ import annotations

import pytest

from deletion_alarms.publishing import failed_rules
from tests.iam_evaluator import ALLOW, Request, evaluate
from tests.stacks.test_delivery import ACCOUNT, REGION, SCPS, deploy

PRODUCT = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"


@pytest.mark.parametrize(("setting", "allowed"), [("Enabled", True), ("Disabled", False)])
def test_the_notifier_may_import_findings_to_the_default_product_only_when_enabled(workload, setting, allowed) -> None:
    d = deploy(workload, SecurityHubFindings=setting)
    function = d.stack.properties("NotifierFunction")
    role = d.stack.properties("NotifierRole")
    identity = [policy["PolicyDocument"] for policy in role["Policies"]]
    call = Request("securityhub:BatchImportFindings", PRODUCT, function["Role"], {"aws:SecureTransport": "true"})
    assert (evaluate(call, identity_policies=identity, scps=SCPS) == ALLOW) is allowed
    other = PRODUCT.replace(f"product/{ACCOUNT}/default", "product/aws/guardduty")
    assert evaluate(Request("securityhub:BatchImportFindings", other, function["Role"]), identity_policies=identity,
                    scps=SCPS) != ALLOW
    assert function["Environment"]["Variables"]["SECURITY_HUB"] == setting


@pytest.mark.parametrize(("params", "refused"), [
    ({"SecurityHubFindings": "Enabled"}, False),
    ({"SecurityHubFindings": "Enabled", "NotificationEmail": "",
      "CollectorEventBusArn": f"arn:aws:events:{REGION}:444455556666:event-bus/c"}, True),
    ({"SecurityHubFindings": "Enabled", "DetectionEngine": "CloudWatchLogs"}, True),
])
def test_findings_need_this_accounts_notifier(workload, params, refused) -> None:
    names = [name for name, _ in failed_rules(workload, params)]
    assert ("FindingsNeedTheNotifier" in names) is refused, names
