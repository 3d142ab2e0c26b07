"""Composer of the collector template: one alert stream for a whole organization.

Deployed once, in a security or audit account and one Region. Workload stacks in forwarding mode put
their CloudTrail events on its custom event bus, whose resource policy admits PutEvents from the
organization only (aws:PrincipalOrgID; EventBridge user guide, event bus permissions:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html). On that bus the
same rules, queue, alarms and topic as the workload's deliver burst-safe alerts; each queued entry
names the source account and Region. The topic reaches email and, optionally, an HTTPS endpoint such
as PagerDuty or Opsgenie; a Slack or Teams channel is the chat template's (stacks/chat.py), so that
this template deploys in every partition.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import events as events_actions
from awacs.aws import Allow, Condition, Principal, Statement, StringEquals
from troposphere import Equals, GetAtt, If, Not, Output, Parameter, Ref, Sub, Template, encode_to_dict
from troposphere.events import EventBus
from troposphere.sns import SubscriptionResource

from detections.catalog import DETECTIONS
from stacks.encryption import add_topic_key
from stacks.guardrails import protected_tags
from stacks.notifications import NotificationRefs, add_notifications, add_topic_policy
from stacks.parameters import (
    add_conditions, add_parameter, add_parameters, add_string_parameter, empty_defaults_lint,
)
from stacks.notifier import add_notifier
from stacks.rules import EventBusRefs, add_event_rules

DESCRIPTION = (
    "Deletion alarms collector: one alert stream for an organization. Workload stacks forward "
    "KMS key and secret deletion events to this event bus; alerts go to email and HTTPS (chat: the chat template)."
)
GROUP_COLLECTOR = "Organization"
GROUP_PAGING = "Paging (optional)"
HAS_HTTPS = "HasHttpsEndpoint"
HAS_ORGANIZATION = "HasOrganization"


@dataclass(frozen=True)
class CollectorParameters:
    organization_id: Parameter
    event_bus_name: Parameter
    https_endpoint: Parameter


def add_collector_parameters(template: Template) -> CollectorParameters:
    """The parameters only the collector has."""
    org = add_parameter(template, GROUP_COLLECTOR, "Organization ID", Parameter(
        "OrganizationId", Type="String", AllowedPattern=r"^$|^o-[a-z0-9]{10,32}$", Default="",
        Description=("The AWS Organizations ID (o-...) whose accounts may put events on the bus. Empty: "
                     "only this account, whose other Regions forward here (one account, one paying Region)."),
        ConstraintDescription="must be empty or an organization ID such as o-a1b2c3d4e5"))
    name = add_string_parameter(template, GROUP_COLLECTOR, "Event bus name", "EventBusName",
                  "Name of the collector's event bus; workload stacks take its ARN in CollectorEventBusArn.",
                  r"^[A-Za-z0-9._-]{1,256}$", "1 to 256 characters: letters, digits . _ -", "deletion-alarms-collector")
    https = add_string_parameter(template, GROUP_PAGING, "HTTPS endpoint (PagerDuty, Opsgenie)", "HttpsEndpoint",
                   "An https URL that receives the alerts (SNS notifications), e.g. a PagerDuty "
                   "integration URL. It must confirm the SNS subscription.",
                   r"^$|^https://[^\s]{1,2040}$", "must be empty or an https URL")
    return CollectorParameters(org, name, https)


def add_collector_conditions(template: Template, p: CollectorParameters) -> None:
    def given(param: Parameter) -> Not:
        return Not(Equals(Ref(param), ""))

    template.add_condition(HAS_HTTPS, given(p.https_endpoint))
    template.add_condition(HAS_ORGANIZATION, given(p.organization_id))


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


def add_paging(template: Template, p: CollectorParameters, notifications: NotificationRefs) -> None:
    """An HTTPS subscription (PagerDuty, Opsgenie), only when given."""
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
    add_paging(template, collector, notifications)
    add_topic_policy(template, notifications)
    template.add_output(Output("EventBusArn", Description="CollectorEventBusArn for the workload stacks",
                               Value=GetAtt(bus.bus, "Arn")))
    template.add_output(Output("AlertTopicArn", Description="ARN of the SNS topic that receives every alert",
                               Value=notifications.topic_arn))
    return template

