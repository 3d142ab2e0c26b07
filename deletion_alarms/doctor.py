"""Check an account and Region before (and after) deployment: would the detections see anything?

Each check returns a Finding with what is wrong and the fix. Takes boto3 clients, so tests hand in
clients for a moto server.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from deletion_alarms.awsclient import aws_errors, describe_stack
from deletion_alarms.words import plural
from detections.catalog import metric_alarm_detections

# Every call the doctor makes, as IAM actions: the read-only permissions it needs (README; a test
# records the calls of a full run and compares).
PERMISSIONS = (
    "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors",
    "logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:DescribeMetricFilters",
    "cloudformation:DescribeStacks", "cloudformation:DescribeStackResources", "sns:ListSubscriptionsByTopic",
    "events:DescribeEventBus",
)
CHAT_TYPES = ("AWS::Chatbot::SlackChannelConfiguration", "AWS::Chatbot::MicrosoftTeamsChannelConfiguration")
METRIC_FILTER_QUOTA = 100  # per log group
STALE_AFTER_SECONDS = 3600  # CloudTrail delivers to CloudWatch Logs within minutes


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "warning", "problem"
    check: str
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"[{self.level.upper():<7}] {self.check}: {self.detail}"
        return text + (f"\n          fix: {self.fix}" if self.fix else "")


def _selector_coverage(selectors: dict[str, Any]) -> tuple[bool, bool]:
    """(logs read management events, logs KMS events) for one trail's event selectors."""
    if not selectors.get("EventSelectors") and not selectors.get("AdvancedEventSelectors"):
        return True, True  # no selector at all: CloudTrail's default, every management event
    reads = kms = False
    for s in selectors.get("EventSelectors") or []:
        if s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") in ("All", "ReadOnly"):
            reads = True
            if "kms.amazonaws.com" not in s.get("ExcludeManagementEventSources", []):
                kms = True
    for s in selectors.get("AdvancedEventSelectors") or []:
        fields = {f["Field"]: f for f in s.get("FieldSelectors", [])}
        if fields.get("eventCategory", {}).get("Equals") != ["Management"]:
            continue
        read_only = fields.get("readOnly", {})
        if read_only.get("Equals") in (None, ["true"]) and read_only.get("NotEquals") != ["true"]:
            reads = True
            source = fields.get("eventSource", {})
            if "kms.amazonaws.com" not in source.get("NotEquals", []) and (
                    "Equals" not in source or "kms.amazonaws.com" in source["Equals"]):
                kms = True
    return reads, kms


def check_trails(cloudtrail_in: Callable[[str], Any], region: str) -> tuple[list[Finding], list[dict]]:
    """Trails that log in this Region, and whether they log read and KMS management events.
    ``cloudtrail_in(region)`` gives a CloudTrail client there: a trail's status and selectors
    are read in its home Region."""
    findings = []
    with aws_errors("CloudTrail"):
        trails = cloudtrail_in(region).describe_trails(includeShadowTrails=True)["trailList"]
        logging = [t for t in trails
                   if (t.get("IsMultiRegionTrail") or t.get("HomeRegion") == region)
                   and cloudtrail_in(t["HomeRegion"]).get_trail_status(Name=t["TrailARN"]).get("IsLogging")]
        if not logging:
            return [Finding("problem", "logging trail", f"no trail is logging in {region}",
                            "create a multi-Region trail and start it: aws cloudtrail create-trail --name "
                            "management-events --s3-bucket-name BUCKET --is-multi-region-trail && "
                            "aws cloudtrail start-logging --name management-events")], []
        names = ", ".join(t["Name"] for t in logging)
        findings.append(Finding("ok", "logging trail", f"{names} logging in {region}"))
        coverage = [_selector_coverage(cloudtrail_in(t["HomeRegion"]).get_event_selectors(TrailName=t["TrailARN"]))
                    for t in logging]
    if not any(reads for reads, _ in coverage):
        findings.append(Finding(
            "problem", "read management events", f"no logging trail records Read management events ({names})",
            "Decrypt and GetSecretValue are read events: set ReadWriteType All on a trail's management "
            "events (aws cloudtrail put-event-selectors ... ReadWriteType=All)"))
    elif not any(kms for _, kms in coverage):
        findings.append(Finding(
            "problem", "KMS events", f"every logging trail excludes KMS management events ({names})",
            "remove kms.amazonaws.com from ExcludeManagementEventSources (or from an eventSource "
            "NotEquals of an advanced selector), or the KMS use detection never fires"))
    else:
        findings.append(Finding("ok", "management events", "read and KMS management events are logged"))
    return findings, logging


def check_log_group(logs: Any, trails: list[dict], region: str, log_group: str | None,
                    now: float | None = None) -> list[Finding]:
    """For the metric-filter engine: the trail's log group, its Region, its freshness and quota."""
    delivering = [t for t in trails if t.get("CloudWatchLogsLogGroupArn")]
    if not delivering:
        return [Finding("problem", "log group", "no logging trail delivers to CloudWatch Logs",
                        "configure the trail's CloudWatch Logs delivery, or use DetectionEngine EventBridge")]
    trail = delivering[0]
    arn = trail["CloudWatchLogsLogGroupArn"]
    trail_group, trail_region = arn.split(":log-group:")[1].removesuffix(":*"), arn.split(":")[3]
    findings = []
    if trail_region != region:
        return [Finding("problem", "log group Region",
                        f"trail {trail['Name']} delivers to {trail_group} in {trail_region}, not {region}",
                        f"deploy the metric-filter engine in {trail_region}, or use DetectionEngine "
                        "EventBridge here")]
    if log_group and log_group != trail_group:
        findings.append(Finding("problem", "log group name",
                                f"{log_group} is not the log group trail {trail['Name']} delivers to: {trail_group}",
                                f"use CloudTrailLogGroupName={trail_group} (Control Tower landing zone 4.0 "
                                "adds a random suffix to its name)"))
    name = log_group or trail_group
    with aws_errors("CloudWatch Logs"):
        groups = [g for g in logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
                  if g["logGroupName"] == name]
        if not groups:
            return findings + [Finding("problem", "log group", f"log group {name} does not exist in {region}",
                                       f"use CloudTrailLogGroupName={trail_group}")]
        findings.append(Finding("ok", "log group", f"{name} receives trail {trail['Name']}"))
        streams = logs.describe_log_streams(logGroupName=name, orderBy="LastEventTime", descending=True,
                                            limit=1).get("logStreams", [])
        last = max((s.get("lastEventTimestamp") or s.get("lastIngestionTime") or 0 for s in streams), default=0)
        age = (now or time.time()) - last / 1000
        if not last or age > STALE_AFTER_SECONDS:
            findings.append(Finding("warning", "records arriving",
                                    f"no record reached {name} in the last hour" if last else f"{name} has no records",
                                    "check the trail's CloudWatch Logs role and delivery status "
                                    "(aws cloudtrail get-trail-status)"))
        else:
            findings.append(Finding("ok", "records arriving", f"last record {int(age)} s ago"))
        filters = []
        for page in logs.get_paginator("describe_metric_filters").paginate(logGroupName=name):
            filters += page.get("metricFilters", [])
    needed = len(metric_alarm_detections())
    room = METRIC_FILTER_QUOTA - len(filters)
    if room < needed:
        findings.append(Finding("problem", "metric filter quota",
                                f"{name} has {len(filters)} of {METRIC_FILTER_QUOTA} metric filters; this "
                                f"stack adds up to {needed}",
                                "remove unused metric filters, or use DetectionEngine EventBridge"))
    else:
        findings.append(Finding("ok", "metric filter quota", f"{len(filters)} of {METRIC_FILTER_QUOTA} used, "
                                f"room for {room} (this stack adds up to {needed})"))
    return findings


def _output(stack: dict, key: str) -> str | None:
    return next((o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == key), None)


def check_subscriptions(cfn: Any, sns: Any, stack_name: str) -> list[Finding]:
    """On a deployed stack: is the alert topic's email subscription confirmed, or is there a chat
    channel? A workload that forwards to a collector has no topic: say where its alerts go."""
    stack = describe_stack(cfn, stack_name)
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    if parameters.get("CollectorEventBusArn"):
        return [Finding("ok", "forwarding", f"events go to the collector bus {parameters['CollectorEventBusArn']}",
                        "check its delivery there: deletion-alarms doctor --collector-stack NAME, in the "
                        "collector's account and Region")]
    topic = _output(stack, "AlertTopicArn")
    if not topic:
        return [Finding("problem", "alert topic", f"stack {stack_name} has no AlertTopicArn output",
                        "is it a deletion-alarms stack?")]
    stack_region = stack.get("StackId", "").split(":")[3] if stack.get("StackId", "").count(":") > 3 else ""
    topic_region = topic.split(":")[3] if topic.count(":") > 3 else ""
    if stack_region and topic_region and topic_region != stack_region:
        return [Finding("problem", "alert topic", f"{topic} is in {topic_region}, the stack in {stack_region}: "
                        "alarms notify only a topic of their own Region, so nothing is delivered",
                        "give ExistingTopicArn a topic of this Region")]
    with aws_errors(f"stack {stack_name}"):
        subs = sns.list_subscriptions_by_topic(TopicArn=topic).get("Subscriptions", [])
        resources = cfn.describe_stack_resources(StackName=stack_name).get("StackResources", [])
    chats = [r["LogicalResourceId"] for r in resources if r["ResourceType"] in CHAT_TYPES]
    findings = [Finding("ok", "chat channel", f"{c} receives the alerts") for c in chats]
    pending = [s["Endpoint"] for s in subs if s["SubscriptionArn"] == "PendingConfirmation"]
    if pending:
        return findings + [Finding("problem", "subscription", f"not confirmed: {', '.join(pending)}",
                                   "open the 'AWS Notification - Subscription Confirmation' email and confirm; "
                                   "nothing is delivered to it before that")]
    if not subs and not chats:
        return [Finding("warning", "subscription", f"{topic} has no subscriber", "subscribe the team to it")]
    return findings + ([Finding("ok", "subscription", f"{plural(len(subs), 'confirmed subscriber')} on {topic}")]
                       if subs else [])


def check_collector(cfn: Any, events: Any, sns: Any, stack_name: str) -> list[Finding]:
    """On a deployed collector: its bus exists, admits the organization's PutEvents, and its topic
    reaches someone."""
    stack = describe_stack(cfn, stack_name)
    bus_arn = _output(stack, "EventBusArn")
    if not bus_arn:
        return [Finding("problem", "collector bus", f"stack {stack_name} has no EventBusArn output",
                        "is it a deletion-alarms collector stack?")]
    name = bus_arn.split("event-bus/", 1)[1]
    with aws_errors(f"event bus {name}"):
        bus = events.describe_event_bus(Name=name)
    statements = json.loads(bus.get("Policy") or '{"Statement": []}')["Statement"]
    admits = [s for s in statements if s.get("Effect") == "Allow" and "events:PutEvents" in json.dumps(s.get("Action"))
              and "aws:PrincipalOrgID" in json.dumps(s.get("Condition", {}))]
    if admits:
        org = json.dumps(admits[0]["Condition"]).split('"aws:PrincipalOrgID": ')[1].split('"')[1]
        finding = Finding("ok", "collector bus", f"{bus_arn} admits PutEvents from organization {org}")
    else:
        finding = Finding("problem", "collector bus", f"{bus_arn} admits no PutEvents from the organization",
                          "update the collector stack: its bus policy is missing")
    return [finding] + check_subscriptions(cfn, sns, stack_name)


def diagnose(clients: dict[str, Any], region: str, engine: str, log_group: str | None = None,
             stack_name: str | None = None, now: float | None = None,
             collector_stack: str | None = None) -> list[Finding]:
    """Every check that applies to ``engine`` (EventBridge, CloudWatchLogs or Both). ``clients``:
    "cloudtrail_in" (a function of a Region), "logs", "cloudformation", "sns", "events"."""
    if collector_stack:  # the collector's account: its bus and its delivery, not a trail
        return check_collector(clients["cloudformation"], clients["events"], clients["sns"], collector_stack)
    findings, trails = check_trails(clients["cloudtrail_in"], region)
    if engine in ("CloudWatchLogs", "Both") and trails:
        findings += check_log_group(clients["logs"], trails, region, log_group, now)
    if stack_name:
        findings += check_subscriptions(clients["cloudformation"], clients["sns"], stack_name)
    return findings
