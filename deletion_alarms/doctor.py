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
    "cloudformation:DescribeStacks", "sns:ListSubscriptionsByTopic",
    "events:DescribeEventBus",
)
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


# The management events the detections read, as a trail's selectors see them: a use (read) and a
# scheduling (write) of each service.
NEEDED_EVENTS = {
    "kms read": {"eventCategory": "Management", "eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
                 "readOnly": "true", "eventType": "AwsApiCall"},
    "kms write": {"eventCategory": "Management", "eventSource": "kms.amazonaws.com",
                  "eventName": "ScheduleKeyDeletion", "readOnly": "false", "eventType": "AwsApiCall"},
    "secretsmanager read": {"eventCategory": "Management", "eventSource": "secretsmanager.amazonaws.com",
                            "eventName": "GetSecretValue", "readOnly": "true", "eventType": "AwsApiCall"},
    "secretsmanager write": {"eventCategory": "Management", "eventSource": "secretsmanager.amazonaws.com",
                             "eventName": "DeleteSecret", "readOnly": "false", "eventType": "AwsApiCall"},
}
_OPERATORS = {
    "Equals": lambda value, wanted: value == wanted, "StartsWith": lambda value, wanted: value.startswith(wanted),
    "EndsWith": lambda value, wanted: value.endswith(wanted),
}


def field_matches(selector: dict[str, Any], event: dict[str, str]) -> bool:
    """One advanced field selector on one event (CloudTrail API reference, AdvancedFieldSelector):
    each of Equals, StartsWith, EndsWith given must match one of its values; none of NotEquals,
    NotStartsWith, NotEndsWith may match any of its values. A field the event does not have
    matches only the negative operators."""
    value = event.get(selector["Field"])
    for name, test in _OPERATORS.items():
        if name in selector and not (value is not None and any(test(value, w) for w in selector[name])):
            return False
        negated = selector.get("Not" + name, [])
        if value is not None and any(test(value, w) for w in negated):
            return False
    return True


def logged(selectors: dict[str, Any], event: dict[str, str]) -> bool:
    """Whether a trail with ``selectors`` (GetEventSelectors) records ``event``: any advanced selector
    whose fields all match; or a basic selector that includes management events of its read/write
    type and does not exclude its source; no selector at all is CloudTrail's default, every
    management event."""
    advanced = selectors.get("AdvancedEventSelectors") or []
    basic = selectors.get("EventSelectors") or []
    if advanced:
        return any(all(field_matches(f, event) for f in s.get("FieldSelectors", [])) for s in advanced)
    if not basic:
        return True
    kind = "ReadOnly" if event["readOnly"] == "true" else "WriteOnly"
    return any(s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") in ("All", kind)
               and event["eventSource"] not in s.get("ExcludeManagementEventSources", []) for s in basic)


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
        selectors = [cloudtrail_in(t["HomeRegion"]).get_event_selectors(TrailName=t["TrailARN"]) for t in logging]
    missing = [name for name, event in NEEDED_EVENTS.items() if not any(logged(s, event) for s in selectors)]
    if {"kms read", "secretsmanager read"} <= set(missing):
        findings.append(Finding(
            "problem", "read management events", f"no logging trail records Read management events ({names})",
            "Decrypt and GetSecretValue are read events: set ReadWriteType All on a trail's management "
            "events (aws cloudtrail put-event-selectors ... ReadWriteType=All)"))
    elif {"kms read", "kms write"} <= set(missing):
        findings.append(Finding(
            "problem", "KMS events", f"every logging trail excludes KMS management events ({names})",
            "remove kms.amazonaws.com from ExcludeManagementEventSources (or from an eventSource "
            "NotEquals of an advanced selector), or the KMS detections never fire"))
    elif missing:
        calls = ", ".join(f"{NEEDED_EVENTS[m]['eventSource'].split('.')[0]} {NEEDED_EVENTS[m]['eventName']}"
                          for m in missing)
        findings.append(Finding(
            "problem", "management events", f"no logging trail records {calls} ({names})",
            "log every management event of kms.amazonaws.com and secretsmanager.amazonaws.com, read "
            "and write, on at least one trail"))
    else:
        findings.append(Finding("ok", "management events", "KMS and Secrets Manager management events, read and write, are logged"))
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
    pending = [s["Endpoint"] for s in subs if s["SubscriptionArn"] == "PendingConfirmation"]
    if pending:
        return [Finding("problem", "subscription", f"not confirmed: {', '.join(pending)}",
                        "open the 'AWS Notification - Subscription Confirmation' email and confirm; "
                        "nothing is delivered to it before that")]
    if not subs:
        return [Finding("warning", "subscription", f"{topic} has no subscriber",
                        "subscribe the team to it (email, or a chat channel with the chat template)")]
    # A chat channel (the chat template, AWS Chatbot) subscribes to the topic too: it is counted here
    # with its protocol (https, UNCONFIRMED: Chatbot documents no endpoint of its own).
    protocols: dict[str, int] = {}
    for sub in subs:
        protocols[sub.get("Protocol", "?")] = protocols.get(sub.get("Protocol", "?"), 0) + 1
    kinds = ", ".join(f"{name} {count}" for name, count in sorted(protocols.items()))
    return [Finding("ok", "subscription", f"{plural(len(subs), 'confirmed subscriber')} ({kinds}) on {topic}")]


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
