"""Consumer choices of the workload template: its Parameters, console labels and Conditions."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import And, Condition, Equals, Or, Parameter, Ref, Template

from stacks.catalog import DEFAULT_DETECTION_MODE, DETECTION_MODES, Detection, Kind, Service

# CloudFormation matches AllowedPattern against the whole value (Java regex). The hyphen is
# escaped on purpose: AWS writes the log-group alphabet as "[.-_/#A-Za-z0-9]", which as a regex
# would be the range '.'..'_' and let ':' or '@' through.
EMAIL_PATTERN = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$"
LOG_GROUP_NAME_PATTERN = r"^[.\-_/#A-Za-z0-9]{1,512}$"
ALARM_PERIODS_SECONDS = (60, 300, 900, 3600)
SWITCH_VALUES = ("Enabled", "Disabled")

GROUP_NOTIFICATIONS = "Notifications"
GROUP_DETECTIONS = "Detections"
GROUP_SOURCE = "CloudTrail source"


@dataclass(frozen=True)
class ParameterRefs:
    """The template's parameters, for later steps to Ref."""

    notification_email: Parameter
    log_group_name: Parameter
    detection_mode: Parameter
    kms_key_monitoring: Parameter
    secret_monitoring: Parameter
    alarm_period_seconds: Parameter


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
    log_group = _add(template, GROUP_SOURCE, "CloudTrail log group name", Parameter(
        "CloudTrailLogGroupName",
        Type="String",
        Description=(
            "CloudWatch Logs log group that receives this account's CloudTrail records. It must be "
            "in this Region (a multi-Region trail delivers to its home Region only), and the trail "
            "must log Read management events without excluding KMS events."
        ),
        AllowedPattern=LOG_GROUP_NAME_PATTERN,
        MinLength=1,
        MaxLength=512,
        ConstraintDescription=(
            "must be a log group name: 1 to 512 characters from A-Z a-z 0-9 . - _ / #"
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
    return ParameterRefs(email, log_group, mode, kms, secrets, period)


def kind_condition(kind: Kind) -> str:
    """Name of the Condition that is true when DetectionMode selects ``kind``."""
    return f"Detect{kind.value}"


def service_condition(service: Service) -> str:
    """Name of the Condition that is true when the service's detections are switched on."""
    return f"Watch{service.subject}s"


def detection_condition(detection: Detection) -> str:
    """Name of the Condition that is true when ``detection`` is deployed."""
    return f"Detect{detection.name}"


def add_conditions(
    template: Template, params: ParameterRefs, detections: tuple[Detection, ...]
) -> None:
    """Add one Condition per kind, per service and per detection (kind AND service)."""
    for kind in Kind:
        modes = [m for m, kinds in DETECTION_MODES.items() if kind in kinds]
        tests = [Equals(Ref(params.detection_mode), m) for m in modes]
        template.add_condition(kind_condition(kind), tests[0] if len(tests) == 1 else Or(*tests))
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
