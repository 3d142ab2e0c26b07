"""AutoCancelOnUse: Off deploys nothing; Tagged and All deploy a rule per watched service on the use
detection's own pattern, an automation document of one call, and two roles that can do exactly
that; the inputs name the resource of every labelled use record; the proofs, with the IAM evaluator
and both SCPs, can fail (a mutation drops the owner's-tag condition)."""

from __future__ import annotations

import copy
import json

import pytest

from detections.catalog import by_name
from detections.eventpatterns import cloudtrail_event
from functions.notifier import Digest, body
from detections.messages import notification_spec
from stacks.autocancel import OWNER_TAG_KEY, OWNER_TAG_VALUE
from stacks.guardrails import PROTECTED_TAG_KEY
from tests.conftest import load_corpus
from tests.helpers import ConditionEvaluator, parameter_values
from tests.iam_evaluator import ALLOW, FULL_AWS_ACCESS, Request, evaluate
from tests.stacks.test_delivery import ACCOUNT, REGION, SCPS, deploy

PARTS = {"KmsKeyAutoCancelDocument", "KmsKeyAutoCancelRule", "SecretAutoRestoreDocument", "SecretAutoRestoreRule",
         "AutoCancelAutomationRole", "AutoCancelEventsRole"}
EMAIL = {"NotificationEmail": "security-team@example.com"}


@pytest.mark.parametrize(("params", "expected"), [
    ({}, set()),  # Off, the default
    ({"AutoCancelOnUse": "All"}, PARTS),
    ({"AutoCancelOnUse": "Tagged"}, PARTS),
    ({"AutoCancelOnUse": "All", "SecretMonitoring": "Disabled"},
     PARTS - {"SecretAutoRestoreDocument", "SecretAutoRestoreRule"}),
    ({"AutoCancelOnUse": "All", "DetectionMode": "DeletionOnly"}, set()),  # no use detection, nothing to act on
    ({"AutoCancelOnUse": "All", "DetectionEngine": "CloudWatchLogs", "CloudTrailLogGroupName": "trail"}, set()),
])
def test_off_deploys_nothing_and_on_deploys_what_the_services_need(workload, params, expected) -> None:
    deployed = ConditionEvaluator(workload, parameter_values(workload, **EMAIL, **params)).deployed()
    assert deployed & PARTS == expected


def rendered_input(d, rule_id: str, record: dict) -> dict:
    (target,) = d.stack.properties(rule_id)["Targets"]
    transformer = target["InputTransformer"]
    event = cloudtrail_event(record)
    (name, path), = transformer["InputPathsMap"].items()
    from functions.notifier import json_path

    value = json_path(event, path)
    return json.loads(transformer["InputTemplate"].replace(f"<{name}>", "" if value is None else value))


@pytest.mark.parametrize(("rule_id", "detection", "parameter"), [
    ("KmsKeyAutoCancelRule", "KmsKeyPendingDeletionUse", "KeyId"),
    ("SecretAutoRestoreRule", "SecretPendingDeletionUse", "SecretId"),
])
def test_the_automation_is_given_the_resource_of_every_use_record(workload, rule_id, detection, parameter) -> None:
    d = deploy(workload, **EMAIL, AutoCancelOnUse="All")
    role = d.stack.physical["AutoCancelAutomationRole"]["Arn"]
    positives = [s.record for s in load_corpus() if detection in s.expect]
    assert positives
    for record in positives:
        given = rendered_input(d, rule_id, record)
        assert given["AutomationAssumeRole"] == [role]
        expected = (record.get("resources") or [{}])[0].get("ARN") if parameter == "KeyId" else \
            record["requestParameters"]["secretId"]
        if expected is None:
            # A second ScheduleKeyDeletion of a pending key names no resource: someone deleting, not
            # using it. The automation gets no key and does nothing, as it should.
            assert record["eventName"] == "ScheduleKeyDeletion" and given[parameter] == [""]
            continue
        assert given[parameter] == [expected], record.get("eventName")
    rule = d.stack.properties(rule_id)
    assert rule["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"  # uses are read-only calls
    # One definition: the detection's pattern, narrowed to the use operations.
    narrowed = copy.deepcopy(d.stack.properties(f"{detection}Rule")["EventPattern"])
    narrowed["detail"]["eventName"] = rule["EventPattern"]["detail"]["eventName"]
    assert rule["EventPattern"] == narrowed


def proof(template: dict, mode: str) -> list[str]:
    """What the auto-cancel paths allow that they should not, or deny that they need."""
    d = deploy(template, **EMAIL, AutoCancelOnUse=mode)
    problems = []
    events_role = d.stack.properties("AutoCancelEventsRole")
    events_arn = d.stack.physical["AutoCancelEventsRole"]["Arn"]
    automation = d.stack.properties("AutoCancelAutomationRole")
    automation_arn = d.stack.physical["AutoCancelAutomationRole"]["Arn"]
    tags = {f"aws:PrincipalTag/{PROTECTED_TAG_KEY}": "true", f"aws:ResourceTag/{PROTECTED_TAG_KEY}": "true"}

    def allowed(action, resource, principal, role, context=None) -> bool:
        return evaluate(Request(action, resource, principal, context or {}),
                        identity_policies=[p["PolicyDocument"] for p in role["Policies"]], scps=SCPS) == ALLOW

    trust = events_role["AssumeRolePolicyDocument"]
    if evaluate(Request("sts:AssumeRole", events_arn, "events.amazonaws.com", {"aws:SourceAccount": ACCOUNT}),
                resource_policy=trust) != ALLOW:
        problems.append("EventBridge may not assume the events role")
    if evaluate(Request("sts:AssumeRole", events_arn, "events.amazonaws.com", {"aws:SourceAccount": "444455556666"}),
                resource_policy=trust) == ALLOW:
        problems.append("another account's rule may use the events role")
    for document in ("KmsKeyAutoCancelDocument", "SecretAutoRestoreDocument"):
        name = d.stack.physical[document]["Ref"]
        definition = f"arn:aws:ssm:{REGION}:{ACCOUNT}:automation-definition/{name}:$DEFAULT"
        if not allowed("ssm:StartAutomationExecution", definition, events_arn, events_role, tags):
            problems.append(f"the events role may not start {document}")
    other = f"arn:aws:ssm:{REGION}:{ACCOUNT}:automation-definition/AWS-RunPowerShellScript:$DEFAULT"
    if allowed("ssm:StartAutomationExecution", other, events_arn, events_role, tags):
        problems.append("the events role may start another automation")
    if not allowed("iam:PassRole", automation_arn, events_arn, events_role,
                   {**tags, "iam:PassedToService": "ssm.amazonaws.com"}):
        problems.append("the events role may not pass the automation role to SSM")
    if allowed("iam:PassRole", automation_arn, events_arn, events_role,
               {**tags, "iam:PassedToService": "lambda.amazonaws.com"}):
        problems.append("the events role may pass the automation role to another service")
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-AbCdEf"
    owner = {f"aws:ResourceTag/{OWNER_TAG_KEY}": "true"}
    for action, resource in (("kms:CancelKeyDeletion", key), ("secretsmanager:RestoreSecret", secret)):
        if not allowed(action, resource, automation_arn, automation, owner):
            problems.append(f"the automation may not {action} on a tagged resource")
        if allowed(action, resource, automation_arn, automation) != (mode == "All"):
            problems.append(f"{mode}: the automation's {action} on an untagged resource is wrong")
    for action, resource in (("kms:ScheduleKeyDeletion", key), ("kms:DisableKey", key), ("kms:Decrypt", key),
                             ("secretsmanager:GetSecretValue", secret), ("secretsmanager:DeleteSecret", secret)):
        if allowed(action, resource, automation_arn, automation, owner):
            problems.append(f"the automation may {action}")
    admin = f"arn:aws:iam::{ACCOUNT}:role/Admin"
    if evaluate(Request("iam:PassRole", automation_arn, admin, {f"aws:ResourceTag/{PROTECTED_TAG_KEY}": "true"}),
                identity_policies=[FULL_AWS_ACCESS], scps=SCPS) == ALLOW:
        problems.append("an administrator may pass the automation role (and act with it)")
    return problems


@pytest.mark.parametrize("mode", ["All", "Tagged"])
def test_each_role_can_do_its_one_thing(workload, mode) -> None:
    assert proof(workload, mode) == []


def test_the_proof_fails_without_the_owners_tag_condition(workload) -> None:
    mutated = copy.deepcopy(workload)
    policy = mutated["Resources"]["AutoCancelAutomationRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    for statement in policy["Statement"]:
        statement.pop("Condition")
    assert "Tagged: the automation's kms:CancelKeyDeletion on an untagged resource is wrong" in proof(mutated, "Tagged")


@pytest.mark.parametrize(("mode", "says"), [("Off", False), ("Tagged", True), ("All", True)])
def test_the_alert_says_what_the_automation_does(mode, says) -> None:
    detection = by_name("KmsKeyPendingDeletionUse")
    spec = notification_spec(detection)
    record = next(s.record for s in load_corpus() if s.expect == {detection.name})
    digest = Digest(detection.name)
    digest.add([cloudtrail_event(record)], 1, "m1", False)
    text = body(spec, digest, digest.details(spec), "listing", mode)
    assert ("SSM Automation cancels the deletion" in text) is says
    assert ("if its owners tagged it deletion-alarms:auto-cancel=true" in text) is (mode == "Tagged")


@pytest.mark.parametrize("cls", ["kms-enablekeyrotation-pending-deletion-kmsinvalidstateexception",
                                 "kms-schedulekeydeletion-already-pending",
                                 "kms-reencrypt-pending-deletion-kmsinvalidstateexception"])
def test_the_alert_of_a_call_that_cancels_nothing_says_so(cls) -> None:
    """The automation starts for a use alone: the alert of a refused management call (or of
    ReEncrypt) must not promise a cancel."""
    detection = by_name("KmsKeyPendingDeletionUse")
    spec = notification_spec(detection)
    record = next(s.record for s in load_corpus() if s.cls == cls)
    digest = Digest(detection.name)
    digest.add([cloudtrail_event(record)], 1, "m1", False)
    text = body(spec, digest, digest.details(spec), "listing", "All")
    assert "SSM Automation cancels" not in text and "nothing is cancelled automatically" in text


def test_the_automation_rules_reach_the_dead_letter_queue_and_not_the_alerts(workload) -> None:
    """EventBridge puts a failed event in a rule's dead-letter queue as events.amazonaws.com with the
    rule's ARN (eb-rule-dlq): the auto-cancel rules may, and may not write alerts."""
    d = deploy(workload, **EMAIL, AutoCancelOnUse="All")
    rule = d.stack.physical["KmsKeyAutoCancelRule"]["Arn"]
    context = {"aws:SourceArn": rule, "aws:SourceAccount": ACCOUNT}
    for queue, expected in (("AlertDeliveryDeadLetterQueue", True), ("AlertEventQueue", False)):
        arn = d.stack.physical[queue]["Arn"]
        call = Request("sqs:SendMessage", arn, "events.amazonaws.com", context)
        assert (evaluate(call, resource_policy=d.queue_policy(arn)) == ALLOW) is expected, queue


# ------------------------------------------------------------------ end to end on moto
def run_automation(content: dict, parameters: dict, role: dict, role_arn: str, resource: str, tags: dict,
                   client) -> None:
    """What SSM Automation does with the document (Systems Manager guide, aws:executeAwsApi): each
    step's {{ parameters }} substituted, then the step's API called with the automation role, whose
    permission the IAM evaluator decides (with both SCPs) before moto runs the call."""
    for step in content["mainSteps"]:
        assert step["action"] == "aws:executeAwsApi"
        inputs = {k: v for k, v in step["inputs"].items()}
        for name, values in parameters.items():
            inputs = {k: v.replace("{{ %s }}" % name, values[0]) if isinstance(v, str) else v for k, v in inputs.items()}
        service, api = inputs.pop("Service"), inputs.pop("Api")
        context = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        context[f"aws:PrincipalTag/{PROTECTED_TAG_KEY}"] = "true"
        decision = evaluate(Request(f"{service}:{api}", resource, role_arn, context),
                            identity_policies=[p["PolicyDocument"] for p in role["Policies"]], scps=SCPS)
        if decision != ALLOW:
            raise PermissionError(f"{service}:{api} denied on {resource}")
        method = "".join("_" + c.lower() if c.isupper() else c for c in api).lstrip("_")
        if service == "kms" and inputs.get("KeyId", "").startswith("arn:"):
            # KMS takes a key ID or key ARN (CancelKeyDeletion API reference); moto only the ID.
            inputs["KeyId"] = inputs["KeyId"].rsplit("/", 1)[-1]
        getattr(client(service), method)(**inputs)


@pytest.mark.parametrize("mode", ["All", "Tagged"])
@pytest.mark.parametrize("tagged", [True, False])
@pytest.mark.parametrize("service", ["kms", "secretsmanager"])
def test_a_use_cancels_the_deletion_end_to_end(workload, aws, mode, tagged, service) -> None:
    """A real use record of a moto key or secret matches the rule's pattern (moto's EventBridge
    matcher), its target's input names the resource, and the document's step, run with the
    automation role, cancels the key's deletion (the key stays Disabled) or restores the secret;
    with Tagged, only when its owners tagged it."""
    from moto.events.models import EventPattern

    d = deploy(workload, "123456789012", **EMAIL, AutoCancelOnUse=mode)  # moto's account
    owner = [{"TagKey" if service == "kms" else "Key": OWNER_TAG_KEY,
              "TagValue" if service == "kms" else "Value": OWNER_TAG_VALUE}] if tagged else []
    if service == "kms":
        kms = aws.client("kms")
        meta = kms.create_key(Tags=owner)["KeyMetadata"]
        kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
        resource, rule_id, document, detection = meta["Arn"], "KmsKeyAutoCancelRule", "KmsKeyAutoCancelDocument", \
            "KmsKeyPendingDeletionUse"
        record = copy.deepcopy(next(s.record for s in load_corpus() if s.expect == {detection}
                                    and (s.record.get("resources") or [{}])[0].get("ARN")))
        old = record["resources"][0]["ARN"]
        record = json.loads(json.dumps(record).replace(old, resource))
    else:
        secrets = aws.client("secretsmanager")
        resource = secrets.create_secret(Name="prod/db", SecretString="s", Tags=owner)["ARN"]
        secrets.delete_secret(SecretId=resource, RecoveryWindowInDays=7)
        rule_id, document, detection = "SecretAutoRestoreRule", "SecretAutoRestoreDocument", "SecretPendingDeletionUse"
        record = copy.deepcopy(next(s.record for s in load_corpus() if s.expect == {detection}))
        record["requestParameters"] = {"secretId": resource}
    event = cloudtrail_event(record)
    rule = d.stack.properties(rule_id)
    assert EventPattern.load(json.dumps(rule["EventPattern"])).matches_event(event)
    parameters = rendered_input(d, rule_id, record)
    content = d.stack.properties(document)["Content"]
    role = d.stack.properties("AutoCancelAutomationRole")
    role_arn = d.stack.physical["AutoCancelAutomationRole"]["Arn"]
    tags = {OWNER_TAG_KEY: OWNER_TAG_VALUE} if tagged else {}
    acts = mode == "All" or tagged
    try:
        run_automation(content, parameters, role, role_arn, resource, tags, aws.client)
    except PermissionError:
        assert not acts
    if service == "kms":
        assert aws.client("kms").describe_key(KeyId=resource)["KeyMetadata"]["KeyState"] == (
            "Disabled" if acts else "PendingDeletion")
    else:
        assert ("DeletedDate" in aws.client("secretsmanager").describe_secret(SecretId=resource)) is not acts


@pytest.mark.parametrize("rule_id", ["KmsKeyAutoCancelRule", "SecretAutoRestoreRule"])
def test_only_a_use_starts_a_cancel_never_a_management_call(workload, rule_id) -> None:
    """Every labelled record the use detection matches: the cancel starts for a use of the key or a
    read of the secret, never for a refused management call (TagResource, a second
    ScheduleKeyDeletion, PutSecretValue...), nor for ReEncrypt, whose pending key only its error
    message names. Matched with moto's implementation of EventBridge patterns."""
    from moto.events.models import EventPattern

    from detections.catalog import Service
    from detections.operations import TWO_KEY_USES, is_use

    d = deploy(workload, **EMAIL, AutoCancelOnUse="All")
    pattern = EventPattern.load(json.dumps(d.stack.properties(rule_id)["EventPattern"]))
    service = Service.KMS if rule_id.startswith("Kms") else Service.SECRETS_MANAGER
    detection = "KmsKeyPendingDeletionUse" if service is Service.KMS else "SecretPendingDeletionUse"
    records = [s.record for s in load_corpus() if detection in s.expect]
    names = {r["eventName"] for r in records}
    assert any(not is_use(service, n) for n in names) and any(is_use(service, n) for n in names)  # both kinds
    for record in records:
        expected = is_use(service, record["eventName"]) and record["eventName"] not in TWO_KEY_USES
        assert pattern.matches_event(cloudtrail_event(record)) is expected, record["eventName"]
