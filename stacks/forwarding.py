"""Organization mode, member side: the role with which the workload's rules put their events on the
collector's event bus, in another account and maybe another Region.

EventBridge sends to an event bus of another account with an execution role of the sender's account
(EventBridge user guide, sending and receiving events between accounts:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html, and cross-Region:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-region.html). The role may only
``events:PutEvents`` on that one bus; it is the workload's only IAM resource and exists only when
forwarding. Its trust policy admits EventBridge acting for this account alone (aws:SourceAccount,
the confused-deputy guidance:
https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html).
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import events as events_actions
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import AccountId, Ref, Template
from troposphere.iam import Policy, Role

from stacks.guardrails import protected_tags
from stacks.parameters import FORWARD_TO_COLLECTOR, ParameterRefs

FORWARDING_ROLE = "CollectorForwardingRole"


@dataclass(frozen=True)
class ForwardingRefs:
    """What the rules need to forward: the collector bus and the role that may put events on it."""

    role: Role
    bus_arn: Ref


def make_forwarding_policy(bus_arn: object) -> PolicyDocument:
    return PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Sid="PutEventsOnTheCollectorBusOnly", Effect=Allow, Action=[events_actions.PutEvents],
        Resource=[bus_arn])])


def add_forwarding_role(template: Template, params: ParameterRefs) -> ForwardingRefs:
    """Add the execution role of the forwarding rules (when CollectorEventBusArn is given)."""
    assert params.collector_event_bus_arn is not None
    bus_arn = Ref(params.collector_event_bus_arn)
    role = template.add_resource(Role(
        FORWARDING_ROLE,
        Condition=FORWARD_TO_COLLECTOR,
        # No RoleName (IAM names are global: a StackSet deploys one per Region) and no path: the
        # guardrail SCP exempts roles under /deletion-alarms/, and this one must not be exempt.
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "events.amazonaws.com"), Action=[AssumeRole],
            Condition=Condition(StringEquals("aws:SourceAccount", AccountId)))]),
        Policies=[Policy(PolicyName="put-events-on-the-collector-bus",
                         PolicyDocument=make_forwarding_policy(bus_arn))],
        Tags=protected_tags(),
    ))
    return ForwardingRefs(role, bus_arn)
