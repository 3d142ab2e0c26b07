"""Consumer choices of the workload template: its Parameters, console labels and Conditions."""

from __future__ import annotations

from dataclasses import dataclass, replace

from troposphere import And, Condition, Equals, Not, Or, Parameter, Ref, Template

from detections import exclusions
from detections.catalog import DEFAULT_DETECTION_MODE, DETECTION_MODES, Detection, Kind, Service

# CloudFormation matches AllowedPattern against the whole value (Java regex). The hyphen is
# escaped on purpose: AWS writes the log-group alphabet as "[.-_/#A-Za-z0-9]", which as a regex
# would be the range '.'..'_' and let ':' or '@' through.
EMAIL_PATTERN = r"^$|^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$"
TOPIC_ARN_PATTERN = r"^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$"
# A key ARN (".../key/<id>"), never an alias: the AWS managed alias/aws/sns key cannot be named.
KEY_ARN_PATTERN = r"^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,64}$"
TOPIC_ENCRYPTION = ("CreateKey", "ExistingKey", "Disabled")
COLLECTOR_BUS_PATTERN = r"^$|^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]{1,256}$"
LOG_GROUP_NAME_PATTERN = r"^[.\-_/#A-Za-z0-9]{0,512}$"  # empty: no metric filters (a Rule checks)
ALARM_PERIODS_SECONDS = (60, 300, 900, 3600)
SWITCH_VALUES = ("Enabled", "Disabled")
ENGINES = ("EventBridge", "CloudWatchLogs", "Both")
DEFAULT_ENGINE = "EventBridge"

# cfn-lint resolves a parameter to its empty default and flags it (W1030) against the pattern of
# the property it feeds: CloudTrailLogGroupName against the metric filters' LogGroupName,
# TopicKmsKeyArn against the topic's KmsMasterKeyId. An empty value is only valid where those
# resources or properties do not exist (EventBridge engine; TopicEncryption other than
# ExistingKey), and Rules reject it otherwise. cfn-lint reports the finding on the parameter, where
# no narrower ignore applies, so the templates that have them ignore W1030. W1033 is the same for
# Fn::Split: NotifierSecurityGroupIds, split inside the VpcConfig that exists only when
# NotifierSubnetIds is given, where a Rule requires the security groups too.
def empty_defaults_lint() -> dict:
    """Template metadata for cfn-lint (a new dict each time: troposphere adds to the metadata)."""
    return {"cfn-lint": {"config": {"ignore_checks": ["W1030", "W1033"]}}}

GROUP_NOTIFICATIONS = "Notifications"
GROUP_DETECTIONS = "Detections"
GROUP_SOURCE = "CloudTrail source"
GROUP_NETWORK = "Notifier network (only where functions must run in a VPC)"
SUBNET_IDS_PATTERN = r"^$|^subnet-[0-9a-f]{8,17}(,subnet-[0-9a-f]{8,17}){0,15}$"
SECURITY_GROUP_IDS_PATTERN = r"^$|^sg-[0-9a-f]{8,17}(,sg-[0-9a-f]{8,17}){0,4}$"


@dataclass(frozen=True)
class ParameterRefs:
    """The template's parameters, for later steps to Ref."""

    notification_email: Parameter
    existing_topic_arn: Parameter
    topic_encryption: Parameter
    topic_kms_key_arn: Parameter
    detection_mode: Parameter
    kms_key_monitoring: Parameter
    secret_monitoring: Parameter
    alarm_period_seconds: Parameter | None
    recovery_notices: Parameter
    # The workload's only; None in the collector, which reads forwarded events on its own bus.
    detection_engine: Parameter | None = None
    log_group_name: Parameter | None = None
    expected_deleters: Parameter | None = None
    collector_event_bus_arn: Parameter | None = None
    auto_cancel_on_use: Parameter | None = None
    security_hub_findings: Parameter | None = None
    reminder_days: Parameter | None = None
    reminder_hour_utc: Parameter | None = None
    notifier_subnet_ids: Parameter | None = None
    notifier_security_group_ids: Parameter | None = None


def add_parameter(template: Template, group: str, label: str, parameter: Parameter) -> Parameter:
    """Add ``parameter`` under a console group, with its label."""
    template.add_parameter(parameter)
    template.add_parameter_to_group(parameter, group)
    template.set_parameter_label(parameter, label)
    return parameter


def add_string_parameter(template: Template, group: str, label: str, name: str, description: str, pattern: str,
                         constraint: str, default: str = "") -> Parameter:
    """A String parameter with its pattern and the message CloudFormation shows when it is not met."""
    return add_parameter(template, group, label, Parameter(
        name, Type="String", Description=description, AllowedPattern=pattern, Default=default,
        ConstraintDescription=constraint))


def add_parameters(template: Template, collector: bool = False) -> ParameterRefs:
    """Add the workload parameters (or, with ``collector``, those the collector shares with it),
    grouped and labelled for the CloudFormation console."""
    email = add_parameter(template, GROUP_NOTIFICATIONS, "Alert email address", Parameter(
        "NotificationEmail",
        Type="String",
        Description=(
            "Email address that receives the alerts. AWS sends a confirmation message first: "
            "nothing is delivered until the recipient confirms the subscription. May be empty "
            "only when ExistingTopicArn is given."
        ),
        AllowedPattern=EMAIL_PATTERN,
        MaxLength=254,
        Default="",
        ConstraintDescription="must be empty or an email address such as security-team@example.com",
    ))
    topic = add_parameter(template, GROUP_NOTIFICATIONS, "Existing SNS topic ARN (optional)", Parameter(
        "ExistingTopicArn",
        Type="String",
        Description=(
            "Send alerts to this existing topic (a central security topic, say) instead of creating "
            "one; then no topic, subscription or key is created here. It must be in this stack's "
            "Region (alarm actions are same-Region). Its policy must let cloudwatch.amazonaws.com "
            "publish (alarms) and must not deny this account's notifier role; its KMS key (if any) "
            "must let cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey*, and let "
            "this account's IAM policies grant them through SNS (the notifier's role has them)."
        ),
        AllowedPattern=TOPIC_ARN_PATTERN,
        Default="",
        ConstraintDescription="must be empty or an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
    ))
    encryption = add_parameter(template, GROUP_NOTIFICATIONS, "Topic encryption", Parameter(
        "TopicEncryption",
        Type="String",
        Description=(
            "CreateKey: a customer managed KMS key for the topic (about 1 USD a month per Region), "
            "kept if the stack is deleted. ExistingKey: your key, in TopicKmsKeyArn. Disabled: no "
            "encryption at rest. The AWS managed key alias/aws/sns cannot be used: CloudWatch and "
            "EventBridge are not allowed to use it, so every alert would be dropped silently."
        ),
        AllowedValues=list(TOPIC_ENCRYPTION),
        Default="CreateKey",
    ))
    key = add_parameter(template, GROUP_NOTIFICATIONS, "Existing KMS key ARN (ExistingKey only)", Parameter(
        "TopicKmsKeyArn",
        Type="String",
        Description=(
            "With TopicEncryption ExistingKey: the ARN of a symmetric customer managed key whose "
            "policy lets cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey* (alarms "
            "publish), and lets this account's IAM policies grant them with kms:ViaService "
            "sns.REGION.amazonaws.com (the notifier publishes). A key ARN, not an alias."
        ),
        AllowedPattern=KEY_ARN_PATTERN,
        Default="",
        ConstraintDescription="must be empty or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID)",
    ))
    mode = add_parameter(template, GROUP_DETECTIONS, "What to detect", Parameter(
        "DetectionMode",
        Type="String",
        Description=(
            "AccessAndDeletion: both signals. AccessOnly: a key or secret pending deletion is still "
            "used. DeletionOnly: someone disables a key or schedules a deletion."
        ),
        AllowedValues=list(DETECTION_MODES),
        Default=DEFAULT_DETECTION_MODE,
    ))
    kms = add_parameter(template, GROUP_DETECTIONS, "Watch KMS keys", Parameter(
        "KmsKeyMonitoring",
        Type="String",
        Description="Enabled: deploy the KMS key detections selected by DetectionMode.",
        AllowedValues=list(SWITCH_VALUES),
        Default="Enabled",
    ))
    secrets = add_parameter(template, GROUP_DETECTIONS, "Watch Secrets Manager secrets", Parameter(
        "SecretMonitoring",
        Type="String",
        Description="Enabled: deploy the Secrets Manager detections selected by DetectionMode.",
        AllowedValues=list(SWITCH_VALUES),
        Default="Enabled",
    ))
    # Only the metric-filter alarms sum over a period: the workload's, not the collector's.
    period = None if collector else add_alarm_period_parameter(template)
    recovery = add_parameter(template, GROUP_DETECTIONS, "Recovery notices", Parameter(
        "RecoveryNotices",
        Type="String",
        Description=(
            "Enabled: with EventBridge, send a \"resolved\" notice when a key deletion is "
            "cancelled (CancelKeyDeletion) or a secret is restored (RestoreSecret)."
        ),
        AllowedValues=list(SWITCH_VALUES),
        Default="Enabled",
    ))
    params = ParameterRefs(email, topic, encryption, key, mode, kms, secrets, period, recovery)
    if not collector:
        params = replace(params, **add_workload_parameters(template))
    params = replace(params, **add_network_parameters(template))
    add_parameter_rules(template, params)
    return params


# Every service the notifier function calls (functions/notifier.py; a test reads its code for them).
NOTIFIER_INTERFACE_ENDPOINTS = ("sns", "sqs", "kms", "secretsmanager", "cloudtrail", "securityhub")
NOTIFIER_GATEWAY_ENDPOINTS = ("dynamodb",)


def add_network_parameters(template: Template) -> dict[str, Parameter]:
    """Subnets and security groups for the notifier function, for organizations whose Control Tower
    control CT.LAMBDA.PR.3 requires every function in a VPC. Empty: no VPC (the default)."""
    needs = ("The subnets need a way to every endpoint the function calls in this Region: VPC endpoints ("
             f"interface endpoints for {', '.join(NOTIFIER_INTERFACE_ENDPOINTS)}; a gateway endpoint for "
             f"{', '.join(NOTIFIER_GATEWAY_ENDPOINTS)}) or a NAT gateway. Without kms, secretsmanager and "
             "cloudtrail, alerts go out without the key's or secret's current state and the daily reminder "
             "fails; securityhub only with SecurityHubFindings; events of other Regions are read only through a "
             "NAT gateway.")
    subnets = add_parameter(template, GROUP_NETWORK, "Notifier subnet IDs (optional)", Parameter(
        "NotifierSubnetIds",
        Type="String",
        Description=("Comma-separated subnet IDs to run the notifier function in (with "
                     "NotifierSecurityGroupIds); empty: no VPC. " + needs),
        AllowedPattern=SUBNET_IDS_PATTERN,
        ConstraintDescription="comma-separated subnet IDs (subnet-0123456789abcdef0,...), at most 16, or empty",
        Default="",
    ))
    groups = add_parameter(template, GROUP_NETWORK, "Notifier security group IDs (optional)", Parameter(
        "NotifierSecurityGroupIds",
        Type="String",
        Description=("Comma-separated security group IDs for the notifier function (with "
                     "NotifierSubnetIds); they must allow outbound HTTPS (443) to those endpoints."),
        AllowedPattern=SECURITY_GROUP_IDS_PATTERN,
        ConstraintDescription="comma-separated security group IDs (sg-0123456789abcdef0,...), at most 5, or empty",
        Default="",
    ))
    return {"notifier_subnet_ids": subnets, "notifier_security_group_ids": groups}


def add_alarm_period_parameter(template: Template) -> Parameter:
    return add_parameter(template, GROUP_DETECTIONS, "Alarm period (seconds)", Parameter(
        "AlarmPeriodSeconds",
        Type="Number",
        Description=(
            "CloudWatchLogs engine: length of the period a metric-filter alarm sums matching "
            "records over. One matching record triggers the alarm; a shorter period alerts sooner."
        ),
        AllowedValues=[str(p) for p in ALARM_PERIODS_SECONDS],
        Default="60",
    ))


def add_workload_parameters(template: Template) -> dict[str, Parameter]:
    """The parameters only the workload has: where its records come from, who is expected to
    delete, and whether it forwards to a collector."""
    engine = add_parameter(template, GROUP_SOURCE, "Detection engine", Parameter(
        "DetectionEngine",
        Type="String",
        Description=(
            "EventBridge: rules on CloudTrail events, in every Region with any logging trail, "
            "alerts within seconds that name the key or secret and the caller. CloudWatchLogs: "
            "metric filters and alarms on the trail's log group (only in that log group's Region). "
            "Both: the two."
        ),
        AllowedValues=list(ENGINES),
        Default=DEFAULT_ENGINE,
    ))
    log_group = add_parameter(template, GROUP_SOURCE, "CloudTrail log group name", Parameter(
        "CloudTrailLogGroupName",
        Type="String",
        Description=(
            "Needed only when DetectionEngine is CloudWatchLogs or Both: the CloudWatch Logs log "
            "group that receives this account's CloudTrail records, in this Region (a multi-Region "
            "trail delivers to its home Region only). Leave empty for EventBridge."
        ),
        AllowedPattern=LOG_GROUP_NAME_PATTERN,
        MaxLength=512,
        Default="",
        ConstraintDescription=(
            "must be a log group name: up to 512 characters from A-Z a-z 0-9 . - _ / #"
        ),
    ))
    arn = exclusions.PATTERN.pattern
    expected = add_parameter(template, GROUP_DETECTIONS, "Expected deleters (EventBridge only)", Parameter(
        "ExpectedDeleterArns",
        Type="String",
        Description=(
            "Comma-separated principal ARN patterns (* wildcards) whose deletions are expected, e.g. "
            "arn:aws:sts::111122223333:assumed-role/pipeline-*/*; the EventBridge deletion rules skip "
            "them. Use detections and the CloudWatchLogs engine never skip anyone. none: no one."
        ),
        AllowedPattern=f"^{exclusions.NO_EXCLUSION}$|^{arn}(,{arn})*$",
        MaxLength=2048,
        Default=exclusions.NO_EXCLUSION,
        ConstraintDescription="must be none, or comma-separated IAM/STS ARN patterns such as "
                              "arn:aws:sts::111122223333:assumed-role/pipeline-*/*",
    ))
    collector = add_parameter(template, GROUP_NOTIFICATIONS, "Collector event bus ARN (organization mode)", Parameter(
        "CollectorEventBusArn",
        Type="String",
        Description=(
            "Forward the events to the organization's collector bus (dist/deletion-alarms-collector.json) "
            "instead of alerting here: then no topic, key, subscription or alarm is created in this "
            "account, only the rules and a role that may put events on that one bus. EventBridge engine only."
        ),
        AllowedPattern=COLLECTOR_BUS_PATTERN,
        Default="",
        ConstraintDescription="must be empty or an event bus ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME)",
    ))
    auto_cancel = add_parameter(template, GROUP_DETECTIONS, "Cancel a deletion when the key or secret is used",
                                Parameter(
        "AutoCancelOnUse",
        Type="String",
        Description=(
            "Off: alert only. All: when a key pending deletion is used, cancel its deletion (it stays "
            "Disabled until someone enables it); when a secret scheduled for deletion is read, restore it. "
            "Tagged: the same, only for keys and secrets their owners tagged deletion-alarms:auto-cancel=true. "
            "The notifier makes the call, once per key or secret per 5 minutes, and its alert says the result. "
            "Needs the EventBridge engine, the use detections and no CollectorEventBusArn."
        ),
        AllowedValues=list(AUTO_CANCEL_MODES),
        Default="Off",
    ))
    findings = add_parameter(template, GROUP_NOTIFICATIONS, "Security Hub findings", Parameter(
        "SecurityHubFindings",
        Type="String",
        Description=(
            "Enabled: the notifier also sends each key or secret an alert describes to AWS Security Hub as a "
            "finding (BatchImportFindings, this account's default product), and archives it when the deletion "
            "is cancelled or the secret restored. Security Hub must be enabled in this Region; a delegated "
            "administrator sees the findings through its aggregation. Needs the notifier (no "
            "CollectorEventBusArn) and the EventBridge engine."
        ),
        AllowedValues=["Disabled", "Enabled"],
        Default="Disabled",
    ))
    reminder_days = add_parameter(template, GROUP_NOTIFICATIONS, "Reminder days before a deletion", Parameter(
        "ReminderDays",
        Type="String",
        Description=(
            "Once a day, email about each key pending deletion and each secret scheduled for deletion in "
            "this account and Region whose deletion is this many calendar days (UTC) away, with its undo "
            "command; and a final notice when a secret's recovery window ended and it is gone. "
            "Comma-separated days from 0 to 30, or none. Needs the EventBridge engine and alerts here."
        ),
        AllowedPattern=REMINDER_DAYS_PATTERN,
        MaxLength=64,
        Default=DEFAULT_REMINDER_DAYS,
        ConstraintDescription="must be none, or comma-separated whole days from 0 to 30, such as 7,3,1",
    ))
    reminder_hour = add_parameter(template, GROUP_NOTIFICATIONS, "Reminder hour (UTC)", Parameter(
        "ReminderHourUtc",
        Type="Number",
        Description="The hour of the day, in UTC (0 to 23), at which the daily reminder check runs.",
        AllowedValues=[str(hour) for hour in range(24)],
        Default=str(DEFAULT_REMINDER_HOUR_UTC),
    ))
    return {"detection_engine": engine, "log_group_name": log_group, "expected_deleters": expected,
            "collector_event_bus_arn": collector, "auto_cancel_on_use": auto_cancel,
            "security_hub_findings": findings,
            "reminder_days": reminder_days, "reminder_hour_utc": reminder_hour}


MAX_OR = 10  # Fn::Or takes 2 to 10 conditions (CloudFormation condition functions)


def any_of(conditions: list[object]) -> object:
    """Fn::Or of any number of conditions: nested in groups of at most MAX_OR; one alone as itself."""
    if len(conditions) == 1:
        return conditions[0]
    if len(conditions) <= MAX_OR:
        return Or(*conditions)
    groups = [conditions[i:i + MAX_OR] for i in range(0, len(conditions), MAX_OR)]
    return any_of([any_of(group) for group in groups])


def add_rule(template: Template, name: str, when: object | None, check: object, message: str) -> None:
    """A template Rule: when ``when`` holds (always, if None), ``check`` must, or CloudFormation
    refuses the parameters with ``message`` before creating anything."""
    rule: dict[str, object] = {"Assertions": [{"Assert": check, "AssertDescription": message}]}
    if when is not None:
        rule["RuleCondition"] = when
    template.add_rule(name, rule)


def add_parameter_rules(template: Template, p: ParameterRefs) -> None:
    """Cross-parameter checks that CloudFormation runs before it creates anything."""
    def empty(param: Parameter) -> Equals:
        return Equals(Ref(param), "")

    forwarding = p.collector_event_bus_arn
    if p.detection_engine is not None and p.log_group_name is not None:
        add_rule(template, "LogGroupRequiredForCloudWatchLogs",
              Not(Equals(Ref(p.detection_engine), "EventBridge")), Not(empty(p.log_group_name)),
              "CloudTrailLogGroupName is required when DetectionEngine is CloudWatchLogs or Both: "
              "give the log group that receives the CloudTrail records, or choose EventBridge.")
    add_rule(template, "NotificationTargetRequired", empty(forwarding) if forwarding is not None else None,
          Or(Not(empty(p.notification_email)), Not(empty(p.existing_topic_arn))),
          "Give NotificationEmail, or ExistingTopicArn to send the alerts to an existing topic.")
    if forwarding is not None and p.detection_engine is not None:
        add_rule(template, "ForwardingIsForEventBridgeAlone", Not(empty(forwarding)),
              And(Equals(Ref(p.detection_engine), "EventBridge"), empty(p.notification_email),
                  empty(p.existing_topic_arn)),
              "With CollectorEventBusArn the collector sends the alerts: set DetectionEngine to "
              "EventBridge and leave NotificationEmail and ExistingTopicArn empty.")
    add_rule(template, "KeyArnRequiredForExistingKey",
          And(Equals(Ref(p.topic_encryption), "ExistingKey"), empty(p.existing_topic_arn)),
          Not(empty(p.topic_kms_key_arn)),
          "TopicKmsKeyArn is required when TopicEncryption is ExistingKey: give the ARN of your "
          "key, or choose CreateKey.")
    if p.notifier_subnet_ids is not None and p.notifier_security_group_ids is not None:
        subnets, groups = empty(p.notifier_subnet_ids), empty(p.notifier_security_group_ids)
        add_rule(template, "NotifierNetworkComplete", Not(And(subnets, groups)), And(Not(subnets), Not(groups)),
                 "NotifierSubnetIds and NotifierSecurityGroupIds go together: give both to run the "
                 "notifier in a VPC, or leave both empty.")
    if p.auto_cancel_on_use is not None and forwarding is not None and p.detection_engine is not None:
        with_uses = [m for m, kinds in DETECTION_MODES.items() if Kind.ACCESS in kinds]
        add_rule(template, "AutoCancelNeedsTheNotifier", Not(Equals(Ref(p.auto_cancel_on_use), "Off")),
                 And(empty(forwarding), Not(Equals(Ref(p.detection_engine), "CloudWatchLogs")),
                     Or(*[Equals(Ref(p.detection_mode), m) for m in with_uses])),
                 "AutoCancelOnUse needs this account's notifier and the use detections: leave "
                 "CollectorEventBusArn empty, set DetectionEngine to EventBridge or Both, and DetectionMode to "
                 f"{' or '.join(with_uses)}; or set AutoCancelOnUse to Off.")
    if p.security_hub_findings is not None and forwarding is not None and p.detection_engine is not None:
        add_rule(template, "FindingsNeedTheNotifier", Equals(Ref(p.security_hub_findings), "Enabled"),
                 And(empty(forwarding), Not(Equals(Ref(p.detection_engine), "CloudWatchLogs"))),
                 "SecurityHubFindings needs this account's notifier: leave CollectorEventBusArn empty and set "
                 "DetectionEngine to EventBridge or Both; or set SecurityHubFindings to Disabled.")
    add_rule(template, "KeyArnOnlyWithExistingKey", Not(empty(p.topic_kms_key_arn)),
          Equals(Ref(p.topic_encryption), "ExistingKey"),
          "TopicKmsKeyArn is used only when TopicEncryption is ExistingKey: set TopicEncryption to "
          "ExistingKey, or leave TopicKmsKeyArn empty.")


def kind_condition(kind: Kind) -> str:
    """Name of the Condition that is true when the stack deploys detections of ``kind``."""
    return "SendRecoveryNotices" if kind is Kind.RECOVERY else f"Detect{kind.value}"


def service_condition(service: Service) -> str:
    """Name of the Condition that is true when the service's detections are switched on."""
    return f"Watch{service.subject}s"


def detection_condition(detection: Detection) -> str:
    """Name of the Condition that is true when ``detection`` is selected (by any engine)."""
    return f"Detect{detection.name}"


def alarm_condition(detection: Detection) -> str:
    """Name of the Condition that is true when the detection's metric filter and alarm exist."""
    return f"Create{detection.name}Alarm"


def rule_condition(detection: Detection) -> str:
    """Name of the Condition that is true when the detection's EventBridge rule exists."""
    return f"Create{detection.name}Rule"


FORWARD_TO_COLLECTOR = "ForwardToCollector"
NOTIFY_HERE = "NotifyHere"
CREATE_EVENT_QUEUE = "CreateEventQueue"
CREATE_TOPIC = "CreateTopic"
SUBSCRIBE_EMAIL = "SubscribeEmail"
CREATE_TOPIC_KEY = "CreateTopicKey"
USE_EXISTING_TOPIC_KEY = "UseExistingTopicKey"
USE_EVENTBRIDGE = "UseEventBridge"
USE_CLOUDWATCH_LOGS = "UseCloudWatchLogs"
CREATE_DELIVERY_QUEUE = "CreateDeliveryQueue"
NOTIFIER_IN_VPC = "UseVpcForNotifier"
AUTO_CANCEL_MODES = ("Off", "Tagged", "All")
SEND_REMINDERS = "SendReminders"
NO_REMINDERS = "none"
DEFAULT_REMINDER_DAYS = "7,3,1"
DEFAULT_REMINDER_HOUR_UTC = 8
_DAY = "([0-9]|[12][0-9]|30)"
REMINDER_DAYS_PATTERN = rf"^{NO_REMINDERS}$|^{_DAY}(,{_DAY})*$"
AUTO_CANCEL_ANY = "UseAutoCancel"
AUTO_CANCEL_TAGGED = "IsAutoCancelTagged"
SEND_FINDINGS = "SendSecurityHubFindings"


def auto_cancel_condition(service: Service) -> str:
    """The condition of a service's automatic cancel: on, and its use detection deployed."""
    return f"UseAutoCancelFor{service.subject}s"


@dataclass(frozen=True)
class DeliveryConditions:
    """Which Conditions decide the delivery resources: with forwarding, the rules send to the
    collector, and the event queue, the notifier and the alarms exist only when the stack notifies
    here."""

    event_queue: str
    forwarding: str | None = None


def add_conditions(
    template: Template, params: ParameterRefs, detections: tuple[Detection, ...]
) -> DeliveryConditions:
    """Add the Conditions: topic and key, forwarding, per engine, kind and service, then per
    detection and engine. The collector (no DetectionEngine) deploys a rule per selected detection."""
    no_topic_given = Equals(Ref(params.existing_topic_arn), "")
    forwarding = params.collector_event_bus_arn is not None
    if forwarding:
        template.add_condition(FORWARD_TO_COLLECTOR, Not(Equals(Ref(params.collector_event_bus_arn), "")))
        template.add_condition(NOTIFY_HERE, Not(Condition(FORWARD_TO_COLLECTOR)))
        template.add_condition(CREATE_TOPIC, And(Condition(NOTIFY_HERE), no_topic_given))
    else:
        template.add_condition(CREATE_TOPIC, no_topic_given)
    template.add_condition(SUBSCRIBE_EMAIL, And(
        Condition(CREATE_TOPIC), Not(Equals(Ref(params.notification_email), ""))))
    template.add_condition(CREATE_TOPIC_KEY, And(
        Condition(CREATE_TOPIC), Equals(Ref(params.topic_encryption), "CreateKey")))
    template.add_condition(USE_EXISTING_TOPIC_KEY, And(
        Condition(CREATE_TOPIC), Equals(Ref(params.topic_encryption), "ExistingKey")))
    engine = params.detection_engine
    if engine is not None:
        template.add_condition(USE_EVENTBRIDGE, Not(Equals(Ref(engine), "CloudWatchLogs")))
        template.add_condition(USE_CLOUDWATCH_LOGS, Not(Equals(Ref(engine), "EventBridge")))
    for kind in (Kind.ACCESS, Kind.DELETION):
        modes = [m for m, kinds in DETECTION_MODES.items() if kind in kinds]
        tests = [Equals(Ref(params.detection_mode), m) for m in modes]
        template.add_condition(kind_condition(kind), tests[0] if len(tests) == 1 else Or(*tests))
    template.add_condition(kind_condition(Kind.RECOVERY), Equals(Ref(params.recovery_notices), "Enabled"))
    switches = {
        Service.KMS: params.kms_key_monitoring,
        Service.SECRETS_MANAGER: params.secret_monitoring,
    }
    for service, switch in switches.items():
        template.add_condition(service_condition(service), Equals(Ref(switch), "Enabled"))
    for detection in detections:
        selected = [Condition(kind_condition(detection.kind)), Condition(service_condition(detection.service))]
        if engine is None:  # the collector: a rule per selected detection
            template.add_condition(rule_condition(detection), And(*selected))
            continue
        template.add_condition(detection_condition(detection), And(*selected))
        if detection.metric_alarm:
            template.add_condition(alarm_condition(detection), And(
                Condition(detection_condition(detection)), Condition(USE_CLOUDWATCH_LOGS)))
        template.add_condition(rule_condition(detection), And(
            Condition(detection_condition(detection)), Condition(USE_EVENTBRIDGE)))
    template.add_condition(CREATE_DELIVERY_QUEUE, any_of([Condition(rule_condition(d)) for d in detections]))
    if params.notifier_subnet_ids is not None:
        template.add_condition(NOTIFIER_IN_VPC, Not(Equals(Ref(params.notifier_subnet_ids), "")))
    if params.auto_cancel_on_use is not None:
        on = Not(Equals(Ref(params.auto_cancel_on_use), "Off"))
        for service in Service:
            (use,) = [d for d in detections if d.cancellable and d.service is service]
            # With the use detection's rule (EventBridge engine) and this account's notifier, which
            # makes the call (a stack that forwards to a collector has none: a Rule refuses that).
            here = [Condition(NOTIFY_HERE)] if forwarding else []
            template.add_condition(auto_cancel_condition(service), And(on, Condition(rule_condition(use)), *here))
        template.add_condition(AUTO_CANCEL_ANY, Or(*[Condition(auto_cancel_condition(s)) for s in Service]))
        template.add_condition(AUTO_CANCEL_TAGGED, Equals(Ref(params.auto_cancel_on_use), "Tagged"))
    delivery = DeliveryConditions(CREATE_EVENT_QUEUE, FORWARD_TO_COLLECTOR) if forwarding \
        else DeliveryConditions(CREATE_DELIVERY_QUEUE)
    if forwarding:
        template.add_condition(CREATE_EVENT_QUEUE, And(Condition(CREATE_DELIVERY_QUEUE), Condition(NOTIFY_HERE)))
    if params.security_hub_findings is not None:
        template.add_condition(SEND_FINDINGS, And(Condition(delivery.event_queue),
                                                  Equals(Ref(params.security_hub_findings), "Enabled")))
    if params.reminder_days is not None:
        # Where the notifier runs: it does the daily check.
        template.add_condition(SEND_REMINDERS, And(Condition(delivery.event_queue),
                                                   Not(Equals(Ref(params.reminder_days), NO_REMINDERS))))
    return delivery
