"""Composer of the collector template: one alert stream for a whole organization.

Deployed once, in a security or audit account and one Region. Workload stacks in forwarding mode put
their CloudTrail events on its custom event bus, whose resource policy admits PutEvents from the
organization only (aws:PrincipalOrgID; EventBridge user guide, event bus permissions:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html). On that bus the
same rules, queue, alarms and topic as the workload's deliver burst-safe alerts; each queued entry
names the source account and Region. The topic reaches email and, optionally, a Slack channel or a
Microsoft Teams channel through AWS Chatbot (Amazon Q Developer in chat applications) and an HTTPS
endpoint such as PagerDuty or Opsgenie.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import events as events_actions
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import And, Equals, GetAtt, If, Not, Or, Output, Parameter, Ref, Sub, Template, encode_to_dict
from troposphere import Condition as ConditionRef
from troposphere.chatbot import MicrosoftTeamsChannelConfiguration, SlackChannelConfiguration
from troposphere.events import EventBus
from troposphere.iam import Role
from troposphere.sns import SubscriptionResource

from detections.catalog import DETECTIONS
from stacks.encryption import add_topic_key
from stacks.guardrails import protected_tags
from stacks.notifications import NotificationRefs, add_notifications, add_topic_policy
from stacks.parameters import add_conditions, add_parameter, add_parameters, add_rule, empty_defaults_lint
from stacks.notifier import add_notifier
from stacks.rules import EventBusRefs, add_event_rules

DESCRIPTION = (
    "Deletion alarms collector: one alert stream for an organization. Workload stacks forward "
    "KMS key and secret deletion events to this event bus; alerts go to email, chat and HTTPS."
)
GROUP_COLLECTOR = "Organization"
GROUP_CHAT = "Chat and paging (optional)"
HAS_SLACK, HAS_TEAMS, HAS_CHAT, HAS_HTTPS = "HasSlackChannel", "HasTeamsChannel", "HasChatChannel", "HasHttpsEndpoint"
HAS_ORGANIZATION = "HasOrganization"
# The Chatbot resource schema's pattern for TeamsChannelId, as a Java regex (hyphen last in a class).
TEAMS_CHANNEL_PATTERN = r"^$|^[A-Za-z0-9_=+/.,-]*%3[aA][A-Za-z0-9_=+/.,-]*%40[A-Za-z0-9_=+/.,-]*$"
# Chat users may read alerts, never act through the channel.
CHAT_GUARDRAIL = "arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"


@dataclass(frozen=True)
class CollectorParameters:
    organization_id: Parameter
    event_bus_name: Parameter
    slack_workspace_id: Parameter
    slack_channel_id: Parameter
    teams_tenant_id: Parameter
    teams_team_id: Parameter
    teams_channel_id: Parameter
    https_endpoint: Parameter


def _param(template: Template, group: str, label: str, name: str, description: str, pattern: str,
           constraint: str, default: str = "") -> Parameter:
    return add_parameter(template, group, label, Parameter(
        name, Type="String", Description=description, AllowedPattern=pattern, Default=default,
        ConstraintDescription=constraint))


def add_collector_parameters(template: Template) -> CollectorParameters:
    """The parameters only the collector has."""
    org = add_parameter(template, GROUP_COLLECTOR, "Organization ID", Parameter(
        "OrganizationId", Type="String", AllowedPattern=r"^$|^o-[a-z0-9]{10,32}$", Default="",
        Description=("The AWS Organizations ID (o-...) whose accounts may put events on the bus. Empty: "
                     "only this account, whose other Regions forward here (one account, one paying Region)."),
        ConstraintDescription="must be empty or an organization ID such as o-a1b2c3d4e5"))
    name = _param(template, GROUP_COLLECTOR, "Event bus name", "EventBusName",
                  "Name of the collector's event bus; workload stacks take its ARN in CollectorEventBusArn.",
                  r"^[A-Za-z0-9._-]{1,256}$", "1 to 256 characters: letters, digits . _ -", "deletion-alarms-collector")
    slack_workspace = _param(template, GROUP_CHAT, "Slack workspace ID", "SlackWorkspaceId",
                             "Slack workspace (team) ID authorized in the AWS Chatbot console, e.g. T0123ABCD.",
                             r"^$|^[0-9A-Z]{1,255}$", "must be empty or a Slack workspace ID")
    slack_channel = _param(template, GROUP_CHAT, "Slack channel ID", "SlackChannelId",
                           "Slack channel ID, e.g. C0123ABCD (with SlackWorkspaceId).",
                           r"^$|^[A-Za-z0-9]{9,11}$", "must be empty or a Slack channel ID")
    tenant = _param(template, GROUP_CHAT, "Microsoft Teams tenant ID", "TeamsTenantId",
                    "Microsoft Teams tenant ID (a GUID), for a Teams channel.",
                    r"^$|^[0-9a-fA-F-]{36}$", "must be empty or a GUID")
    team = _param(template, GROUP_CHAT, "Microsoft Teams team ID", "TeamsTeamId",
                  "Team ID (a GUID) authorized in the AWS Chatbot console.",
                  r"^$|^[0-9a-fA-F-]{36}$", "must be empty or a GUID")
    # AWS Chatbot takes the channel ID URL-encoded (its resource schema's pattern requires %3a and %40).
    channel = _param(template, GROUP_CHAT, "Microsoft Teams channel ID", "TeamsChannelId",
                     "Teams channel ID, URL-encoded as AWS Chatbot takes it: 19%3a0123abcd%40thread.tacv2 "
                     "for 19:0123abcd@thread.tacv2 (: is %3a, @ is %40).",
                     TEAMS_CHANNEL_PATTERN, "must be empty or a URL-encoded Teams channel ID such as "
                     "19%3a0123abcd%40thread.tacv2")
    https = _param(template, GROUP_CHAT, "HTTPS endpoint (PagerDuty, Opsgenie)", "HttpsEndpoint",
                   "An https URL that receives the alerts (SNS notifications), e.g. a PagerDuty "
                   "integration URL. It must confirm the SNS subscription.",
                   r"^$|^https://[^\s]{1,2040}$", "must be empty or an https URL")
    return CollectorParameters(org, name, slack_workspace, slack_channel, tenant, team, channel, https)


def add_collector_conditions(template: Template, p: CollectorParameters) -> None:
    def given(param: Parameter) -> Not:
        return Not(Equals(Ref(param), ""))

    template.add_condition(HAS_SLACK, given(p.slack_channel_id))
    template.add_condition(HAS_TEAMS, given(p.teams_channel_id))
    template.add_condition(HAS_CHAT, Or(ConditionRef(HAS_SLACK), ConditionRef(HAS_TEAMS)))
    template.add_condition(HAS_HTTPS, given(p.https_endpoint))
    template.add_condition(HAS_ORGANIZATION, given(p.organization_id))
    add_rule(template, "SlackNeedsWorkspaceAndChannel", Or(given(p.slack_workspace_id), given(p.slack_channel_id)),
          And(given(p.slack_workspace_id), given(p.slack_channel_id)),
          "Give both SlackWorkspaceId and SlackChannelId, or neither.")
    add_rule(template, "TeamsNeedsTenantTeamAndChannel",
          Or(given(p.teams_tenant_id), given(p.teams_team_id), given(p.teams_channel_id)),
          And(given(p.teams_tenant_id), given(p.teams_team_id), given(p.teams_channel_id)),
          "Give TeamsTenantId, TeamsTeamId and TeamsChannelId together, or none of them.")


def make_event_bus_policy(org: Parameter) -> dict:
    """Only accounts of the organization may put events on the bus; without an organization, only
    this account. Within one account the forwarding role's own policy suffices (EventBridge user
    guide, eb-bus-to-bus: the sender's role or the receiver's policy); the statement for the
    account keeps cross-Region forwarding working if the bus policy is needed too (UNCONFIRMED)."""
    bus = Sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}")
    organization = Statement(
        Sid="AllowTheOrganizationToPutEvents", Effect=Allow, Principal=Principal("*"),
        Action=[events_actions.PutEvents], Resource=[bus],
        Condition=Condition(StringEquals("aws:PrincipalOrgID", Ref(org))))
    account = Statement(
        Sid="AllowThisAccountToPutEvents", Effect=Allow,
        Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
        Action=[events_actions.PutEvents], Resource=[bus])
    return {"Version": "2012-10-17", "Statement": [
        If(HAS_ORGANIZATION, encode_to_dict(organization), encode_to_dict(account))]}


def add_event_bus(template: Template, p: CollectorParameters) -> EventBusRefs:
    bus = template.add_resource(EventBus(
        "CollectorEventBus", Name=Ref(p.event_bus_name),
        Policy=make_event_bus_policy(p.organization_id),
        Tags=protected_tags()))
    return EventBusRefs(bus, Ref(bus))


def add_chat_and_paging(template: Template, p: CollectorParameters, notifications: NotificationRefs) -> None:
    """AWS Chatbot channels for Slack and Teams, and an HTTPS subscription, each only when given."""
    role = template.add_resource(Role(
        "ChatChannelRole", Condition=HAS_CHAT,
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "chatbot.amazonaws.com"), Action=[AssumeRole])]),
        Tags=protected_tags()))
    common = dict(IamRoleArn=GetAtt(role, "Arn"), SnsTopicArns=[notifications.topic_arn],
                  GuardrailPolicies=[Sub(CHAT_GUARDRAIL)], LoggingLevel="ERROR")
    template.add_resource(SlackChannelConfiguration(
        "SlackChannel", Condition=HAS_SLACK, ConfigurationName=Sub("${AWS::StackName}-slack"),
        SlackWorkspaceId=Ref(p.slack_workspace_id), SlackChannelId=Ref(p.slack_channel_id), **common))
    template.add_resource(MicrosoftTeamsChannelConfiguration(
        "TeamsChannel", Condition=HAS_TEAMS, ConfigurationName=Sub("${AWS::StackName}-teams"),
        TeamsTenantId=Ref(p.teams_tenant_id), TeamId=Ref(p.teams_team_id),
        TeamsChannelId=Ref(p.teams_channel_id), **common))
    template.add_resource(SubscriptionResource(
        "AlertHttpsSubscription", Condition=HAS_HTTPS, TopicArn=notifications.topic_arn,
        Protocol="https", Endpoint=Ref(p.https_endpoint)))


def make_collector_template() -> Template:
    """Build the collector template, step by step."""
    template = Template(Description=DESCRIPTION)
    template.set_version("2010-09-09")
    template.set_metadata(empty_defaults_lint())
    params = add_parameters(template, collector=True)
    collector = add_collector_parameters(template)
    conditions = add_conditions(template, params, DETECTIONS)
    add_collector_conditions(template, collector)
    key = add_topic_key(template, params)
    notifications = add_notifications(template, params, key)
    bus = add_event_bus(template, collector)
    rules = add_event_rules(template, params, DETECTIONS, conditions, bus=bus)
    add_notifier(template, params, notifications, rules.event_queue, rules.dead_letter, conditions.event_queue)
    add_chat_and_paging(template, collector, notifications)
    add_topic_policy(template, notifications)
    template.add_output(Output("EventBusArn", Description="CollectorEventBusArn for the workload stacks",
                               Value=GetAtt(bus.bus, "Arn")))
    template.add_output(Output("AlertTopicArn", Description="ARN of the SNS topic that receives every alert",
                               Value=notifications.topic_arn))
    return template

