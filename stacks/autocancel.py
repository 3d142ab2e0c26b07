"""Opt-in automatic cancel on use (``AutoCancelOnUse``: Off, Tagged, All).

When a key pending deletion is used, an EventBridge rule on the use detection's own pattern, narrowed
to the operations that are a use (detections/operations.py), starts
an SSM Automation that cancels the deletion (the key stays Disabled until someone enables it); when
a secret scheduled for deletion is read, one that restores it. No code: two automation documents of
this template, each one aws:executeAwsApi step, run by a role that can do that one call and nothing
else (with Tagged, only on resources whose owners tagged them ``deletion-alarms:auto-cancel`` =
``true``). The AWS-owned runbook AWSConfigRemediation-CancelKeyDeletion wants the key ID, where the
event carries the key ARN (resources[0]); CancelKeyDeletion itself takes either, so the template's
own document does it.

EventBridge starts an automation with a role of its own (ssm:StartAutomationExecution on the
definition, iam:PassRole of the automation role to SSM): Systems Manager user guide,
"Run automations based on EventBridge events" (automation-cwe-target).
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import iam as iam_actions
from awacs import ssm as ssm_actions
from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import GetAtt, If, NoValue, Ref, Sub, Template
from troposphere.events import DeadLetterConfig, InputTransformer, RetryPolicy, Rule, Target
from troposphere.iam import Policy, Role
from troposphere.ssm import Document

from detections.catalog import DETECTIONS, Detection, Kind, Service
from detections.eventpatterns import event_pattern
from detections.operations import TWO_KEY_USES, USES
from detections.patterns import parse
from stacks.guardrails import protected_tags
from stacks.parameters import AUTO_CANCEL_ANY, AUTO_CANCEL_TAGGED, auto_cancel_condition
from stacks.rules import RuleRefs, rule_state

OWNER_TAG_KEY = "deletion-alarms:auto-cancel"
OWNER_TAG_VALUE = "true"
# What each resource kind needs: the document's one call, and where the event names the resource.
ACTIONS = {
    Service.KMS: ("kms", "CancelKeyDeletion", "KeyId", "$.detail.resources[0].ARN",
                  "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"),
    Service.SECRETS_MANAGER: ("secretsmanager", "RestoreSecret", "SecretId", "$.detail.requestParameters.secretId",
                              "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"),
}
TITLES = {Service.KMS: "KmsKeyAutoCancel", Service.SECRETS_MANAGER: "SecretAutoRestore"}


@dataclass(frozen=True)
class AutoCancelRefs:
    documents: dict[Service, Document]
    automation_role: Role
    events_role: Role


def use_detection(service: Service) -> Detection:
    (detection,) = [d for d in DETECTIONS if d.kind is Kind.ACCESS and d.service is service]
    return detection


def use_pattern(service: Service) -> dict:
    """The use detection's own pattern, narrowed to the operations that use the key or read the
    secret (detections/operations.py): a management call refused on a pending key (a tag, a second
    ScheduleKeyDeletion) must not cancel the deletion. ReEncrypt is left out: its record lists two
    keys and only the refusal's message says which is pending, which no input transformer can read;
    its alert still goes out, and the person cancels."""
    detection = use_detection(service)
    pattern = event_pattern(parse(detection.filter_pattern), detection.service.event_source)
    pattern["detail"]["eventName"] = sorted(USES[service] - TWO_KEY_USES)
    return pattern


def make_document(service: Service) -> dict:
    """An automation document of one aws:executeAwsApi step."""
    api_service, api, parameter, _, _ = ACTIONS[service]
    return {
        "schemaVersion": "0.3",
        "description": f"deletion-alarms: {api} on the resource a use of it names (AutoCancelOnUse)",
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": {parameter: {"type": "String"}, "AutomationAssumeRole": {"type": "String"}},
        "mainSteps": [{"name": api, "action": "aws:executeAwsApi",
                       "inputs": {"Service": api_service, "Api": api, parameter: "{{ %s }}" % parameter}}],
    }


def definition_arn(document: Document, version: str = "$DEFAULT") -> Sub:
    return Sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:automation-definition/${Name}:" + version,
               Name=Ref(document))


def make_automation_policy() -> PolicyDocument:
    """Cancel and restore, nothing else; with Tagged, only where the owner's tag says so."""
    owner_tagged = If(AUTO_CANCEL_TAGGED, {"StringEquals": {f"aws:ResourceTag/{OWNER_TAG_KEY}": OWNER_TAG_VALUE}},
                      NoValue)
    statements = []
    for service in (Service.KMS, Service.SECRETS_MANAGER):
        api_service, api, _, _, resource = ACTIONS[service]
        statements.append(Statement(Sid=api, Effect=Allow, Action=[Action(api_service, api)],
                                    Resource=[Sub(resource)], Condition=owner_tagged))
    return PolicyDocument(Version="2012-10-17", Statement=statements)


def add_auto_cancel(template: Template, rules: RuleRefs) -> AutoCancelRefs:
    """The documents, the two roles and a rule per watched service, each under its condition; the
    rules' failed events go to the alerts' dead-letter queue, whose alarm tells a person."""
    any_condition = AUTO_CANCEL_ANY
    documents = {}
    for service in (Service.KMS, Service.SECRETS_MANAGER):
        documents[service] = template.add_resource(Document(
            f"{TITLES[service]}Document", Condition=auto_cancel_condition(service),
            DocumentType="Automation", Content=make_document(service), Tags=protected_tags()))
    automation = template.add_resource(Role(
        "AutoCancelAutomationRole", Condition=any_condition,
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "ssm.amazonaws.com"), Action=[AssumeRole])]),
        Policies=[Policy(PolicyName="cancel-and-restore", PolicyDocument=make_automation_policy())],
        Tags=protected_tags()))
    events = template.add_resource(Role(
        "AutoCancelEventsRole", Condition=any_condition,
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "events.amazonaws.com"), Action=[AssumeRole],
            Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))))]),
        Policies=[Policy(PolicyName="start-the-automations", PolicyDocument=PolicyDocument(
            Version="2012-10-17", Statement=[
                Statement(Sid="StartTheAutomations", Effect=Allow, Action=[ssm_actions.StartAutomationExecution],
                          Resource=[If(auto_cancel_condition(s), definition_arn(documents[s], "*"), NoValue)
                                    for s in documents]),
                Statement(Sid="PassTheAutomationRole", Effect=Allow, Action=[iam_actions.PassRole],
                          Resource=[GetAtt(automation, "Arn")],
                          Condition=Condition(StringEquals("iam:PassedToService", "ssm.amazonaws.com")))]))],
        Tags=protected_tags()))
    for service, document in documents.items():
        detection = use_detection(service)
        _, _, parameter, path, _ = ACTIONS[service]
        rule = template.add_resource(Rule(
            f"{TITLES[service]}Rule", Condition=auto_cancel_condition(service),
            Description=f"AutoCancelOnUse: {ACTIONS[service][1]} when {detection.name} fires on a use",
            EventPattern=use_pattern(service),
            State=rule_state(detection),
            Targets=[Target(
                Id="Automation", Arn=definition_arn(document), RoleArn=GetAtt(events, "Arn"),
                RetryPolicy=RetryPolicy(MaximumRetryAttempts=185, MaximumEventAgeInSeconds=86400),
                DeadLetterConfig=DeadLetterConfig(Arn=GetAtt(rules.dead_letter, "Arn")),
                InputTransformer=InputTransformer(
                    InputPathsMap={"resource": path},
                    InputTemplate=Sub('{"%s": ["<resource>"], "AutomationAssumeRole": ["${Role}"]}' % parameter,
                                      Role=GetAtt(automation, "Arn"))))],
            Tags=protected_tags(),
        ))
        rules.admit(rule)
    return AutoCancelRefs(documents, automation, events)
