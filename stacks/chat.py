"""Composer of the chat template: the alert topic of a workload or collector stack, in a Slack or
Microsoft Teams channel through AWS Chatbot (Amazon Q Developer in chat applications).

A template of its own because the AWS::Chatbot resource types do not exist in the AWS GovCloud (US)
and China partitions: CloudFormation refuses a template that names an unknown type, even under a
false condition. The collector and the workload deploy in every partition; this template only where
Chatbot is offered (tests/stacks/test_distribution.py lints each template for the Regions it must
deploy in). It subscribes channels to an existing topic, in the same account.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Allow, PolicyDocument, Principal, Statement
from awacs.sts import AssumeRole
from troposphere import And, Equals, GetAtt, Not, Or, Parameter, Ref, Sub, Template
from troposphere import Condition as ConditionRef
from troposphere.chatbot import MicrosoftTeamsChannelConfiguration, SlackChannelConfiguration
from troposphere.iam import Role

from stacks.guardrails import protected_tags
from stacks.parameters import add_parameter, add_rule, add_string_parameter, empty_defaults_lint

DESCRIPTION = ("Deletion alarms chat: a deletion-alarms alert topic in a Slack or Microsoft Teams channel "
               "through AWS Chatbot (not offered in AWS GovCloud (US) or China).")
GROUP_TOPIC = "Alerts"
GROUP_SLACK = "Slack"
GROUP_TEAMS = "Microsoft Teams"
HAS_SLACK, HAS_TEAMS, HAS_CHAT = "HasSlackChannel", "HasTeamsChannel", "HasChatChannel"
TOPIC_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$"
# The Chatbot resource schema's pattern for TeamsChannelId, as a Java regex (hyphen last in a class).
TEAMS_CHANNEL_PATTERN = r"^$|^[A-Za-z0-9_=+/.,-]*%3[aA][A-Za-z0-9_=+/.,-]*%40[A-Za-z0-9_=+/.,-]*$"
# Chat users may read alerts, never act through the channel.
CHAT_GUARDRAIL = "arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"


@dataclass(frozen=True)
class ChatParameters:
    topic_arn: Parameter
    slack_workspace_id: Parameter
    slack_channel_id: Parameter
    teams_tenant_id: Parameter
    teams_team_id: Parameter
    teams_channel_id: Parameter


def add_chat_parameters(template: Template) -> ChatParameters:
    """The topic, and each channel's IDs (empty: no channel of that kind)."""
    topic = add_parameter(template, GROUP_TOPIC, "Alert topic ARN", Parameter(
        "AlertTopicArn", Type="String", AllowedPattern=TOPIC_ARN_PATTERN,
        Description="The AlertTopicArn output of the deletion-alarms workload or collector stack, in this account.",
        ConstraintDescription="must be an SNS topic ARN such as arn:aws:sns:us-east-1:111122223333:alerts"))
    slack_workspace = add_string_parameter(template, GROUP_SLACK, "Slack workspace ID", "SlackWorkspaceId",
                             "Slack workspace (team) ID authorized in the AWS Chatbot console, e.g. T0123ABCD.",
                             r"^$|^[0-9A-Z]{1,255}$", "must be empty or a Slack workspace ID")
    slack_channel = add_string_parameter(template, GROUP_SLACK, "Slack channel ID", "SlackChannelId",
                           "Slack channel ID, e.g. C0123ABCD (with SlackWorkspaceId).",
                           r"^$|^[A-Za-z0-9]{9,11}$", "must be empty or a Slack channel ID")
    tenant = add_string_parameter(template, GROUP_TEAMS, "Microsoft Teams tenant ID", "TeamsTenantId",
                    "Microsoft Teams tenant ID (a GUID), for a Teams channel.",
                    r"^$|^[0-9a-fA-F-]{36}$", "must be empty or a GUID")
    team = add_string_parameter(template, GROUP_TEAMS, "Microsoft Teams team ID", "TeamsTeamId",
                  "Team ID (a GUID) authorized in the AWS Chatbot console.",
                  r"^$|^[0-9a-fA-F-]{36}$", "must be empty or a GUID")
    # AWS Chatbot takes the channel ID URL-encoded (its resource schema's pattern requires %3a and %40).
    channel = add_string_parameter(template, GROUP_TEAMS, "Microsoft Teams channel ID", "TeamsChannelId",
                     "Teams channel ID, URL-encoded as AWS Chatbot takes it: 19%3a0123abcd%40thread.tacv2 "
                     "for 19:0123abcd@thread.tacv2 (: is %3a, @ is %40).",
                     TEAMS_CHANNEL_PATTERN, "must be empty or a URL-encoded Teams channel ID such as "
                     "19%3a0123abcd%40thread.tacv2")
    return ChatParameters(topic, slack_workspace, slack_channel, tenant, team, channel)


def add_chat_conditions(template: Template, p: ChatParameters) -> None:
    """A channel is created when its IDs are given; the IDs come together or not at all, and at
    least one channel is given (a chat stack with no channel deploys nothing, silently)."""
    def given(param: Parameter) -> Not:
        return Not(Equals(Ref(param), ""))

    template.add_condition(HAS_SLACK, given(p.slack_channel_id))
    template.add_condition(HAS_TEAMS, given(p.teams_channel_id))
    template.add_condition(HAS_CHAT, Or(ConditionRef(HAS_SLACK), ConditionRef(HAS_TEAMS)))
    add_rule(template, "SlackNeedsWorkspaceAndChannel", Or(given(p.slack_workspace_id), given(p.slack_channel_id)),
             And(given(p.slack_workspace_id), given(p.slack_channel_id)),
             "Give both SlackWorkspaceId and SlackChannelId, or neither.")
    add_rule(template, "TeamsNeedsTenantTeamAndChannel",
             Or(given(p.teams_tenant_id), given(p.teams_team_id), given(p.teams_channel_id)),
             And(given(p.teams_tenant_id), given(p.teams_team_id), given(p.teams_channel_id)),
             "Give TeamsTenantId, TeamsTeamId and TeamsChannelId together, or none of them.")
    add_rule(template, "ChatNeedsAChannel", None, Or(given(p.slack_channel_id), given(p.teams_channel_id)),
             "Give a Slack channel (SlackWorkspaceId, SlackChannelId) or a Teams channel (TeamsTenantId, "
             "TeamsTeamId, TeamsChannelId).")


def add_chat_channels(template: Template, p: ChatParameters) -> None:
    """AWS Chatbot channels for Slack and Teams, each only when given, that may read, never act."""
    role = template.add_resource(Role(
        "ChatChannelRole", Condition=HAS_CHAT,
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "chatbot.amazonaws.com"), Action=[AssumeRole])]),
        Tags=protected_tags()))
    common = dict(IamRoleArn=GetAtt(role, "Arn"), SnsTopicArns=[Ref(p.topic_arn)],
                  GuardrailPolicies=[Sub(CHAT_GUARDRAIL)], LoggingLevel="ERROR")
    template.add_resource(SlackChannelConfiguration(
        "SlackChannel", Condition=HAS_SLACK, ConfigurationName=Sub("${AWS::StackName}-slack"),
        SlackWorkspaceId=Ref(p.slack_workspace_id), SlackChannelId=Ref(p.slack_channel_id), **common))
    template.add_resource(MicrosoftTeamsChannelConfiguration(
        "TeamsChannel", Condition=HAS_TEAMS, ConfigurationName=Sub("${AWS::StackName}-teams"),
        TeamsTenantId=Ref(p.teams_tenant_id), TeamId=Ref(p.teams_team_id),
        TeamsChannelId=Ref(p.teams_channel_id), **common))


def make_chat_template() -> Template:
    """Build the chat template, step by step."""
    template = Template(Description=DESCRIPTION)
    template.set_version("2010-09-09")
    template.set_metadata(empty_defaults_lint())
    params = add_chat_parameters(template)
    add_chat_conditions(template, params)
    add_chat_channels(template, params)
    return template
