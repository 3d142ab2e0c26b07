"""publish, service-catalog and stackset, end to end against a moto server on 127.0.0.1; botocore's
Stubber where moto lacks the API (Service Catalog's DescribeProductAsAdmin,
CreateProvisioningArtifact and UpdateProvisioningArtifact) or cannot fail on purpose (a stack set
instance that fails, an operation that outlasts the timeout)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from deletion_alarms import cli
from deletion_alarms import publishing
from stacks.distribution import WORKLOAD_FILE
from detections.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
DIST = sorted((ROOT / "dist").glob("*.json"))
VERSION = cli.package_version()


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------ publish
def test_publish_uploads_every_file_once_under_a_versioned_content_key(aws, capsys) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="templates-111122223333")
    code, out, _ = run(aws.cli("publish", "--bucket", "templates-111122223333"), capsys)
    assert code == 0
    urls = re.findall(r"^uploaded\s+(\S+)$", out, re.M)
    assert len(urls) == len(DIST)
    for path in DIST:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        key = f"deletion-alarms/{VERSION}/{digest}/{path.name}"
        assert f"https://templates-111122223333.s3.us-east-1.amazonaws.com/{key}" in urls
        assert s3.get_object(Bucket="templates-111122223333", Key=key)["Body"].read() == path.read_bytes()
    code, out, _ = run(aws.cli("publish", "--bucket", "templates-111122223333"), capsys)
    assert code == 0 and "uploaded" not in out and out.count("unchanged") == len(DIST)


@pytest.mark.parametrize(("args", "message"), [
    (["publish", "--bucket", "no-such-bucket-111122223333"], "S3 bucket no-such-bucket-111122223333 does not exist"),
])
def test_publish_errors_are_one_line(aws, capsys, args, message) -> None:
    code, _, err = run(aws.cli(*args), capsys)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_missing_credentials_and_unknown_region(aws, capsys, monkeypatch, tmp_path) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    code, _, err = run(aws.cli("publish", "--bucket", "b"), capsys)
    assert code == 1 and "no AWS credentials found" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["publish", "--bucket", "b", "--region", "mars-north-1"], capsys)
    assert code == cli.EXIT_USAGE and "unknown Region 'mars-north-1'" in err


# -------------------------------------------------------------------------------- service catalog
def sc_client():
    return boto3.client("servicecatalog", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")


URL = f"https://templates.s3.us-east-1.amazonaws.com/deletion-alarms/{VERSION}/abc/{WORKLOAD_FILE}"


def test_product_is_created_when_absent() -> None:
    sc = sc_client()
    with Stubber(sc) as stub:
        stub.add_client_error("describe_product_as_admin", "ResourceNotFoundException")
        stub.add_response("create_product", {
            "ProductViewDetail": {"ProductViewSummary": {"ProductId": "prod-abc"}},
            "ProvisioningArtifactDetail": {"Id": "pa-1"}})
        result = publishing.ensure_product(sc, "Deletion alarms", "Security team", URL, "0.1.0", "d" * 64, False, print)
    assert (result.product_id, result.artifact_id, result.created_product, result.created_version) == \
        ("prod-abc", "pa-1", True, True)


def existing(*artifacts):
    return {"ProductViewDetail": {"ProductViewSummary": {"ProductId": "prod-abc"}},
            "ProvisioningArtifactSummaries": [{"Id": i, "Name": n, "Description": d} for i, n, d in artifacts]}


def test_same_content_never_makes_a_second_version() -> None:
    sc = sc_client()
    with Stubber(sc) as stub:
        stub.add_response("describe_product_as_admin", existing(("pa-1", "0.1.0", f"deletion-alarms 0.1.0 sha256:{'d' * 64}")))
        result = publishing.ensure_product(sc, "Deletion alarms", "o", URL, "0.2.0", "d" * 64, False, print)
        stub.assert_no_pending_responses()
    assert not result.created_version and result.artifact_id == "pa-1"


def test_changed_content_adds_a_version_and_deprecates_the_others() -> None:
    sc = sc_client()
    with Stubber(sc) as stub:
        stub.add_response("describe_product_as_admin", existing(
            ("pa-1", "0.1.0", f"sha256:{'a' * 64}"), ("pa-2", "0.1.1", f"sha256:{'b' * 64}")))
        stub.add_response("create_provisioning_artifact", {"ProvisioningArtifactDetail": {"Id": "pa-3"}}, {
            "ProductId": "prod-abc", "IdempotencyToken": "add-" + "c" * 32,
            "Parameters": {"Name": "0.2.0", "Description": f"deletion-alarms 0.2.0 sha256:{'c' * 64}",
                           "Info": {"LoadTemplateFromURL": URL}, "Type": "CLOUD_FORMATION_TEMPLATE"}})
        for old in ("pa-1", "pa-2"):
            stub.add_response("update_provisioning_artifact", {}, {
                "ProductId": "prod-abc", "ProvisioningArtifactId": old, "Guidance": "DEPRECATED"})
        result = publishing.ensure_product(sc, "Deletion alarms", "o", URL, "0.2.0", "c" * 64, True, print)
        stub.assert_no_pending_responses()
    assert result.created_version and result.deprecated == ("pa-1", "pa-2")


def test_a_version_name_is_never_reused_for_other_content() -> None:
    sc = sc_client()
    with Stubber(sc) as stub:
        stub.add_response("describe_product_as_admin", existing(("pa-1", "0.1.0", f"sha256:{'a' * 64}")))
        with pytest.raises(UserError, match="already has a version named 0.1.0"):
            publishing.ensure_product(sc, "Deletion alarms", "o", URL, "0.1.0", "c" * 64, False, print)


# --------------------------------------------------------------------------------------- stacksets
def published_workload_url(aws) -> str:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="templates")
    s3.put_object(Bucket="templates", Key="deletion-alarms.json", Body=(ROOT / "dist" / WORKLOAD_FILE).read_bytes())
    return "https://templates.s3.us-east-1.amazonaws.com/deletion-alarms.json"


# moto creates the instances' stacks, but unlike CloudFormation it does not shorten generated SQS
# and SNS names to those services' limits: these tests deploy the metric-filter engine to an
# existing topic, whose resources moto accepts. That topic is in us-east-1, so the stack sets stay
# in us-east-1 (the stackset command refuses a topic of another Region).
METRIC_ENGINE = ["--parameter", "DetectionEngine=CloudWatchLogs", "--parameter", "CloudTrailLogGroupName=trail",
                 "--parameter", "ExistingTopicArn=arn:aws:sns:us-east-1:123456789012:security-alerts"]


def test_stackset_for_accounts_creates_then_updates_and_reports(aws, capsys) -> None:
    url = published_workload_url(aws)
    args = aws.cli("stackset", "--template-url", url, "--account", "123456789012", "--account", "111122223333",
                   "--target-region", "us-east-1", *METRIC_ENGINE, "--poll", "0", "--yes")
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert "created stack set deletion-alarms" in out and "adding instances in us-east-1" in out
    assert "2 instances, 0 failed" in out
    stack_set = aws.client("cloudformation").describe_stack_set(StackSetName="deletion-alarms")["StackSet"]
    assert {"ParameterKey": "DetectionEngine", "ParameterValue": "CloudWatchLogs"} in stack_set["Parameters"]
    code, out, _ = run(args, capsys)  # again: an update, no new instances
    assert code == 0 and "updating stack set" in out and "adding instances" not in out


def test_stackset_for_ous_is_service_managed(aws, capsys) -> None:
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    url = published_workload_url(aws)
    org.create_account(AccountName="app", Email="app@example.com")
    account = org.list_accounts()["Accounts"][-1]["Id"]
    org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
    code, out, err = run(aws.cli("stackset", "--template-url", url, "--ou", ou, "--target-region", "us-east-1",
                                 *METRIC_ENGINE, "--poll", "0", "--yes"), capsys)
    assert code == 0, err
    stack_set = aws.client("cloudformation").describe_stack_set(StackSetName="deletion-alarms")["StackSet"]
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"  # (moto does not return AutoDeployment)
    assert f"{account} us-east-1" in out and "1 instances, 0 failed" in out


def test_service_managed_sets_deploy_automatically_to_new_accounts() -> None:
    cfn = stubbed_cfn()
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stack_set", "StackSetNotFoundException")
        stub.add_response("create_stack_set", {"StackSetId": "s"}, {
            "StackSetName": "deletion-alarms", "TemplateURL": URL, "Parameters": [],
            "Description": "deletion-alarms: alerts when a KMS key or secret is about to be lost",
            "PermissionModel": "SERVICE_MANAGED",
            # the stack set's tag reaches its stacks: the guardrail SCP protects them by tag
            "Tags": [{"Key": "deletion-alarms:protected", "Value": "true"}],
            "Capabilities": ["CAPABILITY_IAM"],  # the forwarding role
            "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": True}})
        stub.add_response("list_stack_instances", instances())
        stub.add_response("create_stack_instances", {"OperationId": "op-1"}, {
            "StackSetName": "deletion-alarms", "Regions": ["us-east-1"],
            "DeploymentTargets": {"OrganizationalUnitIds": ["ou-abcd-12345678"]},
            "OperationPreferences": {"FailureTolerancePercentage": 0, "MaxConcurrentPercentage": 25,
                                     "RegionConcurrencyType": "PARALLEL",
                                     "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE"}})
        stub.add_response("describe_stack_set_operation", {"StackSetOperation": {"Status": "SUCCEEDED"}})
        stub.add_response("list_stack_instances", instances())
        stub.add_response("list_stack_instances", instances())
        publishing.deploy_stackset(cfn, "deletion-alarms", URL, {}, ["ou-abcd-12345678"], [], ["us-east-1"],
                                   poll=0, say=print, sleep=lambda s: None)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(("extra", "message"), [
    (["--ou", "ou-bad"], "not an OU ID"),
    (["--account", "12345"], "not a 12-digit account ID"),
    (["--account", "123456789012", "--ou", "ou-abcd-12345678"], "not both"),
    ([], "not both or neither"),
])
def test_bad_targets_are_refused_before_any_call(aws, capsys, extra, message) -> None:
    code, _, err = run(aws.cli("stackset", "--template-url", "https://b.s3.us-east-1.amazonaws.com/t.json",
                               "--target-region", "us-east-1", *extra), capsys)
    assert code == cli.EXIT_USAGE and message in err and len(err.strip().splitlines()) == 1


def test_unknown_target_region_is_refused(aws, capsys) -> None:
    code, _, err = run(aws.cli("stackset", "--template-url", "https://b.s3.us-east-1.amazonaws.com/t.json",
                               "--account", "123456789012", "--target-region", "us-mars-1"), capsys)
    assert code == cli.EXIT_USAGE and "not a known AWS Region" in err


@pytest.mark.parametrize(("regions", "refused"), [
    (["eu-west-1"], False), (["eu-west-1", "us-east-1"], True), (["us-east-1"], True)])
def test_an_existing_topic_of_another_region_is_refused(aws, capsys, regions, refused) -> None:
    """Alarm actions are same-Region, and no CloudFormation Rule can read a Region out of an ARN."""
    args = ["stackset", "--template-url", "https://b.s3.us-east-1.amazonaws.com/t.json", "--account", "123456789012",
            "--parameter", "ExistingTopicArn=arn:aws:sns:eu-west-1:111122223333:security-alerts"]
    for region in regions:
        args += ["--target-region", region]
    if refused:
        code, _, err = run(aws.cli(*args), capsys)
        assert code == cli.EXIT_USAGE and "ExistingTopicArn is in eu-west-1" in err and "us-east-1" in err
    else:
        publishing.validate_topic_region({"ExistingTopicArn": "arn:aws:sns:eu-west-1:1:t"}, regions)


def stubbed_cfn():
    return boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")


def instances(*rows):
    return {"Summaries": [{"StackSetId": "s", "Account": a, "Region": r, "Status": st,
                           "StatusReason": why, "StackInstanceStatus": {"DetailedStatus": d}} for a, r, st, d, why in rows]}


def test_a_failed_instance_is_reported() -> None:
    cfn = stubbed_cfn()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_set", {"StackSet": {"StackSetName": "deletion-alarms"}})
        stub.add_response("update_stack_set", {"OperationId": "op-1"})
        stub.add_response("describe_stack_set_operation", {"StackSetOperation": {"Status": "FAILED"}})
        failed = ("111122223333", "us-east-1", "OUTDATED", "FAILED", "Resource handler returned message: AccessDenied")
        stub.add_response("list_stack_instances", instances(failed))
        stub.add_response("list_stack_instances", instances(failed))
        stub.add_response("list_stack_instances", instances(failed))
        said: list[str] = []
        statuses = publishing.deploy_stackset(cfn, "deletion-alarms", URL, {}, [], ["111122223333"], ["us-east-1"],
                                              poll=0, say=said.append, sleep=lambda s: None)
    assert [s.failed for s in statuses] == [True]
    assert any("ended FAILED" in line for line in said)


def test_waiting_times_out_with_a_way_to_follow_up() -> None:
    cfn = stubbed_cfn()
    with Stubber(cfn) as stub:
        stub.add_response("delete_stack_instances", {"OperationId": "op-9"})
        for _ in range(3):
            stub.add_response("describe_stack_set_operation", {"StackSetOperation": {"Status": "RUNNING"}})
            stub.add_response("list_stack_instances", instances())
        with pytest.raises(UserError, match="describe-stack-set-operation"):
            publishing.delete_instances(cfn, "deletion-alarms", [], ["111122223333"], ["us-east-1"], True,
                                        timeout=2, poll=1, say=print, sleep=lambda s: None)


def test_instances_are_deleted_only_when_asked_and_stacks_kept_by_default(aws, capsys) -> None:
    url = published_workload_url(aws)
    base = aws.cli("stackset", "--template-url", url, "--account", "123456789012", "--target-region", "us-east-1",
                   *METRIC_ENGINE, "--poll", "0", "--yes")
    assert run(base, capsys)[0] == 0
    code, out, _ = run([*base, "--delete-instances"], capsys)
    assert code == 0 and "stacks kept" in out
    assert aws.client("cloudformation").list_stack_instances(StackSetName="deletion-alarms")["Summaries"] == []


def test_stackset_shows_its_plan_and_a_dry_run_changes_nothing(aws, capsys, monkeypatch) -> None:
    url = published_workload_url(aws)
    args = aws.cli("stackset", "--template-url", url, "--account", "123456789012", "--account", "111122223333",
                   "--target-region", "us-east-1", *METRIC_ENGINE, "--dry-run")
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert "2 accounts: 123456789012, 111122223333 (self-managed)" in out and "2 stack instances" in out
    assert "DetectionEngine=CloudWatchLogs" in out and "dry run: nothing deployed" in out
    assert aws.client("cloudformation").list_stack_sets()["Summaries"] == []
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run([a for a in args if a != "--dry-run"], capsys)
    assert code == cli.EXIT_USAGE and "confirm with --yes" in err
    assert aws.client("cloudformation").list_stack_sets()["Summaries"] == []


@pytest.mark.parametrize(("parameter", "message"), [
    ("CollectorEventBusArn=arn:aws:events:eu-west-1:444455556666:bus/x", "CollectorEventBusArn='arn:aws:events"),
    # no email, topic or collector: the template's Rule would refuse every instance, one by one
    ("DetectionMode=AccessOnly", "rule NotificationTargetRequired refuses these parameters: Give NotificationEmail"),
    ("ExistingTopicArn=topic", "ExistingTopicArn='topic': must be empty or an SNS topic ARN"),
    ("DetectionMode=Everything", "allowed values are AccessAndDeletion, AccessOnly, DeletionOnly"),
    ("NotAParameter=1", "--parameter NotAParameter: not a parameter of the template"),
])
def test_stackset_checks_every_parameter_before_any_call(aws, capsys, parameter, message) -> None:
    args = aws.cli("stackset", "--template-url", "https://b.s3.us-east-1.amazonaws.com/t.json", "--account",
                   "123456789012", "--target-region", "us-east-1", "--parameter", parameter, "--yes")
    code, _, err = run(args, capsys)
    assert code == cli.EXIT_USAGE and message in err and len(err.strip().splitlines()) == 1
    assert aws.client("cloudformation").list_stack_sets()["Summaries"] == []


WORKLOAD = json.loads((Path(__file__).resolve().parents[2] / "dist" / "deletion-alarms.json").read_text())
EMAIL = {"NotificationEmail": "security-team@example.com"}
BUS = "arn:aws:events:us-east-1:444455556666:event-bus/deletion-alarms"


@pytest.mark.parametrize(("parameters", "refused_by"), [
    ({}, ["NotificationTargetRequired"]),
    (EMAIL, []),
    ({"ExistingTopicArn": "arn:aws:sns:us-east-1:111122223333:alerts"}, []),
    ({"CollectorEventBusArn": BUS}, []),
    ({**EMAIL, "CollectorEventBusArn": BUS}, ["ForwardingIsForEventBridgeAlone"]),
    ({"CollectorEventBusArn": BUS, "AutoCancelOnUse": "All"}, ["AutoCancelNeedsTheNotifier"]),
    ({**EMAIL, "DetectionEngine": "CloudWatchLogs"}, ["LogGroupRequiredForCloudWatchLogs"]),
    ({**EMAIL, "TopicEncryption": "ExistingKey"}, ["KeyArnRequiredForExistingKey"]),
    ({**EMAIL, "NotifierSubnetIds": "subnet-0123456789abcdef0"}, ["NotifierNetworkComplete"]),
])
def test_the_templates_rules_are_evaluated_before_a_stack_set_is_made(parameters, refused_by) -> None:
    assert [name for name, _ in publishing.failed_rules(WORKLOAD, parameters)] == refused_by


def test_the_rules_evaluation_agrees_with_the_tests_own_evaluator() -> None:
    """Two evaluators of the same Rules (this one and tests/helpers.py's), over combinations of the
    parameters the Rules read: a wrong function in either shows as a disagreement."""
    import itertools

    from tests.helpers import ConditionEvaluator, parameter_values

    choices = {"NotificationEmail": ["", "a@example.com"], "CollectorEventBusArn": ["", BUS],
               "DetectionEngine": ["EventBridge", "CloudWatchLogs", "Both"], "CloudTrailLogGroupName": ["", "trail"],
               "AutoCancelOnUse": ["Off", "All"], "DetectionMode": ["AccessAndDeletion", "DeletionOnly"],
               "TopicEncryption": ["CreateKey", "ExistingKey"]}
    checked = 0
    for combination in itertools.product(*choices.values()):
        given = dict(zip(choices, combination))
        ours = sorted(name for name, _ in publishing.failed_rules(WORKLOAD, given))
        theirs = sorted(f.split(":")[0] for f in ConditionEvaluator(
            WORKLOAD, parameter_values(WORKLOAD, **given)).failed_rules())
        assert ours == theirs, given
        checked += 1
    assert checked == 2 * 2 * 3 * 2 * 2 * 2 * 2
