"""Consumer choices of the workload template: its Parameters, console labels and Conditions."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import And, Condition, Equals, Not, Or, Parameter, Ref, Template

from stacks.catalog import DEFAULT_DETECTION_MODE, DETECTION_MODES, Detection, Kind, Service

# CloudFormation matches AllowedPattern against the whole value (Java regex). The hyphen is
# escaped on purpose: AWS writes the log-group alphabet as "[.-_/#A-Za-z0-9]", which as a regex
# would be the range '.'..'_' and let ':' or '@' through.
EMAIL_PATTERN = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$"
LOG_GROUP_NAME_PATTERN = r"^[.\-_/#A-Za-z0-9]{0,512}$"  # empty: no metric filters (a Rule checks)
ALARM_PERIODS_SECONDS = (60, 300, 900, 3600)
SWITCH_VALUES = ("Enabled", "Disabled")
ENGINES = ("EventBridge", "CloudWatchLogs", "Both")
DEFAULT_ENGINE = "EventBridge"

GROUP_NOTIFICATIONS = "Notifications"
GROUP_DETECTIONS = "Detections"
GROUP_SOURCE = "CloudTrail source"


@dataclass(frozen=True)
class ParameterRefs:
    """The template's parameters, for later steps to Ref."""

    notification_email: Parameter
    detection_engine: Parameter
    log_group_name: Parameter
    detection_mode: Parameter
    kms_key_monitoring: Parameter
    secret_monitoring: Parameter
    alarm_period_seconds: Parameter
    recovery_notices: Parameter


def _add(template: Template, group: str, label: str, parameter: Parameter) -> Parameter:
    template.add_parameter(parameter)
    template.add_parameter_to_group(parameter, group)
    template.set_parameter_label(parameter, label)
    return parameter


def add_parameters(template: Template) -> ParameterRefs:
    """Add the workload parameters, grouped and labelled for the CloudFormation console."""
    email = _add(template, GROUP_NOTIFICATIONS, "Alert email address", Parameter(
        "NotificationEmail",
        Type="String",
        Description=(
            "Email address that receives the alerts. AWS sends a confirmation message first: "
            "nothing is delivered until the recipient confirms the subscription."
        ),
        AllowedPattern=EMAIL_PATTERN,
        MaxLength=254,
        ConstraintDescription="must be an email address such as security-team@example.com",
    ))
    engine = _add(template, GROUP_SOURCE, "Detection engine", Parameter(
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
    log_group = _add(template, GROUP_SOURCE, "CloudTrail log group name", Parameter(
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
    mode = _add(template, GROUP_DETECTIONS, "What to detect", Parameter(
        "DetectionMode",
        Type="String",
        Description=(
            "AccessAndDeletion: both signals. AccessOnly: a key or secret pending deletion is still "
            "used. DeletionOnly: someone disables a key or schedules a deletion."
        ),
        AllowedValues=list(DETECTION_MODES),
        Default=DEFAULT_DETECTION_MODE,
    ))
    kms = _add(template, GROUP_DETECTIONS, "Watch KMS keys", Parameter(
        "KmsKeyMonitoring",
        Type="String",
        Description="Enabled: deploy the KMS key detections selected by DetectionMode.",
        AllowedValues=list(SWITCH_VALUES),
        Default="Enabled",
    ))
    secrets = _add(template, GROUP_DETECTIONS, "Watch Secrets Manager secrets", Parameter(
        "SecretMonitoring",
        Type="String",
        Description="Enabled: deploy the Secrets Manager detections selected by DetectionMode.",
        AllowedValues=list(SWITCH_VALUES),
        Default="Enabled",
    ))
    period = _add(template, GROUP_DETECTIONS, "Alarm period (seconds)", Parameter(
        "AlarmPeriodSeconds",
        Type="Number",
        Description=(
            "Length of the period an alarm sums matching records over. One matching record "
            "triggers the alarm; a shorter period alerts sooner after the record is delivered."
        ),
        AllowedValues=[str(p) for p in ALARM_PERIODS_SECONDS],
        Default="60",
    ))
    recovery = _add(template, GROUP_DETECTIONS, "Recovery notices", Parameter(
        "RecoveryNotices",
        Type="String",
        Description=(
            "Enabled: with EventBridge, send a \"resolved\" notice when a key deletion is "
            "cancelled (CancelKeyDeletion) or a secret is restored (RestoreSecret)."
        ),
        AllowedValues=list(SWITCH_VALUES),
        Default="Enabled",
    ))
    add_parameter_rules(template, engine, log_group)
    return ParameterRefs(email, engine, log_group, mode, kms, secrets, period, recovery)


def add_parameter_rules(template: Template, engine: Parameter, log_group: Parameter) -> None:
    """Cross-parameter checks that CloudFormation runs before it creates anything."""
    template.add_rule("LogGroupRequiredForCloudWatchLogs", {
        "RuleCondition": Not(Equals(Ref(engine), "EventBridge")),
        "Assertions": [{
            "Assert": Not(Equals(Ref(log_group), "")),
            "AssertDescription": (
                "CloudTrailLogGroupName is required when DetectionEngine is CloudWatchLogs or Both: "
                "give the log group that receives the CloudTrail records, or choose EventBridge."
            ),
        }],
    })


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


USE_EVENTBRIDGE = "UseEventBridge"
USE_CLOUDWATCH_LOGS = "UseCloudWatchLogs"
CREATE_DELIVERY_QUEUE = "CreateDeliveryQueue"


def add_conditions(
    template: Template, params: ParameterRefs, detections: tuple[Detection, ...]
) -> None:
    """Add the Conditions: per engine, kind and service, then per detection and engine."""
    template.add_condition(USE_EVENTBRIDGE, Not(Equals(Ref(params.detection_engine), "CloudWatchLogs")))
    template.add_condition(USE_CLOUDWATCH_LOGS, Not(Equals(Ref(params.detection_engine), "EventBridge")))
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
        template.add_condition(
            detection_condition(detection),
            And(Condition(kind_condition(detection.kind)),
                Condition(service_condition(detection.service))),
        )
        if detection.metric_alarm:
            template.add_condition(alarm_condition(detection), And(
                Condition(detection_condition(detection)), Condition(USE_CLOUDWATCH_LOGS)))
        template.add_condition(rule_condition(detection), And(
            Condition(detection_condition(detection)), Condition(USE_EVENTBRIDGE)))
    template.add_condition(CREATE_DELIVERY_QUEUE, Or(*[Condition(rule_condition(d)) for d in detections]))
