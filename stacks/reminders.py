"""The daily reminder (``ReminderDays``, default 7,3,1; ``none`` turns it off).

No managed check says how many days a key or secret has left, nor covers secrets (Security Hub
KMS.3 and the AWS Config rule kms-cmk-not-scheduled-for-deletion flag keys only, without dates), so
the notifier does it: a scheduled rule puts one ``DeletionReminder`` entry a day in the alert queue,
on the same durable path as the alerts (retries, dead-letter queue, its alarm), and the function
lists what is pending deletion in its account and Region (functions/notifier.py, ``check``).

What the check reads, and nothing else: kms ListKeys, ListAliases, DescribeKey; secretsmanager
ListSecrets (names and dates, never a value); cloudtrail LookupEvents (who scheduled each deletion,
and a secret's exact deletion date). ``READ_ACTIONS`` is what a test records the check calling.
"""

from __future__ import annotations

from awacs.aws import Action, Allow, PolicyDocument, Statement
from troposphere import GetAtt, If, NoValue, Ref, Sub, Template
from troposphere.events import DeadLetterConfig, InputTransformer, Rule, Target
from troposphere.iam import Policy

from detections.messages import REMINDER, queue_entry
from stacks.guardrails import protected_tags
from stacks.notifier import NotifierRefs
from stacks.parameters import SEND_REMINDERS, ParameterRefs
from stacks.rules import RuleRefs

# The check's calls. None of the List calls and LookupEvents takes a resource (Service Authorization
# Reference: no resource types for these actions); DescribeKey takes the key.
LIST_ACTIONS = ("kms:ListKeys", "kms:ListAliases", "secretsmanager:ListSecrets", "cloudtrail:LookupEvents")
KEY_ACTIONS = ("kms:DescribeKey",)
READ_ACTIONS = LIST_ACTIONS + KEY_ACTIONS


def _actions(names: tuple[str, ...]) -> list[Action]:
    return [Action(*name.split(":")) for name in names]


def reminder_policy() -> If:
    """The notifier role's read-only permissions for the check, where it runs (an inline policy of
    the role, which the guardrails already protect)."""
    return If(SEND_REMINDERS, Policy(PolicyName="daily-reminder", PolicyDocument=PolicyDocument(
        Version="2012-10-17", Statement=[
            Statement(Sid="ListWhatIsPendingDeletion", Effect=Allow, Action=_actions(LIST_ACTIONS), Resource=["*"]),
            Statement(Sid="DescribeTheKeys", Effect=Allow, Action=_actions(KEY_ACTIONS),
                      Resource=[Sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*")]),
        ])), NoValue)


def add_reminders(template: Template, params: ParameterRefs, rules: RuleRefs, notifier: NotifierRefs) -> Rule:
    """The rule that starts the check daily, admitted to the alert queue, and the notifier role's
    permissions for the check."""
    notifier.role.Policies.append(reminder_policy())
    rule = template.add_resource(Rule(
        "DeletionReminderRule",
        Condition=SEND_REMINDERS,
        Description="Daily: remind about keys and secrets whose deletion is near (the deletion-alarms notifier)",
        ScheduleExpression=Sub("cron(0 ${Hour} * * ? *)", Hour=Ref(params.reminder_hour_utc)),
        State="ENABLED",
        Tags=protected_tags(),
        Targets=[Target(
            Id="AlertEventQueue",
            Arn=GetAtt(rules.event_queue, "Arn"),
            InputTransformer=InputTransformer(**queue_entry(REMINDER)),
            RetryPolicy=rules.retry_policy(),
            DeadLetterConfig=DeadLetterConfig(Arn=GetAtt(rules.dead_letter, "Arn")),
        )],
    ))
    rules.admit_to_queue(rule)
    return rule
